"""What per-segment lifetime value intervals cost the page, on the real data.

The page keeps every customer's lifetime value under each of the model's stored parameter
draws (customers x draws, float32, in the page cache as ``CLVDraw*`` columns) and reads the
interval of any group it shows from them: each draw summed over the group, then the 5th and
95th percentiles. Measured here, after one ``segkit train``-like fit with lifetime value (not
timed as part of the page):

- preparing the page data (``page_cache.page_customers``: segment, value, draws) and the
  snapshot file's size, written and read back, with and without the draw columns;
- per view: the segment summary with and without intervals, and the total's interval, for
  everyone, one country and one segment;
- the intervals themselves: every segment's and the total's, beside the sum of the
  customers' own bounds (what a group's interval is not).

Usage (a few minutes on 2 cores; most of it is the fit):
    python benchmarks/bench_value_intervals.py [--data PATH] [--repeat 5] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from segkit.page.page_cache import (
    _read,
    page_customers,
    split_value_draws,
    write_snapshot,
)
from segkit.pipeline.workflow import load_customer_data, train_model
from segkit.value.clv import total_value_interval
from segkit.views.tables import Filters, filter_mask, segment_summary

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "online_retail.parquet"


def best_of(repeat: int, work) -> float:
    """The fastest of ``repeat`` runs of ``work()``, in seconds (shared CPUs: the minimum is the cost)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    data = load_customer_data(args.data)
    started = time.perf_counter()
    model, _ = train_model(data, "auto", clv=True)
    fit_seconds = time.perf_counter() - started
    draws_stored = len(model.clv_uncertainty_["draws"])
    print(f"{data.source}: {len(data.customers):,} customers; model with lifetime value and {draws_stored} "
          f"draws fitted in {fit_seconds:.0f} s (segkit train's cost, once)")

    prepared = best_of(max(1, args.repeat // 2), lambda: page_customers(data, model))
    everyone_with_draws, categories = page_customers(data, model)
    everyone, draws = split_value_draws(everyone_with_draws)
    report = {"customers": len(everyone), "draws": draws_stored, "fit_seconds": round(fit_seconds, 1),
              "prepare_seconds": round(prepared, 3)}
    with tempfile.TemporaryDirectory() as folder:
        for name, frame in (("with_draws", everyone_with_draws), ("without_draws", everyone)):
            path = Path(folder) / f"{name}.parquet"
            write = best_of(args.repeat, lambda path=path, frame=frame: write_snapshot(path, frame, categories))
            read = best_of(args.repeat, lambda path=path: _read(path))
            report[f"snapshot_{name}"] = {"bytes": path.stat().st_size, "write_seconds": round(write, 4),
                                          "read_seconds": round(read, 4)}
    report["split_seconds"] = round(best_of(args.repeat, lambda: split_value_draws(everyone_with_draws)), 4)
    report["draws_megabytes_in_memory"] = round(draws.nbytes / 1e6, 2)

    views = {"everyone": Filters(), "United Kingdom": Filters(country="United Kingdom"),
             "France": Filters(country="France"),
             "segment " + str(everyone["Segment"].iloc[0]): Filters(segments=(str(everyone["Segment"].iloc[0]),))}
    report["views"] = {}
    for name, filters in views.items():
        mask = filter_mask(everyone, filters)
        shown = everyone[mask]
        plain = best_of(args.repeat, lambda shown=shown: segment_summary(shown))
        ranged = best_of(args.repeat, lambda shown=shown, mask=mask: segment_summary(shown, draws[mask]))
        total = best_of(args.repeat, lambda mask=mask: total_value_interval(draws[mask]))
        report["views"][name] = {"customers": int(mask.sum()), "summary_seconds": round(plain, 4),
                                 "summary_with_intervals_seconds": round(ranged, 4),
                                 "total_interval_seconds": round(total, 4)}

    summary = segment_summary(everyone, draws).set_index("Segment")
    summed = everyone.groupby("Segment")[["CLVLow", "CLVHigh"]].sum()
    low, high = total_value_interval(draws)
    report["intervals"] = {
        "total": {"CLV": round(float(everyone["CLV"].sum())), "low": round(low), "high": round(high),
                  "sum_of_customer_lows": round(float(everyone["CLVLow"].sum())),
                  "sum_of_customer_highs": round(float(everyone["CLVHigh"].sum()))},
        "segments": {name: {"CLV": round(float(row.SumCLV)), "low": round(float(row.SumCLVLow)),
                            "high": round(float(row.SumCLVHigh)),
                            "sum_of_customer_lows": round(float(summed.loc[name, "CLVLow"])),
                            "sum_of_customer_highs": round(float(summed.loc[name, "CLVHigh"]))}
                     for name, row in summary.iterrows()},
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
