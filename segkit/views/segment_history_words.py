"""Words and tables of "what changed" and campaign planning, as HTML for the page
and the report. The figures come from ``segkit.value.segment_history`` and ``segkit.value.campaign``;
the chart is ``plots.segment_sizes_by_month``.
"""
from __future__ import annotations

import html

import pandas as pd

from segkit.views.plots import month_labels
from segkit.views.wording import money

__all__ = ["sizes_note", "sizes_table_html", "moves_note", "moves_html", "campaign_titles_per_segment",
           "campaign_plan_html", "NOT_MEASURED", "MOVES_LISTED"]

#: What a segment without backtest evidence shows instead of a figure.
NOT_MEASURED = "not measured"
#: Customers listed per move on the page and in the report (all of them are in the CSV).
MOVES_LISTED = 40


def _esc(value) -> str:
    return html.escape(str(value))


def sizes_note(window_days: int | None) -> str:
    """What the monthly sizes compare, in plain words."""
    if window_days:
        return (f"Each month: the saved model applied to each customer's purchases up to that month's end, counted over "
                f"the {window_days:,} days before it (recency over all history), so every month is measured over a "
                "window of the same length. Customers who had not bought yet are not counted.")
    return ("Each month: the saved model applied to each customer's purchases up to that month's end (every purchase "
            "up to then, as the model was trained). Customers who had not bought yet are not counted. Early months "
            "hold fewer months of history, so part of a segment's growth there is more history, not better "
            "customers; the moves below compare windows of equal length.")


def sizes_table_html(sizes: pd.DataFrame, period) -> str:
    """Customers per segment (columns) at each month's end (rows); a partial month says so
    in its label ("Dec 2011 (9 days)") as on the charts."""
    if sizes.empty:
        return '<p class="seg-note">No customers to count.</p>'
    wide = sizes.pivot(index="Month", columns="Segment", values="Customers")
    wide = wide[list(pd.unique(sizes["Segment"]))]
    _, labels, partial = month_labels(wide.index, period)
    head = "".join(f"<th>{_esc(c)}</th>" for c in ["Month's end", *wide.columns, "All"])
    rows = []
    for label, (_month, values) in zip(labels, wide.iterrows()):
        cells = "".join(f'<td class="num" data-segment="{_esc(name)}">{int(v):,}</td>' for name, v in values.items())
        mark = ' class="seg-partial-month"' if label in partial else ""
        rows.append(f'<tr{mark}><td class="text seg-month">{_esc(label)}</td>{cells}'
                    f'<td class="num seg-all">{int(values.sum()):,}</td></tr>')
    note = (f'<p class="seg-meta seg-partial-note">Partial month{"s" if len(partial) > 1 else ""}: {", ".join(partial)}'
            " (counted at the log's last day, not a month's end).</p>") if partial else ""
    return (f'<div class="seg-scroll"><table class="seg-table seg-sizes-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{note}')


def moves_note(days: int, then: pd.Timestamp, now: pd.Timestamp, counted: int, window_days: int | None) -> str:
    """What the moves of the last ``days`` days compare, in one paragraph."""
    span = "the model's own window" if window_days else "all the days the log holds before the earlier date"
    return (f"Moves of the last {days} days: each customer's segment as of {then:%d %b %Y} against now "
            f"({now:%d %b %Y}, the day after the last purchase), both from the saved model over the {counted:,} days "
            f"before each date ({span}; purchases and spend within the window, recency over all history). Equal "
            "windows: a move is a change in what the customer did, not more history.")


def moves_html(counts: pd.DataFrame, moves: pd.DataFrame, days: int) -> str:
    """The moves counted per from -> to, with the customers of each move (the first
    ``MOVES_LISTED``), and a sentence for the customers new since the earlier date."""
    new, known = int(moves.attrs.get("new", 0)), int(moves.attrs.get("known", 0))
    summary = (f'<p class="seg-moves-summary" data-days="{days}">{len(moves):,} of the {known:,} customers known '
               f"{days} days ago changed segment; {new:,} bought for the first time since (new customers, not moves)."
               "</p>")
    if counts.empty:
        return summary
    rows = []
    for row in counts.itertuples(index=False):
        ids = moves.loc[(moves["From"] == row.From) & (moves["To"] == row.To), "CustomerID"].astype(str).tolist()
        listed = ", ".join(ids[:MOVES_LISTED]) + (f" and {len(ids) - MOVES_LISTED:,} more" if len(ids) > MOVES_LISTED
                                                   else "")
        rows.append(f'<tr><td class="text seg-from">{_esc(row.From)}</td><td class="text seg-to">{_esc(row.To)}</td>'
                    f'<td class="num seg-count">{int(row.Customers):,}</td>'
                    f'<td class="text seg-ids">{_esc(listed)}</td></tr>')
    return (summary + f'<div class="seg-scroll"><table class="seg-table seg-recent-moves" data-days="{days}"><thead><tr>'
            "<th>From</th><th>To</th><th>Customers</th><th>Who</th></tr></thead>"
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def campaign_titles_per_segment(currency: str = "£", horizon_days: int | None = None) -> dict[str, str]:
    """Headings of the campaign plan, for people, with the currency."""
    within = f"within {horizon_days} days" if horizon_days else "in the horizon"
    return {"Segment": "Segment", "Customers": "Customers", "Recommendation": "Recommendation",
            "ReturnRate": f"Came back {within} (measured)",
            "MeanNextSpend": f"Mean next spend per returning customer ({currency})",
            "ExpectedExtraRevenue": f"Expected extra revenue ({currency})",
            "Cost": f"Cost of contacting ({currency})", "Net": f"Net ({currency})"}


def _plan_cell(column: str, value, currency: str) -> str:
    if column in ("Segment", "Recommendation"):
        return f'<td class="text" data-column="{column}">{_esc(value)}</td>'
    if column == "Customers":
        return f'<td class="num" data-column="{column}">{int(value):,}</td>'
    if value is None or pd.isna(value):  # NaN, or pd.NA of a nullable column
        return f'<td class="text seg-not-measured" data-column="{column}">{NOT_MEASURED}</td>'
    text = f"{100 * value:.0f} %" if column == "ReturnRate" else money(value, currency, 0)
    return f'<td class="num" data-column="{column}" data-value="{float(value):.6f}">{_esc(text)}</td>'


def campaign_plan_html(plan: pd.DataFrame, currency: str = "£") -> str:
    """The campaign plan (``value.campaign.campaign_plan``) as a table, a row per segment."""
    if plan.empty:
        return '<p class="seg-note">No customers match the filters.</p>'
    titles = campaign_titles_per_segment(currency, plan.attrs.get("horizon_days"))
    head = "".join(f"<th>{_esc(titles[c])}</th>" for c in plan.columns)
    rows = "".join(f'<tr data-segment="{_esc(row["Segment"])}">'
                   + "".join(_plan_cell(c, row[c], currency) for c in plan.columns) + "</tr>"
                   for _, row in plan.iterrows())
    return (f'<div class="seg-scroll"><table class="seg-table seg-campaign-plan-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")
