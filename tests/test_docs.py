"""The documentation site (docs/, `make docs`): it builds with warnings as errors, every
internal link and anchor resolves, every Python example of the guides runs, and a reader
finds the answers to five questions within two clicks of the front page."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The pages whose ```python blocks must run, in order, as one script per page.
GUIDES = sorted(path.name for path in DOCS.glob("*.md") if "```python" in path.read_text(encoding="utf-8"))

pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    """The links, the element ids and the text of one built HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built as `make docs` builds it: warnings are errors, nitpicky references."""
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            raise AssertionError(f"the docs tools are missing in CI ({exc}); install segkit[test]") from exc
        pytest.skip(f"the docs tools are not installed ({exc}): pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("docs") / "html"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           str(DOCS), str(out), "-d", str(out.parent / "doctrees")],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, f"the docs do not build cleanly:\n{done.stderr[-4000:]}"
    return out


def _internal(href: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", href) and not href.startswith("//")


def _target(page: Path, href: str) -> tuple[Path, str]:
    path, fragment = urldefrag(href)
    return (page if not path else (page.parent / unquote(path)).resolve()), unquote(fragment)


def test_every_internal_link_and_anchor_resolves(site):
    pages = {path.resolve(): _parse(path) for path in site.rglob("*.html")}
    broken = []
    for path, page in pages.items():
        for href in page.links:
            if not _internal(href):
                continue
            target, fragment = _target(path, href)
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {href} (no such file)")
            elif fragment and target.suffix == ".html" and fragment not in pages[target].ids:
                broken.append(f"{path.relative_to(site)}: {href} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_the_notebooks_are_rendered_with_their_outputs(site):
    for name in ("01-explore", "02-train", "03-score", "04-value"):
        html = (site / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        assert "cell_output" in html, f"{name} has no rendered outputs"
    assert "Plotly.newPlot" in (site / "notebooks" / "02-train.html").read_text(encoding="utf-8")
    assert (site / "_static" / "plotly.min.js").exists()


def test_the_api_reference_documents_the_most_used_functions(site):
    text = " ".join(" ".join(_parse(path).text) for path in (site / "api").glob("*.html"))
    for name in ("load_transactions", "clean_transactions", "customer_features", "SegmentationModel",
                 "load_customer_data", "train_model", "customers_for_scoring", "register_feature",
                 "backtest_segments", "save_artifacts", "load_artifacts"):
        assert name in text, f"{name} is missing from the API reference"


#: Question -> texts that, all on one page, answer it.
QUESTIONS = {
    'what "At risk" means': ("At risk", "bought more than once, but not for 120 to 179 days"),
    "how to score a new file": ("segkit score --data", "customers_for_scoring"),
    "how to add your own feature": ("register_feature", "--feature-module"),
    "how to run the page for ten colleagues": ("ten colleagues", "SEGKIT_POOL_SIZE", "SEGKIT_MAX_KERNELS"),
    "how fast segkit is at 20M lines": ("20M-line log", "DuckDB", "pandas baseline"),
}


def test_a_reader_finds_each_answer_within_two_clicks_of_the_front_page(site):
    front = site / "index.html"

    def linked(path: Path) -> set[Path]:
        out = set()
        for href in _parse(path).links:
            if _internal(href):
                target, _ = _target(path, href)
                if target.suffix == ".html" and target.exists():
                    out.add(target)
        return out

    one_click = linked(front) | {front.resolve()}
    two_clicks = set(one_click)
    for page in one_click:
        two_clicks |= linked(page)
    texts = {page: " ".join(" ".join(_parse(page).text).split()) for page in two_clicks}
    for question, needles in QUESTIONS.items():
        found = [page for page, text in texts.items() if all(needle in text for needle in needles)]
        assert found, f"no page within two clicks of the front page tells {question} ({needles})"


def test_the_data_science_guide_has_runnable_examples():
    assert "data-science.md" in GUIDES and len(_python_blocks((DOCS / "data-science.md").read_text())) >= 5


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_python_examples_run_on_the_built_in_sample(guide, tmp_path):
    blocks = _python_blocks((DOCS / guide).read_text(encoding="utf-8"))
    script = tmp_path / "examples.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    env = dict(os.environ, SEGKIT_DATA="", SEGKIT_ARTIFACTS=str(tmp_path / "artifacts"),
               SEGKIT_CACHE=os.environ.get("SEGKIT_CACHE", str(tmp_path / "cache")), SEGKIT_CLV="0",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, f"the Python examples of docs/{guide} fail:\n{done.stderr[-3000:]}"


def test_the_readme_is_short_and_keeps_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    head = "\n".join(readme.splitlines()[:12])
    assert "make run" in head and "make test" in head
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test", "docs", "docs-serve"):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"make {target} is gone"
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), f"README links to a missing {link}"


#: Modules whose docstrings carry examples (numpy-style "Examples" sections, run as doctests).
DOCTEST_MODULES = ("segkit.ingest.load", "segkit.ingest.sample", "segkit.clean", "segkit.features.customers",
                   "segkit.modeling.model", "segkit.pipeline.workflow", "segkit.pipeline.artifacts",
                   "segkit.pipeline.backtest", "segkit.pipeline.thresholds", "segkit.rules.registry", "segkit.value.clv", "segkit.views.notebook")
DOCTEST = """
import doctest, importlib, sys
failed = 0
for name in sys.argv[1:]:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failed += result.failed
sys.exit(1 if failed else 0)
"""


def test_the_docstring_examples_run(tmp_path):
    env = dict(os.environ, SEGKIT_DATA="", SEGKIT_ARTIFACTS=str(tmp_path / "artifacts"), SEGKIT_CLV="0",
               SEGKIT_CACHE=os.environ.get("SEGKIT_CACHE", str(tmp_path / "cache")),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", DOCTEST, *DOCTEST_MODULES], check=False, capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, f"docstring examples fail:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"


def test_every_name_of_the_package_api_has_an_example_that_the_doctests_run():
    """Each name ``import segkit`` offers has a ``>>>`` example in its own docstring (or its
    class's), in a module ``test_the_docstring_examples_run`` runs."""
    import segkit

    for name, module in segkit._API.items():
        assert ">>>" in (getattr(segkit, name).__doc__ or ""), f"segkit.{name} has no example in its docstring"
        assert module in DOCTEST_MODULES, f"segkit.{name}'s module {module} is not in DOCTEST_MODULES"


def test_every_segkit_command_in_the_docs_exists_with_its_options():
    """Each `segkit SUB --option` in a code block of the README or the guides is a real
    subcommand with that option (the CLI reference cannot drift from `segkit --help`)."""
    import argparse

    from segkit.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {name: {o for a in parser._actions for o in a.option_strings} for name, parser in sub.choices.items()}
    wrong = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for block in re.findall(r"^```(?:bash|text)\n(.*?)^```", path.read_text(encoding="utf-8"),
                                flags=re.DOTALL | re.MULTILINE):
            command = None
            for line in block.splitlines():
                line = line.split("#", 1)[0]
                found = re.search(r"\bsegkit ([a-z-]+)", line)
                if found:
                    command = found.group(1)
                    if command not in options:
                        wrong.append(f"{path.name}: segkit {command}")
                        continue
                elif not line.startswith(" "):
                    command = None  # a continuation line of the usage text keeps the command
                if command in options:
                    for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line):
                        if option not in options[command]:
                            wrong.append(f"{path.name}: segkit {command} {option}")
    assert not wrong, "commands or options the CLI does not have:\n" + "\n".join(wrong)
