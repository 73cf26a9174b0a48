"""The documented calls of both APIs, as a type checker reads them.

CI checks this file with pyright (standard mode) and mypy: each call must
type-check as written in the documentation, and `assert_type` pins what
matters (the classes the constructors make, `run`'s two and three values,
what the loss factories return). Nothing here runs: importing the file only
defines the functions (pytest does not collect it).
"""

from pathlib import Path
from typing import Any, assert_type

import equinox as eqx
import jax
import jax.numpy as jnp
import nir
import optax
from flax import nnx
from jax import Array

import spyx
import spyx.checkpoint
import spyx.core
import spyx.fn
import spyx.nir
import spyx.nn as snn
import spyx_eqx as se
import spyx_eqx.nir


def nnx_neurons() -> None:
    rngs = nnx.Rngs(0)
    x, state = jnp.ones((4, 32)), jnp.zeros((4, 32))
    assert_type(snn.IF((32,), threshold=2.0), snn.IF)
    assert_type(snn.LIF((32,), rngs=rngs), snn.LIF)
    assert_type(snn.LIF((32,), beta=0.9, activation=spyx.axn.arctan()), snn.LIF)
    assert_type(snn.LIF(32, 0.9, 1.0, reset="zero", spikes_after_update=True), snn.LIF)
    assert_type(snn.LI((10,)), snn.LI)
    assert_type(snn.LI(hidden_shape=(10,), beta=0.8), snn.LI)
    assert_type(snn.ALIF((32,), beta=0.9, gamma=0.95), snn.ALIF)
    assert_type(snn.CuBaLIF((32,), rngs=rngs), snn.CuBaLIF)
    assert_type(snn.RIF((32,), rngs=rngs), snn.RIF)
    assert_type(snn.RLIF((32,), beta=0.9, rngs=rngs), snn.RLIF)
    assert_type(snn.RCuBaLIF((32,), rngs=rngs), snn.RCuBaLIF)
    assert_type(snn.PSU_LIF((32,), rngs=rngs), snn.PSU_LIF)
    assert_type(snn.AssociativeLIF((32,), beta=0.9), snn.AssociativeLIF)
    layer = snn.LIF((32,), beta=0.9)
    assert_type(layer(x, state), tuple[Array, Array])
    assert_type(layer.initial_state(4), Array)
    assert_type(layer.run_sequence(jnp.ones((10, 4, 32)), state), tuple[Array, Array])
    assert_type(layer.threshold, float)
    assert_type(snn.PSU_LIF((32,), beta=0.9).parallel(jnp.ones((10, 4, 32))), Array)


def nnx_models(tmp: Path) -> None:
    rngs = nnx.Rngs(0)
    model = snn.Sequential(
        nnx.Linear(16, 32, rngs=rngs),
        snn.LIF((32,), rngs=rngs),
        snn.ActivityRegularization((32,)),
        nnx.Linear(32, 10, rngs=rngs),
        snn.LI((10,)),
    )
    assert_type(model, snn.Sequential)
    x = jnp.ones((100, 8, 16))  # [T, B, 16]
    traces, final = snn.run(model, x)
    assert_type(snn.run(model, x), tuple[Array, Any])
    assert_type(snn.run(model, x, model.initial_state(8), chunk=25), tuple[Array, Any])
    outs, _, records = snn.run(model, x, record=1)
    assert_type(records, dict[Any, spyx.core.Record])
    graph = snn.Graph(
        {"fc": nnx.Linear(16, 32, rngs=rngs), "lif": snn.LIF((32,), rngs=rngs)},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        delayed=[],
    )
    assert_type(snn.run(graph, x, layerwise=False, unroll=2), tuple[Array, Any])
    pooled = snn.sum_pool(jnp.ones((2, 8, 8, 3)), 2, None, "VALID")
    assert_type(pooled, Array)
    assert_type(snn.SumPool(2)(jnp.ones((2, 8, 8, 3))), Array)
    assert_type(snn.PopulationCode(2)(jnp.ones((8, 10))), Array)
    assert_type(snn.Flatten()(jnp.ones((8, 2, 3))), Array)
    # the losses and regularisers
    loss_fn = spyx.fn.integral_crossentropy(time_axis=0)  # run's traces: [T, B, C]
    labels = jnp.zeros(8, jnp.int32)
    assert_type(loss_fn(traces, labels), Array)
    acc, preds = spyx.fn.integral_accuracy(time_axis=0)(traces, labels)
    assert_type(acc, Array)
    assert_type(spyx.fn.mse_spikerate(0.25, time_axis=0)(traces, labels), Array)
    assert_type(spyx.fn.silence_reg(0.5)(final[2]), Array)
    assert_type(spyx.fn.sparsity_reg(5.0, optax.l2_loss)(final[2]), Array)
    # checkpoints and NIR
    assert_type(spyx.checkpoint.save(tmp / "ckpt", model), Path)
    assert_type(spyx.checkpoint.restore(tmp / "ckpt", model), snn.Sequential)
    assert_type(spyx.checkpoint.describe(model), dict[str, str])
    exported = spyx.nir.to_nir(model, {"input": (16,)}, {"output": (10,)}, 1.0)
    assert_type(exported, nir.NIRGraph)
    spyx.nir.from_nir(exported, dt=1.0, reset="subtract", rngs=rngs)


def eqx_neurons() -> None:
    k = jax.random.key(0)
    x = jnp.ones(32)
    assert_type(se.IF((32,), threshold=2.0), se.IF)
    assert_type(se.IF((32,), key=k), se.IF)
    assert_type(se.LIF((32,), key=k), se.LIF)
    assert_type(se.LIF((32,), beta=0.9, activation=spyx.axn.arctan()), se.LIF)
    assert_type(se.LIF(32, 0.9, 1.0, reset="zero", spikes_after_update=True), se.LIF)
    assert_type(se.LI((10,)), se.LI)
    assert_type(se.LI(hidden_shape=(10,), key=k), se.LI)
    assert_type(se.ALIF((32,), beta=0.9, gamma=0.95), se.ALIF)
    assert_type(se.CuBaLIF((32,), key=k), se.CuBaLIF)
    assert_type(se.CuBaLIF((32,), alpha=0.8, beta=0.9), se.CuBaLIF)
    assert_type(se.RIF((32,), key=k), se.RIF)
    assert_type(se.RLIF((32,), beta=0.9, key=k), se.RLIF)
    assert_type(se.RCuBaLIF((32,), key=k), se.RCuBaLIF)
    assert_type(se.PSU_LIF((32,), key=k), se.PSU_LIF)
    beta = se.AssociativeLIF.beta_from_snntorch(0.9)
    assert_type(se.AssociativeLIF((16,), beta=float(beta)), se.AssociativeLIF)
    layer = se.LIF((32,), key=k)
    out, V = layer(x, layer.initial_state())
    assert_type(layer.initial_state(4), Array)
    assert_type(layer.threshold, float)
    se.PSU_LIF((32,), key=k).parallel(jnp.ones((100, 32)))
    # stateful in Equinox's way too
    model, state = eqx.nn.make_with_state(se.LIF)((32,), beta=0.9)
    out, new_state = model(x, state)


def eqx_models(tmp: Path) -> None:
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    model = se.Sequential(
        [
            eqx.nn.Linear(16, 32, key=k1),
            se.LIF((32,), key=k2),
            se.ActivityRegularization((32,)),
            eqx.nn.Linear(32, 10, key=k3),
            se.LI((10,)),
        ]
    )
    assert_type(model, se.Sequential)
    assert_type(se.Sequential(se.LIF((8,), beta=0.9), se.LI((8,))), se.Sequential)
    dropping = se.Sequential([eqx.nn.Dropout(0.2), se.LIF((16,), beta=0.9)])
    out, state = dropping(jnp.ones(16), dropping.initial_state(), key=k3)
    x = jnp.ones((100, 16))  # [T, 16]: one example
    traces, final = se.run(model, x, key=k1)
    assert_type(se.run(model, x), tuple[Array, Any])
    assert_type(se.run(model, x, model.initial_state(), chunk=25), tuple[Array, Any])
    outs, _, records = se.run(model, x, record=[1, 4])
    assert_type(records, dict[Any, spyx.core.Record])
    graph = se.Graph(
        {"fc": eqx.nn.Linear(16, 32, key=k1), "lif": se.LIF((32,), key=k2)},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        delayed=[],
    )
    assert_type(se.run(graph, x, layerwise=False, unroll=2), tuple[Array, Any])
    conv = se.ChannelsLast(eqx.nn.Conv2d(3, 4, 3, key=k1))
    conv(jnp.ones((8, 8, 3)))
    assert_type(se.sum_pool(jnp.ones((3, 8, 8)), 2), Array)
    se.SumPool(2)(jnp.ones((3, 8, 8)))
    se.PopulationCode(2)(jnp.ones(10))
    se.Flatten()(jnp.ones((2, 3)))
    # conversion, checkpoints and NIR
    twin = se.to_nnx(model)
    assert_type(se.from_nnx(twin), Any)
    assert_type(se.save(tmp / "model.eqx", model), Path)
    assert_type(se.restore(tmp / "model.eqx", model), se.Sequential)
    assert_type(se.describe(model), dict[str, str])
    exported = spyx_eqx.nir.to_nir(model, {"input": (16,)}, {"output": (10,)})
    assert_type(exported, nir.NIRGraph)
    spyx_eqx.nir.from_nir(exported, dt=1.0, key=k1)
    # the losses on time-major traces of one example
    loss_fn = spyx.fn.integral_crossentropy(time_axis=0)
    assert_type(loss_fn(traces[:, None], jnp.zeros(1, jnp.int32)), Array)
