"""The dashboard: a Voilà page (``dashboard.ipynb``) built from small panels over one state.

- ``state.py``: ``DashboardState`` (data, model and its version, filters, theme,
  message) and the pure functions that derive what the filters select;
- one module per panel, each reading the state and writing only its own inputs:
  ``filters``, ``header`` (KPIs, theme), ``scatter``, ``segments`` (glossary, summary,
  centres), ``compare``, ``table`` (and CSV download), ``score`` (upload), ``model``
  (about the model; retrain and save in analyst mode), ``report`` (HTML report);
- ``urlsync.py``: the view in the page's URL; ``widgets.py``: charts, downloads,
  uploads; ``data.py``: loading (out of core for large logs);
- ``app.py``: ``Dashboard`` lays the panels out; ``build_app()`` is what the notebook calls.
"""
from .app import CSS_CLASSES, Dashboard, build_app
from .data import LARGE_LOG_ENV, OutOfCoreData, load_dashboard_data
from .scatter import SCATTER_2D_POINTS, SCATTER_3D_POINTS
from .state import DashboardState, Selection
from .widgets import CsvDownload, FileDownload, figure_widget_class

__all__ = ["CSS_CLASSES", "Dashboard", "DashboardState", "Selection", "build_app", "figure_widget_class",
           "load_dashboard_data", "OutOfCoreData", "CsvDownload", "FileDownload", "LARGE_LOG_ENV",
           "SCATTER_2D_POINTS", "SCATTER_3D_POINTS"]
