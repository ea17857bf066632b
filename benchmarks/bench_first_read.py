"""A workbook never seen before: ``segkit features`` as a whole process, against the seed's way
(pandas + openpyxl read, groupby, StandardScaler, KMeans; ``bench_pipeline.ORIGINAL_SCRIPT``),
in the same run.

Every segkit run gets an empty cache folder (nothing read before); runs alternate with the
seed's so both see the same machine load. Prints each run, the medians and the ratio
seed / segkit (aim: at least 10). Usage:

    python benchmarks/bench_first_read.py [--data "/work/shared/data/Online Retail.xlsx"] [--repeats 3]
        [--seed-repeats 3] [--code DIR] [--before DIR]

``--code DIR`` times another checkout's segkit; ``--before DIR`` also times a second one in
the same run (a before/after comparison).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import ORIGINAL_SCRIPT, timed_process  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(os.environ.get("SEGKIT_REAL_DATA", "/work/shared/data")) / "Online Retail.xlsx"
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--repeats", type=int, default=3, help="segkit runs")
    parser.add_argument("--seed-repeats", type=int, default=3, help="runs of the seed's way (about a minute each)")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose segkit runs")
    parser.add_argument("--before", type=Path, default=None, help="also time this checkout's segkit (before/after)")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"bench: {args.data} does not exist; pass --data with the Online Retail workbook.", file=sys.stderr)
        return 2
    out = Path(tempfile.mkdtemp(prefix="segkit-first-read-"))
    env = {**os.environ, "SEGKIT_CLV": "0"}
    features = [sys.executable, "-m", "segkit.cli", "features", "--data", str(args.data), "--out", str(out / "c.csv")]
    codes = {"segkit features, first read": args.code}
    if args.before is not None:
        codes["before: segkit features, first read"] = args.before
    times: dict[str, list[float]] = {"seed": [], **{name: [] for name in codes}}
    print(f"load at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    try:
        for i in range(max(args.repeats, args.seed_repeats)):
            if i < args.repeats:
                for name, code in codes.items():
                    cache = out / f"cache-{len(times[name])}-{len(name)}"  # empty: the workbook was never seen
                    # the code under test first; what PYTHONPATH held (e.g. a private fastexcel) after it
                    path = os.pathsep.join([str(code), *filter(None, [os.environ.get("PYTHONPATH")])])
                    seconds = timed_process(features, {**env, "PYTHONPATH": path, "SEGKIT_CACHE": str(cache)})
                    times[name].append(seconds)
                    print(f"{name}, run {i + 1}: {seconds:7.2f} s", flush=True)
            if i < args.seed_repeats:
                seconds = timed_process([sys.executable, "-c", ORIGINAL_SCRIPT, str(args.data)], env)
                times["seed"].append(seconds)
                print(f"seed (openpyxl, groupby, KMeans), run {i + 1}: {seconds:7.2f} s", flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nmedians on {args.data.name} ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}), code {args.code}:")
    for name, value in medians.items():
        print(f"  {name:38s} {value:8.2f} s   seed/this = {medians['seed'] / value:5.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
