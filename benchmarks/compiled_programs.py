"""A fingerprint of every neuron's compiled training step, to show that a
change of the code's shape left what runs alone.

For each neuron, the chain Linear(70, 16) -> NEURON -> Linear(16, 5) -> LI
with a cross-entropy, differentiated and compiled (`jax.jit(...).lower(...)
.compile()`) through `spyx.nn.run` layer by layer, step by step and by
default, and through `spyx_eqx.run`; prints a hash of each optimised HLO
module with the source locations (file names, stack frames) taken out.
Equal hashes from two checkouts mean XLA runs the same program in both:

    PYTHONPATH=/path/to/old/checkout python benchmarks/compiled_programs.py > old
    python benchmarks/compiled_programs.py > new && diff old new
"""

import hashlib
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx

import spyx.nn as snn
import spyx_eqx

NEURONS = ["IF", "LIF", "ALIF", "CuBaLIF", "RIF", "RLIF", "RCuBaLIF", "PSU_LIF", "LI"]
_TABLES = "FileNames|FunctionNames|FileLocations|StackFrames"
_LOCATION = re.compile(rf"^[0-9]+ |^({_TABLES})$")


def fingerprint(compiled_text: str) -> str:
    """A hash of an HLO module's text without metadata or source locations."""
    text = re.sub(r", metadata=\{[^}]*\}", "", compiled_text)
    text = "\n".join(ln for ln in text.splitlines() if not _LOCATION.match(ln))
    text = re.sub(r",? ?stack_frame_id=[0-9]+", "", text)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def main() -> None:
    x = jax.random.bernoulli(jax.random.key(0), 0.1, (20, 4, 70)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (4,), 0, 5)

    def ce(outs: jax.Array) -> jax.Array:
        logits = outs.sum(0)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    for name in NEURONS:
        model = snn.Sequential(
            nnx.Linear(70, 16, rngs=nnx.Rngs(0)),
            getattr(snn, name)((16,), rngs=nnx.Rngs(1)),
            nnx.Linear(16, 5, rngs=nnx.Rngs(2)),
            snn.LI((5,)),
        )
        graphdef, params = nnx.split(model)
        for layerwise in (True, False, None):

            def loss(p, x, lw=layerwise, g=graphdef):
                return ce(snn.run(nnx.merge(g, p), x, layerwise=lw)[0])

            step = jax.jit(jax.value_and_grad(loss)).lower(params, x).compile()
            how = {True: "layerwise", False: "stepwise", None: "default"}[layerwise]
            print(f"{name} nnx {how} {fingerprint(step.as_text())}")
        dynamic, static = eqx.partition(spyx_eqx.from_nnx(model), eqx.is_array)

        def eqx_loss(d, x, s=static):
            return ce(spyx_eqx.run(eqx.combine(d, s), x)[0])

        step = jax.jit(jax.value_and_grad(eqx_loss)).lower(dynamic, x).compile()
        print(f"{name} eqx default {fingerprint(step.as_text())}")


if __name__ == "__main__":
    main()
