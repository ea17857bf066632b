"""The path in a few calls: load_customer_data's cache of clean lines."""
from __future__ import annotations

import pandas as pd
import pytest

import segkit.clean as clean
import segkit.pipeline.workflow as workflow
from segkit.pipeline.workflow import load_customer_data


@pytest.mark.slow
def test_clean_lines_are_cached_by_content_rules_and_code(tmp_path, sample_log, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "log.csv"
    sample_log.to_csv(path, index=False)
    first = load_customer_data(path)

    def no_cleaning(*args, **kwargs):
        raise AssertionError("cleaned again although the file, rules and code are unchanged")

    real_clean = clean.clean_transactions
    monkeypatch.setattr(clean, "clean_transactions", no_cleaning)
    again = load_customer_data(path)
    pd.testing.assert_frame_equal(first.lines.reset_index(drop=True), again.lines.reset_index(drop=True))
    pd.testing.assert_frame_equal(first.report, again.report)
    pd.testing.assert_frame_equal(first.customers, again.customers)
    # Other rules, other content or use_cache=False: cleaned afresh.
    calls = []
    monkeypatch.setattr(clean, "clean_transactions", lambda *a, **k: calls.append(k) or real_clean(*a, **k))
    load_customer_data(path, rules="seed")
    sample_log.head(len(sample_log) - 10).to_csv(path, index=False)
    changed = load_customer_data(path)
    load_customer_data(path, use_cache=False)
    assert len(calls) == 3 and len(changed.lines) < len(first.lines)



@pytest.mark.slow
def test_lines_of_a_cached_table_are_cleaned_again_when_their_cache_file_is_gone(tmp_path, sample_log, monkeypatch):
    """The customer table came from the cache and the clean lines' file went away before
    they were asked for (another cache folder, a clean-up): the lines are cleaned again."""
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "log.csv"
    sample_log.to_csv(path, index=False)
    fresh = load_customer_data(path)
    again = load_customer_data(path)
    assert isinstance(again, workflow.CachedCustomerData)
    for kept in (tmp_path / "cache" / "clean").glob("*"):
        kept.unlink()
    pd.testing.assert_frame_equal(fresh.lines, again.lines, check_dtype=False)

@pytest.mark.slow
def test_customer_table_is_cached_and_lines_are_read_only_when_used(tmp_path, sample_log, monkeypatch):
    """A file read before gives its customer table straight from the cache (no parse, no
    cleaning, no features), exactly equal to a fresh computation; the lines come back on
    first use; other options or other content are computed afresh."""
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "log.csv"
    sample_log.to_csv(path, index=False)
    fresh = load_customer_data(path)
    assert type(fresh) is workflow.CustomerData

    def refuse(*args, **kwargs):
        raise AssertionError("the file was parsed or its features computed again")

    monkeypatch.setattr(workflow, "load_transactions", refuse)
    monkeypatch.setattr(workflow, "customer_features", refuse)
    again = load_customer_data(path)
    assert isinstance(again, workflow.CachedCustomerData) and again.has_lines
    pd.testing.assert_frame_equal(fresh.customers, again.customers, check_exact=True)
    pd.testing.assert_frame_equal(fresh.report, again.report)
    assert again.training_info() == fresh.training_info()
    assert again.fingerprint == fresh.fingerprint and again.line_count == len(fresh.lines)
    monkeypatch.undo()
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    # Lines (and the parsed log) on first use, equal to the fresh ones.
    pd.testing.assert_frame_equal(fresh.lines, again.lines)
    pd.testing.assert_frame_equal(fresh.transactions, again.transactions)
    # Another window is another table; a damaged entry is recomputed, never trusted.
    windowed = load_customer_data(path, window_days=90)
    assert type(windowed) is workflow.CustomerData and windowed.window_days == 90
    for damaged in (tmp_path / "cache" / "customers").glob("*.parquet"):
        damaged.write_bytes(b"not parquet")
    recomputed = load_customer_data(path)
    assert type(recomputed) is workflow.CustomerData
    pd.testing.assert_frame_equal(fresh.customers, recomputed.customers, check_exact=True)
    # Changed content: computed afresh.
    sample_log.head(len(sample_log) - 10).to_csv(path, index=False)
    changed = load_customer_data(path)
    assert type(changed) is workflow.CustomerData and changed.line_count < fresh.line_count


@pytest.mark.slow
def test_processes_loading_one_file_together_parse_it_once(tmp_path, sample_log):
    """Dashboard kernels started together: one parses and cleans, the others read its table."""
    import os
    import subprocess
    import sys

    path = tmp_path / "log.csv"
    sample_log.to_csv(path, index=False)
    code = ("import sys; from segkit.pipeline.workflow import load_customer_data; d = load_customer_data(sys.argv[1]); "
            "print(type(d).__name__, len(d.customers))")
    env = dict(os.environ, SEGKIT_CACHE=str(tmp_path / "cache"))
    runs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for _ in range(3)]
    outputs = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        outputs.append(out.split())
    assert sorted(kind for kind, _ in outputs) == ["CachedCustomerData", "CachedCustomerData", "CustomerData"]
    assert len({count for _, count in outputs}) == 1


def test_lifetime_value_columns_keep_the_logs_currency(sample_log):
    """Scoring with a model that carries lifetime value joins CLV columns onto the customer
    table; the log's currency (a euro log) must survive the join, or a euro shop's CSVs and
    page would fall back to pounds without a word."""
    from segkit.ingest.load import LOG_CURRENCY

    data = load_customer_data(sample_log.assign(Currency="EUR"), use_cache=False)
    model, _ = workflow.train_model(data, k=3)
    model.clv_params_ = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                         "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
    valued = workflow.add_customer_value(data.customers, data.lines, model)
    assert "CLV" in valued.columns and valued.attrs.get(LOG_CURRENCY) == "EUR"


def test_a_customer_table_matches_email_ids_as_a_log_does():
    """An email id is one customer whatever its case and spaces, in a customer table as in a
    transaction log (``ingest.values.customer_ids``): the scored table's ids are the log's, and
    two rows of one customer written in two cases are one customer."""
    from segkit.ingest.values import customer_ids

    raw = pd.DataFrame({"CustomerID": ["Ann@Shop.com ", "bob@shop.com", "ann@shop.com"],
                        "NumPurchases": [3, 1, 3], "TotalSpend": [120.0, 15.0, 120.0], "Recency": [10, 200, 10]})
    notes: list[str] = []
    table = workflow.check_customer_table(raw, ["NumPurchases", "TotalSpend", "Recency"], "customers.csv",
                                          notes=notes)
    assert sorted(table.index) == ["ann@shop.com", "bob@shop.com"]
    assert sorted(table.index) == sorted(set(customer_ids(pd.Series(["ANN@shop.com", "bob@shop.com"]))))
    assert len(notes) == 1 and "once" in notes[0], notes


def test_a_customer_tables_extra_columns_read_numbers_as_its_features_do():
    """Extra columns of a customer table follow the features' number rule
    (``ingest.values.read_numbers``): ``1.250,50`` in a table written with decimal commas is
    1250.5, and a column of words stays text."""
    raw = pd.DataFrame({"CustomerID": ["1", "2"], "NumPurchases": ["3", "1"], "TotalSpend": ["1.250,50", "15,00"],
                        "Recency": ["10", "200"], "AvgBasket": ["416,83", "15,00"], "Tier": ["gold", "none"]})
    table = workflow.check_customer_table(raw, ["NumPurchases", "TotalSpend", "Recency"], "customers.csv")
    assert table["TotalSpend"].tolist() == [1250.5, 15.0]
    assert table["AvgBasket"].tolist() == [416.83, 15.0]
    assert table["Tier"].tolist() == ["gold", "none"]
