"""CSV export that spreadsheets cannot execute, without turning numbers into text."""
from __future__ import annotations

import pandas as pd

from segkit.views.export import neutralise_formulas, to_safe_csv


def test_formula_cells_headers_and_categoricals_are_neutralised_numbers_are_not():
    frame = pd.DataFrame({
        '=HYPERLINK("http://evil.example","x")': ["a", "b"],
        "Segment": pd.Categorical(["=1+1", "VIP"]),
        "Note": ["-12.5", "@SUM(A1)"],
        "Margin": [-12.5, 3.0],
    })
    safe = neutralise_formulas(frame)
    assert safe.columns[0].startswith("'=")
    assert safe["Segment"].tolist() == ["'=1+1", "VIP"]
    assert safe["Note"].tolist() == ["-12.5", "'@SUM(A1)"]  # a number written as text is data
    assert safe["Margin"].tolist() == [-12.5, 3.0]
    text = to_safe_csv(frame)
    assert not any(cell.startswith(("=", "@", "+")) for line in text.splitlines() for cell in line.split(","))
