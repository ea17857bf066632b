"""The path in a few calls: load_customer_data's cache of clean lines."""
from __future__ import annotations

import pandas as pd
import pytest

import segkit.workflow as workflow
from segkit.workflow import load_customer_data


def test_clean_lines_are_cached_by_content_rules_and_code(tmp_path, sample_log, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "log.csv"
    sample_log.to_csv(path, index=False)
    first = load_customer_data(path)

    def no_cleaning(*args, **kwargs):
        raise AssertionError("cleaned again although the file, rules and code are unchanged")

    real_clean = workflow.clean_transactions
    monkeypatch.setattr(workflow, "clean_transactions", no_cleaning)
    again = load_customer_data(path)
    pd.testing.assert_frame_equal(first.lines.reset_index(drop=True), again.lines.reset_index(drop=True))
    pd.testing.assert_frame_equal(first.report, again.report)
    pd.testing.assert_frame_equal(first.customers, again.customers)
    # Other rules, other content or use_cache=False: cleaned afresh.
    calls = []
    monkeypatch.setattr(workflow, "clean_transactions", lambda *a, **k: calls.append(k) or real_clean(*a, **k))
    load_customer_data(path, rules="seed")
    sample_log.head(len(sample_log) - 10).to_csv(path, index=False)
    changed = load_customer_data(path)
    load_customer_data(path, use_cache=False)
    assert len(calls) == 3 and len(changed.lines) < len(first.lines)
