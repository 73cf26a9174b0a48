"""MkDocs hook: ship MathJax with the site, so equations render offline.

MathJax comes from the `django-static-mathjax` package on PyPI (MathJax's
own ES5 build as static files, no dependencies), installed by the ``docs``
extra; `on_post_build` copies the renderer, its fonts and its TeX
extensions into ``site/javascripts/mathjax``, where the pages load it.
"""

import shutil
from pathlib import Path
from typing import Any

ES5 = ("tex-mml-chtml.js", "output/chtml/fonts", "input/tex/extensions")


def source() -> Path:
    """The folder of MathJax's ES5 build in the installed package."""
    try:
        import mathjax
    except ImportError as err:
        raise RuntimeError(
            "The docs need MathJax from the 'docs' extra: pip install -e '.[docs]' "
            "(it brings django-static-mathjax)."
        ) from err
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def on_post_build(config: Any, **kwargs: Any) -> None:
    src, dest = source(), Path(config["site_dir"]) / "javascripts" / "mathjax"
    for part in ES5:
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if (src / part).is_dir():
            shutil.copytree(src / part, target, dirs_exist_ok=True)
        else:
            shutil.copy2(src / part, target)
