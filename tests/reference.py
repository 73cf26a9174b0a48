"""An independent NumPy reference of every neuron, written from SPEC.md.

Each step takes ``(x, state, p)`` with ``p`` a dict of plain parameters
(``beta``, ``alpha``, ``gamma``, ``W``, ``threshold``) and returns
``(out, new_state)``. Two-part states are ``(A, B)`` tuples here, so the
layout (concatenation on the last axis) is checked by the tests, not assumed.
"""

import numpy as np


def H(v):
    return (v > 0).astype(np.float64)


def c(p):
    return np.clip(p, 0.0, 1.0)


def if_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, V + x - s * p["threshold"]


def lif_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, c(p["beta"]) * V + x - s * p["threshold"]


def li_ref(x, V, p):
    V = c(p["beta"]) * V + x
    return V, V


def alif_ref(x, state, p):
    V, T = state
    th = p["threshold"] + T
    s = H(V - th)
    g = c(p["gamma"])
    return s, (c(p["beta"]) * V + x - s * th, g * T + (1 - g) * s)


def cubalif_ref(x, state, p):
    V, I = state
    s = H(V - p["threshold"])
    I = c(p["alpha"]) * I + x
    return s, (c(p["beta"]) * (V - s * p["threshold"]) + I, I)


def rif_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, V + x + s @ p["W"] - s * p["threshold"]


def rlif_ref(x, V, p):
    s = H(V - p["threshold"])
    return s, c(p["beta"]) * V + x + s @ p["W"] - s * p["threshold"]


def rcubalif_ref(x, state, p):
    V, I = state
    s = H(V - p["threshold"])
    I = c(p["alpha"]) * I + x + s @ p["W"]
    return s, (c(p["beta"]) * (V - s * p["threshold"]) + I, I)


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
