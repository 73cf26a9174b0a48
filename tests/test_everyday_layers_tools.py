"""The frameworks' own stateful layers with the tools around `run`:
checkpoints (RNG state, train and eval modes), `compile_fit`, swapping a
graph's nodes, size checks, and `nnx.capture` around `run`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx

from .test_everyday_layers import B, T, X, _by_hand, _close, _eqx_model, _variables

# --------------------------------------------------------- checkpoints


def _nnx_both() -> snn.Sequential:
    return snn.Sequential(
        nnx.Linear(6, 5, rngs=nnx.Rngs(0)),
        nnx.Dropout(0.4, rngs=nnx.Rngs(dropout=5)),
        nnx.BatchNorm(5, rngs=nnx.Rngs(1)),
        snn.LIF((5,), beta=0.8),
    )


@pytest.mark.parametrize("saved_mode", ["train", "eval"])
def test_nnx_checkpoint_holds_rng_state_and_restores_into_either_mode(
    tmp_path, saved_mode
):
    """A model holding an `nnx.Rngs` stream and batch statistics saves; it
    restores into a model in the other mode, which keeps its own mode and
    gets every variable (RNG key and count, statistics) from the file."""
    import spyx.checkpoint

    model = _nnx_both()
    snn.run(model, X)  # the RNG count and the statistics move
    if saved_mode == "eval":
        model.eval()
    spyx.checkpoint.save(tmp_path / "ckpt", model)
    target = _nnx_both()
    if saved_mode == "train":
        target.eval()
    spyx.checkpoint.restore(tmp_path / "ckpt", target)
    assert target.layers[1].deterministic is (saved_mode == "train")
    assert target.layers[2].use_running_average is (saved_mode == "train")
    _close(_variables(target), _variables(model))
    _close(nnx.state(target, nnx.Param), nnx.state(model, nnx.Param))
    # the restored stream continues where the saved one was
    target.train(), model.train()
    _close(snn.run(target, X)[0], snn.run(model, X)[0])


def test_nnx_checkpoint_still_refuses_another_architecture(tmp_path):
    import spyx.checkpoint

    spyx.checkpoint.save(tmp_path / "ckpt", _nnx_both())
    other = _nnx_both()
    other.layers[1].rate = 0.5
    with pytest.raises(
        ValueError, match=r"layers/1 is Dropout\(rate=0.4.* Dropout\(rate=0.5"
    ):
        spyx.checkpoint.restore(tmp_path / "ckpt", other)


@pytest.mark.parametrize("saved_inference", [False, True])
def test_eqx_checkpoint_restores_into_either_mode(tmp_path, saved_inference):
    model = _eqx_model("dropout", "sequential")
    model = eqx.nn.inference_mode(model, saved_inference)
    spyx_eqx.save(tmp_path / "m.eqx", model)
    fresh = _eqx_model("dropout", "sequential")
    fresh = eqx.tree_at(lambda m: m.layers[0].weight, fresh, fresh.layers[0].weight + 1)
    target = eqx.nn.inference_mode(fresh, not saved_inference)
    restored = spyx_eqx.restore(tmp_path / "m.eqx", target)
    assert restored.layers[1].inference is (not saved_inference)
    np.testing.assert_array_equal(restored.layers[0].weight, model.layers[0].weight)


# ------------------------------------------------------------ training


def test_compile_fit_trains_nnx_dropout_and_batchnorm_as_step_by_step():
    """`compile_fit` carries the RNG state and the statistics from step to
    step: the trained parameters and variables equal those of `fit`'s
    per-batch steps (the same masks, the same statistics)."""
    import optax

    import spyx.fn
    import spyx.optimize

    ce = spyx.fn.integral_crossentropy(time_axis=0)

    def loss_fn(m, x, y):
        return ce(snn.run(m, x)[0], y)

    xs = jax.random.normal(jax.random.key(3), (3, T, B, 6))
    ys = jnp.asarray([[0, 1, 2, 0], [1, 2, 0, 1], [2, 0, 1, 2]])

    def model() -> snn.Sequential:
        return snn.Sequential(
            nnx.Linear(6, 5, rngs=nnx.Rngs(0)),
            nnx.Dropout(0.3, rngs=nnx.Rngs(dropout=5)),
            nnx.BatchNorm(5, rngs=nnx.Rngs(1)),
            snn.LIF((5,), beta=0.8, threshold=0.5),
            nnx.Linear(5, 3, rngs=nnx.Rngs(3)),
            snn.LI((3,), beta=0.9),
        )

    compiled, history = spyx.optimize.compile_fit(
        model(), optax.sgd(0.1), loss_fn, (xs, ys), epochs=2
    )
    stepped = model()
    losses = spyx.optimize.fit(
        stepped, optax.sgd(0.1), loss_fn, lambda: zip(xs, ys, strict=True), epochs=2
    )
    _close(nnx.state(compiled, nnx.Param), nnx.state(stepped, nnx.Param), 1e-4)
    _close(_variables(compiled), _variables(stepped), 1e-4)
    np.testing.assert_allclose(
        history["train_loss"], [h["train_loss"] for h in losses], rtol=1e-4
    )
    assert _variables(compiled) != _variables(model())


# ------------------------------------------------- shapes and surgery


def test_a_chain_without_a_neuron_keeps_its_batch_axis_in_nnx():
    """spyx 1.0's `test_flatten_collapses_non_batch_dims`, and an ANN
    baseline run through `run`: x is [T, B, ...] whether or not a layer
    holds a state."""
    x = jnp.ones((7, 4, 2, 3, 3))
    model = snn.Sequential(snn.Flatten(), nnx.Linear(18, 5, rngs=nnx.Rngs(0)))
    assert snn.run(model, x)[0].shape == (7, 4, 5)
    out, _ = model(x[0], model.initial_state(4))
    assert out.shape == (4, 5)
    assert snn.Sequential(snn.Flatten())(x[0], [None])[0].shape == (4, 18)
    with pytest.raises(ValueError, match=r"layer 1 \(Linear\): expects 72"):
        snn.run(snn.Sequential(snn.Flatten(), nnx.Linear(72, 5, rngs=nnx.Rngs(0))), x)
    graph = snn.Graph(
        nodes={"flat": snn.Flatten(), "fc": nnx.Linear(18, 5, rngs=nnx.Rngs(0))},
        edges=[("input", "flat"), ("flat", "fc"), ("fc", "output")],
    )
    assert snn.run(graph, x)[0].shape == (7, 4, 5)
    assert graph(x[0], graph.initial_state(4))[0].shape == (4, 5)


FEEDBACK_EDGES = [
    ("input", "fc"),
    ("fc", "lif"),
    ("lif", "back"),
    ("back", "lif"),
    ("lif", "output"),
]


def _feedback_graph(api: str, lif: object) -> object:
    if api == "nnx":
        rngs = nnx.Rngs(0)
        nodes = {
            "fc": nnx.Linear(6, 5, rngs=rngs),
            "lif": lif,
            "back": nnx.Linear(5, 5, rngs=rngs),
        }
        return snn.Graph(nodes, FEEDBACK_EDGES, delayed=[("back", "lif")])
    k = jax.random.split(jax.random.key(0))
    nodes = {
        "fc": eqx.nn.Linear(6, 5, key=k[0]),
        "lif": lif,
        "back": eqx.nn.Linear(5, 5, key=k[1]),
    }
    return spyx_eqx.Graph(nodes, FEEDBACK_EDGES, delayed=[("back", "lif")])


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_a_graph_with_a_swapped_node_runs_as_one_built_with_it(api):
    """Swap the LIF for an LI (`eqx.tree_at`, or assigning the node in NNX):
    every execution equals a graph built with the LI from the start."""
    neurons = snn if api == "nnx" else spyx_eqx
    run = snn.run if api == "nnx" else spyx_eqx.run
    swapped = _feedback_graph(api, neurons.LIF((5,), beta=0.8, threshold=0.5))
    if api == "nnx":
        swapped.nodes["lif"] = snn.LI((5,), beta=0.7)
    else:
        swapped = eqx.tree_at(
            lambda g: g.nodes["lif"], swapped, spyx_eqx.LI((5,), beta=0.7)
        )
    fresh = _feedback_graph(api, neurons.LI((5,), beta=0.7))
    for layerwise in (True, False):
        got = run(swapped, X, layerwise=layerwise)
        want = run(fresh, X, layerwise=layerwise)
        _close(got, want)


def test_a_swap_that_leaves_a_cycle_without_order_is_refused():
    """An LIF in a cycle without a delayed edge is fine (its output comes
    from its state); swapped for an LI the cycle has no order: refused."""
    rngs = nnx.Rngs(0)
    graph = snn.Graph(
        nodes={"lif": snn.LIF((5,), beta=0.8), "back": nnx.Linear(5, 5, rngs=rngs)},
        edges=[("input", "lif"), ("lif", "back"), ("back", "lif"), ("lif", "output")],
    )
    graph.nodes["lif"] = snn.LI((5,))
    with pytest.raises(ValueError, match=r"cycle .*'lif'.* no order"):
        snn.run(graph, jnp.ones((3, 2, 5)))


def test_a_convolution_feeds_a_neuron_in_a_graph():
    conv = nnx.Conv(2, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0))
    graph = snn.Graph(
        nodes={"conv": conv, "lif": snn.LIF((6, 6, 4), beta=0.8)},
        edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")],
    )
    x = jnp.ones((3, 2, 6, 6, 2))
    assert snn.run(graph, x)[0].shape == (3, 2, 6, 6, 4)
    with pytest.raises(ValueError, match=r"'conv' gives .*\(\*, \*, 4\).*\(6, 6, 3\)"):
        snn.Graph(
            nodes={"conv": conv, "lif": snn.LIF((6, 6, 3), beta=0.8)},
            edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")],
        )


def test_sizes_that_are_not_positive_integers_are_refused():
    import spyx.data

    graph = snn.Graph(
        nodes={"fc": nnx.Linear(3, 2, rngs=nnx.Rngs(0))},
        edges=[("input", "fc"), ("fc", "output")],
    )
    for bad in (2.5, 0, -1, True):
        with pytest.raises((TypeError, ValueError), match="batch_size"):
            graph.initial_state(bad)
        with pytest.raises((TypeError, ValueError), match="batch_size"):
            snn.Sequential(snn.Flatten()).initial_state(bad)
    with pytest.raises(TypeError, match="neuron_count"):
        spyx.data.angle_code(2.5, 0.0, 1.0)
    with pytest.raises(TypeError, match="sample_T"):
        spyx.data.RateCode(sample_T=12.5)
    with pytest.raises(TypeError, match="sample_T"):
        spyx.data.LatencyCode(12.5)
    with pytest.raises(ValueError, match="neuron_count"):
        spyx.data.AngleCode(1, 0.0, 1.0)


# ---------------------------------------------------------- nnx.capture


class _Sower(nnx.Module):
    """A layer that sows its output (and holds a dropout)."""

    def __init__(self):
        self.fc = nnx.Linear(6, 5, rngs=nnx.Rngs(0))
        self.drop = nnx.Dropout(0.3, rngs=nnx.Rngs(dropout=2))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.drop(self.fc(x))
        self.sow(nnx.Intermediate, "h", y)
        return y


def _sowing(container: str) -> nnx.Module:
    lif = snn.LIF((5,), beta=0.8, threshold=0.5)
    if container == "sequential":
        return snn.Sequential(_Sower(), lif)
    return snn.Graph(
        nodes={"s": _Sower(), "lif": lif},
        edges=[("input", "s"), ("s", "lif"), ("lif", "output")],
    )


@pytest.mark.parametrize(
    ("container", "layerwise", "jit"),
    [
        pytest.param(
            container,
            layerwise,
            jit,
            id=f"{container}-{layerwise}-{'jit' if jit else 'eager'}",
            # the default execution eager and jitted; the others run slow
            marks=() if layerwise is None else pytest.mark.slow,
        )
        for container in ("sequential", "graph")
        for layerwise in (None, True, False)
        for jit in (False, True)
    ],
)
def test_nnx_capture_around_run_returns_what_each_step_sowed(container, layerwise, jit):
    """Each value a layer sows comes back stacked over time, ``[T, ...]``,
    eager and under `nnx.jit`, in every execution; outputs and variables are
    those of stepping by hand."""
    model = _sowing(container)
    twin = nnx.clone(model)
    forward = nnx.capture(
        lambda m, x: snn.run(m, x, layerwise=layerwise), nnx.Intermediate
    )
    (outs, _), sown = (nnx.jit(forward) if jit else forward)(model, X)

    def by_hand(m: nnx.Module, x: jax.Array) -> tuple:
        state, outs = m.initial_state(x.shape[1]), []
        for t in range(x.shape[0]):
            out, state = m(x[t], state)
            outs.append(out)
        return jnp.stack(outs)

    want_outs, want_sown = nnx.capture(by_hand, nnx.Intermediate)(twin, X)
    _close(outs, want_outs)
    path = ("layers", 0) if container == "sequential" else ("nodes", "s")
    got = sown[path[0]][path[1]]["h"].get_value()
    want = want_sown[path[0]][path[1]]["h"].get_value()
    assert len(got) == 1 and got[0].shape == (T, B, 5)
    _close(got[0], jnp.stack(want))
    _close(_variables(model), _variables(twin))


def test_compile_fit_trains_an_equinox_dropout_with_keys_in_the_batch():
    import optax

    import spyx.fn
    import spyx.optimize

    model = _eqx_model("dropout", "sequential")
    ce = spyx.fn.integral_crossentropy(time_axis=0)

    def loss_fn(m, x, y, key):
        return ce(spyx_eqx.run(m, x, key=key)[0], y)

    xs = jax.random.normal(jax.random.key(3), (3, T, B, 6))
    ys = jnp.asarray([[0, 1, 2, 0], [1, 2, 0, 1], [2, 0, 1, 2]])
    keys = jax.random.split(jax.random.key(9), 3)
    trained, history = spyx.optimize.compile_fit(
        model, optax.adam(1e-2), loss_fn, (xs, ys, keys), epochs=4
    )
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert not np.isclose(
        loss_fn(model, xs[0], ys[0], keys[0]), loss_fn(model, xs[0], ys[0], keys[1])
    )  # the batch's key draws the masks


class _Mask(nnx.Module):
    """A layer of one's own that draws from an `nnx.Rngs` it is given."""

    def __init__(self, rngs: nnx.Rngs):
        self.rngs = rngs

    def __call__(self, x: jax.Array) -> jax.Array:
        return x * jax.random.bernoulli(self.rngs.dropout(), 0.5, x.shape)


@pytest.mark.parametrize("layerwise", [True, False])
def test_layers_sharing_one_rng_stream_draw_as_stepped_by_hand(layerwise):
    """Two layers holding one `nnx.Rngs`: each draw advances the one
    counter, in the order stepping gives (not one copy per layer)."""
    rngs = nnx.Rngs(dropout=1)
    model = snn.Sequential(
        nnx.Linear(6, 5, rngs=nnx.Rngs(0)),
        _Mask(rngs),
        snn.LIF((5,), beta=0.8, threshold=0.5),
        _Mask(rngs),
    )
    twin = nnx.clone(model)
    want, want_state = _by_hand(twin, X)
    outs, final = snn.run(model, X, layerwise=layerwise)
    _close(outs, want)
    _close(final, want_state)
    _close(_variables(model), _variables(twin))


@pytest.mark.parametrize("container", ["sequential", "graph"])
def test_eqx_batchnorm_without_its_state_is_refused_by_name(container):
    model = _eqx_model("batchnorm", container)
    where = "layer 1" if container == "sequential" else "node 'mid'"
    with pytest.raises(TypeError, match=rf"{where} \(BatchNorm\) keeps its state"):
        spyx_eqx.run(model, X)
    with pytest.raises(TypeError, match=rf"{where} \(BatchNorm\) keeps its state"):
        model(X[0, 0], model.initial_state())


def test_capture_with_burnin_stacks_all_steps_and_refuses_own_reductions():
    """Burn-in under `nnx.capture`: one [T, ...] array per sow, as without
    it. A sow that reduces its values its own way is refused by name (run
    could only stack them)."""
    model = _sowing("sequential")
    twin = nnx.clone(model)
    forward = nnx.capture(lambda m, x: snn.run(m, x, burnin=3), nnx.Intermediate)
    (outs, _), sown = forward(model, X)
    (want, _), want_sown = nnx.capture(lambda m, x: snn.run(m, x), nnx.Intermediate)(
        twin, X
    )
    _close(outs, want)
    got = sown["layers"][0]["h"].get_value()
    assert len(got) == 1 and got[0].shape == (T, B, 5)
    _close(got[0], want_sown["layers"][0]["h"].get_value()[0])

    class Summing(nnx.Module):
        def __call__(self, x):
            self.sow(
                nnx.Intermediate,
                "total",
                x.sum(),
                init_fn=lambda: 0.0,
                reduce_fn=lambda a, b: a + b,
            )
            return x

    summing = snn.Sequential(Summing(), snn.LIF((6,), beta=0.8))
    with pytest.raises(TypeError, match=r"sows 'total' with a reduce_fn of its own"):
        nnx.capture(lambda m, x: snn.run(m, x), nnx.Intermediate)(summing, X)
