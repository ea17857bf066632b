"""Engines benchmark: the same customer table from a generated log on DuckDB and Spark,
against a plain pandas baseline, in one run.

Per log (``benchmarks/make_large_logs.py`` writes them; default 20M lines; ``--real-data DIR``
adds the real data, ``DIR/online_retail.parquet``):

- ``pandas``: the baseline: ``pandas.read_parquet`` of the file, then the
  seed rules (drop missing CustomerID, Quantity <= 0) and a per-customer groupby;
- ``duckdb``: ``segkit.features.out_of_core.customer_features_out_of_core`` (default rules, the
  whole of ``segkit.rules.lines``: checks, date window, netting, duplicates, features, report);
- ``spark``: ``segkit.engines.spark.SparkEngine`` on ``local[2]`` running the same rules on the
  file, report included (session start timed apart: ``seconds`` without it,
  ``total_seconds`` with it);
- ``duckdb-before`` (with ``--before DIR``): the DuckDB run with the ``segkit`` package
  found in DIR (e.g. ``git archive main segkit | tar -x -C DIR``), to compare code
  versions in one run; ``spark-before`` likewise with ``--spark-before``.

Each run is a fresh child process; its peak memory is the largest resident set of the
process and its children (the Spark JVM included), sampled every 0.2 s, and ``cpu_seconds``
the CPU time of the process and its children (steadier than wall time on a shared
machine). DuckDB and Spark tables are compared (``same_as_duckdb``: a digest of the customer
table). Prints medians and their ratio to the pandas and DuckDB medians of the same run,
with the load average, and writes JSON. Usage:
    nice -n 10 python benchmarks/bench_engines.py [--sizes 20M] [--repeats 3] [--spark-repeats 1]
        [--real-data /work/shared/data] [--memory-limit 1.5GB] [--before DIR] [--spark-before]
        [--json benchmarks/results/engines.json]   (--spark-repeats 0: no Spark)
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


def digest(customers) -> str:
    """A digest of a customer table (values, index and column names), to compare engines."""
    import hashlib

    import pandas as pd

    table = customers.sort_index()
    values = pd.util.hash_pandas_object(table.reset_index(), index=False).to_numpy()
    return hashlib.sha256(values.tobytes() + repr(list(table.columns)).encode()).hexdigest()[:16]


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
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "total_seconds": seconds, "customers": len(table)}
    if mode in ("duckdb", "duckdb-before"):
        from segkit.features.out_of_core import customer_features_out_of_core

        table = customer_features_out_of_core(path, memory_limit=memory_limit, threads=2, report=[])
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "total_seconds": seconds, "customers": len(table), "digest": digest(table)}
    from segkit.engines.base import run_rules
    from segkit.engines.spark import SparkEngine
    from segkit.features.customers import finish_customers

    engine = SparkEngine(master="local[2]")
    session = time.perf_counter() - start
    start = time.perf_counter()
    out = run_rules(engine, engine.lines(path), "default", report=True)
    table = finish_customers(out["customers"])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "session_seconds": session, "total_seconds": session + seconds,
            "customers": len(table), "digest": digest(table)}


def measure(mode: str, path: Path, memory_limit: str, code: str = "") -> dict:
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(path), memory_limit, code],
                            stdout=subprocess.PIPE, text=True)
    peak = [0]
    cpu: dict[int, float] = {}  # the last CPU time seen of each process of the tree

    def sample():
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [parent] + parent.children(recursive=True)
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
                for p in tree:
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    result = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 else {"failed": proc.returncode}
    result["peak_gb"] = peak[0] / GB
    result["cpu_seconds"] = round(sum(cpu.values()), 1)  # up to the last sample (0.2 s before the end)
    result["load_after"] = round(os.getloadavg()[0], 2)  # 1-minute load average as the run ends
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:])), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", default=["20M"], help="generated logs (none: --real-data only)")
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spark-repeats", type=int, default=1, help="0 leaves Spark out")
    parser.add_argument("--memory-limit", default="1.5GB")
    parser.add_argument("--before", default="", help="a folder holding another segkit package: timed as duckdb-before")
    parser.add_argument("--real-data", type=Path, default=None,
                        help="a folder holding online_retail.parquet: timed after the generated logs")
    parser.add_argument("--spark-before", default="", help="a folder holding another segkit package: timed as "
                        "spark-before, alternating with spark")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "engines.json")
    args = parser.parse_args()
    results = {}
    logs = [(f"{size:,} lines", log_path(args.folder, size)) for size in map(parse_size, args.sizes)]
    if args.real_data:
        logs.append(("real data", args.real_data / "online_retail.parquet"))
    for label, path in logs:
        if not path.exists():
            print(f"{path} is missing: python benchmarks/make_large_logs.py SIZE", file=sys.stderr)
            return 1
        runs: dict[str, list] = {}
        modes = ["pandas", "duckdb"] + (["duckdb-before"] if args.before else [])
        for _ in range(args.repeats):  # rounds: each engine once per round, so load changes hit all alike
            for mode in modes:
                code = str(Path(args.before).resolve()) if mode == "duckdb-before" else ""
                runs.setdefault(mode, []).append(measure(mode, path, args.memory_limit, code))
                print(label, mode, json.dumps(runs[mode][-1]), flush=True)
        spark_modes = ["spark"] + (["spark-before"] if args.spark_before else [])
        for _ in range(args.spark_repeats):  # Spark with --spark-repeats 0 is left out
            for mode in spark_modes:
                code = str(Path(args.spark_before).resolve()) if mode == "spark-before" else ""
                runs.setdefault(mode, []).append(measure(mode, path, args.memory_limit, code))
                print(label, mode, json.dumps(runs[mode][-1]), flush=True)
        summary = summarise(label, runs)
        summary["load_average"] = os.getloadavg()
        results[label] = summary
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    return 0


def summarise(label: str, runs: dict[str, list]) -> dict:
    """Medians per engine and their ratios to pandas and DuckDB (wall and CPU time)."""
    def median(items, key):
        values = [r[key] for r in items if key in r]
        return statistics.median(values) if values else float("nan")

    base = median(runs["pandas"], "seconds")
    duckdb = {key: median(runs["duckdb"], key) for key in ("seconds", "cpu_seconds")}
    digests = {r.get("digest") for r in runs["duckdb"]} - {None}
    summary = {}
    for mode, items in runs.items():
        ok = [r for r in items if "seconds" in r]
        if not ok:
            summary[mode] = {"failed": items}
            continue
        row = {"runs": items, "median_seconds": median(ok, "seconds"), "median_total_seconds": median(ok, "total_seconds"),
               "median_cpu_seconds": median(ok, "cpu_seconds"), "max_peak_gb": max(r["peak_gb"] for r in ok),
               "customers": ok[0]["customers"]}
        row["pandas_over_this"] = base / row["median_seconds"]
        row["this_over_duckdb"] = row["median_seconds"] / duckdb["seconds"]
        row["total_over_duckdb"] = row["median_total_seconds"] / duckdb["seconds"]
        row["cpu_over_duckdb"] = row["median_cpu_seconds"] / duckdb["cpu_seconds"]
        if "digest" in ok[0]:
            row["same_as_duckdb"] = all(r["digest"] in digests for r in ok)
        summary[mode] = row
        print(f"{label}  {mode:13s} median {row['median_seconds']:7.1f} s (with session "
              f"{row['median_total_seconds']:7.1f} s, cpu {row['median_cpu_seconds']:7.1f} s)  "
              f"/duckdb {row['this_over_duckdb']:5.2f}x (with session {row['total_over_duckdb']:5.2f}x, "
              f"cpu {row['cpu_over_duckdb']:5.2f}x)  pandas/this {row['pandas_over_this']:5.2f}x  "
              f"peak {row['max_peak_gb']:.2f} GB  customers {row['customers']:,}"
              + (f"  same as duckdb: {row['same_as_duckdb']}" if "same_as_duckdb" in row else ""), flush=True)
    print(f"{label}  load average {os.getloadavg()}", flush=True)
    return summary


if __name__ == "__main__":
    sys.exit(main())
