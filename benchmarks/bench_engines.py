"""Engines benchmark: the same customer table from a generated log on DuckDB and Spark,
against a plain pandas baseline, in one run.

Per log (``benchmarks/make_large_logs.py`` writes them; default 20M lines):

- ``pandas``: the baseline of issue 11: ``pandas.read_parquet`` of the file, then the
  seed rules (drop missing CustomerID, Quantity <= 0) and a per-customer groupby;
- ``duckdb``: ``segkit.features.out_of_core.customer_features_out_of_core`` (default rules, the
  whole of ``segkit.rules.lines``: checks, date window, netting, duplicates, features);
- ``spark``: ``segkit.engines.spark.SparkEngine`` on ``local[2]`` running the same rules on the
  file (session start timed apart);
- ``duckdb-before`` (with ``--before DIR``): the DuckDB run with the ``segkit`` package
  found in DIR (e.g. ``git archive main segkit | tar -x -C DIR``), to compare code
  versions in one run.

Each run is a fresh child process; its peak memory is the largest resident set of the
process and its children (the Spark JVM included), sampled every 0.2 s. Prints medians
and their ratio to the pandas median of the same run, and writes JSON. Usage:
    nice -n 10 python benchmarks/bench_engines.py [--sizes 20M] [--repeats 3] [--spark-repeats 1]
        [--memory-limit 1.5GB] [--before DIR] [--json benchmarks/results/engines.json]   (--spark-repeats 0: no Spark)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_large_logs import DEFAULT_FOLDER, log_path, parse_size  # noqa: E402

GB = 1e9


def child(mode: str, path: str, memory_limit: str, code: str = "") -> dict:
    if code:  # another version of segkit, found first
        sys.path.insert(0, code)
    start = time.perf_counter()
    if mode == "pandas":
        import pandas as pd

        lines = pd.read_parquet(path)
        lines = lines[lines["CustomerID"].notna() & (lines["Quantity"] > 0)]
        lines = lines.assign(TotalPrice=lines["Quantity"] * lines["UnitPrice"])
        table = lines.groupby("CustomerID").agg(
            NumPurchases=("InvoiceNo", "nunique"), TotalQuantity=("Quantity", "sum"),
            TotalSpend=("TotalPrice", "sum"), FirstPurchase=("InvoiceDate", "min"),
            LastPurchase=("InvoiceDate", "max"), DistinctProducts=("StockCode", "nunique"))
        return {"seconds": time.perf_counter() - start, "customers": len(table)}
    if mode in ("duckdb", "duckdb-before"):
        from segkit.features.out_of_core import customer_features_out_of_core

        table = customer_features_out_of_core(path, memory_limit=memory_limit, threads=2)
        return {"seconds": time.perf_counter() - start, "customers": len(table)}
    from segkit.engines.base import run_rules
    from segkit.engines.spark import SparkEngine

    engine = SparkEngine(master="local[2]")
    session = time.perf_counter() - start
    start = time.perf_counter()
    out = run_rules(engine, engine.lines(path), "default", report=False)
    return {"seconds": time.perf_counter() - start, "session_seconds": session, "customers": len(out["customers"])}


def measure(mode: str, path: Path, memory_limit: str, code: str = "") -> dict:
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(path), memory_limit, code],
                            stdout=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    result = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 else {"failed": proc.returncode}
    result["peak_gb"] = peak[0] / GB
    result["load_after"] = round(os.getloadavg()[0], 2)  # 1-minute load average as the run ends
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:])), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["20M"])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spark-repeats", type=int, default=1, help="0 leaves Spark out")
    parser.add_argument("--memory-limit", default="1.5GB")
    parser.add_argument("--before", default="", help="a folder holding another segkit package: timed as duckdb-before")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "engines.json")
    args = parser.parse_args()
    results = {}
    for size in map(parse_size, args.sizes):
        path = log_path(args.folder, size)
        if not path.exists():
            print(f"{path} is missing: python benchmarks/make_large_logs.py {size}", file=sys.stderr)
            return 1
        runs: dict[str, list] = {}
        modes = ["pandas", "duckdb"] + (["duckdb-before"] if args.before else [])
        for _ in range(args.repeats):  # rounds: each engine once per round, so load changes hit all alike
            for mode in modes:
                code = str(Path(args.before).resolve()) if mode == "duckdb-before" else ""
                runs.setdefault(mode, []).append(measure(mode, path, args.memory_limit, code))
                print(mode, json.dumps(runs[mode][-1]), flush=True)
        for _ in range(args.spark_repeats):  # Spark with --spark-repeats 0 is left out
            runs.setdefault("spark", []).append(measure("spark", path, args.memory_limit))
            print("spark", json.dumps(runs["spark"][-1]), flush=True)
        base = statistics.median(r["seconds"] for r in runs["pandas"] if "seconds" in r)
        summary = {}
        for mode, items in runs.items():
            ok = [r for r in items if "seconds" in r]
            if not ok:
                summary[mode] = {"failed": items}
                continue
            median = statistics.median(r["seconds"] for r in ok)
            summary[mode] = {"runs": items, "median_seconds": median, "pandas_over_this": base / median,
                             "max_peak_gb": max(r["peak_gb"] for r in ok), "customers": ok[0]["customers"]}
            print(f"{size:,} lines  {mode:7s} median {median:7.1f} s  pandas/this {base / median:5.2f}x  "
                  f"peak {summary[mode]['max_peak_gb']:.2f} GB  customers {ok[0]['customers']:,}", flush=True)
        summary["load_average"] = os.getloadavg()
        results[size] = summary
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
