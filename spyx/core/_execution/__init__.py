"""Running a model: `run_model` (the `run` of both front ends), its
strategies (layer-wise, chunked, step-wise) and their choice, graphs
(planning and running), per-row PRNG keys, stateless layers on rows.

May use `_neurons`, `_scans`, `_equations` and `_checks`.
"""

from ._graph_plan import GraphPlan, current_plan, node_kinds
from ._graph_run import GraphBase, step_graph
from ._keys import example_keys, layer_keys, row_keys, takes_key
from ._record import Record, record_selection, records_of
from ._rows import PerStep
from ._run_model import check_burnin, run_model, with_burnin
from ._runners import run_chunked, run_layerwise, step_layers
from ._strategy import Execution

__all__ = [
    "Execution",
    "PerStep",
    "GraphBase",
    "GraphPlan",
    "Record",
    "check_burnin",
    "current_plan",
    "example_keys",
    "layer_keys",
    "node_kinds",
    "record_selection",
    "records_of",
    "row_keys",
    "run_chunked",
    "run_layerwise",
    "run_model",
    "step_graph",
    "step_layers",
    "takes_key",
    "with_burnin",
]
