"""Losses, metrics and regularisers against hand-computed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import spyx.fn as fn
import spyx.nn as snn

# two examples, three steps, two classes: [B, T, C]
TRACES = jnp.array(
    [
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],  # sums (2, 1)
        [[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]],  # sums (0, 2)
    ]
)
TARGETS = jnp.array([0, 0])


def _ce(logits, probs):
    logz = math.log(sum(math.exp(v) for v in logits))
    return -sum(p * (v - logz) for v, p in zip(logits, probs, strict=True))


def test_integral_crossentropy_by_hand():
    # smoothing 0.3 over 2 classes: labels (0.85, 0.15) for class 0
    expected = (_ce([2, 1], [0.85, 0.15]) + _ce([0, 2], [0.85, 0.15])) / 2
    got = fn.integral_crossentropy()(TRACES, TARGETS)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    no_smooth = fn.integral_crossentropy(smoothing=0.0)(TRACES, TARGETS)
    np.testing.assert_allclose(
        no_smooth, (_ce([2, 1], [1, 0]) + _ce([0, 2], [1, 0])) / 2, rtol=1e-6
    )


def test_time_major_traces_with_time_axis_0():
    tm = jnp.swapaxes(TRACES, 0, 1)
    np.testing.assert_allclose(
        fn.integral_crossentropy(time_axis=0)(tm, TARGETS),
        fn.integral_crossentropy()(TRACES, TARGETS),
        rtol=1e-7,
    )
    acc, preds = fn.integral_accuracy(time_axis=0)(tm, TARGETS)
    assert float(acc) == 0.5 and preds.tolist() == [0, 1]


def test_integral_accuracy_by_hand():
    acc, preds = fn.integral_accuracy()(TRACES, jnp.array([0, 1]))
    assert float(acc) == 1.0 and preds.tolist() == [0, 1]


def test_mse_spikerate_by_hand():
    # means over time (2/3, 1/3) and (0, 2/3); targets one-hot * 0.25 * 3
    m = np.array([[2 / 3, 1 / 3], [0, 2 / 3]])
    t = np.array([[0.75, 0.0], [0.75, 0.0]])
    np.testing.assert_allclose(
        fn.mse_spikerate()(TRACES, TARGETS), np.mean((m - t) ** 2), rtol=1e-6
    )


def test_silence_and_sparsity_regularisers_by_hand():
    counts = {
        "a": jnp.array([[0.0, 4.0], [2.0, 4.0]]),
        "b": jnp.array([[[1.0]], [[1.0]]]),
    }
    # means over batch: a -> (1, 4), b -> (1); min 3: (2^2 + 0) + 2^2 = 8
    np.testing.assert_allclose(fn.silence_reg(3.0)(counts), 8.0)
    # means over neurons: a -> (2, 3), b -> (1, 1); max 2.5: huber(0)+huber(0.5)
    expected = float(optax.huber_loss(jnp.array(0.5)))
    np.testing.assert_allclose(fn.sparsity_reg(2.5)(counts), expected, rtol=1e-6)
    np.testing.assert_allclose(
        fn.sparsity_reg(1.0, norm=jnp.abs)(counts), (1 + 2) + (0 + 0), rtol=1e-6
    )


def test_time_major_traces_with_the_default_axis_is_caught():
    traces = jnp.zeros((25, 4, 10))  # [T, B, C] from run
    labels = jnp.zeros((4,), jnp.int32)
    for f in (fn.integral_crossentropy(), fn.integral_accuracy(), fn.mse_spikerate()):
        with pytest.raises(
            ValueError,
            match=r"\(4,\) does not match `traces` shape "
            r"\(25, 4, 10\) with time_axis=1.*pass time_axis=0",
        ):
            f(traces, labels)


def test_other_shape_errors():
    with pytest.raises(ValueError, match=r"`targets` must be integer class labels"):
        fn.integral_crossentropy()(TRACES, jnp.ones((2, 2)))
    with pytest.raises(
        ValueError, match=r"`time_axis`=2 is out of range: it must name an axis"
    ):
        fn.integral_accuracy(time_axis=2)(TRACES, TARGETS)
    with pytest.raises(ValueError, match=r"same batch size"):
        fn.silence_reg(1.0)([jnp.ones((2, 3)), jnp.ones((3, 3))])


LABELLED = {
    "integral_crossentropy": lambda: fn.integral_crossentropy(),
    "integral_accuracy": lambda: lambda t, y: fn.integral_accuracy()(t, y)[0],
    "mse_spikerate": lambda: fn.mse_spikerate(),
}


@pytest.mark.parametrize("name", LABELLED)
@pytest.mark.parametrize("labels", [[1, 2], [0, -1]], ids=["from-one", "negative"])
def test_labels_outside_the_classes_are_refused_or_nan(name, labels):
    """Two classes: label 2 (counted from 1) or -1 would be a row of zeros
    in one_hot and a plausible loss. Given as values they are refused;
    traced (inside a jitted step) the result is NaN."""
    f = LABELLED[name]()
    with pytest.raises(ValueError, match=rf"{name}: labels must lie in \[0, 2\)"):
        f(TRACES, jnp.array(labels))
    assert jnp.isnan(jax.jit(f)(TRACES, jnp.array(labels)))
    assert not jnp.isnan(jax.jit(f)(TRACES, TARGETS))


def test_regularised_training_step_uses_the_counts_from_run():
    model = snn.Sequential(
        nnx.Linear(4, 8, rngs=nnx.Rngs(0)),
        snn.LIF((8,), rngs=nnx.Rngs(1)),
        snn.ActivityRegularization((8,)),
        nnx.Linear(8, 2, rngs=nnx.Rngs(2)),
        snn.LI((2,)),
    )
    x = 2.0 * jax.random.uniform(jax.random.key(0), (20, 6, 4))
    y = jnp.array([0, 1, 0, 1, 0, 1])
    ce = fn.integral_crossentropy(time_axis=0)
    silence, sparsity = fn.silence_reg(2.0), fn.sparsity_reg(1.0)
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        def loss_fn(model):
            traces, final = snn.run(model, x)
            counts = final[2]
            return ce(traces, y) + 0.1 * silence(counts) + 0.1 * sparsity(
                counts
            ), counts

        (loss, counts), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
        optimizer.update(model, grads)
        return loss, counts

    loss, counts = step(model, optimizer)
    hidden = snn.run(snn.Sequential(*model.layers[:2]), x)  # after the update
    assert counts.shape == (6, 8) and float(counts.sum()) > 0
    assert jnp.isfinite(loss)
    assert hidden[0].shape == (20, 6, 8)
