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
