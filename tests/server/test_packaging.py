"""pyproject.toml and environment.yml list the same packages."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONDA_NAMES = {"python-duckdb": "duckdb"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    listed = set()
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    for line in text.splitlines():
        match = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if match and not line.strip().startswith("- -e"):
            listed.add(CONDA_NAMES.get(_name(match.group(1)), _name(match.group(1))))
    listed -= {"python", "pip"}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_the_test_extra_installs_every_other_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("dashboard", "notebooks", "clv", "spark", "docs"):
        missing = {_name(r) for r in extras[extra]} - {_name(r) for r in extras["test"]}
        assert not missing, f"[test] lacks {missing} of [{extra}]"


def test_the_core_install_has_no_page_notebook_clv_or_spark_packages():
    core = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert not core & {"plotly", "ipywidgets", "anywidget", "voila", "jupyterlab", "seaborn", "matplotlib",
                       "datashader", "pillow", "pymc-marketing", "pyspark"}


def test_the_spark_extra_is_installed_by_the_test_extra_and_pins_pyspark_4_0():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {_name(r) for r in extras["spark"]} <= {_name(r) for r in extras["test"]}
    assert any(r.replace(" ", "").startswith("pyspark>=4.0,<4.1") for r in extras["spark"])


#: Run in a child process: segkit as `pip install segkit` leaves it, without the packages
#: of the dashboard, notebooks, clv and spark extras (they are hidden from the importer).
CORE_ONLY = """
import runpy, sys
HIDDEN = {"plotly", "seaborn", "matplotlib", "datashader", "ipywidgets", "anywidget", "voila", "jupyterlab",
          "PIL", "pymc", "pymc_marketing", "pytensor", "pyspark", "IPython", "ipykernel", "nbformat"}
class Hidden:
    def __init__(self, finder): self.finder = finder
    def find_spec(self, name, path=None, target=None):
        return None if name.split(".")[0] in HIDDEN else self.finder.find_spec(name, path, target)
    def __getattr__(self, attribute): return getattr(self.finder, attribute)
sys.meta_path[:] = [Hidden(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]
module, sys.argv = sys.argv[1], sys.argv[1:]
if module == "segkit.cli":
    from segkit.cli import main
    sys.exit(main(sys.argv[1:]))
runpy.run_module(module, run_name="__main__")
"""


@pytest.mark.slow  # pip installs the wheel into a new virtual environment (30 s)
def test_a_core_install_runs_the_cli_and_points_to_the_extras(tmp_path):
    import os
    import subprocess
    import sys

    def run(module: str, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, SEGKIT_CACHE=str(tmp_path / "cache"))
        return subprocess.run([sys.executable, "-c", CORE_ONLY, module, *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=600)

    log, artifacts = tmp_path / "log.csv", tmp_path / "artifacts"
    for args in (["sample", "--out", str(log)], ["features", "--data", str(log), "--out", str(tmp_path / "f.csv")],
                 ["train", "--data", str(log), "--artifacts", str(artifacts)],
                 ["score", "--data", str(log), "--artifacts", str(artifacts), "--out", str(tmp_path / "s.csv")],
                 ["models", "--artifacts", str(artifacts)]):
        done = run("segkit.cli", *args)
        assert done.returncode == 0, f"segkit {args[0]} failed without the extras: {done.stderr[-1500:]}"
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "s.csv")) == len(pd.read_csv(tmp_path / "f.csv")) > 1000
    clv = run("segkit.cli", "clv", "--data", str(log), "--out", str(tmp_path / "c.csv"))
    assert clv.returncode != 0 and "pip install 'segkit[clv]'" in clv.stderr and "Traceback" not in clv.stderr
    served = run("segkit.server.serve", "--no-browser")
    assert served.returncode != 0 and "pip install 'segkit[dashboard]'" in served.stderr
    assert "Traceback" not in served.stderr
