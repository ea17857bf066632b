"""Data functions behind the dashboard's views (no widgets, no browser)."""
from __future__ import annotations

import pytest

from segkit.errors import SegkitDataError
from segkit.views.tables import score_upload


@pytest.fixture(scope="module")
def shipped_model():
    from segkit.config import ARTIFACTS_DIR
    from segkit.pipeline.artifacts import load_artifacts

    return load_artifacts(ARTIFACTS_DIR)


def test_upload_leaves_no_parquet_copy_in_the_cache(tmp_path, monkeypatch, sample_log, shipped_model):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    content = sample_log.head(2000).to_csv(index=False).encode()
    scored = score_upload(content, "orders.csv", shipped_model)
    assert len(scored) > 10
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_upload_of_a_workbook_bomb_is_refused_by_its_expanded_size(shipped_model):
    from pathlib import Path

    bomb = Path(__file__).parents[1] / "bad_inputs" / "sheet_expands_to_600mb.xlsx"
    with pytest.raises(SegkitDataError, match="expands to 0.6 GB"):
        score_upload(bomb.read_bytes(), bomb.name, shipped_model)


# ------------------------------------------------------------------ issue 22

def test_compare_says_how_many_times_the_higher_is_the_lower_whichever_is_a():
    """VIP £14,415.72 against Loyal £2,459.63 (the real data's avg spend, issue 22): VIP is
    5.9 times Loyal (+486 %), also with VIP as A (it used to read "A (VIP) by 83%")."""
    import pandas as pd

    from segkit.views.tables import compare_segments, comparison_html, which_is_higher

    assert which_is_higher("VIP", 14415.72, "Loyal", 2459.63) == "VIP is 5.9 times Loyal (+486 %)"
    assert which_is_higher("Loyal", 2459.63, "VIP", 14415.72) == "VIP is 5.9 times Loyal (+486 %)"
    assert which_is_higher("A", 1.0, "B", 1.0) == "equal"
    assert which_is_higher("A", 3.0, "B", 0.0) == "A is higher (B: none)"
    customers = pd.DataFrame({"Segment": ["VIP", "VIP", "Loyal", "Loyal", "Loyal"],
                              "NumPurchases": [10, 6, 2, 3, 1], "TotalQuantity": [100, 50, 10, 10, 5],
                              "TotalSpend": [20000.0, 8831.44, 3000.0, 2378.89, 2000.0],
                              "Recency": [3, 5, 40, 60, 80], "Tenure": [300, 200, 100, 90, 50]})
    for a, b in (("VIP", "Loyal"), ("Loyal", "VIP")):
        page = comparison_html(compare_segments(customers, a, b))
        vip, loyal = (customers[customers["Segment"] == n] for n in ("VIP", "Loyal"))
        ratio = vip["TotalSpend"].mean() / loyal["TotalSpend"].mean()  # 14,415.72 / 2,459.63
        assert f"VIP is {ratio:.1f} times Loyal (+{(ratio - 1) * 100:.0f} %)" == "VIP is 5.9 times Loyal (+486 %)"
        assert "VIP is 5.9 times Loyal (+486 %)" in page
        total = vip["TotalSpend"].sum() / loyal["TotalSpend"].sum()
        assert f"VIP is {total:.1f} times Loyal (+{(total - 1) * 100:.0f} %)" in page
        assert " by " not in page
