"""The notebooks (notebooks/0*.ipynb, in name order) run top to bottom (nbval ``--nbval-lax``) on the sample and the real workbook.

Each run is a separate pytest process so the notebooks see exactly the environment a
user's would: ``SEGKIT_DATA`` unset (the sample, or whatever is in ``data/``) or naming
the real workbook; ``SEGKIT_ARTIFACTS`` pointing at a temporary folder so that
``02-train`` saves its model there and ``03-score`` loads it from there, never touching the
project's ``artifacts/``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segkit.config import ARTIFACTS_DIR, PROJECT_ROOT

# In name order: 02-train saves the model that 03-score and 04-value load.
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb"))


def test_every_notebook_is_run():
    assert [p.name for p in NOTEBOOKS][:4] == ["01-explore.ipynb", "02-train.ipynb", "03-score.ipynb", "04-value.ipynb"]


PLOTLY = "application/vnd.plotly.v1+json"


def _chart_cells(notebook: Path) -> list[dict]:
    import json

    cells = json.loads(notebook.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code"
            and any(PLOTLY in o.get("data", {}) for o in c.get("outputs", []))]


def test_every_committed_chart_also_renders_as_an_image_in_html():
    """Outside JupyterLab (nbconvert's HTML, GitHub, the docs site) a
    plotly chart's JSON shows nothing; each chart cell also carries a PNG
    (``segkit.views.notebook.charts_everywhere``), so the HTML holds an image for each."""
    import re

    import nbformat
    from nbconvert import HTMLExporter

    for notebook in NOTEBOOKS:
        charts = _chart_cells(notebook)
        assert charts, f"{notebook.name} shows no chart"
        without = [i for i, c in enumerate(charts)
                   if not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
        assert not without, f"{notebook.name}: chart cells {without} have no static image; re-run make notebooks"
        html, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
        images = len(re.findall(r'<img[^>]*src="data:image/png;base64,', html))
        assert images >= len(charts), f"{notebook.name}: {images} images in its HTML for {len(charts)} charts"


pytestmark = pytest.mark.slow


def _snapshot(folder: Path) -> dict[str, float]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def _run_notebooks(tmp_path: Path, data: Path | None, timeout: int) -> None:
    env = os.environ.copy()
    env.pop("SEGKIT_DATA", None)
    if data is not None:
        env["SEGKIT_DATA"] = str(data)
    artifacts = tmp_path / "artifacts"
    env["SEGKIT_ARTIFACTS"] = str(artifacts)
    env.setdefault("SEGKIT_CACHE", str(tmp_path / "cache"))
    repo_artifacts_before = _snapshot(ARTIFACTS_DIR)

    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
               *(str(p) for p in NOTEBOOKS)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    output = f"{result.stdout}\n{result.stderr}"
    print(f"notebooks on {data or 'the default data'}: {elapsed:.0f} s")

    assert result.returncode == 0, f"nbval failed (exit {result.returncode}) after {elapsed:.0f} s:\n{output[-20000:]}"
    assert (artifacts / "CURRENT").is_file(), "02-train did not save its model to SEGKIT_ARTIFACTS"
    assert _snapshot(ARTIFACTS_DIR) == repo_artifacts_before, "the notebooks changed the project's artifacts/"


def test_notebooks_run_on_the_sample(tmp_path):
    _run_notebooks(tmp_path, data=None, timeout=900)


@pytest.mark.real_data
def test_notebooks_run_on_the_real_workbook(tmp_path, real_workbook):
    _run_notebooks(tmp_path, data=real_workbook, timeout=1800)
