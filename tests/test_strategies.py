"""How `run` executes a chain: the strategy it picks when left open, the
options it refuses together, and chunks with keys. (That every strategy
gives the same outputs, states and gradients is `test_layerwise.py`.)"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx as se
from spyx.core import _frontend as frontend

from .helpers import spiking_input
from .test_layerwise import _close


def _chain(neuron, hidden):
    return snn.Sequential(
        nnx.Linear(700, hidden, rngs=nnx.Rngs(0)),
        neuron((hidden,), rngs=nnx.Rngs(1)),
        nnx.Linear(hidden, 20, rngs=nnx.Rngs(2)),
        snn.LI((20,)),
    )


@pytest.mark.parametrize(
    ("neuron", "batch", "hidden", "training", "inference"),
    [
        (snn.LIF, 16, 128, "layerwise", "layerwise"),
        (snn.RLIF, 64, 128, "layerwise", "layerwise"),  # 100 * 64 * 128 < 2^21
        (snn.LIF, 64, 512, "layerwise", "chunked"),  # 100 * 64 * 512 >= 2^21
        (snn.LIF, 256, 128, "layerwise", "stepwise"),  # 256 rows per step
        (snn.IF, 256, 512, "stepwise", "stepwise"),  # 2^17 rows x units
        (snn.RCuBaLIF, 256, 512, "stepwise", "stepwise"),
    ],
)
def test_an_open_choice_follows_the_shape(neuron, batch, hidden, training, inference):
    """`choose_strategy`'s thresholds, in a training step and in inference."""
    layers, shape = _chain(neuron, hidden).layers, (100, batch, 700)
    chunked = {"chunked": ("chunked", 20)}
    for differentiated, want in ((True, training), (False, inference)):
        plan = frontend.Execution().plan(
            "run", shape, layers, differentiated=differentiated
        )
        assert plan == chunked.get(want, (want, 100))
    # explicit choices and checkpoints override it
    assert frontend.Execution(layerwise=True).plan("run", shape, layers) == (
        "layerwise",
        100,
    )
    assert frontend.Execution(checkpoint=10).plan("run", shape, layers)[0] == (
        "stepwise"
    )
    assert frontend.Execution(chunk=30).plan("run", shape, layers) == ("chunked", 30)
    # a chunk as long as the sequence is one layer-wise pass
    assert frontend.Execution(chunk=100).plan("run", shape, layers) == (
        "layerwise",
        100,
    )


def test_the_default_run_is_differentiated_like_the_explicit_choice():
    """The open choice runs inference and training of a chain whose two
    choices differ (chunked vs layer-wise): outputs and gradients equal the
    step-by-step run's."""
    model = snn.Sequential(
        nnx.Linear(4, 512, rngs=nnx.Rngs(0)),
        snn.LIF((512,), beta=0.9),
        nnx.Linear(512, 3, rngs=nnx.Rngs(1)),
    )
    x = spiking_input(7, (64, 64, 4), scale=2.0)  # T * rows * width = 2**21
    layers, shape = model.layers, tuple(x.shape)
    inference = frontend.Execution().plan("run", shape, layers, differentiated=False)
    assert inference == ("chunked", 20)
    assert frontend.Execution().plan("run", shape, layers)[0] == "layerwise"
    np.testing.assert_allclose(
        snn.run(model, x)[0], snn.run(model, x, layerwise=False)[0], atol=1e-6
    )
    grads = [
        nnx.grad(lambda m, kw=kw: snn.run(m, x, **kw)[0].sum())(model)
        for kw in ({}, {"layerwise": False})
    ]
    _close(grads[0], grads[1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"chunk": 0}, r"`chunk` must be a positive number of steps"),
        ({"chunk": True}, r"`chunk` must be a positive number of steps"),
        ({"chunk": 2.5}, r"`chunk` must be a positive number of steps"),
        ({"chunk": 5, "layerwise": False}, r"`chunk` runs the layers one after"),
        ({"chunk": 5, "checkpoint": 5}, r"`chunk` and `checkpoint` cannot be"),
        ({"unroll": 0}, r"`unroll` must be True, False or a positive number"),
    ],
)
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_options_that_cannot_work_together_are_refused(options, message, api):
    nnx_model = snn.Sequential(
        nnx.Linear(3, 4, rngs=nnx.Rngs(0)), snn.LIF((4,), beta=0.9)
    )
    if api == "nnx":
        model, run = nnx_model, snn.run
    else:
        model, run = se.from_nnx(nnx_model), se.run
    with pytest.raises(ValueError, match=r"run\(Sequential\): " + message):
        run(model, jnp.ones((10, 2, 3)), **options)


@pytest.mark.slow  # chunks in spyx_eqx run by default in test_layerwise.py
def test_chunks_carry_equinox_keys_as_one_pass_does():
    """Dropout keys are cut along time with the input: the same masks in
    chunks as in one layer-wise pass, and as step by step."""
    model = se.Sequential(
        [
            eqx.nn.Linear(6, 8, key=jax.random.key(0)),
            eqx.nn.Dropout(0.5),
            se.LIF((8,), beta=0.9),
            eqx.nn.Linear(8, 3, key=jax.random.key(1)),
            se.LI((3,), beta=0.8),
        ]
    )
    x, key = spiking_input(3, (13, 2, 6)), jax.random.key(4)
    whole = se.run(model, x, key=key, layerwise=True)
    for chunk in (4,):
        parts = se.run(model, x, key=key, chunk=chunk)
        for a, b in zip(jax.tree.leaves(parts), jax.tree.leaves(whole), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_a_plain_step_function_runs_step_by_step(api):
    """A model that is a plain function ``(x_t, state) -> (out, state)``."""

    def step(x, s):
        return x + s, s + 1.0

    run = snn.run if api == "nnx" else se.run
    outs, final = run(step, jnp.ones((3, 2, 2)), jnp.zeros((2, 2)))
    np.testing.assert_allclose(outs[:, 0, 0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(final, 3.0)
    grads = jax.grad(lambda x: run(step, x, jnp.zeros((2, 2)))[0].sum())(
        jnp.ones((3, 2, 2))
    )
    np.testing.assert_allclose(grads, 1.0)
