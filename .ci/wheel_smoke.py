"""The built distributions as a user gets them (CI runs this from outside the
checkout, with the wheel installed in a fresh environment).

Usage: ``python wheel_smoke.py DIST`` where ``DIST`` holds the wheel and the
sdist. Checks that the installed packages are the wheel's (not the
checkout's), that both carry `py.typed` and the wheel's metadata the
LICENSE, that the sdist holds the LICENSE and both markers, and that a tiny
LIF network runs in each API.
"""

import importlib.metadata
import sys
import tarfile
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp


def check_files(dist: Path) -> None:
    (wheel,) = dist.glob("spyx_snn-*.whl")
    (sdist,) = dist.glob("spyx_snn-*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    for marker in ("spyx/py.typed", "spyx_eqx/py.typed"):
        assert marker in names, f"{wheel.name} lacks {marker}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    with tarfile.open(sdist) as tar:
        inside = {n.split("/", 1)[-1] for n in tar.getnames()}
    for path in ("LICENSE", "spyx/py.typed", "spyx_eqx/py.typed", "pyproject.toml"):
        assert path in inside, f"{sdist.name} lacks {path}"


def check_installed() -> None:
    import spyx
    import spyx_eqx

    for package in (spyx, spyx_eqx):
        folder = Path(package.__file__).parent
        assert "site-packages" in folder.parts, f"{package.__name__} from {folder}"
        assert (folder / "py.typed").is_file(), f"{folder} lacks py.typed"
    files = importlib.metadata.distribution("spyx-snn").files or []
    (license_file,) = [f for f in files if f.name == "LICENSE"]
    assert "MIT License" in license_file.read_text(), license_file


def run_nnx() -> None:
    from flax import nnx

    import spyx.nn as snn

    rngs = nnx.Rngs(0)
    model = snn.Sequential(
        nnx.Linear(8, 16, rngs=rngs), snn.LIF((16,), rngs=rngs), snn.LI((16,))
    )
    traces, state = snn.run(model, jnp.ones((20, 4, 8)))  # [T, B, 8]
    assert traces.shape == (20, 4, 16), traces.shape
    assert state[1].shape == (4, 16), state[1].shape


def run_eqx() -> None:
    import equinox as eqx

    import spyx_eqx as se

    k1, k2 = jax.random.split(jax.random.key(0))
    model = se.Sequential(
        [eqx.nn.Linear(8, 16, key=k1), se.LIF((16,), key=k2), se.LI((16,))]
    )
    traces, state = se.run(model, jnp.ones((20, 8)))  # [T, 8]: one example
    assert traces.shape == (20, 16), traces.shape
    assert state[1].shape == (16,), state[1].shape


if __name__ == "__main__":
    check_files(Path(sys.argv[1]))
    check_installed()
    run_nnx()
    run_eqx()
    print("wheel and sdist: both APIs run from the installed wheel")
