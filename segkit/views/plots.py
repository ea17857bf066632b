"""Plotly figures of customers and segments.

Every function takes DataFrames and returns a ``plotly.graph_objects.Figure``; none
calls ``.show()``. ``template`` is a plotly template name ("plotly_white" for the light
theme, "plotly_dark" for the dark one). Scatter plots draw at most ``point_budget``
customers (a seeded random sample, stated in the title) with WebGL traces;
``scatter_density`` draws any number of customers as one image (datashader, imported only
when it is called).
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import plotly.colors as pcolors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from segkit.config import currency as default_currency
from segkit.views.wording import title

__all__ = [
    "SEGMENT_COLOURS",
    "POINT_BUDGET",
    "segment_colour_map",
    "scatter_2d",
    "scatter_density",
    "scatter_3d",
    "segment_sizes",
    "centroid_heatmap",
    "k_selection",
    "compare_distributions",
    "feature_distributions",
    "monthly_revenue",
    "month_labels",
    "compare_histograms",
    "cohort_heatmap",
    "segment_trend_chart",
    "segment_sizes_by_month",
    "migration_sankey",
]

#: Fixed colours per segment name so a segment looks the same in every view; each has a
#: contrast of at least 3:1 on white (WCAG for graphics), so none is pale on the light theme.
SEGMENT_COLOURS = {
    "VIP": "#7b3294", "Loyal": "#1a7f45", "Regular": "#4575b4", "Budget": "#b35806",
    "At risk": "#d73027", "Lost": "#6f6f6f", "Lapsed": "#595959", "New": "#0e7c86",
    "Quiet": "#8a5a00",
}
_EXTRA_COLOURS = pcolors.qualitative.Dark24
POINT_BUDGET = 50_000
#: Pixels (width, height) of the density image; the browser stretches it over the plot area.
DENSITY_PIXELS = (500, 300)


def segment_colour_map(segments) -> dict[str, str]:
    """Colour for each segment name (known names fixed, others from a palette)."""
    mapping = {}
    extra = iter(_EXTRA_COLOURS)
    for name in sorted(pd.unique(pd.Series(segments).astype(str))):
        base = name.rsplit(" ", 1)[0]
        mapping[name] = SEGMENT_COLOURS.get(name) or SEGMENT_COLOURS.get(base) or next(extra)
    return mapping


def _sampled(customers: pd.DataFrame, point_budget: int) -> tuple[pd.DataFrame, str]:
    if len(customers) <= point_budget:
        return customers, ""
    return customers.sample(point_budget, random_state=0), f" (showing {point_budget:,} of {len(customers):,})"


def _segment_order(segmented: pd.DataFrame, segments) -> list[str]:
    if segments is not None:
        return [str(s) for s in segments]
    return sorted(segmented["Segment"].astype(str).unique())


def _segment_points(frame: pd.DataFrame, segments: list[str], axes: dict[str, np.ndarray]) -> list[dict]:
    """Per segment: the rows of ``axes`` (name -> values) and, as ``customdata``, the
    customer's id and country in one fixed-width string array (an object or 2D array costs
    about ten times as much to copy and send at 50,000 points)."""
    who = frame.index.astype(str).to_numpy(dtype=str)
    if "Country" in frame.columns:
        who = np.char.add(np.char.add(who, " · "), frame["Country"].astype(str).to_numpy(dtype=str))
    labels = frame["Segment"].astype(str).to_numpy()
    points = []
    for name in segments:
        rows = np.flatnonzero(labels == name)
        points.append({"name": name, "customdata": who[rows], **{a: v[rows] for a, v in axes.items()}})
    return points


def _hovertemplate(labels: dict[str, str]) -> str:
    """Customer id and country, then each axis (``labels``: axis -> title shown)."""
    lines = ["<b>Customer %{customdata}</b>"] + [f"{label}: %{{{axis}:,.6~g}}" for axis, label in labels.items()]
    return "<br>".join(lines) + "<extra>%{fullData.name}</extra>"


def scatter_2d(segmented: pd.DataFrame, x: str = "TotalQuantity", y: str = "TotalSpend",
               log_axes: bool = True, template: str = "plotly_white",
               point_budget: int = POINT_BUDGET, segments=None, currency: str = "£") -> go.Figure:
    """Customers as points, coloured by ``Segment``; hover shows the customer.

    One WebGL (``Scattergl``) trace per segment, in the order of ``segments`` (default
    the sorted names present; a listed segment without customers gets an empty trace).
    """
    shown, note = _sampled(segmented, point_budget)
    order = _segment_order(segmented, segments)
    colours = segment_colour_map(order)
    x_title, y_title = title(x, currency), title(y, currency)
    hovertemplate = _hovertemplate({"x": x_title, "y": y_title})
    axes = {"x": shown[x].to_numpy(dtype=float), "y": shown[y].to_numpy(dtype=float)}
    fig = go.Figure([go.Scattergl(mode="markers", marker=dict(color=colours[p["name"]]), opacity=0.75,
                                  hovertemplate=hovertemplate, legendgroup=p["name"], showlegend=True, **p)
                     for p in _segment_points(shown, order, axes)])
    axis_type = "log" if log_axes else "linear"
    scale = " (log scale)" if log_axes else ""
    fig.update_layout(title=f"{y_title} against {x_title}{note}", legend_title_text="Segment", template=template,
                      margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(title=x_title + scale, type=axis_type), yaxis=dict(title=y_title + scale, type=axis_type))
    return fig


def _density_extent(values: np.ndarray) -> tuple[float, float]:
    """Finite minimum and maximum widened by 3 % (1 when all values are equal)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    pad = (high - low) * 0.03 if high > low else 0.5
    return low - pad, high + pad


def _density_png(frame: pd.DataFrame, x_range: tuple[float, float], y_range: tuple[float, float],
                 colours: list[str], pixels: tuple[int, int]) -> str:
    """A PNG data URI of ``frame`` (columns x, y and a categorical Segment) counted per pixel
    and segment, each pixel's colour the count-weighted mix of ``colours`` (one per category)
    and its opacity rising with the count (histogram-equalised); empty pixels transparent."""
    # optional: dashboard (datashader brings numba and xarray, ~1 s and ~100 MB, needed only above the point budget)
    import datashader as ds
    import datashader.transfer_functions as tf

    canvas = ds.Canvas(plot_width=pixels[0], plot_height=pixels[1], x_range=x_range, y_range=y_range)
    counts = canvas.points(frame, "x", "y", ds.by("Segment", ds.count()))
    image = tf.dynspread(tf.shade(counts, color_key=colours, how="eq_hist", min_alpha=90), threshold=0.5, max_px=2)
    buffer = io.BytesIO()
    image.to_pil().save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def scatter_density(segmented: pd.DataFrame, x: str = "TotalQuantity", y: str = "TotalSpend",
                    log_axes: bool = True, template: str = "plotly_white", segments=None,
                    currency: str = "£", pixels: tuple[int, int] = DENSITY_PIXELS) -> go.Figure:
    """Every customer of ``segmented`` as a density image coloured by ``Segment``: the 2D
    scatter for more customers than WebGL points can draw quickly.

    datashader (which needs pillow) counts customers per pixel and segment on a ``pixels``
    grid over their extent; a pixel's colour mixes the segment colours by their counts, its
    opacity rises with the count; empty pixels are transparent, so the theme's background
    shows through. The image lies under the axes (log axes when ``log_axes``, as in
    ``scatter_2d``; customers with a value of 0 or below are not drawn there, and the title
    says how many); its extent is the axis range.
    One empty trace per segment of ``segments`` (see ``scatter_2d``) keeps the legend,
    listing only segments with customers. No hover. ``Segment`` may be categorical (faster
    at a million rows: no conversion).
    """
    order = _segment_order(segmented, segments)
    colours = segment_colour_map(order)
    x_title, y_title = title(x, currency), title(y, currency)
    labels = segmented["Segment"]
    if not (isinstance(labels.dtype, pd.CategoricalDtype) and list(labels.cat.categories) == order):
        labels = labels.astype(str).astype(pd.CategoricalDtype(order))
    codes = labels.cat.codes.to_numpy()
    xs, ys = segmented[x].to_numpy(dtype=float), segmented[y].to_numpy(dtype=float)
    if (codes < 0).any():  # segments not in ``segments`` are not drawn (as in ``scatter_2d``)
        xs, ys, labels, codes = xs[codes >= 0], ys[codes >= 0], labels[codes >= 0], codes[codes >= 0]
    if log_axes:
        with np.errstate(divide="ignore", invalid="ignore"):
            xs, ys = np.log10(np.where(xs > 0, xs, np.nan)), np.log10(np.where(ys > 0, ys, np.nan))
    frame = pd.DataFrame({"x": xs, "y": ys, "Segment": labels.array}, copy=False)  # no 2D block copy
    x_range, y_range = _density_extent(xs), _density_extent(ys)
    source = _density_png(frame, x_range, y_range, [colours[name] for name in order], pixels)
    present = np.bincount(codes, minlength=len(order))
    hidden = len(segmented) - int((np.isfinite(xs) & np.isfinite(ys)).sum())
    hidden_note = f" ({hidden:,} with a value of 0 or below not drawn on log axes)" if hidden else ""
    fig = go.Figure([go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup=name,
                                marker=dict(color=colours[name], size=10, symbol="square"),
                                showlegend=bool(present[i]), hoverinfo="skip")
                     for i, name in enumerate(order)])
    axis_type = "log" if log_axes else "linear"
    scale = " (log scale)" if log_axes else ""
    fig.update_layout(
        title=f"{y_title} against {x_title}: density of {len(segmented):,} customers{hidden_note}",
        legend=dict(title_text="Segment", itemclick=False, itemdoubleclick=False), template=template,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(title=x_title + scale, type=axis_type, range=list(x_range), autorange=False),
        yaxis=dict(title=y_title + scale, type=axis_type, range=list(y_range), autorange=False),
        images=[dict(source=source, xref="x", yref="y", x=x_range[0], y=y_range[1], sizex=x_range[1] - x_range[0],
                     sizey=y_range[1] - y_range[0], xanchor="left", yanchor="top", sizing="stretch",
                     layer="below")])
    return fig


def scatter_3d(segmented: pd.DataFrame, x: str = "NumPurchases", y: str = "TotalQuantity",
               z: str = "TotalSpend", log_axes: bool = True, template: str = "plotly_white",
               point_budget: int = 20_000, segments=None, currency: str = "£") -> go.Figure:
    """3D view of three features (log axes when ``log_axes``; values below 1 are drawn
    at 1 there), coloured by segment, one ``Scatter3d`` trace per segment (see
    ``scatter_2d`` for ``segments``); axes and hover in the features' own units."""
    shown, note = _sampled(segmented, point_budget)
    order = _segment_order(segmented, segments)
    colours = segment_colour_map(order)
    titles = {axis: title(col, currency) for axis, col in (("x", x), ("y", y), ("z", z))}
    hovertemplate = _hovertemplate(titles)
    axes = {}
    for axis, col in (("x", x), ("y", y), ("z", z)):
        values = shown[col].to_numpy(dtype=float)
        axes[axis] = np.clip(values, 1, None) if log_axes else values
    fig = go.Figure([go.Scatter3d(mode="markers", marker=dict(color=colours[p["name"]], size=3), opacity=0.7,
                                  hovertemplate=hovertemplate, legendgroup=p["name"], showlegend=True, **p)
                     for p in _segment_points(shown, order, axes)])
    axis_type = "log" if log_axes else "linear"
    scale = " (log scale)" if log_axes else ""
    fig.update_layout(title=f"{titles['x']}, {titles['y']} and {titles['z']}{note}", template=template,
                      legend_title_text="Segment", margin=dict(l=0, r=0, t=50, b=0),
                      scene={f"{axis}axis": dict(title=titles[axis] + scale, type=axis_type) for axis in titles})
    return fig


def segment_sizes(summary: pd.DataFrame, template: str = "plotly_white") -> go.Figure:
    """Bar chart of customers per segment from a summary with ``Segment`` and ``Customers``."""
    frame = summary.reset_index(drop=True)
    names = frame["Segment"].astype(str).tolist()
    colours = segment_colour_map(names)
    fig = go.Figure(go.Bar(x=names, y=frame["Customers"].to_numpy(), text=frame["Customers"].to_numpy(),
                           marker_color=[colours[n] for n in names], name="Customers",
                           hovertemplate="%{x}: %{y:,} customers<extra></extra>"))
    fig.update_layout(title="Customers per segment", showlegend=False, template=template,
                      xaxis_title="Segment", yaxis_title="Customers", margin=dict(l=10, r=10, t=50, b=10))
    return fig


def centroid_heatmap(profile_z: pd.DataFrame, names: dict[int, str] | None = None,
                     template: str = "plotly_white") -> go.Figure:
    """Heatmap of standardised cluster centres (rows: segments, columns: features, shown
    by their titles): how far each segment's average lies from the average customer, in
    standard deviations of the log values."""
    labels = [names.get(int(i), str(i)) if names else str(i) for i in profile_z.index]
    values = profile_z.to_numpy(dtype=float)
    columns = [title(c).replace(" (£)", "") for c in profile_z.columns]
    fig = go.Figure(go.Heatmap(
        z=values, x=columns, y=labels, colorscale="RdBu_r", zmid=0, name="z-score",
        text=np.round(values, 2), texttemplate="%{text}", colorbar=dict(title="z-score"),
        hovertemplate="%{y}, %{x}: %{z:.2f} standard deviations from the average customer<extra></extra>",
    ))
    # No legend: one heatmap has nothing to tell apart ("trace 0" showed on pages opened from a link).
    fig.update_layout(title="How each segment differs from the average customer", template=template,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(type="category"), yaxis=dict(type="category"),
                      showlegend=False)
    return fig


def k_selection(table: pd.DataFrame, recommended: int | None = None, template: str = "plotly_white") -> go.Figure:
    """Elbow, silhouette, Calinski-Harabasz, Davies-Bouldin and stability side by side."""
    panels = [("inertia", "Inertia (elbow)"), ("silhouette", "Silhouette ↑"),
              ("calinski_harabasz", "Calinski-Harabasz ↑"), ("davies_bouldin", "Davies-Bouldin ↓"),
              ("stability", "Bootstrap stability (ARI) ↑"), ("min_cluster_share", "Smallest cluster share")]
    fig = make_subplots(rows=2, cols=3, subplot_titles=[t for _, t in panels])
    for i, (col, _) in enumerate(panels):
        fig.add_trace(go.Scatter(x=table.index, y=table[col], mode="lines+markers", name=col, showlegend=False),
                      row=i // 3 + 1, col=i % 3 + 1)
        if recommended is not None:
            fig.add_vline(x=recommended, line_dash="dot", line_color="#d73027", row=i // 3 + 1, col=i % 3 + 1)
    fig.update_xaxes(title_text="K", dtick=1)
    title = "Choosing K" + (f" (recommended K = {recommended})" if recommended is not None else "")
    fig.update_layout(title=title, template=template, height=560, margin=dict(l=10, r=10, t=70, b=10))
    return fig


def compare_distributions(segmented: pd.DataFrame, segments: tuple[str, str], feature: str = "TotalSpend",
                          log_axis: bool = True, template: str = "plotly_white") -> go.Figure:
    """Overlaid histograms of ``feature`` for two segments."""
    colours = segment_colour_map(segmented["Segment"])
    fig = go.Figure()
    for name in segments:
        values = segmented.loc[segmented["Segment"] == name, feature].astype(float)
        if log_axis:
            values = np.log10(values.clip(lower=0) + 1)
        fig.add_trace(go.Histogram(x=values, name=name, opacity=0.6, marker_color=colours.get(name),
                                   histnorm="percent", nbinsx=40))
    fig.update_layout(barmode="overlay", template=template,
                      title=f"{feature}: {segments[0]} vs {segments[1]}",
                      xaxis_title=f"log10(1+{feature})" if log_axis else feature, yaxis_title="% of segment",
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def feature_distributions(customers: pd.DataFrame,
                          features=("Recency", "NumPurchases", "TotalQuantity", "TotalSpend"),
                          template: str = "plotly_white") -> go.Figure:
    """Histogram of each feature on a log10(1+x) scale."""
    fig = make_subplots(rows=1, cols=len(features), subplot_titles=[f"log10(1+{f})" for f in features])
    for i, feature in enumerate(features, start=1):
        values = np.log10(customers[feature].astype(float).clip(lower=0) + 1)
        fig.add_trace(go.Histogram(x=values, nbinsx=50, showlegend=False, name=feature), row=1, col=i)
    fig.update_layout(title="Customer features (log scale)", template=template, height=330,
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def month_labels(months, period) -> tuple[list[pd.Timestamp], list[str], list[str]]:
    """Tick values and labels of a monthly time axis: "Sep 2011", and for a first or last
    month the data covers only in part "Dec 2011 (9 days)" (``period``: the first and last
    purchase). Returns ``(month starts, labels, the partial months' labels)``."""
    starts = sorted({pd.Timestamp(m).to_period("M").to_timestamp() for m in months})
    first, last = (pd.Timestamp(d) for d in period)
    labels, partial = [], []
    for month in starts:
        days_in_month = month.days_in_month
        if month == first.to_period("M").to_timestamp() and first.day > 1:
            covered = days_in_month - first.day + 1
        elif month == last.to_period("M").to_timestamp() and last.day < days_in_month:
            covered = last.day
        else:
            covered = days_in_month
        label = f"{month:%b %Y}" + (f" ({covered} day{'s' if covered != 1 else ''})" if covered < days_in_month
                                    else "")
        labels.append(label)
        if covered < days_in_month:
            partial.append(label)
    return starts, labels, partial


def _mark_partial_months(fig: go.Figure, months, period) -> None:
    """Month ticks that say which months are partial, and a line saying it under the title."""
    if period is None or not len(months):
        return
    starts, labels, partial = month_labels(months, period)
    fig.update_xaxes(tickmode="array", tickvals=starts, ticktext=labels)
    if partial:
        fig.add_annotation(text="Partial month" + ("s" if len(partial) > 1 else "") + ": " + ", ".join(partial)
                           + " (not a drop in sales)", xref="paper", yref="paper", x=0, y=1.0, xanchor="left",
                           yanchor="bottom", showarrow=False, font={"size": 11}, name="partial-months")


def monthly_revenue(lines: pd.DataFrame, template: str = "plotly_white", currency: str | None = None) -> go.Figure:
    """Revenue and active customers per calendar month (both axes from zero); a first or
    last month the log covers only in part is labelled with its days ("Dec 2011 (9 days)")
    and its bar hatched."""
    currency = default_currency() if currency is None else currency
    month = lines["InvoiceDate"].dt.to_period("M").dt.to_timestamp()
    per_month = lines.assign(Month=month).groupby("Month").agg(
        Revenue=("TotalPrice", "sum"), Customers=("CustomerID", "nunique")).reset_index()
    period = (lines["InvoiceDate"].min(), lines["InvoiceDate"].max()) if len(lines) else None
    _, labels, partial = month_labels(per_month["Month"], period) if period else ([], [], [])
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=per_month["Month"], y=per_month["Revenue"], name="Revenue",
                         marker_pattern_shape=["/" if label in partial else "" for label in labels] or None),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=per_month["Month"], y=per_month["Customers"], name="Active customers",
                             mode="lines+markers"), secondary_y=True)
    fig.update_layout(title="Revenue and active customers per month", template=template,
                      margin=dict(l=10, r=10, t=60, b=10))
    fig.update_yaxes(title_text=f"Revenue ({currency})", tickprefix=currency, rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="Active customers", rangemode="tozero", secondary_y=True)
    _mark_partial_months(fig, per_month["Month"], period)
    return fig


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick positions on a log10(1 + x) axis at 0, 1, 10, 100, ... with the values of x."""
    values = [0.0] + [10.0 ** p for p in range(0, 9)]
    vals = [np.log10(1 + v) for v in values if low - 0.05 <= np.log10(1 + v) <= high + 0.05]
    texts = [f"{10 ** v - 1:,.0f}" for v in vals]
    return vals, texts


def compare_histograms(segmented: pd.DataFrame, segments: tuple[str, str], feature: str = "TotalSpend",
                       log_axis: bool = True, template: str = "plotly_white", bins: int = 40,
                       currency: str = "£", colours: dict[str, str] | None = None) -> go.Figure:
    """Overlaid histograms of ``feature`` for two segments, binned here (not in the browser).

    Same view as ``compare_distributions`` (share of each segment per bin, in percent, on
    common bins of log10(1+x) when ``log_axis``), but only the ``bins`` bar heights go to
    the browser, whatever the number of customers: one ``Bar`` trace per segment.
    ``colours``: segment name -> colour (default ``segment_colour_map`` of the segments in
    ``segmented``; given, ``segmented`` may hold only the two segments' customers).
    """
    colours = segment_colour_map(segmented["Segment"]) if colours is None else colours
    values = segmented[feature].to_numpy(dtype=float)
    if log_axis:
        values = np.log10(np.clip(values, 0, None) + 1)
    chosen = [values[(segmented["Segment"] == name).fillna(False).to_numpy(dtype=bool) & np.isfinite(values)]
              for name in segments]
    both = np.concatenate(chosen) if chosen else np.array([])
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    fig = go.Figure()
    for name, part in zip(segments, chosen):
        counts = np.histogram(part, bins=edges)[0]
        share = counts / counts.sum() * 100 if counts.sum() else counts.astype(float)
        shown_at = np.power(10, centres) - 1 if log_axis else centres
        fig.add_trace(go.Bar(x=centres, y=share, width=width, name=name, opacity=0.6, marker_color=colours.get(name),
                             customdata=shown_at,
                             hovertemplate=f"{name}: %{{y:.1f}}% of the segment near %{{customdata:,.0f}}<extra></extra>"))
    feature_title = title(feature, currency)
    xaxis = dict(title=feature_title + (" (log scale)" if log_axis else ""))
    if log_axis:
        xaxis["tickvals"], xaxis["ticktext"] = _log_ticks(low, high)
    fig.update_layout(barmode="overlay", bargap=0, template=template,
                      title=f"{feature_title}: {segments[0]} and {segments[1]}",
                      xaxis=xaxis, yaxis_title="% of the segment's customers",
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


_COHORT_VALUES = {"ActiveShare": ("% of the cohort buying", ".0%"), "Revenue": ("Revenue", ",.0f"),
                  "RevenuePerCustomer": ("Revenue per cohort customer", ",.0f"), "Active": ("Customers buying", ",d")}


def cohort_heatmap(cohorts: pd.DataFrame, value: str = "ActiveShare", template: str = "plotly_white",
                   currency: str = "£", period=None) -> go.Figure:
    """Acquisition cohorts (rows, by first-purchase month) against months since the first purchase.

    ``cohorts``: the table of ``segkit.value.movement.cohort_retention``; ``value``: one of
    ``ActiveShare`` (default), ``Revenue``, ``RevenuePerCustomer``, ``Active``.
    """
    if value not in _COHORT_VALUES:
        raise ValueError(f"value must be one of {', '.join(_COHORT_VALUES)}, not {value!r}")
    label, fmt = _COHORT_VALUES[value]
    if value in ("Revenue", "RevenuePerCustomer"):
        label = f"{label} ({currency})"
    grid = cohorts.pivot(index="Cohort", columns="MonthsSince", values=value).sort_index()
    sizes = cohorts.groupby("Cohort")["CohortSize"].first().reindex(grid.index)
    rows = [f"{month:%Y-%m} ({size:,})" for month, size in zip(grid.index, sizes)]
    if period is not None and len(grid):  # a cohort of a partial month says so: "2011-12, 9 days (120)"
        months = [pd.Timestamp(str(m)).to_period("M").to_timestamp() for m in grid.index]
        _, labels, partial = month_labels(months, period)
        rows = [f"{month:%Y-%m}, {label.split('(')[1].rstrip(')')} ({size:,})" if label in partial else row
                for month, label, size, row in zip(months, labels, sizes, rows)]
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(dtype=float), x=[int(c) for c in grid.columns], y=rows, colorscale="Blues",
        colorbar=dict(title=label, tickformat=fmt.replace(",d", ",")),
        hovertemplate=f"cohort %{{y}}<br>month %{{x}}<br>{label}: %{{z:{fmt.replace(',d', ',.0f')}}}<extra></extra>"))
    # A short title: a long one was cut on the page's narrow panel ("...first purch").
    fig.update_layout(title=dict(text=f"{label} by cohort", subtitle=dict(
                          text="rows: month of the first purchase (customers); columns: months since")),
                      template=template, xaxis_title="months since the first purchase", yaxis_title="cohort",
                      yaxis_autorange="reversed", margin=dict(l=10, r=10, t=70, b=10), showlegend=False)
    return fig


def segment_trend_chart(trend: pd.DataFrame, measure: str = "Revenue", template: str = "plotly_white",
                        currency: str = "£", period=None) -> go.Figure:
    """Stacked area per segment by month of ``measure`` (``Revenue``, ``Customers`` or ``Share``);
    revenue in ``currency`` (axis title and ticks). With ``period`` (first and last
    purchase of the log) a partial first or last month is labelled with its days.

    ``trend``: the table of ``segkit.value.movement.segment_trend``.
    """
    if measure not in ("Revenue", "Customers", "Share"):
        raise ValueError(f"measure must be 'Revenue', 'Customers' or 'Share', not {measure!r}")
    colours = segment_colour_map(trend["Segment"])
    fig = go.Figure()
    for name in pd.unique(trend["Segment"]):
        part = trend[trend["Segment"] == name]
        fig.add_trace(go.Scatter(x=part["Month"], y=part[measure], name=str(name), mode="lines", stackgroup="one",
                                 line=dict(color=colours.get(str(name)))))
    fig.update_layout(title=f"{measure} per segment and month", template=template, xaxis_title="month",
                      yaxis_title=f"Revenue ({currency})" if measure == "Revenue" else measure,
                      yaxis_tickformat=".0%" if measure == "Share" else None,
                      yaxis_tickprefix=currency if measure == "Revenue" else None,
                      margin=dict(l=10, r=10, t=60, b=10))
    _mark_partial_months(fig, trend["Month"], period)
    return fig


def segment_sizes_by_month(sizes: pd.DataFrame, template: str = "plotly_white", period=None) -> go.Figure:
    """Stacked area of customers per segment at each month's end (``sizes``: the table of
    ``segkit.value.segment_history.monthly_segment_sizes``). With ``period`` (first and last purchase)
    a partial first or last month is labelled with its days, as on the other time charts."""
    colours = segment_colour_map(sizes["Segment"])
    fig = go.Figure()
    for name in pd.unique(sizes["Segment"]):
        part = sizes[sizes["Segment"] == name]
        fig.add_trace(go.Scatter(x=part["Month"], y=part["Customers"], name=str(name), mode="lines",
                                 stackgroup="one", line=dict(color=colours.get(str(name))),
                                 hovertemplate="%{y:,} customers<extra>" + str(name) + "</extra>"))
    fig.update_layout(title="Customers per segment at each month's end", template=template, xaxis_title="month",
                      yaxis_title="customers", margin=dict(l=10, r=10, t=60, b=10))
    _mark_partial_months(fig, sizes["Month"], period)
    return fig


def migration_sankey(table: pd.DataFrame, title: str = "Segment at the cut-off → segment now",
                     template: str = "plotly_white") -> go.Figure:
    """Sankey diagram of a migration table (counts; ``segkit.value.movement.migration_table``).

    Left nodes: rows (segment at the cut-off), right nodes: columns (segment now); a link's
    width is its number of customers.
    """
    left, right = [str(r) for r in table.index], [str(c) for c in table.columns]
    colours = segment_colour_map(left + right)
    grey = "#bdbdbd"
    nodes = [f"{name} " for name in left] + [f" {name}" for name in right]  # spaces keep both sides apart
    source, target, value, link_colour = [], [], [], []
    counts = table.to_numpy()
    for i, row in enumerate(left):
        for j, _ in enumerate(right):
            if counts[i, j] > 0:
                source.append(i)
                target.append(len(left) + j)
                value.append(float(counts[i, j]))
                link_colour.append(_with_alpha(colours.get(row, grey) if not row.startswith("(") else grey, 0.35))
    fig = go.Figure(go.Sankey(
        node=dict(label=nodes, pad=12, thickness=14,
                  color=[grey if n.strip().startswith("(") else colours.get(n.strip(), grey) for n in nodes]),
        link=dict(source=source, target=target, value=value, color=link_colour,
                  hovertemplate="%{source.label}→%{target.label}: %{value:,.0f} customers<extra></extra>")))
    fig.update_layout(title=title, template=template, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _with_alpha(colour: str, alpha: float) -> str:
    red, green, blue = pcolors.hex_to_rgb(colour) if colour.startswith("#") else pcolors.unlabel_rgb(colour)
    return f"rgba({int(red)}, {int(green)}, {int(blue)}, {alpha})"
