"""The segkit Voilà template's folder in the package, plotly's widget bundle served as a
static file beside it, and the environment that names both to Voilà and its kernels.

Used by ``segkit.server.serve`` (``make run``) and by ``segkit.server.kernels`` (a plain
``voila dashboard.ipynb`` whose environment has no installed template).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from segkit.config import cache_dir

__all__ = ["PLOTLY_BUNDLE_ENV", "TEMPLATE_ROOT", "serve_plotly_bundle", "voila_environment"]

#: A Jupyter data folder holding ``voila/templates/segkit``.
TEMPLATE_ROOT = Path(__file__).resolve().parent.parent / "jupyter"
#: Environment variable naming the bundle's URL path below Voilà's base URL.
PLOTLY_BUNDLE_ENV = "SEGKIT_PLOTLY_BUNDLE"


def serve_plotly_bundle(root: Path) -> str:
    """Copy plotly's widget bundle into ``root/voila/templates/segkit/static``.

    Returns its URL path below Voilà's base URL. The file name carries plotly's version,
    so a browser never keeps a stale copy.
    """
    # optional: dashboard
    import plotly

    source = Path(plotly.__file__).resolve().parent / "package_data" / "widgetbundle.js"
    name = f"plotly-widget-{plotly.__version__}.js"
    folder = root / "voila" / "templates" / "segkit" / "static"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not (target.is_file() and target.stat().st_size == source.stat().st_size):
        # A copy, not a symlink: tornado refuses static files that link outside their folder.
        temporary = folder / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    return f"templates/segkit/static/{name}"


def voila_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with the segkit template on ``JUPYTER_PATH`` and
    ``SEGKIT_PLOTLY_BUNDLE`` set (see ``serve_plotly_bundle``)."""
    env = dict(os.environ if base is None else base)
    bundle_root = Path(env.get("SEGKIT_CACHE") or cache_dir()) / "voila"
    env[PLOTLY_BUNDLE_ENV] = serve_plotly_bundle(bundle_root)
    paths = [str(TEMPLATE_ROOT), str(bundle_root)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env
