"""The segkit Voilà template reaches every install: a wheel installs it
as Jupyter data files; a plain `voila dashboard.ipynb` without it (an editable install has
no data files) takes the package's copy, and with neither stops at once with one sentence
instead of serving a page that never loads (``TemplateNotFound: index.html.j2``)."""
from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from project_install import pip_install_project

from segkit.server.kernels import PACKAGED_TEMPLATES, use_packaged_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = ("index.html.j2", "conf.json", "503.html")
#: Voilà as an environment without the segkit template in its data folder runs it:
#: ``sys.prefix`` (whose share/jupyter Jupyter searches) is the first argument.
VOILA_IN_PREFIX = """
import sys
sys.prefix = sys.exec_prefix = sys.argv.pop(1)
from voila.app import main
sys.exit(main())
"""


def _app(template_paths, template="segkit"):
    return SimpleNamespace(voila_configuration=SimpleNamespace(template=template), template_paths=list(template_paths),
                           static_paths=[])


def test_an_installed_template_is_used_as_it_is(tmp_path):
    installed = tmp_path / "voila" / "templates" / "segkit"
    installed.mkdir(parents=True)
    (installed / "index.html.j2").write_text("{% extends 'voila/templates/lab/index.html.j2' %}")
    app = _app([str(installed)])
    assert use_packaged_template(app) == "installed" and app.template_paths == [str(installed)]
    assert use_packaged_template(_app([], template="lab")) == "other"


def test_a_missing_template_is_taken_from_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", "")
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEGKIT_PLOTLY_BUNDLE", raising=False)
    app = _app([])
    assert use_packaged_template(app) == "packaged"
    segkit = [p for p in app.template_paths if Path(p).name == "segkit"]
    assert segkit and Path(segkit[0]) == PACKAGED_TEMPLATES / "voila" / "templates" / "segkit"
    assert any(Path(p).name == "lab" for p in app.template_paths)  # its base template too
    assert any(Path(p).parts[-2:] == ("lab", "static") for p in app.static_paths)
    # where voila looks up its static files, and plotly's bundle served beside (as `make run` does)
    assert os.environ["JUPYTER_PATH"].split(os.pathsep)[0] == str(PACKAGED_TEMPLATES)
    assert os.environ["SEGKIT_PLOTLY_BUNDLE"].startswith("templates/segkit/static/plotly-widget-")


def test_a_template_found_nowhere_stops_the_server_with_one_sentence(tmp_path):
    with pytest.raises(SystemExit) as stop:
        use_packaged_template(_app([]), packaged=tmp_path / "nothing")
    message = str(stop.value)
    assert message.count(". ") == 0 and message.endswith(".") and "pip install 'segkit[dashboard]'" in message
    assert "not installed" in message and "--install-template" in message


@pytest.mark.slow
def test_a_wheel_installs_the_template_as_jupyter_data_files(tmp_path):
    # --ignore-installed: without it pip uninstalls the running environment's segkit (the
    # editable install every other test and the notebooks' kernels import) before
    # installing into the prefix.
    prefix = tmp_path / "prefix"
    built = pip_install_project("--ignore-installed", "--prefix", str(prefix))
    assert built.returncode == 0, built.stderr[-2000:]
    installed = prefix / "share" / "jupyter" / "voila" / "templates" / "segkit"
    source = ROOT / "segkit" / "jupyter" / "voila" / "templates" / "segkit"
    for name in TEMPLATE_FILES:
        assert filecmp.cmp(installed / name, source / name, shallow=False), name
    assert sorted(p.name for p in source.iterdir() if p.is_file()) == sorted(TEMPLATE_FILES)  # none forgotten


def jupyter_data_without_segkit(folder: Path) -> Path:
    """A copy of this environment's Jupyter data folder without the segkit template
    (copies, not links: Voilà's static handler refuses files linked from elsewhere)."""
    source = Path(sys.prefix) / "share" / "jupyter"
    target = folder / "share" / "jupyter"
    for part in ("kernels", "labextensions", "nbconvert", "voila"):
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, symlinks=False,
                            ignore=lambda d, names: ["segkit"] if Path(d).name == "templates" else [])
    return target


def start_voila_without_template(folder: Path, port: int, env: dict[str, str], prefix: Path) -> subprocess.Popen:
    """`voila dashboard.ipynb` in a copy of the project (its voila.json), with ``prefix``
    as the environment's data folder: the segkit template is in no Jupyter data folder."""
    work = folder / "project"
    work.mkdir(exist_ok=True)
    for name in ("dashboard.ipynb", "voila.json"):
        shutil.copy(ROOT / name, work / name)
    log = open(folder / "voila.log", "w")  # noqa: SIM115 (closed when the process ends)
    return subprocess.Popen([sys.executable, "-c", VOILA_IN_PREFIX, str(prefix), "dashboard.ipynb", f"--port={port}",
                             "--no-browser"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_without_any_template_voila_stops_at_once_with_one_sentence(tmp_path, monkeypatch):
    """The package's copy missing too (here: a package folder without it): the server
    exits within seconds, the sentence in its log, rather than hanging every visitor."""
    from segkit.server import serve

    data = jupyter_data_without_segkit(tmp_path / "data")
    fake = tmp_path / "pkg"
    shutil.copytree(ROOT / "segkit", fake / "segkit", ignore=shutil.ignore_patterns("jupyter", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("SEGKIT_PLOTLY_BUNDLE", "SEGKIT_DATA")}
    env.update(JUPYTER_PATH=str(data), SEGKIT_ARTIFACTS=str(tmp_path / "artifacts"), SEGKIT_CACHE=str(tmp_path / "c"),
               SEGKIT_POOL_SIZE="1", PYTHONPATH=str(fake))
    start = time.perf_counter()
    process = start_voila_without_template(tmp_path, serve.free_port(), env, tmp_path / "empty-prefix")
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    seconds = time.perf_counter() - start
    log = (tmp_path / "voila.log").read_text(errors="replace")
    assert process.returncode != 0, log[-2000:]
    assert "The segkit Voila template (voila/templates/segkit/index.html.j2) is not installed" in log, log[-2000:]
    print(f"\nvoila without the template stopped after {seconds:.1f} s")
