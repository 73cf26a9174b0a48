"""Value checks (non-finite parameters and inputs, under `debug_checks` and
eagerly) and property-based equivalences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spyx.core as core
import spyx.nn as snn
import spyx_eqx as se

from .helpers import NEURON_IDS, NEURONS, spiking_input

# ----------------------------------------------------------- value checks


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf], ids=["nan", "inf"])
@pytest.mark.parametrize(
    "neuron",
    [
        pytest.param(
            n,
            id=n.name,
            marks=()
            if n.name in ("LIF", "LI", "RCuBaLIF", "PSU_LIF")
            else pytest.mark.slow,
        )
        for n in NEURONS
    ],
)
def test_non_finite_input_reaches_the_outputs_as_nan(neuron, bad):
    """NaN or inf at step 2 of one unit: that unit's outputs from step 3 on
    (a spike reads the membrane before the step's input, except PSU_LIF's)
    are NaN (a membrane output, LI's, may be inf), never finite wrong
    values; with debug_checks the run raises."""
    layer = neuron.make((3,))
    xs = spiking_input(0, (6, 2, 3)).at[2, 0, 1].set(bad)
    for api_run, model, x in (
        (snn.run, layer, xs),
        (se.run, se.from_nnx(layer), xs[:, 0]),
    ):
        outs, _ = api_run(model, x)
        unit = outs[3:, 0, 1] if outs.ndim == 3 else outs[3:, 1]
        bad_out = jnp.isnan(unit) if neuron.spiking else ~jnp.isfinite(unit)
        assert bool(jnp.all(bad_out)), f"{neuron.name}: {unit}"
        assert bool(jnp.all(jnp.isfinite(outs[:2])))
    with core.debug_checks():
        with pytest.raises(Exception, match=rf"{neuron.name}: input `x` holds NaN"):
            jax.block_until_ready(snn.run(layer, xs))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_low_precision_ten_thousand_steps_stay_finite(neuron, dtype):
    layer = neuron.make((4,))
    xs = jnp.clip(spiking_input(1, (10_000, 2, 4), scale=1.5), -1.0, 1.0)
    outs, final = jax.jit(lambda x: snn.run(layer, x))(xs.astype(dtype))
    assert outs.dtype == dtype
    assert bool(jnp.all(jnp.isfinite(outs.astype(jnp.float32))))
    assert bool(jnp.all(jnp.isfinite(final.astype(jnp.float32))))


def test_nan_parameters_are_caught_when_checking_is_enabled():
    layer = snn.LIF((3,), beta=0.5)
    layer.beta[...] = jnp.nan
    x, V = jnp.ones((1, 3)), jnp.zeros((1, 3))
    layer(x, V)  # off by default: no cost, no check
    with core.debug_checks():
        with pytest.raises(ValueError, match=r"LIF: parameter `beta` holds NaN"):
            layer(x, V)
        with pytest.raises(Exception, match=r"LIF: parameter `beta` holds NaN"):
            jax.block_until_ready(nnx.jit(lambda m, x: snn.run(m, x))(layer, x[None]))
    e = se.RLIF((3,), beta=0.5, key=jax.random.key(0))
    e = eqx.tree_at(lambda m: m.recurrent_w, e, jnp.full((3, 3), jnp.inf))
    with core.debug_checks():
        with pytest.raises(
            ValueError, match=r"RLIF: parameter `recurrent_w` holds NaN or inf"
        ):
            e(jnp.ones(3), jnp.zeros(3))


# ------------------------------------------------------------ properties

PROPERTY = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def _cases(draw, recurrent_ok=True):
    pool = NEURONS if recurrent_ok else [n for n in NEURONS if not n.recurrent]
    neuron = draw(st.sampled_from(pool))
    ndim = 1 if neuron.recurrent else draw(st.integers(1, 3))
    hidden = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    T = draw(st.integers(1, 12))
    B = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    return neuron, hidden, T, B, seed


@pytest.mark.slow
@PROPERTY
@given(_cases())
def test_property_run_equals_the_loop_and_equinox(case):
    neuron, hidden, T, B, seed = case
    p = neuron.random_params(hidden, seed=seed)
    layer = neuron.nnx_from(hidden, p)
    xs = spiking_input(seed, (T, B, *hidden), scale=2.0)
    outs, final = snn.run(layer, xs)
    V = layer.initial_state(B)
    for t in range(T):
        o, V = layer(xs[t], V)
        np.testing.assert_allclose(outs[t], o, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(final, V, rtol=1e-6, atol=1e-6)
    twin = neuron.eqx_from(hidden, p)
    e_outs, e_final = se.run(twin, xs, twin.initial_state(B))
    np.testing.assert_allclose(e_outs, outs, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(e_final, final, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@PROPERTY
@given(st.integers(1, 24), st.integers(1, 3), st.floats(0.0, 1.0), st.integers(0, 999))
def test_property_parallel_equals_the_scan(T, B, beta, seed):
    layer = snn.PSU_LIF((3,), beta=beta)
    xs = spiking_input(seed, (T, B, 3), scale=2.0)
    ref, _ = snn.run(layer, xs)
    for method in ("associative", "sequential"):
        spikes = layer.parallel(xs, method=method)
        V = core.leaky_scan(xs, beta, method=method)
        near = jnp.abs(V - 1.0) < 1e-5  # a spike may flip within rounding of th
        np.testing.assert_array_equal(
            jnp.where(near, 0, spikes), jnp.where(near, 0, ref)
        )


@pytest.mark.slow
@PROPERTY
@given(_cases(recurrent_ok=True))
def test_property_layerwise_equals_stepwise(case):
    neuron, hidden, T, B, seed = case
    if len(hidden) > 1:
        hidden = (int(np.prod(hidden)),)
    model = snn.Sequential(
        nnx.Linear(3, hidden[0], rngs=nnx.Rngs(seed)),
        neuron.nnx_from(hidden, neuron.random_params(hidden, seed=seed)),
        nnx.Linear(hidden[0], 2, rngs=nnx.Rngs(seed + 1)),
    )
    xs = spiking_input(seed, (T, B, 3), scale=3.0)
    a = snn.run(model, xs, layerwise=True)
    b = snn.run(model, xs, layerwise=False)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("api", ["nnx", "eqx"])
@pytest.mark.parametrize("path", ["step", "run"])
def test_a_decay_given_another_shape_after_building_is_refused(api, path):
    """The constructor takes a decay of shape () or (H,); one assigned
    later with the batch's shape (2, 3) would give every example its own
    decay. It is refused when the neuron runs, on every path."""
    wrong = jnp.full((2, 3), 0.5)
    if api == "nnx":
        lif = snn.LIF((3,), beta=0.9)
        lif.beta.set_value(wrong)
        x, state = jnp.ones((2, 3)), lif.initial_state(2)
        go = (
            (lambda: lif(x, state))
            if path == "step"
            else (lambda: snn.run(snn.Sequential(lif), jnp.ones((4, 2, 3))))
        )
    else:
        lif = eqx.tree_at(lambda m: m.beta, se.LIF((3,), beta=0.9), wrong)
        x, state = jnp.ones((3,)), lif.initial_state()
        go = (
            (lambda: lif(x, state))
            if path == "step"
            else (lambda: se.run(se.Sequential([lif]), jnp.ones((4, 3))))
        )
    with pytest.raises(ValueError, match=r"LIF: `beta` has shape \(2, 3\)"):
        go()
