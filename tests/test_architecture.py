"""The package's shape: imports go one way, the core's rooms are layered as
`spyx.core._ROOMS` says, files stay short, and the design page's picture of
the rooms is the code's (the import graph is read from the source by
``docs/architecture.py``; ``docs/figures.py`` draws the picture from it)."""

import importlib.util
import re
from pathlib import Path

import pytest

from spyx import core

from .test_docs import DOCS

_spec = importlib.util.spec_from_file_location("architecture", DOCS / "architecture.py")
assert _spec is not None and _spec.loader is not None
architecture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(architecture)

ROOT = DOCS.parent
PACKAGES = ("spyx", "spyx_eqx")
LIMIT = 500  # lines in any Python file of the repository


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert _cycles(architecture.import_graph(*PACKAGES)) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_the_core_is_its_rooms():
    """`spyx.core` holds its `__init__` and the rooms `_ROOMS` names, each a
    subpackage; nothing else."""
    here = ROOT / "spyx" / "core"
    entries = {p.name for p in here.iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", *core._ROOMS}
    for room in core._ROOMS:
        assert (here / room / "__init__.py").is_file(), room


def test_rooms_import_only_rooms_below_them():
    """Bottom up as `_ROOMS` lists them; another room only through its
    `__init__` (the room's interface)."""
    rank = {room: i for i, room in enumerate(core._ROOMS)}
    wrong = []
    for module, targets in architecture.import_graph("spyx").items():
        here = architecture.room_of(module)
        for target in targets:
            there = architecture.room_of(target)
            if here is None or there is None or here == there:
                continue
            if rank[there] > rank[here]:
                wrong.append(f"{module} -> {target} (up)")
            if target != f"spyx.core.{there}":
                wrong.append(f"{module} -> {target} (not through its __init__)")
    assert wrong == []


def test_the_core_imports_no_framework():
    """Inside `spyx` the core uses only `spyx.axn` besides itself, and no
    module of it names Flax or Equinox."""
    graph = architecture.import_graph(*PACKAGES)
    outside = {
        target
        for module, targets in graph.items()
        if module.startswith("spyx.core")
        for target in targets
        if not target.startswith("spyx.core")
    }
    assert outside == {"spyx.axn"}
    for path in (ROOT / "spyx" / "core").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (flax|equinox)\b", text, re.M), path


def test_the_layering_check_sees_a_wrong_import(monkeypatch):
    """A room importing one above it is reported (the check can fail)."""
    graph = architecture.import_graph("spyx")
    graph["spyx.core._checks._shapes"].add("spyx.core._execution")
    monkeypatch.setattr(architecture, "import_graph", lambda *_: graph)
    with pytest.raises(AssertionError, match="_execution"):
        test_rooms_import_only_rooms_below_them()


def _python_files() -> list[Path]:
    folders = (*PACKAGES, "tests", "examples", "benchmarks", "docs")
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def test_no_python_file_is_over_the_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _python_files()
        if (n := len(p.read_text().splitlines())) > LIMIT
    }
    assert long == {}


def test_the_design_page_draws_the_rooms_as_the_code_has_them():
    """The picture's import marks are the imports between rooms today
    (redraw with ``python docs/figures.py rooms`` after moving one)."""
    svg = (DOCS / "explanation" / "rooms.svg").read_text()
    drawn = set(re.findall(r'id="import:(_\w+):(_\w+)"', svg))
    assert drawn == architecture.room_edges()
    assert "rooms.svg" in (DOCS / "explanation" / "design.md").read_text()
