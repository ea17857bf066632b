"""segkit.dashboard.state: what the page selects, computes and keeps, without a browser."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segkit.views import tables as views
from segkit.views.tables import ALL, Filters


def test_selection_numbers_are_those_of_the_shown_customers(state, sample_data):
    """Summary, centres, KPI columns and the comparison read columns and (under a segment
    filter) the view without it; they must equal what the shown customers give directly."""
    from pandas.testing import assert_frame_equal

    from segkit.dashboard.header import DATE_RANGE_INPUTS, KPI_INPUTS

    names = state.segment_names
    first = sample_data.period[0].date()
    views_tried = [Filters(), Filters(segments=tuple(names[:2])), Filters(segments=(names[-1],), country="France"),
                   Filters(segments=tuple(names[1:]), spend_min=200.0), Filters(segments=()),
                   Filters(segments=tuple(names[:3]), start=first.replace(day=28), category=ALL)]
    for filters in views_tried:
        state.filters = filters
        selection = state.selection
        shown = selection.shown
        assert_frame_equal(selection.summary, views.segment_summary(shown), check_exact=True)
        assert views.kpi_html(views.kpis(selection.frame(KPI_INPUTS + DATE_RANGE_INPUTS), selection.period)) == views.kpi_html(
            views.kpis(shown, selection.period))
        for name in names:
            assert selection.segment_count(name) == int((shown["Segment"] == name).sum())
        if len(selection):
            assert_frame_equal(selection.centres(state.z_scores),
                               views.segment_centres(state.everyone, shown, selection.mask, state.z_scores),
                               check_exact=True)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_filters_select_and_never_relabel(state, sample_data):
    """Random filter combinations: the shown customers are a subset of everyone, each
    with its full-period segment; adding a filter never adds customers."""
    from dataclasses import replace

    everyone = state.everyone
    full_segment = everyone["Segment"]
    rng = np.random.default_rng(7)
    first, last = (ts.date() for ts in sample_data.period)
    days = (last - first).days
    categories = [c for c in sample_data.lines.pipe(views.line_categories).cat.categories]
    names = state.segment_names
    for _ in range(25):
        filters = Filters()
        previous = set(everyone.index)
        for field in rng.permutation(["segments", "country", "spend", "dates", "category"]):
            if field == "segments":
                filters = replace(filters, segments=tuple(rng.choice(names, size=rng.integers(1, len(names)),
                                                                      replace=False)))
            elif field == "country":
                filters = replace(filters, country=str(rng.choice(state.countries)))
            elif field == "spend":
                filters = replace(filters, spend_min=float(rng.integers(0, 2000)))
            elif field == "dates":
                a = int(rng.integers(0, days))
                filters = replace(filters, start=first + pd.Timedelta(days=a),
                                  end=first + pd.Timedelta(days=int(rng.integers(a, days + 1))))
            else:
                filters = replace(filters, category=str(rng.choice(categories)))
            state.filters = filters
            shown = state.selection.shown
            assert set(shown.index) <= previous, filters
            assert (shown["Segment"] == full_segment.loc[shown.index]).all()
            assert (shown["TotalSpend"] == everyone.loc[shown.index, "TotalSpend"]).all()  # full-period spend
            previous = set(shown.index)


def test_date_and_category_keep_buyers_in_the_window(state, sample_data):
    from dataclasses import replace

    lines = sample_data.lines
    state.filters = replace(Filters(), start=date(2011, 6, 1), end=date(2011, 8, 31))
    inside = lines[(lines["InvoiceDate"] >= "2011-06-01") & (lines["InvoiceDate"] < "2011-09-01")]
    shown = state.selection.shown
    assert set(shown.index) == set(inside["CustomerID"].astype(str))
    spend = inside.groupby(inside["CustomerID"].astype(str))["TotalPrice"].sum()
    np.testing.assert_allclose(shown["SpendInWindow"].sort_index(), spend.sort_index().round(2))
    assert "SpendInWindow" in state.table_frame().columns
    state.filters = replace(Filters(), category="Christmas")
    cats = views.line_categories(lines)
    assert set(state.selection.shown.index) == set(lines.loc[(cats == "Christmas").to_numpy(), "CustomerID"].astype(str))


def test_selection_is_cached_on_its_inputs(state):
    from dataclasses import replace

    first = state.selection
    assert state.selection is first
    state.filters = replace(Filters(), country="Germany")
    germany = state.selection
    assert germany is not first and len(germany) < len(first)
    state.filters = Filters()
    assert len(state.selection) == len(first)


def test_a_page_without_its_saved_model_says_so_plainly_and_logs_why(sample_data, tmp_path, capfd):
    """A viewer reads that the page computed its segments; the folder and what to run go to
    the server's log (the kernel's stderr), never to the page."""
    from segkit.dashboard.state import DashboardState

    state = DashboardState.load(sample_data, tmp_path / "no-model")
    assert not state.saved and state.status.text == "Segments computed for this page when it opened (not the saved model)."
    assert state.value_missing == "Lifetime value is not available for this model."
    log = capfd.readouterr().err
    assert str(tmp_path / "no-model") in log and "segkit train" in log
