"""PostgreSQL benchmark: the real data's customer table and cleaning report on DuckDB and on
PostgreSQL (``--engine ibis``), in one run.

- ``duckdb``: ``segkit.features.out_of_core.customer_features_out_of_core`` on
  ``online_retail.parquet`` (the DuckDB engine over the file: every rule, the features);
- ``postgres``: ``segkit.engines.database.IbisEngine`` on the same lines loaded once into a
  table with COPY (``copy_to_postgres``, timed apart): connect, canonical lines into a
  temporary table (``table_lines``, ordered by the file's line number), the rules
  (``run_rules``), the customer table back. The canonical step and the rest are also timed apart.

Runs alternate (duckdb, postgres, duckdb, ...) in this process; prints every run, the
medians and their ratio, and checks once that both tables are equal. Usage:
    python benchmarks/bench_postgres.py [DATA_FOLDER] [--url postgresql://...] [--repeats 5]
        [--rules default] [--json benchmarks/results/postgres.json]
DATA_FOLDER defaults to SEGKIT_REAL_DATA, else ../shared/data; --url to SEGKIT_POSTGRES
(``eval "$(.ci/postgres.sh start)"`` starts a private server).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TABLE = "segkit_bench_online_retail"
POSITION = "position"


def run_duckdb(path: Path, rules: str):
    from segkit.features.out_of_core import customer_features_out_of_core

    start = time.perf_counter()
    report: list = []
    table = customer_features_out_of_core(path, rules=rules, report=report)
    return time.perf_counter() - start, {}, table, report[0]


def run_postgres(url: str, rules: str):
    from segkit.engines.base import run_rules
    from segkit.engines.database import IbisEngine
    from segkit.features.customers import finish_customers

    start = time.perf_counter()
    with IbisEngine(url) as engine:
        connected = time.perf_counter()
        lines = engine.table_lines(TABLE, order_by=POSITION)
        canonical = time.perf_counter()
        out = run_rules(engine, lines, rules)
        table = finish_customers(out["customers"])
    end = time.perf_counter()
    steps = {"connect": connected - start, "canonical": canonical - connected, "rules": end - canonical}
    return end - start, steps, table, out["report"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("SEGKIT_REAL_DATA") or str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--url", default=os.environ.get("SEGKIT_POSTGRES"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rules", default="default", choices=["default", "seed"])
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()
    if not args.url:
        sys.exit("bench_postgres: no server; pass --url or set SEGKIT_POSTGRES (eval \"$(.ci/postgres.sh start)\").")
    path = Path(args.data) / "online_retail.parquet"
    if not path.is_file():
        sys.exit(f"bench_postgres: {path} not found; pass the real data folder.")

    import pandas as pd

    from segkit.engines.database import copy_to_postgres

    frame = pd.read_parquet(path)
    frame[POSITION] = range(len(frame))
    start = time.perf_counter()
    copy_to_postgres(args.url, TABLE, frame)
    load = time.perf_counter() - start
    print(f"{len(frame):,} lines of {path.name} loaded with COPY in {load:.1f} s", flush=True)
    with __import__("psycopg").connect(args.url) as con:
        con.execute(f"ANALYZE {TABLE}")

    times: dict[str, list[float]] = {"duckdb": [], "postgres": []}
    steps: list[dict] = []
    results = {}
    for i in range(args.repeats):
        for name in ("duckdb", "postgres"):
            seconds, parts, table, report = run_duckdb(path, args.rules) if name == "duckdb" else \
                run_postgres(args.url, args.rules)
            times[name].append(seconds)
            if parts:
                steps.append(parts)
            results[name] = (table, report)
            detail = ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
            print(f"run {i + 1} {name:8s} {seconds:6.2f} s" + (f" ({detail})" if detail else ""), flush=True)
    (a, ra), (b, rb) = results["duckdb"], results["postgres"]
    same = a.sort_index().equals(b.sort_index())
    same_report = ra.reset_index(drop=True).round(2).equals(rb.reset_index(drop=True).round(2))
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["postgres"] / medians["duckdb"]
    print(f"\nmedians over {args.repeats} runs ({args.rules} rules, {len(a):,} customers): "
          f"duckdb {medians['duckdb']:.2f} s, postgres {medians['postgres']:.2f} s; "
          f"postgres / duckdb = {ratio:.2f}")
    print("postgres steps (median): " + ", ".join(
        f"{k} {statistics.median(s[k] for s in steps):.2f} s" for k in steps[0]))
    print(f"same customer table: {same}; same report: {same_report}")
    try:
        load_average = os.getloadavg()[0]
    except OSError:
        load_average = None
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "lines": len(frame), "customers": len(a), "rules": args.rules, "copy_seconds": load,
            "seconds": times, "medians": medians, "ratio": ratio, "same_table": same, "same_report": same_report,
            "load_average": load_average, "cpus": os.cpu_count()}, indent=2))
    with __import__("psycopg").connect(args.url) as con:
        con.execute(f"DROP TABLE IF EXISTS {TABLE}")


if __name__ == "__main__":
    main()
