"""Every neuron's gradient against a chain-rule reference written by hand.

The NumPy reference neurons (`tests/reference.py`) are run on dual numbers
``(value, derivative)``: each operation applies its derivative rule by hand
(sum, product, matrix product, clip, and the spike, whose derivative is the
SuperSpike surrogate). Forward-mode derivatives of a loss w.r.t. each input
element and each parameter entry are then compared with `jax.grad` of the
spyx neuron. No JAX enters the reference.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn

from . import reference as ref
from .helpers import NEURON_IDS, NEURONS, spiking_input

K = 25.0  # superspike sharpness (the default spike function)


class Dual:
    """A value with one directional derivative, for forward-mode reference."""

    def __init__(self, v, d=None):
        self.v = np.asarray(v, np.float64)
        self.d = np.zeros_like(self.v) if d is None else np.asarray(d, np.float64)

    @staticmethod
    def lift(x):
        return x if isinstance(x, Dual) else Dual(x)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __sub__(self, o):
        o = Dual.lift(o)
        return Dual(self.v - o.v, self.d - o.d)

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.v * o.v, self.d * o.v + self.v * o.d)

    __rmul__ = __mul__

    def __matmul__(self, o):
        o = Dual.lift(o)
        return Dual(self.v @ o.v, self.d @ o.v + self.v @ o.d)

    def __getitem__(self, i):
        return Dual(self.v[i], self.d[i])


def dual_H(u):
    u = Dual.lift(u)
    g = 1.0 / (1.0 + K * np.abs(u.v)) ** 2  # the surrogate derivative
    return Dual((u.v > 0).astype(np.float64), g * u.d)


def dual_clip(p):
    p = Dual.lift(p)
    inside = (p.v > 0) & (p.v < 1)
    return Dual(np.clip(p.v, 0, 1), np.where(inside, p.d, 0.0))


def _reference_loss(neuron, xs, state, params, weights):
    """sum_t sum(out_t * w_t) + sum(final state) with dual-number inputs."""
    saved = ref.H, ref.c
    ref.H, ref.c = dual_H, dual_clip
    try:
        total = Dual(0.0)
        for t in range(xs.v.shape[0]):
            out, state = neuron.reference(xs[t], state, params)
            total = total + Dual(
                np.sum((out * weights[t]).v), np.sum((out * weights[t]).d)
            )
        parts = state if isinstance(state, tuple) else (state,)
        for part in parts:
            total = total + Dual(np.sum(part.v), np.sum(part.d))
        return total
    finally:
        ref.H, ref.c = saved


def _directional(neuron, xs, params, weights, direction):
    """d loss along one unit direction of the input or a parameter."""
    xs_d = Dual(xs, direction.get("x"))
    p = {
        k: (Dual(v, direction.get(k)) if k in neuron.param_names else v)
        for k, v in params.items()
    }
    zeros = np.zeros(xs.shape[1:])
    state = zeros if neuron.parts == 1 else (zeros, zeros)
    state = Dual(state) if neuron.parts == 1 else (Dual(zeros), Dual(zeros))
    return _reference_loss(neuron, xs_d, state, p, weights).d


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_gradient_equals_the_chain_rule_reference(neuron):
    check_gradient(neuron)


def check_gradient(neuron):
    """`jax.grad` of a loss through `run` equals the dual-number reference,
    w.r.t. every input element and every parameter entry."""
    T, B, Hd = 5, 2, 3
    params = neuron.random_params((Hd,), seed=4)
    layer = neuron.nnx_from((Hd,), params)
    xs = np.asarray(spiking_input(5, (T, B, Hd), scale=1.6), np.float64)
    weights = np.random.default_rng(1).normal(size=(T, B, Hd))

    def loss(m, x):
        outs, final = snn.run(m, x)
        return jnp.sum(outs * weights) + jnp.sum(final)

    g_layer, gx = nnx.grad(loss, argnums=(0, 1))(layer, jnp.asarray(xs, jnp.float32))
    gtheta = nnx.to_pure_dict(nnx.state(g_layer, nnx.Param))

    # input gradient, one element at a time
    for idx in np.ndindex(xs.shape):
        e = np.zeros_like(xs)
        e[idx] = 1.0
        want = _directional(neuron, xs, params, weights, {"x": e})
        np.testing.assert_allclose(
            gx[idx], want, rtol=1e-4, atol=1e-5, err_msg=f"x{idx}"
        )
    # every parameter entry
    for name in neuron.param_names:
        for idx in np.ndindex(np.shape(params[name])):
            e = np.zeros(np.shape(params[name]))
            e[idx] = 1.0
            want = _directional(neuron, xs, params, weights, {name: e})
            np.testing.assert_allclose(
                gtheta[name][idx], want, rtol=1e-4, atol=1e-5, err_msg=f"{name}{idx}"
            )
    assert float(jnp.abs(gx).sum()) > 0
