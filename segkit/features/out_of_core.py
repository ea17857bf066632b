"""Customer features for logs larger than memory: DuckDB over a parquet file.

``customer_features_out_of_core(path)`` reads a parquet log through DuckDB's
``read_parquet`` and never loads it into pandas: only the customer table (one row per
customer) and, on request, the cleaning report come back. The file is read into the
canonical layout here (same canonical ids as ``segkit.ingest.load``: a float CustomerID
``17850.0`` becomes ``'17850'``, text ids are trimmed, blanks are missing; the same
checks, refused in one sentence); the cleaning rules and the features are
``segkit.rules.lines``, the one definition every engine runs. The window that nets
cancellations runs only on purchases whose customer and product have a cancellation,
and DuckDB spills to ``temp_directory`` above ``memory_limit``. A log too large for one
pass (more than ``ROWS_PER_GB`` lines per GB of ``memory_limit``) is run once per bucket
of customers (a hash of the id), as a filter over the same expressions: every rule
after the outlier-date rule and every feature is per customer, so the parts add up to the
same table (``benchmarks/bench_scale.py`` measures it).

Limits: one parquet file in the UCI Online Retail (or Online Retail II) layout, with a
timestamp InvoiceDate column (a text date column needs the pandas path, which parses
many formats; time-zone-aware stamps are converted to UTC and the zone dropped, as on the
pandas path) and a UnitPrice column (not a
line amount).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from segkit.engines.base import run_rules
from segkit.engines.duckdb import DuckDBEngine
from segkit.engines.outofcore import buckets_for, canonical_lines, short_reason
from segkit.errors import SegkitDataError
from segkit.features.customers import finish_customers
from segkit.ingest.load import LOG_CURRENCY
from segkit.rules.lines import Rules
from segkit.rules.registry import with_features

__all__ = ["customer_features_out_of_core"]


def customer_features_out_of_core(
    parquet_path: str | Path,
    rules: Rules = "default",
    snapshot_date: pd.Timestamp | str | None = None,
    memory_limit: str = "3GB",
    temp_directory: str | Path | None = None,
    threads: int | None = None,
    report: list | None = None,
    window_days: int | None = None,
    extra_features: Sequence[str] = (),
) -> pd.DataFrame:
    """Clean a parquet transaction log and aggregate it per customer, out of core.

    Parameters
    ----------
    parquet_path : one parquet file in the UCI layout (see the module docstring).
    rules : ``"default"`` or ``"seed"``, as in ``segkit.clean.clean_transactions``.
    snapshot_date : reference date for Recency; default the day after the last clean
        invoice, at midnight.
    memory_limit : DuckDB's memory limit (e.g. ``"3GB"``); above it DuckDB spills.
    temp_directory : where DuckDB spills; default a fresh folder in the system temp
        folder, removed afterwards.
    threads : DuckDB threads; default all cores.
    report : a list to append the cleaning report to (``segkit.clean``'s columns), if given.
    window_days : observation window in days (``segkit.rules.lines.customer_table``); None: the whole log.
    extra_features : names of registered features (``segkit.rules.registry.register_feature``),
        computed per customer from the clean lines in chunks (``segkit.rules.registry``).

    Returns
    -------
    The customer table of ``segkit.features.customers.customer_features`` (index ``CustomerID``
    as text; ``NumPurchases``, ``TotalQuantity``, ``TotalSpend`` in currency units,
    ``Recency`` and ``Tenure`` in days, ``AvgOrderValue``, ``DistinctProducts``,
    ``Country``, ``FirstPurchase``, ``LastPurchase``).
    """
    # start-up: ibis and DuckDB load on first use, not on import (0.4 s, measured)
    import duckdb

    if rules not in ("default", "seed"):
        raise ValueError(f"rules must be 'default' or 'seed', not {rules!r}")
    path = Path(parquet_path)
    name = path.name
    if not path.is_file():
        raise SegkitDataError(f"'{path}' does not exist or is not a file; name a parquet file.")
    if path.suffix.lower() != ".parquet":
        raise SegkitDataError(
            f"'{name}' is not a parquet file; out-of-core features read parquet only "
            "(load it with segkit.ingest.load.load_transactions and save it with DataFrame.to_parquet)."
        )
    buckets_for(0, memory_limit)  # a malformed limit refused in one sentence, before DuckDB parses it
    own_temp = temp_directory is None
    spill = Path(tempfile.mkdtemp(prefix="segkit-duckdb-")) if own_temp else Path(temp_directory)
    spill.mkdir(parents=True, exist_ok=True)
    engine = DuckDBEngine(memory_limit=memory_limit, temp_directory=spill, threads=threads)
    try:
        lines, n_rows = canonical_lines(engine, path)
        out = run_rules(engine, lines, rules, report=report is not None, snapshot_date=snapshot_date,
                        buckets=buckets_for(n_rows, memory_limit), window_days=window_days,
                        extra_features=extra_features)
    except duckdb.IOException as exc:
        raise SegkitDataError(f"'{name}' is not a readable parquet file ({short_reason(exc)}); write it again.") from None
    finally:
        engine.close()
        if own_temp:
            shutil.rmtree(spill, ignore_errors=True)

    table = out["customers"]
    if table.empty:
        raise SegkitDataError(
            f"'{name}' has no usable lines after cleaning; check the customer, quantity and price columns."
        )
    if report is not None:
        if engine.currency:  # the log's one currency (engines.base.table_currency), as the loader keeps it
            out["report"].attrs[LOG_CURRENCY] = engine.currency
        report.append(out["report"])
    if extra_features:
        return with_features(finish_customers(table), out["features"], list(extra_features))
    return finish_customers(table)

