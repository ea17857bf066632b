"""segkit.engines.duckdb: DuckDB in process, its settings, its customer buckets and the
tables it holds (freed after use)."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.engines.duckdb import DuckDBEngine, local_engine
from segkit.ingest.load import standardise_columns
from segkit.schema import LINE_NUMBER


@pytest.fixture(scope="module")
def lines_frame(sample_log):
    """The sample's first 20,000 lines, canonical, with a few lines without a customer."""
    frame = standardise_columns(sample_log.head(20_000))
    assert frame["CustomerID"].isna().any()
    return frame


def _setting(engine: DuckDBEngine, name: str):
    return engine.con.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def _temp_tables(engine: DuckDBEngine) -> set[str]:
    return {r[0] for r in engine.con.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}


def test_settings_are_duckdbs_own(tmp_path):
    engine = DuckDBEngine(memory_limit="500MB", temp_directory=tmp_path, threads=1)
    try:
        assert _setting(engine, "threads") == 1
        assert _setting(engine, "memory_limit") in ("476.8 MiB", "500.0 MB")  # DuckDB shows it in its own unit
        assert _setting(engine, "temp_directory") == str(tmp_path)
        assert _setting(engine, "TimeZone") == "UTC"  # zoned stamps become UTC wall time
    finally:
        engine.close()


@pytest.mark.parametrize("staged", [False, True], ids=["filters", "written-to-temp-directory"])
def test_split_gives_every_customer_to_one_bucket_and_every_line_once(lines_frame, tmp_path, staged):
    engine = DuckDBEngine(threads=2, temp_directory=tmp_path if staged else None)
    try:
        parts = [engine.to_pandas(part) for part in engine.split(engine.lines(lines_frame), 3)]
        assert len(parts) >= 3 and all(len(part) for part in parts)
        lines = pd.concat(parts, ignore_index=True)
        assert sorted(lines[LINE_NUMBER]) == list(range(len(lines_frame)))  # every line once
        owners = [set(part["CustomerID"].dropna()) for part in parts]
        assert sum(len(o) for o in owners) == lines_frame["CustomerID"].nunique()  # no customer in two buckets
        if staged:
            assert any(tmp_path.iterdir())
    finally:
        engine.close()
    assert not any(tmp_path.iterdir())  # close removes the buckets it wrote


def test_materialise_and_forget_free_the_tables_and_close_twice_is_harmless(lines_frame):
    engine = DuckDBEngine(threads=2)
    lines = engine.lines(lines_frame)
    step = engine.materialise(lines.filter(lines.Quantity > 0))
    assert engine.count(step) == int((lines_frame["Quantity"] > 0).sum())
    assert len(_temp_tables(engine)) == 1
    engine.forget()
    assert _temp_tables(engine) == set()
    assert engine.registered == [] and "segkit_lines" not in " ".join(engine.con.list_tables())
    engine.close()
    engine.close()


def test_the_local_engine_is_reused_and_holds_nothing_after_use(lines_frame):
    with local_engine() as first:
        lines = first.lines(lines_frame)
        first.materialise(lines.filter(lines.Quantity > 0))
        assert first.registered and first.temporary
    with local_engine() as second:
        assert second is first
        assert _temp_tables(second) == set() and second.registered == []
