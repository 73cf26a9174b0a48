"""What recording costs: a training step (forward + backward, integral
cross-entropy plus a firing-rate term) and inference of the chain
Linear(700, H) -> neuron -> Linear(H, H) -> neuron -> Linear(H, 20) -> LI,
without recording (the reference) and recording every layer
(``run(..., record="all")``: each layer's outputs and states at every step;
the loss reads the spikes of both spiking layers), layer by layer and step
by step.

Medians of round-robin timings in one process, the ratio recording / not,
and compile seconds of the training step.

    python benchmarks/recording.py                   # T=500, B=32, H=256
    python benchmarks/recording.py --shape 100,64,128 --repeats 20
"""

import argparse

from harness import compile_, interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="500,32,256", help="T,B,H")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--neurons", default="LIF,CuBaLIF")
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
            for record in (None, "all"):
                model = snn.Sequential(
                    nnx.Linear(700, H, rngs=nnx.Rngs(0)),
                    cls((H,), rngs=nnx.Rngs(1)),
                    nnx.Linear(H, H, rngs=nnx.Rngs(2)),
                    cls((H,), rngs=nnx.Rngs(3)),
                    nnx.Linear(H, 20, rngs=nnx.Rngs(4)),
                    snn.LI((20,)),
                )
                graphdef, params = nnx.split(model)

                def loss(p, x, lw=layerwise, g=graphdef, rec=record):
                    m = nnx.merge(g, p)
                    if rec is None:
                        return ce(snn.run(m, x, layerwise=lw)[0], y)
                    outs, _, records = snn.run(m, x, layerwise=lw, record=rec)
                    rate = records[1].output.mean() + records[3].output.mean()
                    return ce(outs, y) + 1e-3 * rate

                def infer(p, x, lw=layerwise, g=graphdef, rec=record):
                    m = nnx.merge(g, p)
                    if rec is None:
                        return snn.run(m, x, layerwise=lw)[0]
                    return snn.run(m, x, layerwise=lw, record=rec)

                train, train_s = compile_(jax.value_and_grad(loss), (params, x))
                fwd, _ = compile_(infer, (params, x))
                rows.append((name, layerwise, record, train_s))
                calls += [(train, (params, x)), (fwd, (params, x))]
    ms = interleaved(calls, args.repeats)
    print(f"T={T} B={B} H={H}, medians of {args.repeats} ({jax.devices()[0].platform})")
    print(
        "| neuron | execution | record | fwd+bwd ms | x none | fwd ms | x none "
        "| compile s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for i, (name, layerwise, record, train_s) in enumerate(rows):
        ref = i - 1 if record else i  # the same neuron and execution, no record
        how = "layer by layer" if layerwise else "step by step"
        print(
            f"| {name} | {how} | {record or 'none'} | {ms[2 * i]:.1f} "
            f"| {ms[2 * i] / ms[2 * ref]:.2f} | {ms[2 * i + 1]:.1f} "
            f"| {ms[2 * i + 1] / ms[2 * ref + 1]:.2f} | {train_s:.2f} |"
        )


if __name__ == "__main__":
    main()
