"""The frameworks' own stateful layers on every execution, in both APIs.

`nnx.Dropout` (its RNG state), `nnx.BatchNorm` in training mode (batch
statistics per step, running averages updated once per step) and in eval
mode, `eqx.nn.Dropout` with keys (and in inference mode) and
`eqx.nn.BatchNorm` with an `eqx.nn.State`, and in `spyx.nn` a plain
function and a module of one's own that work across a step's examples: each
inside a `Sequential` and a
`Graph`, run by `run` with every execution option, equals stepping the
model by hand: outputs, final state, the layers' variables after the run
and gradients.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx

T, B = 7, 4
X = jax.random.normal(jax.random.key(0), (T, B, 6))

EXECUTIONS = {
    "default": {},
    "layerwise": {"layerwise": True},
    "stepwise": {"layerwise": False},
    "chunk3": {"chunk": 3},
    "checkpoint4": {"checkpoint": 4},
    "burnin3": {"burnin": 3},
}


# The graph of both APIs: the framework's layer between fc1 and lif, with a
# skip around it.
GRAPH_EDGES = [
    ("input", "fc1"),
    ("fc1", "mid"),
    ("mid", "lif"),
    ("fc1", "lif"),
    ("lif", "fc2"),
    ("fc2", "li"),
    ("li", "output"),
]

# ------------------------------------------------------------------ NNX


def _centre(x: jax.Array) -> jax.Array:
    """A plain function that works across a step's examples."""
    return x - x.mean(axis=0, keepdims=True)


class _BatchScale(nnx.Module):
    """A module of the user's own, parameters only, that works across a
    step's examples (it scales by their spread)."""

    def __init__(self):
        self.gain = nnx.Param(jnp.full((5,), 1.5))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.gain[...] * x / (x.std(axis=0, keepdims=True) + 1e-3)


class _CentringLinear(nnx.Linear):
    """A subclass of a row-by-row layer whose call works across the batch."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return super().__call__(x - x.mean(axis=0, keepdims=True))


def _nnx_middle(kind: str) -> nnx.Module:
    if kind == "centre":
        return _centre  # type: ignore[return-value]
    if kind == "batch-module":
        return _BatchScale()
    if kind == "linear-subclass":
        return _CentringLinear(5, 5, rngs=nnx.Rngs(4))
    if kind == "batch-layernorm":  # normalised over the batch axis too
        return nnx.LayerNorm(5, reduction_axes=(0, 1), rngs=nnx.Rngs(4))
    if kind == "dropout":
        return nnx.Dropout(0.4, rngs=nnx.Rngs(dropout=5))
    bn = nnx.BatchNorm(5, momentum=0.7, rngs=nnx.Rngs(1))
    bn.mean[...] = jnp.linspace(-0.3, 0.3, 5)
    bn.var[...] = jnp.linspace(0.5, 1.5, 5)
    return bn


def _nnx_model(kind: str, container: str) -> nnx.Module:
    fc1 = nnx.Linear(6, 5, rngs=nnx.Rngs(0))
    mid = _nnx_middle(kind.removesuffix("-eval"))
    lif = snn.LIF((5,), beta=0.8, threshold=0.5)
    fc2 = nnx.Linear(5, 3, rngs=nnx.Rngs(3))
    li = snn.LI((3,), beta=0.9)
    if container == "sequential":
        model: nnx.Module = snn.Sequential(fc1, mid, lif, fc2, li)
    else:
        model = snn.Graph(
            nodes={"fc1": fc1, "mid": mid, "lif": lif, "fc2": fc2, "li": li},
            edges=GRAPH_EDGES,
        )
    if kind.endswith("-eval"):
        model.eval()
    return model


def _by_hand(model: nnx.Module, x: jax.Array) -> tuple[jax.Array, object]:
    state = model.initial_state(x.shape[1])
    outs = []
    for t in range(x.shape[0]):
        out, state = model(x[t], state)
        outs.append(out)
    return jnp.stack(outs), state


def _variables(model: nnx.Module) -> list:
    return jax.tree.leaves(
        jax.tree.map(
            lambda v: (
                jax.random.key_data(v)
                if jnp.issubdtype(v.dtype, jax.dtypes.prng_key)
                else v
            ),
            nnx.state(model, nnx.Not(nnx.Param)),
        )
    )


def _close(a: object, b: object, tol: float = 1e-5) -> None:
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


# the frameworks' stateful layers, then layers without variables that work
# across a step's examples (they see one step at a time on every execution)
NNX_KINDS = [
    "dropout",
    "batchnorm",
    "batchnorm-eval",
    "centre",
    "batch-module",
    "linear-subclass",
    "batch-layernorm",
]


def _cases(kinds: list[str]) -> list:
    """Every kind x container x execution; the default run samples them:
    the first kind in a Sequential layer-wise, chunked and with burn-in,
    every kind's default run in a Sequential, and the first kind's in a
    Graph."""
    cases = []
    for i, kind in enumerate(kinds):
        for container in ("sequential", "graph"):
            for name in EXECUTIONS:
                first, chain = i == 0, container == "sequential"
                sampled = (name == "default" and (chain or first)) or (
                    chain and first and name in ("layerwise", "chunk3", "burnin3")
                )
                marks = () if sampled else pytest.mark.slow
                cases.append(pytest.param(kind, container, name, marks=marks))
    return cases


@pytest.mark.parametrize(("kind", "container", "execution"), _cases(NNX_KINDS))
def test_nnx_layers_run_as_stepped_by_hand(kind, container, execution):
    model = _nnx_model(kind, container)
    twin = nnx.clone(model)
    want, want_state = _by_hand(twin, X)
    outs, final = snn.run(model, X, **EXECUTIONS[execution])
    _close(outs, want)
    _close(final, want_state)
    _close(_variables(model), _variables(twin))  # RNG counts, statistics
    if kind == "dropout":  # the masks were drawn: some units are dropped
        assert _variables(model) != _variables(_nnx_model(kind, container))


@pytest.mark.parametrize(
    ("kind", "execution"),
    [
        pytest.param(kind, execution, marks=() if sampled else pytest.mark.slow)
        for kind, execution, sampled in [
            ("dropout", "default", True),
            ("dropout", "stepwise", False),
            ("dropout", "chunk3", False),
            ("batchnorm", "default", False),
            ("batchnorm", "stepwise", False),
            ("batchnorm", "chunk3", True),
        ]
    ],
)
def test_nnx_layers_under_jit_and_grad(kind, execution):
    """Under `nnx.jit` and `nnx.grad`: values, gradients and variables as
    stepping by hand gives them."""
    model = _nnx_model(kind, "sequential")
    twin = nnx.clone(model)

    def loss(m: nnx.Module) -> jax.Array:
        return jnp.sum(snn.run(m, X, **EXECUTIONS[execution])[0] ** 2)

    def loss_by_hand(m: nnx.Module) -> jax.Array:
        return jnp.sum(_by_hand(m, X)[0] ** 2)

    got = nnx.jit(nnx.value_and_grad(loss))(model)
    want = nnx.value_and_grad(loss_by_hand)(twin)
    _close(got, want, 1e-4)
    _close(_variables(model), _variables(twin))


# -------------------------------------------------------------- Equinox


def _eqx_model(kind: str, container: str) -> tuple:
    k = jax.random.split(jax.random.key(1), 3)
    if kind.startswith("dropout"):
        mid = eqx.nn.Dropout(0.4)
    else:
        mid = eqx.nn.BatchNorm(5, axis_name="batch", momentum=0.7, mode="batch")
    fc1 = eqx.nn.Linear(6, 5, key=k[0])
    lif = spyx_eqx.LIF((5,), beta=0.8, threshold=0.5)
    fc2 = eqx.nn.Linear(5, 3, key=k[2])
    li = spyx_eqx.LI((3,), beta=0.9)
    if container == "sequential":
        model = spyx_eqx.Sequential(fc1, mid, lif, fc2, li)
    else:
        model = spyx_eqx.Graph(
            nodes={"fc1": fc1, "mid": mid, "lif": lif, "fc2": fc2, "li": li},
            edges=GRAPH_EDGES,
        )
    if kind.endswith("inference"):
        model = eqx.nn.inference_mode(model)
    return model


EQX_DROPOUT = ["dropout", "dropout-inference"]


@pytest.mark.parametrize(("kind", "container", "execution"), _cases(EQX_DROPOUT))
def test_eqx_dropout_runs_as_stepped_by_hand(kind, container, execution):
    """Step t's key is ``split(key, T)[t]`` in every execution (burn-in
    splits the key once more, each part keyed as a run of its own)."""
    model = _eqx_model(kind, container)
    key = jax.random.key(7)
    outs, final = spyx_eqx.run(model, X, key=key, **EXECUTIONS[execution])
    if execution == "burnin3":
        first, rest = jax.random.split(key)
        keys = [*jax.random.split(first, 3), *jax.random.split(rest, T - 3)]
    else:
        keys = list(jax.random.split(key, T))
    state, want = model.initial_state(B), []
    for t in range(T):
        out, state = model(X[t], state, key=keys[t])
        want.append(out)
    _close(outs, jnp.stack(want))
    _close(final, state)
    if kind == "dropout":  # not the same as without dropout
        assert not np.allclose(outs, spyx_eqx.run(eqx.nn.inference_mode(model), X)[0])


BN_EXECUTIONS = ["default", "stepwise", "checkpoint4", "burnin3"]


@pytest.mark.parametrize("execution", BN_EXECUTIONS)
@pytest.mark.parametrize("container", ["sequential"])
def test_eqx_batchnorm_runs_as_stepped_by_hand(container, execution):
    """`eqx.nn.BatchNorm` keeps its statistics in an `eqx.nn.State`: the
    model runs one example per call inside `jax.vmap(axis_name="batch")`,
    step by step in every execution that can (the others are refused)."""
    model, state = eqx.nn.make_with_state(_eqx_model)("batchnorm", container)
    initial = jax.tree.leaves(state)

    def run(x: jax.Array) -> tuple:
        return spyx_eqx.run(model, x, state, **EXECUTIONS[execution])

    def by_hand(x: jax.Array) -> tuple:
        s, outs = state, []
        for t in range(T):
            out, s = model(x[t], s)
            outs.append(out)
        return jnp.stack(outs), s

    batched = dict(in_axes=1, out_axes=(1, 0), axis_name="batch")
    outs, final = jax.vmap(run, **batched)(X)
    want, want_state = jax.vmap(by_hand, **batched)(X)
    _close(outs, want)
    _close(final, want_state)
    # the statistics moved
    moved = [
        not np.allclose(after[0], before)
        for after, before in zip(jax.tree.leaves(final), initial, strict=True)
    ]
    assert any(moved)


@pytest.mark.parametrize("option", [{"layerwise": True}, {"chunk": 3}])
def test_eqx_batchnorm_layerwise_is_refused_naming_the_layer(option):
    model, state = eqx.nn.make_with_state(_eqx_model)("batchnorm", "sequential")
    with pytest.raises(ValueError, match=r"held by BatchNorm.*leave `layerwise`"):
        spyx_eqx.run(model, X[:, 0], state, **option)
