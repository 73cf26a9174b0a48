"""A script in spyx 1.0's style, which runs here unchanged.

It uses the calls spyx 1.0 users write: batch-major data through
``spyx.nn.run(..., batch_major=True)``, `spyx.data.shuffler` and
`spyx.data.shift_augment` for batches and augmentation, a neuron's `spike`
attribute, and NIR in 1.0's form: ``to_nir(model, {"input": shape},
{"output": shape}, dt)`` and ``model, out = from_nir(graph, x, dt)``.

    python examples/spyx1_style.py
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import spyx
import spyx.nir
import spyx.nn as snn


def main(steps: int = 30) -> float:
    key = jax.random.key(0)
    # 256 examples of 40 steps and 16 channels, batch-major [B, T, C]; the
    # class is which half of the channels fires more often.
    y = jax.random.randint(key, (256,), 0, 2)
    half = (jnp.arange(16) >= 8).astype(jnp.int32)
    rates = jnp.where(half == y[:, None, None], 0.3, 0.1)  # [B, 1, C]
    x = jax.random.bernoulli(jax.random.key(1), rates, (256, 40, 16)).astype(float)

    model = snn.Sequential(
        nnx.Linear(16, 32, rngs=nnx.Rngs(0)),
        snn.LIF((32,), activation=spyx.axn.arctan(), rngs=nnx.Rngs(1)),
        nnx.Linear(32, 2, rngs=nnx.Rngs(2)),
        snn.LI((2,)),
    )
    assert isinstance(model, snn.StatefulLayer)
    lif = model.layers[1]
    assert isinstance(lif, snn.LIF) and lif.spike == spyx.axn.arctan()  # 1.0's name
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    loss_fn = spyx.fn.integral_crossentropy()  # batch-major: time_axis=1
    acc_fn = spyx.fn.integral_accuracy()
    shuffle = spyx.data.shuffler((x, y), batch_size=32)
    augment = spyx.data.shift_augment(max_shift=2, axes=(-1,))

    @nnx.jit
    def train_step(model, optimizer, xb, yb):
        def loss(model):
            traces, _ = snn.run(model, xb, batch_major=True)  # [B, T, 2]
            return loss_fn(traces, yb)

        value, grads = nnx.value_and_grad(loss)(model)
        optimizer.update(model, grads)
        return value

    for step in range(steps):
        key, shuffle_key, shift_key = jax.random.split(key, 3)
        xs, ys = shuffle((x, y), shuffle_key)  # [batches, 32, T, C]
        value = train_step(model, optimizer, augment(xs[0], shift_key), ys[0])
        if step % 10 == 0:
            print(f"step {step:3d}  loss {float(value):.3f}")

    traces, _ = snn.run(model, x, batch_major=True)
    acc, _ = acc_fn(traces, y)
    print(f"training-set accuracy: {float(acc):.3f}")

    graph = spyx.nir.to_nir(model, {"input": (16,)}, {"output": (2,)}, 1.0)
    imported, out = spyx.nir.from_nir(graph, jnp.swapaxes(x, 0, 1), 1.0)
    same = jnp.allclose(jnp.swapaxes(out, 0, 1), traces, rtol=1e-4, atol=1e-4)
    print(f"NIR nodes: {sorted(graph.nodes)}; imported model agrees: {bool(same)}")
    if not same:
        raise SystemExit("the model imported from NIR gives other outputs")
    return float(acc)


if __name__ == "__main__":
    main()
