"""Top products per segment: the lift table
against a plain pandas recomputation on the sample, its words, and the page's section
and the report (with and without the purchase lines)."""
from __future__ import annotations

import html
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from segkit.pipeline.workflow import train_model
from segkit.views.products import (
    MIN_BUYER_SHARE,
    MIN_BUYERS,
    TOP_PRODUCTS,
    lift_words,
    min_buyers,
    top_products,
    top_products_html,
)
from segkit.views.tables import segment_customers


@pytest.fixture(scope="module")
def sample_segments(sample_data):
    model, _ = train_model(sample_data, 5)
    return segment_customers(model, sample_data.customers)["Segment"]


def _pandas_top(lines: pd.DataFrame, segments: pd.Series) -> dict[str, list[tuple[str, float, float, int]]]:
    """The brief's rule, written out segment by segment: (StockCode, spend, lift, buyers)."""
    who = lines.assign(Segment=lines["CustomerID"].astype(str).map(segments.rename(index=str)))
    out = {}
    for name, members in segments.value_counts().items():
        need = max(5, math.ceil(0.03 * members))
        mine, others = who[who["Segment"] == name], who[who["Segment"] != name]
        mine_share = mine.groupby("StockCode")["TotalPrice"].sum() / mine["TotalPrice"].sum()
        others_share = others.groupby("StockCode")["TotalPrice"].sum() / others["TotalPrice"].sum()
        buyers = mine.groupby("StockCode")["CustomerID"].nunique()
        rows = []
        for code in buyers[buyers >= need].index:
            spend = mine.loc[mine["StockCode"] == code, "TotalPrice"].sum()
            other = others_share.get(code, 0.0)
            lift = mine_share[code] / other if other > 0 else np.inf
            rows.append((str(code), spend, lift, int(buyers[code])))
        rows.sort(key=lambda r: (-r[2], -r[1], r[0]))
        out[str(name)] = rows[:5]
    return out


def test_top_products_are_the_highest_lift_among_products_enough_members_bought(sample_data, sample_segments):
    table = top_products(sample_data.lines, sample_segments)
    expected = _pandas_top(sample_data.lines, sample_segments)
    assert set(table["Segment"]) == {s for s, rows in expected.items() if rows}
    for name, rows in expected.items():
        got = table[table["Segment"] == name]
        assert got["StockCode"].tolist() == [r[0] for r in rows], name
        np.testing.assert_allclose(got["Spend"], [round(r[1], 2) for r in rows])
        np.testing.assert_allclose(got["Lift"], [r[2] for r in rows])
        assert got["Buyers"].tolist() == [r[3] for r in rows]
        assert got["Rank"].tolist() == list(range(1, len(rows) + 1))
        members = int((sample_segments == name).sum())
        assert (got["Members"] == members).all() and (got["MinBuyers"] == min_buyers(members)).all()
        assert (got["Buyers"] >= got["MinBuyers"]).all()
    assert len(table) == TOP_PRODUCTS * table["Segment"].nunique()
    # Each product's description is its most frequent one in the lines.
    first = table.iloc[0]
    lines = sample_data.lines
    assert first["Description"] == lines.loc[lines["StockCode"] == first["StockCode"], "Description"].mode().min()


def test_a_product_no_other_customer_bought_has_an_infinite_lift():
    lines = pd.DataFrame({"CustomerID": ["1", "2", "3", "4", "4"], "StockCode": ["A", "A", "B", "B", "A"],
                          "Description": ["a", "a", "b", "b", "a"], "TotalPrice": [10.0, 5.0, 7.0, 3.0, 1.0],
                          "Quantity": [1, 1, 1, 1, 1]})
    segments = pd.Series(["X", "X", "Y", "Y"], index=["1", "2", "3", "4"])
    table = top_products(lines, segments, at_least=1, share=0)
    x = table[table["Segment"] == "X"].iloc[0]
    assert x["StockCode"] == "A" and x["Lift"] == pytest.approx((15 / 15) / (1 / 11))
    y = table[table["Segment"] == "Y"]
    assert y["StockCode"].tolist() == ["B", "A"] and np.isinf(y["Lift"].iloc[0])
    assert lift_words(y["Lift"].iloc[0]) == "only this segment buys it"
    assert top_products(lines, segments)["Segment"].tolist() == []  # nobody has 5 buyers


def test_lift_and_rule_in_words():
    assert lift_words(2.84) == "2.8 times as much as other customers"
    assert lift_words(1.35) == "35 % more than other customers"
    assert lift_words(0.5) == "50 % less than other customers"
    assert min_buyers(100) == MIN_BUYERS and min_buyers(1000) == math.ceil(1000 * MIN_BUYER_SHARE) == 30


def test_the_html_has_a_small_table_per_segment(sample_data, sample_segments):
    table = top_products(sample_data.lines, sample_segments)
    order = sorted(set(sample_segments)) + ["Nobody"]
    text = top_products_html(table, order)
    assert text.count('class="seg-table seg-top-products-table"') == len(order)
    first = table.iloc[0]
    assert first["Description"] in text and lift_words(first["Lift"]) in text
    assert html.escape("at least 5 of the segment's customers, or 3 % of them") in text
    assert 'data-segment="Nobody"' in text and "No product was bought by enough" in text


@pytest.fixture()
def page_state(sample_data, sample_segments, tmp_path):
    from segkit.config import Settings
    from segkit.dashboard.state import DashboardState, ModelStatus
    from segkit.views.tables import provisional_card

    model, _ = train_model(sample_data, 5)
    card = provisional_card(model, sample_data.training_info())
    return DashboardState(sample_data, model, card, ModelStatus(False, "test"), tmp_path,
                          Settings(currency="£", analyst=False))


def test_the_segments_panel_shows_them_when_the_section_is_opened_and_the_report_always(page_state):
    from segkit.dashboard.report import report_html
    from segkit.dashboard.segments import PRODUCTS_ON_REQUEST, PRODUCTS_TITLE, SegmentsPanel, products_html

    panel = SegmentsPanel(page_state)
    assert panel.products.value == PRODUCTS_ON_REQUEST and panel.products_section.titles == (PRODUCTS_TITLE,)
    panel.products_section.selected_index = 0
    order = list(panel.definitions().index)
    expected = top_products_html(top_products(page_state.data.lines, page_state.everyone["Segment"]), order)
    assert panel.products.value == expected == products_html(page_state, order)
    page_state.segmentation = "rfm"  # other segments: their own products
    assert 'data-segment="RFM: ' in panel.products.value
    page_state.segmentation = "model"
    report = report_html(page_state, panel.definitions())
    assert PRODUCTS_TITLE in report and report.count('class="seg-table seg-top-products-table"') == len(order)


def test_without_lines_the_page_says_so(sample_data):
    from segkit.dashboard.segments import products_html
    from segkit.pipeline.workflow import CustomerData

    # A plain CustomerData without lines (sample_data may be the cached kind, which holds them).
    data = CustomerData(sample_data.source, False, "default", None, None, sample_data.report, sample_data.customers)
    state = SimpleNamespace(data=data)
    text = products_html(state, ["VIP"])
    assert "Not available for this log" in text and "not held in memory" in text and "<table" not in text


def test_top_products_on_the_real_data(real_data):
    """The real workbook, its segments from a model trained as `make train` does: every
    segment's top products are the pandas recomputation's (VIP's first has a lift above 10)."""
    segments = segment_customers(train_model(real_data, "auto")[0], real_data.customers)["Segment"]
    table = top_products(real_data.lines, segments)
    expected = _pandas_top(real_data.lines, segments)
    for name, rows in expected.items():
        got = table[table["Segment"] == name]
        assert got["StockCode"].tolist() == [r[0] for r in rows], name
        np.testing.assert_allclose(got["Lift"], [r[2] for r in rows])
        np.testing.assert_allclose(got["Spend"], [round(r[1], 2) for r in rows])
    vip = table[table["Segment"] == "VIP"]
    assert len(vip) == TOP_PRODUCTS and vip["Lift"].iloc[0] > 10
    print("\n" + vip.assign(Words=vip["Lift"].map(lift_words))[["Description", "Buyers", "Spend", "Words"]].to_string())
