"""NIR graphs that are no chain: a residual block and a two-layer network
with feedback from layer 2 to layer 1, built with the `nir` package, import
as a `spyx.nn.Graph` that spikes as a forward simulation of NIR's semantics
does; a Graph exports and reads back (Delay nodes for delayed edges)."""

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

DT = 1e-3
F, H = 4, 5
RNG = np.random.default_rng(8)
TAU = np.linspace(3e-3, 6e-3, H).astype(np.float32)
TH = 0.25


def _lif(r):
    return nir.LIF(
        tau=TAU,
        r=np.full(H, r, np.float32) if np.isscalar(r) else r,
        v_leak=np.zeros(H),
        v_threshold=np.full(H, TH),
        v_reset=np.zeros(H),
    )


def _affine(n_in, n_out, scale=0.7, bias=True, rng=RNG):
    w = rng.normal(0, scale, (n_out, n_in)).astype(np.float32)
    if not bias:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=rng.normal(0.1, 0.05, n_out).astype(np.float32))


def _graph(nodes, edges):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([F])}),
        **nodes,
        "output": nir.Output(output_type={"output": np.array([H])}),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def residual():
    """lif_a -> fc_b -> lif_b, and lif_a + lif_b at the output (Norse-style
    gains r = 1, folded into fc_a and fc_b)."""
    nodes = {
        "fc_a": _affine(F, H),
        "lif_a": _lif(1.0),
        "fc_b": _affine(H, H, 0.9),
        "lif_b": _lif(1.0),
    }
    edges = [
        ("input", "fc_a"),
        ("fc_a", "lif_a"),
        ("lif_a", "fc_b"),
        ("fc_b", "lif_b"),
        ("lif_a", "output"),
        ("lif_b", "output"),
    ]
    return _graph(nodes, edges), set()


def feedback():
    """fc1 -> lif1 -> fc2 -> lif2, with fb: lif2 -> lif1 (lif1 sums fc1 and
    fb, both scaled by its gain). nirtorch's order (by name) reaches lif1
    before fb, so lif1 reads fb of the step before; spyx moves that in front
    of fb (no bias here: the same values) and delays lif2 -> fb."""
    nodes = {
        "fc1": _affine(F, H),
        "lif1": _lif(1.0),
        "fc2": _affine(H, H, 0.9),
        "lif2": _lif(TAU / DT),
        "fb": _affine(H, H, 0.8, bias=False),
    }
    edges = [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "fb"),
        ("fb", "lif1"),
        ("lif2", "output"),
    ]
    return _graph(nodes, edges), {("lif2", "fb")}


def simulate(graph, late, xs):
    """Forward Euler of NIR's semantics, written out: at each step the nodes
    in an order where each comes after the inputs it reads at this step, each
    on the sum of its inputs (an edge in
    `late` reads its source's value of the step before); a LIF integrates
    ``v += dt / tau (-v + r I)``, fires where ``v > v_threshold`` and is set
    to v_reset = 0."""
    edges = graph.edges
    listed = []
    for a, b in edges:
        listed += [n for n in (a, b) if n not in listed and n != "input"]
    order, done = [], {"input"}
    while len(order) < len(listed):  # each node after what it reads this step
        n = next(
            n
            for n in listed
            if n not in done
            and all(a in done for a, b in edges if b == n and (a, n) not in late)
        )
        order.append(n)
        done.add(n)
    v = {k: 0.0 for k, n in graph.nodes.items() if isinstance(n, nir.LIF)}
    prev = {k: np.zeros((xs.shape[1], H)) for k in graph.nodes}  # zeros at first
    outs = []
    for x in xs.astype(np.float64):
        now = {"input": x}
        for name in order:
            node = graph.nodes[name]
            total = sum(
                (prev[a] if (a, name) in late else now[a])
                for a, b in edges
                if b == name
            )
            if isinstance(node, nir.Affine | nir.Linear):
                now[name] = total @ node.weight.T.astype(np.float64) + (
                    node.bias if isinstance(node, nir.Affine) else 0.0
                )
            elif isinstance(node, nir.Scale):
                now[name] = total * np.asarray(node.scale, np.float64)
            elif isinstance(node, nir.LI):
                v[name] = v.get(name, 0.0) + DT / node.tau * (
                    -v.get(name, 0.0) + node.r * total
                )
                now[name] = v[name]
            elif isinstance(node, nir.Threshold):
                now[name] = (total > node.threshold).astype(np.float64)
            elif isinstance(node, nir.Conv2d):
                now[name] = _conv2d(total, node)
            elif isinstance(node, nir.SumPool2d):
                k = int(np.asarray(node.kernel_size).reshape(-1)[0])
                b, c, h, w = total.shape
                now[name] = total.reshape(b, c, h // k, k, w // k, k).sum((3, 5))
            elif isinstance(node, nir.Flatten):
                now[name] = total.reshape(total.shape[0], -1)  # (C, H, W) order
            elif isinstance(node, nir.LIF):
                v[name] = v[name] + DT / node.tau * (-v[name] + node.r * total)
                s = (v[name] > node.v_threshold).astype(np.float64)
                v[name] = np.where(s > 0, 0.0, v[name])
                now[name] = s
            else:
                now[name] = total
        prev = now
        outs.append(now["output"])
    return np.stack(outs)


def _conv2d(x, node):
    """NIR's Conv2d (stride 1, symmetric padding) on ``[B, C, H, W]``."""
    w = np.asarray(node.weight, np.float64)  # (out, in, kh, kw)
    p = int(np.asarray(node.padding).reshape(-1)[0])
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    kh, kw = w.shape[2:]
    h, wd = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((x.shape[0], w.shape[0], h, wd))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum(
                "bchw,oc->bohw", x[:, :, i : i + h, j : j + wd], w[:, :, i, j]
            )
    return out + np.asarray(node.bias, np.float64)[None, :, None, None]


XS = np.abs(np.random.default_rng(2).normal(0.8, 1.0, size=(60, 3, F))).astype(
    np.float32
)


@pytest.mark.parametrize("build", [residual, feedback])
def test_a_graph_that_is_no_chain_imports_and_spikes_as_nir_simulates_it(build):
    graph, late = build()
    want = simulate(graph, late, XS)
    assert 0.02 < want.mean() < 0.8, "the reference should fire now and then"
    with pytest.warns(UserWarning) as caught:
        model = snir.from_nir(graph, dt=DT)
    messages = " ".join(str(w.message) for w in caught)
    assert "reset to v_reset = 0" in messages and "folded exactly" in messages
    assert isinstance(model, snn.Graph)
    neurons = [n for n in model.nodes.values() if isinstance(n, snn.LIF)]
    assert neurons and all(n.spikes_after_update for n in neurons)
    assert set(model.plan.delayed) == late
    for layerwise in (True, False):
        spikes, _ = snn.run(model, jnp.asarray(XS), layerwise=layerwise)
        np.testing.assert_array_equal(np.asarray(spikes), want)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said above
        twin_model = se.nir.from_nir(graph, dt=DT)
    assert isinstance(twin_model, se.Graph)
    twin, _ = se.run(twin_model, jnp.asarray(XS))
    np.testing.assert_array_equal(np.asarray(twin), want)


def _spyx_graph(after):
    rngs = nnx.Rngs(3)
    nodes = {
        "fc": nnx.Linear(F, H, rngs=rngs),
        "lif": snn.LIF((H,), beta=0.8, threshold=0.5, reset="zero"),
        "li": snn.LI((H,), beta=0.7),
        "back": nnx.Linear(H, H, use_bias=False, rngs=rngs),
        "rlif": snn.RLIF((H,), beta=0.9, threshold=0.5, reset="zero", rngs=rngs),
    }
    edges = [
        ("input", "fc"),
        ("fc", "lif"),
        ("lif", "li"),
        ("li", "back"),
        ("back", "lif"),
        ("fc", "rlif"),
        ("rlif", "output"),
        ("li", "output"),
    ]
    delayed = [("li", "back")] + ([("back", "lif")] if after else [])
    return snn.Graph(nodes, edges, delayed=delayed, spikes_after_update=after)


@pytest.mark.parametrize("after", [False, True], ids=["spyx-timing", "nir-timing"])
def test_a_graph_exports_and_reads_back(after, tmp_path):
    model = _spyx_graph(after)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = snir.to_nir(model, (F,), dt=DT)
    timing = [w for w in caught if "spikes_after_update" in str(w.message)]
    assert len(timing) == (0 if after else 1)
    delays = [k for k, n in graph.nodes.items() if isinstance(n, nir.Delay)]
    assert sorted(delays) == sorted(f"{a}_to_{b}_delay" for a, b in model.plan.delayed)
    nir.write(tmp_path / "g.nir", graph)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = snir.from_nir(nir.read(tmp_path / "g.nir"), dt=DT)
    assert isinstance(back, snn.Graph)
    assert back.nodes["lif"].spikes_after_update == after
    assert back.nodes["rlif"].spikes_after_update == after
    x = jnp.asarray(XS)
    want, _ = snn.run(model, x)
    got, _ = snn.run(back, x)
    assert 0 < float(jnp.abs(want).sum())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_graph_import_and_export_refusals():
    graph, _ = residual()
    graph.nodes["fc_b"] = nir.Scale(scale=np.ones(H))
    with pytest.raises(ValueError, match=r"Scale node 'fc_b' is followed by 'lif_b'"):
        snir.from_nir(graph, dt=DT)
    graph, _ = feedback()
    graph.nodes["fc1"] = nir.Linear(weight=np.ones((H, F), np.float32))
    graph.edges.append(("fc1", "output"))  # fc1 now feeds two nodes
    graph.nodes["lif2"] = _lif(TAU / DT)
    with pytest.raises(ValueError, match=r"'fc1' is no such layer or feeds other"):
        snir.from_nir(graph, dt=DT)
    model = snn.Graph(
        {"pool": snn.SumPool(2, padding="SAME"), "f": snn.Flatten()},
        [("input", "pool"), ("pool", "f"), ("f", "output")],
    )
    with pytest.raises(
        TypeError, match=r"'pool' \(SumPool, 'SAME'\) .* \[\(0, 1\), \(0, 1\)\]"
    ):
        snir.to_nir(model, (2, 5, 5), dt=DT)


def test_two_branches_from_the_input_sum_at_the_output():
    """Formerly refused as no chain: now a Graph whose output sums both."""
    a, b = _affine(F, H), _affine(F, H)
    graph = _graph(
        {"a": a, "b": b},
        [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")],
    )
    model = snir.from_nir(graph, dt=DT)
    out, _ = snn.run(model, jnp.asarray(XS))
    want = XS @ (a.weight + b.weight).T + a.bias + b.bias
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


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
