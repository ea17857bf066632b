"""The scatter panel without a browser: points up to the point budget, a density image of
every shown customer above it (``segkit.dashboard.scatter``, ``segkit.views.plots.scatter_density``).

The budget is lowered so that the built-in sample goes over it.
"""
from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from segkit.config import Settings
from segkit.pipeline.workflow import train_model
from segkit.views import plots
from segkit.views import tables as views
from segkit.views.tables import Filters

BUDGET = 300  # points; the sample has a few thousand customers


@pytest.fixture(scope="module")
def scatter_state(sample_data, tmp_path_factory):
    from segkit.dashboard.state import DashboardState, ModelStatus

    model, _ = train_model(sample_data, 5)
    card = views.provisional_card(model, sample_data.training_info())
    return DashboardState(sample_data, model, card, ModelStatus(False, "Not saved: test model."),
                          tmp_path_factory.mktemp("artifacts"), Settings(currency="£", analyst=False))


@pytest.fixture()
def state(scatter_state):
    scatter_state.filters = Filters()
    scatter_state.theme = "light"
    scatter_state.message = ""
    return scatter_state


@pytest.fixture()
def over_budget(monkeypatch):
    from segkit.dashboard import scatter

    monkeypatch.setattr(scatter, "SCATTER_2D_POINTS", BUDGET)
    return scatter


def _pixels(source: str) -> np.ndarray:
    """RGBA array of a PNG data URI."""
    from PIL import Image

    prefix = "data:image/png;base64,"
    assert source.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source[len(prefix):]))).convert("RGBA"))


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgba[:3])


def _extent(values: pd.Series) -> tuple[float, float]:
    logs = np.log10(values[values > 0].to_numpy(dtype=float))
    pad = (logs.max() - logs.min()) * 0.03
    return logs.min() - pad, logs.max() + pad


def _legend(widget) -> list[str]:
    return [t.name for t in widget.data if t.showlegend]


def test_below_the_budget_the_2d_chart_draws_points(state):
    from segkit.dashboard.scatter import SCATTER_2D_POINTS, ScatterPanel

    n = len(state.selection)
    assert n <= SCATTER_2D_POINTS
    widget = ScatterPanel(state).chart.widget
    assert {t.type for t in widget.data} == {"scattergl"}
    assert sum(len(t.x) for t in widget.data) == n
    assert not widget.layout.images
    assert "density" not in widget.layout.title.text


@pytest.mark.slow
def test_above_the_budget_the_2d_chart_is_a_density_image(state, over_budget):
    panel = over_budget.ScatterPanel(state)
    widget, shown = panel.chart.widget, state.selection.shown
    n = len(shown)
    assert n > BUDGET
    assert f"density of {n:,} customers" in widget.layout.title.text
    assert "The 2D chart shows a density" in panel.sample_note.value and f"{n:,}" in panel.sample_note.value
    # no points are sent: one empty trace per segment keeps the legend of the segments shown
    assert all(t.type == "scatter" and list(t.x) == [None] for t in widget.data)
    assert _legend(widget) == sorted(shown["Segment"].astype(str).unique())
    colours = plots.segment_colour_map(state.segment_names)
    assert {t.name: t.marker.color for t in widget.data} == colours

    # the image covers the customers' extent, in the units of the log axes (log10 on a log axis)
    (image,) = widget.layout.images
    x_range, y_range = _extent(shown["TotalQuantity"]), _extent(shown["TotalSpend"])
    assert (image.xref, image.yref, image.sizing, image.layer) == ("x", "y", "stretch", "below")
    assert image.x == pytest.approx(x_range[0]) and image.sizex == pytest.approx(x_range[1] - x_range[0])
    assert image.y == pytest.approx(y_range[1]) and image.sizey == pytest.approx(y_range[1] - y_range[0])
    assert widget.layout.xaxis.type == "log" and list(widget.layout.xaxis.range) == pytest.approx(x_range)
    assert list(widget.layout.yaxis.range) == pytest.approx(y_range)
    # the same axis titles as the point chart
    points = plots.scatter_2d(shown, segments=state.segment_names)
    assert widget.layout.xaxis.title.text == points.layout.xaxis.title.text
    assert widget.layout.yaxis.title.text == points.layout.yaxis.title.text

    rgba = _pixels(image.source)
    assert rgba.shape == (plots.DENSITY_PIXELS[1], plots.DENSITY_PIXELS[0], 4)
    assert (rgba[..., 3] > 0).sum() > 100  # customers drawn
    drawn = {tuple(int(v) for v in c) for c in rgba[rgba[..., 3] > 0][:, :3]}
    assert len(drawn) > 1  # several segments mixed


def test_a_filter_changes_the_image(state, over_budget):
    panel = over_budget.ScatterPanel(state)
    widget = panel.chart.widget
    before = widget.layout.images[0].source
    sizes = state.everyone["Segment"].astype(str).value_counts()
    name = sizes[sizes > BUDGET].index[0]
    state.filters = Filters(segments=(name,))  # the panel follows the state
    assert len(state.selection) == sizes[name]
    (image,) = widget.layout.images
    assert image.source != before
    assert _legend(widget) == [name]
    assert f"density of {sizes[name]:,} customers" in widget.layout.title.text
    rgba = _pixels(image.source)
    colour = plots.segment_colour_map(state.segment_names)[name]
    expected = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    drawn = {tuple(int(v) for v in c) for c in rgba[rgba[..., 3] > 0][:, :3]}
    assert drawn == {expected}  # only that segment's colour

    # log scale off: linear axes in the features' own units
    panel.log_axes.value = False
    shown = state.selection.shown["TotalQuantity"]
    assert widget.layout.xaxis.type == "linear"
    assert widget.layout.images[0].x < shown.min() < shown.max() < widget.layout.images[0].x + \
        widget.layout.images[0].sizex


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_density_lets_the_theme_background_show(state, over_budget, theme):
    panel = over_budget.ScatterPanel(state)
    state.theme = theme
    widget = panel.chart.widget
    background = pio.templates[views.plotly_template(theme)].layout.plot_bgcolor
    assert widget.layout.template.layout.plot_bgcolor == background
    rgba = _pixels(widget.layout.images[0].source)
    assert (rgba[..., 3] == 0).mean() > 0.5  # pixels without customers are transparent
    assert (rgba[0, 0, 3], rgba[-1, -1, 3]) == (0, 0)


def test_back_under_the_budget_the_image_goes_and_points_return(state, over_budget, monkeypatch):
    panel = over_budget.ScatterPanel(state)
    widget = panel.chart.widget
    sent = []
    send = widget._send_relayout_msg
    monkeypatch.setattr(widget, "_send_relayout_msg", lambda data, **kw: (sent.append(data), send(data, **kw)))
    monkeypatch.setattr(over_budget, "SCATTER_2D_POINTS", 50_000)
    state.filters = Filters(country="United Kingdom")
    n = len(state.selection)
    assert {"images": []} in sent  # removed in the browser too (a layout swap keeps keys)
    assert not widget.layout.images and {t.type for t in widget.data} == {"scattergl"}
    assert sum(len(t.x) for t in widget.data) == n
    assert widget.layout.xaxis.autorange is True and widget.layout.legend.itemclick == "toggle"
    assert panel.sample_note.value == "" or "3D" in panel.sample_note.value


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_scatter_density_of_a_plain_frame():
    frame = pd.DataFrame({"TotalQuantity": [1.0, 10.0, 100.0, 0.0], "TotalSpend": [5.0, 50.0, 500.0, 7.0],
                          "Segment": ["VIP", "Lost", "VIP", "Lost"]})
    fig = plots.scatter_density(frame, log_axes=False, segments=["Lost", "New", "VIP"])
    assert [t.name for t in fig.data if t.showlegend] == ["Lost", "VIP"]
    (image,) = fig.layout.images
    assert image.x == pytest.approx(-3.0) and image.sizex == pytest.approx(106.0)  # 0-100 widened by 3 %
    assert fig.layout.title.text.endswith("density of 4 customers")
    # top row of the image is the top of the y axis: VIP (100, 500) top right, Lost (0, 7) bottom left
    rgba = _pixels(image.source)
    colours = plots.segment_colour_map(["Lost", "New", "VIP"])
    height, width = rgba.shape[:2]
    top_right, bottom_left = rgba[: height // 2, width // 2:], rgba[height // 2:, : width // 2]
    assert {_hex(c) for c in top_right[top_right[..., 3] > 0]} == {colours["VIP"]}
    assert colours["Lost"] in {_hex(c) for c in bottom_left[bottom_left[..., 3] > 0]}
    # on log axes the customer with no items is not drawn, and the title says so
    logged = plots.scatter_density(frame, segments=["Lost", "New", "VIP"])
    assert "density of 4 customers (1 with a value of 0 or below not drawn on log axes)" in logged.layout.title.text


def test_datashader_is_imported_only_for_a_density():
    code = ("import sys; import segkit.views.plots, segkit.dashboard.scatter; "
            "assert 'datashader' not in sys.modules; "
            "import pandas as pd; segkit.views.plots.scatter_2d(pd.DataFrame({'TotalQuantity': [1.0], "
            "'TotalSpend': [2.0], 'Segment': ['VIP']})); assert 'datashader' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
