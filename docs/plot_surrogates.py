"""Draw docs/explanation/surrogates.svg: every surrogate derivative of
`spyx.axn` at its default parameters, computed with `jax.grad`."""

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import spyx.axn as axn  # noqa: E402

x = jnp.linspace(-2, 2, 801)
fig, ax = plt.subplots(figsize=(7, 4))
for name in ("superspike", "arctan", "tanh", "boxcar", "triangular"):
    spike = getattr(axn, name)()
    ax.plot(x, jax.vmap(jax.grad(spike))(x), label=f"{name}()")
ax.set(xlabel="V - threshold", ylabel="surrogate dH/dx", title="Surrogate derivatives")
ax.legend()
fig.tight_layout()
out = Path(__file__).parent / "explanation" / "surrogates.svg"
fig.savefig(out, metadata={"Date": None})
print(f"wrote {out}")
