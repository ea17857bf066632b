"""Sphinx configuration of segkit's documentation site (``make docs``).

Why Sphinx with pydata-sphinx-theme, MyST and myst-nb (see docs/index.md, "About this site"):
the notebooks in notebooks/ render into the site with their committed outputs (myst-nb),
the API reference comes from the numpy-style docstrings (autodoc + napoleon), and the
guides stay Markdown. It is the stack of scikit-learn and pymc-marketing.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout's segkit
# Importing segkit's modules for autodoc must not read data/ or write into the project.
os.environ.setdefault("SEGKIT_DATA", "")

import segkit

project = "segkit"
author = "segkit contributors"
copyright = "2026, segkit contributors"
release = version = segkit.__version__

extensions = [
    "myst_nb",  # Markdown pages (MyST) and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_copybutton",
]

root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "README.md"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}

# MyST: headings get anchors (#what-at-risk-means), so links to sections are checked.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Notebooks: rendered with the outputs committed in notebooks/ (tests/test_notebooks.py
# executes them; `make notebooks` refreshes the outputs).
nb_execution_mode = "off"
nb_merge_streams = True
# plotly figures are saved as plotly JSON only; conf.setup draws them with plotly.js
nb_mime_priority_overrides = [("html", "application/vnd.plotly.v1+json", 45)]

# API reference from numpy-style docstrings.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = False  # segkit's older docstrings say "name : what it is" (no type): shown as written, not linked
autodoc_member_order = "bysource"
autodoc_typehints = "signature"  # napoleon writes the Parameters section; types stay in the signature
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": False}
# With only the `docs` extra installed (no dashboard, notebooks, clv or spark extras), the
# modules that import those packages are documented against stand-ins.
OPTIONAL_PACKAGES = ("plotly", "ipywidgets", "anywidget", "voila", "datashader", "PIL", "pymc", "pymc_marketing",
                     "pytensor", "pyspark", "matplotlib", "seaborn")
autodoc_mock_imports = [name for name in OPTIONAL_PACKAGES if importlib.util.find_spec(name) is None]

html_theme = "pydata_sphinx_theme"
html_title = f"segkit {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": []}
html_last_updated_fmt = None

# `-n` (nitpicky): every reference to segkit must resolve. Types of other packages are not
# linked (the site is built offline, without intersphinx), so they are not checked.
nitpick_ignore_regex = [
    (r"py:.*", (r"(pd|pandas|np|numpy|sklearn|scipy|pathlib|plotly|go|ipywidgets|widgets|ibis|duckdb|pyspark|pyarrow"
                r"|pa|anywidget|voila|jupyter_server|tornado|traitlets|matplotlib|datetime|collections|typing"
                r"|concurrent|asyncio|subprocess|threading|os|io|json|hashlib|re)(\..*)?")),
    (r"py:.*", (r"(Path|Mapping|Sequence|Iterable|Iterator|Callable|Any|Literal|Timestamp|DataFrame|Series"
                r"|ndarray|Figure|Widget|Engine|NoneType|optional|default|callable|array-like)")),
]
nitpick_ignore_regex += [(r"py:.*", r"segkit\.files\.locks\.T"), (r"py:.*", r"'.*'"), (r"py:.*", r"t\..*")]


def _attribute_as_written(self) -> list[str]:
    """segkit documents constants and properties in words ("What the page calls a segment:
    ..."); napoleon would read the text before the first colon as a type and link it."""
    return self.__class__(self._consume_to_end(), self._config).lines()


PLOTLY_MIME = "application/vnd.plotly.v1+json"
_pages_with_plotly: set[str] = set()


def _render_plotly(self, data):
    """The notebooks' plotly figures (saved as plotly JSON only) drawn by plotly.js, which
    is copied into the site's _static folder: the notebook pages work offline."""
    import hashlib
    import json

    from docutils import nodes

    if data.mime_type != PLOTLY_MIME:
        return _render_unhandled(self, data)
    figure = data.content if isinstance(data.content, str) else json.dumps(data.content)
    div = "plotly-" + hashlib.sha256(figure.encode()).hexdigest()[:12]
    source = str(self.source)
    script = "" if source in _pages_with_plotly else f'<script src="{_plotly_js()}"></script>\n'
    _pages_with_plotly.add(source)
    figure = figure.replace("</", "<\\/")
    html = (f'{script}<div id="{div}" class="segkit-plotly"></div>\n<script>(function () {{ const f = {figure};'
            f' Plotly.newPlot("{div}", f.data, f.layout, {{responsive: true}}); }})();</script>')
    return [nodes.raw(text=html, format="html")]


def _plotly_js() -> str:
    """Where the notebook pages load plotly.js from: the copy in _static (from the installed
    plotly package), or, with only the `docs` extra installed, plotly's CDN."""
    return "../_static/plotly.min.js" if importlib.util.find_spec("plotly") else PLOTLY_CDN


#: plotly.js from its CDN for a build without the plotly package (its version may differ from
#: the one the notebooks were saved with).
PLOTLY_CDN = "https://cdn.plot.ly/plotly-3.1.0.min.js"


def _copy_plotly_js(app, exception):
    import shutil

    if importlib.util.find_spec("plotly") is None:
        return
    import plotly

    if exception is None and app.builder.format == "html":
        source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        (Path(app.outdir) / "_static").mkdir(exist_ok=True)
        shutil.copyfile(source, Path(app.outdir) / "_static" / "plotly.min.js")


def setup(app):
    global _render_unhandled
    from myst_nb.core.render import NbElementRenderer
    from sphinx.ext.napoleon import docstring

    docstring.GoogleDocstring._parse_attribute_docstring = _attribute_as_written
    _render_unhandled = NbElementRenderer.render_unhandled
    NbElementRenderer.render_unhandled = _render_plotly
    app.connect("build-finished", _copy_plotly_js)
