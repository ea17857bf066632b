"""segkit.pipeline.backtest_cache: a second `segkit train` of the same model on the same data
reuses the backtest stored with the first, and only then."""
from __future__ import annotations

import json
from copy import deepcopy
from types import SimpleNamespace

import pytest

import segkit.pipeline.backtest_cache as backtest_cache
from segkit.modeling.label import LifecycleRules
from segkit.pipeline.backtest_cache import backtest_key, cached_backtest, reuse_backtest


def _card(folder) -> dict:
    return json.loads(next(folder.glob("versions/*/model.json")).read_text())


def test_the_key_names_the_data_the_options_and_the_code(sample_data, monkeypatch):
    options = {"preset": "default", "k": 4, "horizon_days": 90}
    key = backtest_key(sample_data, options)
    assert len(key) == 16 and key == backtest_key(sample_data, dict(options))
    assert backtest_key(sample_data, {**options, "horizon_days": 60}) != key
    same = SimpleNamespace(fingerprint=sample_data.fingerprint, window_days=sample_data.window_days)
    assert backtest_key(same, options) == key  # the customer table's fingerprint, not the object
    assert backtest_key(SimpleNamespace(fingerprint="another log", window_days=None), options) != key
    assert backtest_key(SimpleNamespace(fingerprint=sample_data.fingerprint, window_days=365), options) != key
    monkeypatch.setattr(backtest_cache, "code_fingerprint", lambda: "another version of segkit")
    assert backtest_key(sample_data, options) != key


def test_no_model_or_another_key_is_no_cached_backtest(tmp_path):
    assert cached_backtest(tmp_path / "none", "0123456789abcdef") is None


def test_a_model_with_other_thresholds_is_left_untouched(sample_model):
    model = deepcopy(sample_model)
    rules = model.lifecycle_rules_
    card = {"lifecycle": {**rules.as_dict(), "at_risk_days": rules.at_risk_days + 7},
            "lifecycle_fit": {"renamed": {}}, "evidence": {"renamed": {}}, "segments": {}}
    names = dict(model.segment_names_)
    assert not reuse_backtest(model, card)
    assert model.segment_names_ == names and not hasattr(model, "evidence_")
    same = {**card, "lifecycle": rules.as_dict(), "segments": {"0": "Someone else"}}
    assert LifecycleRules(**same["lifecycle"]) == rules
    assert not reuse_backtest(model, same)  # same thresholds, other names: the backtest must run
    assert model.segment_names_ == names and not hasattr(model, "evidence_")


@pytest.mark.slow
def test_a_second_train_of_the_same_model_reuses_its_backtest(sample_csv, tmp_path, monkeypatch, capsys):
    """`segkit train` run again on the same data with the same options and code finds the
    threshold fit and the backtest in the current model.json and reuses them (each would
    fail here if run): same names, definitions and evidence. Other options run them again."""
    from segkit import cli
    from segkit.pipeline import backtest, thresholds, value_backtest
    from segkit.pipeline.artifacts import load_artifacts

    train = ["train", "--data", str(sample_csv), "--k", "3", "--no-clv", "--artifacts", str(tmp_path / "model")]
    assert cli.main(train) == 0
    first = _card(tmp_path / "model")
    assert first["evidence"]["key"] and "reused" not in capsys.readouterr().out

    def never(*_args, **_kwargs):
        raise AssertionError("the backtest ran again")

    for module, name in ((backtest, "backtest_segments"), (thresholds, "fit_lifecycle_rules"),
                         (thresholds, "choose_lifecycle"), (value_backtest, "value_backtest")):
        monkeypatch.setattr(module, name, never)
    assert cli.main(train) == 0
    out = capsys.readouterr().out
    assert "backtest: reused from the current model" in out and first["lifecycle_fit"]["sentence"] in out
    cards = sorted((tmp_path / "model").glob("versions/*/model.json"))
    assert len(cards) == 2
    second = json.loads(cards[-1].read_text())
    for part in ("segments", "lifecycle", "lifecycle_fit", "evidence", "definitions"):
        assert second[part] == first[part], part
    assert set(load_artifacts(tmp_path / "model").segment_names_.values()) == set(first["segments"].values())
    monkeypatch.undo()
    assert cli.main([*train[:-2], "--horizon-days", "60", "--artifacts", str(tmp_path / "model")]) == 0
    assert "reused" not in capsys.readouterr().out
