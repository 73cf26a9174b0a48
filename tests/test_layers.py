"""Convolutional hidden shapes, pooling, flattening, population codes and the
lazy imports."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn

from .helpers import NEURON_IDS, NEURONS, NON_RECURRENT, spiking_input


@pytest.mark.parametrize(
    "neuron",
    [
        pytest.param(
            n,
            id=n.name,
            # slow: the conv equivalence cases of the default run (LIF, and
            # ALIF's two-part state) run the same model with gradients
            marks=pytest.mark.slow,
        )
        for n in NON_RECURRENT
    ],
)
def test_conv_hidden_shape_with_sumpool_and_flatten(neuron):
    rngs = nnx.Rngs(0)
    model = snn.Sequential(
        nnx.Conv(2, 4, kernel_size=(3, 3), rngs=rngs),
        neuron.make((8, 8, 4)),
        snn.SumPool(2),
        snn.Flatten(),
        nnx.Linear(4 * 4 * 4, 3, rngs=rngs),
        snn.LI((3,)),
    )
    xs = spiking_input(0, (6, 2, 8, 8, 2), scale=2.0)
    state = model.initial_state(2)
    assert state[1].shape == (2, 8, 8, 4 * neuron.parts)
    outs, final = snn.run(model, xs, state)
    assert outs.shape == (6, 2, 3)
    assert final[1].shape == state[1].shape
    grads = nnx.grad(lambda m: snn.run(m, xs)[0].sum())(model)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_sum_pool_values():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    out = snn.sum_pool(x, 2, 2, "VALID")
    np.testing.assert_allclose(out[0, :, :, 0], [[10, 18], [42, 50]])
    same = snn.sum_pool(x, (3, 3), 1, "SAME")
    assert same.shape == (1, 4, 4, 1)
    np.testing.assert_allclose(same[0, 0, 0, 0], 0 + 1 + 4 + 5)
    # channels are never pooled together, nor is the batch
    y = jnp.ones((2, 4, 4, 3))
    np.testing.assert_allclose(snn.SumPool(2)(y), 4 * jnp.ones((2, 2, 2, 3)))
    # channel-first layout
    z = jnp.ones((2, 3, 4, 4))
    assert snn.sum_pool(z, 2, 2, "VALID", channel_axis=1).shape == (2, 3, 2, 2)


def test_flatten_keeps_batch():
    assert snn.Flatten()(jnp.ones((5, 2, 3, 4))).shape == (5, 24)


def test_population_code_sums_groups():
    x = jnp.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    np.testing.assert_allclose(snn.PopulationCode(3)(x), [[3.0, 7.0, 11.0]])
    np.testing.assert_allclose(snn.PopulationCode(2)(x), [[6.0, 15.0]])


def test_activity_regularization_counts():
    layer = snn.ActivityRegularization((3,), batch_size=2)
    count = layer.initial_state()
    assert count.shape == (2, 3)
    s = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    out, count = layer(s, count)
    out, count = layer(s, count)
    np.testing.assert_array_equal(out, s)
    np.testing.assert_array_equal(count, 2 * s)


def test_default_parameters_follow_the_spec():
    lif = snn.LIF((1000,), rngs=nnx.Rngs(0))
    beta = np.asarray(lif.beta[...])
    assert beta.shape == (1000,)
    assert 0.0 <= beta.min() and beta.max() <= 1.0
    assert abs(beta.mean() - 0.5) < 0.03 and 0.18 < beta.std() < 0.25
    assert snn.LIF((4,), beta=0.9).beta[...].shape == ()
    assert isinstance(snn.LIF((4,), beta=0.9).beta, nnx.Param)
    np.testing.assert_allclose(snn.LI((3,)).beta[...], [0.8, 0.8, 0.8], rtol=1e-7)
    W = np.asarray(snn.RLIF((300,), rngs=nnx.Rngs(0)).recurrent_w[...])
    assert W.shape == (300, 300) and abs(W.std() - 0.0088) < 0.002
    assert snn.LIF((4,), beta=0.9).threshold == 1.0
    assert snn.IF((4,)).spike.__name__ == "superspike"


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_constructor_signatures_agree_and_show_the_defaults(neuron):
    """Both front ends take the same arguments with the same defaults, in
    the same order (NNX's keyword-only `rngs` is Equinox's `key`), and the
    default threshold written in the signature is the table's."""
    import inspect

    import spyx_eqx
    from spyx import core

    def arguments(cls, rng_name):
        params = inspect.signature(cls.__init__).parameters.values()
        return [
            (p.name, p.default, p.kind)
            for p in params
            if p.name not in ("self", rng_name)
        ]

    nnx_args = arguments(getattr(snn, neuron.spec.name), "rngs")
    eqx_args = arguments(getattr(spyx_eqx, neuron.spec.name), "key")
    assert nnx_args == eqx_args
    defaults = {name: default for name, default, _ in nnx_args}
    if neuron.spiking:
        assert defaults["threshold"] == core.THRESHOLD
        assert isinstance(defaults["threshold"], float)


def _imports(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_core_and_axn_do_not_import_flax():
    code = (
        "import sys, spyx, spyx.core, spyx.axn; "
        "print('flax' in sys.modules, 'equinox' in sys.modules)"
    )
    assert _imports(code) == "False False"


def test_lazy_submodule_access():
    assert _imports("import spyx; print(spyx.nn.LIF.__name__)") == "LIF"
