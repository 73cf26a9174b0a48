"""The tutorial pages are executed: every ```python block, in order, in one
namespace per page."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = sorted((DOCS / "tutorial").glob("*.md"))


def test_the_tutorial_pages_exist():
    assert [p.name for p in PAGES] == ["first-snn-eqx.md", "first-snn-nnx.md"]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_tutorial_code_runs(page):
    blocks = BLOCK.findall(page.read_text())
    assert len(blocks) >= 3
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as err:  # pragma: no cover - the message is the point
            raise AssertionError(
                f"{page.name}, code block {i} failed: {err!r}"
            ) from err
