"""`Graph` in both APIs: a network with skip, feedback and delayed edges
against a hand-written reference (values and gradients), in every
execution; its timing rule, its checks, conversions and nesting."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx as se
from spyx import core

from .helpers import NEURONS, spiking_input

T, B, F, H = 25, 3, 4, 6
RNG = np.random.default_rng(4)
W1 = RNG.normal(0, 0.9, (F, H)).astype(np.float32)
B1 = RNG.normal(0.2, 0.1, (H,)).astype(np.float32)
W2 = RNG.normal(0, 0.8, (H, H)).astype(np.float32)
WB = RNG.normal(0, 0.6, (H, H)).astype(np.float32)
WR = RNG.normal(0, 0.3, (H, H)).astype(np.float32)
BETA1, BETA2, BETA_LI = 0.9, 0.8, 0.7

EDGES = [
    ("input", "fc1"),
    ("fc1", "lif1"),
    ("back", "lif1"),  # feedback from the later spiking layer, same step
    ("lif1", "fc2"),
    ("fc2", "lif2"),
    ("lif1", "lif2"),  # skip: lif2 sums fc2's output and lif1's spikes
    ("lif2", "back"),
    ("lif2", "li"),
    ("fc1", "li"),  # skip over both spiking layers
    ("li", "rec"),  # a cycle through non-spiking nodes only...
    ("rec", "li"),
    ("li", "output"),
]
DELAYED = [("li", "rec")]  # ...broken by a delay of one step


def _linear(w, b=None):
    layer = nnx.Linear(*w.shape, use_bias=b is not None, rngs=nnx.Rngs(0))
    layer.kernel[...] = w
    if b is not None:
        layer.bias[...] = b
    return layer


def nnx_graph(**kw):
    nodes = {
        "fc1": _linear(W1, B1),
        "lif1": snn.LIF((H,), beta=BETA1),
        "fc2": _linear(W2),
        "lif2": snn.LIF((H,), beta=BETA2),
        "back": _linear(WB),
        "li": snn.LI((H,), beta=BETA_LI),
        "rec": _linear(WR),
    }
    return snn.Graph(nodes, EDGES, delayed=DELAYED, **kw)


def reference(params, xs):
    """The graph unrolled by hand with the core steps (differentiable)."""
    spike = core.NeuronSpec.default_activation()
    batch = xs.shape[1:-1]
    V1 = V2 = U = prev_li = jnp.zeros((*batch, H))
    outs = []
    for x in xs:
        s1 = spike(V1 - 1.0)  # both spikes from the states before the step
        s2 = spike(V2 - 1.0)
        a1 = x @ params["W1"] + params["B1"]
        _, V1 = core.lif_step(
            a1 + s2 @ params["WB"], V1, beta=BETA1, threshold=1.0, spike=spike
        )
        _, V2 = core.lif_step(
            s1 @ params["W2"] + s1, V2, beta=BETA2, threshold=1.0, spike=spike
        )
        U, _ = core.li_step(s2 + a1 + prev_li @ params["WR"], U, beta=BETA_LI)
        prev_li = U
        outs.append(U)
    return jnp.stack(outs), {"lif1": V1, "lif2": V2, "li": U, "li@t-1": prev_li}


PARAMS = {"W1": W1, "B1": B1, "W2": W2, "WB": WB, "WR": WR}
XS = spiking_input(3, (T, B, F), scale=1.5)
EXECUTIONS = {
    "stepwise": {"layerwise": False},
    "layerwise": {"layerwise": True},
    "chunk7": {"chunk": 7},
    "checkpoint5": {"checkpoint": 5},
}


def _close(a, b, tol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


@pytest.mark.slow
def test_every_path_of_the_reference_matters():
    """The case is not vacuous: both layers' membranes vary across units,
    and removing the spiking feedback or the delayed loop changes the
    output."""
    outs, final = reference(PARAMS, XS)
    for name in ("lif1", "lif2"):
        above = np.asarray(final[name] > 0.5).mean()
        assert 0.0 < above < 1.0, name
    for cut in ("WB", "WR"):
        other, _ = reference({**PARAMS, cut: 0 * PARAMS[cut]}, XS)
        assert float(jnp.abs(other - outs).max()) > 1e-2, cut


@pytest.mark.parametrize(
    "api, execution",
    [
        pytest.param(
            api,
            execution,
            marks=pytest.mark.slow if api == "eqx" and execution != "layerwise" else (),
        )
        for api in ("nnx", "eqx")
        for execution in EXECUTIONS
    ],
)
def test_graph_matches_the_hand_unrolled_network(api, execution):
    model = nnx_graph()
    want, want_final = reference(PARAMS, XS)
    if api == "nnx":
        outs, final = snn.run(model, XS, **EXECUTIONS[execution])
    else:
        outs, final = se.run(se.from_nnx(model), XS, **EXECUTIONS[execution])
    _close(outs, want)
    for name, value in want_final.items():
        _close(final[name][..., :H], value)
    assert final["fc1"] is None and set(final) == {*model.plan.names, "li@t-1"}


@pytest.mark.parametrize(
    "execution",
    [
        pytest.param("stepwise", marks=pytest.mark.slow),
        "layerwise",
        pytest.param("chunk7", marks=pytest.mark.slow),
    ],
)
def test_graph_gradients_match_the_hand_unrolled_network(execution):
    weights = jnp.asarray(np.random.default_rng(1).normal(size=(T, B, H)))

    def ref_loss(params):
        return jnp.sum(reference(params, XS)[0] * weights)

    want = jax.grad(ref_loss)({k: jnp.asarray(v) for k, v in PARAMS.items()})
    model = nnx_graph()

    def loss(model):
        return jnp.sum(snn.run(model, XS, **EXECUTIONS[execution])[0] * weights)

    grads = nnx.grad(loss)(model)
    nodes = grads["nodes"]
    _close(nodes["fc1"]["kernel"][...], want["W1"])
    _close(nodes["fc1"]["bias"][...], want["B1"])
    _close(nodes["fc2"]["kernel"][...], want["W2"])
    _close(nodes["back"]["kernel"][...], want["WB"])
    _close(nodes["rec"]["kernel"][...], want["WR"])
    assert float(jnp.abs(want["WB"]).max()) > 0, "the feedback should carry gradient"
    twin = se.from_nnx(model)
    eqx_grads = eqx.filter_grad(
        lambda m: jnp.sum(se.run(m, XS, **EXECUTIONS[execution])[0] * weights)
    )(twin)
    _close(eqx_grads.nodes["back"].weight.T, want["WB"])
    _close(eqx_grads.nodes["fc1"].weight.T, want["W1"])


def test_one_example_and_vmap_in_equinox():
    twin = se.from_nnx(nnx_graph())
    want = reference(PARAMS, XS)[0]
    one, _ = se.run(twin, XS[:, 0])
    _close(one, want[:, 0])
    mapped, _ = jax.vmap(lambda x: se.run(twin, x), in_axes=1, out_axes=1)(XS)
    _close(mapped, want)
    jitted, _ = eqx.filter_jit(se.run)(twin, XS)
    _close(jitted, want)


def test_batch_major_data():
    want = reference(PARAMS, XS)[0]
    got, _ = snn.run(nnx_graph(), jnp.swapaxes(XS, 0, 1), batch_major=True)
    _close(jnp.swapaxes(got, 0, 1), want)


def _labelled():
    rngs = nnx.Rngs(0)
    return snn.Graph(
        {
            "fc": nnx.Linear(F, H, rngs=rngs),
            "rlif": snn.RLIF((H,), beta=None, rngs=rngs),
            "alif": snn.ALIF((H,), beta=0.9, gamma=0.8),
            "li": snn.LI((H,)),
        },
        [("input", "fc"), ("fc", "rlif"), ("rlif", "alif"), ("alif", "li")]
        + [("li", "output")],
    )


@pytest.mark.slow  # the checkpoint paths are model-agnostic (test_saved_models)
def test_a_graph_saves_and_restores_in_both_apis(tmp_path):
    import spyx

    model = nnx_graph()
    spyx.checkpoint.save(tmp_path / "ckpt", model)
    other = nnx_graph()
    other.nodes["back"].kernel[...] = 0 * WB
    restored = spyx.checkpoint.restore(tmp_path / "ckpt", other)
    np.testing.assert_array_equal(snn.run(restored, XS)[0], snn.run(model, XS)[0])
    twin = se.from_nnx(model)
    se.save(tmp_path / "g.eqx", twin)
    zeroed = nnx_graph()
    zeroed.nodes["back"].kernel[...] = 0 * WB
    back = se.restore(tmp_path / "g.eqx", se.from_nnx(zeroed))
    np.testing.assert_array_equal(se.run(back, XS)[0], se.run(twin, XS)[0])
    with pytest.raises(ValueError, match=r"saved from a different model"):
        se.restore(tmp_path / "g.eqx", se.from_nnx(_labelled()))


def test_conversions_carry_the_graph_both_ways():
    model = nnx_graph()
    back = se.to_nnx(se.from_nnx(model))
    assert isinstance(back, snn.Graph) and back.plan == model.plan
    _close(snn.run(back, XS)[0], snn.run(model, XS)[0], 1e-6)


@pytest.mark.parametrize("spec", [n.spec for n in NEURONS], ids=lambda s: s.name)
def test_output_from_state_means_the_output_ignores_the_input(spec):
    """The flag a graph relies on to let a neuron's output feed back within a
    step: where set, the step's output does not depend on its input."""
    neuron = next(n for n in NEURONS if n.spec is spec)
    layer = neuron.make((H,), seed=2)
    state = jax.random.normal(jax.random.key(0), (B, *layer.state_shape)) * 2
    a, _ = layer(jnp.zeros((B, H)), state)
    b, _ = layer(jax.random.normal(jax.random.key(1), (B, H)) * 3, state)
    assert bool(jnp.array_equal(a, b)) == spec.output_from_state


def test_spikes_after_update_give_the_next_steps_spike():
    """With spikes_after_update, a spiking node gives the spike of its
    membrane after the step: the spike the usual timing gives one step
    later; the layer-wise path (shifted outputs) agrees with stepping."""
    lin = _linear(W1, B1)
    before = snn.Graph(
        {"fc": lin, "lif": snn.LIF((H,), beta=0.9)},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    after = snn.Graph(
        {"fc": lin, "lif": snn.LIF((H,), beta=0.9)},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        spikes_after_update=True,
    )
    usual, _ = snn.run(before, XS)
    for layerwise in (True, False):
        shifted, _ = snn.run(after, XS, layerwise=layerwise)
        assert np.asarray(usual).sum() > 0
        np.testing.assert_array_equal(shifted[:-1], usual[1:])


def test_a_cycle_through_spikes_after_update_needs_a_delay():
    nodes = {"lif": snn.LIF((H,), beta=0.9), "w": _linear(WB)}
    edges = [("input", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "output")]
    snn.Graph(nodes, edges)  # the usual timing: fine
    with pytest.raises(ValueError, match=r"spikes_after_update=True every node"):
        snn.Graph(nodes, edges, spikes_after_update=True)
    snn.Graph(nodes, edges, delayed=[("w", "lif")], spikes_after_update=True)


def _nodes():
    return {
        "fc": _linear(W1, B1),
        "lif": snn.LIF((H,), beta=0.9),
        "li": snn.LI((H,)),
        "w": _linear(WB),
    }


CYCLE = [("input", "fc"), ("fc", "li"), ("li", "w"), ("w", "li"), ("li", "output")]
CHAIN = [("input", "fc"), ("fc", "lif"), ("lif", "output")]


@pytest.mark.parametrize(
    "names, edges, delayed, match",
    [
        (
            "fc li w",
            CYCLE,
            [],
            r"Graph: the cycle 'li' -> 'w' -> 'li' has no order to compute in: it "
            r"passes through no spiking neuron.*"
            r"delayed=\[\('w', 'li'\)\]",
        ),
        ("fc", [("input", "fc"), ("fc", "nope")], [], r"unknown node 'nope'"),
        ("fc lif li", CHAIN, [], r"node 'li' has no incoming edge"),
        ("fc", [("input", "fc")], [], r"node 'output' has no incoming edge"),
        ("fc lif", [*CHAIN, ("fc", "lif")], [], r"'fc' -> 'lif' is given twice"),
        ("", [("input", "output")], [("input", "output")], r"input cannot be delayed"),
        ("fc lif", CHAIN, [("fc", "output")], r"not among the edges"),
        ("fc", [("output", "fc")], [], r"nothing flows into 'input' or out of"),
    ],
)
def test_wrong_graphs_are_refused_when_built(names, edges, delayed, match):
    nodes = {k: v for k, v in _nodes().items() if k in names.split()}
    with pytest.raises(ValueError, match=match):
        snn.Graph(nodes, edges, delayed=delayed)


def test_an_edge_whose_shapes_disagree_names_both():
    with pytest.raises(
        ValueError,
        match=r"Graph: edge 'fc' -> 'w': 'fc' gives examples of shape \(6,\), "
        r"'w' takes \(4,\)",
    ):
        snn.Graph(
            {"fc": _linear(W1, B1), "w": nnx.Linear(4, 2, rngs=nnx.Rngs(0))},
            [("input", "fc"), ("fc", "w"), ("w", "output")],
        )


def test_summed_inputs_must_agree_in_shape():
    nodes = {"a": _linear(W1, B1), "b": nnx.Linear(F, 3, rngs=nnx.Rngs(0))}
    nodes["li"] = snn.LI((H,))
    with pytest.raises(ValueError, match=r"'b' gives examples of shape \(3,\)"):
        snn.Graph(
            nodes,
            [
                ("input", "a"),
                ("input", "b"),
                ("a", "li"),
                ("b", "li"),
                ("li", "output"),
            ],
        )
    # shapes that only show when running (no layer says them) are checked then
    g = snn.Graph(
        {"f": snn.Flatten()}, [("input", "f"), ("f", "output"), ("input", "output")]
    )
    with pytest.raises(ValueError, match=r"node 'output' sums inputs of different"):
        snn.run(g, jnp.ones((T, B, 2, 2)))


def test_wrong_names_states_and_delays_are_refused():
    with pytest.raises(ValueError, match=r"'input' is reserved"):
        snn.Graph({"input": snn.LI((H,))}, [("input", "output")])
    with pytest.raises(TypeError, match=r"node 'x' is not callable"):
        snn.Graph({"x": 3}, [("input", "x"), ("x", "output")])
    with pytest.raises(ValueError, match=r"delayed edge leaves 'f' \(Flatten\)"):
        snn.Graph(
            {"f": snn.Flatten(), "li": snn.LI((H,))},
            [("input", "f"), ("f", "li"), ("li", "output")],
            delayed=[("f", "li")],
        )
    model = nnx_graph()
    state = model.initial_state(B)
    with pytest.raises(TypeError, match=r"dict with the keys"):
        model(XS[0], [state[n] for n in model.plan.names])
    with pytest.raises(TypeError, match=r"node 'fc1' .* stateless"):
        model(XS[0], {**state, "fc1": jnp.zeros(3)})
    with pytest.raises(ValueError, match=r"node 'fc1' \(Linear\): expects 4 input"):
        snn.run(model, jnp.ones((T, B, 5)))


def test_delayed_edges_need_no_cycle_and_act_as_a_delay_line():
    lif = snn.LIF((H,), beta=0.9)
    plain = snn.Graph({"lif": lif}, [("input", "lif"), ("lif", "output")])
    late = snn.Graph(
        {"lif": lif}, [("input", "lif"), ("lif", "output")], delayed=[("lif", "output")]
    )
    x = spiking_input(5, (T, B, H), scale=2.0)
    want, _ = snn.run(plain, x)
    for layerwise in (True, False):
        got, final = snn.run(late, x, layerwise=layerwise)
        np.testing.assert_array_equal(got[1:], want[:-1])
        np.testing.assert_array_equal(got[0], 0)
        np.testing.assert_array_equal(final["lif@t-1"], want[-1])


def test_graphs_and_chains_nest_both_ways():
    inner = nnx_graph()
    chain = snn.Sequential(inner, _linear(np.eye(H, dtype=np.float32)))
    want, _ = reference(PARAMS, XS)
    for layerwise in (True, False):
        got, _ = snn.run(chain, XS, layerwise=layerwise)
        _close(got, want)
    outer = snn.Graph(
        {"net": snn.Sequential(_linear(W1, B1), snn.LIF((H,), beta=0.9))},
        [("input", "net"), ("net", "output")],
    )
    twin = se.from_nnx(outer)
    a, _ = snn.run(outer, XS)
    b, _ = se.run(twin, XS)
    _close(a, b)


def test_keys_reach_graph_nodes_alike_stepwise_and_layerwise():
    k1, k2 = jax.random.split(jax.random.key(0))
    model = se.Graph(
        {
            "fc": eqx.nn.Linear(F, H, key=k1),
            "drop": eqx.nn.Dropout(0.5),
            "lif": se.LIF((H,), beta=0.9),
        },
        [("input", "fc"), ("fc", "drop"), ("drop", "lif"), ("lif", "output")],
    )
    a, _ = se.run(model, XS, key=k2, layerwise=True)
    b, _ = se.run(model, XS, key=k2, layerwise=False)
    c, _ = se.run(model, XS, key=k2, chunk=6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    d, _ = se.run(model, XS, key=k1, layerwise=True)
    assert not np.array_equal(a, d)
