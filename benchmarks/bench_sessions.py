"""Ten visitors at once on the real data: page ready times, filter times and
kernel memory, with the server as ``make run`` starts it (a pool sized from the machine,
light kernels opened from the shared snapshot).

Trains a model on ``online_retail.parquet`` (``SEGKIT_REAL_DATA`` or the first argument:
the folder holding it) into a temporary artifacts folder, serves the dashboard on it with
a temporary cache, waits until the pool has run the notebook, then: two visitors one
after the other, and (the pool refilled) ten at once, each in its own Chromium context
opening the page, filtering to Germany and downloading the CSV. ``--runs N`` repeats the
burst on N fresh servers and prints the medians. Nothing is written inside the project
except ``benchmarks/results/load_sessions.json`` (the figures of the last burst).

``tests/server/test_load_sessions.py`` runs the same sessions once and asserts that they
all succeed and each kernel's memory; the time aims (median page ready at most 10 s, at most
20 s, a visitor right after another within 5 s) are this benchmark's, not a test's.

Run: ``.venv/bin/python benchmarks/bench_sessions.py [/work/shared/data] [--runs 3]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from real_data import add_folder_argument, real_parquet, train_and_save

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def one_server(parquet: Path) -> dict:
    from test_load_sessions import _run_sessions  # the sessions the load test drives

    from segkit.server import serve
    from segkit.server.kernels import machine, pool_and_cap

    with tempfile.TemporaryDirectory(prefix="segkit-sessions-") as tmp:
        folder = Path(tmp)
        env = dict(os.environ, SEGKIT_DATA=str(parquet), SEGKIT_ARTIFACTS=str(folder / "artifacts"),
                   SEGKIT_CACHE=str(folder / "cache"), SEGKIT_POOL_SIZE="auto")
        os.environ["SEGKIT_CACHE"] = env["SEGKIT_CACHE"]
        data, _ = train_and_save(parquet, folder / "artifacts")
        expected = int((data.customers["Country"] == "Germany").sum())
        port, log = serve.free_port(), folder / "voila.log"
        process = serve.start_voila(port, env, log)
        try:
            pool = pool_and_cap(*machine())[0]
            serve.wait_until_pool_ready(port, log, pool, timeout=600, process=process)
            url = f"http://127.0.0.1:{port}/"
            pair, _ = asyncio.run(_run_sessions(url, expected, 2, one_after_another=True))
            serve.wait_until_pool_ready(port, log, pool, timeout=600, process=process, fills=3)
            burst, wall = asyncio.run(_run_sessions(url, expected))
        finally:
            process.terminate()
            process.wait(timeout=30)
    failed = [repr(r)[:200] for r in burst if isinstance(r, BaseException)]
    ok = [r for r in burst if not isinstance(r, BaseException)]
    ready = [r["page_ready_s"] for r in ok]
    return {"pool_size": pool, "pair_ready_s": [r["page_ready_s"] for r in pair], "burst_wall_s": round(wall, 1),
            "ready_median_s": round(statistics.median(ready), 2) if ready else None,
            "ready_max_s": round(max(ready), 2) if ready else None,
            "filter_median_s": round(statistics.median(r["filter_s"] for r in ok), 3) if ok else None,
            "succeeded": len(ok), "errors": failed, "load_average_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_folder_argument(parser)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    parquet = real_parquet(args.folder)
    runs = []
    for index in range(args.runs):
        figures = one_server(parquet)
        runs.append(figures)
        print(json.dumps({"run": index + 1, **figures}), flush=True)
    if len(runs) > 1:
        print("medians over runs: page ready median {:.2f} s, max {:.2f} s; visitor after another {:.2f} s".format(
            statistics.median(r["ready_median_s"] for r in runs), statistics.median(r["ready_max_s"] for r in runs),
            statistics.median(max(r["pair_ready_s"]) for r in runs)))


if __name__ == "__main__":
    main()
