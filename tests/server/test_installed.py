"""A plain (non-editable) install finds data/, artifacts/ and .cache/ from the working
folder, never inside site-packages."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from project_install import pip_install_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_plain_install_resolves_paths_from_the_working_folder(tmp_path):
    target = tmp_path / "site"
    built = pip_install_project("--target", str(target))
    assert built.returncode == 0, built.stderr[-2000:]
    work = tmp_path / "shop"
    (work / "data").mkdir(parents=True)
    probe = ("import segkit, segkit.config as c; print(segkit.__file__); print(c.PROJECT_ROOT); "
             "print(c.artifacts_dir()); print(c.cache_dir())")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", probe], cwd=work, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    module, root, artifacts, cache = run.stdout.split("\n")[:4]
    assert module.startswith(str(target))  # the installed copy, not the source tree
    assert Path(root) == work.resolve()
    assert Path(artifacts) == work.resolve() / "artifacts" and Path(cache) == work.resolve() / ".cache"
    # SEGKIT_HOME wins over the working folder.
    env["SEGKIT_HOME"] = str(tmp_path / "elsewhere")
    run = subprocess.run([sys.executable, "-c", probe], cwd=work, capture_output=True, text=True, env=env)
    assert Path(run.stdout.split("\n")[1]) == (tmp_path / "elsewhere").resolve()


def test_source_tree_resolves_paths_from_the_project():
    from segkit import config

    assert config.PROJECT_ROOT == ROOT
