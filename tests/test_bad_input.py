"""Wrong calls get a clear error before any computation: the exception type
and a message naming the layer, the argument, and expected versus actual."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.axn
import spyx.nir
import spyx.nn as snn
import spyx.sharding
import spyx_eqx

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
        "no batch axis",
        lambda: snn.run(snn.LIF((8,), beta=0.5), jnp.ones((5, 8))),
        ValueError,
        r"run\(LIF\): `x` must be time-major \[Time, Batch, \.\.\.\] with examples of "
        r"shape \(8,\), got \(5, 8\): there is no batch axis",
    ),
    (
        "no batch axis, Sequential",
        lambda: snn.run(_mlp(), jnp.ones((5, 5))),
        ValueError,
        r"there is no batch axis\. For one example pass x\[:, None\]",
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
    (
        "no processes",
        lambda: spyx.sharding.initialize(num_processes=0),
        ValueError,
        r"initialize: `num_processes` must be >= 1, got 0",
    ),
    (
        "process id alone",
        lambda: spyx.sharding.initialize(process_id=3),
        ValueError,
        r"initialize: several processes need .*`coordinator_address`, "
        r"`num_processes` missing, given \{'process_id': 3\}",
    ),
    (
        "process id out of range",
        lambda: spyx.sharding.initialize("127.0.0.1:1", 2, 2),
        ValueError,
        r"initialize: `process_id` must lie in 0 .. num_processes - 1 = 1, got 2",
    ),
    (
        "unroll on the associative scan",
        lambda: snn.PSU_LIF((4,), beta=0.5).run_sequence(
            jnp.ones((3, 2, 4)), jnp.zeros((2, 4)), unroll=2, method="associative"
        ),
        ValueError,
        r"leaky_scan: `unroll` \(2\) has no effect on the associative scan",
    ),
    (
        "spike function argument not a number",
        lambda: spyx.axn.superspike(k="sharp"),
        TypeError,
        r"spyx.axn.superspike: `k` must be a number, got 'sharp'",
    ),
    (
        "NIR export with dt = 0",
        lambda: spyx.nir.to_nir(snn.LIF((3,), beta=0.5, reset="zero"), (3,), dt=0.0),
        ValueError,
        r"to_nir: `dt` must be a finite time step greater than 0, got 0.0",
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


# ------------------------------------------------- both APIs, every run path


class _API:
    """What a bad-input case needs from a front end."""

    def __init__(self, name):
        self.name = name
        self.eqx = name == "eqx"
        self.nn = spyx_eqx if self.eqx else snn

    def linear(self, i, o):
        if self.eqx:
            return eqx.nn.Linear(i, o, key=jax.random.key(0))
        return nnx.Linear(i, o, rngs=nnx.Rngs(0))

    def chain(self, i, o, n):
        return self.nn.Sequential(self.linear(i, o), self.nn.LIF((n,), beta=0.9))

    def x(self, *shape):
        """`shape` is [T, B, ...]; Equinox runs the same batched data."""
        return jnp.ones(shape)

    def run(self, model, x, path):
        kwargs = {
            "layerwise": {},
            "stepwise": {"layerwise": False},
            "checkpointed": {"checkpoint": 2},
        }.get(path, {})
        if path == "jit":
            return jax.jit(lambda x: self.nn.run(model, x)[0])(x)
        return self.nn.run(model, x, **kwargs)


APIS = [_API("nnx"), _API("eqx")]
PATHS = ["layerwise", "stepwise", "checkpointed", "jit"]

# (id, case(api, path), exception type, regex the message must match)
RUN_CASES = [
    (
        "first layer's input size",
        lambda a, p: a.run(a.chain(5, 4, 4), a.x(3, 2, 7), p),
        ValueError,
        r"layer 0 \(Linear\): expects 5 input features on the last axis, got an "
        r"input of shape \(3, 2, 7\)",
    ),
    (
        "inner layer's input size",
        lambda a, p: a.run(a.chain(5, 8, 4), a.x(3, 2, 5), p),
        ValueError,
        r"layer 1 \(LIF\): expects 4 input features on the last axis, got an "
        r"input of shape \((3, )?2, 8\)",
    ),
    (
        "no time steps",
        lambda a, p: a.run(a.chain(5, 4, 4), a.x(0, 2, 5), p),
        ValueError,
        r"run\(Sequential\): `x` has no time steps \(T = 0",
    ),
    (
        "empty batch",
        lambda a, p: a.run(a.chain(5, 4, 4), a.x(3, 0, 5), p),
        ValueError,
        r"run\(Sequential\): `x` has an empty batch",
    ),
    (
        "neuron alone, wrong size",
        lambda a, p: a.run(a.nn.LIF((4,), beta=0.5), a.x(3, 2, 5), p),
        ValueError,
        r"run\(LIF\): expects 4 input features on the last axis, got an input of "
        r"shape \(3, 2, 5\)",
    ),
]

BUILD_CASES = [
    (
        "zero threshold",
        lambda a: a.nn.LIF((4,), beta=0.5, threshold=0.0),
        ValueError,
        r"LIF: `threshold` must be a finite number greater than 0, got 0\.0",
    ),
    (
        "negative threshold",
        lambda a: a.nn.IF((4,), threshold=-1),
        ValueError,
        r"IF: `threshold` must be a finite number greater than 0, got -1\.0",
    ),
    (
        "infinite threshold",
        lambda a: a.nn.ALIF((4,), 0.5, 0.5, threshold=float("inf")),
        ValueError,
        r"ALIF: `threshold` must be a finite number greater than 0, got inf",
    ),
    (
        "beta above 1",
        lambda a: a.nn.LIF((4,), beta=1.5),
        ValueError,
        r"LIF: `beta` must lie in \[0, 1\].*got 1\.5",
    ),
    (
        "per-unit alpha outside [0, 1]",
        lambda a: a.nn.CuBaLIF((2,), alpha=jnp.array([0.5, 2.0]), beta=0.5),
        ValueError,
        r"CuBaLIF: `alpha` must lie in \[0, 1\].*values from 0\.5 to 2\.0",
    ),
    (
        "negative gamma",
        lambda a: a.nn.ALIF((4,), beta=0.5, gamma=-0.1),
        ValueError,
        r"ALIF: `gamma` must lie in \[0, 1\]",
    ),
    (
        "LI beta above 1",
        lambda a: a.nn.LI((4,), beta=1.2),
        ValueError,
        r"LI: `beta` must lie in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(
    "path",
    # layer-wise in the default run; the other paths slow
    [p if p == "layerwise" else pytest.param(p, marks=pytest.mark.slow) for p in PATHS],
)
@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
@pytest.mark.parametrize(
    ("case", "exc", "match"),
    [c[1:] for c in RUN_CASES],
    ids=[c[0] for c in RUN_CASES],
)
def test_bad_run_raises_the_same_clear_error_in_both_apis(case, exc, match, api, path):
    with pytest.raises(exc, match=match):
        case(api, path)


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
@pytest.mark.parametrize(
    ("case", "exc", "match"),
    [c[1:] for c in BUILD_CASES],
    ids=[c[0] for c in BUILD_CASES],
)
def test_bad_construction_raises_clear_error_in_both_apis(case, exc, match, api):
    with pytest.raises(exc, match=match):
        case(api)


def test_equinox_batch_axis_and_state_disagree():
    model = _API("eqx").chain(5, 4, 4)
    with pytest.raises(ValueError, match=r"has a batch axis.*but the state has 0"):
        spyx_eqx.run(model, jnp.ones((3, 2, 5)), model.initial_state())


def test_nir_conv_import_stores_python_geometry():
    import warnings

    import nir

    import spyx_eqx.nir as enir

    w = np.ones((3, 2, 3, 3), np.float32)
    conv = nir.Conv2d(
        input_shape=(4, 4),
        weight=w,
        bias=np.zeros(3, np.float32),
        stride=np.array([1, 1]),
        padding=np.array([1, 1]),
        dilation=np.array([1, 1]),
        groups=np.array(1),
    )
    shape = (3, 4, 4)
    lif = nir.LIF(
        tau=np.full(shape, 2.0),
        r=np.full(shape, 2.0),
        v_leak=np.zeros(shape),
        v_threshold=np.ones(shape),
        v_reset=np.zeros(shape),
    )
    pool = nir.SumPool2d(
        kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
    )
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2, 4, 4])),
            "conv": conv,
            "lif": lif,
            "pool": pool,
            "output": nir.Output(output_type=np.array([3, 2, 2])),
        },
        edges=[("input", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "output")],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "A JAX array is being set as static"
        # the one note a foreign graph's reset to 0 gets
        warnings.filterwarnings("ignore", "from_nir: the spiking node", UserWarning)
        model = enir.from_nir(graph)
    ec = model[0].layer
    for value in (ec.stride, ec.padding, ec.dilation, model[2].window_shape):
        assert isinstance(value, tuple) and all(
            isinstance(v, int | tuple) for v in value
        )
    assert type(ec.groups) is int
