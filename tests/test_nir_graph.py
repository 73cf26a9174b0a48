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
