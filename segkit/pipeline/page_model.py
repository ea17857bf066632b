"""The model a page shows: the saved one when it fits the page's data, a model refitted
with another K, and saving it so every page uses it. The dashboard's state
(``segkit.dashboard.state``) calls these; it trains, saves and reads nothing itself.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from segkit.errors import SegkitArtifactError
from segkit.pipeline.artifacts import read_model_card, save_artifacts
from segkit.pipeline.backtest import LAPSED, name_unmeasured, rename_segments, restate_stage
from segkit.pipeline.thresholds import train_with_lifecycle
from segkit.pipeline.workflow import CustomerData, model_fits_data

__all__ = ["saved_card_for", "model_trained_for_page", "retrained", "save_model", "newer_saved_card"]


def saved_card_for(data: CustomerData, artifacts: Path) -> tuple[dict | None, str]:
    """``(card, "")``: the saved model's card when it was trained on exactly ``data``; else
    ``(None, reason)``, why it cannot serve (no model, a broken folder, other data)."""
    try:
        card = read_model_card(artifacts)
    except SegkitArtifactError as exc:
        return None, str(exc).rstrip(".")
    if model_fits_data(card, data):
        return card, ""
    trained = card.get("training_data", {})
    return None, f"the saved model in {artifacts} was trained on other data ({trained.get('source', 'unknown')})"


#: Why a model the page trains for itself has the fixed lifecycle thresholds.
PAGE_NOT_FITTED = ("this page computed its own segments, without the backtest that fits them to the log "
                   "(`segkit train` fits them and saves the model)")


def model_trained_for_page(data: CustomerData):
    """``(model, k_table)``: a model trained on ``data`` with the K ``evaluate_k`` recommends
    (``thresholds.train_with_lifecycle(data, "auto")``), not saved. Its lifecycle thresholds
    are the fixed ones, and its ``lifecycle_fit`` says why (``PAGE_NOT_FITTED``): the fit's
    names ("Lapsed", "Quiet") need the backtest, too slow to run for every visitor."""
    model, k_table, _ = train_with_lifecycle(data, "auto", not_fitted_because=PAGE_NOT_FITTED)
    return model, k_table


def retrained(model, customers: pd.DataFrame, k: int):
    """A model like ``model`` (a fitted ``SegmentationModel``: same features, preset and
    settings) refitted on ``customers`` with K = ``k``.

    Its lifecycle stages keep the names ``model`` shows them under ("Quiet", "Lapsed") and
    its ``lifecycle_fit``. It has no backtest, so its long-silent group is never "Lost"
    (``backtest.name_unmeasured``): the evidence that earned ``model`` that name is not
    this model's."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.base import clone

    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.model import STAGE_SEGMENTS

    refit = clone(model).set_params(n_clusters=int(k)).fit(customers)
    if refit.lifecycle_rules_ is None:
        return refit
    fit = dict(getattr(model, "lifecycle_fit_", None) or {})
    first_stage = len(model.segment_names_) - len(STAGE_SEGMENTS)
    shown = {stage: str(model.segment_names_.get(first_stage + i, stage)) for i, stage in enumerate(STAGE_SEGMENTS)}
    renames = {stage: name for stage, name in shown.items() if name != stage}
    if fit.get("fitted") is not True:
        renames.pop("Lost", None)  # not measured: name_unmeasured says so below
    done = {**rename_segments(refit, renames), **name_unmeasured(refit)}
    if fit or done:
        if done.get("Lost") == LAPSED and (fit.get("stage_names") or {}).get("Lost") == "Lost":
            fit["sentence"] = restate_stage(fit.get("sentence", ""), "Lost", LAPSED)
        if fit.get("stage_names"):
            fit["stage_names"] = {**fit["stage_names"], **{s: n for s, n in done.items() if s in fit["stage_names"]}}
        fit["renamed"] = {**(fit.get("renamed") or {}), **done}
        refit.lifecycle_fit_ = fit
    return refit


def save_model(model, artifacts: Path, data: CustomerData) -> dict:
    """Save ``model`` (trained on ``data``) to ``artifacts`` and return its card as saved."""
    save_artifacts(model, artifacts, data.training_info())
    return read_model_card(artifacts)


def newer_saved_card(artifacts: Path, data: CustomerData, shown: dict | None) -> dict | None:
    """The saved model's card when it fits ``data`` and is not the model whose card is
    ``shown`` (``None``: the page shows a model of its own); else ``None``."""
    try:
        card = read_model_card(artifacts)
    except SegkitArtifactError:
        return None
    if not model_fits_data(card, data):
        return None
    same = ("card_sha256", "created") if card.get("card_sha256") else ("created",)
    if shown is not None and all(card.get(key) == shown.get(key) for key in same):
        return None
    return card
