"""The import graph of the packages, read from the source: what
`tests/test_architecture.py` checks and the design page's picture of the
core's rooms (`figures.py rooms`) draws."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def import_graph(*packages: str) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports, read from the source
    (imports inside functions included; ``from . import _x`` of a
    submodule counts as importing that submodule only)."""
    modules: dict[str, Path] = {}
    for package in packages:
        root = ROOT / package.replace(".", "/")
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here[: len(here) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                subs = [f"{base}.{a.name}" for a in node.names]
                targets = [t for t in subs if t in modules]
                if len(targets) < len(subs):  # names from the module itself
                    targets.append(base)
            else:
                continue
            for target in targets:
                while target and target not in modules:  # spyx.core.x -> spyx.core
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def room_of(module: str) -> str | None:
    """The room of `spyx.core` a module belongs to (``None`` outside one)."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["spyx", "core"] and len(parts) > 2 else None


def room_edges() -> set[tuple[str, str]]:
    """``(room, room it imports)`` for every import between two rooms."""
    pairs = set()
    for module, targets in import_graph("spyx").items():
        for target in targets:
            a, b = room_of(module), room_of(target)
            if a and b and a != b:
                pairs.add((a, b))
    return pairs
