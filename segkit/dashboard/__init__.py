"""The dashboard: a Voilà page (``dashboard.ipynb``) built from small panels over one state.

- ``state.py``: ``DashboardState`` (data, model and its version, filters, theme,
  message) and the pure functions that derive what the filters select;
- one module per panel, each reading the state and writing only its own inputs:
  ``filters``, ``header`` (KPIs, theme), ``scatter``, ``segments`` (glossary, summary,
  centres), ``compare``, ``table`` (and CSV download), ``score`` (upload), ``model``
  (about the model; retrain and save in analyst mode), ``report`` (HTML report),
  ``printout`` (the page on paper: print CSS, the print-only header);
- ``urlsync.py``: the view in the page's URL; ``widgets.py``: charts, downloads,
  uploads; ``data.py``: loading (out of core for large logs);
- ``app.py``: ``Dashboard`` lays the panels out; ``build_app()`` is what the notebook calls.
"""
from segkit.dashboard.app import CSS_CLASSES, Dashboard, build_app
from segkit.dashboard.scatter import SCATTER_2D_POINTS, SCATTER_3D_POINTS
from segkit.dashboard.state import DashboardState, Selection
from segkit.dashboard.widgets import CsvDownload, FileDownload, figure_widget_class
from segkit.page.data import LARGE_LOG_ENV, OutOfCoreData, load_dashboard_data

__all__ = ["CSS_CLASSES", "Dashboard", "DashboardState", "Selection", "build_app", "figure_widget_class",
           "load_dashboard_data", "OutOfCoreData", "CsvDownload", "FileDownload", "LARGE_LOG_ENV",
           "SCATTER_2D_POINTS", "SCATTER_3D_POINTS"]
