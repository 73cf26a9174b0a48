"""Draw docs/explanation/resets.svg: the membrane and spikes of one LIF neuron
(beta = 0.9, threshold 1) under a constant input, in each reset mode."""

from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import spyx.nn as snn  # noqa: E402

T = 40
x = jnp.full((T, 1, 1), 0.3)  # [Time, Batch, 1]
fig, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True)
for ax, reset in zip(axes, ("subtract", "zero", "none"), strict=True):
    layer = snn.LIF((1,), beta=0.9, reset=reset)
    V, trace, spikes = layer.initial_state(1), [], []
    for x_t in x:
        s, V = layer(x_t, V)
        trace.append(float(V[0, 0]))
        spikes.append(float(s[0, 0]))
    ax.plot(range(1, T + 1), trace, label="membrane V after the step")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8, label="threshold")
    fired = [t for t, s in enumerate(spikes) if s > 0]
    ax.vlines(fired, 0, 0.25, color="tab:red", label="spike")
    ax.set(ylabel="V", title=f'reset="{reset}"')
axes[-1].legend(loc="lower right", bbox_to_anchor=(1.0, 0.15), fontsize="small")
axes[-1].set(xlabel="time step")
fig.tight_layout()
out = Path(__file__).parent / "explanation" / "resets.svg"
fig.savefig(out, metadata={"Date": None})
print(f"wrote {out}")
