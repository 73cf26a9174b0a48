"""What a `Graph` costs: the same chain as a `Sequential` and as a `Graph`,
a residual block, and a feedback network, each layer by layer and step by
step, in a training step (forward + backward) and in inference.

Networks (input 700, hidden H, 20 outputs, integral cross-entropy):

- ``chain``: Linear -> LIF -> Linear -> LI, as `Sequential` (the reference)
  and as `Graph`;
- ``residual``: Linear -> LIF_a -> Linear -> LIF_b, LIF_a + LIF_b summed
  into the readout (no cycle: every node runs over the whole sequence);
- ``feedback``: the chain with feedback LIF_b -> Linear -> LIF_a (one
  cycle of two neurons: layer by layer, the cycle runs step by step).

Medians of round-robin timings in one process, and compile seconds.

    python benchmarks/graph.py                    # T=500, B=32, H=256
    python benchmarks/graph.py --shape 100,64,128 --repeats 20
"""

import argparse

from harness import compile_, interleaved


def networks(H: int) -> dict:
    from flax import nnx

    import spyx.nn as snn

    def parts():
        rngs = nnx.Rngs(0)
        return {
            "fc1": nnx.Linear(700, H, rngs=rngs),
            "a": snn.LIF((H,), beta=0.9),
            "fc2": nnx.Linear(H, H, rngs=rngs),
            "b": snn.LIF((H,), beta=0.9),
            "back": nnx.Linear(H, H, use_bias=False, rngs=rngs),
            "ro": nnx.Linear(H, 20, rngs=rngs),
            "li": snn.LI((20,)),
        }

    p = parts()
    chain = snn.Sequential(p["fc1"], p["a"], p["ro"], p["li"])
    p = parts()
    tail = [("ro", "li"), ("li", "output")]
    as_graph = snn.Graph(
        {k: p[k] for k in ("fc1", "a", "ro", "li")},
        [("input", "fc1"), ("fc1", "a"), ("a", "ro"), *tail],
    )
    deep = [("input", "fc1"), ("fc1", "a"), ("a", "fc2"), ("fc2", "b")]
    p = parts()
    residual = snn.Graph(
        {k: p[k] for k in ("fc1", "a", "fc2", "b", "ro", "li")},
        [*deep, ("a", "ro"), ("b", "ro"), *tail],
    )
    p = parts()
    feedback = snn.Graph(p, [*deep, ("b", "back"), ("back", "a"), ("b", "ro"), *tail])
    return {
        "chain (Sequential)": chain,
        "chain (Graph)": as_graph,
        "residual": residual,
        "feedback": feedback,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="500,32,256", help="T,B,H")
    parser.add_argument("--repeats", type=int, default=15)
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
    for name, model in networks(H).items():
        graphdef, params = nnx.split(model)
        for layerwise in (True, False):

            def loss(p, x, layerwise=layerwise, graphdef=graphdef):
                out, _ = snn.run(nnx.merge(graphdef, p), x, layerwise=layerwise)
                return ce(out, y)

            def infer(p, x, layerwise=layerwise, graphdef=graphdef):
                return snn.run(nnx.merge(graphdef, p), x, layerwise=layerwise)[0]

            train, train_s = compile_(jax.value_and_grad(loss), (params, x))
            fwd, _ = compile_(infer, (params, x))
            rows.append((name, layerwise, train_s))
            calls += [(train, (params, x)), (fwd, (params, x))]
    ms = interleaved(calls, args.repeats)
    platform = jax.devices()[0].platform
    print(f"T={T} B={B} H={H}, medians of {args.repeats} ({platform})")
    print("| network | execution | fwd+bwd ms | fwd ms | compile s (train) |")
    print("|---|---|---:|---:|---:|")
    for i, (name, layerwise, train_s) in enumerate(rows):
        how = "layer by layer" if layerwise else "step by step"
        print(
            f"| {name} | {how} | {ms[2 * i]:.1f} | {ms[2 * i + 1]:.1f} "
            f"| {train_s:.2f} |"
        )


if __name__ == "__main__":
    main()
