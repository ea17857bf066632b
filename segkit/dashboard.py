"""The dashboard: an ipywidgets ``AppLayout`` served by Voilà (``dashboard.ipynb``).

``build_app()`` loads the data (``data/``, ``SEGKIT_DATA`` or the built-in sample),
takes the saved model from ``config.artifacts_dir()`` when it fits the data (else
trains one and offers to save it), and lays out: header (KPIs, source, model card,
theme switch), filters on the left, and in the centre the charts, the cluster summary,
the comparison of two segments, the customer table with its CSV download, scoring of
an uploaded file and retraining.

Widgets live as long as the page; callbacks read the widgets, call the pure functions
of ``segkit.views`` and ``segkit.plots``, and write the results back in place (plotly
``FigureWidget``s get their traces replaced, HTML widgets their value). The controls
carry stable CSS classes (``seg-theme``, ``seg-segment-filter``, ... see ``CSS_CLASSES``)
for the browser tests and for users' own styling.
"""
from __future__ import annotations

import functools
import html
import json
import logging
import os
from pathlib import Path
from typing import Callable

import anywidget
import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import traitlets

from . import plots
from .artifacts import load_artifacts, read_model_card, save_artifacts
from .config import artifacts_dir, default_data_path
from .errors import SegkitArtifactError, SegkitError
from .features import NUMERIC_FEATURES, OTHER_CATEGORY, PRODUCT_CATEGORIES
from .model import FEATURE_PRESETS, evaluate_k, recommend_k
from .views import (
    ALL,
    TABLE_COLUMNS,
    Filters,
    comparison_html,
    compare_segments,
    customer_table,
    customers_in_window,
    download_link_html,
    filter_mask,
    k_table_html,
    kpi_html,
    kpis,
    line_categories,
    model_card_html,
    plotly_template,
    provisional_card,
    score_upload,
    segment_centres,
    segment_customers,
    segment_summary,
    summary_html,
    table_html,
    table_order,
    theme_css,
    window_z_scores,
)
from .export import to_safe_csv
from .serve import MAX_UPLOAD_ENV, max_upload_bytes
from .load import _cache_path
from .workflow import CustomerData, load_customer_data, model_fits_data, parquet_line_count, train_model

__all__ = ["CSS_CLASSES", "Dashboard", "build_app", "figure_widget_class", "load_dashboard_data",
           "OutOfCoreData", "CsvDownload", "LARGE_LOG_ENV",
           "SCATTER_2D_POINTS", "SCATTER_3D_POINTS"]

log = logging.getLogger(__name__)

#: Stable CSS classes of the main controls (tests and users' own CSS rely on them).
CSS_CLASSES = (
    "seg-theme", "seg-segment-filter", "seg-country-filter", "seg-spend-filter", "seg-date-filter",
    "seg-category-filter", "seg-compare", "seg-summary", "seg-download", "seg-upload", "seg-retrain",
    "seg-kpis",
)
#: Up to this many rows the CSV is a data-URI link rebuilt on every filter change; above it
#: the "Prepare CSV" button builds it on request and hands it to the browser as a Blob
#: (``CsvDownload``): Chromium refuses data URIs above 2 MB (about 15,000 customers).
EAGER_DOWNLOAD_ROWS = 10_000
#: Point budgets of the WebGL scatter charts: above them a random sample of the shown
#: customers is drawn (the same customers keep their points across filter changes) and
#: the page says so. Summary, KPIs, table and downloads always use every customer.
SCATTER_2D_POINTS = 50_000
SCATTER_3D_POINTS = 20_000
#: Parquet logs with more lines than this (default 3,000,000) are aggregated out of core
#: with DuckDB; the page then holds customers only, so the date and category filters,
#: which recompute features from the lines, are switched off.
LARGE_LOG_ENV = "SEGKIT_LARGE_LOG_LINES"
DEFAULT_LARGE_LOG_LINES = 3_000_000
K_CHOICES = list(range(2, 11))
CHART_HEIGHT = 430
SMALL_CHART_HEIGHT = 340


#: ES module each chart loads instead of plotly's own 5 MB bundle: it imports the bundle
#: from the Voilà server once per page (``segkit.serve.serve_plotly_bundle``).
_BUNDLE_LOADER = """const base = (document.body && document.body.dataset.baseUrl) || "/voila/";
const bundle = await import(new URL(base + {path}, window.location.href).href);
export default bundle.default;
"""


@functools.cache
def figure_widget_class(bundle_path: str | None = None) -> type[go.FigureWidget]:
    """``go.FigureWidget``, or under ``segkit.serve`` a subclass that loads plotly's bundle
    from the server (``bundle_path``, default ``$SEGKIT_PLOTLY_BUNDLE``) instead of
    sending it through the kernel with every chart."""
    bundle_path = bundle_path or os.environ.get("SEGKIT_PLOTLY_BUNDLE", "").strip()
    if not bundle_path:
        return go.FigureWidget
    loader = _BUNDLE_LOADER.format(path=json.dumps(bundle_path))
    return type("ServedBundleFigureWidget", (go.FigureWidget,), {"_esm": loader, "__module__": __name__})


def _classed(widget: W.Widget, *classes: str) -> W.Widget:
    for css_class in classes:
        widget.add_class(css_class)
    return widget


#: Data properties cleared in a trace whose segment the new figure does not show.
_CLEARED = {"x": [], "y": [], "z": [], "text": [], "hovertext": [], "customdata": []}


def _trace_key(trace, index: int) -> tuple:
    return (trace.type, trace.name if trace.name is not None else index)


def _replace_figure(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Show ``figure`` in ``widget``, keeping the widget's template (the theme's).

    When the widget already has a trace for each of the figure's traces (same type and
    name, e.g. one per segment), the traces and the layout keys that changed are updated
    in one ``update`` message, so the browser redraws once; traces the figure lacks are
    emptied and kept for later. Otherwise the traces are swapped (three redraws).
    """
    old = [_trace_key(t, i) for i, t in enumerate(widget.data)]
    new = {_trace_key(t, i): t for i, t in enumerate(figure.data)}
    if old and new and set(new) <= set(old):
        with widget.batch_update():
            for key, trace in zip(old, widget.data):
                if key in new:
                    values = new[key].to_plotly_json()
                    values.pop("uid", None)
                    values.setdefault("showlegend", True)
                    trace.update(values)
                else:
                    trace.update({k: v for k, v in _CLEARED.items() if k in trace}, showlegend=False)
            layout = figure.layout.to_plotly_json()
            layout.pop("template", None)
            changed = {k: v for k, v in layout.items() if _differs(_layout_value(widget.layout, k), v)}
            if changed:
                widget.layout.update(changed)
        return
    figure.layout.template = widget.layout.template
    with widget.batch_update():
        widget.data = []
        widget.add_traces(figure.data)
        widget.layout = figure.layout


def _layout_value(layout, key: str):
    try:
        value = layout[key]
    except (KeyError, ValueError):
        return None
    return value.to_plotly_json() if hasattr(value, "to_plotly_json") else value


def _differs(a, b) -> bool:
    try:
        return bool(a != b)
    except ValueError:  # arrays inside: compare by their text
        return repr(a) != repr(b)


#: Template of the figures the callbacks build: plotly's empty one, cheap to copy (a named
#: template costs ~15 ms per figure); the widgets keep the theme's template.
_FIGURE_TEMPLATE = "none"


def _empty_figure(title: str, template: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, template=template, xaxis_visible=False, yaxis_visible=False)
    return fig


def _parse_amount(text: str) -> float | None:
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise SegkitError(f"'{text}' is not an amount; type a number such as 250 or leave the box empty.") from None


class CsvDownload(anywidget.AnyWidget):
    """A download link whose CSV travels to the browser as binary (no base64, no data URI)
    and becomes a ``Blob`` URL there; ``content=b""`` hides the link."""

    _esm = """
function render({ model, el }) {
  const link = document.createElement("a");
  link.className = "seg-download-link seg-download-blob";
  el.appendChild(link);
  let url = null;
  const draw = () => {
    if (url) { URL.revokeObjectURL(url); url = null; }
    const content = model.get("content");
    if (!content || content.byteLength === 0) { link.style.display = "none"; link.removeAttribute("href"); return; }
    url = URL.createObjectURL(new Blob([content], { type: "text/csv;charset=utf-8" }));
    link.href = url; link.download = model.get("filename"); link.textContent = model.get("label");
    link.dataset.rows = String(model.get("rows")); link.style.display = "";
  };
  model.on("change:content", draw);
  draw();
  return () => { if (url) URL.revokeObjectURL(url); };
}
export default { render };
"""
    content = traitlets.Bytes(b"").tag(sync=True)
    filename = traitlets.Unicode("segments.csv").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.Int(0).tag(sync=True)

    def show(self, frame: pd.DataFrame, filename: str = "segments.csv") -> None:
        """Offer ``frame`` as CSV (``export.to_safe_csv``, UTF-8)."""
        payload = to_safe_csv(frame).encode("utf-8")
        self.filename, self.rows = filename, len(frame)
        self.label = f"Download these {len(frame):,} customers as CSV ({len(payload) / 1e6:,.1f} MB)"
        self.content = payload

    def clear(self) -> None:
        self.content, self.rows = b"", 0


class OutOfCoreData(CustomerData):
    """``CustomerData`` of a log too large for memory: customers only (features from
    ``outofcore.customer_features_out_of_core``), no lines; ``n_lines`` is the file's."""

    n_lines: int = 0

    def training_info(self) -> dict:
        info = super().training_info()
        info["lines"] = self.n_lines
        return info


def _large_log_lines() -> int:
    text = os.environ.get(LARGE_LOG_ENV, "").strip()
    return int(float(text)) if text else DEFAULT_LARGE_LOG_LINES


def load_dashboard_data(data: CustomerData | str | Path | pd.DataFrame | None = None) -> CustomerData:
    """The dashboard's data: ``load_customer_data(data)``, except for a parquet log of more
    than ``$SEGKIT_LARGE_LOG_LINES`` lines (default 3M), aggregated out of core with DuckDB
    into an ``OutOfCoreData``. Its customer table is cached in the segkit cache folder
    (keyed by the file's path, size and time), so a server restart does not redo it."""
    if isinstance(data, CustomerData):
        return data
    path = default_data_path() if data is None else data
    if isinstance(path, (str, Path)) and Path(path).suffix.lower() == ".parquet" and Path(path).is_file():
        n_lines = parquet_line_count(Path(path))
        if n_lines > _large_log_lines():
            return _out_of_core_data(Path(path), n_lines)
    return load_customer_data(data)


def _out_of_core_data(path: Path, n_lines: int) -> OutOfCoreData:
    from .outofcore import customer_features_out_of_core

    # Keyed like the loader's parquet copies (path, size, modification time).
    keyed = _cache_path(path, {"table": "customers, out of core"}, None)
    cached = keyed.with_name(f"customers-{keyed.name}")
    if not cached.is_file():
        import tempfile

        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="segkit-duckdb-", dir=cached.parent) as spill:
            customers = customer_features_out_of_core(path, temp_directory=Path(spill) / "spill")
        partial = cached.with_name(cached.name + f".{os.getpid()}.partial")
        customers.to_parquet(partial)
        os.replace(partial, cached)
    # Always the cached copy, so every process sees the same table (and fingerprint).
    customers = pd.read_parquet(cached)
    empty = pd.DataFrame({"InvoiceDate": pd.Series(dtype="datetime64[ns]")})
    data = OutOfCoreData(path.name, False, "default", empty, empty, pd.DataFrame(), customers)
    data.n_lines = n_lines
    return data


class Dashboard:
    """The app's state and widgets; ``.app`` is the ``AppLayout`` to display.

    Parameters
    ----------
    data : ``CustomerData``, a path, a DataFrame or ``None`` (``data/``, ``SEGKIT_DATA``
        or the built-in sample).
    artifacts : folder of the saved model (default ``config.artifacts_dir()``).
    theme : ``"light"`` or ``"dark"``.
    """

    def __init__(self, data: CustomerData | str | Path | pd.DataFrame | None = None,
                 artifacts: str | Path | None = None, theme: str = "light"):
        self.data = load_dashboard_data(data)
        self.artifacts = Path(artifacts) if artifacts is not None else artifacts_dir()
        self.theme = theme
        #: False for an ``OutOfCoreData`` log: no lines, so no date and category filters.
        self.windowed = not isinstance(self.data, OutOfCoreData)
        self.categories = line_categories(self.data.lines) if self.windowed else pd.Series(
            pd.Categorical([]), name="Category")
        try:
            self.upload_limit = max_upload_bytes()
        except ValueError as exc:
            raise SegkitError(str(exc)) from None
        self.k_table: pd.DataFrame | None = None
        self._window_key: tuple | None = None
        self._muted = False
        self._load_or_train()
        self._build()
        self._connect()

    # ------------------------------------------------------------ model
    def _load_or_train(self) -> None:
        """Use the saved model when it was trained on this data, else train one now."""
        try:
            model = load_artifacts(self.artifacts)
            if model_fits_data(model.card_, self.data):
                self._set_model(model, model.card_, saved=True)
                return
            trained_on = model.card_.get("training_data", {}).get("source", "other data")
            reason = f"The saved model in {self.artifacts} was trained on {trained_on}, not on this data"
        except SegkitArtifactError as exc:
            reason = str(exc).rstrip(".")
        model, self.k_table = train_model(self.data, "auto")
        self._set_model(model, provisional_card(model, self.data.training_info()), saved=False, reason=reason)

    def _set_model(self, model, card: dict, saved: bool, reason: str = "") -> None:
        self.model, self.card, self.saved = model, card, saved
        if saved:
            self.model_status = f'<span class="seg-ok">Using the saved model in {html.escape(str(self.artifacts))}.</span>'
        else:
            self.model_status = (f'<span class="seg-error">Not saved: {html.escape(reason)}. This model was trained '
                                 "on the fly for this page; save it to reuse it.</span>")
        self._window_key = None

    @property
    def segment_names(self) -> list[str]:
        return sorted(self.model.segment_names_.values())

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        data = self.data
        start, end = (ts.date() for ts in data.period)
        spend = data.customers["TotalSpend"]

        self.style = W.HTML(theme_css(self.theme))
        self.theme_switch = _classed(W.ToggleButtons(options=["Light", "Dark"], value=self.theme.title(),
                                                     description="Theme"), "seg-theme")
        self.theme_switch.style.button_width = "70px"
        banner = ""
        if data.is_sample:
            banner = ('<div class="seg-banner seg-sample-banner"><b>Sample data.</b> This page shows the built-in '
                      "sample (synthetic, not a real retailer). To see your own data, put a CSV, XLSX or parquet "
                      f"file of transactions in <code>{html.escape(str(_data_dir()))}</code> or set "
                      "<code>SEGKIT_DATA=/path/to/file</code>, then restart <code>make run</code>.</div>")
        self.banner = W.HTML(banner)
        self.source = W.HTML(self._source_html())
        self.card_html = W.HTML()
        self.save_button = W.Button(description="Save model", button_style="primary", icon="save",
                                    tooltip=f"Save to {self.artifacts}")
        self.message = _classed(W.HTML(), "seg-message")
        self.kpis = _classed(W.HTML(), "seg-kpis")
        header = W.VBox([
            self.style,
            W.HBox([W.VBox([self.banner, self.source,
                            W.HBox([self.card_html, self.save_button], layout=W.Layout(align_items="center"))],
                           layout=W.Layout(flex="1 1 auto")),
                    self.theme_switch], layout=W.Layout(align_items="flex-start")),
            self.message, self.kpis,
        ])

        # Filters.
        self.segment_filter = _classed(W.SelectMultiple(options=self.segment_names, value=self.segment_names,
                                                        rows=7, description=""), "seg-segment-filter")
        self.all_segments = W.Button(description="All segments", layout=W.Layout(width="auto"))
        countries = sorted(data.customers["Country"].dropna().astype(str).unique())
        self.country_filter = _classed(W.Dropdown(options=[ALL] + countries, value=ALL), "seg-country-filter")
        self.spend_min = W.Text(placeholder=f"min ({spend.min():,.0f})", continuous_update=False,
                                layout=W.Layout(width="110px"))
        self.spend_max = W.Text(placeholder=f"max ({spend.max():,.0f})", continuous_update=False,
                                layout=W.Layout(width="110px"))
        self.spend_filter = _classed(W.HBox([self.spend_min, self.spend_max]), "seg-spend-filter")
        self.date_start = W.DatePicker(value=start, min=start, max=end, description="From")
        self.date_end = W.DatePicker(value=end, min=start, max=end, description="To")
        self.date_filter = _classed(W.VBox([self.date_start, self.date_end]), "seg-date-filter")
        categories = [c for c in list(PRODUCT_CATEGORIES) + [OTHER_CATEGORY] if c in set(self.categories.cat.categories)]
        self.category_filter = _classed(W.Dropdown(options=[ALL] + categories, value=ALL), "seg-category-filter")
        self.reset_filters = W.Button(description="Reset filters", icon="undo", layout=W.Layout(width="auto"))
        if self.windowed:
            window_note = ("Dates and category recompute the customers' features from the transactions in "
                           "that window.")
        else:
            for widget in (self.date_start, self.date_end, self.category_filter):
                widget.disabled = True
            window_note = (f"Dates and category are off for this log: its {self.data.n_lines:,} lines were "
                           "aggregated out of core (DuckDB) and are not held in memory; filter the log by date "
                           "or product before serving it to see a window.")
        sidebar = _classed(W.VBox([
            W.HTML("<h3>Filters</h3>"),
            W.HTML("<b>Segments</b>"), self.segment_filter, self.all_segments,
            W.HTML("<b>Country</b>"), self.country_filter,
            W.HTML("<b>Total spend</b>"), self.spend_filter,
            W.HTML("<b>Purchase dates</b>"), self.date_filter,
            W.HTML("<b>Product category</b>"), self.category_filter,
            _classed(W.HTML(f'<span class="seg-meta">{html.escape(window_note)}</span>'), "seg-window-note"),
            self.reset_filters,
        ], layout=W.Layout(padding="0 8px 0 0")), "seg-filters")

        # Chart controls.
        feature_options = [f for f in NUMERIC_FEATURES if f in data.customers.columns]
        self.x_axis = W.Dropdown(options=feature_options, value="TotalQuantity", description="x",
                                 layout=W.Layout(width="220px"))
        self.y_axis = W.Dropdown(options=feature_options, value="TotalSpend", description="y",
                                 layout=W.Layout(width="220px"))
        self.log_axes = W.Checkbox(value=True, description="Log axes", indent=False)
        names = self.segment_names
        self.compare_a = W.Dropdown(options=names, value=names[0], description="A", layout=W.Layout(width="220px"))
        self.compare_b = W.Dropdown(options=names, value=names[min(1, len(names) - 1)], description="B",
                                    layout=W.Layout(width="220px"))
        self.compare_feature = W.Dropdown(options=feature_options, value="TotalSpend", description="Feature",
                                          layout=W.Layout(width="240px"))

        # Charts: a FigureWidget sends later changes as messages to the views that exist,
        # so each is created holding its first figure (a preheated kernel builds the page
        # before any browser is attached).
        # The 3D chart (WebGL, the slowest to draw) is made on first request, not with the page.
        self._compute()
        widget_class = figure_widget_class()
        self.figures = {name: self._new_figure_widget(make()) for name, make in self._figure_makers().items()
                        if name != "scatter3d"}
        self.scatter2d, self.scatter3d = self.figures["scatter2d"], None
        self.sizes, self.heatmap, self.compare_chart = (self.figures[n] for n in ("sizes", "heatmap", "compare"))
        self.sample_note = _classed(W.HTML(), "seg-sample-note")
        self.show_3d = _classed(W.ToggleButton(value=False, description="Show 3D view", icon="cube",
                                               layout=W.Layout(width="auto")), "seg-3d-toggle")
        self.scatter3d_box = W.VBox([])
        half = W.Layout(width="50%", min_width="320px")
        charts = W.VBox([self.sample_note, W.HBox([
            W.VBox([W.HBox([self.x_axis, self.y_axis, self.log_axes]), self.scatter2d], layout=half),
            W.VBox([W.HBox([W.HTML("<b>NumPurchases, TotalQuantity, TotalSpend</b> (log10 axes)"), self.show_3d],
                           layout=W.Layout(align_items="center", grid_gap="8px")), self.scatter3d_box], layout=half),
        ], layout=W.Layout(flex_flow="row wrap"))])

        self.summary = _classed(W.HTML(), "seg-summary")
        summary_box = _classed(W.VBox([
            W.HTML("<h3>Segments</h3>"), self.summary,
            W.HBox([W.VBox([self.sizes], layout=half), W.VBox([self.heatmap], layout=half)],
                   layout=W.Layout(flex_flow="row wrap")),
        ]), "seg-panel")

        # Compare two segments.
        self.compare_table = W.HTML()
        self.compare = _classed(W.VBox([
            W.HTML("<h3>Compare two segments</h3>"),
            W.HBox([self.compare_a, self.compare_b, self.compare_feature]),
            W.HBox([W.VBox([self.compare_table], layout=half), W.VBox([self.compare_chart], layout=half)],
                   layout=W.Layout(flex_flow="row wrap")),
        ]), "seg-compare", "seg-panel")

        # Customer table.
        self.sort_by = W.Dropdown(options=TABLE_COLUMNS, value="TotalSpend", description="Sort by",
                                  layout=W.Layout(width="240px"))
        self.sort_order = W.ToggleButtons(options=["Descending", "Ascending"], value="Descending")
        self.sort_order.style.button_width = "95px"
        self.page_size = W.Dropdown(options=[25, 50, 100, 250], value=25, description="Rows",
                                    layout=W.Layout(width="150px"))
        self.prev_page = W.Button(description="‹ Previous", layout=W.Layout(width="auto"))
        self.next_page = W.Button(description="Next ›", layout=W.Layout(width="auto"))
        self.page_label = _classed(W.HTML(), "seg-page-label")
        self.page = 1
        self.table = _classed(W.HTML(), "seg-table-view")
        self.download = _classed(W.HTML(), "seg-download")
        self.big_download = _classed(CsvDownload(), "seg-download")
        self.prepare_download = _classed(W.Button(description="Prepare CSV", icon="download",
                                                  layout=W.Layout(display="none", width="auto")), "seg-prepare-csv")
        table_box = _classed(W.VBox([
            W.HTML("<h3>Customers</h3>"),
            W.HBox([self.sort_by, self.sort_order, self.page_size], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.prev_page, self.page_label, self.next_page, self.download, self.prepare_download,
                    self.big_download],
                   layout=W.Layout(align_items="center", grid_gap="12px")),
            W.Box([self.table], layout=W.Layout(max_height="520px", overflow="auto")),
        ]), "seg-customers", "seg-panel")

        # Score an upload.
        self.upload = _classed(W.FileUpload(accept=",".join((".csv", ".xlsx", ".xlsm")), multiple=False,
                                            description="Upload CSV/XLSX"), "seg-upload")
        self.upload_result = _classed(W.HTML(), "seg-upload-result")
        upload_box = _classed(W.VBox([
            W.HTML("<h3>Score new customers</h3><span class='seg-meta'>A CSV or XLSX of transactions (like the "
                   "training data) or of customers (CustomerID and the model's features); each customer gets a "
                   "segment from the current model.</span>"),
            self.upload, self.upload_result,
        ], layout=W.Layout(width="50%", min_width="320px")), "seg-panel", "seg-upload-box")

        # Retrain.
        self.k_choice = W.Dropdown(options=K_CHOICES, value=int(self.model.n_clusters), description="K",
                                   layout=W.Layout(width="140px"))
        self.evaluate_button = W.Button(description="Recommend K", icon="search", layout=W.Layout(width="auto"))
        self.retrain_button = W.Button(description="Retrain", icon="refresh", button_style="warning",
                                       layout=W.Layout(width="auto"))
        self.save_button2 = W.Button(description="Save model", icon="save", button_style="primary",
                                     layout=W.Layout(width="auto"))
        self.retrain_status = _classed(W.HTML(), "seg-retrain-status")
        self.k_view = _classed(W.HTML(), "seg-k-table-view")
        retrain_box = _classed(W.VBox([
            W.HTML("<h3>Retrain</h3><span class='seg-meta'>Compare K values (silhouette, Calinski-Harabasz, "
                   "Davies-Bouldin, bootstrap stability), retrain on all customers with the K you choose, "
                   f"then save to {html.escape(str(self.artifacts))}.</span>"),
            W.HBox([self.k_choice, self.evaluate_button, self.retrain_button, self.save_button2],
                   layout=W.Layout(flex_flow="row wrap", grid_gap="6px")),
            self.retrain_status, self.k_view,
        ], layout=W.Layout(width="50%", min_width="320px")), "seg-retrain", "seg-panel")

        center = W.VBox([charts, summary_box, self.compare, table_box,
                         W.HBox([upload_box, retrain_box], layout=W.Layout(flex_flow="row wrap"))],
                        layout=W.Layout(padding="0 0 0 8px"))
        self.app = _classed(W.AppLayout(header=header, left_sidebar=sidebar, center=center, right_sidebar=None,
                                        footer=None, pane_widths=["250px", 1, 0], grid_gap="8px"), "seg-app")
        # AppLayout sizes rows in fr units, which stretch the header to a share of a long
        # page; rows sized by their content read better (the layout is not changed later).
        self.app.layout.grid_template_rows = "auto auto"
        self.app.dashboard = self
        self._draw_numbers()
        if self.k_table is not None:
            self.k_view.value = k_table_html(self.k_table, recommend_k(self.k_table))
        self._show_model()

    def _source_html(self) -> str:
        data = self.data
        start, end = data.period
        return (f'<div class="seg-meta seg-source"><b>Data</b>: {html.escape(data.source)} · {len(data.lines):,} clean '
                f"lines · {len(data.customers):,} customers · {start:%d %b %Y} – {end:%d %b %Y} · cleaning rules "
                f"'{html.escape(data.rules)}'</div>")

    def _show_model(self) -> None:
        self.card_html.value = model_card_html(self.card, self.model_status)
        shown = "none" if self.saved else ""
        self.save_button.layout.display = shown

    # ------------------------------------------------------------ events
    def _safely(self, callback: Callable) -> Callable:
        """Run a callback; a failure becomes a message on the page, never a dead session."""
        @functools.wraps(callback)
        def run(*args, **kwargs):
            if self._muted:
                return None
            try:
                self.message.value = ""
                return callback(*args, **kwargs)
            except SegkitError as exc:
                self.message.value = f'<p class="seg-error">{html.escape(str(exc))}</p>'
            except Exception as exc:  # noqa: BLE001 - the page must survive any failure
                log.exception("dashboard callback failed")
                self.message.value = (f'<p class="seg-error">Something went wrong ({html.escape(type(exc).__name__)}: '
                                      f"{html.escape(str(exc)[:200])}); the page still works, try another choice.</p>")
        return run

    def _connect(self) -> None:
        def on(widgets, handler, names="value"):
            for widget in widgets:
                if isinstance(widget, W.Button):
                    widget.on_click(self._safely(lambda _b, h=handler: h()))
                else:
                    widget.observe(self._safely(lambda _c, h=handler: h()), names=names)

        on([self.segment_filter, self.country_filter, self.spend_min, self.spend_max, self.date_start,
            self.date_end, self.category_filter], self._on_filter)
        on([self.all_segments], self._select_all_segments)
        on([self.reset_filters], self._reset_filters)
        on([self.theme_switch], self._on_theme)
        on([self.x_axis, self.y_axis, self.log_axes], self._draw_scatter2d)
        on([self.show_3d], self._on_show_3d)
        on([self.compare_a, self.compare_b, self.compare_feature], self._draw_compare)
        on([self.sort_by, self.sort_order, self.page_size], self._on_sort)
        on([self.prev_page], lambda: self._turn_page(-1))
        on([self.next_page], lambda: self._turn_page(+1))
        on([self.prepare_download], lambda: self._draw_download(force=True))
        on([self.upload], self._on_upload)
        on([self.evaluate_button], self._on_evaluate)
        on([self.retrain_button], self._on_retrain)
        on([self.save_button, self.save_button2], self._on_save)

    def filters(self) -> Filters:
        """The filters as the widgets show them now."""
        return Filters(
            segments=tuple(self.segment_filter.value), country=self.country_filter.value,
            spend_min=_parse_amount(self.spend_min.value), spend_max=_parse_amount(self.spend_max.value),
            start=self.date_start.value, end=self.date_end.value, category=self.category_filter.value,
        )

    def _on_filter(self) -> None:
        self.page = 1
        self.refresh()

    def _select_all_segments(self) -> None:
        self.segment_filter.value = tuple(self.segment_filter.options)

    def _reset_filters(self) -> None:
        start, end = (ts.date() for ts in self.data.period)
        self._quietly(lambda: [
            setattr(self.segment_filter, "value", tuple(self.segment_filter.options)),
            setattr(self.country_filter, "value", ALL), setattr(self.spend_min, "value", ""),
            setattr(self.spend_max, "value", ""), setattr(self.date_start, "value", start),
            setattr(self.date_end, "value", end), setattr(self.category_filter, "value", ALL),
        ])
        self._on_filter()

    def _quietly(self, change: Callable) -> None:
        """Apply several widget changes with one refresh at the end instead of one each."""
        self._muted = True
        try:
            change()
        finally:
            self._muted = False

    # ------------------------------------------------------------ views
    def _compute(self) -> None:
        """Customers in the date/category window, segmented, then filtered.

        Per window (recomputed only when dates or category change): the segmented
        customers, their table columns, a random rank per customer (which points the
        charts draw when over budget) and the table order. Per filter change: a mask.
        """
        filters = self.filters()
        if filters.start and filters.end and filters.start > filters.end:
            raise SegkitError("The start date is after the end date; pick a start on or before the end.")
        key = (filters.start, filters.end, filters.category)
        if key != self._window_key:
            if self.windowed:
                customers = customers_in_window(self.data.lines, self.data.customers, self.categories,
                                                filters.start, filters.end, filters.category)
            else:
                customers = self.data.customers
            self.window = segment_customers(self.model, customers)
            table = self.window.reset_index()
            self._window_table = table[[c for c in TABLE_COLUMNS if c in table.columns]]
            self._sample_rank = np.random.default_rng(0).permutation(len(self.window))
            self._window_z = window_z_scores(self.window) if len(self.window) else None
            self._orders = {}
            self._window_key = key
        self.mask = filter_mask(self.window, filters)
        self.shown = self.window[self.mask]
        self.period = (pd.Timestamp(filters.start or self.data.period[0]),
                       pd.Timestamp(filters.end or self.data.period[1]))
        self.summary_table = segment_summary(self.shown)

    def _plotted(self, budget: int) -> pd.DataFrame:
        """The shown customers, or the ``budget`` of them with the lowest random rank."""
        if len(self.shown) <= budget:
            return self.shown
        ranks = np.where(self.mask, self._sample_rank, len(self.window))
        chosen = np.sort(np.argpartition(ranks, budget - 1)[:budget])
        return self.window.iloc[chosen]

    def _figure_makers(self) -> dict[str, Callable[[], go.Figure]]:
        return {"scatter2d": self._scatter2d_figure, "scatter3d": self._scatter3d_figure,
                "sizes": self._sizes_figure, "heatmap": self._heatmap_figure, "compare": self._compare_figure}

    def _sized(self, figure: go.Figure | None, height: int) -> go.Figure:
        if figure is None:
            figure = _empty_figure("No customers match the filters", _FIGURE_TEMPLATE)
        return figure.update_layout(height=height)

    def _scatter2d_figure(self) -> go.Figure:
        figure = None if self.shown.empty else plots.scatter_2d(
            self._plotted(SCATTER_2D_POINTS), x=self.x_axis.value, y=self.y_axis.value, log_axes=self.log_axes.value,
            template=_FIGURE_TEMPLATE, point_budget=SCATTER_2D_POINTS, segments=self.segment_names)
        return self._sized(figure, CHART_HEIGHT)

    def _scatter3d_figure(self) -> go.Figure:
        figure = None if self.shown.empty else plots.scatter_3d(
            self._plotted(SCATTER_3D_POINTS), template=_FIGURE_TEMPLATE, point_budget=SCATTER_3D_POINTS,
            segments=self.segment_names)
        return self._sized(figure, CHART_HEIGHT)

    def _sizes_figure(self) -> go.Figure:
        figure = None if self.shown.empty else plots.segment_sizes(self.summary_table, template=_FIGURE_TEMPLATE)
        return self._sized(figure, SMALL_CHART_HEIGHT)

    def _heatmap_figure(self) -> go.Figure:
        figure = None if self.shown.empty else plots.centroid_heatmap(
            segment_centres(self.window, self.shown, self.mask, self._window_z), self.model.segment_names_,
            _FIGURE_TEMPLATE)
        return self._sized(figure, SMALL_CHART_HEIGHT)

    def _compare_figure(self) -> go.Figure:
        figure = plots.compare_histograms(self.shown, (self.compare_a.value, self.compare_b.value),
                                          self.compare_feature.value, template=_FIGURE_TEMPLATE)
        return self._sized(figure, SMALL_CHART_HEIGHT)

    def _new_figure_widget(self, figure: go.Figure) -> go.FigureWidget:
        """A chart widget holding ``figure`` in the theme's template from the start (a
        change made before the browser shows the widget would not reach it)."""
        figure.layout.template = plotly_template(self.theme)
        return figure_widget_class()(figure)

    def _draw(self, *names: str) -> None:
        makers = self._figure_makers()
        for name in names:
            if name in self.figures:
                _replace_figure(self.figures[name], makers[name]())

    def refresh(self) -> None:
        """Recompute what the filters select and redraw every view in place."""
        self._compute()
        self._draw_numbers()
        self._draw("scatter2d", "scatter3d", "sizes", "heatmap", "compare")

    def _draw_sample_note(self) -> None:
        n = len(self.shown)
        if n > SCATTER_2D_POINTS:
            self.sample_note.value = (
                f'<div class="seg-banner seg-sample-note-text"><b>Charts show a sample.</b> The 2D chart draws '
                f"{SCATTER_2D_POINTS:,} and the 3D chart {SCATTER_3D_POINTS:,} randomly chosen of the {n:,} "
                "customers shown (WebGL point budget); the KPIs, summary, comparison, table and download use all "
                f"{n:,}.</div>")
        elif n > SCATTER_3D_POINTS:
            self.sample_note.value = (
                f'<div class="seg-meta seg-sample-note-text">The 3D chart draws {SCATTER_3D_POINTS:,} randomly chosen '
                f"of the {n:,} customers shown (point budget); every other view uses all of them.</div>")
        else:
            self.sample_note.value = ""

    def _on_show_3d(self) -> None:
        if self.show_3d.value:
            if self.scatter3d is None:
                self.scatter3d = self._new_figure_widget(self._scatter3d_figure())
                self.figures["scatter3d"] = self.scatter3d
            else:
                self.figures["scatter3d"] = self.scatter3d
                self._draw("scatter3d")
            self.scatter3d_box.children = (self.scatter3d,)
            self.show_3d.description = "Hide 3D view"
        else:
            self.scatter3d_box.children = ()
            self.figures.pop("scatter3d", None)  # not redrawn while hidden
            self.show_3d.description = "Show 3D view"

    def _draw_numbers(self) -> None:
        self.kpis.value = kpi_html(kpis(self.shown, self.period))
        self.summary.value = summary_html(self.summary_table)
        self.compare_table.value = comparison_html(compare_segments(self.shown, self.compare_a.value,
                                                                    self.compare_b.value))
        self._draw_sample_note()
        self._draw_table()

    def _draw_scatter2d(self) -> None:
        self._draw("scatter2d")

    def _draw_compare(self) -> None:
        self.compare_table.value = comparison_html(compare_segments(self.shown, self.compare_a.value,
                                                                    self.compare_b.value))
        self._draw("compare")

    def _on_sort(self) -> None:
        self.page = 1
        self._draw_table()

    def _turn_page(self, step: int) -> None:
        self.page += step
        self._draw_table(download=False)

    def _shown_rows(self) -> np.ndarray:
        """Positions in the window of the shown customers, in table order."""
        key = (self.sort_by.value, self.sort_order.value == "Ascending")
        if key not in self._orders:
            self._orders = {key: table_order(self.window, *key)}  # one order kept per window
        order = self._orders[key]
        return order[self.mask[order]]

    @property
    def customer_rows(self) -> pd.DataFrame:
        """The customer table as shown (every page): what the CSV download holds."""
        return self._window_table.take(self._shown_rows()).reset_index(drop=True)

    def _draw_table(self, download: bool = True) -> None:
        rows = self._shown_rows()
        self.n_rows = len(rows)
        page_size = self.page_size.value
        n_pages = max(1, -(-len(rows) // page_size))
        self.page = min(max(1, int(self.page)), n_pages)
        page_rows = self._window_table.take(rows[(self.page - 1) * page_size: self.page * page_size])
        self.page_label.value = f"{len(rows):,} customers · page {self.page} of {n_pages}"
        self.table.value = table_html(page_rows.reset_index(drop=True))
        self.prev_page.disabled = self.page <= 1
        self.next_page.disabled = self.page >= n_pages
        if download:
            self._draw_download()

    def _draw_download(self, force: bool = False) -> None:
        if self.n_rows <= EAGER_DOWNLOAD_ROWS:
            self.download.value = download_link_html(self.customer_rows, "segments.csv")
            self.big_download.clear()
            self.prepare_download.layout.display = "none"
        elif force:
            self.download.value = ""
            self.prepare_download.layout.display = "none"
            self.big_download.show(self.customer_rows, "segments.csv")
        else:
            self.download.value = ""
            self.big_download.clear()
            self.prepare_download.description = f"Prepare CSV ({self.n_rows:,} customers)"
            self.prepare_download.layout.display = ""

    def _on_theme(self) -> None:
        self.theme = self.theme_switch.value.lower()
        self.style.value = theme_css(self.theme)
        template = plotly_template(self.theme)
        for widget in {id(w): w for w in [*self.figures.values(), self.scatter3d] if w is not None}.values():
            widget.layout.template = template

    # ------------------------------------------------------------ upload, retrain, save
    def _on_upload(self) -> None:
        files = self.upload.value
        if not files:
            return
        file = files[0]
        name = file["name"]
        size = len(file["content"])
        if size > self.upload_limit:
            self.upload.value = ()
            self.upload_result.value = (
                f'<p class="seg-error seg-upload-too-large">{html.escape(name)} is {size / 2**20:,.1f} MB, above the '
                f"upload limit of {self.upload_limit / 2**20:,.0f} MB; score it with <code>python -m segkit.cli score"
                f"</code> instead, or ask whoever runs this page to raise {MAX_UPLOAD_ENV}.</p>")
            return
        try:
            scored = score_upload(bytes(file["content"]), name, self.model)
        except SegkitError as exc:
            self.upload_result.value = f'<p class="seg-error">{html.escape(str(exc))}</p>'
            return
        finally:
            self.upload.value = ()  # lets the same file be uploaded again
        which = "the saved model" if self.saved else "the current model (not saved)"
        table = customer_table(scored)
        self.upload_result.value = (
            f'<p class="seg-ok">Scored {len(scored):,} customers from {html.escape(name)} with {which}.</p>'
            + "".join(f'<p class="seg-warning">{html.escape(note)}</p>' for note in scored.attrs.get("notes", []))
            + summary_html(segment_summary(scored))
            + "<p>" + download_link_html(table, "scored_customers.csv",
                                         f"Download the {len(table):,} scored customers as CSV") + "</p>"
            + table_html(table.head(10))
        )

    def _on_evaluate(self) -> None:
        spec = FEATURE_PRESETS["default"]
        self.retrain_status.value = '<span class="seg-meta">Comparing K = 2 … 10 …</span>'
        self.k_table = evaluate_k(self.data.customers, K_CHOICES, spec.features, spec.log_transform)
        recommended = recommend_k(self.k_table)
        self.k_view.value = k_table_html(self.k_table, recommended)
        self.k_choice.value = recommended
        self.retrain_status.value = f'<span class="seg-ok">Recommended K = {recommended}.</span>'

    def _on_retrain(self) -> None:
        k = int(self.k_choice.value)
        self.retrain_status.value = f'<span class="seg-meta">Training with K = {k} …</span>'
        model, _ = train_model(self.data, k)
        self._set_model(model, provisional_card(model, self.data.training_info()), saved=False,
                        reason=f"retrained with K = {k} on this page")
        names = self.segment_names
        self._quietly(lambda: [
            setattr(self.segment_filter, "options", names), setattr(self.segment_filter, "value", tuple(names)),
            setattr(self.compare_a, "options", names), setattr(self.compare_a, "value", names[0]),
            setattr(self.compare_b, "options", names), setattr(self.compare_b, "value", names[min(1, len(names) - 1)]),
        ])
        self._show_model()
        self.refresh()
        metrics = model.metrics_
        self.retrain_status.value = (
            f'<span class="seg-ok">Retrained with K = {k}: {", ".join(names)}; silhouette '
            f'{metrics.get("silhouette", float("nan")):.3f}, Davies-Bouldin {metrics.get("davies_bouldin", float("nan")):.3f}'
            ". Not saved yet.</span>")

    def _on_save(self) -> None:
        save_artifacts(self.model, self.artifacts, self.data.training_info())
        card = read_model_card(self.artifacts)
        self._set_model(self.model, card, saved=True)
        self._window_key = (self.filters().start, self.filters().end, self.filters().category)
        self._show_model()
        self.retrain_status.value = f'<span class="seg-ok">Saved to {html.escape(str(self.artifacts))}.</span>'


def _data_dir() -> Path:
    from .config import DATA_DIR

    return DATA_DIR


def build_app(data: CustomerData | str | Path | pd.DataFrame | None = None, artifacts: str | Path | None = None,
              theme: str = "light") -> W.Widget:
    """The dashboard widget (``Dashboard(...).app``; the ``Dashboard`` is ``.dashboard``).

    A data file that cannot be used gives a page with the one-sentence reason instead.
    """
    try:
        return Dashboard(data, artifacts, theme).app
    except SegkitError as exc:
        return W.HTML(f'{theme_css(theme)}<h2>Customer segments</h2><p class="seg-error">{html.escape(str(exc))}</p>')
