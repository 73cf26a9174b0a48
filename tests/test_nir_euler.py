"""NIR graphs as other frameworks write them (snnTorch's and Norse's LIF,
CubaLIF, IF, LI, recurrent layers with gains and biases) import and spike as
a hand-written Euler simulation of NIR's equations does."""

import warnings

import jax.numpy as jnp
import nir
import numpy as np
import pytest

import spyx.nir as snir
import spyx.nn as snn
import spyx_eqx
import spyx_eqx.nir as enir

from .test_nir import B_IN, DT, RNG, TAU, W_IN, F, H, _graph, _lif_node

# ------------------------------------------------ foreign graphs, Euler reference


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


@pytest.mark.parametrize("along", ["channels", "width"])
def test_a_scale_after_a_conv_folds_per_channel_or_is_refused(along):
    """NIR's Scale multiplies the conv's (C, H, W) output element-wise: a
    factor per channel folds exactly into the conv (the membrane after one
    step is dt r (scale * conv)); one that varies along the width (here as
    many as the channels) cannot, and is refused instead of applied per
    channel."""
    import jax

    rng = np.random.default_rng(0)
    C, Hs, W = 3, 5, 3  # as many columns as channels
    w = rng.normal(size=(C, 2, 3, 3)).astype(np.float32)
    factors = np.array([0.5, 1.0, 2.0], np.float32)
    per = factors[:, None, None] if along == "channels" else factors[None, None, :]
    scale = np.broadcast_to(per, (C, Hs, W)).copy()
    one = np.ones((C, Hs, W), np.float32)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2, Hs, W])),
            "conv": nir.Conv2d(
                input_shape=(Hs, W),
                weight=w,
                stride=1,
                padding=1,
                dilation=1,
                groups=1,
                bias=np.zeros(C, np.float32),
            ),
            "scale": nir.Scale(scale=scale),
            "if": nir.IF(r=one, v_threshold=one, v_reset=0 * one),
            "output": nir.Output(output_type=np.array([C, Hs, W])),
        },
        edges=[("input", "conv"), ("conv", "scale"), ("scale", "if"), ("if", "output")],
    )
    if along == "width":
        with pytest.raises(ValueError, match="'scale'.*does not fold"):
            snir.from_nir(graph, dt=1.0)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reset and timing notes
        model = snir.from_nir(graph, dt=1.0)
    x = rng.normal(size=(1, 1, Hs, W, 2)).astype(np.float32)  # [T, B, H, W, C]
    _, _, rec = snn.run(model, jnp.asarray(x), record=[1])
    got = np.moveaxis(np.asarray(rec[1].membrane[0, 0]), -1, 0)  # (C, H, W)
    conv = jax.lax.conv_general_dilated(
        jnp.asarray(x[0].transpose(0, 3, 1, 2)), jnp.asarray(w), (1, 1), [(1, 1)] * 2
    )[0]
    np.testing.assert_allclose(got, np.asarray(conv) * scale, rtol=1e-5, atol=1e-5)
