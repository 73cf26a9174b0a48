"""The plumbing both front ends share, kept out of `spyx.core`'s public
surface: a user writing a neuron needs the table, the steps, the kernels,
the scans and the checks (`spyx.core`); `spyx.nn` and `spyx_eqx` also need
these to build layers, chains and checkpoints the same way.

``from spyx.core import _frontend as frontend`` in a front end; nothing
here is a stable API.
"""

from ._checks import under_differentiation, under_transformation
from ._execution import (
    Execution,
    check_burnin,
    run_chunked,
    run_layerwise,
    run_model,
    step_layers,
    with_burnin,
)
from ._graph import GraphBase, GraphPlan, current_plan, node_kinds, step_graph
from ._inputs import (
    ExampleShape,
    batch_from_input,
    check_chain_inputs,
    check_layer_input,
    check_model_input,
    check_not_empty,
    expected_input,
    layer_checker,
    output_shape,
    show_shape,
)
from ._keys import example_keys, layer_keys, row_keys, takes_key
from ._layer import (
    NeuronBase,
    check_neuron_inputs,
    neuron_parallel,
    neuron_sequence,
    neuron_step,
    random_description,
    spikes_after_update,
    threshold_of,
)
from ._manifest import (
    MODE_SETTINGS,
    compare_descriptions,
    describe_value,
    digest,
    left_out,
)
from ._pool import population_code, sum_pool_axes
from ._protocols import Container, GraphContainer
from ._scan import from_time_major, initial_state_of, to_time_major
from ._shapes import (
    batch_shape,
    check_floating,
    check_recurrent_shape,
    check_sequential_state,
    normalize_shape,
    sequential_batch_ndim,
    shape_argument,
    threshold_value,
)

__all__ = [
    "MODE_SETTINGS",
    "Container",
    "Execution",
    "GraphContainer",
    "GraphBase",
    "GraphPlan",
    "ExampleShape",
    "NeuronBase",
    "batch_from_input",
    "batch_shape",
    "check_burnin",
    "check_chain_inputs",
    "check_model_input",
    "check_floating",
    "check_layer_input",
    "check_neuron_inputs",
    "check_not_empty",
    "check_recurrent_shape",
    "check_sequential_state",
    "current_plan",
    "compare_descriptions",
    "layer_checker",
    "left_out",
    "output_shape",
    "describe_value",
    "digest",
    "example_keys",
    "expected_input",
    "from_time_major",
    "initial_state_of",
    "layer_keys",
    "neuron_parallel",
    "neuron_sequence",
    "neuron_step",
    "node_kinds",
    "normalize_shape",
    "population_code",
    "random_description",
    "row_keys",
    "run_chunked",
    "run_layerwise",
    "run_model",
    "sequential_batch_ndim",
    "shape_argument",
    "spikes_after_update",
    "show_shape",
    "step_graph",
    "step_layers",
    "sum_pool_axes",
    "takes_key",
    "threshold_of",
    "threshold_value",
    "with_burnin",
    "to_time_major",
    "under_differentiation",
    "under_transformation",
]
