"""NIR export/import: round trips in both APIs, file round trips, graphs as
other frameworks write them against a hand-written Euler simulation, and what
is refused."""

import warnings

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

import spyx.nir as snir
import spyx.nn as snn
import spyx_eqx
import spyx_eqx.nir as enir

from .helpers import NEURONS, one_of_each_kind, spiking_input

F, H, O = 5, 6, 3
# Exporting a neuron that does not reset to zero warns (asserted in
# test_export_writes_v_reset_zero_and_the_mode); the round trips filter it.
EXPORT_WARNING = pytest.mark.filterwarnings(
    "ignore:to_nir.*(after a spike|before the update):UserWarning"
)


def _dense(neuron_cls, **kw):
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(F, H, rngs=rngs),
        neuron_cls((H,), rngs=rngs, **kw),
        snn.ActivityRegularization((H,)),
        nnx.Linear(H, O, use_bias=False, rngs=rngs),
        snn.LI((O,), beta=jnp.linspace(0.5, 0.9, O)),
    )


def _conv():
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Conv(2, 3, (3, 3), rngs=rngs),
        snn.LIF((6, 6, 3), rngs=rngs),
        snn.SumPool(2),
        snn.Flatten(),
        nnx.Linear(27, O, rngs=rngs),
        snn.LI((O,)),
    )


# Every neuron NIR can express (its table row has a NIR mapping), between
# Linear layers, and a conv model.
MODELS = {n.name: (lambda n=n: _dense(n.nnx_cls), (F,)) for n in NEURONS if n.spec.nir}
MODELS["conv"] = (_conv, (6, 6, 2))  # one example, spyx's channels-last layout


def _nir_shape(shape):
    """The same example in NIR's channels-first layout (what to_nir takes)."""
    return (shape[-1], *shape[:-1]) if len(shape) >= 2 else shape


NOT_EXPRESSIBLE = [n for n in NEURONS if n.spec.nir is None]


# Every model at dt = 1e-3 (where every time constant and input gain is
# rescaled); at dt = 1 LIF and the conv model by default, the rest slow.
@EXPORT_WARNING
@pytest.mark.parametrize(
    ("name", "dt"),
    [
        pytest.param(
            name,
            dt,
            id=f"{name}-{dt}",
            # by default: LIF at both time steps, the conv model and the
            # other neurons of each kind at 1e-3; every pair when slow
            marks=()
            if name == "LIF"
            or (dt == 1e-3 and name in {n.name for n in one_of_each_kind()} | {"conv"})
            else pytest.mark.slow,
        )
        for dt in (1.0, 1e-3)
        for name in sorted(MODELS)
    ],
)
def test_nnx_round_trip_same_layers_parameters_outputs(name, dt, tmp_path):
    build, in_shape = MODELS[name]
    model = build()
    graph = snir.to_nir(model, _nir_shape(in_shape), dt=dt)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    xs = spiking_input(0, (12, 2, *in_shape), scale=2.0)
    expected = snn.run(model, xs)[0]
    for g in (graph, nir.read(path)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # spyx's own graphs import silently
            back = snir.from_nir(g, dt=dt)
        kept = [
            type(layer)
            for layer in model.layers
            if not isinstance(layer, snn.ActivityRegularization)
        ]
        assert [type(layer) for layer in back.layers] == kept
        a = [np.asarray(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))]
        b = [np.asarray(v) for v in jax.tree.leaves(nnx.state(back, nnx.Param))]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(
                np.broadcast_to(x, y.shape), y, rtol=2e-6, atol=1e-7
            )
        np.testing.assert_allclose(snn.run(back, xs)[0], expected, rtol=1e-5, atol=1e-5)


@EXPORT_WARNING
@pytest.mark.parametrize(
    "name",
    [n.name for n in one_of_each_kind() if n.spec.nir] + ["conv"],
)
def test_equinox_round_trip(name):
    build, in_shape = MODELS[name]
    model = spyx_eqx.from_nnx(build())
    graph = enir.to_nir(model, _nir_shape(in_shape))
    back = enir.from_nir(graph)
    assert isinstance(back, spyx_eqx.Sequential)
    xs = spiking_input(1, (10, 2, *in_shape), scale=2.0)
    np.testing.assert_allclose(
        spyx_eqx.run(back, xs, back.initial_state(2))[0],
        spyx_eqx.run(model, xs, model.initial_state(2))[0],
        rtol=1e-5,
        atol=1e-5,
    )


@EXPORT_WARNING
def test_exported_parameters_follow_the_mapping():
    model = snn.Sequential(
        nnx.Linear(2, 2, rngs=nnx.Rngs(0)), snn.LIF((2,), beta=0.8, threshold=1.5)
    )
    g = snir.to_nir(model, (2,), dt=1e-3)
    lif = g.nodes["layer_1"]
    np.testing.assert_allclose(lif.tau, 5e-3, rtol=1e-6)  # dt / (1 - beta)
    np.testing.assert_allclose(lif.r, 5.0, rtol=1e-6)  # tau / dt
    np.testing.assert_allclose(lif.v_threshold, 1.5)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_allclose(
        g.nodes["layer_0"].weight, np.asarray(model.layers[0].kernel[...]).T
    )


# ------------------------------------------------ foreign graphs (also test_nir_euler)

DT = 1e-3
RNG = np.random.default_rng(0)
W_IN = RNG.normal(0, 0.3, (H, F)).astype(np.float32)
B_IN = RNG.normal(0, 0.05, (H,)).astype(np.float32)
TAU = np.linspace(2e-3, 8e-3, H).astype(np.float32)


def _graph(neuron, feedback=None, nested=False):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([F])}),
        "fc": nir.Affine(weight=W_IN, bias=B_IN),
        "neuron": neuron,
        "output": nir.Output(output_type={"output": np.array([H])}),
    }
    edges = [("input", "fc"), ("fc", "neuron"), ("neuron", "output")]
    if feedback is not None:
        if nested:  # snnTorch writes recurrent layers as a subgraph
            sub = nir.NIRGraph(
                nodes={
                    "input": nir.Input(input_type={"input": np.array([H])}),
                    "lif": neuron,
                    "w_rec": nir.Linear(weight=feedback),
                    "output": nir.Output(output_type={"output": np.array([H])}),
                },
                edges=[
                    ("input", "lif"),
                    ("lif", "w_rec"),
                    ("w_rec", "lif"),
                    ("lif", "output"),
                ],
                type_check=False,
            )
            nodes["neuron"] = sub
        else:
            nodes["rec"] = nir.Linear(weight=feedback)
            edges += [("neuron", "rec"), ("rec", "neuron")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_conv_graph_channels_first_layout():
    """Input (C, H, W) -> Conv2d -> AvgPool2d -> Flatten -> Affine -> LI, checked
    against the same computation done in NIR's channels-first layout."""
    w = RNG.normal(0, 0.5, (3, 2, 3, 3)).astype(np.float32)
    fc = RNG.normal(0, 0.5, (4, 12)).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "conv": nir.Conv2d(
            input_shape=(4, 4),
            weight=w,
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=np.arange(3, dtype=np.float32),
        ),
        "pool": nir.AvgPool2d(
            kernel_size=np.array([2, 2]),
            stride=np.array([2, 2]),
            padding=np.array([0, 0]),
        ),
        "flat": nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0),
        "fc": nir.Affine(weight=fc, bias=np.zeros(4, np.float32)),
        "li": nir.LI(tau=np.full(4, 2.0), r=np.full(4, 2.0), v_leak=np.zeros(4)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    graph = nir.NIRGraph(
        nodes=nodes, edges=list(zip(names, names[1:], strict=False)), type_check=False
    )
    model = snir.from_nir(graph, dt=1.0)
    x_nchw = RNG.normal(size=(1, 2, 4, 4)).astype(np.float32)
    conv = jax.lax.conv_general_dilated(x_nchw, w, (1, 1), [(1, 1), (1, 1)])
    conv = conv + np.arange(3).reshape(1, 3, 1, 1)
    pooled = conv.reshape(1, 3, 2, 2, 2, 2).mean(axis=(3, 5))
    expected = np.asarray(pooled).reshape(1, -1) @ fc.T  # first LI step: V = x
    x_nhwc = jnp.asarray(x_nchw.transpose(0, 2, 3, 1))[None]  # [T=1, B, H, W, C]
    out = snn.run(model, x_nhwc)[0][0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def _lif_node(**kw):
    base = dict(
        tau=TAU,
        r=TAU / DT,
        v_leak=np.zeros(H),
        v_threshold=np.ones(H),
        v_reset=np.zeros(H),
    )
    base.update(kw)
    return nir.LIF(**base)


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        (lambda: _graph(_lif_node(v_leak=np.full(H, 0.1))), r"v_leak != 0"),
        (lambda: _graph(_lif_node(v_reset=np.full(H, -0.5))), r"v_reset != 0"),
        (
            lambda: _graph(_lif_node(v_threshold=np.linspace(1, 2, H))),
            r"per-unit v_threshold",
        ),
        (lambda: _graph(_lif_node(tau=np.full(H, 1e-4))), r"tau 0.0001 < dt=0.001"),
        (
            lambda: _graph(nir.Delay(delay=np.ones(H))),
            r"Delay node 'neuron' delays by \[1000\.\] time steps",
        ),
    ],
    ids=[
        "v_leak",
        "v_reset",
        "per-unit-threshold",
        "tau-below-dt",
        "delay",
    ],
)
def test_unrepresentable_graphs_are_refused(graph, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            snir.from_nir(graph(), dt=DT)


def test_gain_with_no_weighted_layer_before_is_refused():
    nodes = {
        "input": nir.Input(input_type={"input": np.array([H])}),
        "lif": _lif_node(r=np.ones(H)),
        "output": nir.Output(output_type={"output": np.array([H])}),
    }
    g = nir.NIRGraph(
        nodes=nodes, edges=[("input", "lif"), ("lif", "output")], type_check=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"weighted layers .* 'input' is no such"):
            snir.from_nir(g, dt=DT)


@pytest.mark.parametrize("neuron", NOT_EXPRESSIBLE, ids=lambda n: n.name)
def test_export_refuses_neurons_nir_cannot_express(neuron):
    with pytest.raises(TypeError, match=rf"{neuron.name} has no NIR equivalent"):
        snir.to_nir(neuron.make((3,)), (3,))


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_export_writes_v_reset_zero_and_the_mode(reset):
    model = snn.Sequential(
        nnx.Linear(F, H, rngs=nnx.Rngs(0)), snn.LIF((H,), beta=0.8, reset=reset)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = snir.to_nir(model, (F,))
    warned = any("resets to v_reset = 0" in str(w.message) for w in caught)
    assert warned == (reset != "zero")
    np.testing.assert_array_equal(graph.nodes["layer_1"].v_reset, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # spyx reads its own mode back silently
        back = snir.from_nir(graph)
    assert back.layers[1].reset == reset
    with pytest.raises(ValueError, match=r"from_nir: `reset` must be one of"):
        snir.from_nir(graph, reset="hard")


@EXPORT_WARNING
def test_export_refusals():
    with pytest.raises(ValueError, match=r"beta = 1 \(no leak\)"):
        snir.to_nir(snn.LIF((3,), beta=1.0), (3,))
    with pytest.raises(TypeError, match=r"PopulationCode\) has no NIR"):
        snir.to_nir(
            snn.Sequential(snn.LIF((3,), beta=0.5), snn.PopulationCode(3)), (3,)
        )


# spyx 1.0's call forms


def _psu_model():
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(F, H, rngs=rngs),
        snn.PSU_LIF((H,), beta=0.8),
        nnx.Linear(H, O, rngs=rngs),
        snn.RLIF((O,), beta=0.7, reset="zero", rngs=rngs),
    )


@EXPORT_WARNING
def test_to_nir_in_the_spyx_1_form_names_nodes_by_layer():
    model = _psu_model()
    graph = snir.to_nir(model, {"input": (F,)}, {"output": (O,)}, 1e-3)
    assert {"layer_0", "layer_1", "layer_1_threshold", "layer_2", "layer_3"} <= set(
        graph.nodes
    )
    assert isinstance(graph.nodes["layer_1"], nir.LI)
    assert isinstance(graph.nodes["layer_1_threshold"], nir.Threshold)
    assert ("layer_3_rec", "layer_3") in graph.edges
    same = snir.to_nir(model, (F,), (O,), dt=1e-3)
    assert sorted(same.nodes) == sorted(graph.nodes)
    with pytest.raises(ValueError, match=r"`output_shape` is \(4,\), but the model"):
        snir.to_nir(model, (F,), {"output": (4,)})
    with pytest.raises(ValueError, match=r"one entry"):
        snir.to_nir(model, {"a": (F,), "b": (F,)})


@EXPORT_WARNING
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_from_nir_with_data_returns_outputs_and_all_states(api):
    model = _psu_model()
    graph = snir.to_nir(model, (F,), dt=1.0)
    xs = spiking_input(4, (9, 2, F), scale=2.0)
    ref, _ = snn.run(model, xs)
    module = snir if api == "nnx" else enir
    back, outs = module.from_nir(graph, xs, 1.0)
    np.testing.assert_allclose(outs, ref, rtol=1e-5, atol=1e-5)
    back, (outs, states) = module.from_nir(graph, xs, 1.0, return_all_states=True)
    np.testing.assert_allclose(outs, ref, rtol=1e-5, atol=1e-5)
    template = back.initial_state(2)
    assert len(states) == len(template)
    for step_states, first in zip(states, template, strict=True):
        if first is None:
            assert step_states is None
        else:
            assert step_states.shape == (9, *first.shape)
    # the last step's state is run's final state
    final = (snn.run if api == "nnx" else spyx_eqx.run)(back, xs, template)[1]
    for a, b in zip(jax.tree.leaves(states), jax.tree.leaves(final), strict=True):
        np.testing.assert_allclose(a[-1], b, rtol=1e-5, atol=1e-6)
    assert module.from_nir(graph) is not None  # without data: the model alone


@pytest.mark.parametrize("size", [7, 6])
def test_a_strided_same_conv_writes_its_pads_or_is_refused(size, tmp_path):
    """NIR's "same" keeps the input's size, so a strided "SAME" conv is
    written with XLA's pads when they are symmetric (7 -> 4 with a 3-wide
    kernel: one each side) and the file reads back and runs as the model
    does; asymmetric pads (6 -> 3: none before, one after) are refused."""
    out = -(-size // 2)
    model = snn.Sequential(
        nnx.Conv(2, 3, (3, 3), strides=2, padding="SAME", rngs=nnx.Rngs(0)),
        snn.LIF((out, out, 3), beta=0.9, reset="zero", spikes_after_update=True),
    )
    if size % 2 == 0:
        with pytest.raises(TypeError, match=r"strided 'SAME'.*\(0, 1\)"):
            snir.to_nir(model, (2, size, size))
        return
    graph = snir.to_nir(model, (2, size, size))
    assert tuple(graph.nodes["layer_0"].padding) == (1, 1)
    nir.write(tmp_path / "conv.nir", graph)
    back = snir.from_nir(nir.read(tmp_path / "conv.nir"), dt=1.0)
    x = jax.random.normal(jax.random.key(0), (4, 2, size, size, 2))
    np.testing.assert_array_equal(snn.run(back, x)[0], snn.run(model, x)[0])
