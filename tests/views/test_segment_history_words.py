"""segkit.views.segment_history_words: the "what changed" and campaign-plan tables as the page and the report show them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from segkit.views.segment_history_words import MOVES_LISTED, NOT_MEASURED, campaign_plan_html, moves_html


def _moves(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    moves = pd.DataFrame({"CustomerID": [str(10000 + i) for i in range(n)], "From": "Loyal", "To": "At risk <lapsing>"})
    moves.attrs.update(new=7, known=1234)
    counts = pd.DataFrame({"From": ["Loyal"], "To": ["At risk <lapsing>"], "Customers": [n]})
    return counts, moves


def test_moves_list_the_first_customers_and_say_how_many_more():
    counts, moves = _moves(MOVES_LISTED + 5)
    page = moves_html(counts, moves, days=30)
    assert f"{MOVES_LISTED + 5} of the 1,234 customers known 30 days ago changed segment; 7 bought for the first time" in page
    assert "10000, 10001" in page and f"{10000 + MOVES_LISTED - 1} and 5 more" in page
    assert str(10000 + MOVES_LISTED) not in page
    assert "At risk &lt;lapsing&gt;" in page and "<lapsing>" not in page  # a segment name is text, not markup


def test_no_moves_is_the_sentence_alone():
    counts, moves = _moves(0)
    page = moves_html(counts.iloc[0:0], moves, days=90)
    assert "0 of the 1,234 customers known 90 days ago changed segment" in page and "<table" not in page


def test_a_campaign_figure_without_evidence_says_not_measured():
    for missing in (np.nan, None):
        plan = pd.DataFrame({"Segment": ["Loyal", "New"], "Customers": [1911, 40], "ReturnRate": [0.42, missing],
                             "Net": [12345.6, missing]})
        page = campaign_plan_html(plan, currency="€")
        assert "42 %" in page and "€12,346" in page and "Net (€)" in page
        assert page.count(NOT_MEASURED) == 2


def test_a_nullable_plan_column_with_a_missing_figure_says_not_measured():
    plan = pd.DataFrame({"Segment": ["Loyal", "New"], "Customers": [1911, 40],
                         "Net": pd.array([12345.6, None], dtype="Float64")})
    assert campaign_plan_html(plan).count(NOT_MEASURED) == 1
