"""segkit.views.plots: chart titles and colours."""
from __future__ import annotations

import json

import pandas as pd
import pytest


def test_plain_titles_in_charts():
    from segkit.views import plots

    frame = pd.DataFrame({"NumPurchases": [1, 5], "TotalQuantity": [3, 50], "TotalSpend": [10.0, 900.0],
                          "Segment": ["VIP", "Lost"], "Country": ["France", "Spain"]}, index=["1", "2"])
    for figure in (plots.scatter_2d(frame), plots.scatter_3d(frame), plots.compare_histograms(frame, ("VIP", "Lost"))):
        text = json.dumps(figure.to_plotly_json()["layout"]) + json.dumps([t.hovertemplate for t in figure.data])
        assert "log10" not in text and "TotalSpend" not in text and "Spend (\\u00a3)" in text


def test_segment_colours_are_not_pale_on_white():
    from segkit.views.plots import SEGMENT_COLOURS

    def luminance(hex_colour):
        rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for name, colour in SEGMENT_COLOURS.items():
        assert 1.05 / (luminance(colour) + 0.05) >= 3.0, name


def test_compare_histograms_are_shares_per_segment(sample_segmented):
    from segkit.views import plots

    a, b = sorted(sample_segmented["Segment"].unique())[:2]
    figure = plots.compare_histograms(sample_segmented, (a, b), "TotalSpend")
    assert [t.name for t in figure.data] == [a, b]
    for trace in figure.data:
        assert sum(trace.y) == pytest.approx(100.0) and len(trace.y) == 40
