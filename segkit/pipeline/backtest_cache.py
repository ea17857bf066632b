"""The backtest `segkit train` ran, kept with the model and reused by the next train of the
same model on the same data.

``segkit train`` fits the lifecycle thresholds, backtests the model and checks its lifetime
value against the backtest (``thresholds``, ``backtest``, ``value_backtest``): about 10 s on
the real data. All of it is stored in ``model.json`` (``lifecycle_fit``, ``evidence``), so
the page and ``segkit score`` never run it again. ``backtest_key`` names what those figures
depend on (the customer table's fingerprint, the training options, segkit's own code); it
is saved as ``evidence["key"]``. A later ``segkit train`` with the same key finds the
figures in the current model (``cached_backtest``) and gives them to the model it trains
(``reuse_backtest``) instead of computing them again, when that model has the same
thresholds and names; any difference and it computes them afresh.
"""
from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from pathlib import Path
from typing import Any, Mapping

from segkit.errors import SegkitArtifactError
from segkit.files.code_fingerprint import code_fingerprint
from segkit.modeling.label import LifecycleRules
from segkit.pipeline.artifacts import card_definitions, read_model_card
from segkit.pipeline.backtest import follow_advice, rename_segments

__all__ = ["backtest_key", "cached_backtest", "reuse_backtest"]


def backtest_key(data, options: Mapping[str, Any]) -> str:
    """16 hex digits naming the backtest of a model trained on ``data`` (a ``CustomerData``)
    with ``options`` (preset, K, lifecycle, horizon, extra features, lifetime value: the
    training options the figures depend on), by this version of segkit."""
    text = json.dumps({"data": data.fingerprint, "window_days": data.window_days, "options": dict(options),
                       "code": code_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_backtest(artifacts: str | Path, key: str) -> dict | None:
    """The card of the current model in ``artifacts`` when its backtest has ``key`` (and so
    can be reused), else ``None`` (no model, another key, a model without a backtest)."""
    try:
        card = read_model_card(artifacts)
    except SegkitArtifactError:
        return None
    evidence, fit = card.get("evidence") or {}, card.get("lifecycle_fit")
    if evidence.get("key") != key or not fit or not card.get("lifecycle"):
        return None
    return card


def reuse_backtest(model, card: Mapping[str, Any]) -> bool:
    """Give ``model`` (just trained with ``card``'s lifecycle thresholds, on the same data
    and options) the backtest of ``card``: its stage names (``lifecycle_fit["renamed"]``,
    then ``evidence["renamed"]``), ``lifecycle_fit``, ``evidence`` and its definitions (with
    why a stage was renamed and the evidence sentences), as the first train wrote them.
    True when done; False, and ``model`` untouched, when the model does not have the card's
    thresholds and, once renamed, its names: then the backtest must run."""
    fit, evidence = card["lifecycle_fit"], card["evidence"]
    if model.lifecycle_rules_ != LifecycleRules(**card["lifecycle"]):
        return False
    renames = [fit.get("renamed") or {}, evidence.get("renamed") or {}]
    names = {str(c): n for c, n in model.segment_names_.items()}
    for step in renames:
        names = {c: step.get(n, n) for c, n in names.items()}
    if names != card.get("segments"):
        return False
    for step in renames:
        rename_segments(model, step)
    model.lifecycle_fit_ = deepcopy(dict(fit))
    model.evidence_ = deepcopy(dict(evidence))
    model.definitions_ = card_definitions(dict(card), model.lifecycle_rules_)
    if card.get("advice_rules"):
        model.advice_rules_ = deepcopy(card["advice_rules"])
    follow_advice(model)  # the advice the evidence supports, as the first train stated it
    return True
