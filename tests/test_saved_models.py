"""Save and restore: a saved model restores in a fresh process, checkpoints
written by other versions and layouts are read or refused in plain words."""

import os
import shutil
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import numpy as np
import pytest
from flax import nnx

import spyx.axn
import spyx.checkpoint
import spyx.nn as snn
import spyx_eqx as se

from .helpers import spiking_input

# --------------------------------------------------------- save / restore


def _nnx_model(hidden=8, seed=0):
    return snn.Sequential(
        nnx.Linear(5, hidden, rngs=nnx.Rngs(seed)),
        snn.RCuBaLIF((hidden,), rngs=nnx.Rngs(seed + 1)),
        nnx.Linear(hidden, 3, rngs=nnx.Rngs(seed + 2)),
        snn.LI((3,)),
    )


def test_nnx_save_and_restore_bit_identical(tmp_path):
    model = _nnx_model()
    xs = spiking_input(0, (15, 2, 5), scale=3.0)
    spyx.checkpoint.save(tmp_path / "ckpt", model)
    fresh = spyx.checkpoint.restore(tmp_path / "ckpt", _nnx_model(seed=7))
    for a, b in zip(
        jax.tree.leaves(snn.run(model, xs)),
        jax.tree.leaves(snn.run(fresh, xs)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(
        ValueError,
        match=r"layers/0/bias is Param float32\[8\] in the file, Param "
        r"float32\[4\] here",
    ):
        spyx.checkpoint.restore(tmp_path / "ckpt", _nnx_model(hidden=4))


def test_nnx_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = _nnx_model()
    spyx.checkpoint.save(tmp_path / "ckpt", model)
    other = _nnx_model(seed=3)

    def cut(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    import orbax.checkpoint as ocp

    monkeypatch.setattr(ocp.StandardCheckpointer, "wait_until_finished", cut)
    with pytest.raises(KeyboardInterrupt):
        spyx.checkpoint.save(tmp_path / "ckpt", other)
    monkeypatch.undo()
    restored = spyx.checkpoint.restore(tmp_path / "ckpt", _nnx_model(seed=9))
    np.testing.assert_array_equal(
        restored.layers[0].kernel[...], model.layers[0].kernel[...]
    )


class Killed(BaseException):
    """What a killed process would leave: nothing runs after it."""


def _kill_at(monkeypatch, step):
    """Make the `step`-th file operation of `spyx.checkpoint.save` (a rename
    or a removal; 0 is the first) kill the save before it happens."""
    import shutil

    count = iter(range(1_000))

    def guarded(real):
        def op(*args, **kwargs):
            if next(count) == step:
                raise Killed(f"killed before {real.__name__}{args}")
            return real(*args, **kwargs)

        return op

    monkeypatch.setattr(spyx.checkpoint.os, "replace", guarded(os.replace))
    monkeypatch.setattr(spyx.checkpoint.shutil, "rmtree", guarded(shutil.rmtree))


@pytest.mark.parametrize(
    "first",
    [pytest.param(k, marks=() if k == 1 else pytest.mark.slow) for k in range(4)],
)
def test_no_sequence_of_killed_saves_loses_the_checkpoint(tmp_path, monkeypatch, first):
    """A save is killed before each of its renames and removals (1: between
    its two renames, the moment only `*.old` is whole), then the next save is
    killed at every point too: a whole checkpoint, one of those saved, always
    remains, and a save that completes recovers."""
    path = tmp_path / "ckpt"
    models = [_nnx_model(seed=s) for s in (0, 3, 6)]
    kernels = [np.asarray(m.layers[0].kernel[...]) for m in models]

    def restored():
        got = spyx.checkpoint.restore(path, _nnx_model(seed=9)).layers[0].kernel[...]
        assert any(np.array_equal(got, k) for k in kernels), "not a saved model"
        return got

    for second in range(6):
        if path.parent.exists():
            for p in path.parent.iterdir():
                shutil.rmtree(p)
        spyx.checkpoint.save(path, models[0])
        for step, model in ((first, models[1]), (second, models[2])):
            with monkeypatch.context() as m:
                _kill_at(m, step)
                try:
                    spyx.checkpoint.save(path, model)
                except Killed:
                    pass
            restored()
        spyx.checkpoint.save(path, models[2])
        np.testing.assert_array_equal(restored(), kernels[2])
        assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt"]


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_restore_refuses_another_spike_function_or_surrogate_parameter(tmp_path, api):
    def model(activation):
        return snn.Sequential(
            nnx.Linear(5, 4, rngs=nnx.Rngs(0)),
            snn.LIF((4,), beta=0.5, activation=activation),
        )

    saved = model(spyx.axn.superspike(k=25.0))
    if api == "nnx":
        path = spyx.checkpoint.save(tmp_path / "ckpt", saved)
        restore = spyx.checkpoint.restore
    else:
        path = se.save(tmp_path / "m.eqx", se.from_nnx(saved))

        def restore(path, like):
            return se.restore(path, se.from_nnx(like))

    restore(path, model(spyx.axn.superspike(k=25.0)))  # the same: fine
    with pytest.raises(
        ValueError,
        match=r"superspike\(k=25.0\).* in the file.*superspike\(k=10.0\).* here",
    ):
        restore(path, model(spyx.axn.superspike(k=10.0)))
    with pytest.raises(ValueError, match=r"superspike\(k=25.0\).*arctan\(k=2.0\)"):
        restore(path, model(spyx.axn.arctan()))


def test_equinox_save_and_restore(tmp_path, monkeypatch):
    model = se.from_nnx(_nnx_model())
    xs = spiking_input(0, (15, 5), scale=3.0)
    se.save(tmp_path / "m.eqx", model)
    restored = se.restore(tmp_path / "m.eqx", se.from_nnx(_nnx_model(seed=5)))
    np.testing.assert_array_equal(se.run(model, xs)[0], se.run(restored, xs)[0])
    with pytest.raises(ValueError, match=r"saved from a different model"):
        se.restore(tmp_path / "m.eqx", se.from_nnx(_nnx_model(hidden=4)))

    def cut(stream, tree):
        stream.write(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(eqx, "tree_serialise_leaves", cut)
    with pytest.raises(KeyboardInterrupt):
        se.save(tmp_path / "m.eqx", se.from_nnx(_nnx_model(seed=6)))
    monkeypatch.undo()
    again = se.restore(tmp_path / "m.eqx", se.from_nnx(_nnx_model(seed=5)))
    np.testing.assert_array_equal(se.run(model, xs)[0], se.run(again, xs)[0])


def test_restore_refuses_another_model_naming_the_entry(tmp_path):
    spyx.checkpoint.save(tmp_path / "ckpt", _nnx_model())
    se.save(tmp_path / "m.eqx", se.from_nnx(_nnx_model()))

    def other(**kwargs):
        return snn.Sequential(
            nnx.Linear(5, 8, rngs=nnx.Rngs(0)),
            snn.RCuBaLIF((8,), rngs=nnx.Rngs(1), **kwargs),
            nnx.Linear(8, 3, rngs=nnx.Rngs(2)),
            snn.LI((3,)),
        )

    wrong = r"layers/1 is RCuBaLIF\(hidden_shape=\(8,\), .*reset='subtract'\) in the "
    with pytest.raises(ValueError, match=wrong + r"file, RCuBaLIF.*reset='zero'"):
        spyx.checkpoint.restore(tmp_path / "ckpt", other(reset="zero"))
    with pytest.raises(ValueError, match=r"\.layers\[1\] is RCuBaLIF.*reset='zero'"):
        se.restore(tmp_path / "m.eqx", se.from_nnx(other(reset="zero")))
    # thresholds are hyperparameters: recorded, and a model built with
    # another one is refused by name
    th = r"threshold=1.0.* in the file, RCuBaLIF.*threshold=0.3"
    with pytest.raises(ValueError, match=th):
        spyx.checkpoint.restore(tmp_path / "ckpt", other(threshold=0.3))
    with pytest.raises(ValueError, match=th):
        se.restore(tmp_path / "m.eqx", se.from_nnx(other(threshold=0.3)))


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        data[-3] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "corrupted"])
def test_damaged_checkpoints_are_refused(tmp_path, how):
    se.save(tmp_path / "m.eqx", se.from_nnx(_nnx_model()))
    _damage(tmp_path / "m.eqx", how)
    with pytest.raises(ValueError, match=r"is truncated or corrupted"):
        se.restore(tmp_path / "m.eqx", se.from_nnx(_nnx_model()))
    model = _nnx_model(seed=4)
    before = model.layers[0].kernel[...]
    spyx.checkpoint.save(tmp_path / "ckpt", _nnx_model())
    biggest = max(
        (p for p in (tmp_path / "ckpt").rglob("*") if p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    _damage(biggest, how)
    with pytest.raises(ValueError, match=r"checkpoint at .* is (corrupted|incomplete)"):
        spyx.checkpoint.restore(tmp_path / "ckpt", model)
    np.testing.assert_array_equal(model.layers[0].kernel[...], before)  # untouched
    spyx.checkpoint.save(tmp_path / "ckpt2", _nnx_model())
    victim = next(
        p
        for p in sorted((tmp_path / "ckpt2").rglob("*"))
        if p.is_file() and p.name != spyx.checkpoint.MANIFEST
    )
    victim.unlink()
    with pytest.raises(ValueError, match=r"is incomplete: .* is missing"):
        spyx.checkpoint.restore(tmp_path / "ckpt2", model)


KILLED_SAVER = textwrap.dedent(
    """
    import sys, jax.numpy as jnp
    from flax import nnx
    import spyx.checkpoint, spyx.nn as snn, spyx_eqx as se
    api, path = sys.argv[1], sys.argv[2]
    model = snn.Sequential(nnx.Linear(64, 512, rngs=nnx.Rngs(0)),
                           snn.LIF((512,), beta=0.5))
    emodel = se.from_nnx(model)
    i = 0
    while True:
        i += 1
        if api == "nnx":
            model.layers[0].kernel[...] = jnp.full((64, 512), float(i))
            spyx.checkpoint.save(path, model)
        else:
            emodel = se.from_nnx(model)
            import equinox as eqx
            emodel = eqx.tree_at(lambda m: m.layers[0].weight, emodel,
                                 jnp.full((512, 64), float(i)))
            se.save(path, emodel)
        print(i, flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_a_save_killed_midway_leaves_a_whole_checkpoint(tmp_path, api):
    """A process that saves in a loop is sent SIGKILL at several moments;
    each time, the checkpoint left behind restores completely, to one of the
    saved models (every kernel entry equal), never a mix or an error."""
    import signal
    import time

    path = tmp_path / ("ckpt" if api == "nnx" else "m.eqx")
    like = snn.Sequential(
        nnx.Linear(64, 512, rngs=nnx.Rngs(1)), snn.LIF((512,), beta=0.5)
    )
    for delay in (0.0, 0.05, 0.13, 0.29):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_SAVER, api, str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout.readline().strip(), "the saver never finished a save"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()
        if api == "nnx":
            restored = spyx.checkpoint.restore(path, like).layers[0].kernel[...]
        else:
            restored = se.restore(path, se.from_nnx(like)).layers[0].weight
        values = np.unique(np.asarray(restored))
        assert values.size == 1 and values[0] >= 1, values
