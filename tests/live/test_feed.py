"""The feed of a folder log: folder reading, the config of a live log and ``score --since``."""
from __future__ import annotations

import pandas as pd
import pytest
from live_files import artifacts_of, write_settled

from segkit.ingest.logs import load_log
from segkit.pipeline.workflow import load_customer_data


def test_the_same_export_twice_is_read_once(tmp_path, months):
    frame = next(iter(months.values()))
    write_settled(frame, tmp_path / "a.csv")
    write_settled(frame, tmp_path / "b.csv")
    notes: list[str] = []
    log = load_log(tmp_path, notes=notes)
    assert len(log) == len(frame) and list(log["SourceFile"].unique()) == ["a.csv"]
    assert notes == ["'b.csv' has the same contents as 'a.csv'; it was read once."]


def test_an_empty_folder_is_refused_in_one_sentence(tmp_path):
    from segkit.errors import SegkitDataError

    with pytest.raises(SegkitDataError, match="holds no transaction file"):
        load_customer_data(tmp_path)


def test_config_resolves_a_folder_a_glob_and_the_refresh_interval(monkeypatch, tmp_path):
    from segkit import config

    monkeypatch.setenv("SEGKIT_DATA", str(tmp_path / "*.csv"))
    assert config.default_data_path() == tmp_path / "*.csv" and config.is_multi_file(config.default_data_path())
    monkeypatch.delenv("SEGKIT_DATA")
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    (tmp_path / "a.csv").write_text("x")
    assert config.default_data_path() == tmp_path / "a.csv"  # one file: the file, as before
    (tmp_path / "b.parquet").write_text("x")
    (tmp_path / "c.csv.tmp").write_text("x")
    assert config.default_data_path() == tmp_path  # several: the folder is the log
    monkeypatch.delenv("SEGKIT_REFRESH_SECONDS", raising=False)
    assert config.refresh_seconds() == 60
    monkeypatch.setenv("SEGKIT_REFRESH_SECONDS", "15")
    assert config.refresh_seconds() == 15


@pytest.mark.slow
def test_score_since_writes_only_recent_customers(folder, saved_model, tmp_path, capsys):
    from segkit.cli import main

    out = tmp_path / "recent.csv"
    since = "2011-09-01"
    code = main(["score", "--data", str(folder), "--since", since, "--allow-short-window",
                 "--artifacts", str(artifacts_of(saved_model, tmp_path)), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    scored = pd.read_csv(out, dtype={"CustomerID": str}, parse_dates=["LastPurchase"])
    everyone = load_customer_data(folder).customers
    assert set(scored["CustomerID"]) == set(everyone.index[everyone["LastPurchase"] >= since])
    assert "purchases since 2011-09-01" in capsys.readouterr().out
    assert main(["score", "--data", str(folder), "--since", "soon", "--out", str(out)]) == 2
    assert "--since must be a date" in capsys.readouterr().err
    assert main(["score", "--data", str(folder), "--out", str(folder / "x.csv")]) == 2
    assert "inside the data folder" in capsys.readouterr().err
    assert main(["score", "--data", str(folder / "*.csv"), "--out", str(folder / "x.csv")]) == 2
    assert "inside the data folder" in capsys.readouterr().err
