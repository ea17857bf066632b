"""Spark: the small steps of the rules (the cancellation netting, the duplicate copies)
cached on the executors (``SparkEngine.materialise``) against recomputed in every query
that uses them, on a generated log, in one run, alternating.

    python benchmarks/bench_spark_steps.py [--lines 1M] [--rounds 2]

Prints seconds per run and the ratio of medians; asserts both give the same customers and
report.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_large_logs import parse_size  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", default="1M")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import pandas as pd

    from segkit.engines.base import Engine, run_rules
    from segkit.engines.spark import SparkEngine
    from segkit.ingest.sample import write_large_log

    folder = Path(tempfile.mkdtemp(prefix="segkit-bench-spark-"))
    path = write_large_log(folder / "log.parquet", parse_size(args.lines), seed=1)
    engine = SparkEngine(master="local[2]")
    cached = SparkEngine.materialise
    seconds: dict[str, list[float]] = {"cached": [], "recomputed": []}
    results = {}
    try:
        for _ in range(args.rounds):
            for mode in seconds:
                SparkEngine.materialise = cached if mode == "cached" else Engine.materialise
                start = time.perf_counter()
                out = run_rules(engine, engine.lines(path), "default", report=True)
                seconds[mode].append(time.perf_counter() - start)
                results[mode] = out
                print(f"{mode:10s} {seconds[mode][-1]:6.1f} s", flush=True)
                engine.close()
                engine._tmp.mkdir(exist_ok=True)
    finally:
        SparkEngine.materialise = cached
    key = lambda t: t.sort_values("CustomerID").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(results["cached"]["customers"]), key(results["recomputed"]["customers"]))
    pd.testing.assert_frame_equal(results["cached"]["report"], results["recomputed"]["report"])
    medians = {mode: statistics.median(s) for mode, s in seconds.items()}
    print(f"median: cached {medians['cached']:.1f} s, recomputed {medians['recomputed']:.1f} s, "
          f"recomputed / cached {medians['recomputed'] / medians['cached']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
