"""Train a spiking network with spyx_eqx (Equinox) on handwritten digits.

The same network, data and training as `digits_nnx.py`, written the Equinox
way: modules act on one example and `jax.vmap` makes the batch;
`eqx.filter_jit`, `eqx.filter_value_and_grad` and `eqx.apply_updates` train.

    python examples/digits_eqx.py
    python examples/digits_eqx.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

clock = common.Clock()

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from tqdm import tqdm  # noqa: E402

import spyx.data  # noqa: E402
import spyx.fn  # noqa: E402
import spyx_eqx as se  # noqa: E402


def build(num_in: int, hidden: int, num_out: int, seed: int) -> se.Sequential:
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return se.Sequential(
        eqx.nn.Linear(num_in, hidden, key=k1),
        se.LIF((hidden,), key=k2),
        eqx.nn.Linear(hidden, num_out, key=k3),
        se.LI((num_out,)),
    )


def main(argv: list[str] | None = None) -> float:
    args = common.parser((__doc__ or "").partition("\n")[0]).parse_args(argv)
    data = common.load(args)
    num_in = data.x_train.shape[-1]
    model = build(num_in, args.hidden, data.num_classes, args.seed)
    steps_per_epoch = len(data.y_train) // args.batch_size
    schedule = optax.cosine_decay_schedule(args.lr, args.epochs * steps_per_epoch)
    optim = optax.adam(schedule)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))
    loss_fn = spyx.fn.integral_crossentropy(smoothing=0.1, time_axis=0)
    accuracy_fn = spyx.fn.integral_accuracy(time_axis=0)

    def encode(x, key):
        if data.spikes:
            return jnp.swapaxes(x, 0, 1)
        return spyx.data.rate_code(x, args.steps, key=key)  # [T, B, features]

    def run_batch(model, spikes):
        # one example at a time, mapped over the batch axis 1
        return jax.vmap(lambda s: se.run(model, s), in_axes=1, out_axes=(1, 0))(spikes)

    def run_recorded(model, spikes):
        # ... and the LIF's spikes and states, recorded in the same run
        def one(s):
            return se.run(model, s, record=[1])

        return jax.vmap(one, in_axes=1, out_axes=(1, 0, 1))(spikes)

    @eqx.filter_jit
    def train_step(model, opt_state, x, y, key):
        def loss_of(model):
            traces, _ = run_batch(model, encode(x, key))
            return loss_fn(traces, y)

        loss, grads = eqx.filter_value_and_grad(loss_of)(model)
        updates, opt_state = optim.update(
            grads, opt_state, eqx.filter(model, eqx.is_array)
        )
        return eqx.apply_updates(model, updates), opt_state, loss

    @eqx.filter_jit
    def evaluate(model, x, y, key):
        spikes = encode(x, key)
        traces, _, records = run_recorded(model, spikes)
        acc, _ = accuracy_fn(traces, y)
        return acc, records[1].output

    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)
    test_key = jax.random.key(args.seed + 1)
    losses, accs = [], []
    bar = tqdm(range(args.epochs), desc=f"spyx_eqx on {data.name}", unit="epoch")
    for _ in bar:
        epoch_losses = []
        for idx in common.batches(len(data.y_train), args.batch_size, rng):
            key, sub = jax.random.split(key)
            model, opt_state, loss = train_step(
                model, opt_state, data.x_train[idx], data.y_train[idx], sub
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
            "digits_eqx",
            np.asarray(hidden[:, 0]),
            int(data.y_test[0]),
            losses,
            accs,
        )
        print("plots written to: " + ", ".join(str(p) for p in paths))
    return accs[-1]


if __name__ == "__main__":
    main()
