"""spyx.bench and data-parallel training on simulated devices (functional
checks only: benchmarks are never timed tests)."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.bench as bench
import spyx.nn as snn
import spyx_eqx


def _model():
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(10, 16, rngs=rngs),
        snn.LIF((16,), rngs=rngs),
        nnx.Linear(16, 3, rngs=rngs),
        snn.LI((3,)),
    )


@pytest.mark.slow  # a full benchmark run (seconds); an Equinox one runs below
def test_benchmark_reports_every_field():
    r = bench.benchmark(_model(), (10,), seq_len=20, batch=4, repeats=2)
    assert r.seq_len == 20 and r.batch == 4 and r.name == "Sequential"
    assert r.forward_ms > 0 and r.train_ms > 0 and r.compile_s > 0
    assert r.throughput > 0
    # the spike rate is the mean output of the LIF layer on the same input
    key = jax.random.key(0)  # the documented input: Bernoulli(0.2) from the seed
    x = jax.random.bernoulli(key, 0.2, (20, 4, 10)).astype(jnp.float32)
    model = _model()
    lif_out = snn.run(snn.Sequential(*model.layers[:2]), x)[0]
    np.testing.assert_allclose(r.spike_rate, float(jnp.mean(lif_out)), rtol=1e-6)
    assert r.temp_memory_bytes is None or r.temp_memory_bytes > 0
    table = bench.format_table([r], reference=r)
    assert "| Sequential | 20 | 4 |" in table and "| 1.00 |" in table


@pytest.mark.slow  # spyx.bench's shared path is timed by the test above
def test_benchmark_equinox_model_and_plain_function():
    e = spyx_eqx.from_nnx(_model())
    r = bench.benchmark(e, (10,), seq_len=8, batch=2, repeats=1, name="eqx")
    assert r.name == "eqx" and r.spike_rate is not None
    f = bench.benchmark(
        lambda x: jax.numpy.tanh(x), (5,), seq_len=4, batch=2, repeats=1
    )
    assert f.spike_rate is None
    rows = bench.compare(_model(), (10,), seq_lens=[4, 8], batch=2, repeats=1)
    assert [r.seq_len for r in rows] == [4, 8]


SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, optax
    from flax import nnx
    import spyx, spyx.nn as snn
    assert len(jax.devices()) == 4
    def build():
        rngs = nnx.Rngs(0)
        return snn.Sequential(nnx.Linear(6, 16, rngs=rngs), snn.ALIF((16,), rngs=rngs),
                              nnx.Linear(16, 3, rngs=rngs), snn.LI((3,)))
    x = 2.0 * jax.random.uniform(jax.random.key(0), (12, 8, 6))
    y = jnp.arange(8) % 3
    ce = spyx.fn.integral_crossentropy(time_axis=0)
    def loss_fn(model, x, y):
        return ce(snn.run(model, x)[0], y)
    step = nnx.jit(nnx.value_and_grad(loss_fn))
    one_loss, one_grads = step(build(), x, y)
    mesh = spyx.sharding.data_mesh()
    xs, ys = spyx.sharding.shard_batch((x, y), mesh, batch_axes=(1, 0))
    assert len(xs.sharding.device_set) == 4
    model = spyx.sharding.replicate(build(), mesh)
    loss, grads = step(model, xs, ys)
    np.testing.assert_allclose(loss, one_loss, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(one_grads)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    optimizer.update(model, grads)
    print("ok")
    """
)


@pytest.mark.slow  # a fresh interpreter with four simulated devices
def test_data_parallel_training_on_four_simulated_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run(
        [sys.executable, "-c", SHARDED], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
