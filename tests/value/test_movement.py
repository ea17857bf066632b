"""segkit.value.movement and its figures: cohorts, segment trends and migration on hand-made logs."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from segkit.value import movement
from segkit.views import plots
from segkit.views.explore import segment_order


def _lines(rows):
    frame = pd.DataFrame(rows, columns=["CustomerID", "InvoiceDate", "TotalPrice"])
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    return frame


@pytest.fixture
def log():
    # A and B start in January, C in February. A buys again in February and April,
    # B in March; C in March. Two lines of A on one day count once as active.
    return _lines([
        ("A", "2011-01-05", 10.0), ("A", "2011-01-05", 5.0), ("A", "2011-02-10", 20.0), ("A", "2011-04-01", 40.0),
        ("B", "2011-01-31", 7.0), ("B", "2011-03-15", 3.0),
        ("C", "2011-02-01", 100.0), ("C", "2011-03-01", 50.0),
    ])


def test_cohort_retention_counts_active_customers_and_revenue(log):
    table = movement.cohort_retention(log).set_index(["Cohort", "MonthsSince"])
    jan, feb = pd.Timestamp("2011-01-01"), pd.Timestamp("2011-02-01")
    assert table.loc[(jan, 0)].to_dict() == {"CohortSize": 2, "Active": 2, "ActiveShare": 1.0, "Revenue": 22.0,
                                             "RevenuePerCustomer": 11.0}
    assert table.loc[(jan, 1), "Active"] == 1 and table.loc[(jan, 1), "Revenue"] == 20.0  # A in February
    assert table.loc[(jan, 2), "ActiveShare"] == 0.5 and table.loc[(jan, 2), "Revenue"] == 3.0  # B in March
    assert table.loc[(jan, 3), "Revenue"] == 40.0
    assert table.loc[(feb, 0), "CohortSize"] == 1 and table.loc[(feb, 1), "Revenue"] == 50.0
    assert len(table) == 6  # no rows for months without purchases
    assert table["Revenue"].sum() == log["TotalPrice"].sum()


def test_cohort_retention_across_a_year_end():
    table = movement.cohort_retention(_lines([("A", "2010-12-20", 1.0), ("A", "2011-02-02", 2.0)]))
    assert table["MonthsSince"].tolist() == [0, 2]
    assert table["Cohort"].tolist() == [pd.Timestamp("2010-12-01")] * 2


def test_segment_trend_per_month_and_segment(log):
    segments = pd.Series({"A": "VIP", "B": "Lost", "C": "VIP"})
    trend = movement.segment_trend(log, segments)
    jan = trend[trend["Month"] == pd.Timestamp("2011-01-01")].set_index("Segment")
    assert jan.loc["VIP", "Revenue"] == 15.0 and jan.loc["VIP", "Customers"] == 1
    assert jan.loc["Lost", "Revenue"] == 7.0 and jan.loc["VIP", "Share"] == pytest.approx(15 / 22)
    feb = trend[trend["Month"] == pd.Timestamp("2011-02-01")].set_index("Segment")
    assert feb.loc["VIP", "Customers"] == 2 and feb.loc["VIP", "Revenue"] == 120.0 and "Lost" not in feb.index
    assert trend.groupby("Month")["Share"].sum().round(12).eq(1).all()
    assert list(trend[trend["Month"] == pd.Timestamp("2011-01-01")]["Segment"]) == segment_order(["Lost", "VIP"])


def test_segment_trend_takes_a_segmented_frame_and_skips_unknown_customers(log):
    segmented = pd.DataFrame({"Segment": ["Loyal"]}, index=pd.Index(["B"], name="CustomerID"))
    trend = movement.segment_trend(log, segmented)
    assert set(trend["Segment"]) == {"Loyal"} and trend["Revenue"].sum() == 10.0


def test_migration_table_counts_moves_new_and_gone_customers():
    before = pd.Series({"1": "VIP", "2": "VIP", "3": "Loyal", "4": "Lost"})
    after = pd.Series({"1": "VIP", "2": "At risk", "3": "VIP", "5": "New"})
    table = movement.migration_table(before, after)
    # segments in the package's reading order, the new and unscored customers last
    assert list(table.index) == segment_order(["VIP", "Loyal", "Lost"]) + [movement.NEW_CUSTOMER]
    assert list(table.columns) == segment_order(["VIP", "At risk", "New"]) + [movement.NOT_SCORED]
    assert table.loc["VIP", "VIP"] == 1 and table.loc["VIP", "At risk"] == 1 and table.loc["Loyal", "VIP"] == 1
    assert table.loc["Lost", movement.NOT_SCORED] == 1 and table.loc[movement.NEW_CUSTOMER, "New"] == 1
    assert table.to_numpy().sum() == 5
    shares = movement.migration_table(before, after, normalize=True)
    assert shares.loc["VIP", "At risk"] == 0.5 and shares.sum(axis=1).eq(1).all()
    only_both = movement.migration_table(before, after, include_new=False)
    assert list(only_both.index) == segment_order(["VIP", "Loyal"]) and only_both.to_numpy().sum() == 3


def test_figures_are_plotly_figures(log):
    cohorts = movement.cohort_retention(log)
    heat = plots.cohort_heatmap(cohorts)
    assert isinstance(heat, go.Figure) and heat.data[0].z.shape == (2, 4)
    assert isinstance(plots.cohort_heatmap(cohorts, "Revenue"), go.Figure)
    with pytest.raises(ValueError, match="value must be one of"):
        plots.cohort_heatmap(cohorts, "Nonsense")
    trend = movement.segment_trend(log, pd.Series({"A": "VIP", "B": "Lost", "C": "VIP"}))
    chart = plots.segment_trend_chart(trend, "Customers")
    assert [t.name for t in chart.data] == ["VIP", "Lost"]
    table = movement.migration_table(pd.Series({"1": "VIP", "2": "VIP"}), pd.Series({"1": "VIP", "2": "Lost", "3": "New"}))
    sankey = plots.migration_sankey(table)
    assert sorted(sankey.data[0].link.value) == [1.0, 1.0, 1.0] and len(sankey.data[0].node.label) == 5


def test_heatmaps_have_short_titles_and_no_legend(log, sample_data):
    """The cohort chart's title fits the page (at most 45 characters, the rest in its
    subtitle), and the heatmaps show no legend (no "trace 0" on pages opened from a link)."""
    heat = plots.cohort_heatmap(movement.cohort_retention(log))
    assert heat.layout.title.text == "% of the cohort buying by cohort" and len(heat.layout.title.text) <= 45
    assert "months since" in heat.layout.title.subtitle.text and heat.layout.showlegend is False
    profile = pd.DataFrame({"NumPurchases": [1.0, -1.0], "TotalSpend": [0.5, -0.5]}, index=[0, 1])
    centres = plots.centroid_heatmap(profile, {0: "VIP", 1: "Budget"})
    assert centres.layout.showlegend is False and centres.data[0].name == "z-score"


def test_revenue_axes_say_the_currency(log):
    """The "Revenue" axis says its currency."""
    trend = movement.segment_trend(log, pd.Series({"A": "VIP", "B": "Lost", "C": "VIP"}))
    chart = plots.segment_trend_chart(trend, "Revenue", currency="£")
    assert chart.layout.yaxis.title.text == "Revenue (£)" and chart.layout.yaxis.tickprefix == "£"
    assert plots.segment_trend_chart(trend, "Customers").layout.yaxis.tickprefix is None
    heat = plots.cohort_heatmap(movement.cohort_retention(log), "Revenue", currency="£")
    assert heat.data[0].colorbar.title.text == "Revenue (£)"


def test_a_partial_last_month_is_labelled_with_its_days(sample_data):
    """The sample (like the real data) ends on 9 December 2011, so its
    last month is labelled "Dec 2011 (9 days)" on every monthly chart, not a cliff."""
    lines = sample_data.lines
    assert lines["InvoiceDate"].max().strftime("%Y-%m-%d") == "2011-12-09"
    figure = plots.monthly_revenue(lines, currency="£")
    ticks = list(figure.layout.xaxis.ticktext)
    assert ticks[-1] == "Dec 2011 (9 days)" and ticks[0] == "Dec 2010" and "Jun 2011" in ticks
    assert figure.data[0].marker.pattern.shape[-1] == "/" and figure.data[0].marker.pattern.shape[0] == ""
    assert "Partial month: Dec 2011 (9 days)" in figure.layout.annotations[0].text
    trend = movement.segment_trend(lines, pd.Series("VIP", index=sample_data.customers.index.astype("string")))
    chart = plots.segment_trend_chart(trend, "Revenue", period=sample_data.period)
    assert list(chart.layout.xaxis.ticktext)[-1] == "Dec 2011 (9 days)"
    cohorts = plots.cohort_heatmap(movement.cohort_retention(lines), period=sample_data.period)
    assert cohorts.data[0].y[-1].startswith("2011-12, 9 days (")
    _, labels, partial = plots.month_labels(["2011-03-01", "2011-04-01"], ("2011-03-15", "2011-04-30 10:00"))
    assert labels == ["Mar 2011 (17 days)", "Apr 2011"] and partial == ["Mar 2011 (17 days)"]
