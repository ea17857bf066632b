"""Time the original approach against segkit, cold and warm, in one run.

original : pandas.read_excel (openpyxl) -> dropna/Quantity>0 -> groupby -> StandardScaler -> KMeans(4)
segkit cold: first load (calamine, parquet copy written) -> default cleaning -> features -> model (K=4)
segkit warm: the same with the parquet copy already there

With ``--process`` (what the README quotes) every run is a whole new Python process, as
a user pays it, imports included: the original as a script, segkit as the commands
``segkit features`` and ``segkit train --k 4 --no-clv`` (cold: empty cache; warm: cache
kept). Without it, runs are calls inside one process (imports paid once).

Prints each run, the medians and the ratios original/segkit. Usage:
    python benchmarks/bench_pipeline.py [--data PATH] [--repeats N] [--original-repeats N] [--process] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "Online Retail.xlsx"


def original_approach(path: Path) -> int:
    """What the original dashboard did, step for step."""
    df = pd.read_excel(path, engine="openpyxl")
    df = df.dropna(subset=["CustomerID"])
    df = df[df["Quantity"] > 0]
    df["TotalPrice"] = df["Quantity"] * df["UnitPrice"]
    customers = df.groupby("CustomerID").agg(
        NumPurchases=("InvoiceNo", "nunique"), TotalQuantity=("Quantity", "sum"), TotalSpend=("TotalPrice", "sum"))
    X = StandardScaler().fit_transform(customers)
    KMeans(n_clusters=4, random_state=42, n_init=10).fit(X)
    return len(customers)


def segkit_pipeline(path: Path) -> int:
    from segkit.modeling.model import SegmentationModel
    from segkit.pipeline.workflow import load_customer_data

    data = load_customer_data(path)
    SegmentationModel(n_clusters=4).fit(data.customers)
    return len(data.customers)


ORIGINAL_SCRIPT = """
import sys
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
df = pd.read_excel(sys.argv[1], engine="openpyxl")
df = df.dropna(subset=["CustomerID"])
df = df[df["Quantity"] > 0]
df["TotalPrice"] = df["Quantity"] * df["UnitPrice"]
customers = df.groupby("CustomerID").agg(
    NumPurchases=("InvoiceNo", "nunique"), TotalQuantity=("Quantity", "sum"), TotalSpend=("TotalPrice", "sum"))
KMeans(n_clusters=4, random_state=42, n_init=10).fit(StandardScaler().fit_transform(customers))
"""


def timed_process(argv: list[str], env: dict) -> float:
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:4])} failed: {done.stderr.strip()[-500:]}")
    return elapsed


def process_runs(args, cache: Path) -> dict[str, list[float]]:
    segkit = [sys.executable, "-m", "segkit.cli"]
    out = tempfile.mkdtemp(prefix="segkit-bench-out-")
    env = {**os.environ, "SEGKIT_CACHE": str(cache), "SEGKIT_CLV": "0", "SEGKIT_ARTIFACTS": out + "/artifacts"}
    features = segkit + ["features", "--data", str(args.data), "--out", out + "/features.csv"]
    train = segkit + ["train", "--data", str(args.data), "--k", "4", "--no-clv"]
    times: dict[str, list[float]] = {"original": [], "segkit features cold": [], "segkit features warm": [],
                                     "segkit train warm": []}
    for i in range(max(args.repeats, args.original_repeats)):
        if i < args.original_repeats:
            times["original"].append(timed_process([sys.executable, "-c", ORIGINAL_SCRIPT, str(args.data)], env))
            print(f"original process run {i + 1}: {times['original'][-1]:8.2f} s", flush=True)
        if i < args.repeats:
            shutil.rmtree(cache, ignore_errors=True)
            times["segkit features cold"].append(timed_process(features, env))
            times["segkit features warm"].append(timed_process(features, env))
            times["segkit train warm"].append(timed_process(train, env))
            print(f"segkit features cold run {i + 1}: {times['segkit features cold'][-1]:6.2f} s   warm: "
                  f"{times['segkit features warm'][-1]:6.3f} s   train warm: {times['segkit train warm'][-1]:6.3f} s",
                  flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return times


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SEGKIT_BENCH_DATA", DEFAULT_DATA)))
    parser.add_argument("--repeats", type=int, default=5, help="runs of each segkit variant")
    parser.add_argument("--original-repeats", type=int, default=3, help="runs of the original approach (~1 min each)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--process", action="store_true", help="time whole processes (imports included)")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"bench: {args.data} does not exist; pass --data with the Online Retail workbook.", file=sys.stderr)
        return 2

    cache = Path(tempfile.mkdtemp(prefix="segkit-bench-cache-"))
    os.environ["SEGKIT_CACHE"] = str(cache)
    if args.process:
        try:
            times = process_runs(args, cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        return report(args, times)
    segkit_pipeline(args.data)  # import and warm up code paths, not the cache
    times = {"original": [], "segkit cold": [], "segkit warm": []}
    try:
        for i in range(max(args.repeats, args.original_repeats)):
            if i < args.original_repeats:
                times["original"].append(timed(original_approach, args.data))
                print(f"original    run {i + 1}: {times['original'][-1]:8.2f} s", flush=True)
            if i < args.repeats:
                shutil.rmtree(cache, ignore_errors=True)
                times["segkit cold"].append(timed(segkit_pipeline, args.data))
                times["segkit warm"].append(timed(segkit_pipeline, args.data))
                print(f"segkit cold run {i + 1}: {times['segkit cold'][-1]:8.2f} s   "
                      f"warm: {times['segkit warm'][-1]:6.3f} s", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return report(args, times)


def report(args, times: dict[str, list[float]]) -> int:
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nmedians on {args.data.name} ({os.cpu_count()} cores):")
    for name, value in medians.items():
        ratio = medians["original"] / value
        print(f"  {name:22s} {value:8.3f} s   original/this = {ratio:7.1f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": str(args.data), "runs": times, "medians": medians,
                                         "ratios": {k: medians["original"] / v for k, v in medians.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
