"""segkit.dashboard.compare: the comparison panel, without a browser."""
from __future__ import annotations

from segkit.views import tables as views
from segkit.views.tables import Filters


def test_compare_panel_shows_the_shown_customers_after_any_change(state):
    """The comparison is redrawn only when its inputs change; what it shows is always
    ``compare_segments`` of the shown customers."""
    from segkit.dashboard.compare import ComparePanel

    panel = ComparePanel(state)
    names = state.segment_names
    for segments in (None, tuple(names[:1]), tuple(names[:2]), None, tuple(names[1:]), (), None):
        state.filters = Filters(segments=segments)
        a, b = panel._pair()
        assert panel.compare_table.value == views.comparison_html(
            views.compare_segments(state.selection.shown, a, b), state.currency)


def test_compare_within_filters_and_never_a_equals_b(state):
    from segkit.dashboard.compare import ComparePanel

    panel = ComparePanel(state)
    a, b = panel.compare_a.value, panel.compare_b.value
    assert a != b and a not in panel.compare_b.options
    panel.compare_a.value = b
    assert panel.compare_b.value != b
    a, b = panel.compare_a.value, panel.compare_b.value
    n_all = int((state.everyone["Segment"] == a).sum())
    state.filters = Filters(country="Germany")
    n_germany = int((state.selection.shown["Segment"] == a).sum())
    assert n_germany < n_all and f"Within the current filters: {n_germany:,} {a}" in panel.scope.value
    text = panel.compare_table.value
    assert f">{n_germany:,}<" in text and ".00<" not in text.split("Avg purchases")[0]
    assert "£" in text and "days" in text and (f">{a} is " in text or f">{b} is " in text)  # which is higher
    assert {t.name for t in panel.compare_chart.data} == {a, b}


def test_compare_defaults_to_segments_in_the_segment_filter(state):
    """With a VIP filter the comparison does not show "0 At risk and 0 Budget"."""
    from segkit.dashboard.compare import ComparePanel

    panel = ComparePanel(state)
    names = state.segment_names
    for ticked in ((names[-1],), tuple(names[-2:]), (names[0], names[-1])):
        state.filters = Filters(segments=ticked)
        a, b = panel._pair()
        assert a in ticked and (b in ticked or len(ticked) == 1) and a != b, (ticked, a, b)
        assert f"Within the current filters: 0 {a}" not in panel.scope.value
        assert panel.compare_table.value == views.comparison_html(
            views.compare_segments(state.selection.shown if len(ticked) > 1 else panel._pair_frame(), a, b),
            state.currency)
