"""Surrogate spike functions: forward is the step, backward is the formula."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spyx.axn as axn

GRID = jnp.linspace(-3.0, 3.0, 241)

# factory, kwargs, surrogate written out from SPEC.md with NumPy
SURROGATES = {
    "superspike": (axn.superspike, {"k": 25.0}, lambda x: 1 / (1 + 25 * abs(x)) ** 2),
    "superspike_k5": (axn.superspike, {"k": 5.0}, lambda x: 1 / (1 + 5 * abs(x)) ** 2),
    "arctan": (
        axn.arctan,
        {"k": 2.0},
        lambda x: 1 / (math.pi * (1 + (2 * math.pi * x) ** 2)),
    ),
    "tanh": (axn.tanh, {"k": 1.0}, lambda x: 4 / (np.exp(-x) + np.exp(x)) ** 2),
    "tanh_k3": (
        axn.tanh,
        {"k": 3.0},
        lambda x: 4 / (np.exp(-3 * x) + np.exp(3 * x)) ** 2,
    ),
    "boxcar": (
        axn.boxcar,
        {"width": 2.0, "height": 0.5},
        lambda x: np.where(abs(x) < 1.0, 0.5, 0.0),
    ),
    "boxcar_narrow": (
        axn.boxcar,
        {"width": 0.5, "height": 2.0},
        lambda x: np.where(abs(x) < 0.25, 2.0, 0.0),
    ),
    "triangular": (
        axn.triangular,
        {"k": 2.0},
        lambda x: np.maximum(0, 1 - abs(2 * x)),
    ),
    # spyx 1.0's default: bwd is the identity, g(x) = x
    "custom_default": (axn.custom, {}, lambda x: x),
    "custom_straight_through": (axn.custom, {"bwd": jnp.ones_like}, np.ones_like),
}

DEFAULTS = {
    "superspike": lambda x: 1 / (1 + 25 * abs(x)) ** 2,
    "arctan": lambda x: 1 / (math.pi * (1 + (2 * math.pi * x) ** 2)),
    "tanh": lambda x: 4 / (np.exp(-x) + np.exp(x)) ** 2,
    "boxcar": lambda x: np.where(abs(x) < 1.0, 0.5, 0.0),
    "triangular": lambda x: np.maximum(0, 1 - abs(2 * x)),
}


def test_heaviside_is_strict_and_keeps_dtype():
    x = jnp.array([-1.0, 0.0, 1e-7, 2.0], jnp.bfloat16)
    out = axn.heaviside(x)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(out.astype(jnp.float32), [0, 0, 1, 1])


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_is_the_heaviside_step(name):
    factory, kwargs, _ = SURROGATES[name]
    spike = factory(**kwargs)
    np.testing.assert_array_equal(spike(GRID), (np.asarray(GRID) > 0).astype(float))
    assert spike(GRID).dtype == GRID.dtype


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_backward_equals_the_surrogate_formula(name):
    factory, kwargs, g = SURROGATES[name]
    spike = factory(**kwargs)
    grads = jax.vmap(jax.grad(spike))(GRID)
    np.testing.assert_allclose(
        grads, g(np.asarray(GRID, np.float64)), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_hyperparameters(name):
    spike = getattr(axn, name)()
    grads = jax.vmap(jax.grad(spike))(GRID)
    np.testing.assert_allclose(
        grads, DEFAULTS[name](np.asarray(GRID)), rtol=1e-5, atol=1e-7
    )


def test_backward_scales_the_incoming_gradient():
    spike = axn.superspike(k=25.0)
    x = jnp.array([0.1, -0.2, 0.0])
    ct = jnp.array([2.0, -3.0, 0.5])
    _, vjp = jax.vjp(spike, x)
    (gx,) = vjp(ct)
    np.testing.assert_allclose(gx, ct / (1 + 25 * jnp.abs(x)) ** 2, rtol=1e-6)


def test_custom_bwd_is_the_surrogate_derivative_as_in_spyx_1():
    """`bwd` maps x to g(x); the backward pass is incoming * g(x)."""
    spike = axn.custom(bwd=lambda x: x**2, fwd=lambda x: (x > 0.5).astype(x.dtype))
    x = jnp.array([0.2, 0.6, 1.0])
    np.testing.assert_array_equal(spike(x), [0.0, 1.0, 1.0])
    ct = jnp.array([2.0, -1.0, 0.5])
    (gx,) = jax.vjp(spike, x)[1](ct)
    np.testing.assert_allclose(gx, ct * x**2, rtol=1e-6)


def test_spike_functions_are_values_with_their_arguments():
    assert axn.superspike(k=5) == axn.superspike(k=5.0)
    assert hash(axn.arctan()) == hash(axn.arctan(k=2.0))
    assert axn.superspike(k=5) != axn.superspike(k=6)
    assert axn.tanh() != axn.superspike()
    assert repr(axn.boxcar()) == "boxcar(width=2.0, height=0.5)"
    assert repr(axn.custom()) == "custom()"

    def gauss(x):
        return jnp.exp(-(x**2))

    assert repr(axn.custom(bwd=gauss)) == (
        "custom(bwd=test_spike_functions_are_values_with_their_arguments.<locals>."
        "gauss)"
    )
    with pytest.raises(TypeError, match=r"superspike: `k` must be a number"):
        axn.superspike(k="sharp")
    with pytest.raises(ValueError, match=r"arctan: `k` must be finite"):
        axn.arctan(k=float("inf"))


def test_spike_functions_work_under_jit_and_vmap():
    spike = axn.arctan()
    x = jnp.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(jax.jit(jax.vmap(spike))(x), spike(x))
    g = jax.jit(jax.grad(lambda x: spike(x).sum()))(x)
    assert g.shape == x.shape and bool(jnp.all(g > 0))


def test_spike_of_low_precision_input_keeps_dtype_in_backward():
    spike = axn.superspike()
    x = jnp.array([0.01, -0.5], jnp.bfloat16)
    g = jax.grad(lambda x: spike(x).astype(jnp.float32).sum())(x)
    assert g.dtype == jnp.bfloat16
