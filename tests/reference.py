"""An independent NumPy reference of every neuron, written from SPEC.md.

Each step takes ``(x, state, p)`` with ``p`` a dict of plain parameters
(``beta``, ``alpha``, ``gamma``, ``W``, ``threshold``, and ``reset``, which
defaults to ``"subtract"``) and returns ``(out, new_state)``. Two-part
states are ``(A, B)`` tuples here, so the layout (concatenation on the last
axis) is checked by the tests, not assumed.
"""

import numpy as np


def H(v):
    return (v > 0).astype(np.float64)


def c(p):
    return np.clip(p, 0.0, 1.0)


def leak(b, V, s, th, p, reset_decays=False):
    """``b V`` with the reset of SPEC's table: subtract ``s th`` (inside the
    leak for CuBaLIF), clear a membrane that fired (``zero``), or none."""
    mode = p.get("reset", "subtract")
    if mode == "subtract":
        return b * (V - s * th) if reset_decays else b * V - s * th
    if mode == "zero":
        return b * (1 - s) * V
    assert mode == "none", mode
    return b * V


def if_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, leak(1.0, V, s, p["threshold"], p) + x


def lif_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, leak(c(p["beta"]), V, s, p["threshold"], p) + x


def li_ref(x, V, p):
    V = c(p["beta"]) * V + x
    return V, V


def alif_ref(x, state, p):
    V, T = state
    th = p["threshold"] + T
    s = H(V - th)
    g = c(p["gamma"])
    return s, (leak(c(p["beta"]), V, s, th, p) + x, g * T + (1 - g) * s)


def cubalif_ref(x, state, p):
    V, I = state
    s = H(V - p["threshold"])
    I = c(p["alpha"]) * I + x
    return s, (leak(c(p["beta"]), V, s, p["threshold"], p, True) + I, I)


def rif_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, leak(1.0, V, s, p["threshold"], p) + x + s @ p["recurrent_w"]


def rlif_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, leak(c(p["beta"]), V, s, p["threshold"], p) + x + s @ p["recurrent_w"]


def rcubalif_ref(x, state, p):
    V, I = state
    s = H(V - p["threshold"])
    I = c(p["alpha"]) * I + x + s @ p["recurrent_w"]
    return s, (leak(c(p["beta"]), V, s, p["threshold"], p, True) + I, I)


def psu_lif_ref(x, V, p):
    V = c(p["beta"]) * V + x
    return H(V - p["threshold"]), V


def simulate(step, xs, state, p):
    """Loop `step` over axis 0 of `xs`; returns stacked outputs and states."""
    outs, states = [], []
    for x in np.asarray(xs, np.float64):
        out, state = step(x, state, p)
        outs.append(out)
        states.append(state)
    return np.stack(outs), states
