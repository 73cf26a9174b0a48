"""The documentation is executed: every ```python block of the tutorials,
the how-to guides and the installation page, in order, in one namespace per
page. (Fragments of multi-process programs are marked ```py instead; the
program they come from, examples/data_parallel.py, is run by
tests/test_multiprocess.py.)"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = sorted((DOCS / "tutorial").glob("*.md"))
HOW_TO = sorted((DOCS / "how-to").glob("*.md")) + [DOCS / "install.md"]
# pages whose blocks take long (training, benchmarks) run with the slow tests
SLOW_PAGES = {
    "benchmark",
    "convert",
    "long-sequences",
    "multi-device",
    "train-eqx",
    "train-nnx",
}


def test_the_tutorial_pages_exist():
    assert [p.name for p in PAGES] == ["first-snn-eqx.md", "first-snn-nnx.md"]


def _run_page(page):
    blocks = BLOCK.findall(page.read_text())
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as err:  # pragma: no cover - the message is the point
            raise AssertionError(
                f"{page.name}, code block {i} failed: {err!r}"
            ) from err
    return blocks


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_tutorial_code_runs(page):
    assert len(_run_page(page)) >= 3


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(
            p, id=p.stem, marks=pytest.mark.slow if p.stem in SLOW_PAGES else ()
        )
        for p in HOW_TO
    ],
)
def test_how_to_code_runs(page, tmp_path, monkeypatch):
    """Every how-to page is a complete program (pages without Python code,
    such as the migration notes, run nothing)."""
    monkeypatch.chdir(tmp_path)
    _run_page(page)


def _docstring_examples():
    import inspect

    import spyx.nn
    import spyx_eqx

    for module in (spyx.nn, spyx_eqx):
        for name in module.__all__:
            obj = getattr(module, name)
            doc = inspect.getdoc(obj) or ""
            for code in BLOCK.findall(doc + "\n"):
                yield f"{module.__name__}.{name}", code


EXAMPLES = list(_docstring_examples())


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_docstring_examples_run(name, code):
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import spyx
    import spyx.nn
    import spyx_eqx

    namespace = dict(jax=jax, jnp=jnp, nnx=nnx, eqx=eqx, spyx=spyx, spyx_eqx=spyx_eqx)
    exec(compile(code, f"{name} docstring", "exec"), namespace)


def test_every_neuron_docstring_has_a_runnable_example():
    from spyx import core

    names = {n for n, _ in EXAMPLES}
    for spec in core.NEURONS:
        assert f"spyx.nn.{spec.name}" in names and f"spyx_eqx.{spec.name}" in names
