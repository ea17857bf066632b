"""Fixtures several ingest test modules share."""
from __future__ import annotations

import pytest
from uci_rows import UCI_ROWS


@pytest.fixture
def uci_csv(tmp_path):
    path = tmp_path / "retail.csv"
    UCI_ROWS.to_csv(path, index=False)
    return path
