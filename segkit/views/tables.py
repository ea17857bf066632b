"""What the dashboard shows, as plain functions of DataFrames (no widgets here).

Every number and table on the page comes from one of these functions, so each is
tested without a browser (``tests/views/test_tables.py``). The path of one view: customers
segmented by the model on the full period (``segment_customers``) -> kept by segment,
country and spend (``filter_mask``) and, for a date range or product category, by
having bought there (``segkit.dashboard.state.date_range_activity``) -> KPIs, summary,
comparison, table, CSV. ``customers_in_date_range`` (features recomputed inside a date range)
is kept for analyses in notebooks; the page never relabels customers with it.
"""
from __future__ import annotations

import base64
import html
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from segkit.errors import SegkitDataError, SegkitError
from segkit.features.customers import customer_features
from segkit.ingest.currency import plain_heading
from segkit.ingest.load import load_transactions
from segkit.ingest.options import ReadOptions
from segkit.ingest.readers import column_names, read_raw
from segkit.modeling.label import cluster_profile_z, segment_profile
from segkit.rules.registry import product_category
from segkit.schema import midnight_after, snapshot_date_for
from segkit.views.export import to_safe_csv
from segkit.views.wording import count, days, money, title

if TYPE_CHECKING:  # scikit-learn loads only when a model is trained or applied
    from segkit.modeling.model import SegmentationModel

__all__ = [
    "ALL",
    "THEMES",
    "TABLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "SUMMARY_INTERVAL_COLUMNS",
    "value_with_range",
    "UPLOAD_SUFFIXES",
    "Filters",
    "country_choice",
    "line_categories",
    "covers_period",
    "customers_in_date_range",
    "date_range_mask",
    "segment_customers",
    "filter_mask",
    "filter_customers",
    "kpis",
    "kpi_html",
    "segment_summary",
    "summary_html",
    "summary_csv",
    "with_evidence",
    "EVIDENCE_TITLE",
    "segment_centres",
    "everyone_z_scores",
    "compare_segments",
    "comparison_html",
    "which_is_higher",
    "table_order",
    "customers_as_shown",
    "table_page",
    "table_html",
    "readable_table",
    "csv_data_uri",
    "download_link_html",
    "theme_css",
    "plotly_template",
    "provisional_card",
    "model_card_html",
    "k_table_html",
    "score_upload",
]

#: The "no filter" choice of the country and product category filters.
ALL = "All"

#: Columns of the customer table, in the order shown (and downloaded).
TABLE_COLUMNS = [
    "CustomerID", "Segment", "Country", "NumPurchases", "TotalQuantity", "TotalSpend", "AvgOrderValue",
    "Recency", "Tenure", "DistinctProducts", "LastPurchase", "DaysToStageChange", "KeptInRefits", "Confidence",
    "PAlive", "CLV", "CLVLow", "CLVHigh", "Recommendation",
]

#: Columns of the cluster summary table.
SUMMARY_COLUMNS = [
    "Segment", "Customers", "Share", "AvgNumPurchases", "AvgTotalSpend", "SumTotalSpend",
    "AvgRecency", "Recommendation",
]

#: File types the upload accepts for scoring.
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".xlsm")


@dataclass(frozen=True)
class Filters:
    """The page's filters; the defaults select everything.

    ``segments=None`` means every segment (an empty tuple means none); ``country``: the
    countries kept, sorted (an empty tuple, the default, means every country; one name or
    ``ALL`` as given by older code is read as that tuple: ``"France"`` -> ``("France",)``);
    spend bounds are inclusive, in currency units; ``start``/``end`` are inclusive calendar
    days; ``customers``: only these customer ids (``None``: anyone), e.g. those a live update moved.
    """

    segments: tuple[str, ...] | None = None
    country: tuple[str, ...] = ()
    spend_min: float | None = None
    spend_max: float | None = None
    start: date | None = None
    end: date | None = None
    category: str = ALL
    customers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", country_choice(self.country))


def country_choice(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """The countries a filter keeps, as ``Filters.country`` holds them: sorted, each once,
    ``()`` for every country (``None``, ``""`` or ``ALL``); a single name is one country."""
    if value is None:
        return ()
    names = (value,) if isinstance(value, str) else tuple(value)
    return tuple(sorted({str(name) for name in names if str(name) and str(name) != ALL}))


# ---------------------------------------------------------------- customers

def line_categories(lines: pd.DataFrame) -> pd.Series:
    """Product category of each line (``features.product_category`` of its description).

    Categorises each distinct description once, so it stays fast on a million lines.
    """
    text = lines["Description"].astype("string").fillna("")
    codes, uniques = pd.factorize(text)
    names = product_category(pd.Series(uniques, dtype="string")).to_numpy(dtype=object)
    # Categories sorted, as ``pd.Categorical`` of the names would give; codes built from the
    # distinct descriptions' codes, without a string per line.
    order = pd.Index(sorted(set(names)))
    category_codes = order.get_indexer(names)
    return pd.Series(pd.Categorical.from_codes(category_codes[codes], categories=order), index=lines.index,
                     name="Category")


def customers_in_date_range(lines: pd.DataFrame, customers: pd.DataFrame, categories: pd.Series | None = None,
                            start: date | None = None, end: date | None = None, category: str = ALL) -> pd.DataFrame:
    """Customer features from the lines in ``[start, end]`` (whole days) and ``category``.

    With neither filter set, ``customers`` is returned as it is (the table the model was
    trained on). Otherwise the features are recomputed from the selected lines, with
    Recency counted to the day after the date range's end (or the data's last day).
    """
    keep = date_range_mask(lines, categories, start, end, category)
    if keep is None:
        return customers
    selected = lines[keep]
    if selected.empty:
        return customers.iloc[0:0]
    last = lines["InvoiceDate"].max()
    end_ts = midnight_after(end) if end is not None else None
    snapshot = snapshot_date_for(min(end_ts - pd.Timedelta(days=1), last) if end_ts is not None else last)
    return customer_features(selected, snapshot_date=snapshot)


def covers_period(first: pd.Timestamp, last: pd.Timestamp, start: date | None, end: date | None) -> bool:
    """True when ``[start, end]`` (whole days; ``None``: no limit) holds every purchase
    from ``first`` to ``last``: a date filter that narrows nothing."""
    return ((start is None or pd.Timestamp(start) <= pd.Timestamp(first).normalize())
            and (end is None or midnight_after(end) > pd.Timestamp(last)))


def date_range_mask(lines: pd.DataFrame, categories: pd.Series | None = None, start: date | None = None,
                    end: date | None = None, category: str = ALL) -> np.ndarray | None:
    """Which lines fall in ``[start, end]`` (whole days) and ``category``; ``None`` when
    neither filter narrows anything (the whole period, every category)."""
    dates = lines["InvoiceDate"]
    start_ts = pd.Timestamp(start) if start is not None else None
    end_ts = midnight_after(end) if end is not None else None
    if category == ALL and covers_period(dates.min(), dates.max(), start, end):
        return None
    keep = np.ones(len(lines), dtype=bool)
    if start_ts is not None:
        keep &= (dates >= start_ts).to_numpy()
    if end_ts is not None:
        keep &= (dates < end_ts).to_numpy()
    if category != ALL:
        if categories is None:
            categories = line_categories(lines)
        keep &= (categories == category).to_numpy()
    return keep


def segment_customers(model: SegmentationModel, customers: pd.DataFrame) -> pd.DataFrame:
    """``model.segment(customers)``, also for an empty table."""
    if customers.empty:
        return customers.assign(Cluster=pd.Series(dtype="int64"), Segment=pd.Series(dtype="string"),
                                Recommendation=pd.Series(dtype="string"))
    return model.segment(customers)


def filter_mask(segmented: pd.DataFrame, filters: Filters) -> np.ndarray:
    """Boolean array: which rows of ``segmented`` pass the segment, country (any of
    ``filters.country``), spend and customer filters."""
    keep = np.ones(len(segmented), dtype=bool)
    if filters.customers is not None:
        keep &= segmented.index.astype("string").isin(list(filters.customers))
    if filters.segments is not None:
        keep &= segmented["Segment"].isin(list(filters.segments)).fillna(False).to_numpy(dtype=bool)
    if filters.country:
        country = segmented["Country"]
        chosen = np.zeros(len(segmented), dtype=bool)
        for name in filters.country:  # a few comparisons: cheaper than isin on text at a million rows
            chosen |= (country == name).fillna(False).to_numpy(dtype=bool)
        keep &= chosen
    spend = segmented["TotalSpend"].to_numpy(dtype=float)
    if filters.spend_min is not None:
        keep &= spend >= filters.spend_min
    if filters.spend_max is not None:
        keep &= spend <= filters.spend_max
    return keep


def filter_customers(segmented: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The segmented customers that pass the segment, country and spend filters."""
    return segmented[filter_mask(segmented, filters)]


# ---------------------------------------------------------------- numbers on the page

def kpis(customers: pd.DataFrame, period: tuple[Any, Any], whole: pd.DataFrame | None = None,
         whole_period: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Header numbers: customers, mean purchases per customer, total spend, average
    order value (total spend / total purchases, currency) and the data period; with
    lifetime value columns also ``TotalCLV`` (currency, 12 months) and
    ``ExpectedPurchases90d`` (purchase days expected in the next 90 days), else ``None``.

    Under a date or category filter (``customers`` carry ``PurchasesInWindow`` and
    ``SpendInWindow``: their lines in the window) ``Window`` holds the window's figures
    (``Customers``, ``Orders``, ``Spend``, ``AvgOrderValue``, from those lines) and
    ``Whole`` the same figures over the whole period of ``whole`` (the customers the other
    filters keep; default ``customers``), with ``WholePeriod`` its dates."""
    n = len(customers)
    purchases = float(customers["NumPurchases"].sum()) if n else 0.0
    spend = float(customers["TotalSpend"].sum()) if n else 0.0
    numbers = {
        "Customers": n,
        "AvgPurchases": purchases / n if n else float("nan"),
        "TotalSpend": spend,
        "AvgOrderValue": spend / purchases if purchases else float("nan"),
        "Period": (pd.Timestamp(period[0]), pd.Timestamp(period[1])),
        "TotalCLV": float(customers["CLV"].sum()) if "CLV" in customers.columns else None,
        "ExpectedPurchases90d": float(customers["ExpectedPurchases90d"].sum())
        if "ExpectedPurchases90d" in customers.columns else None,
    }
    if "SpendInWindow" in customers.columns and "PurchasesInWindow" in customers.columns:
        orders = int(pd.to_numeric(customers["PurchasesInWindow"]).fillna(0).sum()) if n else 0
        window_spend = float(pd.to_numeric(customers["SpendInWindow"]).fillna(0).sum()) if n else 0.0
        numbers["Window"] = {"Customers": n, "Orders": orders, "Spend": round(window_spend, 2),
                             "AvgOrderValue": window_spend / orders if orders else float("nan")}
        whole = customers if whole is None else whole
        w_orders = int(whole["NumPurchases"].sum()) if len(whole) else 0
        w_spend = float(whole["TotalSpend"].sum()) if len(whole) else 0.0
        numbers["Whole"] = {"Customers": len(whole), "Orders": w_orders, "Spend": round(w_spend, 2),
                            "AvgOrderValue": w_spend / w_orders if w_orders else float("nan")}
        numbers["WholePeriod"] = tuple(pd.Timestamp(d) for d in (whole_period or period))
    return numbers


def _number(value: float, decimals: int = 0) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:,.{decimals}f}"


def _card(label: str, value: str, beside: str = "") -> str:
    extra = f'<div class="seg-card-whole">{html.escape(beside)}</div>' if beside else ""
    return (f'<div class="seg-card" data-kpi="{html.escape(label)}"><div class="seg-card-label">{html.escape(label)}'
            f'</div><div class="seg-card-value">{html.escape(value)}</div>{extra}</div>')


def kpi_html(numbers: Mapping[str, Any], currency: str = "£", value_missing: str = "", window: str = "") -> str:
    """The KPI cards as HTML (money with ``currency``). With lifetime value in
    ``numbers``, two more cards (value of the customers shown); ``value_missing`` (a
    sentence saying why there is none) becomes a note under the cards instead.

    Under a date or category filter (``numbers["Window"]``) the cards show the window's
    customers, orders, spend and average order, each with the whole-period figure beside
    it, and a line says what the window is (``window``: e.g. "in Christmas") and what the
    whole period is."""
    start, end = numbers["Period"]
    inside = numbers.get("Window")
    if inside is not None:
        whole = numbers["Whole"]
        w_start, w_end = numbers["WholePeriod"]

        def beside(text: str) -> str:
            return f"Whole period: {text}"

        cards = [
            ("Customers in the window", _number(inside["Customers"]), beside(_number(whole["Customers"]))),
            ("Orders in the window", _number(inside["Orders"]), beside(_number(whole["Orders"]))),
            ("Spend in the window", money(inside["Spend"], currency, 2), beside(money(whole["Spend"], currency, 0))),
            ("Avg order in the window", money(inside["AvgOrderValue"], currency, 2),
             beside(money(whole["AvgOrderValue"], currency, 2))),
            ("Data period", f"{start:%d %b %Y} – {end:%d %b %Y}", beside(f"{w_start:%d %b %Y} – {w_end:%d %b %Y}")),
        ]
    else:
        cards = [
            ("Customers", _number(numbers["Customers"]), ""),
            ("Avg purchases per customer", _number(numbers["AvgPurchases"], 2), ""),
            ("Total spend", money(numbers["TotalSpend"], currency, 0), ""),
            ("Avg order value", money(numbers["AvgOrderValue"], currency, 2), ""),
            ("Data period", f"{start:%d %b %Y} – {end:%d %b %Y}", ""),
        ]
    if numbers.get("TotalCLV") is not None:
        low, high = numbers.get("TotalCLVRange") or (None, None)
        cards.append(("Lifetime value, next 12 months", value_with_range(numbers["TotalCLV"], low, high, currency),
                      ""))
    if numbers.get("ExpectedPurchases90d") is not None:
        cards.append(("Expected purchases, next 90 days", _number(numbers["ExpectedPurchases90d"]), ""))
    body = "".join(_card(*card) for card in cards)
    note = ""
    if inside is not None:
        w_start, w_end = numbers["WholePeriod"]
        what = f" {window}" if window else ""
        note += (f'<div class="seg-meta seg-kpi-window-note">Figures from the purchases of {start:%d %b %Y} – '
                 f"{end:%d %b %Y}{html.escape(what)} only; \u201cWhole period\u201d: the same filters without the "
                 f"dates and category, {w_start:%d %b %Y} – {w_end:%d %b %Y}.</div>")
    if numbers.get("TotalCLV") is None and value_missing:
        note += f'<div class="seg-meta seg-value-missing">{html.escape(value_missing)}</div>'
    return f'<div class="seg-cards">{body}</div>{note}'


#: Columns the summary adds when the customers carry lifetime value (``CLV``).
SUMMARY_VALUE_COLUMNS = ["SumCLV", "AvgCLV"]
#: And with the customers' values under the parameter draws: the interval of ``SumCLV``.
SUMMARY_INTERVAL_COLUMNS = ["SumCLV", "SumCLVLow", "SumCLVHigh", "AvgCLV"]


def segment_summary(segmented: pd.DataFrame, draws: np.ndarray | None = None, level: float = 0.9) -> pd.DataFrame:
    """One row per segment present: ``SUMMARY_COLUMNS`` (Share of the customers given),
    largest total spend first; with a ``CLV`` column also ``SumCLV`` and ``AvgCLV``
    (currency, before the recommendation). The recommendation is the customers' own
    (``Recommendation`` column) when they carry one.

    ``draws``: each customer's CLV under every stored parameter draw (rows as
    ``segmented``, ``clv.values_under_draws``); then also ``SumCLVLow`` and ``SumCLVHigh``,
    the central ``level`` interval of the segment's total over the draws (each draw summed
    over the segment's customers, then its quantiles: never the sum of the customers' bounds)."""
    value = "CLV" in segmented.columns
    interval = value and draws is not None
    value_columns = SUMMARY_INTERVAL_COLUMNS if interval else SUMMARY_VALUE_COLUMNS
    columns = SUMMARY_COLUMNS[:-1] + value_columns + SUMMARY_COLUMNS[-1:] if value else SUMMARY_COLUMNS
    if segmented.empty:
        return pd.DataFrame(columns=columns)
    grouped = segmented.groupby("Cluster")
    names = grouped["Segment"].first().astype(str).to_dict()
    profile = segment_profile(segmented, segmented["Cluster"].to_numpy(), names)
    profile = profile.dropna(subset=["Customers"])
    profile["Customers"] = profile["Customers"].astype("int64")
    if "Recommendation" in segmented.columns:
        profile["Recommendation"] = grouped["Recommendation"].first().astype(str).reindex(profile.index)
    if value:
        profile["SumCLV"] = grouped["CLV"].sum().reindex(profile.index)
        profile["AvgCLV"] = grouped["CLV"].mean().reindex(profile.index)
    if interval:
        # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
        from segkit.value.clv import value_intervals_by_group

        intervals = value_intervals_by_group(draws, segmented["Cluster"].to_numpy(), level)
        profile["SumCLVLow"] = intervals["Low"].reindex(profile.index)
        profile["SumCLVHigh"] = intervals["High"].reindex(profile.index)
    return profile[columns].sort_values("SumTotalSpend", ascending=False)


def summary_of_segments(summary: pd.DataFrame, segments) -> pd.DataFrame:
    """``segment_summary`` of the customers of a ``summary`` who are in ``segments``, from
    the summary alone: a segment's row depends only on its own customers, so it is the
    same row with ``Share`` taken over the segments kept (the same numbers as
    ``segment_summary`` of those customers, without grouping them again)."""
    if summary.empty:
        return pd.DataFrame(columns=list(summary.columns))
    kept = summary.sort_index()
    kept = kept[kept["Segment"].isin(list(segments)).to_numpy(dtype=bool)].copy()
    if kept.empty:
        return pd.DataFrame(columns=list(summary.columns))
    kept["Share"] = kept["Customers"] / kept["Customers"].sum()
    return kept.sort_values("SumTotalSpend", ascending=False)


def _table(frame: pd.DataFrame, formats: Mapping[str, Any], css_class: str, index: bool = False,
           headers: Mapping[str, str] | None = None) -> str:
    frame = frame.reset_index() if index else frame
    headers = headers or {}
    head = "".join(f"<th>{html.escape(str(headers.get(c, c)))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(frame.columns, values):
            fmt = formats.get(col)
            text = fmt(value) if fmt else ("" if value is None or value is pd.NA else str(value))
            numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            cells.append(f'<td class="{"num" if numeric else "text"}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="seg-table {css_class}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def summary_headers(currency: str = "£") -> dict[str, str]:
    """Titles of the summary columns as the page and the report show them."""
    return {"Segment": "Segment", "Customers": "Customers", "Share": "Share of customers",
            "AvgNumPurchases": "Avg purchases", "AvgTotalSpend": f"Avg spend ({currency})",
            "SumTotalSpend": f"Total spend ({currency})", "AvgRecency": "Avg days since last purchase",
            "SumCLV": f"Lifetime value, 12 months ({currency})",
            "SumCLVLow": f"Lifetime value, 12 months, low end of range ({currency})",
            "SumCLVHigh": f"Lifetime value, 12 months, high end of range ({currency})",
            "AvgCLV": f"Avg lifetime value ({currency})", "Recommendation": "Recommendation"}


def value_with_range(value: Any, low: Any, high: Any, currency: str = "£") -> str:
    """``£8,070,000 (£7,940,000–£8,200,000)``: a lifetime value with its range; the value
    alone when the range is missing."""
    text = money(value, currency, 0)
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return text
    return f"{text} ({money(low, currency, 0)}\u2013{money(high, currency, 0)})"


def summary_html(summary: pd.DataFrame, currency: str = "£") -> str:
    """The summary table as HTML (or a note when no customer passes the filters)."""
    if summary.empty:
        return '<p class="seg-note">No customers match the filters.</p>'
    if {"SumCLVLow", "SumCLVHigh"} <= set(summary.columns):  # one cell: "£X (£L–£H)"
        ranged = [value_with_range(v, lo, hi, currency)
                  for v, lo, hi in zip(summary["SumCLV"], summary["SumCLVLow"], summary["SumCLVHigh"])]
        summary = summary.drop(columns=["SumCLVLow", "SumCLVHigh"]).assign(SumCLV=ranged)
    formats = {
        "Customers": lambda v: _number(v), "Share": lambda v: f"{v:.1%}",
        "AvgNumPurchases": lambda v: _number(v, 1), "AvgTotalSpend": lambda v: money(v, currency, 2),
        "SumTotalSpend": lambda v: money(v, currency, 0), "AvgRecency": lambda v: days(v),
        "SumCLV": lambda v: v if isinstance(v, str) else money(v, currency, 0),
        "AvgCLV": lambda v: money(v, currency, 2),
    }
    return _table(summary, formats, "seg-summary-table", headers=summary_headers(currency))


#: The heading of the evidence column in the page's customer CSVs (table, campaign, upload).
EVIDENCE_TITLE = "What customers like these did next"


def with_evidence(frame: pd.DataFrame, evidence: Mapping[str, str], segment_column: str = "Segment") -> pd.DataFrame:
    """``frame`` with an ``Evidence`` column (after ``Recommendation``, else last): for each
    row, what customers like those of its segment did next, in words (``evidence``: segment
    name -> sentence, ``segkit.pipeline.backtest.segment_evidence``)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import NO_EVIDENCE

    out = frame.drop(columns="Evidence", errors="ignore")
    sentences = out[segment_column].astype(str).map(lambda name: evidence.get(name, NO_EVIDENCE))
    at = out.columns.get_loc("Recommendation") + 1 if "Recommendation" in out.columns else len(out.columns)
    out.insert(at, "Evidence", sentences.to_numpy(dtype=object))
    return out


def summary_csv(summary: pd.DataFrame, evidence: Mapping[str, str], currency: str = "£") -> pd.DataFrame:
    """What the summary CSV holds: ``segment_summary`` rows with the evidence of each
    segment (``with_evidence``) and the page's column titles."""
    table = with_evidence(summary.reset_index(drop=True), evidence)
    return table.rename(columns=summary_headers(currency))


def segment_centres(everyone: pd.DataFrame, shown: pd.DataFrame, mask: np.ndarray | None = None,
                    z: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean z-scores (``label.cluster_profile_z``) of the shown customers per cluster,
    standardised over every customer in ``everyone`` so filters do not shift the scale.
    ``mask`` (which rows of ``everyone`` are shown) saves looking the shown ids up, and
    ``z`` (``everyone_z_scores(everyone)``) saves standardising everyone again."""
    if shown.empty:
        return pd.DataFrame()
    if mask is None:
        mask = everyone.index.isin(shown.index)
    if z is not None:  # the values alone: no copy of the (text) index of the shown customers
        values = pd.DataFrame(z.to_numpy()[mask], columns=z.columns, copy=False)
        return values.groupby(everyone["Cluster"].to_numpy()[mask]).mean().sort_index()
    groups = np.where(mask, everyone["Cluster"].to_numpy(), -1)
    profile = cluster_profile_z(everyone, groups)
    return profile.drop(index=-1, errors="ignore")


def everyone_z_scores(everyone: pd.DataFrame) -> pd.DataFrame:
    """The per-customer z-scores ``label.cluster_profile_z`` averages (each customer its
    own group), for ``segment_centres(..., z=...)``."""
    return cluster_profile_z(everyone, np.arange(len(everyone))).set_axis(everyone.index)


_COMPARE_ROWS = [
    ("Customers", "Customers", lambda s: float(len(s))),
    ("Avg purchases", "NumPurchases", lambda s: s["NumPurchases"].mean()),
    ("Avg items bought", "TotalQuantity", lambda s: s["TotalQuantity"].mean()),
    ("Avg spend", "TotalSpend", lambda s: s["TotalSpend"].mean()),
    ("Total spend", "TotalSpend", lambda s: s["TotalSpend"].sum()),
    ("Avg order value", "AvgOrderValue", lambda s: s["TotalSpend"].sum() / s["NumPurchases"].sum()
     if s["NumPurchases"].sum() else float("nan")),
    ("Avg days since last purchase", "Recency", lambda s: s["Recency"].mean()),
    ("Avg days from first to last purchase", "Tenure", lambda s: s["Tenure"].mean()),
]
#: How each comparison row is written: a count, money or days.
_COMPARE_KIND = {"Customers": "count", "Avg purchases": "decimal", "Avg items bought": "decimal",
                 "Avg spend": "money", "Total spend": "money", "Avg order value": "money",
                 "Avg days since last purchase": "days", "Avg days from first to last purchase": "days"}


def compare_segments(segmented: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Metrics of segments ``a`` and ``b`` side by side with ``Difference`` (B − A) and
    ``Difference %`` (relative to A); rows are metrics, columns ``A: <a>``, ``B: <b>``."""
    parts = {name: segmented[segmented["Segment"] == name] for name in (a, b)}
    values = {}
    for side, name in (("A", a), ("B", b)):
        frame = parts[name]
        values[f"{side}: {name}"] = [fn(frame) if len(frame) else (0.0 if label == "Customers" else float("nan"))
                                     for label, _, fn in _COMPARE_ROWS]
    table = pd.DataFrame(values, index=[label for label, _, _ in _COMPARE_ROWS])
    first, second = table.columns
    table["Difference"] = table[second] - table[first]
    table["Difference %"] = table["Difference"] / table[first].where(table[first] != 0) * 100
    table.index.name = "Metric"
    return table


def _compare_value(metric: str, value: float, currency: str, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    kind = _COMPARE_KIND.get(metric, "decimal")
    sign = ("+" if value > 0 else "−" if value < 0 else "±") if signed else ""
    magnitude = abs(value) if signed else value
    if kind == "count":
        text = count(magnitude)
    elif kind == "money":
        text = money(magnitude, currency, 2)
    elif kind == "days":
        text = days(magnitude, 1)
    else:
        text = count(magnitude, 1)
    return sign + text


def which_is_higher(a: str, value_a: float, b: str, value_b: float) -> str:
    """Which of two segments has more of a metric, the same figures whichever is A:
    "VIP is 5.9 times Loyal (+486 %)" (the higher as a multiple of the lower, and how far
    above it in per cent of the lower) from twice on, "VIP is 88 % above Loyal" below;
    "equal"; "–" when a value is missing; without a ratio when the lower is zero or below."""
    if value_a is None or value_b is None or not (np.isfinite(value_a) and np.isfinite(value_b)):
        return "–"
    if value_a == value_b:
        return "equal"
    (high, high_value), (low, low_value) = sorted([(a, value_a), (b, value_b)], key=lambda p: p[1], reverse=True)
    if low_value <= 0:
        return f"{high} is higher ({low}: {'none' if low_value == 0 else 'below zero'})"
    ratio = high_value / low_value
    above = (ratio - 1) * 100
    if ratio >= 1.95:  # "2.0 times" and more
        return f"{high} is {ratio:,.1f} times {low} (+{above:,.0f} %)"
    return f"{high} is {above:,.0f} % above {low}" if above >= 0.5 else f"{high} is slightly above {low} (<1 %)"


def comparison_html(table: pd.DataFrame, currency: str = "£") -> str:
    """The comparison table as HTML: counts as whole numbers, money with ``currency``,
    days with their unit, and for each metric which segment has more, and by how much
    (``which_is_higher``: the same figures whichever segment is A)."""
    first, second = table.columns[:2]
    a, b = first.split(": ", 1)[1], second.split(": ", 1)[1]
    rows = []
    for metric, row in table.iterrows():
        diff = row["Difference"]
        higher = which_is_higher(a, row[first], b, row[second])
        cells = [metric, _compare_value(metric, row[first], currency), _compare_value(metric, row[second], currency),
                 _compare_value(metric, diff, currency, signed=True), higher]
        rows.append("<tr>" + "".join(
            f'<td class="{"text" if i in (0, 4) else "num"}">{html.escape(c)}</td>' for i, c in enumerate(cells)
        ) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("Metric", first, second, "Difference (B − A)", "Higher"))
    return (f'<table class="seg-table seg-compare-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


# ---------------------------------------------------------------- customer table and CSV

def table_order(segmented: pd.DataFrame, sort_by: str = "TotalSpend", ascending: bool = False) -> np.ndarray:
    """Row positions of ``segmented`` in the order of the customer table: by ``sort_by``
    (missing last), ties by CustomerID. A subset keeps this order, so the dashboard sorts
    each date range and category once and filters the order on every change."""
    keys = pd.DataFrame({"key": segmented.index if sort_by == "CustomerID" else segmented[sort_by].to_numpy(),
                         "CustomerID": segmented.index})
    order = ["key", "CustomerID"] if sort_by != "CustomerID" else ["CustomerID"]
    keys = keys.reset_index(drop=True)
    return keys.sort_values(order, ascending=[ascending] + [True] * (len(order) - 1), kind="stable",
                            na_position="last").index.to_numpy()


def customers_as_shown(segmented: pd.DataFrame, sort_by: str = "TotalSpend", ascending: bool = False) -> pd.DataFrame:
    """The customers as shown in the table: ``TABLE_COLUMNS``, sorted by ``sort_by``
    (ties by CustomerID), with a plain 0..n-1 index."""
    table = segmented.reset_index()
    columns = [c for c in TABLE_COLUMNS if c in table.columns]
    return table[columns].take(table_order(segmented, sort_by, ascending)).reset_index(drop=True)


def table_page(table: pd.DataFrame, page: int, page_size: int) -> tuple[pd.DataFrame, int, int]:
    """Rows of page ``page`` (1-based, clamped); returns ``(rows, page, n_pages)``."""
    n_pages = max(1, -(-len(table) // page_size))
    page = min(max(1, int(page)), n_pages)
    return table.iloc[(page - 1) * page_size: page * page_size], page, n_pages


_TABLE_FORMATS = {
    "TotalSpend": lambda v: _number(v, 2), "AvgOrderValue": lambda v: _number(v, 2),
    "SpendInWindow": lambda v: _number(v, 2), "PurchasesInWindow": lambda v: _number(v),
    "NumPurchases": lambda v: _number(v), "TotalQuantity": lambda v: _number(v),
    "Recency": lambda v: _number(v), "Tenure": lambda v: _number(v), "DistinctProducts": lambda v: _number(v),
    "LastPurchase": lambda v: "" if pd.isna(v) else f"{pd.Timestamp(v):%d %b %Y}",
    "Confidence": lambda v: _number(v, 2), "KeptInRefits": lambda v: "" if pd.isna(v) else f"{100 * v:.0f} %",
    "PAlive": lambda v: _number(v, 2), "CLV": lambda v: _number(v, 0),
    "CLVLow": lambda v: _number(v, 0), "CLVHigh": lambda v: _number(v, 0),
}


def table_html(rows: pd.DataFrame, currency: str = "£") -> str:
    """A page of the customer table as HTML, with readable column titles."""
    if rows.empty:
        return '<p class="seg-note">No customers match the filters.</p>'
    return _table(rows, _TABLE_FORMATS, "seg-customer-table", headers={c: title(c, currency) for c in rows.columns})


def readable_table(rows: pd.DataFrame, currency: str = "£") -> pd.DataFrame:
    """``rows`` with the column titles the page shows (for CSV downloads)."""
    return rows.rename(columns={c: title(c, currency) for c in rows.columns})


def csv_data_uri(frame: pd.DataFrame) -> str:
    """``frame`` as a ``data:text/csv`` URI (base64 of ``export.to_safe_csv``, UTF-8)."""
    payload = base64.b64encode(to_safe_csv(frame).encode("utf-8")).decode("ascii")
    return f"data:text/csv;charset=utf-8;base64,{payload}"


def download_link_html(frame: pd.DataFrame, filename: str = "segments.csv", label: str | None = None) -> str:
    """An ``<a download>`` link holding ``frame`` as CSV (works in Voilà without a server route)."""
    label = label or f"Download these {len(frame):,} customers as CSV"
    return (f'<a class="seg-download-link" download="{html.escape(filename)}" '
            f'href="{csv_data_uri(frame)}" data-rows="{len(frame)}">{html.escape(label)}</a>')


# ---------------------------------------------------------------- theme

#: JupyterLab colour variables per theme; overriding them restyles widgets and tables too.
THEMES: dict[str, dict[str, str]] = {
    "light": {
        "--jp-layout-color0": "#ffffff", "--jp-layout-color1": "#ffffff", "--jp-layout-color2": "#eeeeee",
        "--jp-layout-color3": "#bdbdbd", "--jp-layout-color4": "#757575",
        "--jp-ui-font-color0": "rgba(0,0,0,1)", "--jp-ui-font-color1": "rgba(0,0,0,0.87)",
        "--jp-ui-font-color2": "rgba(0,0,0,0.54)", "--jp-ui-font-color3": "rgba(0,0,0,0.38)",
        "--jp-content-font-color0": "rgba(0,0,0,1)", "--jp-content-font-color1": "rgba(0,0,0,0.87)",
        "--jp-content-font-color2": "rgba(0,0,0,0.54)", "--jp-content-font-color3": "rgba(0,0,0,0.38)",
        "--jp-border-color0": "#bdbdbd", "--jp-border-color1": "#bdbdbd", "--jp-border-color2": "#e0e0e0",
        "--jp-border-color3": "#eeeeee",
        "--jp-rendermime-table-row-background": "#f5f5f5", "--jp-rendermime-table-row-hover-background": "#e1f5fe",
        "--seg-accent": "#1565c0", "--seg-banner": "#fff3cd", "--seg-banner-text": "#5c4400",
        "--seg-error": "#b00020", "--seg-warning": "#8a4b00",
    },
    "dark": {
        "--jp-layout-color0": "#111111", "--jp-layout-color1": "#1b1b1b", "--jp-layout-color2": "#2a2a2a",
        "--jp-layout-color3": "#444444", "--jp-layout-color4": "#5e5e5e",
        "--jp-ui-font-color0": "rgba(255,255,255,1)", "--jp-ui-font-color1": "rgba(255,255,255,0.87)",
        "--jp-ui-font-color2": "rgba(255,255,255,0.6)", "--jp-ui-font-color3": "rgba(255,255,255,0.4)",
        "--jp-content-font-color0": "rgba(255,255,255,1)", "--jp-content-font-color1": "rgba(255,255,255,0.87)",
        "--jp-content-font-color2": "rgba(255,255,255,0.6)", "--jp-content-font-color3": "rgba(255,255,255,0.4)",
        "--jp-border-color0": "#616161", "--jp-border-color1": "#616161", "--jp-border-color2": "#424242",
        "--jp-border-color3": "#333333",
        "--jp-rendermime-table-row-background": "#1f1f1f", "--jp-rendermime-table-row-hover-background": "#263238",
        "--seg-accent": "#90caf9", "--seg-banner": "#4a3b00", "--seg-banner-text": "#ffe8a3",
        "--seg-error": "#ff8a80", "--seg-warning": "#ffcc80",
    },
}

_PAGE_CSS = """
body, body.jp-Notebook, #rendered_cells, .jp-Cell, .jp-OutputArea, .jp-OutputArea-output,
.jp-Notebook .jp-Cell-outputWrapper { background: var(--jp-layout-color0) !important;
  color: var(--jp-ui-font-color1) !important; }
.seg-app { color: var(--jp-ui-font-color1); font-size: 13px; }
.seg-app h1, .seg-app h2, .seg-app h3 { color: var(--jp-ui-font-color0); margin: 6px 0; }
.seg-app a { color: var(--seg-accent); }
.seg-app .widget-label, .seg-app .widget-html-content, .seg-app .widget-label-basic { color: var(--jp-ui-font-color1); }
.seg-app select, .seg-app input, .seg-app textarea { background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1); border-color: var(--jp-border-color1); }
.seg-app .widget-button, .seg-app .jupyter-button { background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1); }
.seg-app .jupyter-button.mod-primary { background: var(--seg-accent); color: var(--jp-layout-color0); }
.seg-app .jupyter-button.mod-active { background: var(--seg-accent); color: var(--jp-layout-color0); }
.seg-panel { border: 1px solid var(--jp-border-color2); border-radius: 6px; padding: 8px;
  background: var(--jp-layout-color1); margin: 4px 0; }
.seg-cards { display: flex; flex-wrap: wrap; gap: 8px; }
.seg-card { flex: 1 1 150px; border: 1px solid var(--jp-border-color2); border-radius: 6px;
  padding: 8px 12px; background: var(--jp-layout-color1); }
.seg-card-label { font-size: 11px; color: var(--jp-ui-font-color2); text-transform: uppercase; }
.seg-card-value { font-size: 20px; font-weight: 600; color: var(--jp-ui-font-color0); }
.seg-card-whole { font-size: 11px; color: var(--jp-ui-font-color2); }
.seg-table { border-collapse: collapse; width: 100%; font-size: 12px; color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color1); }
.seg-table th { background: var(--jp-layout-color2); color: var(--jp-ui-font-color0); text-align: left;
  padding: 4px 6px; position: sticky; top: 0; }
.seg-table td { padding: 3px 6px; border-top: 1px solid var(--jp-border-color2); }
.seg-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.seg-table tbody tr:nth-child(odd) { background: var(--jp-rendermime-table-row-background); }
.seg-table tbody tr:hover { background: var(--jp-rendermime-table-row-hover-background); }
.seg-banner { background: var(--seg-banner); color: var(--seg-banner-text); padding: 8px 12px;
  border-radius: 6px; margin: 4px 0; }
.seg-error { color: var(--seg-error); font-weight: 600; }
.seg-ok { color: var(--seg-accent); font-weight: 600; }
.seg-note { color: var(--jp-ui-font-color2); }
.seg-meta { color: var(--jp-ui-font-color2); font-size: 12px; }
.seg-busy::before { content: ""; display: inline-block; width: 9px; height: 9px; margin-right: 6px;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%;
  animation: seg-spin 0.8s linear infinite; }
@keyframes seg-spin { to { transform: rotate(360deg); } }
.seg-warning { color: var(--seg-warning); font-weight: 600; }
/* Selected segments stand out whether or not the list has the focus (Chromium greys them). */
.seg-app select[multiple] option:checked { background: var(--seg-accent) linear-gradient(0deg, var(--seg-accent) 0%, var(--seg-accent) 100%);
  color: var(--jp-layout-color0); }
/* Wide tables scroll inside their panel instead of being cut off. */
.seg-scroll, .seg-upload-result, .seg-k-table-view { max-width: 100%; overflow-x: auto; }
.seg-app .widget-box, .seg-app .widget-html, .seg-app .widget-html-content { min-width: 0; }
.seg-date-label .widget-html-content { white-space: nowrap; overflow: visible; }
.seg-glossary-list { margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 6px 16px; }
.seg-term dt { font-weight: 700; color: var(--jp-ui-font-color0); }
.seg-term dd { margin: 2px 0 6px 18px; }
.seg-top-products-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 10px 16px; }
.seg-top-products-table caption { text-align: left; font-weight: 700; padding: 2px 0; color: var(--jp-ui-font-color0); }
.seg-top-products-table td, .seg-top-products-table th { line-height: 1.3; vertical-align: top; }
.seg-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.seg-about-text p { margin: 4px 0; }
.seg-customer-table td { white-space: nowrap; }
.seg-customer-table td:last-child { white-space: normal; min-width: 280px; }
"""


def theme_css(theme: str) -> str:
    """A ``<style>`` element restyling the whole page for ``"light"`` or ``"dark"``.

    It redefines JupyterLab's colour variables on ``:root`` (widgets derive their
    colours from them) and sets the page, panel and table colours from them.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, not {theme!r}")
    variables = "".join(f"{name}: {value}; " for name, value in THEMES[theme].items())
    return (f'<style data-seg-theme="{theme}">:root:root {{ {variables}color-scheme: {theme}; }}'
            f"{_PAGE_CSS}</style>")


def plotly_template(theme: str) -> str:
    """The plotly template for a theme."""
    return "plotly_dark" if theme == "dark" else "plotly_white"


# ---------------------------------------------------------------- model

def provisional_card(model: SegmentationModel, training_info: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``model.json`` the page shows, for a model not saved (yet)."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "features": list(model.features), "k": int(model.n_clusters),
        "lifecycle": _rules_dict(model),
        "algorithm": type(model.pipeline_.steps[-1][1]).__name__,
        "segments": {str(c): n for c, n in model.segment_names_.items()},
        "metrics": dict(model.metrics_), "training_data": dict(training_info),
        **({"lifecycle_fit": dict(model.lifecycle_fit_)} if getattr(model, "lifecycle_fit_", None) else {}),
    }


def _rules_dict(model) -> dict | None:
    rules = getattr(model, "lifecycle_rules_", getattr(model, "lifecycle", None))
    return rules.as_dict() if hasattr(rules, "as_dict") else None


def model_card_html(card: Mapping[str, Any], status: str) -> str:
    """The "About the model" text: when and on what it was trained, K, the features it
    groups customers by, and the clustering metrics with what each means; ``status``
    says whether it is the saved model or one trained for this page."""
    data = card.get("training_data", {})
    metrics = card.get("metrics", {})
    period = data.get("period") or ["?", "?"]
    features = ", ".join(title(f) for f in card.get("features", []))
    created = html.escape(str(card.get("created", "?")).replace("T", " ")[:16])
    lines = [
        f"<p>{status}</p>",
        (f"<p>Each customer first gets a lifecycle stage from the calendar (New, At risk, Lost: see the definitions "
         f"above); the other, active customers are grouped by <b>{html.escape(features)}</b> into K = {card.get('k')} "
         f"value tiers ({html.escape(str(card.get('algorithm', 'K-Means')))}), "
         if card.get("lifecycle") else
         f"<p>Customers are grouped by <b>{html.escape(features)}</b> into K = {card.get('k')} groups "
         f"({html.escape(str(card.get('algorithm', 'K-Means')))}), ")
        + f"trained {created} on {html.escape(str(data.get('source', '?')))} "
        f"({_number(data.get('customers', float('nan')))} customers, purchases from {str(period[0])[:10]} "
        f"to {str(period[1])[:10]}).</p>",
        "<p>How well the groups separate (for analysts): silhouette {} (−1 to 1, higher is better) · "
        "Calinski-Harabasz {} (higher is better) · Davies-Bouldin {} (lower is better) · smallest group {} of the "
        "customers. The centres chart shows each segment's average in z-scores (standard deviations from the "
        "average customer).</p>".format(
            _metric(metrics.get("silhouette"), 3), _metric(metrics.get("calinski_harabasz"), 0),
            _metric(metrics.get("davies_bouldin"), 3),
            "–" if metrics.get("min_cluster_share") is None else f"{metrics['min_cluster_share']:.1%}"),
    ]
    return f'<div class="seg-about-text">{"".join(lines)}</div>'


def _metric(value, decimals: int) -> str:
    return "–" if value is None else _number(float(value), decimals)


def k_table_html(table: pd.DataFrame, recommended: int) -> str:
    """The ``evaluate_k`` table with the recommended K marked."""
    shown = table[["silhouette", "calinski_harabasz", "davies_bouldin", "stability", "min_cluster_share"]].copy()
    shown.insert(0, "K", shown.index.map(lambda k: f"{k} ← recommended" if k == recommended else str(k)))
    fmt = {"silhouette": lambda v: _number(v, 3), "calinski_harabasz": lambda v: _number(v, 0),
           "davies_bouldin": lambda v: _number(v, 3), "stability": lambda v: _number(v, 3),
           "min_cluster_share": lambda v: f"{v:.1%}"}
    return f'<p><b>Recommended K = {recommended}</b></p>' + _table(shown.reset_index(drop=True), fmt, "seg-k-table")


# ---------------------------------------------------------------- scoring uploads

def score_upload(content: bytes, filename: str, model: SegmentationModel, dayfirst: bool | None = None,
                 history: pd.DataFrame | None = None, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Score an uploaded CSV/XLSX of transactions or customers with ``model``.

    Returns the segmented customers; any problem raises ``SegkitDataError`` with one
    sentence naming the file (never a pandas traceback); ``dayfirst`` as in
    ``load.load_transactions`` (``None``: decided from the dates). An upload shorter than the
    model's observation window is scored, with the warning in ``scored.attrs["notes"]``
    for the page to show. For a file of transactions, ``attrs["unscored"]`` lists the
    customer ids of the file that have no usable purchase after cleaning (only
    cancellations, zero prices, ...) and so got no segment, and
    ``attrs["lines_without_customer"]`` counts lines with no customer id.

    ``history``: the log the page already shows (its canonical lines). A file of
    transactions naming customers it knows joins it (``workflow.customers_with_history``,
    as ``segkit score --history``): those customers are scored on their whole history with
    the new lines added, lines already in the log counted once; ``attrs["known"]`` lists
    them (empty when the file was scored on its own) and ``attrs["alone"]`` is True for a
    file of transactions of customers the log does not know, scored on its own lines.

    ``columns``: role -> column of the file (the page's column mapping, as ``--columns``),
    for a file whose columns are not recognised (``load.ColumnsNotRecognised``).
    """
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import customers_for_scoring, customers_with_history

    options = ReadOptions.given(dict(columns) if columns else None, None, dayfirst)
    name = Path(str(filename)).name or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise SegkitDataError(f"'{name}' is not a CSV or XLSX file; upload a .csv or .xlsx export of "
                              "transactions or customers.")
    if not content:
        raise SegkitDataError(f"'{name}' is empty; export the file again and upload it.")
    with tempfile.TemporaryDirectory(prefix="segkit-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(bytes(content))
        try:
            # The same size bounds as every file (xlsx expanded size, CSV columns and
            # lines); no parquet copy of a one-off upload is kept in the cache.
            notes: list[str] = []
            # A file of transactions is read once, here: its lines tell which customers the
            # log knows, join the log and give the customers left without a segment.
            lines = None if not columns and _is_customer_table(path, model.input_columns_) else load_transactions(
                path, use_cache=False, **options.as_kwargs())
            known = _known_customers(history, lines) if history is not None and lines is not None else None
            if known:
                if not _has_usable_lines(lines, model):
                    notes.append(f"No line of '{name}' is a purchase on its own (cleaning removes them all: returns, "
                                 "zero prices, ...); its customers the shop's log knows are shown on their history, "
                                 "with the file's returns netted against their earlier purchases.")
                customers = customers_with_history(lines, history, model, use_cache=False, allow_short_window=True,
                                                   notes=notes, name=name)
            else:
                customers = customers_for_scoring(path, model, use_cache=False, allow_short_window=True, notes=notes,
                                                  **options.as_kwargs())
            scored = model.segment(customers)
            scored.attrs["notes"] = notes
            scored.attrs["known"] = customers.attrs.get("known", [])
            scored.attrs["alone"] = known == 0  # transactions of customers the history does not know
            scored.attrs["unscored"], scored.attrs["lines_without_customer"] = _unscored(lines, scored)
        except SegkitError:
            raise
        except Exception as exc:  # a reader's own error: say what, not where
            raise SegkitDataError(
                f"'{name}' could not be read as transactions or customers ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160] if str(exc) else 'no details'}); upload a CSV or XLSX export "
                "with CustomerID, InvoiceNo, InvoiceDate, Quantity and UnitPrice columns."
            ) from None
    return scored


def _has_usable_lines(lines: pd.DataFrame, model: SegmentationModel) -> bool:
    """True when the file's ``lines`` (read by ``load_transactions``) hold a purchase of
    their own after cleaning (``customers_for_scoring`` on them alone does not find them empty)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import customers_for_scoring

    try:
        customers_for_scoring(lines, model, use_cache=False, allow_short_window=True)
    except SegkitDataError as exc:
        if "no usable lines" in str(exc):
            return False
        raise
    return True


def _is_customer_table(path: Path, features) -> bool:
    """A file with a feature column and no ``InvoiceDate`` is a customer table (as
    ``customers_for_scoring`` decides), not transactions. Told from the header alone when
    the file has one (``column_names``)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import is_customer_table

    names = column_names(path, None)
    return is_customer_table((plain_heading(c) for c in (read_raw(path, None).columns if names is None else names)),
                             features)


def _known_customers(history: pd.DataFrame, lines: pd.DataFrame) -> int:
    """How many customers of the uploaded ``lines`` (a file of transactions) ``history`` knows."""
    ids = lines["CustomerID"].dropna().astype("string").unique()
    return int(pd.Index(ids).isin(history["CustomerID"].dropna().astype("string").unique()).sum())


def _unscored(lines: pd.DataFrame | None, scored: pd.DataFrame) -> tuple[list[str], int]:
    """Customer ids in the uploaded ``lines`` that got no segment, and lines without an id.

    ``lines``: the file as it was scored (read once by ``score_upload`` with the date order
    chosen); ``None`` for a customer table, which has neither. A file that was scored but
    cannot be read raises before, so the page never says "Scored 18 of 18" of a file whose
    other customers it could not read."""
    if lines is None:
        return [], 0
    ids = lines["CustomerID"]
    present = pd.Index(ids.dropna().astype(str).str.strip().unique())
    missing = present.difference(scored.index.astype(str))
    return sorted(map(str, missing)), int(ids.isna().sum())
