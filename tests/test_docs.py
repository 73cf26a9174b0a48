"""The documentation is executed and its figures are drawn by code: every
```python block on the site runs (the pages' blocks in order, in one
namespace per page; each docstring example the API reference shows on its
own), every image a page shows is written by ``docs/figures.py``, and code
fits its box (80 columns). Fragments that cannot run here (multi-process
programs, loaders of data sets that do not ship) are fenced ```py instead;
the multi-process program they come from, examples/data_parallel.py, is run
by tests/test_multiprocess.py."""

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_spec = importlib.util.spec_from_file_location("docs_figures", DOCS / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)

BLOCK = figures.BLOCK
ALL_PAGES = sorted(p for p in DOCS.rglob("*.md") if p.parent.name != "reference")
TUTORIALS = [p for p in ALL_PAGES if p.parent.name == "tutorial"]
OTHER_PAGES = [p for p in ALL_PAGES if p not in TUTORIALS]
# pages whose blocks take long (training, benchmarks) run with the slow tests
SLOW_PAGES = {
    "benchmark",
    "convert",
    "graphs",
    "long-sequences",
    "look-inside",
    "multi-device",
    "nir",
    "train-eqx",
    "train-nnx",
}


def test_the_tutorial_pages_exist():
    assert [p.name for p in TUTORIALS] == ["first-snn-eqx.md", "first-snn-nnx.md"]


@pytest.mark.parametrize(
    "page",
    [  # the Equinox tutorial (15 s) with the slow checks
        pytest.param(p, id=p.stem, marks=pytest.mark.slow if "eqx" in p.stem else ())
        for p in TUTORIALS
    ],
)
def test_tutorial_code_runs_and_draws_its_figures(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(figures.run_page(page)) >= 3
    shown = figures.images(page)
    assert len(shown) >= 3  # an input raster, a membrane trace, a loss curve
    for image in shown:
        assert (tmp_path / image).stat().st_size > 1000, image


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(
            p,
            id=str(p.relative_to(DOCS).with_suffix("")),
            marks=pytest.mark.slow if p.stem in SLOW_PAGES else (),
        )
        for p in OTHER_PAGES
    ],
)
def test_page_code_runs(page, tmp_path, monkeypatch):
    """Every how-to page is a complete program, and so is the code on every
    other page (pages without Python code, such as the migration notes, run
    nothing)."""
    monkeypatch.chdir(tmp_path)
    figures.run_page(page)


def test_every_image_on_the_site_is_drawn_by_the_figure_script():
    drawn = {DOCS / f for _, files in figures.FIGURES.values() for f in files}
    for page in ALL_PAGES:
        for image in figures.images(page):
            path = (page.parent / image).resolve()
            assert path in drawn, f"{page.name} shows {image}, which no figure draws"
            assert path.is_file(), f"{page.name} shows {image}, which is missing"
    for path in drawn:
        assert any(
            path == (p.parent / i).resolve()
            for p in ALL_PAGES
            for i in figures.images(p)
        ), f"{path.name} is drawn but no page shows it"


@pytest.mark.slow  # as the figure script's test below, for every figure
def test_quick_figures_draw(tmp_path):
    """The figures that take seconds (the tutorials' are drawn by their
    test above, the digits example's by the slow test below)."""
    for name in ("surrogates", "resets", "performance", "strategies", "primer"):
        figures.main([name, "--out", str(tmp_path)])
        for file in figures.FIGURES[name][1]:
            assert (tmp_path / file).stat().st_size > 1000


@pytest.mark.slow
def test_the_figure_script_draws_every_figure(tmp_path):
    figures.main(["--out", str(tmp_path)])
    for _, files in figures.FIGURES.values():
        for file in files:
            assert (tmp_path / file).stat().st_size > 1000, file


def test_performance_chart_reads_the_table():
    rows = figures.performance_table(DOCS / "explanation" / "per-neuron-cpu.csv")
    floors = [r for r in rows if r["neuron"].startswith("floor")]
    assert floors and all(r["fwd+bwd x floor"] == "1.00" for r in floors)
    assert {r["neuron"] for r in rows} >= {s.name for s in _neurons() if s.spiking}


def test_the_comparison_tables_are_the_measured_ones():
    """The performance page's tables against spyx 1.0 and snnTorch are the
    CSV `benchmarks/versus.py` wrote, every neuron at both shapes."""
    path = DOCS / "explanation" / "versus-cpu.csv"
    page = (DOCS / "explanation" / "performance.md").read_text()
    for shape in ("100x64x128", "1000x16x256"):
        table = figures.versus_table(path, shape)
        assert table in page, shape
        assert len(table.splitlines()) == 2 + len(_neurons()) - 1  # LI is the readout


def test_strategy_chart_reads_the_table():
    """Every shape of the grid and every spiking neuron, both passes."""
    rows = figures.strategies_table(DOCS / "explanation" / "strategies-cpu.csv")
    spiking = {s.name for s in _neurons() if s.spiking}
    assert {r["neuron"] for r in rows} == spiking
    assert len({r["T, B, H"] for r in rows}) == 12
    assert {r["pass"] for r in rows} == {"fwd+bwd", "fwd"}
    assert len(rows) == 12 * len(spiking) * 2


def _neurons():
    from spyx import core

    return core.NEURONS


def _reference_modules() -> list[str]:
    """The modules the API reference shows (its ``::: name`` lines name
    modules, or members of a module, as spyx.core's topic pages do)."""
    import importlib.util

    pages = sorted((DOCS / "reference").glob("*.md"))
    found = [m for p in pages for m in re.findall(r"^::: (\S+)", p.read_text(), re.M)]
    modules = []
    for name in found:
        while importlib.util.find_spec(name) is None:
            name = name.rpartition(".")[0]
        modules.append(name)
    return list(dict.fromkeys(modules))  # spyx.core spans several pages


def _docstring_examples():
    """Every ```python block of the docstrings the reference renders: the
    modules', their public members' and those members' public methods'."""
    import importlib
    import inspect

    for module_name in _reference_modules():
        module = importlib.import_module(module_name)
        docs = [(module_name, module.__doc__)]
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            docs.append((f"{module_name}.{name}", inspect.getdoc(obj)))
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") or attr == "__call__":
                        docs.append(
                            (f"{module_name}.{name}.{attr}", inspect.getdoc(member))
                        )
        for name, doc in docs:
            for code in BLOCK.findall((doc or "") + "\n"):
                yield module_name, name, code


EXAMPLES = list(_docstring_examples())


# the examples that train or benchmark (seconds each) run with the slow checks
SLOW_EXAMPLES = ("spyx.optimize", "spyx.bench")


@pytest.mark.parametrize(
    ("module_name", "name", "code"),
    [
        pytest.param(
            m, n, c, id=n, marks=pytest.mark.slow if m in SLOW_EXAMPLES else ()
        )
        for m, n, c in EXAMPLES
    ],
)
def test_docstring_examples_run(module_name, name, code, tmp_path, monkeypatch):
    """Each example runs on its own, with the usual imports (``jax``,
    ``jnp``, ``np``, ``nnx``, ``eqx``, ``spyx``, ``spyx_eqx``) and the names
    of the module whose page shows it."""
    import importlib

    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    import spyx
    import spyx.nn
    import spyx_eqx

    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    namespace = {n: getattr(module, n) for n in getattr(module, "__all__", [])}
    import optax

    namespace.update(
        jax=jax, jnp=jnp, np=np, nnx=nnx, eqx=eqx, spyx=spyx, spyx_eqx=spyx_eqx
    )
    namespace["optax"] = optax
    exec(compile(code, f"{name} docstring", "exec"), namespace)


def test_every_neuron_docstring_has_a_runnable_example():
    names = {n for _, n, _ in EXAMPLES}
    for spec in _neurons():
        assert f"spyx.nn.{spec.name}" in names and f"spyx_eqx.{spec.name}" in names


def _code_lines():
    for page in ALL_PAGES:
        fenced = re.findall(r"^```\w*\n(.*?)^```", page.read_text(), re.S | re.M)
        for block in fenced:
            for line in block.splitlines():
                yield page.name, line
    for _, name, code in EXAMPLES:
        for line in code.splitlines():
            yield f"{name} docstring", line


def test_code_fits_its_box():
    """Code blocks on the site and in rendered docstrings stay within 80
    columns, so they fit their box at desktop width without scrolling."""
    long = [f"{where}: {line}" for where, line in _code_lines() if len(line) > 80]
    assert not long, "\n".join(long)


def _docstrings():
    """Every documented object of both packages, parsed as the reference
    pages parse them (Google style)."""
    import griffe

    seen = set()

    def walk(obj):
        if obj.path in seen or obj.is_alias:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            yield obj
        for member in obj.members.values():
            if not member.is_alias and (
                member.is_module or member.is_class or member.is_function
            ):
                yield from walk(member)

    for package in ("spyx", "spyx_eqx"):
        yield from walk(
            griffe.load(
                package, docstring_parser="google", search_paths=[str(DOCS.parent)]
            )
        )


def test_every_returns_section_is_one_row():
    """A `Returns:` section describes one value: continuation lines are
    indented, so the reference shows one row, not one per line."""
    split = [
        obj.path
        for obj in _docstrings()
        for section in obj.docstring.parsed
        if section.kind.value == "returns" and len(section.value) > 1
    ]
    assert not split, split


@pytest.mark.slow
def test_reference_pages_are_readable(tmp_path):
    """The built reference: no page over 30,000 characters of text, no
    private module or `__all__` entry shown."""
    import html
    import subprocess
    import sys

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "-d", str(site)],
        cwd=DOCS.parent,
        check=True,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    for page in sorted((site / "reference").glob("*/index.html")):
        raw = page.read_text()
        shown = re.findall(r'id="[\w.]*\.(_\w+)"', raw)
        assert not set(shown) - {"__call__"}, (page, shown)
        text = re.sub(r"<(script|style).*?</\1>", "", raw, flags=re.S)
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())
        assert len(text) < 30_000, f"{page.parent.name}: {len(text)} characters"


REFERENCE_MODULES = (
    "spyx.nn",
    "spyx.axn",
    "spyx.fn",
    "spyx.data",
    "spyx.nir",
    "spyx.bench",
    "spyx.experimental",
    "spyx.core",
    "spyx.checkpoint",
    "spyx.sharding",
    "spyx.optimize",
    "spyx.metrics",
    "spyx_eqx",
    "spyx_eqx.nir",
)


def _public_docstrings():
    """``(name, docstring)`` of every module, class, function, method and
    property the reference shows."""
    import importlib
    import inspect

    for name in REFERENCE_MODULES:
        module = importlib.import_module(name)
        yield name, inspect.getdoc(module)
        for public in module.__all__:
            obj = getattr(module, public)
            if not (inspect.isclass(obj) or callable(obj)):
                continue  # constants carry their type's docstring
            yield f"{name}.{public}", inspect.getdoc(obj)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__call__":
                        continue
                    if inspect.isfunction(value) or isinstance(value, property):
                        yield f"{name}.{public}.{attr}", value.__doc__


def test_first_sentences_fit_one_line():
    """The summary tables show a docstring's first line: it is a whole
    sentence (the first paragraph is one line)."""
    import inspect

    wrapped = [
        f"{name}: {inspect.cleandoc(doc).splitlines()[0]}"
        for name, doc in _public_docstrings()
        if doc and len(inspect.cleandoc(doc).split("\n\n")[0].splitlines()) > 1
    ]
    assert not wrapped, "\n".join(wrapped)


def test_faq_surrogate_advice_holds():
    """The FAQ: `boxcar()` and `triangular()` give no gradient away from the
    threshold, the straight-through estimator and the smooth surrogates give
    one everywhere."""
    import jax
    import jax.numpy as jnp

    import spyx.axn as axn

    x = jnp.linspace(-3.0, 3.0, 601)
    far = jnp.abs(x) > 1.0

    def support(spike):
        return jax.vmap(jax.grad(spike))(x) != 0

    assert (DOCS / "faq.md").read_text().count("custom(bwd=jnp.ones_like)") == 1
    for sparse in (axn.boxcar(), axn.triangular()):
        assert not bool(jnp.any(support(sparse) & far)), sparse
    for dense in (axn.custom(bwd=jnp.ones_like), axn.superspike(), axn.arctan()):
        assert bool(jnp.all(support(dense))), dense


def test_every_core_name_is_on_a_core_page():
    """spyx.core's reference is split by topic; no public name is left out."""
    import spyx.core

    listed = set()
    for page in (DOCS / "reference").glob("core*.md"):
        listed |= set(re.findall(r"^::: spyx\.core\.(\w+)$", page.read_text(), re.M))
    assert set(spyx.core.__all__) <= listed, set(spyx.core.__all__) - listed
