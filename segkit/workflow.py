"""The whole path in two calls, shared by the CLI, the notebooks and the dashboard.

``load_customer_data``: file (or the built-in sample) -> clean lines -> customer features.
``train_model``: customer features -> chosen K -> fitted, named ``SegmentationModel``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .artifacts import data_fingerprint
from .clean import clean_transactions
from .config import default_data_path
from .features import customer_features
from .load import load_transactions, standardise_columns
from .model import FEATURE_PRESETS, SegmentationModel, evaluate_k, recommend_k
from .sample import SAMPLE_LABEL, generate_sample_transactions

__all__ = ["CustomerData", "load_customer_data", "train_model", "model_fits_data", "customers_for_scoring", "parquet_line_count"]


@dataclass
class CustomerData:
    """Everything derived from one transaction log.

    Out of core (``engine="duckdb"``) only ``customers`` is held: ``transactions``,
    ``lines`` and ``report`` are ``None``.
    """

    source: str
    is_sample: bool
    rules: str
    transactions: pd.DataFrame | None = field(repr=False)
    lines: pd.DataFrame | None = field(repr=False)
    report: pd.DataFrame | None = field(repr=False)
    customers: pd.DataFrame = field(repr=False)

    @property
    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last purchase in the clean data."""
        return self.customers["FirstPurchase"].min(), self.customers["LastPurchase"].max()

    @property
    def fingerprint(self) -> str:
        return data_fingerprint(self.customers)

    def training_info(self) -> dict[str, Any]:
        """What ``model.json`` records about the training data."""
        start, end = self.period
        return {
            "source": self.source, "is_sample": self.is_sample, "rules": self.rules,
            "fingerprint": self.fingerprint, "customers": len(self.customers),
            "lines": None if self.lines is None else len(self.lines),
            "period": [start.isoformat(), end.isoformat()],
        }


def load_customer_data(
    data: str | Path | pd.DataFrame | None = None,
    columns: Mapping[str, str] | None = None,
    rules: str = "default",
    sheet: str | int | None = None,
    snapshot_date: pd.Timestamp | str | None = None,
    engine: str = "pandas",
) -> CustomerData:
    """Load, clean and aggregate a log; ``data=None`` uses ``default_data_path()``,
    and when that is empty too, the built-in sample.

    ``engine``: ``"pandas"`` (everything in memory), ``"duckdb"`` (parquet files, out of
    core: only the customer table is held), or ``"auto"`` (DuckDB for parquet files of
    more than ``OUT_OF_CORE_ROWS`` lines).
    """
    if data is None:
        data = default_data_path()
    if engine not in ("pandas", "duckdb", "auto"):
        raise ValueError(f"engine must be 'pandas', 'duckdb' or 'auto', not {engine!r}")
    if engine != "pandas" and isinstance(data, (str, Path)) and _wants_out_of_core(Path(data), engine, columns):
        from .outofcore import customer_features_out_of_core

        customers = customer_features_out_of_core(data, rules=rules, snapshot_date=snapshot_date)
        return CustomerData(Path(data).name, False, rules, None, None, None, customers)
    if data is None:
        transactions = standardise_columns(generate_sample_transactions(), source="built-in sample")
        source, is_sample = SAMPLE_LABEL, True
    elif isinstance(data, pd.DataFrame):
        transactions = standardise_columns(data, columns, source="the data frame")
        source, is_sample = "data frame", False
    else:
        transactions = load_transactions(data, columns=columns, sheet=sheet)
        source, is_sample = Path(data).name, False
    lines, report = clean_transactions(transactions, rules=rules)
    if lines.empty:
        from .errors import SegkitDataError

        raise SegkitDataError(
            f"'{source}' has no usable lines after cleaning (all {len(transactions):,} were removed: "
            f"{_biggest_removal(report)}); check the customer, quantity and price columns."
        )
    customers = customer_features(lines, snapshot_date=snapshot_date)
    return CustomerData(source, is_sample, rules, transactions, lines, report, customers)


#: Above this many lines a parquet log goes through DuckDB with ``engine="auto"``
#: (10M lines: pandas 29 s and 5.3 GB peak, DuckDB 15 s and 1.8 GB; benchmarks/bench_scale.py).
OUT_OF_CORE_ROWS = 5_000_000


def _wants_out_of_core(path: Path, engine: str, columns) -> bool:
    from .errors import SegkitDataError

    if path.suffix.lower() != ".parquet":
        if engine == "duckdb":
            raise SegkitDataError(
                f"'{path.name}' is not a parquet file; the out-of-core engine reads parquet only: "
                "convert it (segkit.load.load_transactions(...).to_parquet(...)) or use --engine pandas."
            )
        return False
    if columns:
        if engine == "duckdb":
            raise SegkitDataError("The out-of-core engine reads the UCI layouts only; drop --columns or use --engine pandas.")
        return False
    return engine == "duckdb" or parquet_line_count(path) > OUT_OF_CORE_ROWS


def parquet_line_count(path: Path) -> int:
    """Lines in a parquet file from its metadata; 0 when unreadable (the loader then
    gives its one-sentence reason)."""
    try:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        return 0


def _biggest_removal(report: pd.DataFrame) -> str:
    row = report.iloc[1:].sort_values("rows_removed", ascending=False).iloc[0]
    return f"{int(row['rows_removed']):,} by the rule '{row['rule']}'"


def train_model(
    data: CustomerData | pd.DataFrame,
    k: int | str = "auto",
    preset: str = "default",
    random_state: int = 42,
    k_values=None,
    progress: bool = False,
) -> tuple[SegmentationModel, pd.DataFrame | None]:
    """Fit a model; with ``k="auto"`` the K from ``recommend_k`` over ``k_values``
    (default 2..10, or 2..6 value tiers for presets with lifecycle rules, where
    ``recommend_k`` then chooses at most the preset's ``max_k``).

    Returns the fitted model and the ``evaluate_k`` table (``None`` when K was given).
    """
    customers = data.customers if isinstance(data, CustomerData) else data
    spec = FEATURE_PRESETS[preset]
    table = None
    if k == "auto":
        if k_values is None:
            k_values = range(2, 7) if spec.lifecycle is not None else range(2, 11)
        table = evaluate_k(customers, k_values, spec.features, spec.log_transform,
                           random_state=random_state, progress=progress, lifecycle=spec.lifecycle)
        k = recommend_k(table, max_k=spec.max_k)
    model = SegmentationModel.from_preset(preset, n_clusters=int(k), random_state=random_state).fit(customers)
    return model, table


def model_fits_data(card: Mapping[str, Any], data: CustomerData) -> bool:
    """True when a model card was trained on exactly this customer table."""
    return card.get("training_data", {}).get("fingerprint") == data.fingerprint


def customers_for_scoring(
    data: str | Path,
    model: SegmentationModel,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    rules: str = "default",
    engine: str = "pandas",
) -> pd.DataFrame:
    """Customer table to score from a file of transactions *or* of customers.

    A file that already has a ``CustomerID`` column and every feature the model uses
    (and no invoice dates) is taken as a customer table; anything else is read as a
    transaction log, cleaned and aggregated.
    """
    from .errors import SegkitDataError
    from .load import _as_numbers, _read_raw

    path = Path(data)
    if path.exists() and path.is_file() and path.stat().st_size > 0 and path.suffix.lower() in (".csv", ".xlsx", ".xlsm", ".parquet"):
        raw = _read_raw(path, sheet)
        raw = raw.rename(columns=lambda c: str(c).strip())
        looks_like_customers = all(f in raw.columns for f in model.features) and "InvoiceDate" not in raw.columns
        if looks_like_customers:
            id_column = (columns or {}).get("customer", "CustomerID")
            if id_column not in raw.columns:
                raise SegkitDataError(
                    f"'{path.name}' looks like a customer table but has no '{id_column}' column; add one or pass --columns customer=<name>."
                )
            if raw.empty:
                raise SegkitDataError(f"'{path.name}' has a header but no customers; export it again.")
            table = raw.copy()
            for feature in model.features:
                table[feature] = _as_numbers(table[feature], feature, path.name)
            table[id_column] = table[id_column].astype("string")
            return table.set_index(id_column).rename_axis("CustomerID")
    return load_customer_data(path, columns, rules, sheet, engine=engine).customers
