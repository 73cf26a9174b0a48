"""Training-step and inference cost of every neuron, against the matmul floor.

The network is Linear(700, H) -> NEURON(H) -> Linear(H, 20) -> LI(20) with an
integral cross-entropy, run with `spyx.nn.run` (or `spyx_eqx.run` with
``--api eqx``). The floor is the same two matmuls and spike function with no
recurrence at all. For each neuron: the median forward + backward time and
its ratio to the floor, the median forward-only (inference) time and its
ratio to the forward-only floor, and the compile time of the training step.
With ``--autodiff``, each neuron that has a sequence kernel is also timed
through autodiff of the plain scan of its step (the kernel switched off), to
show what the kernel saves.

Every shape runs in a process of its own; within it, the floor and all the
neurons are timed round-robin, `--repeats` times, so that drifts of the
machine hit every row alike.

With ``--api both``, every neuron runs through both front ends in the same
process, timed round-robin, and the table gives the `spyx_eqx` time as a
multiple of the `spyx.nn` time (the two run the same core, so this is what
the front ends themselves cost).

    python benchmarks/per_neuron.py                  # spyx.nn, both shapes
    python benchmarks/per_neuron.py --api eqx
    python benchmarks/per_neuron.py --api both       # spyx_eqx / spyx.nn
    python benchmarks/per_neuron.py --shape 100,64,128 --autodiff
"""

import argparse
import dataclasses
import subprocess
import sys

from harness import compile_, interleaved

SHAPES = [(100, 64, 128), (1000, 16, 256)]


def _rows(T: int, B: int, H: int, api: str, autodiff: bool):
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import spyx
    import spyx.nn as snn
    import spyx_eqx
    from spyx import core

    x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, 700)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (B,), 0, 20)
    ce = spyx.fn.integral_crossentropy(time_axis=0)
    spike = spyx.axn.superspike()
    rngs = nnx.Rngs(0)
    lin1, lin2 = nnx.Linear(700, H, rngs=rngs), nnx.Linear(H, 20, rngs=rngs)
    floor_params = {
        "k1": lin1.kernel[...],
        "b1": lin1.bias[...],
        "k2": lin2.kernel[...],
        "b2": lin2.bias[...],
    }

    def floor_out(p, x):
        s = spike(x @ p["k1"] + p["b1"] - 1.0)
        return s @ p["k2"] + p["b2"]

    rows = [("floor (no recurrence)", floor_out, floor_params)]

    def variant(cls, api=api):
        model = snn.Sequential(lin1, cls((H,), rngs=nnx.Rngs(1)), lin2, snn.LI((20,)))
        if api == "nnx":
            graphdef, params = nnx.split(model)

            def out(p, x):
                return snn.run(nnx.merge(graphdef, p), x)[0]

            return out, params
        emodel = spyx_eqx.from_nnx(model)
        params, static = eqx.partition(emodel, eqx.is_array)
        state = emodel.initial_state(B)

        def out(p, x):
            return spyx_eqx.run(eqx.combine(p, static), x, state)[0]

        return out, params

    for spec in core.NEURONS:
        if not spec.spiking:
            continue
        cls = snn.nnx_class(spec)
        if api == "both":
            rows.append((f"{spec.name} [nnx]", *variant(cls, "nnx")))
            rows.append((f"{spec.name} [eqx]", *variant(cls, "eqx")))
            continue
        rows.append((spec.name, *variant(cls)))
        if autodiff and spec.sequence is not None and not spec.parallel:
            plain = type(
                f"{spec.name}Scan",
                (cls,),
                {"spec": dataclasses.replace(spec, sequence=None)},
            )
            rows.append((f"{spec.name} (autodiff scan)", *variant(plain)))

    def train(out):
        return jax.jit(jax.grad(lambda p, x: ce(out(p, x), y)))

    def infer(out):
        return jax.jit(out)

    return x, rows, train, infer


def one_shape(T: int, B: int, H: int, api: str, repeats: int, autodiff: bool):
    x, rows, train, infer = _rows(T, B, H, api, autodiff)
    trained = [compile_(train(out), (p, x)) for _, out, p in rows]
    inferred = [compile_(infer(out), (p, x)) for _, out, p in rows]
    calls = [(c, (p, x)) for (c, _), (_, _, p) in zip(trained, rows, strict=True)]
    calls += [(c, (p, x)) for (c, _), (_, _, p) in zip(inferred, rows, strict=True)]
    medians = interleaved(calls, repeats)
    n = len(rows)
    step_ms, fwd_ms = medians[:n], medians[n:]
    if api == "both":  # rows: floor, then [nnx], [eqx] per neuron
        for i in range(1, n, 2):
            name = rows[i][0].removesuffix(" [nnx]")
            print(
                f"| {T}, {B}, {H} | {name} | {step_ms[i]:.1f} | "
                f"{step_ms[i + 1]:.1f} | {step_ms[i + 1] / step_ms[i]:.2f} | "
                f"{fwd_ms[i]:.1f} | {fwd_ms[i + 1]:.1f} | "
                f"{fwd_ms[i + 1] / fwd_ms[i]:.2f} |",
                flush=True,
            )
        return
    for i, (name, _, _) in enumerate(rows):
        print(
            f"| {T}, {B}, {H} | {name} | {step_ms[i]:.1f} | "
            f"{step_ms[i] / step_ms[0]:.2f} | {fwd_ms[i]:.1f} | "
            f"{fwd_ms[i] / fwd_ms[0]:.2f} | {trained[i][1]:.2f} |",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", choices=("nnx", "eqx", "both"), default="nnx")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--shape", default=None, help="T,B,H (default: both shapes)")
    p.add_argument("--autodiff", action="store_true")
    p.add_argument("--header", action=argparse.BooleanOptionalAction, default=True)
    args = p.parse_args()
    if args.header:
        import jax

        print(
            f"jax {jax.__version__} on {jax.devices()[0].device_kind}, api "
            f"{args.api}, median of {args.repeats} runs\n"
        )
        if args.api == "both":
            print(
                "| T, B, H | neuron | nnx fwd+bwd ms | eqx fwd+bwd ms | eqx / nnx "
                "| nnx fwd ms | eqx fwd ms | eqx / nnx |"
            )
            print("|---|---|---|---|---|---|---|---|")
        else:
            print(
                "| T, B, H | neuron | fwd+bwd ms | x floor | fwd ms | x floor "
                "| compile s |"
            )
            print("|---|---|---|---|---|---|---|")
        sys.stdout.flush()
    if args.shape is not None:
        T, B, H = (int(v) for v in args.shape.split(","))
        one_shape(T, B, H, args.api, args.repeats, args.autodiff)
        return
    for T, B, H in SHAPES:  # one process per shape
        command = [
            sys.executable,
            __file__,
            "--api",
            args.api,
            "--repeats",
            str(args.repeats),
            "--shape",
            f"{T},{B},{H}",
            "--no-header",
        ]
        if args.autodiff:
            command.append("--autodiff")
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
