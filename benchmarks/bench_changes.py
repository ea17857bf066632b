"""Cost of "what changed" on the real data: the customer tables at the 13 month
ends, the monthly sizes with the model's scoring, and the moves of the last 7 and 30 days.

    SEGKIT_REAL_DATA=/path/to/folder python benchmarks/bench_changes.py [--runs 2]

Trains the model the page trains (``train_model(data, "auto")``), then times each step
``--runs`` times (the first run includes warm-up).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from segkit.features.customers import customer_features_as_of
    from segkit.pipeline.workflow import load_customer_data, scoring_window, train_model
    from segkit.value.segment_history import month_ends, monthly_segment_sizes, recent_moves
    from segkit.views.tables import segment_customers

    folder = Path(os.environ.get("SEGKIT_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    data = load_customer_data(folder / "online_retail.parquet")
    model, _ = train_model(data, "auto")
    window = scoring_window(model)[0]
    segment_of = lambda customers: segment_customers(model, customers)["Segment"]  # noqa: E731
    print(f"{len(data.lines):,} clean lines, {len(data.customers):,} customers, model window: {window or 'whole log'}")
    ends = month_ends(data.lines)["AsOf"]
    for run in range(args.runs):
        start = time.perf_counter()
        customer_features_as_of(data.lines, ends)
        tables = time.perf_counter() - start
        start = time.perf_counter()
        monthly_segment_sizes(segment_of, data.lines, window)
        sizes = time.perf_counter() - start
        moves = {}
        for days in (7, 30):
            start = time.perf_counter()
            moved = recent_moves(segment_of, data.lines, days, window)
            moves[days] = (time.perf_counter() - start, len(moved), moved.attrs["known"])
        print(f"run {run + 1}: {len(ends)} month-end tables {tables:.2f} s; sizes with scoring {sizes:.2f} s; "
              + "; ".join(f"moves {d} days {t:.2f} s ({n:,} of {k:,} moved)" for d, (t, n, k) in moves.items())
              + f"; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
