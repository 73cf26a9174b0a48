"""Reset mechanisms: every resetting neuron in the modes "zero" and "none"
(the default "subtract" runs through every other matrix), against values
computed by hand from SPEC.md's reset table, the NumPy reference, the
dual-number gradient reference, the other API, and layer-wise execution.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx
from spyx import core

from .equivalence import cases, check_agreement
from .helpers import NEURONS, RESET_IDS, RESET_VARIANTS, spiking_input
from .test_gradients import check_gradient
from .test_layerwise import check_layerwise

W2 = [[0.0, 0.3], [0.2, 0.0]]  # W[i, j]: weight from unit i to unit j
ONE = [[0.6], [0.8], [0.3], [0.0]]
REC = [[1.5, 0.0], [0.0, 0.0], [0.0, 0.0]]

# (name, reset) -> (parameters, inputs [T, H], outputs [T, H], states
# [T, state]); worked out by hand from SPEC.md ("Reset mechanisms").
HAND = {
    ("IF", "zero"): (
        {},
        ONE,
        [[0], [0], [1], [0]],
        [[0.6], [1.4], [0.3], [0.3]],  # fired at 1.4: cleared, then + 0.3
    ),
    ("IF", "none"): (
        {},
        ONE,
        [[0], [0], [1], [1]],
        [[0.6], [1.4], [1.7], [1.7]],
    ),
    ("LIF", "zero"): (
        {"beta": 0.5},
        ONE,
        [[0], [0], [1], [0]],
        [[0.6], [1.1], [0.3], [0.15]],
    ),
    ("LIF", "none"): (
        {"beta": 0.5},
        ONE,
        [[0], [0], [1], [0]],
        [[0.6], [1.1], [0.85], [0.425]],
    ),
    # state [V, T]; the threshold trace T adapts as with subtraction.
    ("ALIF", "zero"): (
        {"beta": 0.5, "gamma": 0.5},
        [[1.2], [0.9], [1.4], [0.0]],
        [[0], [1], [0], [1]],
        [[1.2, 0.0], [0.9, 0.5], [1.85, 0.25], [0.0, 0.625]],
    ),
    ("ALIF", "none"): (
        {"beta": 0.5, "gamma": 0.5},
        [[1.2], [0.9], [1.4], [0.0]],
        [[0], [1], [0], [1]],
        [[1.2, 0.0], [1.5, 0.5], [2.15, 0.25], [1.075, 0.625]],
    ),
    # state [V, I]
    ("CuBaLIF", "zero"): (
        {"alpha": 0.5, "beta": 0.5},
        [[1.0], [1.0], [0.0], [0.0]],
        [[0], [0], [1], [0]],
        [[1.0, 1.0], [2.0, 1.5], [0.75, 0.75], [0.75, 0.375]],
    ),
    ("CuBaLIF", "none"): (
        {"alpha": 0.5, "beta": 0.5},
        [[1.0], [1.0], [0.0], [0.0]],
        [[0], [0], [1], [1]],
        [[1.0, 1.0], [2.0, 1.5], [1.75, 0.75], [1.25, 0.375]],
    ),
    ("RIF", "zero"): (
        {"recurrent_w": W2},
        REC,
        [[0, 0], [1, 0], [0, 0]],
        [[1.5, 0.0], [0.0, 0.3], [0.0, 0.3]],
    ),
    ("RIF", "none"): (
        {"recurrent_w": W2},
        REC,
        [[0, 0], [1, 0], [1, 0]],
        [[1.5, 0.0], [1.5, 0.3], [1.5, 0.6]],
    ),
    ("RLIF", "zero"): (
        {"beta": 0.5, "recurrent_w": W2},
        REC,
        [[0, 0], [1, 0], [0, 0]],
        [[1.5, 0.0], [0.0, 0.3], [0.0, 0.15]],
    ),
    ("RLIF", "none"): (
        {"beta": 0.5, "recurrent_w": W2},
        REC,
        [[0, 0], [1, 0], [0, 0]],
        [[1.5, 0.0], [0.75, 0.3], [0.375, 0.15]],
    ),
    # state [V1, V2, I1, I2]
    ("RCuBaLIF", "zero"): (
        {"alpha": 0.5, "beta": 0.5, "recurrent_w": W2},
        [[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
        [[0, 0], [1, 0], [0, 0]],
        [[2.0, 0.0, 2.0, 0.0], [1.0, 0.3, 1.0, 0.3], [1.0, 0.3, 0.5, 0.15]],
    ),
    ("RCuBaLIF", "none"): (
        {"alpha": 0.5, "beta": 0.5, "recurrent_w": W2},
        [[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
        [[0, 0], [1, 0], [1, 0]],
        [[2.0, 0.0, 2.0, 0.0], [2.0, 0.3, 1.0, 0.3], [1.5, 0.6, 0.5, 0.45]],
    ),
}


def test_every_resetting_neuron_and_mode_has_a_hand_computed_case():
    assert sorted(HAND) == sorted((n.spec.name, n.reset) for n in RESET_VARIANTS)
    # every spiking neuron resets, except the reset-free parallel one
    assert all(n.spec.resets == (n.spiking and not n.parallel) for n in NEURONS)


@pytest.mark.parametrize("neuron", RESET_VARIANTS, ids=RESET_IDS)
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_hand_computed_steps(neuron, api):
    p, xs, outs, states = HAND[(neuron.spec.name, neuron.reset)]
    p = {"threshold": 1.0, "reset": neuron.reset, **p}
    hidden = (len(xs[0]),)
    build = neuron.nnx_from if api == "nnx" else neuron.eqx_from
    layer = build(hidden, p)
    assert layer.reset == neuron.reset
    V = layer.initial_state(1)
    for x, out, state in zip(xs, outs, states, strict=True):
        o, V = layer(jnp.asarray([x], jnp.float32), V)
        np.testing.assert_allclose(o[0], out, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(V[0], state, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("neuron", RESET_VARIANTS, ids=RESET_IDS)
def test_matches_numpy_reference(neuron):
    check_numpy_reference(neuron)


def check_numpy_reference(neuron):
    """Stepping the NNX layer equals the neuron's NumPy reference step by
    step (outputs and states), and the layer fires."""
    hidden = (5,)
    p = neuron.random_params(hidden, seed=1)
    layer = neuron.nnx_from(hidden, p)
    xs = spiking_input(2, (12, 3, *hidden), scale=1.6)
    V, fired = layer.initial_state(3), 0.0
    ref_state = neuron.split(V)
    for x in xs:
        out, V = layer(x, V)
        ref_out, ref_state = neuron.reference(np.asarray(x, np.float64), ref_state, p)
        np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(V, neuron.join(ref_state), rtol=1e-5, atol=1e-5)
        fired += float(jnp.sum(out))
    assert fired > 0


@pytest.mark.parametrize("neuron", RESET_VARIANTS, ids=RESET_IDS)
def test_gradient_equals_the_chain_rule_reference(neuron):
    check_gradient(neuron)


# One neuron per sequence kernel: lif_sequence, alif_sequence and, with
# recurrent weights, cuba_lif_sequence.
KERNEL_KINDS = ("LIF", "ALIF", "RCuBaLIF")


# Both APIs agree in every mode: in the default run, a jitted run of the
# neuron inside a Sequential for one neuron per kernel; every other neuron,
# mode, transform and twin is marked slow.
@pytest.mark.parametrize(
    ("neuron", "model", "mode", "transform", "twin"),
    list(
        cases(
            RESET_VARIANTS,
            models=("dense",),
            default=lambda neuron, model, mode, transform, twin: (
                neuron.spec.name in KERNEL_KINDS
                and (mode, transform, twin) == ("run", "jit", "explicit")
            ),
        )
    ),
)
def test_nnx_and_equinox_agree(neuron, model, mode, transform, twin):
    check_agreement(neuron, model, mode, transform, twin)


# Layer-wise equals step-wise: in the default run for LIF, whose sequence
# kernel has a hand-written backward pass per mode; the rest slow.
@pytest.mark.parametrize(
    "neuron",
    [
        pytest.param(
            n,
            id=n.name,
            marks=() if n.spec is core.LIF else pytest.mark.slow,
        )
        for n in RESET_VARIANTS
    ],
)
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_layerwise_equals_stepwise(neuron, api):
    check_layerwise(neuron, "layerwise", api)


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_conversions_keep_the_mode(api):
    layer = snn.RCuBaLIF((3,), reset="zero", rngs=nnx.Rngs(0))
    twin = spyx_eqx.from_nnx(layer)
    assert twin.reset == "zero" and spyx_eqx.to_nnx(twin).reset == "zero"


def test_bad_reset_is_refused_clearly():
    with pytest.raises(ValueError, match=r"LIF: `reset` must be one of 'subtract'"):
        snn.LIF((3,), beta=0.5, reset="hard")
    with pytest.raises(ValueError, match=r"ALIF: `reset` must be one of"):
        spyx_eqx.ALIF((3,), beta=0.5, gamma=0.5, reset=0)
    for no_reset in (snn.PSU_LIF, spyx_eqx.PSU_LIF, snn.LI, spyx_eqx.LI):
        with pytest.raises(TypeError, match="reset"):
            no_reset((3,), beta=0.5, reset="zero")
    with pytest.raises(ValueError, match=r"`reset` must be one of"):
        core.lif_sequence(
            jnp.ones((2, 3)),
            jnp.zeros(3),
            beta=0.5,
            threshold=1.0,
            spike=None,
            reset="soft",
        )


# (mode, leak_the_reset) -> (r, dr/dV, dr/ds, dr/db, dr/dth) at b = 0.5,
# V = 2, s = 1, th = 1.5, by hand from SPEC.md's reset table.
PARTIALS = {
    ("subtract", False): (-0.5, 0.5, -1.5, 2.0, -1.0),  # b V - s th
    ("subtract", True): (0.25, 0.5, -0.75, 0.5, -0.5),  # b (V - s th)
    ("zero", False): (0.0, 0.0, -1.0, 0.0, 0.0),  # b (1 - s) V
    ("zero", True): (0.0, 0.0, -1.0, 0.0, 0.0),
    ("none", False): (1.0, 0.5, 0.0, 2.0, 0.0),  # b V
    ("none", True): (1.0, 0.5, 0.0, 2.0, 0.0),
}


@pytest.mark.parametrize(("mode", "leaky"), list(PARTIALS))
def test_reset_rules_and_their_partial_derivatives(mode, leaky):
    """The rule and its derivatives, written out and read off the rule, by
    hand."""
    reset = core.RESET_MODES[mode]
    b, V, s, th = 0.5, jnp.array([2.0]), jnp.array([1.0]), 1.5
    r, *partials = PARTIALS[mode, leaky]
    np.testing.assert_allclose(reset(b, V, s, th, leak_the_reset=leaky), [r])
    for got in (
        reset.partials(b, V, s, th, leak_the_reset=leaky),
        reset.derived_partials(b, V, s, th, leak_the_reset=leaky),
    ):
        np.testing.assert_allclose(
            [np.broadcast_to(d, (1,))[0] for d in (got.V, got.s, got.b, got.th)],
            partials,
        )
    assert core.reset_mode("LIF", mode) is reset
    assert core.reset_mode("LIF", reset) is reset
