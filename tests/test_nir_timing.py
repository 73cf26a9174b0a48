"""One NIR importer, one timing: a cycle spikes as NIR simulates it whatever
the order the file lists its nodes in, chains and graphs from a peer spike
alike, residual conv blocks and spyx's own models round-trip, and what spyx
cannot keep is refused."""

import warnings

import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

import spyx.nir as snir
import spyx.nn as snn
import spyx_eqx as se
import spyx_eqx.nir  # noqa: F401

from .test_nir_graph import DT, TAU, TH, XS, F, H, _affine, _graph, _lif, simulate

# ------------------------------------------- one importer, one timing


def _relisted(graph, seed):
    """The same graph with its nodes and edges listed in another order."""
    rng = np.random.default_rng(seed)
    names = list(graph.nodes)
    order = [names[i] for i in rng.permutation(len(names))]
    edges = [graph.edges[i] for i in rng.permutation(len(graph.edges))]
    return nir.NIRGraph(
        nodes={k: graph.nodes[k] for k in order}, edges=edges, type_check=False
    )


def _quiet_import(graph, module=snir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NIR's reset to 0, said elsewhere
        return module.from_nir(graph, dt=DT)


def entered_twice():
    """Two LIF layers that feed each other through Affine nodes, each also
    fed from the input: a cycle entered at two nodes. nirtorch (nodes by
    name) computes a and b before the Affine nodes between them, so each
    reads the other's value of the step before; spyx delays the spikes
    before the Affine nodes, whose bias so enters at every step."""
    rng = np.random.default_rng(11)  # the same weights whatever ran before
    nodes = {
        "fa": _affine(F, H, rng=rng),
        "fb": _affine(F, H, rng=rng),
        "a": _lif(TAU / DT),  # gain 1: nothing to fold
        "b": _lif(TAU / DT),
        "wab": _affine(H, H, 0.6, rng=rng),
        "wba": _affine(H, H, 0.6, rng=rng),
    }
    edges = [
        ("input", "fa"),
        ("input", "fb"),
        ("fa", "a"),
        ("fb", "b"),
        ("a", "wab"),
        ("wab", "b"),
        ("b", "wba"),
        ("wba", "a"),
        ("a", "output"),
        ("b", "output"),
    ]
    return _graph(nodes, edges), {("a", "wab"), ("b", "wba")}


def through_an_affine():
    """fc -> lif1 -> fc2 -> lif2 -> rec (Affine with a bias) -> lif1: the
    cycle is closed through the biased Affine; its bias reaches lif1 from
    the first step on."""
    rng = np.random.default_rng(12)
    nodes = {
        "fc": _affine(F, H, rng=rng),
        "lif1": _lif(TAU / DT),
        "fc2": _affine(H, H, 0.9, rng=rng),
        "lif2": _lif(TAU / DT),
        "rec": nir.Affine(
            weight=rng.normal(0, 0.5, (H, H)).astype(np.float32),
            bias=np.full(H, 0.6, np.float32),
        ),
    }
    edges = [
        ("input", "fc"),
        ("fc", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "rec"),
        ("rec", "lif1"),
        ("lif2", "output"),
    ]
    return _graph(nodes, edges), {("lif2", "rec")}


@pytest.mark.parametrize("build", [entered_twice, through_an_affine])
def test_a_cycle_spikes_as_nir_simulates_it_whatever_the_listing_order(build):
    """Exactly the forward simulation with the edges nirtorch reads from the
    step before (moved in front of the Affine nodes), in both APIs, for the
    file as listed and listed in two other orders."""
    graph, late = build()
    want = simulate(graph, late, XS)
    fired = (want > 0).mean()
    assert 0.02 < fired < 0.9, "the reference should fire now and then"
    for listed in (graph, _relisted(graph, 1), _relisted(graph, 2)):
        model = _quiet_import(listed)
        assert set(model.plan.delayed) == late
        for layerwise in (True, False):
            spikes, _ = snn.run(model, jnp.asarray(XS), layerwise=layerwise)
            np.testing.assert_array_equal(np.asarray(spikes), want)
        twin, _ = se.run(_quiet_import(listed, se.nir), jnp.asarray(XS))
        np.testing.assert_array_equal(np.asarray(twin), want)
    if build is through_an_affine:  # delaying the Affine's output would differ
        without_bias = simulate(graph, {("rec", "lif1")}, XS)
        assert not np.array_equal(without_bias, want)


def _two_layers():
    """Affine -> LIF -> Affine -> LIF, as another tool writes it, and the
    same with a zero-weight Linear from the first LIF to the output too."""
    rng = np.random.default_rng(13)
    nodes = {"fc1": _affine(F, H, rng=rng), "lif1": _lif(TAU / DT)}
    nodes |= {"fc2": _affine(H, H, 0.9, rng=rng), "lif2": _lif(TAU / DT)}
    edges = [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "output"),
    ]
    chain = _graph(nodes, edges)
    zero = nir.Linear(weight=np.zeros((H, H), np.float32))
    branched = nir.NIRGraph(
        nodes={**chain.nodes, "zero": zero},
        edges=[*edges, ("lif1", "zero"), ("zero", "output")],
        type_check=False,
    )
    return chain, branched


def test_a_chain_and_a_graph_from_a_peer_spike_alike():
    """The same network as a chain (a Sequential) and with a zero branch (a
    Graph): both spike as NIR simulates them, with no lag per layer."""
    graph, with_branch = _two_layers()
    chain, branched = _quiet_import(graph), _quiet_import(with_branch)
    assert isinstance(chain, snn.Sequential) and isinstance(branched, snn.Graph)
    want = simulate(graph, set(), XS)
    assert 0.02 < want.mean() < 0.8
    np.testing.assert_array_equal(np.asarray(snn.run(chain, jnp.asarray(XS))[0]), want)
    np.testing.assert_array_equal(
        np.asarray(snn.run(branched, jnp.asarray(XS))[0]), want
    )


def residual_conv():
    """conv1 -> lif1 -> conv2 -> lif2 with a skip lif1 -> lif2, then a sum
    pooling, a flatten and an Affine: the residual block of a convolutional
    SNN, in NIR's channels-first layout."""
    c, s = 3, 4
    rng = np.random.default_rng(14)
    lif = lambda: nir.LIF(  # noqa: E731
        tau=np.full((c, s, s), 4e-3, np.float32),
        r=np.full((c, s, s), 4.0, np.float32),  # gain 1
        v_leak=np.zeros((c, s, s)),
        v_threshold=np.full((c, s, s), TH),
        v_reset=np.zeros((c, s, s)),
    )
    conv = lambda cin: nir.Conv2d(  # noqa: E731
        input_shape=(s, s),
        weight=rng.normal(0, 0.5, (c, cin, 3, 3)).astype(np.float32),
        stride=1,
        padding=1,
        dilation=1,
        groups=1,
        bias=rng.normal(0.1, 0.05, c).astype(np.float32),
    )
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, s, s])}),
        "conv1": conv(2),
        "lif1": lif(),
        "conv2": conv(c),
        "lif2": lif(),
        "pool": nir.SumPool2d(
            kernel_size=np.array([2, 2]),
            stride=np.array([2, 2]),
            padding=np.array([0, 0]),
        ),
        "flat": nir.Flatten(
            input_type={"input": np.array([c, 2, 2])}, start_dim=0, end_dim=-1
        ),
        "fc": _affine(c * 4, H, rng=rng),
        "output": nir.Output(output_type={"output": np.array([H])}),
    }
    edges = [
        ("input", "conv1"),
        ("conv1", "lif1"),
        ("lif1", "conv2"),
        ("conv2", "lif2"),
        ("lif1", "lif2"),
        ("lif2", "pool"),
        ("pool", "flat"),
        ("flat", "fc"),
        ("fc", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@pytest.mark.slow  # conv, pooling and residual edges are each checked quickly elsewhere
def test_a_residual_conv_block_imports_spikes_and_round_trips(tmp_path):
    """A residual conv block from another tool: a Graph (conv, pooling,
    flatten in a graph) whose outputs equal the forward simulation in NIR's
    layout, in both APIs; written back and read again, the same."""
    graph = residual_conv()
    xs = np.abs(np.random.default_rng(4).normal(0.8, 1.0, (30, 2, 2, 4, 4)))
    xs = xs.astype(np.float32)  # [T, B, C, H, W], NIR's layout
    want = simulate(graph, set(), xs)
    model = _quiet_import(graph)
    assert isinstance(model, snn.Graph)
    x = jnp.asarray(np.moveaxis(xs, 2, -1))  # spyx's channels-last layout
    for layerwise in (True, False):
        got, _ = snn.run(model, x, layerwise=layerwise)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
    twin, _ = se.run(_quiet_import(graph, se.nir), x)
    np.testing.assert_allclose(np.asarray(twin), want, rtol=1e-4, atol=1e-4)
    nir.write(tmp_path / "block.nir", snir.to_nir(model, (2, 4, 4), dt=DT))
    back = snir.from_nir(nir.read(tmp_path / "block.nir"), dt=DT)
    np.testing.assert_allclose(snn.run(back, x)[0], snn.run(model, x)[0], atol=1e-5)


@pytest.mark.parametrize("after", [False, True], ids=["spyx-timing", "nir-timing"])
def test_spyx_models_round_trip_in_their_own_timing(after, tmp_path):
    """A chain, a graph that is a chain (it comes back a Sequential) and a
    chain with a delayed edge (a Delay node), in either timing: read back
    from a file, each gives the same outputs."""
    rngs = nnx.Rngs(5)
    fc = nnx.Linear(F, H, rngs=rngs)
    lif = snn.LIF(
        (H,), beta=0.8, threshold=0.5, reset="zero", spikes_after_update=after
    )
    models = {
        "chain": snn.Sequential(fc, lif),
        "graph": snn.Graph(
            {"fc": fc, "lif": snn.LIF((H,), beta=0.8, threshold=0.5, reset="zero")},
            [("input", "fc"), ("fc", "lif"), ("lif", "output")],
            spikes_after_update=after,
        ),
        "delayed": snn.Graph(
            {"fc": fc, "lif": lif},
            [("input", "fc"), ("fc", "lif"), ("lif", "output")],
            delayed=[("fc", "lif")],
        ),
    }
    x = jnp.asarray(XS)
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spyx's timing, said elsewhere
            graph = snir.to_nir(model, (F,), dt=DT)
        nir.write(tmp_path / f"{name}.nir", graph)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # spyx's own graphs import silently
            back = snir.from_nir(nir.read(tmp_path / f"{name}.nir"), dt=DT)
        kind = snn.Graph if name == "delayed" else snn.Sequential
        assert isinstance(back, kind), name
        want = snn.run(model, x)[0]
        assert float(jnp.abs(want).sum()) > 0
        np.testing.assert_allclose(snn.run(back, x)[0], want, atol=1e-5, err_msg=name)


def test_to_nir_never_overwrites_a_node():
    """An RLIF named "lif" beside a Linear named "lif_rec": the feedback
    weights get a name of their own, and the model reads back whole."""
    rngs = nnx.Rngs(1)
    model = snn.Graph(
        {
            "fc": nnx.Linear(F, H, rngs=rngs),
            "lif": snn.RLIF((H,), beta=0.8, threshold=0.5, reset="zero", rngs=rngs),
            "lif_rec": nnx.Linear(H, H, rngs=rngs),
        },
        [("input", "fc"), ("fc", "lif"), ("lif", "lif_rec"), ("lif_rec", "output")],
        spikes_after_update=True,
    )
    graph = snir.to_nir(model, (F,), dt=DT)
    assert isinstance(graph.nodes["lif_rec"], nir.Affine)  # the user's layer
    assert isinstance(graph.nodes["lif_rec_2"], nir.Linear)  # the feedback
    assert ("lif", "lif_rec_2") in graph.edges and ("lif_rec_2", "lif") in graph.edges
    back = snir.from_nir(graph, dt=DT)
    x = jnp.asarray(XS)
    np.testing.assert_allclose(snn.run(back, x)[0], snn.run(model, x)[0], atol=1e-5)


def test_symmetric_same_pooling_exports_with_nir_padding():
    """A 3x3 window at stride 1 pads one on each side: NIR says it exactly,
    and it reads back as 'SAME'."""
    model = snn.Sequential(
        snn.SumPool(3, strides=1, padding="SAME"),
        snn.Flatten(),
        nnx.Linear(2 * 5 * 5, H, rngs=nnx.Rngs(0)),
    )
    graph = snir.to_nir(model, (2, 5, 5), dt=DT)
    np.testing.assert_array_equal(graph.nodes["layer_0"].padding, [1, 1])
    back = snir.from_nir(graph, dt=DT)
    assert back.layers[0].padding == "SAME"
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 5, 5, 2)), jnp.float32)
    np.testing.assert_allclose(snn.run(back, x)[0], snn.run(model, x)[0], atol=1e-5)


def test_scale_and_a_threshold_pair_in_a_graph():
    """A skip through an Affine and a Scale, and an LI read by a Threshold
    (how spyx writes PSU_LIF), in a graph that is no chain: the Scale folds
    into the Affine, the pair becomes one PSU_LIF, and the spikes equal the
    forward simulation's; a spyx Graph holding a PSU_LIF round-trips."""
    rng = np.random.default_rng(15)
    nodes = {
        "fc": _affine(F, H, rng=rng),
        "li": nir.LI(tau=TAU, r=TAU / DT, v_leak=np.zeros(H)),
        "th": nir.Threshold(threshold=np.full(H, TH)),
        "skip": _affine(F, H, 0.5, rng=rng),
        "half": nir.Scale(scale=np.full(H, 0.5, np.float32)),
    }
    edges = [
        ("input", "fc"),
        ("fc", "li"),
        ("li", "th"),
        ("th", "output"),
        ("input", "skip"),
        ("skip", "half"),
        ("half", "output"),
    ]
    graph = _graph(nodes, edges)
    want = simulate(graph, set(), XS)
    model = _quiet_import(graph)
    assert isinstance(model, snn.Graph)
    assert isinstance(model.nodes["li"], snn.PSU_LIF) and "th" not in model.nodes
    spikes = want - simulate(
        _graph(
            {"skip": nodes["skip"], "half": nodes["half"]},
            [("input", "skip"), ("skip", "half"), ("half", "output")],
        ),
        set(),
        XS,
    )
    assert 0.02 < spikes.mean() < 0.9, "the threshold should fire now and then"
    got, _ = snn.run(model, jnp.asarray(XS))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    back = snir.from_nir(snir.to_nir(model, (F,), dt=DT), dt=DT)
    np.testing.assert_allclose(snn.run(back, jnp.asarray(XS))[0], got, atol=1e-5)


def test_a_threshold_pair_in_a_cycle_is_ordered_as_nirtorch_orders_the_file():
    """nirtorch orders the graph as written, the Threshold a node of its own:
    named so, it reads both the Affine into the LI and the Threshold into
    the Affine from the step before. spyx fuses the pair after ordering and
    gives the forward simulation's outputs with those two edges late."""
    rng = np.random.default_rng(16)
    nodes = {
        "p": _affine(F, H, rng=rng),
        "q": nir.LI(tau=TAU, r=TAU / DT, v_leak=np.zeros(H)),
        "s": nir.Threshold(threshold=np.full(H, TH)),
        "r": _affine(H, H, 0.6, rng=rng),
        "o": _affine(F, H, rng=rng),
    }
    edges = [
        ("input", "p"),
        ("p", "q"),
        ("q", "s"),
        ("s", "r"),
        ("input", "o"),
        ("o", "r"),
        ("r", "q"),
        ("s", "output"),
    ]
    graph = _graph(nodes, edges)
    want = simulate(graph, {("r", "q"), ("s", "r")}, XS)
    assert 0.02 < want.mean() < 0.9, "the threshold should fire now and then"
    model = _quiet_import(graph)
    assert isinstance(model.nodes["q"], snn.PSU_LIF)
    got, _ = snn.run(model, jnp.asarray(XS))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    # ordering the fused graph instead would read only r -> q late
    assert not np.allclose(simulate(graph, {("r", "q")}, XS), want)


@pytest.mark.parametrize("how", ["beside an edge", "two in parallel", "in series"])
def test_delays_spyx_cannot_keep_are_refused(how):
    """A Delay beside a same-step edge (or two Delays between one pair of
    nodes) would merge two paths into one edge; two in series are a
    two-step delay: each is refused by name, never merged silently."""
    rng = np.random.default_rng(17)
    delay = lambda: nir.Delay(delay=np.full(H, DT, np.float32))  # noqa: E731
    nodes = {
        "fc": _affine(F, H, rng=rng),
        "li": nir.LI(tau=TAU, r=TAU / DT, v_leak=np.zeros(H)),
    }
    edges = [("input", "fc"), ("li", "output")]
    if how == "beside an edge":
        nodes["d"] = delay()
        edges += [("fc", "li"), ("fc", "d"), ("d", "li")]
        match = r"'fc' reaches 'li' both directly and through 'd'"
    elif how == "two in parallel":
        nodes |= {"d1": delay(), "d2": delay()}
        edges += [("fc", "d1"), ("d1", "li"), ("fc", "d2"), ("d2", "li")]
        match = r"'fc' reaches 'li' both directly and through 'd2'"
    else:
        nodes |= {"d1": delay(), "d2": delay()}
        edges += [("fc", "d1"), ("d1", "d2"), ("d2", "li")]
        match = r"Delay nodes 'd1' and 'd2' in series delay by two steps"
    with pytest.raises(ValueError, match=match):
        snir.from_nir(_graph(nodes, edges), dt=DT)
