"""Cost of the threshold fit and backtest `segkit train` runs (at most 15 s on the real
data), and how its intervals hold at dates it did not use.

    SEGKIT_REAL_DATA=/path/to/folder python benchmarks/bench_backtest.py [--runs 3]

Prints the wall and CPU time of ``choose_lifecycle`` (the thresholds fitted on 6 cut-offs) and
of ``backtest_segments`` with the model trained on them (6 cut-offs, 90-day horizon, 200
bootstrap resamples per cut-off), then, per held-out date, each
segment's return rate and mean spend against the stated intervals for two designs:
"between" (cut-offs spanning the log, held-out dates between them) and "forward"
(cut-offs from June-July only, held-out dates later in the year).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from segkit.pipeline.backtest import (
        apply_evidence,
        backtest_segments,
        horizon_outcome,
        segment_at,
    )
    from segkit.pipeline.workflow import load_customer_data, train_model

    from segkit.pipeline.thresholds import choose_lifecycle

    data = load_customer_data(Path(os.environ["SEGKIT_REAL_DATA"]) / "online_retail.parquet")
    walls: dict[str, list[float]] = {"fit": [], "backtest": [], "both": []}
    cpus: dict[str, list[float]] = {"fit": [], "backtest": [], "both": []}
    for _ in range(args.runs):
        # What segkit train adds to training: the lifecycle thresholds fitted on the backtest's
        # cut-offs (choose_lifecycle), then the backtest of the model trained with them.
        wall, cpu = time.perf_counter(), time.process_time()
        choice = choose_lifecycle(data)
        walls["fit"].append(time.perf_counter() - wall)
        cpus["fit"].append(time.process_time() - cpu)
        fitted = train_model(data, k=4, lifecycle=choice.rules)[0]
        wall, cpu = time.perf_counter(), time.process_time()
        backtest_segments(data.lines, model=fitted)
        walls["backtest"].append(time.perf_counter() - wall)
        cpus["backtest"].append(time.process_time() - cpu)
        walls["both"].append(walls["fit"][-1] + walls["backtest"][-1])
        cpus["both"].append(cpus["fit"][-1] + cpus["backtest"][-1])
    load = os.getloadavg()[0]
    for step in walls:
        print(f"{step:>8}, 6 cut-offs, {len(data.customers):,} customers: wall "
              + ", ".join(f"{t:.1f} s" for t in walls[step]) + f" (median {statistics.median(walls[step]):.1f} s), "
              f"CPU median {statistics.median(cpus[step]):.1f} s; load {load:.1f}")
    print(f"aim: fit + backtest at most 15 s within segkit train; median {statistics.median(walls['both']):.1f} s")
    designs = {"between": (dict(exclude=("2011-06-10", "2011-08-10")), ("2011-06-10", "2011-08-10")),
               "forward": (dict(cutoffs=("2011-05-30", "2011-06-13", "2011-06-27", "2011-07-11")),
                           ("2011-08-10", "2011-09-05"))}
    for design, (options, held_out) in designs.items():
        fitted = train_model(data, k=4)[0]
        apply_evidence(fitted, backtest_segments(data.lines, model=fitted, **options))
        stated = pd.DataFrame(fitted.evidence_["segments"]).T
        for day in held_out:
            segmented = segment_at(data.lines, day, fitted)
            did = horizon_outcome(data.lines, segmented.index, day, 90).groupby(segmented["Segment"].astype(str)).mean()
            stated = stated.reindex(did.index)
            inside = ((did["Returned"] >= stated["return_rate_lo"]) & (did["Returned"] <= stated["return_rate_hi"]))
            spend_inside = ((did["Spend"] >= stated["mean_spend_lo"]) & (did["Spend"] <= stated["mean_spend_hi"]))
            print(f"{design} {day}: return inside the stated interval for {int(inside.sum())} of {len(inside)} "
                  f"segments, mean spend for {int(spend_inside.sum())} of {len(spend_inside)}; outside: "
                  + (", ".join(f"{n} {100 * did.loc[n, 'Returned']:.0f} % vs {100 * stated.loc[n, 'return_rate_lo']:.0f}"
                               f"-{100 * stated.loc[n, 'return_rate_hi']:.0f} %" for n in inside.index[~inside]) or "none"))


if __name__ == "__main__":
    main()
