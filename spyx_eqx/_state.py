"""Equinox's own state mechanism for spyx layers: `eqx.nn.State`.

Every stateful `spyx_eqx` layer (the neurons, `ActivityRegularization`,
`Sequential`) is an `eqx.nn.StatefulLayer` with an `eqx.nn.StateIndex`
holding its zero state. Called with an `eqx.nn.State` instead of an array,
it reads its state from there and writes the new one back, so it fits in
`eqx.nn.Sequential` and `eqx.nn.make_with_state` next to `eqx.nn.BatchNorm`,
and can be stepped by hand in `jax.lax.scan`:

```python
model, state = eqx.nn.make_with_state(eqx.nn.Sequential)(
    [eqx.nn.Linear(4, 8, key=jax.random.key(0)), spyx_eqx.LIF((8,), beta=0.9)]
)
out, state = model(jnp.ones(4), state)  # one step of one example
```
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx

__all__ = ["stateful_call"]


def stateful_call(
    layer: Any, step: Callable[[Any, Any], tuple[Any, Any]], x: Any, state: Any
) -> tuple[Any, Any]:
    """``step(x, state)``, with the layer's own entry of an `eqx.nn.State`
    read and written back when `state` is one (an array state as it is)."""
    if isinstance(state, eqx.nn.State):
        out, new = step(x, state.get(layer.state_index))
        return out, state.set(layer.state_index, new)
    return step(x, state)
