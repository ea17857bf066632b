"""Widgets the panels share: charts that keep their traces, file downloads and uploads
that travel as binary, and the error guard around every callback.

Nothing here knows about segments; the panels do.
"""
from __future__ import annotations

import asyncio
import functools
import html
import json
import logging
import os
import sys
from typing import Callable

import anywidget
import ipywidgets as W
import plotly.graph_objects as go
import traitlets

from segkit.errors import SegkitError
from segkit.views.export import to_safe_csv
from segkit.views.tables import plotly_template

__all__ = ["figure_widget_class", "Chart", "FileDownload", "CsvDownload", "UploadButton", "classed", "guarded",
           "empty_figure", "FIGURE_TEMPLATE", "kernel_loop", "event_loop"]

log = logging.getLogger(__name__)

#: ES module each chart loads instead of plotly's own 5 MB bundle: it imports the bundle
#: from the Voilà server once per page (``segkit.server.serve.serve_plotly_bundle``).
_BUNDLE_LOADER = """const base = (document.body && document.body.dataset.baseUrl) || "/voila/";
const bundle = await import(new URL(base + {path}, window.location.href).href);
export default bundle.default;
"""


@functools.cache
def figure_widget_class(bundle_path: str | None = None) -> type[go.FigureWidget]:
    """``go.FigureWidget``, or when the Voilà server serves plotly's bundle as a static
    file (``segkit.server.serve``, or the template installed in this environment: see
    ``serve.installed_bundle_path``) a subclass that loads it from there instead of
    sending it through the kernel with every chart."""
    if bundle_path is None:
        bundle_path = os.environ.get("SEGKIT_PLOTLY_BUNDLE", "").strip()
        if not bundle_path:
            # start-up: jupyter_server loads only to serve, not on import (1.9 s, measured)
            from segkit.server.serve import installed_bundle_path

            bundle_path = installed_bundle_path() or ""
    _skip_iri_grammars()
    if not bundle_path:
        return go.FigureWidget
    loader = _BUNDLE_LOADER.format(path=json.dumps(bundle_path))
    return type("ServedBundleFigureWidget", (go.FigureWidget,), {"_esm": loader, "__module__": __name__})


def _skip_iri_grammars() -> None:
    """In a Voilà kernel, keep jsonschema from compiling its IRI grammars.

    plotly's widget module imports nbformat (for notebook renderers the page does not use),
    nbformat imports jsonschema, and jsonschema, when ``rfc3987_syntax`` is installed (it
    is, for Jupyter's event schemas), builds 38 lark grammars at import: about 1 s of CPU
    in every dashboard kernel. Nothing in a kernel validates IRIs; jsonschema falls back
    to not checking that format. Left alone outside Voilà (a data scientist's kernel).
    """
    if os.environ.get("VOILA_BASE_URL") is not None and "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" raises ImportError


def classed(widget: W.Widget, *classes: str) -> W.Widget:
    """``widget`` with CSS classes added (stable selectors for tests and users' CSS)."""
    for css_class in classes:
        widget.add_class(css_class)
    return widget


def guarded(state, callback: Callable) -> Callable:
    """Run a callback; a failure becomes ``state.message``, never a dead session. The
    message of an earlier failure is cleared first."""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            state.message = ""
            return callback(*args, **kwargs)
        except SegkitError as exc:
            state.message = str(exc)
        except Exception as exc:  # noqa: BLE001 - the page must survive any failure
            log.exception("dashboard callback failed")
            state.message = (f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]}); the page still works, "
                             "try another choice.")
    return run


def kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the IPython kernel this runs in, if any."""
    try:
        # optional: dashboard
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        io_loop = getattr(kernel, "io_loop", None)
        return getattr(io_loop, "asyncio_loop", None)
    except Exception:  # noqa: BLE001 - no kernel: no timer
        return None


def event_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running now, else the kernel's (``kernel_loop``); None in plain Python."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return kernel_loop()


#: Template of the figures the panels build: plotly's empty one, cheap to copy (a named
#: template costs ~15 ms per figure); the chart widgets keep the theme's template.
FIGURE_TEMPLATE = "none"


def empty_figure(message: str = "No customers match the filters") -> go.Figure:
    """A figure with no data and hidden axes, titled ``message``."""
    fig = go.Figure()
    fig.update_layout(title=message, template=FIGURE_TEMPLATE, xaxis_visible=False, yaxis_visible=False)
    return fig


#: Data properties cleared in a trace whose segment the new figure does not show.
_CLEARED = {"x": [], "y": [], "z": [], "text": [], "hovertext": [], "customdata": []}


def _trace_key(trace, index: int) -> tuple:
    return (trace.type, trace.name if trace.name is not None else index)


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


class Chart:
    """A plotly chart that lives as long as the page and follows ``state.theme``.

    ``show(figure)`` puts a new figure in place: when the chart already has a trace for
    each of the figure's traces (same type and name, e.g. one per segment), traces and
    changed layout keys go in one ``update`` message, so the browser redraws once;
    traces the figure lacks are emptied and kept. Otherwise the traces are swapped.
    Axes are made visible again explicitly after an empty figure hid them (a layout
    swap does not remove keys the browser already holds).
    """

    def __init__(self, state, figure: go.Figure, height: int):
        self.height = height
        figure = self._prepared(figure)
        figure.layout.template = plotly_template(state.theme)
        self.widget = figure_widget_class()(figure)
        state.observe(self._on_theme, names="theme")

    def _prepared(self, figure: go.Figure) -> go.Figure:
        visible = bool(figure.data)
        figure.update_layout(height=self.height, xaxis_visible=visible, yaxis_visible=visible)
        return figure

    def _on_theme(self, change) -> None:
        self.widget.layout.template = plotly_template(change["new"])

    def show(self, figure: go.Figure) -> None:
        figure = self._prepared(figure)
        widget = self.widget
        old = [_trace_key(t, i) for i, t in enumerate(widget.data)]
        new = {_trace_key(t, i): t for i, t in enumerate(figure.data)}
        if old and new and set(new) <= set(old):
            with widget.batch_update():
                for key, trace in zip(old, widget.data):
                    if key in new:
                        values = new[key].to_plotly_json()
                        values.pop("uid", None)
                        if "showlegend" in trace:  # not a property of every trace type (Sankey)
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


class FileDownload(anywidget.AnyWidget):
    """A download link whose file travels to the browser as binary (no base64, no data
    URI) and becomes a ``Blob`` URL there; ``content=b""`` hides the link. With
    ``auto=True`` the browser saves the file as soon as it arrives."""

    _esm = """
function render({ model, el }) {
  const link = document.createElement("a");
  link.className = "seg-download-link seg-download-blob";
  el.appendChild(link);
  let url = null;
  const draw = (fresh) => {
    if (url) { URL.revokeObjectURL(url); url = null; }
    const content = model.get("content");
    if (!content || content.byteLength === 0) { link.style.display = "none"; link.removeAttribute("href"); return; }
    url = URL.createObjectURL(new Blob([content], { type: model.get("mime") }));
    link.href = url; link.download = model.get("filename"); link.textContent = model.get("label");
    link.dataset.rows = String(model.get("rows")); link.style.display = "";
    if (fresh && model.get("auto")) link.click();
  };
  model.on("change:content", () => draw(true));
  draw(false);
  return () => { if (url) URL.revokeObjectURL(url); };
}
export default { render };
"""
    content = traitlets.Bytes(b"").tag(sync=True)
    filename = traitlets.Unicode("segments.csv").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    mime = traitlets.Unicode("text/csv;charset=utf-8").tag(sync=True)
    rows = traitlets.Int(0).tag(sync=True)
    auto = traitlets.Bool(False).tag(sync=True)

    def show(self, frame, filename: str = "segments.csv") -> None:
        """Offer ``frame`` as CSV (``export.to_safe_csv``, UTF-8)."""
        payload = to_safe_csv(frame).encode("utf-8")
        self.filename, self.rows, self.mime = filename, len(frame), "text/csv;charset=utf-8"
        self.label = f"Download these {len(frame):,} customers as CSV ({len(payload) / 1e6:,.1f} MB)"
        self.content = payload

    def offer(self, payload: bytes, filename: str, mime: str, label: str) -> None:
        """Offer any file (the report: ``text/html``)."""
        self.filename, self.mime, self.label, self.rows = filename, mime, label, 0
        self.content = b""  # a second report of the same view still triggers a change
        self.content = payload

    def clear(self) -> None:
        self.content, self.rows = b"", 0


#: The name of earlier versions (the CSV is still its main use).
CsvDownload = FileDownload


class UploadButton(anywidget.AnyWidget):
    """A button that opens the file dialog and sends the chosen file to the kernel as
    binary: ``name``, ``content`` (bytes) and ``uploads`` (a counter that changes with
    every file, also the same file chosen again). Unlike ipywidgets' ``FileUpload`` it
    shows no file count (which read "(0)" after each upload)."""

    _esm = """
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button seg-upload-button";
  const input = document.createElement("input");
  input.type = "file"; input.style.display = "none";
  const label = () => { button.textContent = model.get("label"); button.disabled = model.get("busy"); };
  button.addEventListener("click", () => { input.value = ""; input.accept = model.get("accept"); input.click(); });
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const buffer = await file.arrayBuffer();
    model.set("name", file.name);
    model.set("size", file.size);
    model.set("content", new DataView(buffer));
    model.set("uploads", model.get("uploads") + 1);
    model.save_changes();
  });
  model.on("change:label", label); model.on("change:busy", label);
  label();
  el.appendChild(button); el.appendChild(input);
}
export default { render };
"""
    label = traitlets.Unicode("Upload CSV/XLSX").tag(sync=True)
    accept = traitlets.Unicode(".csv,.xlsx,.xlsm").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    name = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(0).tag(sync=True)
    content = traitlets.Any(b"").tag(sync=True)
    uploads = traitlets.Int(0).tag(sync=True)

    def receive(self, name: str, content: bytes) -> None:
        """What the browser does when a file is chosen (for tests and notebooks)."""
        self.name, self.size, self.content = name, len(content), content
        self.uploads += 1

    def payload(self) -> bytes:
        content = self.content
        return bytes(content) if content is not None else b""


def escape(text: str) -> str:
    return html.escape(str(text))
