"""The real data for the benchmarks that serve the page on it (``bench_page_floor.py``,
``bench_sessions.py``, ``bench_ten_visitors.py``): its folder as the first argument, and the
model trained and saved as ``make run`` does before it serves."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_folder_argument(parser: argparse.ArgumentParser) -> None:
    """The optional first argument: the folder holding ``online_retail.parquet``
    (default ``SEGKIT_REAL_DATA``, else ``../shared/data`` beside the project)."""
    parser.add_argument("folder", nargs="?", default=os.environ.get("SEGKIT_REAL_DATA", str(ROOT.parent / "shared" / "data")),
                        help="the folder holding the real data's online_retail.parquet")


def real_parquet(folder: str | Path) -> Path:
    """``online_retail.parquet`` in ``folder``, or the benchmark stops saying what to pass."""
    parquet = Path(folder) / "online_retail.parquet"
    if not parquet.is_file():
        raise SystemExit(f"{parquet} is missing; pass the folder holding the real data's parquet copy.")
    return parquet


def train_and_save(parquet: Path, artifacts: Path):
    """The customer data of ``parquet`` and a model trained on it, saved to ``artifacts``."""
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    data = load_customer_data(parquet)
    model, _ = train_model(data, "auto")
    save_artifacts(model, artifacts, data.training_info())
    return data, model
