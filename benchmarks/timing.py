"""What the spike timing costs: each neuron that chooses it, in a chain
Linear(700, H) -> neuron -> Linear(H, 20) -> LI, with the spike before the
update (spyx's default, the reference) and after it
(``spikes_after_update=True``), layer by layer (the sequence kernels, then
one shift) and step by step, in a training step (forward + backward,
integral cross-entropy) and in inference.

Medians of round-robin timings in one process, the ratio after / before,
and compile seconds of the training step.

    python benchmarks/timing.py                   # T=500, B=32, H=256
    python benchmarks/timing.py --shape 100,64,128 --repeats 20
"""

import argparse

from harness import compile_, interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="500,32,256", help="T,B,H")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--neurons", default="LIF,ALIF,CuBaLIF,RLIF")
    args = parser.parse_args()
    T, B, H = (int(v) for v in args.shape.split(","))

    import jax
    import jax.numpy as jnp
    from flax import nnx

    import spyx
    import spyx.nn as snn

    x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, 700)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (B,), 0, 20)
    ce = spyx.fn.integral_crossentropy(time_axis=0)
    rows, calls = [], []
    for name in args.neurons.split(","):
        cls = getattr(snn, name)
        for layerwise in (True, False):
            for after in (False, True):
                model = snn.Sequential(
                    nnx.Linear(700, H, rngs=nnx.Rngs(0)),
                    cls((H,), spikes_after_update=after, rngs=nnx.Rngs(1)),
                    nnx.Linear(H, 20, rngs=nnx.Rngs(2)),
                    snn.LI((20,)),
                )
                graphdef, params = nnx.split(model)

                def loss(p, x, lw=layerwise, g=graphdef):
                    return ce(snn.run(nnx.merge(g, p), x, layerwise=lw)[0], y)

                def infer(p, x, lw=layerwise, g=graphdef):
                    return snn.run(nnx.merge(g, p), x, layerwise=lw)[0]

                train, train_s = compile_(jax.value_and_grad(loss), (params, x))
                fwd, _ = compile_(infer, (params, x))
                rows.append((name, layerwise, after, train_s))
                calls += [(train, (params, x)), (fwd, (params, x))]
    ms = interleaved(calls, args.repeats)
    print(f"T={T} B={B} H={H}, medians of {args.repeats} ({jax.devices()[0].platform})")
    print(
        "| neuron | execution | timing | fwd+bwd ms | x before | fwd ms | x before "
        "| compile s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for i, (name, layerwise, after, train_s) in enumerate(rows):
        ref = i - 1 if after else i  # the same neuron and execution, before
        how = "layer by layer" if layerwise else "step by step"
        when = "after" if after else "before"
        print(
            f"| {name} | {how} | {when} | {ms[2 * i]:.1f} "
            f"| {ms[2 * i] / ms[2 * ref]:.2f} | {ms[2 * i + 1]:.1f} "
            f"| {ms[2 * i + 1] / ms[2 * ref + 1]:.2f} | {train_s:.2f} |"
        )


if __name__ == "__main__":
    main()
