"""Tables and static figures for the notebooks: overview, cleaning, K choice, scoring.

DataFrame in, DataFrame out (or a matplotlib ``Figure``; nothing here calls
``plt.show()``). The notebooks ``01-explore``, ``02-train`` and ``03-score`` call these
so that every number they show is also covered by a unit test.

- Overview: ``data_overview``, ``missing_values``, ``cleaning_summary``,
  ``cancellation_trap``, ``country_summary``, ``top_products``.
- Choosing K: ``compare_k_tables``, ``model_comparison``, ``rfm_vs_clusters``.
- What the names rest on: ``evidence_table`` (what customers like each segment's did next).
- Scoring another period: ``month_cutoff``, ``split_by_date``, ``segment_counts``,
  ``segment_movement``, ``movement_summary``, ``moved_customers``, ``model_card_summary``.
- Figures: ``feature_histograms``, ``snake_plot``, ``movement_heatmap``.
- Notebook helpers: ``data_note`` (the visible note on sample data), ``short_path``.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from segkit.config import PROJECT_ROOT
from segkit.modeling.label import RFM_SEGMENT_RULES, rfm_scores, segment_order

if TYPE_CHECKING:  # scikit-learn loads only when a model is used
    from segkit.modeling.model import SegmentationModel

__all__ = [
    "segment_order",
    "data_overview",
    "missing_values",
    "cleaning_summary",
    "cancellation_trap",
    "country_summary",
    "top_products",
    "compare_k_tables",
    "model_comparison",
    "rfm_vs_clusters",
    "evidence_table",
    "month_cutoff",
    "split_by_date",
    "segment_counts",
    "segment_movement",
    "movement_summary",
    "moved_customers",
    "model_card_summary",
    "feature_histograms",
    "snake_plot",
    "movement_heatmap",
    "data_note",
    "short_path",
]


# --------------------------------------------------------------------------- overview


def data_overview(transactions: pd.DataFrame) -> pd.DataFrame:
    """Key figures of a raw transaction log (canonical columns), one row per figure.

    Counts are of lines (rows) unless named otherwise; ``customers`` counts distinct
    non-missing CustomerIDs; ``cancellation lines`` are lines of invoices starting with C.
    """
    dates = transactions["InvoiceDate"]
    invoice = transactions["InvoiceNo"].astype("string")
    figures: list[tuple[str, Any]] = [
        ("lines", len(transactions)),
        ("first invoice", dates.min()),
        ("last invoice", dates.max()),
        ("days covered", int((dates.max().normalize() - dates.min().normalize()).days) + 1),
        ("invoices", int(invoice.nunique())),
        ("cancellation lines", int(invoice.str.startswith("C", na=False).sum())),
        ("customers", int(transactions["CustomerID"].nunique())),
        ("lines without a customer", int(transactions["CustomerID"].isna().sum())),
        ("countries", int(transactions["Country"].nunique())),
        ("products (stock codes)", int(transactions["StockCode"].nunique())),
        ("lines with quantity <= 0", int((transactions["Quantity"] <= 0).sum())),
        ("lines with unit price <= 0", int((transactions["UnitPrice"] <= 0).sum())),
        ("exactly duplicated lines", int(transactions.duplicated().sum())),
    ]
    frame = pd.DataFrame(figures, columns=["figure", "value"]).set_index("figure")
    frame["value"] = frame["value"].astype(object)
    return frame


def missing_values(transactions: pd.DataFrame) -> pd.DataFrame:
    """Missing values per column: ``missing`` (lines) and ``share`` (0-1 of all lines)."""
    missing = transactions.isna().sum().astype("int64")
    share = missing / len(transactions) if len(transactions) else missing.astype(float)
    frame = pd.DataFrame({"missing": missing, "share": share})
    frame.index.name = "column"
    return frame


def cleaning_summary(report: pd.DataFrame) -> pd.DataFrame:
    """The cleaning report with each rule's removals as a share of what was loaded.

    Adds ``rows_removed_share`` and ``revenue_removed_share`` (0-1 of the loaded lines
    and of their gross revenue) and a ``total removed`` row.
    """
    loaded = report.iloc[0]
    frame = report.set_index("rule").copy()
    total = {
        "rows_removed": int(frame["rows_removed"].sum()),
        "revenue_removed": round(float(frame["revenue_removed"].sum()), 2),
        "rows_left": frame["rows_left"].iloc[-1],
        "revenue_left": frame["revenue_left"].iloc[-1],
    }
    frame.loc["total removed"] = total
    frame["rows_removed_share"] = frame["rows_removed"] / max(int(loaded["rows_left"]), 1)
    frame["revenue_removed_share"] = frame["revenue_removed"] / (float(loaded["revenue_left"]) or 1.0)
    return frame


def cancellation_trap(transactions: pd.DataFrame, lines: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Customers whose spend is most overstated when cancellations are simply dropped.

    ``transactions`` is the raw log, ``lines`` the clean lines (default rules). Per
    customer: ``SpendDroppingNegatives`` (the original rule: drop lines with Quantity <= 0,
    sum the rest), ``SpendNetted`` (segkit: cancellations netted against the purchases
    they cancel, and the other default rules), ``Overstated`` (the difference, currency
    units; mostly cancellations, also duplicate and non-product lines), ``CancelledUnits``
    and ``NaiveRank`` (rank by spend under the original rule, 1 = top spender).
    The ``n`` most overstated customers, largest first.
    """
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.clean import clean_transactions

    naive_lines = clean_transactions(transactions, rules="seed").lines
    naive = naive_lines.groupby("CustomerID", observed=True)["TotalPrice"].sum()
    netted = lines.groupby("CustomerID", observed=True)["TotalPrice"].sum()
    known = transactions[transactions["CustomerID"].notna()]
    cancelled = (-known["Quantity"].clip(upper=0)).groupby(known["CustomerID"], observed=True).sum()
    frame = pd.DataFrame({"SpendDroppingNegatives": naive})
    frame["SpendNetted"] = netted.reindex(frame.index).fillna(0.0)
    frame["Overstated"] = frame["SpendDroppingNegatives"] - frame["SpendNetted"]
    frame["CancelledUnits"] = cancelled.reindex(frame.index).fillna(0).astype("int64")
    frame["NaiveRank"] = frame["SpendDroppingNegatives"].rank(ascending=False, method="min").astype("int64")
    frame.index = frame.index.astype("string")
    frame.index.name = "CustomerID"
    return frame.sort_values("Overstated", ascending=False).head(n).round(2)


def country_summary(customers: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Customers and spend per country, the ``n`` largest by customers, the rest as one row.

    Columns: ``Customers``, ``CustomerShare``, ``TotalSpend``, ``SpendShare`` (shares 0-1).
    """
    grouped = customers.groupby("Country", observed=True).agg(
        Customers=("TotalSpend", "size"), TotalSpend=("TotalSpend", "sum"))
    grouped = grouped.sort_values(["Customers", "TotalSpend"], ascending=False)
    if len(grouped) > n:
        rest = grouped.iloc[n:]
        grouped = grouped.iloc[:n].copy()
        grouped.loc[f"other ({len(rest)} countries)"] = [rest["Customers"].sum(), rest["TotalSpend"].sum()]
    grouped["CustomerShare"] = grouped["Customers"] / grouped["Customers"].sum()
    grouped["SpendShare"] = grouped["TotalSpend"] / grouped["TotalSpend"].sum()
    grouped["Customers"] = grouped["Customers"].astype("int64")
    grouped.index.name = "Country"
    return grouped[["Customers", "CustomerShare", "TotalSpend", "SpendShare"]].round({"TotalSpend": 2})


def top_products(lines: pd.DataFrame, n: int = 10, by: str = "Revenue") -> pd.DataFrame:
    """The ``n`` best-selling products of clean lines, sorted by ``by`` (largest first).

    One row per StockCode: ``Description`` (its most frequent one), ``Quantity``
    (units), ``Revenue`` (currency units), ``Customers`` and ``Invoices`` (distinct).
    """
    if by not in ("Revenue", "Quantity", "Customers", "Invoices"):
        raise ValueError(f"by must be Revenue, Quantity, Customers or Invoices, not {by!r}")
    grouped = lines.groupby("StockCode", observed=True)
    table = grouped.agg(
        Quantity=("Quantity", "sum"),
        Revenue=("TotalPrice", "sum"),
        Customers=("CustomerID", "nunique"),
        Invoices=("InvoiceNo", "nunique"),
    )
    top = table.sort_values([by, "Revenue"], ascending=False, kind="stable").head(n)
    picked = lines[lines["StockCode"].isin(top.index)]
    description = (picked.dropna(subset=["Description"])
                   .groupby(["StockCode", "Description"], observed=True).size()
                   .rename("n").reset_index()
                   .sort_values(["StockCode", "n", "Description"], ascending=[True, False, True])
                   .drop_duplicates("StockCode").set_index("StockCode")["Description"])
    top.insert(0, "Description", description.reindex(top.index).astype("string"))
    top["Revenue"] = top["Revenue"].round(2)
    return top


# --------------------------------------------------------------------------- choosing K


def compare_k_tables(tables: Mapping[str, pd.DataFrame],
                     columns: Sequence[str] = ("silhouette", "smallest_cluster", "min_cluster_share")
                     ) -> pd.DataFrame:
    """``evaluate_k`` tables side by side: one row per K, columns (metric, label)."""
    parts = {label: table[list(columns)] for label, table in tables.items()}
    wide = pd.concat(parts, axis=1, names=["setup", "metric"])
    return wide.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)[list(columns)]


def model_comparison(models: Mapping[str, SegmentationModel]) -> pd.DataFrame:
    """One row per fitted model: what it clusters on and the cluster sizes it gives.

    Columns: ``features``, ``scaling`` ("log1p + standard" or "standard"), ``K``,
    ``silhouette``, ``davies_bouldin``, ``smallest_cluster`` (customers),
    ``smallest_share`` (0-1) and ``cluster_sizes`` (segment and customers, largest first).
    """
    rows = []
    for label, model in models.items():
        sizes = model.profile_.sort_values("Customers", ascending=False)
        rows.append({
            "setup": label,
            "features": ", ".join(model.features),
            "scaling": "log1p + standard" if model.log_transform else "standard",
            "K": int(model.n_clusters),
            "silhouette": round(float(model.metrics_["silhouette"]), 3),
            "davies_bouldin": round(float(model.metrics_["davies_bouldin"]), 3),
            "smallest_cluster": int(sizes["Customers"].min()),
            "smallest_share": round(float(sizes["Share"].min()), 4),
            "cluster_sizes": " · ".join(f"{seg} {int(c):,}" for seg, c in zip(sizes["Segment"], sizes["Customers"])),
        })
    return pd.DataFrame(rows).set_index("setup")


def rfm_vs_clusters(segmented: pd.DataFrame, margins: bool = True) -> pd.DataFrame:
    """Customers per classic RFM segment (rows) and cluster segment (columns).

    ``segmented`` is ``SegmentationModel.segment`` output (needs Recency, NumPurchases,
    TotalSpend and Segment). RFM rows follow ``RFM_SEGMENT_RULES`` order; empty rows are
    dropped. With ``margins`` a ``Total`` row and column are added.
    """
    rfm = rfm_scores(segmented)["RFM_Segment"].astype(str)
    segment = segmented["Segment"].astype(str)
    table = pd.crosstab(rfm.rename("RFM segment"), segment.rename("Cluster segment"),
                        margins=margins, margins_name="Total")
    order = [name for name, _, _ in RFM_SEGMENT_RULES if name in table.index]
    columns = segment_order(segment.unique())
    if margins:
        order.append("Total")
        columns.append("Total")
    return table.loc[order, columns]


# --------------------------------------------------------------------------- scoring another period


def evidence_table(model: "SegmentationModel", currency: str = "£") -> pd.DataFrame:
    """One row per segment of ``model`` (in ``segment_order``) with ``Evidence``: what
    customers like these did next at the backtest's earlier dates, in words, or a sentence
    saying it was not measured (``segkit.pipeline.backtest.segment_evidence``)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import segment_evidence

    names = segment_order({str(n) for n in model.segment_names_.values()})
    said = segment_evidence(model, names, currency)
    return pd.DataFrame({"Evidence": [said[n] for n in names]}, index=pd.Index(names, name="Segment"))


def month_cutoff(transactions: pd.DataFrame, months: int = 9) -> pd.Timestamp:
    """Midnight of the first day of the month ``months`` after the first invoice's month.

    For the Online Retail data (from 2010-12-01) and ``months=9``: 2011-09-01, so the
    first nine months are December to August and the rest is September to December.
    """
    first = pd.Timestamp(transactions["InvoiceDate"].min())
    return (first.to_period("M") + months).to_timestamp()


def split_by_date(transactions: pd.DataFrame, cutoff: pd.Timestamp | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lines before ``cutoff`` and lines from ``cutoff`` on (both with a fresh index)."""
    cutoff = pd.Timestamp(cutoff)
    early = transactions["InvoiceDate"] < cutoff
    if early.all() or not early.any():
        first, last = transactions["InvoiceDate"].min(), transactions["InvoiceDate"].max()
        raise ValueError(f"The cutoff {cutoff:%Y-%m-%d} leaves one side empty; choose a date between "
                         f"{first:%Y-%m-%d} and {last:%Y-%m-%d}.")
    return transactions[early].reset_index(drop=True), transactions[~early].reset_index(drop=True)


def segment_counts(segmented: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Customers per segment for several scorings side by side (columns: the labels)."""
    counts = {label: frame["Segment"].astype(str).value_counts() for label, frame in segmented.items()}
    table = pd.DataFrame(counts).fillna(0).astype("int64")
    table = table.loc[segment_order(table.index)]
    table.index.name = "Segment"
    return table


def segment_movement(before: pd.DataFrame, after: pd.DataFrame, normalize: bool = False) -> pd.DataFrame:
    """Crosstab of segments for customers present in both scorings.

    Rows: segment ``before``, columns: segment ``after`` (both indexed by CustomerID with a
    ``Segment`` column). With ``normalize`` each row is shares (0-1) of its before-segment.
    """
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.value.movement import migration_table

    return migration_table(before["Segment"], after["Segment"], normalize=normalize, include_new=False)


def movement_summary(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """How many customers kept or changed segment, appeared or disappeared.

    Rows: ``same segment``, ``moved`` (both among customers in both scorings),
    ``only before``, ``only after``; columns ``Customers`` and ``Share`` (0-1 of all).
    """
    both = before.index.intersection(after.index)
    same = int((before.loc[both, "Segment"].astype(str) == after.loc[both, "Segment"].astype(str)).sum())
    counts = pd.Series({
        "same segment": same,
        "moved": len(both) - same,
        "only before": int((~before.index.isin(after.index)).sum()),
        "only after": int((~after.index.isin(before.index)).sum()),
    }, name="Customers")
    frame = counts.to_frame()
    frame["Share"] = frame["Customers"] / max(int(counts.sum()), 1)
    return frame


def moved_customers(before: pd.DataFrame, after: pd.DataFrame,
                    columns: Sequence[str] = ("NumPurchases", "TotalSpend", "Recency"),
                    direction: str | None = None) -> pd.DataFrame:
    """Customers whose segment changed, with ``columns`` before and after.

    ``direction="down"`` keeps customers who moved into a segment whose members spent
    less on average (mean TotalSpend per segment in ``before``, else in ``after``);
    ``"up"`` the opposite; ``None`` all movers. Columns: ``Segment before``,
    ``Segment after``, then ``<column> before`` / ``<column> after`` for each of
    ``columns``; sorted by TotalSpend before (largest first): the most valuable first.
    """
    if direction not in (None, "up", "down"):
        raise ValueError(f"direction must be 'up', 'down' or None, not {direction!r}")
    both = before.index.intersection(after.index)
    seg_before = before.loc[both, "Segment"].astype(str)
    seg_after = after.loc[both, "Segment"].astype(str)
    keep = (seg_before != seg_after).to_numpy()
    if direction is not None:
        value = after.groupby(after["Segment"].astype(str))["TotalSpend"].mean()
        value.update(before.groupby(before["Segment"].astype(str))["TotalSpend"].mean())
        change = seg_after.map(value).to_numpy() - seg_before.map(value).to_numpy()
        keep = keep & ((change < 0) if direction == "down" else (change > 0))
    changed = both[keep]
    frame = pd.DataFrame({
        "Segment before": before.loc[changed, "Segment"].astype("string"),
        "Segment after": after.loc[changed, "Segment"].astype("string"),
    })
    for col in columns:
        frame[f"{col} before"] = before.loc[changed, col]
        frame[f"{col} after"] = after.loc[changed, col]
    if "TotalSpend before" in frame:
        frame = frame.sort_values("TotalSpend before", ascending=False, kind="stable")
    frame.index.name = "CustomerID"
    return frame


def model_card_summary(card: Mapping[str, Any]) -> pd.DataFrame:
    """The facts of a saved model's ``model.json`` a reader checks first, one per row."""
    training = card.get("training_data", {}) or {}
    period = training.get("period") or [None, None]
    metrics = card.get("metrics", {}) or {}
    facts = {
        "trained on": training.get("source", "unknown"),
        "sample data": training.get("is_sample", "unknown"),
        "period": " to ".join(str(p)[:10] for p in period) if period[0] else "unknown",
        "customers": training.get("customers", "unknown"),
        "features": ", ".join(card.get("features", [])),
        "transforms": " -> ".join(card.get("transforms", [])),
        "K": card.get("k"),
        "segments": ", ".join(card.get("segments", {}).values()),
        "silhouette": None if metrics.get("silhouette") is None else round(float(metrics["silhouette"]), 3),
        "saved": card.get("created", "unknown"),
    }
    frame = pd.Series(facts, name="value", dtype=object).to_frame()
    frame.index.name = "fact"
    return frame


# --------------------------------------------------------------------------- static figures


def feature_histograms(customers: pd.DataFrame,
                       features: Sequence[str] = ("Recency", "NumPurchases", "TotalQuantity", "TotalSpend"),
                       bins: int = 40):
    """Histograms of customer features on log x axes (seaborn); returns the Figure.

    A feature with values <= 0 (Recency is 0 for a purchase on the last day) is shown as
    ``feature + 1`` so it fits a log axis; the axis label says so.
    """
    # optional: notebooks
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(features), figsize=(3.6 * len(features), 3.2), squeeze=False)
    for ax, feature in zip(axes[0], features):
        values = customers[feature].astype(float)
        label = feature
        if (values <= 0).any():
            values = values.clip(lower=0) + 1
            label = f"{feature} + 1"
        sns.histplot(x=values.to_numpy(), bins=bins, log_scale=True, ax=ax, color="#4575b4")
        ax.set_xlabel(f"{label} (log scale)")
        ax.set_ylabel("customers" if ax is axes[0][0] else "")
        ax.set_title(feature)
    fig.suptitle(f"Customer features ({len(customers):,} customers)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def snake_plot(profile_z: pd.DataFrame, names: Mapping[int, str] | None = None):
    """Snake plot: mean z-score of each feature per segment (rows of ``profile_z``)."""
    # optional: notebooks
    import matplotlib.pyplot as plt
    import seaborn as sns

    # optional: dashboard (segkit.views.plots draws with plotly)
    from segkit.views.plots import segment_colour_map

    frame = profile_z.copy()
    frame.index = [names.get(int(i), str(i)) if names else str(i) for i in frame.index]
    long = frame.rename_axis("Segment").reset_index().melt(id_vars="Segment", var_name="feature", value_name="z")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    sns.lineplot(data=long, x="feature", y="z", hue="Segment", marker="o", ax=ax,
                 palette=segment_colour_map(long["Segment"]))
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_ylabel("mean z-score of log1p(feature)")
    ax.set_xlabel("")
    ax.set_title("Segment profiles (snake plot)")
    ax.legend(title="Segment", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def movement_heatmap(movement: pd.DataFrame, title: str = "Segment movement"):
    """Annotated heatmap of a ``segment_movement`` table (whole numbers as counts,
    fractions as percentages)."""
    # optional: notebooks
    import matplotlib.pyplot as plt
    import seaborn as sns

    shares = not np.issubdtype(movement.to_numpy().dtype, np.integer)
    fig, ax = plt.subplots(figsize=(1.2 * max(len(movement.columns), 3) + 2, 0.6 * max(len(movement), 3) + 1.5))
    sns.heatmap(movement, annot=True, fmt=".0%" if shares else ",d", cmap="Blues", cbar=False, ax=ax,
                linewidths=0.5)
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------- notebook helpers


def data_note(data) -> "Any":
    """An HTML note saying which data a notebook runs on; a yellow warning on the sample.

    ``data`` is a ``CustomerData``. Returns an ``IPython.display.HTML`` object.
    """
    # optional: dashboard
    from IPython.display import HTML

    start, end = data.period
    facts = (f"{len(data.transactions):,} lines, {len(data.customers):,} customers, "
             f"{start:%Y-%m-%d} to {end:%Y-%m-%d}")
    if data.is_sample:
        return HTML(
            '<div style="border-left:6px solid #e0a800;background:#fff8e1;color:#4d3b00;padding:8px 12px;">'
            "<b>Sample data.</b> No data file was found, so this notebook runs on the built-in "
            f"synthetic sample ({facts}). The figures show how the method works, not facts about a "
            "real shop. Put your transaction file in <code>data/</code> or set <code>SEGKIT_DATA</code> "
            "(or the parameter cell) to use real data.</div>"
        )
    return HTML(f'<div style="border-left:6px solid #1a9850;padding:6px 12px;">Data: '
                f'{html.escape(str(data.source))} ({facts})</div>')


def short_path(path: str | Path) -> str:
    """A path relative to the project root when it is inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
