"""Wrong calls get a clear error before any computation: the exception type
and a message naming the layer, the argument, and expected versus actual."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn

from .helpers import NEURON_IDS, NEURONS


def _mlp():
    rngs = nnx.Rngs(0)
    return snn.Sequential(nnx.Linear(5, 4, rngs=rngs), snn.LIF((4,), beta=0.9))


def _mismatched():
    rngs = nnx.Rngs(0)
    return snn.Sequential(nnx.Linear(5, 8, rngs=rngs), snn.LIF((4,), beta=0.9))


# (id, thunk, exception type, regex the message must match)
CASES = [
    (
        "wrong feature size",
        lambda: snn.LIF((4,), beta=0.5)(jnp.ones((2, 5)), jnp.zeros((2, 4))),
        ValueError,
        r"LIF: `x` must have shape \(\*batch, 4\), got \(2, 5\)",
    ),
    (
        "state batch differs from x",
        lambda: snn.LIF((4,), beta=0.5)(jnp.ones((2, 4)), jnp.zeros((3, 4))),
        ValueError,
        r"LIF: `state` must have shape \(2, 4\).*got \(3, 4\).*batch axes differ",
    ),
    (
        "two-part state of one part",
        lambda: snn.ALIF((4,), beta=0.5, gamma=0.5)(
            jnp.ones((2, 4)), jnp.zeros((2, 4))
        ),
        ValueError,
        r"ALIF: `state` must have shape \(2, 8\).*got \(2, 4\)",
    ),
    (
        "doubled-every-axis state",
        lambda: snn.CuBaLIF((2, 3), alpha=0.5, beta=0.5)(
            jnp.ones((1, 2, 3)), jnp.zeros((1, 4, 6))
        ),
        ValueError,
        r"CuBaLIF: `state` must have shape \(1, 2, 6\).*got \(1, 4, 6\)",
    ),
    (
        "integer input",
        lambda: snn.IF((4,))(jnp.ones((2, 4), jnp.int32), jnp.zeros((2, 4))),
        TypeError,
        r"IF: `x` must have a floating dtype, got int32",
    ),
    (
        "python list input",
        lambda: snn.IF((2,))([[1.0, 2.0]], jnp.zeros((1, 2))),
        TypeError,
        r"IF: `x` must be a JAX or NumPy array, got list",
    ),
    (
        "sequential state not a list",
        lambda: _mlp()(jnp.ones((2, 5)), jnp.zeros((2, 4))),
        TypeError,
        r"Sequential: `state` must be a list with one entry per layer \(2\)",
    ),
    (
        "sequential state too short",
        lambda: _mlp()(jnp.ones((2, 5)), [None]),
        TypeError,
        r"one entry per layer \(2\), got a list of length 1",
    ),
    (
        "sequential state None for a stateful layer",
        lambda: _mlp()(jnp.ones((2, 5)), [None, None]),
        TypeError,
        r"layer 1 \(LIF\) is stateful but its state entry is None",
    ),
    (
        "sequential state given to a stateless layer",
        lambda: _mlp()(jnp.ones((2, 5)), [jnp.zeros((2, 5)), jnp.zeros((2, 4))]),
        TypeError,
        r"layer 0 \(Linear\) is stateless",
    ),
    (
        "mismatched layer sizes",
        lambda: snn.run(_mismatched(), jnp.ones((3, 2, 5))),
        ValueError,
        r"LIF: `x` must have shape \(Time, \*batch, 4\), got \(3, 2, 8\)",
    ),
    (
        "mismatched layer sizes, step by step",
        lambda: snn.run(_mismatched(), jnp.ones((3, 2, 5)), layerwise=False),
        ValueError,
        r"LIF: `x` must have shape \(\*batch, 4\), got \(2, 8\)",
    ),
    (
        "run without state on a stateless model",
        lambda: snn.run(nnx.Linear(3, 3, rngs=nnx.Rngs(0)), jnp.ones((4, 2, 3))),
        TypeError,
        r"run\(Linear\): no `state` was given and the model has no initial_state",
    ),
    (
        "batch-major data to run",
        lambda: snn.run(_mlp(), jnp.ones((8, 20, 5)), _mlp().initial_state(8)),
        ValueError,
        r"looks batch-major.*jnp.swapaxes\(x, 0, 1\)",
    ),
    (
        "run on data without a time axis",
        lambda: snn.run(snn.IF((4,)), jnp.ones((4,))),
        ValueError,
        r"time-major with shape \[Time, Batch, \.\.\.\], got \(4,\)",
    ),
    (
        "unknown padding in sum_pool",
        lambda: snn.sum_pool(jnp.ones((1, 4, 4, 1)), 2, 2, "FULL"),
        ValueError,
        r"sum_pool: `padding` must be 'SAME' or 'VALID', got 'FULL'",
    ),
    (
        "unknown padding in SumPool",
        lambda: snn.SumPool(2, padding="same"),
        ValueError,
        r"SumPool: `padding` must be 'SAME' or 'VALID', got 'same'",
    ),
    (
        "window of the wrong length",
        lambda: snn.sum_pool(jnp.ones((1, 4, 4, 1)), (2, 2, 2), 1, "VALID"),
        ValueError,
        r"`window_shape` must be an int, one entry per spatial axis \(2\)",
    ),
    (
        "zero size in hidden_shape",
        lambda: snn.LIF((4, 0), beta=0.5),
        ValueError,
        r"LIF: every size in `hidden_shape` must be positive, got \(4, 0\)",
    ),
    (
        "negative size",
        lambda: snn.IF(-3),
        ValueError,
        r"IF: every size in `hidden_shape` must be positive, got \(-3,\)",
    ),
    (
        "empty hidden_shape",
        lambda: snn.LI(()),
        ValueError,
        r"LI: `layer_shape` must have at least one axis",
    ),
    (
        "beta of the wrong shape",
        lambda: snn.LIF((4,), beta=jnp.ones(3)),
        ValueError,
        r"LIF: `beta` must be a number or an array of shape \(4,\).*got shape \(3,\)",
    ),
    (
        "random init without rngs",
        lambda: snn.LIF((4,)),
        TypeError,
        r"LIF: `rngs` is required to initialise `beta`",
    ),
    (
        "threshold not a number",
        lambda: snn.IF((4,), threshold="high"),
        TypeError,
        r"IF: `threshold` must be a number",
    ),
    (
        "zero batch size",
        lambda: snn.LIF((4,), beta=0.5).initial_state(0),
        ValueError,
        r"LIF: `batch_size` must be positive, got 0",
    ),
    (
        "parallel without a time axis",
        lambda: snn.PSU_LIF((4,), beta=0.5).parallel(jnp.ones((4,))),
        ValueError,
        r"PSU_LIF.parallel: `x` needs a leading time axis",
    ),
    (
        "population code not divisible",
        lambda: snn.PopulationCode(3)(jnp.ones((2, 10))),
        ValueError,
        r"PopulationCode: the last axis of `x` \(10\) must be a positive multiple",
    ),
]

RECURRENT = [n for n in NEURONS if n.recurrent]


@pytest.mark.parametrize(
    ("thunk", "exc", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_clear_error(thunk, exc, match):
    with pytest.raises(exc, match=match):
        thunk()


@pytest.mark.parametrize("neuron", RECURRENT, ids=lambda n: n.name)
def test_recurrent_neuron_rejects_multidimensional_hidden_shape(neuron):
    with pytest.raises(
        ValueError,
        match=rf"{neuron.name}: `hidden_shape` must be "
        r"1-D for a recurrent neuron, got \(4, 4\)",
    ):
        neuron.make((4, 4))


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_every_neuron_checks_input_and_state(neuron):
    layer = neuron.make((3,))
    state = layer.initial_state(2)
    with pytest.raises(ValueError, match=rf"{neuron.name}: `x` must have shape"):
        layer(jnp.ones((2, 4)), state)
    with pytest.raises(ValueError, match=rf"{neuron.name}: `state` must have shape"):
        layer(jnp.ones((2, 3)), state[:1])


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_errors_fire_at_trace_time_under_jit(neuron):
    layer = neuron.make((3,))
    calls = []

    def f(x, s):
        calls.append(1)
        return layer(x, s)

    with pytest.raises(ValueError, match=neuron.name):
        jax.jit(f)(jnp.ones((2, 5)), layer.initial_state(2))
    assert calls == [1]  # traced once, failed while tracing


def test_no_silent_broadcast_of_a_single_example_state():
    layer = snn.LIF((3,), beta=0.5)
    with pytest.raises(ValueError, match=r"`state` must have shape \(2, 3\)"):
        layer(jnp.ones((2, 3)), np.zeros((3,), np.float32))
