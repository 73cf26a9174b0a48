"""`spyx.metrics`: NeuroBench's efficiency metrics, checked against counts
made by hand (or by plain loops) on small networks, in both APIs."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx
import spyx.nn
import spyx_eqx
from spyx.metrics import count_layer, report


def _linear(kernel, bias=True) -> nnx.Linear:
    kernel = jnp.asarray(kernel, jnp.float32)
    fc = nnx.Linear(*kernel.shape, use_bias=bias, rngs=nnx.Rngs(0))
    fc.kernel[...] = kernel
    return fc


# kernel [in=3, out=2]; input 0 reaches one output (a zero weight), 1 and 2 two
KERNEL = [[1.0, 0.0], [2.0, 3.0], [4.0, 5.0]]
# [T=2, B=2, 3]: step 0 spikes 1+2 and 1; step 1 none and all three
SPIKES = jnp.array([[[1, 0, 1], [0, 1, 0]], [[0, 0, 0], [1, 1, 1]]], jnp.float32)


def test_the_lazy_submodule_loads():
    assert spyx.metrics.report is report


def test_linear_on_spikes_counts_accumulates():
    fc = _linear(KERNEL)
    row = count_layer(fc, SPIKES, fc(SPIKES))
    # (1 + 2) + 2 at step 0, 0 + (1 + 2 + 2) at step 1 = 10 over 2 examples
    assert row.effective_acs == 5
    assert row.effective_macs == 0
    assert row.dense == 2 * 3 * 2  # 2 steps of 3 x 2 synapses
    assert (row.zero_weights, row.weights) == (1, 6)
    assert row.connection_sparsity == pytest.approx(1 / 6)
    assert (row.params, row.footprint) == (8, 32)


def test_negative_spikes_are_spikes_and_real_values_are_macs():
    fc = _linear(KERNEL)
    assert count_layer(fc, -SPIKES, -SPIKES @ fc.kernel[...]).effective_acs == 5
    real = 0.5 * SPIKES
    row = count_layer(fc, real, fc(real))
    assert (row.effective_acs, row.effective_macs, row.dense) == (0, 5, 12)


def test_each_step_is_spikes_or_real_values_on_its_own():
    """NeuroBench looks at each call (step): spikes at step 0, real values
    at step 1."""
    fc = _linear(KERNEL)
    mixed = SPIKES.at[1].multiply(0.5)
    row = count_layer(fc, mixed, fc(mixed))
    assert (row.effective_acs, row.effective_macs) == (2.5, 2.5)


def _conv_ops(x, kernel, strides, pads, all_ones=False):
    """Synaptic operations of a 2-D conv by plain loops: x [N, H, W, C],
    kernel [kh, kw, C, O], pads ((lo, hi), (lo, hi))."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    (ph, qh), (pw, qw) = pads
    oh = (h + ph + qh - kh) // strides[0] + 1
    ow = (w + pw + qw - kw) // strides[1] + 1
    count = 0
    for b, i, j, di, dj, ci, co in itertools.product(
        range(n), range(oh), range(ow), range(kh), range(kw), range(c), range(o)
    ):
        y, z = i * strides[0] - ph + di, j * strides[1] - pw + dj
        if 0 <= y < h and 0 <= z < w:
            if all_ones or (x[b, y, z, ci] != 0 and kernel[di, dj, ci, co] != 0):
                count += 1
    return count


@pytest.mark.parametrize(
    ("padding", "strides", "pads"),
    [
        pytest.param(  # H 6 -> 3, W 5 -> 3; slow: the default run's time
            "SAME", (2, 2), ((0, 1), (1, 1)), marks=pytest.mark.slow
        ),
        ("VALID", (1, 2), ((0, 0), (0, 0))),
        (((2, 0), (1, 3)), (2, 1), ((2, 0), (1, 3))),
    ],
)
def test_conv_counts_padding_and_strides(padding, strides, pads):
    conv = nnx.Conv(2, 3, (3, 3), strides=strides, padding=padding, rngs=nnx.Rngs(0))
    mask = jax.random.bernoulli(jax.random.key(1), 0.7, conv.kernel.shape)
    conv.kernel[...] = conv.kernel[...] * mask
    x = jax.random.bernoulli(jax.random.key(2), 0.4, (2, 3, 6, 5, 2))
    x = x.astype(jnp.float32)  # [T=2, B=3, 6, 5, 2]
    row = count_layer(conv, x, conv(x.reshape(6, 6, 5, 2)))
    rows = x.reshape(6, 6, 5, 2)
    assert row.effective_acs == _conv_ops(rows, conv.kernel[...], strides, pads) / 3
    dense = _conv_ops(rows, conv.kernel[...], strides, pads, all_ones=True)
    assert row.dense == dense / 3
    assert row.zero_weights == int(jnp.sum(~mask))
    # the same layer in Equinox, channels first, in a converted model
    chain = spyx_eqx.from_nnx(spyx.nn.Sequential(conv))
    twin = count_layer(chain.layers[0], x, x, batch_ndim=1)
    assert (twin.effective_acs, twin.dense) == (row.effective_acs, row.dense)


def test_if_neuron_activations_and_membrane_updates():
    """IF, threshold 1, input 0.7 to neuron 0 and 0 to neuron 1:
    V0 = 0.7, 1.4, 1.1, 0.8 and spikes 0, 0, 1, 1 (taken before each
    update); V1 stays 0."""
    x = jnp.tile(jnp.array([0.7, 0.0]), (4, 1, 1))  # [T=4, B=1, 2]
    result = report(spyx.nn.IF((2,)), x)
    (row,) = result.rows
    assert (row.zero_activations, row.activations) == (6, 8)
    assert result.activation_sparsity == 0.75
    # step 0 counts both neurons; then neuron 0 changes 3 times, neuron 1 never
    assert row.membrane_updates == 2 + 3
    assert result.membrane_updates == 5
    assert result.synaptic_operations == {
        "Effective_MACs": 0,
        "Effective_ACs": 0,
        "Dense": 0,
    }


def test_membrane_updates_average_over_examples():
    x = jnp.stack([jnp.tile(jnp.array([0.7, 0.0]), (4, 1)), jnp.zeros((4, 2))], 1)
    (row,) = report(spyx.nn.IF((2,)), x).rows  # the second example is silent
    assert row.membrane_updates == (5 + 2) / 2


def test_recurrent_weights_count_the_spikes_fed_back():
    layer = spyx.nn.RLIF((3,), beta=0.5, rngs=nnx.Rngs(0))
    w = jnp.array([[1.0, 0.0, 0.0], [2.0, 3.0, 0.0], [4.0, 5.0, 6.0]])
    layer.recurrent_w[...] = w
    spikes = jnp.array([[[1.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])  # [T=2, B=1, 3]
    row = count_layer(layer, spikes, spikes, spikes)
    assert row.effective_acs == (1 + 2) + 3  # nonzero weights of rows 0, 1; 2
    assert row.dense == 2 * 9
    assert (row.zero_weights, row.weights) == (3, 9)
    assert row.params == 1 + 9


def _everyday(rngs: nnx.Rngs) -> spyx.nn.Sequential:
    return spyx.nn.Sequential(
        nnx.Conv(2, 3, (3, 3), strides=2, padding="SAME", rngs=rngs),
        spyx.nn.LIF((3, 3, 3), beta=0.5),
        spyx.nn.SumPool(2, padding="SAME"),
        spyx.nn.Flatten(),
        nnx.Linear(12, 4, rngs=rngs),
        spyx.nn.LIF((4,), beta=None, rngs=rngs),
        nnx.Linear(4, 2, rngs=rngs),
        spyx.nn.LI((2,)),
    )


X = jax.random.bernoulli(jax.random.key(3), 0.5, (5, 2, 5, 5, 2)).astype(float)


@pytest.fixture(scope="module")
def everyday():
    """The chain, with 5 of its first Linear's 12 x 4 weights zeroed, and
    its report on `X` (shared: each new model compiles its run)."""
    model = _everyday(nnx.Rngs(0))
    model.layers[4].kernel[...] = model.layers[4].kernel[...].at[:5].set(0.0)
    return model, report(model, X)


def test_pooling_and_flatten_have_no_synapses(everyday):
    _, result = everyday
    pool, flat = result.rows[2], result.rows[3]
    for row in (pool, flat):
        assert row.ops_counted and row.params == 0
        assert (row.effective_acs, row.effective_macs, row.dense) == (0, 0, 0)
    # 2 x 2 sums of spikes reach the Linear: real values, MACs
    assert result.rows[4].effective_acs == 0 and result.rows[4].effective_macs > 0
    # Conv: 3 x 3 outputs of a 5 x 5 input, SAME, stride 2 (corners 4 inputs,
    # edges 6, centre 9), 2 -> 3 channels, 5 steps
    assert result.rows[0].dense == (4 * 4 + 4 * 6 + 9) * 2 * 3 * 5


def test_params_footprint_and_totals(everyday):
    _, result = everyday
    # conv 3*3*2*3 + 3, LIF beta (), Linear 12*4 + 4, LIF beta (4,), 4*2 + 2,
    # LI beta (2,)
    assert result.parameter_count == 57 + 1 + 52 + 4 + 10 + 2
    assert result.footprint == 4 * result.parameter_count
    assert sum(r.params for r in result.rows) == result.parameter_count
    assert result.examples == 2 and result.steps == 5
    totals = result.as_neurobench()
    assert totals["synaptic_operations"] == result.synaptic_operations
    assert totals["synaptic_operations"]["Dense"] == sum(r.dense for r in result.rows)
    spiking = [r for r in result.rows if r.activations]
    assert [r.kind for r in spiking] == ["LIF", "LIF"]
    zeros = sum(r.zero_activations for r in spiking)
    assert result.activation_sparsity == zeros / sum(r.activations for r in spiking)


def _fields(result):
    return [
        (
            r.name,
            r.params,
            r.footprint,
            r.weights,
            r.zero_weights,
            r.activations,
            r.zero_activations,
            r.effective_acs,
            r.effective_macs,
            r.dense,
            r.membrane_updates,
        )
        for r in result.rows
    ]


def test_both_apis_give_the_same_report(everyday):
    model, ours = everyday
    twin = spyx_eqx.from_nnx(model)
    theirs = report(twin, X)
    assert _fields(ours) == _fields(theirs)
    assert ours.as_neurobench() == theirs.as_neurobench()
    assert ours.connection_sparsity == 20 / (54 + 48 + 8)
    # one example, no batch axis, in Equinox: that example's counts
    single = report(twin, X[:, 0])
    assert single.examples == 1
    assert [r.dense for r in single.rows] == [r.dense for r in ours.rows]
    conv = model.layers[0].kernel[...]
    acs = _conv_ops(X[:, 0], conv, (2, 2), ((1, 1), (1, 1)))  # 5 steps as rows
    assert single.rows[0].effective_acs == acs


def test_batch_major_data_gives_the_same_counts(everyday):
    model, result = everyday
    swapped = report(model, jnp.swapaxes(X, 0, 1), batch_major=True)
    assert _fields(swapped) == _fields(result)


def test_nested_chains_count_layer_by_layer():
    rngs = nnx.Rngs(0)
    inner = spyx.nn.Sequential(_linear(KERNEL), spyx.nn.LIF((2,), beta=0.9))
    model = spyx.nn.Sequential(inner, nnx.Linear(2, 2, rngs=rngs), spyx.nn.LI((2,)))
    result = report(model, SPIKES)
    assert [r.name for r in result.rows] == ["0.0", "0.1", "1", "2"]
    assert result.rows[0].effective_acs == 5
    flat = spyx.nn.Sequential(*inner.layers, *model.layers[1:])
    same = [f[1:] for f in _fields(report(flat, SPIKES))]
    assert same == [f[1:] for f in _fields(result)]


def test_a_graph_sums_its_edges_and_delays_its_delayed_ones():
    rngs = nnx.Rngs(0)
    model = spyx.nn.Graph(
        nodes={
            "fc": _linear(KERNEL),
            "lif": spyx.nn.LIF((2,), beta=0.9),
            "back": nnx.Linear(2, 2, rngs=rngs),
            "late": nnx.Linear(2, 3, rngs=rngs),
            "mix": nnx.Linear(2, 2, rngs=rngs),
        },
        edges=[
            ("input", "fc"),
            ("fc", "lif"),
            ("lif", "back"),
            ("back", "lif"),
            ("lif", "late"),
            ("lif", "mix"),
            ("fc", "mix"),
            ("lif", "output"),
        ],
        delayed=[("back", "lif"), ("lif", "late")],
    )
    x = jnp.tile(SPIKES, (3, 1, 1))  # six steps
    result = report(model, x)
    fc, lif, back, late, mix = result.rows
    assert [r.name for r in result.rows] == ["fc", "lif", "back", "late", "mix"]
    assert fc.effective_acs == 3 * 5
    _, _, rec = spyx.nn.run(model, x, record=["fc", "lif"])
    spikes = rec["lif"].output
    assert lif.activations - lif.zero_activations == int(spikes.sum()) > 0
    # back takes lif's spikes of the same step: each reaches its 2 outputs
    assert back.effective_acs == int(spikes.sum()) * 2 / 2
    # late takes them one step later: the last step's are not seen
    assert late.effective_acs == int(spikes[:-1].sum()) * 3 / 2
    # mix takes the sum of fc's currents and lif's spikes: real values
    summed = rec["fc"].output + spikes
    assert mix.effective_macs == int((summed != 0).sum()) * 2 / 2
    assert mix.effective_acs == 0
    assert _fields(report(spyx_eqx.from_nnx(model), x)) == _fields(result)


class _Scale(nnx.Module):
    def __init__(self):
        self.w = nnx.Param(jnp.ones((3,)))

    def __call__(self, x):
        return x * self.w[...]


def test_an_unknown_layer_says_its_operations_were_not_counted():
    model = spyx.nn.Sequential(_Scale(), _linear(KERNEL), spyx.nn.LIF((2,), beta=0.9))
    result = report(model, SPIKES)
    unknown = result.rows[0]
    assert not unknown.ops_counted and "not counted" in unknown.note
    assert unknown.params == 3
    assert not result.complete
    table = str(result)
    assert "?" in table.splitlines()[3] and table.endswith(unknown.note)


def test_the_table_shows_every_row_and_the_totals():
    chain = spyx.nn.Sequential(_linear(KERNEL), spyx.nn.LIF((2,), beta=0.9))
    result = report(chain, SPIKES)
    lines = str(result).splitlines()
    assert lines[0].startswith("2 example(s), 2 step(s)")
    assert lines[1].split()[:4] == ["layer", "type", "params", "bytes"]
    row = ["0", "Linear", "8", "32", "0.1667", "-", "5", "0", "12", "-"]
    assert lines[3].split() == row
    assert lines[-1].split()[0] == "total"


def test_equinox_layers_without_synapses():
    model = spyx_eqx.Sequential(
        [
            eqx.nn.Linear(3, 2, key=jax.random.key(0)),
            eqx.nn.Dropout(0.5, inference=True),
            eqx.nn.Lambda(jax.nn.relu),
            spyx_eqx.LIF((2,), beta=0.9),
        ]
    )
    result = report(model, SPIKES)
    drop, relu = result.rows[1], result.rows[2]
    assert drop.ops_counted and relu.ops_counted
    assert relu.activations == 2 * 2 * 2  # ReLU counts in activation sparsity


@pytest.mark.parametrize("spec", spyx.core.NEURONS, ids=lambda s: s.name)
def test_every_neuron_is_counted_alike_in_both_apis(spec):
    decays = {name: 0.8 for name in spec.decays}
    layer = spyx.nn.nnx_class(spec)((3,), rngs=nnx.Rngs(0), **decays)
    x = 1.5 * jax.random.bernoulli(jax.random.key(0), 0.5, (6, 2, 3))
    result = report(layer, x)
    (row,) = result.rows
    assert row.kind == spec.name and row.membrane_updates >= 3  # first step
    assert (row.activations > 0) == spec.spiking
    assert row.dense == (6 * 3 * 3 if spec.recurrent else 0)
    assert row.weights == (9 if spec.recurrent else 0)
    twin = spyx_eqx.from_nnx(spyx.nn.Sequential(layer)).layers[0]
    assert _fields(report(twin, x)) == _fields(result)


@pytest.mark.slow  # the default run keeps it under 5 minutes
def test_a_nested_chain_counts_as_the_outer_run_gave_it_or_says_why_not():
    """A nested chain runs again on its recorded input from the state it
    started with (batched as the outer run was, in both APIs); a chain with
    dropout in training mode is counted as inference runs it."""
    x = (jax.random.uniform(jax.random.key(0), (8, 3, 4)) < 0.4).astype(jnp.float32)
    k = jax.random.split(jax.random.key(1), 3)
    twin = spyx_eqx.Sequential(
        [
            eqx.nn.Linear(4, 6, key=k[0]),
            spyx_eqx.Sequential(
                [eqx.nn.Lambda(jax.nn.relu), spyx_eqx.LIF((6,), beta=0.9)]
            ),
            eqx.nn.Linear(6, 2, key=k[1]),
        ]
    )
    rows = spyx.metrics.report(twin, x).rows
    assert [r.name for r in rows] == ["0", "1.0", "1.1", "2"]
    flat = spyx.metrics.report(
        spyx_eqx.Sequential([twin.layers[0], *twin.layers[1].layers, twin.layers[2]]),
        x,
    ).rows
    assert [r.effective_acs for r in rows] == [r.effective_acs for r in flat]
    nested = spyx.nn.Sequential(
        nnx.Linear(4, 6, rngs=nnx.Rngs(0)),
        spyx.nn.Sequential(
            nnx.Dropout(0.5, rngs=nnx.Rngs(dropout=1)), spyx.nn.LIF((6,), beta=0.9)
        ),
        nnx.Linear(6, 2, rngs=nnx.Rngs(2)),
    )
    measured = spyx.metrics.report(nested, x).rows  # as inference: no dropout
    assert len(measured) == 4
    nested.eval()
    assert spyx.metrics.report(nested, x).rows == measured


def test_the_report_counts_an_inference_and_leaves_the_model_as_it_was():
    """A model in training mode is measured as inference runs it (no
    dropout: the spikes reach the next Linear as spikes, all ACs) and keeps
    its batch statistics and RNG counters."""
    m = spyx.nn.Sequential(
        nnx.Linear(4, 5, rngs=nnx.Rngs(0)),
        nnx.BatchNorm(5, rngs=nnx.Rngs(1)),
        spyx.nn.LIF((5,), beta=0.8, threshold=0.5),
        nnx.Dropout(0.5, rngs=nnx.Rngs(dropout=2)),
        nnx.Linear(5, 2, rngs=nnx.Rngs(3)),
        spyx.nn.LI((2,)),
    )
    before = nnx.clone(m)
    x = (jax.random.uniform(jax.random.key(0), (20, 8, 4)) < 0.3).astype(jnp.float32)
    result = report(m, x)
    assert result.rows[4].effective_macs == 0 and result.rows[4].effective_acs > 0
    after = nnx.state(m, nnx.Not(nnx.Param))
    before = nnx.state(before, nnx.Not(nnx.Param))
    for u, v in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
        u, v = (
            jax.random.key_data(w)
            if jnp.issubdtype(w.dtype, jax.dtypes.prng_key)
            else w
            for w in (u, v)
        )
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert not m.layers[3].deterministic  # still in training mode
