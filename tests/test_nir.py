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
            marks=() if dt == 1e-3 or name in ("LIF", "conv") else pytest.mark.slow,
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


# ------------------------------------------------ foreign graphs, Euler reference

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


def _membrane(model, xs):
    """The neuron's membrane (first state half) after every step."""
    fc, neuron = model.layers
    V = neuron.initial_state(xs.shape[1])
    trace = []
    for x in xs:
        _, V = neuron(fc(x), V)
        trace.append(V[..., :H])
    return np.stack(trace)


def _euler(xs, step):
    I = xs @ W_IN.T + B_IN
    v, c, out = np.zeros(I.shape[1:]), np.zeros(I.shape[1:]), []
    for i_t in I:
        v, c = step(v, c, i_t)
        out.append(v)
    return np.stack(out)


SUB = 0.3 * np.abs(RNG.normal(size=(20, 2, F))).astype(
    np.float32
)  # stays sub-threshold


@pytest.mark.parametrize("style", ["snntorch", "norse"])
def test_lif_graph_against_euler(style):
    r = TAU / DT if style == "snntorch" else np.ones(H, np.float32)
    lif = nir.LIF(
        tau=TAU,
        r=r,
        v_leak=np.zeros(H),
        v_threshold=np.full(H, 50.0),
        v_reset=np.zeros(H),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = snir.from_nir(_graph(lif), dt=DT)
    messages = [str(w.message) for w in caught]
    # NIR's reset to 0 is reset="zero", said once for a graph spyx did not write
    resets = [m for m in messages if "v_reset = 0" in m]
    assert len(resets) == 1 and "reset='subtract'" in resets[0]
    assert "snnTorch" in resets[0] and "['neuron']" in resets[0]
    assert any("folded exactly" in m for m in messages) == (style == "norse")
    assert isinstance(model.layers[1], snn.LIF) and model.layers[1].reset == "zero"
    ref = _euler(SUB, lambda v, c, i: (v + DT / TAU * (-v + r * i), c))
    np.testing.assert_allclose(_membrane(model, SUB), ref, rtol=1e-4, atol=1e-6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forced = snir.from_nir(_graph(lif), dt=DT, reset="subtract")
    assert not any("reset" in str(w.message) for w in caught)  # the user's choice
    assert forced.layers[1].reset == "subtract"


def test_hard_reset_lif_graph_spikes_as_nir_simulates_it():
    """A snnTorch-style LIF that resets to v_reset = 0, with spikes, against
    forward Euler of NIR's semantics (integrate, fire on v > th, set v to 0):
    imported spiking after the update, its spikes are NIR's, step for step,
    and its membrane is NIR's before the reset."""
    th = 0.4
    lif = nir.LIF(
        tau=TAU,
        r=TAU / DT,
        v_leak=np.zeros(H),
        v_threshold=np.full(H, th),
        v_reset=np.zeros(H),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = snir.from_nir(_graph(lif), dt=DT, reset="zero")
    xs = np.abs(np.random.default_rng(3).normal(size=(40, 2, F))).astype(np.float32)
    I = xs.astype(np.float64) @ W_IN.T.astype(np.float64) + B_IN
    v, pre, fired = np.zeros(I.shape[1:]), [], []
    for i_t in I:
        v = v + DT / TAU * (-v + (TAU / DT) * i_t)
        pre.append(v)
        s = (v > th).astype(np.float64)
        fired.append(s)
        v = np.where(s > 0, 0.0, v)
    spikes, _ = snn.run(model, jnp.asarray(xs))
    assert 0 < np.sum(fired) < np.size(fired) / 2, "the reference should fire"
    np.testing.assert_array_equal(np.asarray(spikes), np.stack(fired))
    np.testing.assert_allclose(
        _membrane(model, xs), np.stack(pre), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("style", ["snntorch", "norse"])
def test_cubalif_graph_against_euler(style):
    tau_syn = np.full(H, 4e-3, np.float32)
    r = TAU / DT if style == "snntorch" else np.ones(H, np.float32)
    w_in = tau_syn / DT if style == "snntorch" else np.ones(H, np.float32)
    node = nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=TAU,
        r=r,
        v_leak=np.zeros(H),
        v_threshold=np.full(H, 50.0),
        v_reset=np.zeros(H),
        w_in=w_in,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = snir.from_nir(_graph(node), dt=DT)

    def step(v, c, i):
        c = c + DT / tau_syn * (-c + w_in * i)
        return v + DT / TAU * (-v + r * c), c

    np.testing.assert_allclose(
        _membrane(model, SUB), _euler(SUB, step), rtol=1e-4, atol=1e-6
    )


def test_if_and_li_graphs_against_euler():
    node = nir.IF(r=np.full(H, 2.0), v_threshold=np.full(H, 50.0), v_reset=np.zeros(H))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = snir.from_nir(_graph(node), dt=DT)
    ref = _euler(SUB, lambda v, c, i: (v + DT * 2.0 * i, c))
    np.testing.assert_allclose(_membrane(model, SUB), ref, rtol=1e-4, atol=1e-7)
    li = nir.LI(tau=TAU, r=np.ones(H), v_leak=np.zeros(H))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = snir.from_nir(_graph(li), dt=DT)
    assert isinstance(model.layers[1], snn.LI)
    ref = _euler(SUB, lambda v, c, i: (v + DT / TAU * (-v + i), c))
    np.testing.assert_allclose(
        snn.run(model, jnp.asarray(SUB))[0], ref, rtol=1e-4, atol=1e-7
    )


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "subgraph"])
def test_recurrent_graph_maps_to_rlif(nested):
    W_rec = RNG.normal(0, 0.5, (H, H)).astype(np.float32)  # NIR: (out, in)
    lif = nir.LIF(
        tau=TAU,
        r=TAU / DT,
        v_leak=np.zeros(H),
        v_threshold=np.full(H, 0.2),
        v_reset=np.zeros(H),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = snir.from_nir(_graph(lif, W_rec, nested), dt=DT)
    layer = model.layers[1]
    assert isinstance(layer, snn.RLIF)
    np.testing.assert_allclose(layer.recurrent_w[...], W_rec.T)  # spyx: s @ W
    np.testing.assert_allclose(layer.beta[...], 1 - DT / TAU, rtol=1e-6)


def _recurrent_graph(neuron, W_rec, b_rec, b_in=B_IN):
    """Input -> Affine -> neuron, with a feedback Affine (weight and bias)
    from the neuron back to itself."""
    nodes = {
        "input": nir.Input(input_type={"input": np.array([F])}),
        "fc": nir.Affine(weight=W_IN, bias=b_in) if b_in is not None else None,
        "neuron": neuron,
        "rec": nir.Affine(weight=W_rec, bias=b_rec),
        "output": nir.Output(output_type={"output": np.array([H])}),
    }
    if b_in is None:
        nodes["fc"] = nir.Linear(weight=W_IN)
    edges = [
        ("input", "fc"),
        ("fc", "neuron"),
        ("neuron", "rec"),
        ("rec", "neuron"),
        ("neuron", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _nir_recurrent_spikes(xs, kind, params, W_rec, b_rec, b_in):
    """Forward Euler of NIR's semantics for a LIF or CubaLIF node whose input
    is ``W_in x + b_in + W_rec s + b_rec`` (the spikes of the previous step
    fed back), firing when the membrane passes the threshold and resetting it
    to 0. Returns every step's spikes."""
    bias = 0.0 if b_in is None else b_in
    v = np.zeros((xs.shape[1], H))
    c = np.zeros_like(v)
    s = np.zeros_like(v)
    fired = []
    for x in xs.astype(np.float64):
        i = x @ W_IN.T + bias + s @ W_rec.T + b_rec
        if kind == "LIF":
            v = v + DT / params["tau"] * (-v + params["r"] * i)
        else:
            c = c + DT / params["tau_syn"] * (-c + params["w_in"] * i)
            v = v + DT / params["tau_mem"] * (-v + params["r"] * c)
        s = (v > params["v_threshold"]).astype(np.float64)
        v = np.where(s > 0, 0.0, v)
        fired.append(s)
    return np.stack(fired)


@pytest.mark.parametrize("kind", ["LIF", "CubaLIF"])
@pytest.mark.parametrize("input_bias", [True, False], ids=["affine", "linear"])
def test_recurrent_graph_with_gain_and_feedback_bias_as_nir_simulates_it(
    kind, input_bias
):
    """NIR applies a node's input gain (r dt / tau, and dt w_in / tau_syn) to
    the sum of its inputs, the feedback included, and a feedback Affine's bias
    enters with them (at every step, the first included): the imported RLIF /
    RCuBaLIF, spiking after the update, fires exactly as NIR's semantics do,
    with gains other than 1."""
    rng = np.random.default_rng(5)
    W_rec = rng.normal(0, 0.4, (H, H)).astype(np.float32)
    b_rec = rng.normal(0.1, 0.05, (H,)).astype(np.float32)
    tau = np.full(H, 4 * DT, np.float32)
    if kind == "LIF":
        params = dict(tau=tau, r=np.full(H, 2.0, np.float32))  # gain 0.5
        node = nir.LIF(
            **params,
            v_leak=np.zeros(H),
            v_threshold=np.full(H, 0.3),
            v_reset=np.zeros(H),
        )
    else:
        params = dict(
            tau_syn=np.full(H, 2 * DT, np.float32),
            tau_mem=tau,
            r=np.full(H, 2.0, np.float32),
            w_in=np.linspace(0.5, 1.5, H).astype(np.float32),  # per-unit gain
        )
        node = nir.CubaLIF(
            **params,
            v_leak=np.zeros(H),
            v_threshold=np.full(H, 0.3),
            v_reset=np.zeros(H),
        )
    params["v_threshold"] = 0.3
    b_in = B_IN if input_bias else None
    with pytest.warns(UserWarning) as caught:
        model = snir.from_nir(_recurrent_graph(node, W_rec, b_rec, b_in), dt=DT)
    assert any("folded exactly" in str(w.message) for w in caught)
    assert isinstance(model.layers[1], snn.RLIF if kind == "LIF" else snn.RCuBaLIF)
    xs = np.abs(np.random.default_rng(3).normal(size=(60, 2, F))).astype(np.float32)
    want = _nir_recurrent_spikes(xs, kind, params, W_rec, b_rec, b_in)
    assert 0.05 < want.mean() < 0.6, "the reference should fire now and then"
    spikes, _ = snn.run(model, jnp.asarray(xs))
    assert model.layers[1].spikes_after_update
    np.testing.assert_array_equal(np.asarray(spikes), want)


def test_feedback_bias_with_no_linear_before_is_refused():
    nodes = {
        "input": nir.Input(input_type={"input": np.array([H])}),
        "lif": _lif_node(r=np.full(H, 4.0), tau=np.full(H, 4 * DT)),
        "rec": nir.Affine(weight=np.eye(H, dtype=np.float32), bias=np.ones(H)),
        "output": nir.Output(output_type={"output": np.array([H])}),
    }
    edges = [("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with pytest.raises(ValueError, match=r"feedback loop of node 'lif' has a bias"):
        snir.from_nir(g, dt=DT)


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf")])
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_a_time_step_that_is_not_positive_is_refused(dt, api):
    from_nir, to_nir = (
        (snir.from_nir, snir.to_nir) if api == "nnx" else (enir.from_nir, enir.to_nir)
    )
    with pytest.raises(ValueError, match=r"from_nir: `dt` must be a finite time st"):
        from_nir(_graph(_lif_node()), dt=dt)
    layer = snn.LIF((3,), beta=0.5, reset="zero")
    if api == "eqx":
        layer = spyx_eqx.from_nnx(layer)
    with pytest.raises(ValueError, match=r"to_nir: `dt` must be a finite time step"):
        to_nir(layer, (3,), dt=dt)


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
