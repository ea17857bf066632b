"""The data a dashboard page shows: ``load_dashboard_data``.

A page-cache loader (customers with features and segments prepared once, shared by every
kernel) would be one more function here returning a ``CustomerData``: the state and the
panels only read ``data.customers``, ``data.lines`` (``None`` when not held),
``data.period``, ``data.source``, ``data.is_sample`` and ``data.training_info()``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from segkit.config import default_data_path, is_database_url
from segkit.errors import SegkitError
from segkit.ingest.read_cache import keyed_cache_path
from segkit.pipeline.workflow import (
    CachedCustomerData,
    CustomerData,
    card_rules,
    load_customer_data,
    parquet_line_count,
)
from segkit.rules.registry import REGISTERED_FEATURES
from segkit.schema import OUT_OF_CORE_LINES

__all__ = ["OutOfCoreData", "load_dashboard_data", "holds_lines", "large_log_date_ranges", "LARGE_LOG_ENV", "DEFAULT_LARGE_LOG_LINES"]

#: Parquet logs with more lines than this (default 3,000,000) are aggregated out of core
#: with DuckDB; the page then holds customers only, and its date and category filters are
#: computed by DuckDB over the file (``large_log.LargeLogDateRanges``).
LARGE_LOG_ENV = "SEGKIT_LARGE_LOG_LINES"
DEFAULT_LARGE_LOG_LINES = OUT_OF_CORE_LINES


class OutOfCoreData(CustomerData):
    """``CustomerData`` of a log too large for memory: customers only (features from
    ``outofcore.customer_features_out_of_core``), no lines; ``n_lines`` is the file's,
    ``path`` the file and ``cache_name`` the name keying its cache files (its content)."""

    n_lines: int = 0
    path: Path | None = None
    cache_name: str = ""

    @property
    def has_lines(self) -> bool:
        return False

    def training_info(self) -> dict:
        info = super().training_info()
        info["lines"] = self.n_lines
        return info


def holds_lines(data: CustomerData) -> bool:
    """True when ``data`` holds its clean lines (the date and category filters read them).

    False for a log aggregated out of core, whether by the dashboard (``OutOfCoreData``)
    or by ``load_customer_data(..., engine="duckdb")`` (``lines`` is ``None``)."""
    return data.has_lines and not isinstance(data, OutOfCoreData)


def large_log_date_ranges(data: CustomerData):
    """``large_log.LargeLogDateRanges`` of a log aggregated out of core by the dashboard (its
    date and category filters, computed by DuckDB over the file); ``None`` for other data."""
    if not isinstance(data, OutOfCoreData) or data.path is None:
        return None
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.page.large_log import LargeLogDateRanges

    return LargeLogDateRanges(data.path, data.cache_name, data.period, data.n_lines, data.rules)


def line_count(data: CustomerData) -> int | None:
    """Lines of the log: the clean lines held, or the file's for an out-of-core log."""
    if isinstance(data, OutOfCoreData):
        return data.n_lines
    return data.line_count


def _large_log_lines() -> int:
    text = os.environ.get(LARGE_LOG_ENV, "").strip()
    return int(float(text)) if text else DEFAULT_LARGE_LOG_LINES


def saved_model_options(artifacts: Path | None) -> dict:
    """How the saved model's features were computed (cleaning rules, observation window,
    registered features), read from its card alone (no pickle, no scikit-learn), so the page computes
    the customers' features the same way; ``{}`` without a readable saved model."""
    if artifacts is None:
        return {}
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.artifacts import read_model_card

    try:
        card = read_model_card(artifacts)
    except SegkitError:
        return {}
    options = {"rules": card_rules(card)}
    window = (card.get("training_data") or {}).get("window_days")
    if isinstance(window, int) and window > 0:
        options["window_days"] = window
    extra = [f for f in card.get("features", []) if f in REGISTERED_FEATURES]
    if extra:
        options["extra_features"] = extra
    return options


def load_dashboard_data(data: CustomerData | str | Path | pd.DataFrame | None = None,
                        artifacts: Path | None = None) -> CustomerData:
    """The dashboard's data: ``load_customer_data(data)`` with the saved model's observation
    window and registered features (``saved_model_options``); a database URL
    (``SEGKIT_DATA=postgresql://.../shop?table=orders``) runs the rules inside the database
    and brings the clean lines back for the filters; except for a parquet log of
    more than ``$SEGKIT_LARGE_LOG_LINES`` lines (default 3M), aggregated out of core with
    DuckDB into an ``OutOfCoreData`` (with the same window and features). Its customer
    table is cached in the segkit cache folder (keyed by the file's content and those
    options), so a server restart does not redo it."""
    if isinstance(data, CustomerData):
        return data
    path = default_data_path() if data is None else data
    options = saved_model_options(artifacts)
    if isinstance(path, (str, Path)) and Path(path).suffix.lower() == ".parquet" and Path(path).is_file():
        n_lines = parquet_line_count(Path(path))
        if n_lines > _large_log_lines():
            return _out_of_core_data(Path(path), n_lines, options)
    loaded = load_customer_data(data, **options)
    if type(loaded) is CustomerData and isinstance(path, (str, Path)) and not is_database_url(path):
        # Computed just now (the first kernel on this file): take the cached table instead,
        # so this kernel does not keep the lines either until a filter needs them.
        cached = load_customer_data(data, **options)
        if isinstance(cached, CachedCustomerData):
            return cached
    return loaded


def _out_of_core_data(path: Path, n_lines: int, options: dict | None = None) -> OutOfCoreData:
    """The customers of a large parquet log, out of core, with the saved model's observation
    window and registered features (``options``, from ``saved_model_options``)."""
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    from segkit.features.out_of_core import customer_features_out_of_core

    options = options or {}
    # Keyed like the loader's parquet copies (the file's content) and the options.
    keyed = keyed_cache_path(path, "customers, out of core", sorted(options.items()))
    cached = keyed.with_name(f"customers-{keyed.name}")
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="segkit-duckdb-", dir=cached.parent) as spill:
            customers = customer_features_out_of_core(path, temp_directory=Path(spill) / "spill", **options)
        partial = cached.with_name(cached.name + f".{os.getpid()}.partial")
        customers.to_parquet(partial)
        os.replace(partial, cached)
    # Always the cached copy, so every process sees the same table (and fingerprint).
    customers = pd.read_parquet(cached)
    empty = pd.DataFrame({"InvoiceDate": pd.Series(dtype="datetime64[ns]")})
    data = OutOfCoreData(path.name, False, options.get("rules", "default"), empty, empty, pd.DataFrame(), customers,
                         window_days=options.get("window_days"))
    data.n_lines, data.path, data.cache_name = n_lines, path, keyed.stem
    return data
