"""Data-parallel training across processes on JAX's distributed runtime:
two processes on 127.0.0.1, each with 2 simulated CPU devices (4 global
devices), train a few steps of `examples/data_parallel.py`; the losses and
parameters equal a one-process run over 4 devices on the same global
batches, and both processes end with identical parameters."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data_parallel.py"
TIMEOUT = 300  # seconds for every process of one run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str], out: Path) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--no-plots", *args],
        stdout=open(out, "w"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def _finish(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    """Wait for every process (bounded), always killing what is left."""
    try:
        for proc, log in zip(procs, logs, strict=True):
            rc = proc.wait(timeout=TIMEOUT)
            assert rc == 0, f"{log.name} exited {rc}:\n{log.read_text()[-3000:]}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_two_processes_train_like_one(tmp_path, api):
    common = ["--api", api, "--max-steps", "3", "--hidden", "64"]
    port = _free_port()
    procs, logs = [], []
    for i in range(2):
        logs.append(tmp_path / f"process{i}.log")
        procs.append(
            _launch(
                [
                    *common,
                    "--devices",
                    "2",
                    "--coordinator",
                    f"127.0.0.1:{port}",
                    "--num-processes",
                    "2",
                    "--process-id",
                    str(i),
                    "--dump",
                    str(tmp_path / f"p{i}.npz"),
                ],
                logs[-1],
            )
        )
    logs.append(tmp_path / "single.log")
    procs.append(
        _launch(
            [*common, "--devices", "4", "--dump", str(tmp_path / "single.npz")],
            logs[-1],
        )
    )
    _finish(procs, logs)
    p0, p1, single = (np.load(tmp_path / f) for f in ("p0.npz", "p1.npz", "single.npz"))
    assert sorted(p0.files) == sorted(single.files) and len(p0["losses"]) == 3
    for name in single.files:
        np.testing.assert_array_equal(p0[name], p1[name], err_msg=name)
        np.testing.assert_allclose(p0[name], single[name], rtol=1e-5, atol=1e-5)
    text = logs[0].read_text()
    assert "2 process(es), 4 devices" in text and "process 0: epoch 0 loss" in text
    assert "process 1: epoch 0 loss" in logs[1].read_text()
    assert "test accuracy" not in logs[1].read_text()  # only process 0 reports
