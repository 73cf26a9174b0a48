"""Every neuron's equation, against values computed by hand and against the
independent NumPy reference over several steps."""

import jax.numpy as jnp
import numpy as np
import pytest

import spyx.nn as snn

from .helpers import NEURON_IDS, NEURONS, spiking_input

W2 = [[0.0, 0.3], [0.2, 0.0]]  # W[i, j]: weight from unit i to unit j

# name -> (parameters, inputs [T, H], expected outputs [T, H], expected states
# [T, state]); every number below was worked out by hand from SPEC.md.
HAND = {
    "IF": (
        {"threshold": 1.0},
        [[0.6], [0.8], [0.3], [0.0]],
        [[0], [0], [1], [0]],
        [[0.6], [1.4], [0.7], [0.7]],
    ),
    "LIF": (
        {"beta": 0.5, "threshold": 1.0},
        [[0.6], [0.8], [0.3], [0.0]],
        [[0], [0], [1], [0]],
        [[0.6], [1.1], [-0.15], [-0.075]],
    ),
    "LI": (
        {"beta": 0.5},
        [[1.0], [2.0], [0.0]],
        [[1.0], [2.5], [1.25]],
        [[1.0], [2.5], [1.25]],
    ),
    # state [V, T]; the adaptive threshold th + T drives spike and reset.
    "ALIF": (
        {"beta": 0.5, "gamma": 0.5, "threshold": 1.0},
        [[1.2], [0.9], [1.4], [0.0]],
        [[0], [1], [0], [1]],
        [[1.2, 0.0], [0.5, 0.5], [1.65, 0.25], [-0.425, 0.625]],
    ),
    # state [V, I]; H(0) = 0, so V == threshold does not fire.
    "CuBaLIF": (
        {"alpha": 0.5, "beta": 0.5, "threshold": 1.0},
        [[1.0], [1.0], [0.0], [0.0]],
        [[0], [0], [1], [1]],
        [[1.0, 1.0], [2.0, 1.5], [1.25, 0.75], [0.5, 0.375]],
    ),
    "RIF": (
        {"recurrent_w": W2, "threshold": 1.0},
        [[1.5, 0.0], [0.0, 0.0], [0.0, 0.0]],
        [[0, 0], [1, 0], [0, 0]],
        [[1.5, 0.0], [0.5, 0.3], [0.5, 0.3]],
    ),
    "RLIF": (
        {"beta": 0.5, "recurrent_w": W2, "threshold": 1.0},
        [[1.5, 0.0], [0.0, 0.0], [0.0, 0.0]],
        [[0, 0], [1, 0], [0, 0]],
        [[1.5, 0.0], [-0.25, 0.3], [-0.125, 0.15]],
    ),
    # state [V1, V2, I1, I2]
    "RCuBaLIF": (
        {"alpha": 0.5, "beta": 0.5, "recurrent_w": W2, "threshold": 1.0},
        [[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
        [[0, 0], [1, 0], [1, 0]],
        [[2.0, 0.0, 2.0, 0.0], [1.5, 0.3, 1.0, 0.3], [0.75, 0.6, 0.5, 0.45]],
    ),
    # spike on the updated membrane, no reset
    "PSU_LIF": (
        {"beta": 0.5, "threshold": 1.0},
        [[0.6], [0.8], [0.3], [0.0]],
        [[0], [1], [0], [0]],
        [[0.6], [1.1], [0.85], [0.425]],
    ),
}


def test_every_neuron_has_a_hand_computed_case():
    assert sorted(HAND) == sorted(NEURON_IDS)


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_hand_computed_steps(neuron):
    p, xs, outs, states = HAND[neuron.name]
    hidden = (len(xs[0]),)
    layer = neuron.nnx_from(hidden, p)
    V = layer.initial_state(1)
    for x, out, state in zip(xs, outs, states, strict=True):
        o, V = layer(jnp.asarray([x], jnp.float32), V)
        np.testing.assert_allclose(o[0], out, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(V[0], state, rtol=1e-6, atol=1e-6)


# Recurrent neurons take 1-D shapes only (see test_bad_input.py).
REFERENCE_CASES = [(n, (5,)) for n in NEURONS] + [
    (n, (3, 2, 4)) for n in NEURONS if not n.recurrent
]


@pytest.mark.parametrize(
    ("neuron", "hidden"),
    REFERENCE_CASES,
    ids=[f"{n.name}-{len(h)}d" for n, h in REFERENCE_CASES],
)
def test_matches_numpy_reference(neuron, hidden):
    p = neuron.random_params(hidden, seed=1)
    layer = neuron.nnx_from(hidden, p)
    xs = spiking_input(2, (12, 3, *hidden))
    ref_state = neuron.split(layer.initial_state(3))
    V = layer.initial_state(3)
    fired = 0.0
    for x in xs:
        out, V = layer(x, V)
        ref_out, ref_state = neuron.reference(np.asarray(x, np.float64), ref_state, p)
        np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(V, neuron.join(ref_state), rtol=1e-5, atol=1e-5)
        fired += float(jnp.sum(out)) if neuron.spiking else 1.0
    assert fired > 0, "the input should make the neuron fire at least once"


@pytest.mark.parametrize(
    "neuron", [n for n in NEURONS if n.decays], ids=lambda n: n.name
)
def test_decays_are_clipped_when_used(neuron):
    """A learned beta that drifted to 1.7 acts as 1, and -0.3 as 0 (stored
    values unchanged). (A fixed decay outside [0, 1] is refused when the
    layer is built: see test_bad_input.)"""
    hidden = (2,)
    p = neuron.random_params(hidden)
    layer = neuron.nnx_from(hidden, p)
    for d in neuron.decays:
        p[d] = np.array([1.7, -0.3])
        getattr(layer, d)[...] = jnp.asarray(p[d], jnp.float32)
    for d in neuron.decays:
        np.testing.assert_allclose(getattr(layer, d)[...], [1.7, -0.3])
    xs = spiking_input(3, (6, 2, *hidden))
    V, ref_state = layer.initial_state(2), neuron.split(layer.initial_state(2))
    for x in xs:
        out, V = layer(x, V)
        ref_out, ref_state = neuron.reference(np.asarray(x, np.float64), ref_state, p)
        np.testing.assert_allclose(V, neuron.join(ref_state), rtol=1e-5, atol=1e-5)


def test_two_part_state_layout_for_multidimensional_hidden_shape():
    layer = snn.CuBaLIF((4, 4, 3), alpha=0.5, beta=0.5)
    assert layer.initial_state(2).shape == (2, 4, 4, 6)
    x = jnp.ones((2, 4, 4, 3))
    _, VI = layer(x, layer.initial_state(2))
    # I' = x lands in the second half of the last axis, V' = I' in the first.
    np.testing.assert_allclose(VI[..., 3:], 1.0)
    np.testing.assert_allclose(VI[..., :3], 1.0)
