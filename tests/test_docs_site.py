"""The built site, as CI builds it (`mkdocs build --strict`, warnings
counted): it works offline (nothing is fetched from another host, MathJax
included), its error page's links resolve, no page names a development
host, and the reference's signatures fit their boxes."""

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_math_renders_without_a_network():
    """The site loads MathJax from its own files (copied from a PyPI package
    by docs/hooks/mathjax.py), not from a CDN."""
    from mkdocs.utils.yaml import yaml_load  # reads mkdocs' !ENV tags too

    with (DOCS.parent / "mkdocs.yml").open() as f:
        config = yaml_load(f)
    scripts = config["extra_javascript"]
    assert not [s for s in scripts if "://" in s], scripts
    assert "javascripts/mathjax/tex-mml-chtml.js" in scripts
    assert "docs/hooks/mathjax.py" in config["hooks"]
    spec = importlib.util.spec_from_file_location(
        "mathjax_hook", DOCS / "hooks" / "mathjax.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    for part in hook.ES5:
        assert (hook.source() / part).exists(), part


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """The site as CI builds it: strict, warnings counted."""
    import os
    import subprocess
    import sys

    site = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(site)],
        cwd=DOCS.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return site


# What a page fetches by itself: scripts, styles, images, fonts, frames.
_FETCHED = re.compile(
    r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc=\"([^\"]+)\""
    r"|<link\b(?![^>]*\brel=\"(?:canonical|alternate|prev|next)\")[^>]*"
    r"\bhref=\"([^\"]+)\""
)


def test_the_built_site_requests_nothing_outside_itself(built_site):
    """Offline, every page renders: nothing a page loads (fonts included)
    comes from another host; links a reader may follow are not loads."""
    outside = []
    for page in built_site.rglob("*.html"):
        for match in _FETCHED.finditer(page.read_text()):
            url = match.group(1) or match.group(2)
            if re.match(r"(https?:)?//", url):
                outside.append(f"{page.relative_to(built_site)}: {url}")
    for sheet in built_site.rglob("*.css"):
        for url in re.findall(
            r"(?:url\(|@import\s)['\"]?((?:https?:)?//[^'\")]+)", sheet.read_text()
        ):
            outside.append(f"{sheet.relative_to(built_site)}: {url}")
    assert not outside, "\n".join(sorted(set(outside))[:20])
    assert list(built_site.rglob("*.html"))


def test_the_error_page_links_resolve_and_no_page_names_a_host(built_site):
    """404.html is served for any missing path, at any depth: its links start
    at the site's root and each one reaches a file of the site. With no
    published address configured, no page (canonical link, sitemap) names a
    host such as localhost."""
    page = (built_site / "404.html").read_text()
    links = re.findall(r"\b(?:href|src)=\"([^\"#]+)", page)
    local = [u for u in links if not re.match(r"(https?:)?//|mailto:", u)]
    assert len(local) > 20, local
    broken = []
    for url in local:
        assert url.startswith("/"), url
        target = built_site / url.lstrip("/")
        if not (target.is_file() or (target / "index.html").is_file()):
            broken.append(url)
    assert not broken, broken
    named = [
        str(p.relative_to(built_site))
        for p in [*built_site.rglob("*.html"), *built_site.glob("sitemap.xml")]
        if re.search(r"(https?:)?//(localhost|127\.0\.0\.1)", p.read_text())
    ]
    assert not named, named[:10]


def test_signatures_fit_their_box(built_site):
    """The reference's signatures are formatted (ruff) and each line fits
    its box at desktop width (72 columns) without a scrollbar."""
    import html

    long, count = [], 0
    for page in (built_site / "reference").rglob("*.html"):
        boxes = re.findall(
            r'<div class="doc-signature highlight"><pre>(.*?)</pre>',
            page.read_text(),
            re.S,
        )
        for box in boxes:
            count += 1
            for line in html.unescape(re.sub(r"<[^>]+>", "", box)).splitlines():
                if len(line) > 72:
                    long.append(f"{page.parent.name}: {line}")
    assert count > 100, count
    assert not long, "\n".join(long)
