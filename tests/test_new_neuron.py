"""Adding a neuron from outside the package: a core step, a table entry and
two short class declarations, all in this file, are enough for both APIs,
the conversions, the equivalence matrix and a clear NIR refusal.

`Toy` does not reset; `Spiky` resets and follows "How to add a neuron" in
docs/explanation/design.md word for word, in every reset mode.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import Array

import spyx.nir as snir
import spyx.nn as snn
import spyx_eqx
from spyx import core

from . import reference as ref
from .equivalence import cases, check_agreement
from .helpers import Neuron, spiking_input


# 1. The equation: a pure step function (here a LIF whose input counts twice,
#    with a decay called `rho`, a name no built-in neuron uses).
def toy_step(x, V, *, rho, threshold, spike):
    s = spike(V - threshold)
    return s, (core.clip01(rho) * V + 2.0 * x - s * threshold).astype(V.dtype)


# 2. Its row of the neuron table (no NIR mapping: NIR has no such node).
TOY = core.NeuronSpec(
    "Toy", toy_step, "s = H(V - th); V' = r V + 2 x - s th", decays=("rho",)
)


# 3. The two class declarations.
class Toy(snn.Neuron):
    """A LIF whose input counts twice (test only)."""

    spec = TOY

    def __init__(
        self,
        hidden_shape,
        rho=None,
        threshold=core.THRESHOLD,
        activation=None,
        *,
        rngs: nnx.Rngs | None = None,
    ):
        self._setup(
            shape=hidden_shape,
            decays={"rho": rho},
            randomness=rngs,
            threshold=threshold,
            activation=activation,
        )


class EqxToy(spyx_eqx.SpikingNeuron):
    """The Equinox twin of `Toy` (test only)."""

    spec: ClassVar = TOY
    rho: Array

    def __init__(
        self,
        hidden_shape,
        rho=None,
        threshold=core.THRESHOLD,
        activation=None,
        *,
        key: Array | None = None,
    ):
        self._setup(
            shape=hidden_shape,
            decays={"rho": rho},
            randomness=key,
            threshold=threshold,
            activation=activation,
        )


def toy_ref(x, V, p):
    s = ref.H(V - p["threshold"])
    return s, ref.c(p["rho"]) * V + 2.0 * x - s * p["threshold"]


ENTRY = Neuron(TOY, toy_ref)


def test_the_table_entry_finds_both_classes():
    assert snn.nnx_class(TOY) is Toy and spyx_eqx.eqx_class(TOY) is EqxToy
    assert ENTRY.param_names == ("rho",)
    assert TOY not in core.NEURONS  # nothing outside this file was touched
    undeclared = core.NeuronSpec("Undeclared", toy_step, "-", decays=("rho",))
    with pytest.raises(TypeError, match=r"spyx.nn has no neuron class .*Undeclared"):
        snn.nnx_class(undeclared)
    with pytest.raises(TypeError, match=r"spyx_eqx has no neuron class"):
        spyx_eqx.eqx_class(undeclared)


def test_runs_in_both_apis_and_matches_its_reference():
    p = ENTRY.random_params((4,), seed=0)
    layer = ENTRY.nnx_from((4,), p)
    xs = spiking_input(0, (10, 3, 4))
    outs, final = snn.run(layer, xs)
    ref_state, fired = np.zeros((3, 4)), 0.0
    for x, out in zip(xs, outs, strict=True):
        ref_out, ref_state = toy_ref(np.asarray(x, np.float64), ref_state, p)
        np.testing.assert_allclose(out, ref_out, rtol=1e-6)
        fired += float(ref_out.sum())
    np.testing.assert_allclose(final, ref_state, rtol=1e-5, atol=1e-6)
    assert fired > 0
    twin = spyx_eqx.from_nnx(layer)
    assert isinstance(twin, EqxToy)
    e_outs, e_final = spyx_eqx.run(twin, xs, twin.initial_state(3))
    np.testing.assert_array_equal(e_outs, outs)
    back = spyx_eqx.to_nnx(twin)
    assert isinstance(back, Toy)
    np.testing.assert_array_equal(back.rho[...], layer.rho[...])


def test_rngs_key_and_errors_use_the_class_name():
    assert Toy((3,), rngs=nnx.Rngs(0)).rho[...].shape == (3,)
    with pytest.raises(TypeError, match=r"Toy: `rngs` is required to initialise `rho`"):
        Toy((3,))
    with pytest.raises(TypeError, match=r"EqxToy: `key` is required"):
        EqxToy((3,))
    with pytest.raises(ValueError, match=r"Toy: `x` must have shape"):
        Toy((3,), rho=0.5)(jnp.ones((2, 4)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Toy: `x` needs a leading time"):
        Toy((3,), rho=0.5).run_sequence(jnp.ones(3), jnp.zeros(3))


def test_nir_export_refuses_it_clearly():
    model = snn.Sequential(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), Toy((3,), rho=0.5))
    with pytest.raises(TypeError, match=r"Toy has no NIR equivalent.*V' = r V \+ 2 x"):
        snir.to_nir(model, (2,))


# The neuron between Linear layers: every mode, transform and twin.
@pytest.mark.parametrize(
    ("neuron", "model", "mode", "transform", "twin"),
    list(cases([ENTRY], models=("dense",))),
)
def test_passes_the_equivalence_matrix(neuron, model, mode, transform, twin):
    check_agreement(neuron, model, mode, transform, twin)


def squash_step(x, V, *, rho, threshold, spike):
    """A step whose Jacobian depends on its input: the input is squashed, and
    the spike is read off the updated membrane (as in PSU_LIF)."""
    V_new = (core.clip01(rho) * V + 2.0 * jnp.tanh(x) * x).astype(V.dtype)
    return spike(V_new - threshold), V_new


@pytest.mark.parametrize("step", [toy_step, squash_step], ids=["toy", "squash"])
def test_adjoint_sequence_gives_it_a_kernel(step):
    """`spyx.core.adjoint_sequence` turns a step into a whole-sequence kernel:
    its values and gradients equal autodiff of the scan, also for a step that
    uses its input nonlinearly, and a class whose spec carries it runs and
    differentiates the same as the step-by-step toy, in both APIs."""

    import equinox as eqx
    import jax

    kernel = core.adjoint_sequence(step, ("rho",), recurrent=False)
    spike = Toy((5,), rho=0.5).spike
    xs = spiking_input(4, (12, 3, 5))
    V0 = jnp.full((3, 5), 0.3)
    rho = jnp.linspace(0.2, 0.9, 5)

    def by_steps(x, V, rho):
        one = lambda x_t, v: step(x_t, v, rho=rho, threshold=1.0, spike=spike)  # noqa: E731
        out, final = core.time_scan(one, x, V)
        return jnp.sum(out * jnp.arange(5.0)) + jnp.sum(final**2)

    def by_kernel(x, V, rho):
        out, final = kernel(x, V, rho=rho, threshold=1.0, spike=spike)
        return jnp.sum(out * jnp.arange(5.0)) + jnp.sum(final**2)

    ref = jax.value_and_grad(by_steps, argnums=(0, 1, 2))(xs, V0, rho)
    got = jax.value_and_grad(by_kernel, argnums=(0, 1, 2))(xs, V0, rho)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    plain = dataclasses.replace(TOY, name=f"Plain{step.__name__}", step=step)
    fast_spec = dataclasses.replace(plain, name=f"Fast{step.__name__}", sequence=kernel)

    def classes(spec):
        nnx_cls = type(spec.name, (Toy,), {"spec": spec})
        eqx_cls = type(f"Eqx{spec.name}", (EqxToy,), {"spec": spec})
        return nnx_cls, eqx_cls

    (slow, eslow), (fast, efast) = classes(plain), classes(fast_spec)

    def loss(layer, xs):
        outs, final = snn.run(layer, xs)
        return jnp.sum(outs * jnp.arange(5.0)) + jnp.sum(final**2)

    want = nnx.value_and_grad(loss)(slow((5,), rho=rho), xs)
    got = nnx.value_and_grad(loss)(fast((5,), rho=rho), xs)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1].rho[...], want[1].rho[...], rtol=1e-5, atol=1e-5)

    def eloss(layer, xs):
        outs, final = spyx_eqx.run(layer, xs, layer.initial_state(3))
        return jnp.sum(outs * jnp.arange(5.0)) + jnp.sum(final**2)

    ewant = eqx.filter_value_and_grad(eloss)(eslow((5,), rho=rho), xs)
    egot = eqx.filter_value_and_grad(eloss)(efast((5,), rho=rho), xs)
    np.testing.assert_allclose(egot[0], ewant[0], rtol=1e-5)
    np.testing.assert_allclose(egot[1].rho, ewant[1].rho, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(egot[1].rho, got[1].rho[...], rtol=1e-5, atol=1e-5)


def test_adjoint_sequence_refuses_feedback_that_is_not_an_input():
    """A recurrent step must add ``out @ W`` where it adds ``x``; one that
    scales its feedback is refused when the kernel is traced."""

    def scaled_feedback_step(x, V, *, rho, threshold, spike, weights=None):
        s = spike(V - threshold)
        feedback = 0.0 if weights is None else 0.5 * (s @ weights)
        return s, core.clip01(rho) * V + x + feedback - s * threshold

    kernel = core.adjoint_sequence(scaled_feedback_step, ("rho",), recurrent=True)
    spike = Toy((4,), rho=0.5).spike
    with pytest.raises(ValueError, match=r"does not take its feedback where it takes"):
        jax.jit(
            lambda x: kernel(
                x,
                jnp.zeros((2, 4)),
                rho=0.5,
                threshold=1.0,
                spike=spike,
                weights=jnp.eye(4),
            )
        )(jnp.ones((3, 2, 4)))


# The design page's recipe, for a neuron that resets (every built-in mode).
