"""Quick start: a spiking network on Flax NNX, run over time and checked
against the closed-form firing rate of an integrate-and-fire neuron.

An IF neuron driven by a constant current ``c`` (threshold 1, subtractive
reset) fires ``c`` spikes per step in the long run (a little fewer over a
finite window, since the first spike needs the membrane to pass 1). This
script runs such neurons for 200 steps and prints the measured rates next to
the prediction, then trains a small LIF network for 20 steps.
"""

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import spyx.nn as snn


def main() -> None:
    T, currents = 200, jnp.array([0.05, 0.125, 0.25, 0.5])
    neuron = snn.IF((4,))
    x = jnp.broadcast_to(currents, (T, 1, 4))
    spikes, _ = snn.run(neuron, x)
    rates = spikes.mean(axis=(0, 1))
    print("IF neuron, constant input current -> firing rate (spikes/step)")
    for c, r in zip(currents.tolist(), rates.tolist(), strict=True):
        print(f"  current {c:5.3f}: measured {r:.3f}, long-run prediction {c:.3f}")

    model = snn.Sequential(
        nnx.Linear(8, 32, rngs=nnx.Rngs(0)),
        snn.LIF((32,), rngs=nnx.Rngs(1)),
        nnx.Linear(32, 2, rngs=nnx.Rngs(2)),
        snn.LI((2,)),
    )
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    data = jax.random.bernoulli(jax.random.key(0), 0.3, (50, 16, 8)).astype(float)
    labels = (data[:, :, :4].sum((0, 2)) > data[:, :, 4:].sum((0, 2))).astype(int)

    @nnx.jit
    def train_step(model, optimizer, data):
        def loss_fn(model):
            traces, _ = snn.run(model, data)
            logits = traces.sum(0)
            return optax.softmax_cross_entropy_with_integer_labels(
                logits, labels
            ).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer, data)) for _ in range(20)]
    print(f"LIF network, 20 Adam steps: loss {losses[0]:.3f} -> {losses[-1]:.3f}")


if __name__ == "__main__":
    main()
