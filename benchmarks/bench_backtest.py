"""Cost of everything `segkit train` adds for the backtest (at most 15 s on the real
data), and how its intervals hold at dates it did not use.

    SEGKIT_REAL_DATA=/path/to/folder python benchmarks/bench_backtest.py [--runs 3] [--held-out]

Times, as ``segkit train`` runs them on the real parquet (K auto, the lifetime value fitted as
train fits it), each step the backtest adds to training, wall and CPU, median of ``--runs``:

- ``fit``: the lifecycle thresholds fitted on 6 cut-offs (``thresholds.choose_lifecycle``);
- ``backtest``: ``backtest_segments`` of the model trained with them (6 cut-offs, 90-day
  horizon, 200 bootstrap resamples per cut-off) and ``apply_evidence``;
- ``value``: the lifetime-value check that refits the value model before each cut-off and
  sets predicted against actual spend per segment (``value_backtest.apply_value_evidence``);
- ``total``: the three together, the figure the aim is about.

Training itself (K, clustering, the lifetime-value fit) is timed apart (``train``): segkit
train does it with or without the backtest. ``--held-out`` then prints, per held-out date,
each segment's return rate and mean spend against the stated intervals for two designs:
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

from segkit.pipeline.backtest import apply_evidence, backtest_segments, horizon_outcome, segment_at
from segkit.pipeline.thresholds import choose_lifecycle
from segkit.pipeline.value_backtest import apply_value_evidence
from segkit.pipeline.workflow import fit_customer_value, load_customer_data, train_model

STEPS = ("fit", "backtest", "value", "total", "train")


def _timed(walls: dict, cpus: dict, step: str, work):
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    walls[step].append(time.perf_counter() - wall)
    cpus[step].append(time.process_time() - cpu)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--held-out", action="store_true", help="also check the intervals at held-out dates")
    args = parser.parse_args()

    data = load_customer_data(Path(os.environ["SEGKIT_REAL_DATA"]) / "online_retail.parquet")
    walls: dict[str, list[float]] = {step: [] for step in STEPS}
    cpus: dict[str, list[float]] = {step: [] for step in STEPS}
    for _ in range(args.runs):
        # segkit train: choose the thresholds, train with them, fit the lifetime value, then
        # backtest the model, apply its evidence and check the lifetime value against it.
        choice = _timed(walls, cpus, "fit", lambda: choose_lifecycle(data))

        def train():
            model = train_model(data, k="auto", lifecycle=choice.rules)[0]
            fit_customer_value(model, data.lines, "bgnbd")
            return model

        model = _timed(walls, cpus, "train", train)

        def backtest():
            # as segkit train: the customer features the fit computed at the same cut-offs are reused
            result = backtest_segments(data.lines, model=model, window_days=data.window_days,
                                       features=choice.fit.features if choice.fit is not None else None)
            apply_evidence(model, result, renames=choice.renames)
            return result

        result = _timed(walls, cpus, "backtest", backtest)
        _timed(walls, cpus, "value", lambda: apply_value_evidence(model, result, data.lines))
        walls["total"].append(walls["fit"][-1] + walls["backtest"][-1] + walls["value"][-1])
        cpus["total"].append(cpus["fit"][-1] + cpus["backtest"][-1] + cpus["value"][-1])
    load = os.getloadavg()[0]
    print(f"real data: {len(data.customers):,} customers, {len(data.lines):,} lines, K={model.n_clusters}, "
          f"{len(result.cutoffs)} cut-offs, {result.horizon_days}-day horizon, {os.cpu_count()} cores, load {load:.1f}")
    for step in STEPS:
        print(f"{step:>9}: wall " + ", ".join(f"{t:.1f} s" for t in walls[step])
              + f" (median {statistics.median(walls[step]):.1f} s), CPU median {statistics.median(cpus[step]):.1f} s")
    print(f"aim: fit + backtest + value check at most 15 s within segkit train; "
          f"median {statistics.median(walls['total']):.1f} s")
    if not args.held_out:
        return
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
