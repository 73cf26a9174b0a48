"""Recording inside `run` (``record=``), both APIs: every chosen layer's
outputs and states equal stepping the model by hand, on every execution;
gradients flow through the records; wrong choices are refused by name."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx
from spyx import core

from .helpers import NEURONS, RESET_VARIANTS, TIMING_VARIANTS
from .test_everyday_layers import X as X6
from .test_everyday_layers import _by_hand as _everyday_by_hand
from .test_everyday_layers import _nnx_model, _variables
from .test_graph import XS, nnx_graph

T, B, F = 12, 3, 5
X = 2.0 * jax.random.normal(jax.random.key(0), (T, B, F))

EXECUTIONS = {
    "default": {},
    "layerwise": {"layerwise": True},
    "stepwise": {"layerwise": False},
    "chunk5": {"chunk": 5},
    "checkpoint4": {"checkpoint": 4},
    "burnin3": {"burnin": 3},
    "batch-major": {"batch_major": True, "layerwise": True},
}
# The default run samples the executions (the core runs them alike for both
# APIs; checkpointed and batch-major runs are the layer-wise or step-wise
# runners again); the slow run takes every pair.
QUICK = {"nnx": {"layerwise", "stepwise", "chunk5"}, "eqx": {"default"}}


def _cases() -> list:
    return [
        pytest.param(
            api,
            name,
            marks=() if name in QUICK[api] else pytest.mark.slow,
            id=f"{name}-{api}",
        )
        for name in EXECUTIONS
        for api in ("nnx", "eqx")
    ]


def _chain() -> snn.Sequential:
    """Every kind of state: one part (LIF), two (CuBaLIF, ALIF), recurrent
    (RLIF), none (the linear layers), and a non-spiking readout (LI)."""
    r = nnx.Rngs(1)
    return snn.Sequential(
        nnx.Linear(F, 8, rngs=r),
        snn.LIF((8,), beta=0.8),
        nnx.Linear(8, 8, rngs=r),
        snn.CuBaLIF((8,), alpha=0.7, beta=0.8),
        snn.ALIF((8,), beta=0.9, gamma=0.8),
        snn.RLIF((8,), beta=0.85, rngs=r),
        nnx.Linear(8, 3, rngs=r),
        snn.LI((3,)),
    )


@functools.cache
def _chain_by_hand() -> tuple[list, list]:
    return _by_hand(_chain(), X)


def _by_hand(model: snn.Sequential, xs: jax.Array) -> tuple[list, list]:
    """Each layer's output and state at every step, stepping layer by layer."""
    state = model.initial_state(xs.shape[1])
    outs: list = [[] for _ in model.layers]
    states: list = [[] for _ in model.layers]
    for t in range(xs.shape[0]):
        h = xs[t]
        for i, layer in enumerate(model.layers):
            if state[i] is None:
                h = layer(h)
            else:
                h, state[i] = layer(h, state[i])
                states[i].append(state[i])
            outs[i].append(h)
    stack = [jnp.stack(o) for o in outs]
    return stack, [jnp.stack(s) if s else None for s in states]


def _run(api: str, model: snn.Sequential, xs: jax.Array, **options: object) -> tuple:
    if options.get("batch_major"):
        xs = jnp.swapaxes(xs, 0, 1)
    if api == "nnx":
        got = snn.run(model, xs, record="all", **options)
    else:
        got = spyx_eqx.run(spyx_eqx.from_nnx(model), xs, record="all", **options)
    if options.get("batch_major"):
        return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), (got[0], got[2]))
    return got[0], got[2]


@pytest.mark.parametrize(("api", "execution"), _cases())
def test_a_chain_records_every_layer_as_stepped_by_hand(api, execution):
    model = _chain()
    outs, states = _chain_by_hand()
    got, records = _run(api, model, X, **EXECUTIONS[execution])
    assert sorted(records) == list(range(len(model.layers)))
    np.testing.assert_allclose(got, outs[-1], atol=1e-5)
    for i, record in records.items():
        np.testing.assert_allclose(record.output, outs[i], atol=1e-5, err_msg=str(i))
        if states[i] is None:
            assert record.state is None and record.parts == {}
        else:
            np.testing.assert_allclose(record.state, states[i], atol=1e-5)
    assert records[1].part_names == ("V",)
    assert records[3].part_names == core.CUBA_LIF.state_parts == ("V", "I")
    v, i = core.split_halves(states[3])
    np.testing.assert_allclose(records[3].membrane, v, atol=1e-5)
    np.testing.assert_allclose(records[3].parts["I"], i, atol=1e-5)
    assert records[1].output.dtype == X.dtype


EVERY = [
    *(
        pytest.param(n, marks=() if n.name in ("LIF", "ALIF") else pytest.mark.slow)
        for n in NEURONS
    ),
    *(pytest.param(n, marks=pytest.mark.slow) for n in TIMING_VARIANTS),
    *(pytest.param(n, marks=pytest.mark.slow) for n in RESET_VARIANTS),
]
EVERY_IDS = [n.name for n in (*NEURONS, *TIMING_VARIANTS, *RESET_VARIANTS)]


@pytest.mark.parametrize("neuron", EVERY, ids=EVERY_IDS)
def test_every_neuron_records_its_states_as_stepped_by_hand(neuron):
    """The registry's neurons, both timings and every reset mode, layer by
    layer (their kernels) and in chunks: outputs, states and parts as
    stepping."""
    model = snn.Sequential(nnx.Linear(F, 4, rngs=nnx.Rngs(3)), neuron.make((4,)))
    outs, states = _by_hand(model, X)
    for options in ({"layerwise": True}, {"chunk": 5}):
        _, _, records = snn.run(model, X, record=1, **options)
        np.testing.assert_allclose(records[1].output, outs[1], atol=1e-5)
        np.testing.assert_allclose(records[1].state, states[1], atol=1e-5)
        assert tuple(records[1].parts) == neuron.spec.state_parts
        joined = jnp.concatenate(list(records[1].parts.values()), axis=-1)
        np.testing.assert_allclose(joined, states[1], atol=1e-5)


def test_choosing_layers_keeps_only_those_and_leaves_the_rest_unchanged():
    model = _chain()
    outs, final = snn.run(model, X)
    got, final2, records = snn.run(model, X, record=[1, -1])
    assert sorted(records) == [1, 7]
    np.testing.assert_allclose(got, outs, atol=1e-6)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(final2), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert set(snn.run(model, X, record=3)[2]) == {3}
    picked = snn.run(model, X, record=np.argsort([5, 1, 9])[:2])[2]  # NumPy ints
    assert set(picked) == {0, 1} and all(type(k) is int for k in picked)
    assert set(snn.run(model, X, record=jnp.int32(2))[2]) == {2}


def _graph_by_hand(model: snn.Graph, xs: jax.Array) -> dict:
    """Each node's state after every step, and each spiking node's output
    (its spike from the state before the step), stepping the graph."""
    state = model.initial_state(xs.shape[1])
    states: dict = {n: [] for n in model.plan.names}
    spikes: dict = {"lif1": [], "lif2": []}
    for t in range(xs.shape[0]):
        for n in spikes:
            lif = model.nodes[n]
            spikes[n].append(lif(jnp.zeros(state[n].shape), state[n])[0])
        _, state = model(xs[t], state)
        for n in states:
            if state[n] is not None:
                states[n].append(state[n])
    return {n: jnp.stack(s) for n, s in states.items() if s}, {
        n: jnp.stack(s) for n, s in spikes.items()
    }


@pytest.mark.parametrize(("api", "execution"), _cases())
def test_a_graph_records_every_node_as_stepped_by_hand(api, execution):
    """Skip, same-step feedback and a delayed cycle (`test_graph`'s graph):
    states and spikes as stepping it; every node's output as the step-wise
    run records it."""
    model = nnx_graph()
    states, spikes = _graph_by_hand(model, XS)
    got, records = _run(api, model, XS, **EXECUTIONS[execution])
    _, reference = _run("nnx", model, XS, layerwise=False)
    assert set(records) == set(model.plan.names)
    for n, trace in states.items():
        np.testing.assert_allclose(
            records[n].state, trace, atol=1e-5, rtol=1e-4, err_msg=n
        )
    for n, trace in spikes.items():
        np.testing.assert_allclose(records[n].output, trace, atol=1e-6, err_msg=n)
    for n, record in records.items():
        np.testing.assert_allclose(
            record.output, reference[n].output, atol=1e-5, rtol=1e-4, err_msg=n
        )
    np.testing.assert_allclose(records["li"].output, got, atol=1e-6, rtol=1e-6)


def _loss(model: snn.Sequential, xs: jax.Array, **options: object) -> jax.Array:
    """A readout loss plus a firing-rate term on each spiking layer's
    recorded spikes (a per-layer regulariser)."""
    outs, _, records = snn.run(model, xs, record=[1, 3, 4], **options)
    rates = sum(jnp.mean(records[i].output) for i in (1, 3, 4))
    return jnp.mean(outs[-1] ** 2) + 0.5 * rates + 0.1 * jnp.mean(records[3].membrane)


def _hand_loss(model: snn.Sequential, xs: jax.Array) -> jax.Array:
    outs, states = _by_hand(model, xs)
    rates = sum(jnp.mean(outs[i]) for i in (1, 3, 4))
    membrane = core.split_halves(states[3])[0]
    return jnp.mean(outs[-1][-1] ** 2) + 0.5 * rates + 0.1 * jnp.mean(membrane)


def _gradient(loss: object) -> list:
    """The gradient of ``loss(model)`` w.r.t. `_chain`'s parameters,
    compiled (stepping by hand eagerly takes seconds)."""
    graphdef, params = nnx.split(_chain())
    grad = jax.jit(jax.grad(lambda p: loss(nnx.merge(graphdef, p))))  # type: ignore[operator]
    return jax.tree.leaves(grad(params))


@functools.cache
def _hand_gradient() -> list:
    return _gradient(lambda m: _hand_loss(m, X[:6]))


@pytest.mark.parametrize(
    "execution",
    [
        "layerwise",
        pytest.param("stepwise", marks=pytest.mark.slow),
        pytest.param("chunk5", marks=pytest.mark.slow),
        pytest.param("checkpoint4", marks=pytest.mark.slow),
    ],
)
def test_gradients_flow_through_the_records_as_through_stepping(execution):
    """A loss on the records differentiates as the same loss on stepped
    values."""
    options = EXECUTIONS[execution]
    got = _gradient(lambda m: _loss(m, X[:6], **options))
    assert any(float(jnp.abs(g).max()) > 0 for g in got)
    for a, b in zip(_hand_gradient(), got, strict=True):
        np.testing.assert_allclose(b, a, atol=2e-5, rtol=1e-4)


def test_equinox_records_under_vmap_and_with_keys():
    """One example per call (vmap over a batch), and a dropout layer's keys:
    the records equal the batched run's."""
    k = jax.random.split(jax.random.key(2), 3)
    model = spyx_eqx.Sequential(
        [
            eqx.nn.Linear(F, 8, key=k[0]),
            eqx.nn.Dropout(0.3),
            spyx_eqx.LIF((8,), beta=0.8),
        ]
    )
    batched = spyx_eqx.run(model, X, key=k[1], record="all")
    stepped = spyx_eqx.run(model, X, key=k[1], record="all", layerwise=False)
    for i in range(3):
        np.testing.assert_allclose(
            batched[2][i].output, stepped[2][i].output, atol=1e-5
        )
    one = jax.vmap(
        lambda x: spyx_eqx.run(model, x, key=k[2], record=[2])[2][2].membrane,
        in_axes=1,
    )(X)
    assert one.shape == (B, T, 8)


@pytest.mark.parametrize(
    ("record", "error", "match"),
    [
        (8, ValueError, r"names 8, which is none of the model's layer indices 0 to 7"),
        (["lif"], ValueError, r"'lif'.*layer indices"),
        ([True], ValueError, r"True"),
        (False, ValueError, r"names False"),
        ({"a": 1}, TypeError, r"must be 'all' or layer indices"),
    ],
)
def test_wrong_choices_are_refused_before_running(record, error, match):
    with pytest.raises(error, match=match):
        snn.run(_chain(), X, record=record)


def test_what_cannot_be_recorded_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'nope'.*node names"):
        snn.run(nnx_graph(), XS, record=["nope"])
    with pytest.raises(TypeError, match=r"run\(LIF\): `record` names layers"):
        snn.run(snn.LIF((F,), beta=0.9), X, record="all")
    net = spyx_eqx.Sequential([spyx_eqx.LIF((F,), beta=0.9)])
    with pytest.raises(TypeError, match=r"eqx.nn.State"):
        spyx_eqx.run(net, X[:, 0], eqx.nn.make_with_state(lambda: net)()[1], record=0)
    model = _chain()
    with pytest.raises(TypeError, match=r"inside nnx.capture"):
        nnx.capture(lambda m: snn.run(m, X, record="all"), nnx.Intermediate)(model)
    with pytest.raises(AttributeError, match=r"no membrane"):
        _ = snn.run(_chain(), X, record=[0])[2][0].membrane


def test_without_record_run_returns_two_values():
    assert len(snn.run(_chain(), X)) == 2
    assert len(spyx_eqx.run(spyx_eqx.from_nnx(_chain()), X)) == 2


@pytest.mark.parametrize(
    ("kind", "execution"),
    [
        pytest.param(
            k, e, marks=() if (k, e) == ("dropout", "layerwise") else pytest.mark.slow
        )
        for k in ("dropout", "batchnorm", "batchnorm-eval")
        for e in ("layerwise", "stepwise", "chunk5", "checkpoint4")
    ],
)
def test_the_frameworks_layers_record_as_stepped_by_hand(kind, execution):
    """nnx.Dropout and nnx.BatchNorm (train and eval) inside a recorded run:
    the outputs, the spikes after them and the variables written back equal
    stepping by hand (the layers' own state is carried, not recorded)."""
    model = _nnx_model(kind, "sequential")
    twin = nnx.clone(model)
    want, final = _everyday_by_hand(twin, X6)
    got, got_final, records = snn.run(model, X6, record="all", **EXECUTIONS[execution])
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(records[4].output, want, atol=1e-5)
    assert records[1].state is None  # the framework layer's variables stay inside
    for a, b in zip(jax.tree.leaves(got_final), jax.tree.leaves(final), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(_variables(model), _variables(twin), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
