"""Save and restore `spyx.nn` models with Orbax.

`save` writes every variable of a model (`nnx.state`) to a checkpoint folder;
`restore` loads one into a model built the same way, checking every entry's
shape first. A save goes to a temporary folder that replaces the old one only
when complete, so an interrupted save leaves the previous checkpoint readable.

Example:

```python
spyx.checkpoint.save("ckpt/model", model)
fresh = build_model()                     # same architecture, any init
spyx.checkpoint.restore("ckpt/model", fresh)
```
"""

import os
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

__all__ = ["restore", "save"]


def _flat(tree: Any) -> dict[tuple[str, ...], Any]:
    return {
        tuple(str(k) for k in path): v
        for path, v in nnx.traversals.flatten_mapping(tree).items()
    }


def save(path: str | os.PathLike, model: nnx.Module) -> Path:
    """Write `model`'s variables to the folder `path` (replacing it atomically).

    **Returns:** the absolute path written.

    Example: ``spyx.checkpoint.save("ckpt/model", model)``.
    """
    path = Path(path).absolute()
    tmp = path.with_name(path.name + ".saving")
    old = path.with_name(path.name + ".old")
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp, nnx.to_pure_dict(nnx.state(model)))
    checkpointer.wait_until_finished()
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)
    return path


def restore(path: str | os.PathLike, model: nnx.Module) -> nnx.Module:
    """Load the checkpoint at `path` into `model` (in place; also returned).

    Raises `ValueError` naming the entry when the checkpoint and the model
    differ in structure, shape or dtype, before changing anything.

    Example: ``spyx.checkpoint.restore("ckpt/model", build_model())``.
    """
    path = Path(path).absolute()
    if not path.exists() and path.with_name(path.name + ".old").exists():
        path = path.with_name(path.name + ".old")  # a save was cut off mid-swap
    if not path.exists():
        raise FileNotFoundError(f"restore: no checkpoint at {path}.")
    loaded = _flat(ocp.StandardCheckpointer().restore(path))
    state = nnx.state(model)
    target = _flat(nnx.to_pure_dict(state))
    missing = sorted(set(target) - set(loaded))
    extra = sorted(set(loaded) - set(target))
    if missing or extra:
        raise ValueError(
            f"restore: the checkpoint at {path} does not fit this model: entries "
            f"missing {['/'.join(k) for k in missing]}, unexpected "
            f"{['/'.join(k) for k in extra]}."
        )
    for key, want in target.items():
        got = loaded[key]
        if (
            np.shape(got) != np.shape(want)
            or np.asarray(got).dtype != np.asarray(want).dtype
        ):
            raise ValueError(
                f"restore: entry {'/'.join(key)} is {np.asarray(got).dtype}"
                f"{list(np.shape(got))} in the checkpoint but the model expects "
                f"{np.asarray(want).dtype}{list(np.shape(want))}."
            )
    values = {k: jnp.asarray(loaded[k]) for k in target}
    pure = nnx.to_pure_dict(state)
    leaves_paths = nnx.traversals.flatten_mapping(pure)
    rebuilt = nnx.traversals.unflatten_mapping(
        {p: values[tuple(str(k) for k in p)] for p in leaves_paths}
    )
    nnx.replace_by_pure_dict(state, rebuilt)
    nnx.update(model, state)
    jax.block_until_ready(nnx.state(model))
    return model
