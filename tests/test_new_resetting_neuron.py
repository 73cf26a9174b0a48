"""A resetting neuron added from outside the package: `Spiky` follows "How to
add a neuron" in docs/explanation/design.md word for word and runs in every
reset mode in both APIs, a reset mode of one's own reaches steps and
kernels, and declarations that do not fit the spec are refused.
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
from .test_new_neuron import ENTRY, Toy


def spiky_step(x, V, *, rho, threshold, spike, reset="subtract"):
    r = core.reset_mode("spiky_step", reset)  # a name, or a ResetMode
    s = spike(V - threshold)
    V_new = r(core.clip01(rho), V, s, threshold) + 2.0 * x
    return s, V_new.astype(V.dtype)


SPIKY = core.NeuronSpec(
    "Spiky",
    spiky_step,
    "s = H(V - th); V' = r V + 2 x - s th",
    decays=("rho",),
    resets=True,
)


class Spiky(snn.Neuron):
    """A LIF whose input counts twice, in any reset mode (test only)."""

    spec = SPIKY

    def __init__(
        self,
        hidden_shape,
        rho=None,
        threshold=core.THRESHOLD,
        activation=None,
        *,
        reset="subtract",
        rngs=None,
    ):
        self._setup(
            shape=hidden_shape,
            decays={"rho": rho},
            randomness=rngs,
            threshold=threshold,
            activation=activation,
            reset=reset,
        )


class EqxSpiky(spyx_eqx.SpikingNeuron):
    """The Equinox twin of `Spiky` (test only)."""

    spec: ClassVar = SPIKY
    rho: Array

    def __init__(
        self,
        hidden_shape,
        rho=None,
        threshold=core.THRESHOLD,
        activation=None,
        *,
        reset="subtract",
        key=None,
    ):
        self._setup(
            shape=hidden_shape,
            decays={"rho": rho},
            randomness=key,
            threshold=threshold,
            activation=activation,
            reset=reset,
        )


def spiky_ref(x, V, p):
    s = ref.H(V - p["threshold"])
    return s, ref.leak(ref.c(p["rho"]), V, s, p["threshold"], p) + 2.0 * x


SPIKY_MODES = [Neuron(SPIKY, spiky_ref, mode) for mode in core.RESETS]


@pytest.mark.parametrize("entry", SPIKY_MODES, ids=[n.name for n in SPIKY_MODES])
def test_resetting_neuron_runs_every_mode_in_both_apis(entry):
    """Run, reference, conversions both ways, and the mode kept throughout."""
    p = ENTRY.random_params((4,), seed=1) | {"reset": entry.reset}
    layer = entry.nnx_from((4,), p)
    assert layer.reset == entry.reset
    xs = spiking_input(2, (12, 3, 4), scale=2.0)
    outs, final = snn.run(layer, xs)
    ref_state, fired = np.zeros((3, 4)), 0.0
    for x, out in zip(xs, outs, strict=True):
        ref_out, ref_state = spiky_ref(np.asarray(x, np.float64), ref_state, p)
        np.testing.assert_allclose(out, ref_out, rtol=1e-6)
        fired += float(ref_out.sum())
    np.testing.assert_allclose(final, ref_state, rtol=1e-5, atol=1e-5)
    assert fired > 0
    twin = spyx_eqx.from_nnx(layer)
    assert isinstance(twin, EqxSpiky) and twin.reset == entry.reset
    e_outs, e_final = spyx_eqx.run(twin, xs, twin.initial_state(3))
    np.testing.assert_array_equal(e_outs, outs)
    back = spyx_eqx.to_nnx(twin)
    assert isinstance(back, Spiky) and back.reset == entry.reset


@pytest.mark.parametrize(
    ("neuron", "model", "mode", "transform", "twin"),
    list(cases(SPIKY_MODES, models=("dense",))),
)
def test_resetting_neuron_passes_the_equivalence_matrix(
    neuron, model, mode, transform, twin
):
    check_agreement(neuron, model, mode, transform, twin)


HALF = core.ResetMode(
    "half",
    lambda b, V, s, th, leaky: (
        b * (V - 0.5 * s * th) if leaky else b * V - 0.5 * s * th
    ),
    nir_name="half",
    description="subtracts half the threshold",
)
KERNELS = {
    "lif": (core.lif_step, core.lif_sequence, 1, {"beta": jnp.linspace(0.3, 0.9, 4)}),
    "alif": (core.alif_step, core.alif_sequence, 2, {"beta": 0.8, "gamma": 0.7}),
    "cuba": (
        core.cuba_lif_step,
        core.cuba_lif_sequence,
        2,
        {"alpha": 0.6, "beta": 0.8},
    ),
}


@pytest.mark.parametrize(
    "kernel",
    [pytest.param(k, marks=() if k == "lif" else pytest.mark.slow) for k in KERNELS],
)
def test_a_reset_mode_of_ones_own_reaches_steps_and_kernels(kernel):
    """A new `ResetMode` is one object: the steps take it, and the kernels
    differentiate its rule (no derivatives given: read off the rule), with
    gradients equal to autodiff of the step."""
    import jax

    step, sequence, parts, decays = KERNELS[kernel]
    spike = Toy((4,), rho=0.5).spike
    xs = spiking_input(5, (15, 2, 4), scale=2.0)
    V0 = jnp.full((2, 4 * parts), 0.2)

    def loss(xs, V0, decays, run):
        out, final = run(xs, V0, decays)
        return jnp.sum(out * jnp.arange(4.0)) + jnp.sum(final**2)

    def by_steps(xs, V0, decays):
        one = lambda x, v: step(x, v, **decays, threshold=1.0, spike=spike, reset=HALF)  # noqa: E731
        return core.time_scan(one, xs, V0)

    def by_kernel(xs, V0, decays):
        return sequence(xs, V0, **decays, threshold=1.0, spike=spike, reset=HALF)

    want = jax.value_and_grad(loss, argnums=(0, 1, 2))(xs, V0, decays, by_steps)
    got = jax.value_and_grad(loss, argnums=(0, 1, 2))(xs, V0, decays, by_kernel)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    # and it differs from the built-in "subtract": the rule is used
    sub = sequence(xs, V0, **decays, threshold=1.0, spike=spike)[1]
    assert not np.allclose(by_kernel(xs, V0, decays)[1], sub)


def test_declarations_that_do_not_fit_the_spec_are_refused_in_plain_words():
    with pytest.raises(TypeError, match=r"EqxNoField: .*parameter\(s\) \['rho'\]"):

        class EqxNoField(spyx_eqx.SpikingNeuron):
            spec: ClassVar = SPIKY

    with pytest.raises(TypeError, match=r"subclass spyx_eqx.SpikingNeuron"):

        class EqxNotSpiking(spyx_eqx.Neuron):
            spec: ClassVar = SPIKY
            rho: Array

    class ForgetsReset(snn.Neuron):
        spec = SPIKY

        def __init__(self, hidden_shape, rho=0.5, *, reset="zero", rngs=None):
            self._setup(
                shape=hidden_shape, decays={"rho": rho}, threshold=1.0, randomness=rngs
            )

    with pytest.raises(TypeError, match=r"ForgetsReset.__init__ .* no `reset`"):
        ForgetsReset((3,))

    class WrongDecay(snn.Neuron):
        spec = SPIKY

        def __init__(self, hidden_shape, beta=0.5):
            self._setup(
                shape=hidden_shape, decays={"beta": beta}, threshold=1.0, reset="zero"
            )

    with pytest.raises(TypeError, match=r"decays \['beta'\].*has \['rho'\]"):
        WrongDecay((3,))
    with pytest.raises(TypeError, match=r"Toy.__init__ passes to _setup a `reset`"):
        Toy((3,), rho=0.5)._setup(
            shape=(3,), decays={"rho": 0.5}, threshold=1.0, reset="zero"
        )
    with pytest.raises(ValueError, match=r"Spiky: `reset` must be one of"):
        Spiky((3,), rho=0.5, reset="subtractive")


def test_nir_export_refuses_a_reset_mode_of_ones_own():
    """A graph could not record it: refused, not written as another mode."""

    layer = snn.LIF((3,), beta=0.5, reset=HALF)
    assert layer.reset is HALF
    model = snn.Sequential(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), layer)
    with pytest.raises(
        TypeError, match=r"LIF resets with a mode of its own \('half'\)"
    ):
        snir.to_nir(model, (2,))


class SpikyEarly(Spiky):
    """`Spiky` declaring that its output comes from its state alone."""

    spec = dataclasses.replace(SPIKY, name="SpikyEarly", output_from_state=True)


def late_step(x, V, *, rho, threshold, spike, reset="subtract"):
    V_new = core.clip01(rho) * V + x  # the spike after the update
    s = spike(V_new - threshold)
    return s, V_new - s * threshold


class Late(Spiky):
    """A neuron that wrongly declares `output_from_state` (test only)."""

    spec = core.NeuronSpec(
        "Late",
        late_step,
        "V' = r V + x; s = H(V' - th)",
        decays=("rho",),
        resets=True,
        output_from_state=True,
    )


@pytest.mark.slow  # the default run keeps it under 5 minutes
def test_a_neuron_of_ones_own_in_a_graph_follows_its_declaration():
    """Undeclared, a neuron of one's own needs a delay in a cycle; declared
    `output_from_state`, it feeds back within the step; declared wrongly,
    the graph refuses it when built."""
    w = nnx.Linear(4, 4, use_bias=False, rngs=nnx.Rngs(0))
    edges = [("input", "n"), ("n", "w"), ("w", "n"), ("n", "output")]
    with pytest.raises(ValueError, match=r"passes through no spiking neuron"):
        snn.Graph({"n": Spiky((4,), rho=0.5), "w": w}, edges)
    graph = snn.Graph({"n": SpikyEarly((4,), rho=0.5), "w": w}, edges)
    x = jax.random.uniform(jax.random.key(0), (12, 2, 4)) * 1.5
    a, _ = snn.run(graph, x, layerwise=True)
    b, _ = snn.run(graph, x, layerwise=False)
    np.testing.assert_array_equal(a, b)
    assert float(a.sum()) > 0
    with pytest.raises(ValueError, match=r"says output_from_state=True, but its"):
        snn.Graph({"n": Late((4,), rho=0.5), "w": w}, edges)
