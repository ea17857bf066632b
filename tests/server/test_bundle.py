"""segkit.server.bundle: plotly's widget bundle served under a name carrying the installed plotly's
version, and the environment that names it and the segkit template to Voilà."""
from __future__ import annotations

import os
from pathlib import Path

import plotly

from segkit.server.bundle import PLOTLY_BUNDLE_ENV, TEMPLATE_ROOT, serve_plotly_bundle, voila_environment


def _installed_bundle() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data" / "widgetbundle.js"


def test_the_served_bundle_is_the_installed_plotlys_and_named_by_its_version(tmp_path):
    url = serve_plotly_bundle(tmp_path)
    assert url == f"templates/segkit/static/plotly-widget-{plotly.__version__}.js"
    served = tmp_path / "voila" / url
    assert served.read_bytes() == _installed_bundle().read_bytes()
    assert not served.is_symlink()  # tornado refuses static files linking outside their folder
    assert sorted(p.name for p in served.parent.iterdir()) == [served.name]  # no temporary left


def test_a_stale_copy_of_another_size_is_replaced(tmp_path):
    url = serve_plotly_bundle(tmp_path)
    served = tmp_path / "voila" / url
    served.write_text("an old, cut off copy")
    assert serve_plotly_bundle(tmp_path) == url
    assert served.stat().st_size == _installed_bundle().stat().st_size


def test_the_environment_names_the_bundle_and_puts_the_template_first(tmp_path):
    env = voila_environment({"SEGKIT_CACHE": str(tmp_path), "JUPYTER_PATH": os.pathsep.join(["/elsewhere", str(TEMPLATE_ROOT)])})
    paths = env["JUPYTER_PATH"].split(os.pathsep)
    assert paths == [str(TEMPLATE_ROOT), str(tmp_path / "voila"), "/elsewhere"]  # each folder once
    assert (tmp_path / "voila" / "voila" / env[PLOTLY_BUNDLE_ENV]).is_file()
