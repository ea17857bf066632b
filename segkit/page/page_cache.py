"""What a page opens from, prepared once and shared by every kernel.

Without it, every dashboard kernel would unpickle the model (importing scikit-learn and
SciPy), read and keep the clean lines, segment every customer and compute their lifetime
value before it could draw anything (what that costs per visitor: docs/benchmarks.md,
"Ten visitors at once"). Instead:

- ``CardModel``: the saved model as its ``model.json`` states it (names, definitions,
  K, lifecycle rules, metrics). The page reads these; the pickled pipeline is loaded,
  with every check of ``artifacts.load_artifacts``, only when something has to compute
  with it (an upload to score, a retrain).
- ``segmented_customers``: every customer with segment, stage, confidence and lifetime
  value, kept on disk per (customer table fingerprint, model card checksum, segkit code)
  in ``<cache>/pages``. The first kernel (or ``segkit train``) computes and writes it,
  atomically; every later kernel reads it. A live page writes one per refresh: of each
  saved model and live log (and of each saved model for the other pages) the
  ``KEEP_PAGE_CACHES`` newest are kept (a kernel that finds its page cache gone computes it
  again). The product categories present in the lines travel with it, so the category
  filter can be offered without reading the lines.

A page so opened holds neither the lines nor scikit-learn until a visitor uses a date or
category filter, uploads a file or retrains.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from segkit.config import cache_dir
from segkit.errors import SegkitArtifactError
from segkit.files.code_fingerprint import code_fingerprint
from segkit.files.locks import computed_once, file_lock, modified_time, remove_lock
from segkit.ingest.read_cache import read_table_with_metadata, write_table_atomically
from segkit.pipeline.artifacts import card_definitions

__all__ = ["CardModel", "full_model", "page_customers", "segmented_customers", "page_cache_path", "write_page_cache",
           "VALUE_DRAW_PREFIX", "split_value_draws",
           "prepare_page_cache", "prune_page_caches", "KEEP_PAGE_CACHES"]

#: Page caches kept per saved model (a live page writes one per refresh).
KEEP_PAGE_CACHES = 6
#: Columns of a page cache holding each customer's lifetime value under the model's stored
#: parameter draws (``CLVDraw0``, ``CLVDraw1``, ...; float32): the page reads the interval of
#: any group of customers from them (``split_value_draws``).
VALUE_DRAW_PREFIX = "CLVDraw"


class CardModel:
    """The saved model in ``artifacts`` as its card states it; any other attribute
    (``segment``, ``pipeline_``, ``get_params``, ...) loads the pickled model first
    (``full_model``)."""

    def __init__(self, artifacts: str | Path, card: dict[str, Any]):
        # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
        from segkit.modeling.label import LifecycleRules

        self.artifacts, self.card_ = Path(artifacts), card
        self.features = tuple(card["features"])
        self.n_clusters = int(card["k"])
        self.segment_names_ = {int(code): str(name) for code, name in card["segments"].items()}
        self.metrics_ = dict(card.get("metrics") or {})
        self.lifecycle_rules_ = LifecycleRules(**card["lifecycle"]) if card.get("lifecycle") else None
        self.definitions_ = card_definitions(card, self.lifecycle_rules_)
        #: Lifetime-value parameters as stored (checked when the full model loads).
        self.clv_params_ = card.get("clv") or None
        #: Their stored draws, level and independence check, as stored (the page reads the level and the check).
        self.clv_uncertainty_ = card.get("clv_uncertainty") or None
        #: What customers like each segment's did next (``segkit.pipeline.backtest``), as stored.
        self.evidence_ = card.get("evidence") or None
        self._loaded = None

    def loaded(self):
        """The ``SegmentationModel`` itself, loaded once with every check of ``load_artifacts``."""
        if self._loaded is None:
            # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
            from segkit.pipeline.artifacts import load_artifacts

            model = load_artifacts(self.artifacts)
            if model.card_.get("card_sha256") != self.card_.get("card_sha256"):
                raise SegkitArtifactError("The saved model was replaced while this page was open; "
                                          "reload the page to use the new one.")
            self._loaded = model
        return self._loaded

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "_loaded":
            raise AttributeError(name)
        return getattr(self.loaded(), name)


def full_model(model):
    """``model`` itself, or the loaded ``SegmentationModel`` behind a ``CardModel``."""
    return model.loaded() if isinstance(model, CardModel) else model


def page_cache_path(fingerprint: str, card: dict[str, Any], log: str = "") -> Path | None:
    """Where the segmented customers of this data and saved model are kept (``None`` for
    a model without a card checksum, such as one trained on the page). ``log``: the log a
    live page follows (``DashboardState.live_log``), named in the file so that its page caches,
    one per refresh, are pruned among themselves and never take another page's."""
    checksum = card.get("card_sha256")
    if not checksum:
        return None

    key = hashlib.sha256(json.dumps([fingerprint, checksum, code_fingerprint()]).encode()).hexdigest()[:24]
    group = f"{_model_prefix(card)}-{hashlib.sha256(log.encode()).hexdigest()[:8]}" if log else _model_prefix(card)
    return cache_dir() / "pages" / f"{group}-{key}.parquet"


def _model_prefix(card: dict[str, Any]) -> str:
    """The start of a page cache's name: the saved model it belongs to."""
    return str(card["card_sha256"])[:16]


def segmented_customers(fingerprint: str, card: dict[str, Any],
                        compute: Callable[[], tuple[pd.DataFrame, list[str]]], log: str = ""
                        ) -> tuple[pd.DataFrame, list[str]]:
    """``(everyone, categories)`` for this data and saved model: read from the page cache,
    or ``compute()``-d and written for the next kernel. A damaged page cache is computed again.
    ``log``: the log of a live page (``page_cache_path``)."""
    path = page_cache_path(fingerprint, card, log)
    if path is None:
        return compute()

    def compute_and_write():
        everyone, categories = compute()
        write_page_cache(path, everyone, categories)  # an unwritable cache only costs the next kernel
        return everyone, categories

    return computed_once(path.with_suffix(".lock"), lambda: _read(path) if path.is_file() else None,
                         compute_and_write)


def _read(path: Path) -> tuple[pd.DataFrame, list[str]] | None:
    read = read_table_with_metadata(path)
    if read is None:
        return None
    frame, metadata = read
    try:
        categories = json.loads(metadata.get("segkit_categories", "[]"))
    except ValueError:
        return None
    return frame, [str(c) for c in categories]


def write_page_cache(path: Path, everyone: pd.DataFrame, categories: list[str]) -> None:
    """Write the page cache atomically (a reader sees the old file or the whole new one), and
    remove the same model's older page caches but the ``KEEP_PAGE_CACHES`` newest (``prune_page_caches``);
    a cache folder that cannot be written only costs the next kernel the computation."""
    write_table_atomically(everyone, path, {"segkit_categories": json.dumps(list(categories))})
    prune_page_caches(path)


def prune_page_caches(path: Path, keep: int = KEEP_PAGE_CACHES) -> list[Path]:
    """Remove the page caches of ``path``'s group but the ``keep`` newest and ``path``
    itself, under the group's lock; returns those removed. A group is a saved model's
    page caches of one live page's log (``model-log-key.parquet``), or of every other page
    (``model-key.parquet``): a live page writing one per refresh never prunes a page that
    does not follow its log. A kernel holds what it read, and one that finds its page cache
    gone computes it again (``segmented_customers``)."""
    parts = path.stem.split("-")
    if len(parts) < 2 or not path.parent.is_dir():
        return []
    group = "-".join(parts[:-1])
    removed = []
    with file_lock(path.parent / f"{group}.prune.lock"):
        found = sorted((p for p in path.parent.glob(f"{group}-*.parquet") if len(p.stem.split("-")) == len(parts)),
                       key=modified_time, reverse=True)
        for old in [p for p in found if p != path][max(keep - 1, 0):]:
            old.unlink(missing_ok=True)
            remove_lock(old.with_suffix(".lock"))
            removed.append(old)
    return removed



def page_customers(data, model, categories: pd.Series | None = None) -> tuple[pd.DataFrame, list[str]]:
    """What the page cache holds, computed: every customer of ``data`` segmented by ``model``
    with lifetime value (and, for a model with stored parameter draws, each customer's value
    under every draw in ``VALUE_DRAW_PREFIX`` columns: ``split_value_draws`` takes them
    apart), and the product categories of the lines (``categories``: the lines' categories
    when already known)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.workflow import add_customer_value_and_draws
    from segkit.views.tables import line_categories, segment_customers

    model = full_model(model)
    lines = data.lines if data.has_lines else None
    everyone, draws = add_customer_value_and_draws(segment_customers(model, data.customers), lines, model)
    if draws is not None:
        columns = {f"{VALUE_DRAW_PREFIX}{i}": draws.iloc[:, i].to_numpy(dtype="float32") for i in range(draws.shape[1])}
        everyone = pd.concat([everyone, pd.DataFrame(columns, index=everyone.index)], axis=1)
    if categories is None:
        categories = line_categories(lines) if lines is not None else pd.Series(pd.Categorical([]))
    return everyone, [str(c) for c in categories.cat.categories]


def split_value_draws(everyone: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``everyone`` without its ``VALUE_DRAW_PREFIX`` columns, and those columns as a
    customers x draws float32 matrix in the rows' order (``None`` when there are none)."""
    columns = [c for c in everyone.columns if str(c).startswith(VALUE_DRAW_PREFIX)]
    if not columns:
        return everyone, None
    columns.sort(key=lambda c: int(str(c)[len(VALUE_DRAW_PREFIX):]))
    draws = everyone[columns].to_numpy(dtype="float32")
    return everyone.drop(columns=columns), draws


def prepare_page_cache(data, model, card: dict[str, Any]) -> Path | None:
    """Write the page cache of ``data`` and a model just saved with ``card`` (``segkit
    train``, a save from the page in analyst mode), so the next page needs no computing
    either; returns its path, or ``None`` when nothing was written: a log aggregated out of
    core (no lines), a model without a card checksum, or a cache that cannot be written
    (only the next kernel's speed is lost)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.page.data import holds_lines

    if not holds_lines(data):
        return None
    path = page_cache_path(data.fingerprint, card)
    if path is None:
        return None
    try:
        write_page_cache(path, *page_customers(data, model))
    except (OSError, ValueError):
        return None
    return path
