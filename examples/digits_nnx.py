"""Train a spiking network with spyx.nn (Flax NNX) on handwritten digits.

The 8x8 digits that ship with scikit-learn are rate-coded into spike trains
(a fresh Bernoulli draw each batch) and fed to Linear -> LIF -> Linear -> LI;
the loss is the cross-entropy of the readout summed over time. Prints the
test accuracy on a held-out 20% and the network's efficiency metrics
(NeuroBench's, `spyx.metrics`), and writes a spike raster of the hidden
layer (recorded in the same run) and the training curves as PNG files.

    python examples/digits_nnx.py            # about 98% in well under a minute
    python examples/digits_nnx.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

clock = common.Clock()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402
from tqdm import tqdm  # noqa: E402

import spyx  # noqa: E402
import spyx.nn as snn  # noqa: E402


def build(num_in: int, hidden: int, num_out: int, seed: int) -> snn.Sequential:
    rngs = nnx.Rngs(seed)
    return snn.Sequential(
        nnx.Linear(num_in, hidden, rngs=rngs),
        snn.LIF((hidden,), rngs=rngs),
        nnx.Linear(hidden, num_out, rngs=rngs),
        snn.LI((num_out,)),
    )


def main(argv: list[str] | None = None) -> float:
    args = common.parser((__doc__ or "").partition("\n")[0]).parse_args(argv)
    data = common.load(args)
    num_in = data.x_train.shape[-1]
    model = build(num_in, args.hidden, data.num_classes, args.seed)
    steps_per_epoch = len(data.y_train) // args.batch_size
    schedule = optax.cosine_decay_schedule(args.lr, args.epochs * steps_per_epoch)
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
    loss_fn = spyx.fn.integral_crossentropy(smoothing=0.1, time_axis=0)
    accuracy_fn = spyx.fn.integral_accuracy(time_axis=0)

    def encode(x, key):
        if data.spikes:
            return jnp.swapaxes(x, 0, 1)  # [B, T, units] -> [T, B, units]
        return spyx.data.rate_code(x, args.steps, key=key)

    @nnx.jit
    def train_step(model, optimizer, x, y, key):
        def loss_of(model):
            traces, _ = snn.run(model, encode(x, key))
            return loss_fn(traces, y)

        loss, grads = nnx.value_and_grad(loss_of)(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def evaluate(model, x, y, key):
        spikes = encode(x, key)
        traces, _, records = snn.run(model, spikes, record=[1])  # the LIF's too
        acc, _ = accuracy_fn(traces, y)
        return acc, records[1].output

    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)
    test_key = jax.random.key(args.seed + 1)
    losses, accs = [], []
    bar = tqdm(range(args.epochs), desc=f"spyx.nn on {data.name}", unit="epoch")
    for _ in bar:
        epoch_losses = []
        for idx in common.batches(len(data.y_train), args.batch_size, rng):
            key, sub = jax.random.split(key)
            loss = train_step(
                model, optimizer, data.x_train[idx], data.y_train[idx], sub
            )
            epoch_losses.append(loss)
        acc, _ = evaluate(model, data.x_test, data.y_test, test_key)
        losses.append(float(np.mean(epoch_losses)))
        accs.append(float(acc))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", test_acc=f"{accs[-1]:.3f}")

    print(f"test accuracy: {accs[-1]:.4f} on {len(data.y_test)} held-out examples")
    print(f"wall time: {clock():.1f} s (imports and compilation included)")
    print(spyx.metrics.report(model, encode(data.x_test, test_key)))
    if not args.no_plots:
        _, hidden = evaluate(model, data.x_test, data.y_test, test_key)  # the raster
        paths = common.plot(
            args.out,
            "digits_nnx",
            np.asarray(hidden[:, 0]),
            int(data.y_test[0]),
            losses,
            accs,
        )
        print("plots written to: " + ", ".join(str(p) for p in paths))
    return accs[-1]


if __name__ == "__main__":
    main()
