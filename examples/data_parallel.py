"""Train the digits network data-parallel, in one process or in several.

Every step's batch is split across all devices (of all processes); the
parameters are replicated, and the gradients are summed across devices by
`jax.jit`, so the result equals training on one device. Both APIs:
``--api nnx`` (spyx.nn, default) or ``--api eqx`` (spyx_eqx).

    # one process, 4 simulated CPU devices
    python examples/data_parallel.py --devices 4

    # two processes on this machine, 2 simulated CPU devices each
    python examples/data_parallel.py --devices 2 --coordinator 127.0.0.1:12345 \\
        --num-processes 2 --process-id 0 &
    python examples/data_parallel.py --devices 2 --coordinator 127.0.0.1:12345 \\
        --num-processes 2 --process-id 1

Each process prints its loss per epoch; process 0 prints the test accuracy.
Each process reads the same data and draws the same batch order; it hands
its own rows of each batch to `spyx.sharding.shard_batch`.
"""

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _args(argv: list[str] | None):
    p = common.parser((__doc__ or "").partition("\n")[0])
    p.add_argument("--api", choices=("nnx", "eqx"), default="nnx")
    p.add_argument(
        "--devices",
        type=int,
        default=None,
        help="simulate this many CPU devices per process (sets XLA_FLAGS)",
    )
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0")
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument(
        "--max-steps", type=int, default=None, help="stop after this many steps"
    )
    p.add_argument(
        "--dump", type=Path, default=None, help="write the final parameters (.npz)"
    )
    p.set_defaults(epochs=20, batch_size=64, no_plots=True)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = _args(argv)
    if args.devices:  # must precede the first JAX import
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={args.devices}"
        )
        os.environ.setdefault("JAX_PLATFORMS", "cpu")

    import jax
    import numpy as np

    import spyx

    pid, count = spyx.sharding.initialize(
        args.coordinator, args.num_processes, args.process_id
    )
    mesh = spyx.sharding.data_mesh()
    n_dev = jax.device_count()
    if args.batch_size % n_dev:
        raise SystemExit(
            f"--batch-size {args.batch_size} must be a multiple of {n_dev} devices"
        )
    data = common.load(args)
    trainer = (_nnx if args.api == "nnx" else _eqx)(args, data, mesh)

    def mine(rows: np.ndarray) -> np.ndarray:
        """This process's share of a batch's rows (process order)."""
        per = len(rows) // count
        return rows[pid * per : (pid + 1) * per]

    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)
    step, all_losses = 0, []
    for epoch in range(args.epochs):
        losses = []
        for idx in common.batches(len(data.y_train), args.batch_size, rng):
            key, sub = jax.random.split(key)
            own = mine(idx)
            x, y = spyx.sharding.shard_batch(
                (data.x_train[own], data.y_train[own]), mesh, batch_axes=0
            )
            losses.append(float(spyx.sharding.to_host(trainer.step(x, y, sub))))
            step += 1
            if args.max_steps is not None and step >= args.max_steps:
                break
        all_losses += losses
        print(f"process {pid}: epoch {epoch} loss {np.mean(losses):.5f}", flush=True)
        if args.max_steps is not None and step >= args.max_steps:
            break

    n_test = len(data.y_test) // n_dev * n_dev
    own = mine(np.arange(n_test))
    x, y = spyx.sharding.shard_batch(
        (data.x_test[own], data.y_test[own]), mesh, batch_axes=0
    )
    accuracy = float(spyx.sharding.to_host(trainer.accuracy(x, y)))
    if spyx.sharding.is_main_process():
        print(
            f"test accuracy: {accuracy:.4f} on {n_test} held-out examples, "
            f"{count} process(es), {n_dev} devices"
        )
    if args.dump is not None:
        params = spyx.sharding.to_host(trainer.params())
        # values typed Any: a checker matches `**flat` against savez's
        # `allow_pickle: bool` too
        flat: dict[str, Any] = {
            jax.tree_util.keystr(k): np.asarray(v)
            for k, v in jax.tree_util.tree_leaves_with_path(params)
        }
        np.savez(args.dump, losses=np.asarray(all_losses), **flat)
    return accuracy


class _nnx:
    def __init__(self, args, data, mesh):
        import jax
        import optax
        from flax import nnx

        import spyx
        import spyx.nn as snn

        rngs = nnx.Rngs(args.seed)
        self.model = snn.Sequential(
            nnx.Linear(data.x_train.shape[-1], args.hidden, rngs=rngs),
            snn.LIF((args.hidden,), rngs=rngs),
            nnx.Linear(args.hidden, data.num_classes, rngs=rngs),
            snn.LI((data.num_classes,)),
        )
        self.optimizer = nnx.Optimizer(self.model, optax.adam(args.lr), wrt=nnx.Param)
        spyx.sharding.replicate(self.model, mesh)
        spyx.sharding.replicate(self.optimizer, mesh)
        loss_fn = spyx.fn.integral_crossentropy(smoothing=0.1, time_axis=0)
        accuracy_fn = spyx.fn.integral_accuracy(time_axis=0)
        steps = args.steps

        @nnx.jit
        def train_step(model, optimizer, x, y, key):
            def loss_of(model):
                spikes = spyx.data.rate_code(x, steps, key=key)
                return loss_fn(snn.run(model, spikes)[0], y)

            loss, grads = nnx.value_and_grad(loss_of)(model)
            optimizer.update(model, grads)
            return loss

        @nnx.jit
        def accuracy(model, x, y):
            spikes = spyx.data.rate_code(x, steps, key=jax.random.key(12345))
            return accuracy_fn(snn.run(model, spikes)[0], y)[0]

        self._train, self._accuracy = train_step, accuracy

    def step(self, x, y, key):
        return self._train(self.model, self.optimizer, x, y, key)

    def accuracy(self, x, y):
        return self._accuracy(self.model, x, y)

    def params(self):
        from flax import nnx

        return nnx.to_pure_dict(nnx.state(self.model, nnx.Param))


class _eqx:
    def __init__(self, args, data, mesh):
        import equinox as eqx
        import jax
        import optax

        import spyx
        import spyx_eqx as se

        k = jax.random.split(jax.random.key(args.seed), 3)
        model = se.Sequential(
            [
                eqx.nn.Linear(data.x_train.shape[-1], args.hidden, key=k[0]),
                se.LIF((args.hidden,), key=k[1]),
                eqx.nn.Linear(args.hidden, data.num_classes, key=k[2]),
                se.LI((data.num_classes,)),
            ]
        )
        optim = optax.adam(args.lr)
        self.model = spyx.sharding.replicate(model, mesh)
        self.opt_state = spyx.sharding.replicate(
            optim.init(eqx.filter(model, eqx.is_inexact_array)), mesh
        )
        loss_fn = spyx.fn.integral_crossentropy(smoothing=0.1, time_axis=0)
        accuracy_fn = spyx.fn.integral_accuracy(time_axis=0)
        steps = args.steps

        @eqx.filter_jit
        def train_step(model, opt_state, x, y, key):
            def loss_of(model):
                spikes = spyx.data.rate_code(x, steps, key=key)
                return loss_fn(se.run(model, spikes)[0], y)

            loss, grads = eqx.filter_value_and_grad(loss_of)(model)
            params = eqx.filter(model, eqx.is_inexact_array)
            updates, opt_state = optim.update(grads, opt_state, params)
            return eqx.apply_updates(model, updates), opt_state, loss

        @eqx.filter_jit
        def accuracy(model, x, y):
            spikes = spyx.data.rate_code(x, steps, key=jax.random.key(12345))
            return accuracy_fn(se.run(model, spikes)[0], y)[0]

        self._train, self._accuracy = train_step, accuracy

    def step(self, x, y, key):
        self.model, self.opt_state, loss = self._train(
            self.model, self.opt_state, x, y, key
        )
        return loss

    def accuracy(self, x, y):
        return self._accuracy(self.model, x, y)

    def params(self):
        import equinox as eqx

        return eqx.filter(self.model, eqx.is_inexact_array)


if __name__ == "__main__":
    main()
