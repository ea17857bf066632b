"""Cost of a live refresh on the real data split into daily files.

Splits ``online_retail.parquet`` (``SEGKIT_REAL_DATA`` or the first argument: the folder
holding it) into one parquet file per day in a temporary folder, holds back the last
``ADDED`` days, trains a K=4 model on the rest and saves it in a temporary artifacts folder,
then adds the held-back days one at a time. Nothing is written inside the project.

Measured (CPU seconds of this process, ``time.process_time``, which counts every thread;
wall seconds beside them):

- first build: the first kernel reads every file and computes the snapshot;
- first open: another kernel reads that snapshot (customers and clean lines);
- per added day: the computing kernel (holding its state) refreshes and writes the
  snapshot; a reading kernel picks it up with the clean lines (what the page needs for its
  date and category filters) and without; a fresh kernel without state computes it from
  the previous snapshot on disk.

Run: ``.venv/bin/python benchmarks/bench_live.py [/work/shared/data]``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ADDED = 7  # days added one at a time; the last 3 are computed by a kernel without state


def timed(call):
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def daily_folder(log, work: Path, added: int):
    """Split ``log`` into one parquet file per day in ``work/data``, all but the last
    ``added`` days written (dated an hour ago, so settled); returns ``(days, data folder,
    add)`` where ``add(day)`` writes one more day's file (whole, then renamed into place)."""
    day = log["InvoiceDate"].dt.strftime("%Y-%m-%d")
    days = sorted(day.unique())
    data = work / "data"
    data.mkdir()
    old = time.time() - 3600

    def add(d: str) -> None:
        # Written under a name the log skips, then renamed: the benchmarks run with a settle
        # time of 0, and a check catching the file half-written would read it twice.
        path, part = data / f"{d}.parquet", data / f"{d}.parquet.part"
        log[day == d].to_parquet(part, index=False)
        os.utime(part, (old, old))
        os.replace(part, path)

    for d in days[:-added]:
        add(d)
    return days, data, add


def saved_model(data: Path, artifacts: Path):
    """A K=4 model trained on the log in ``data``, saved in ``artifacts`` and loaded back as a page loads it."""
    from segkit.pipeline.artifacts import load_artifacts, save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    base = load_customer_data(data)
    model, _ = train_model(base, k=4)
    save_artifacts(model, artifacts, base.training_info())
    return load_artifacts(artifacts)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SEGKIT_REAL_DATA", "../shared/data"))
    source = folder / "online_retail.parquet"
    work = Path(tempfile.mkdtemp(prefix="segkit-bench-live-"))
    os.environ["SEGKIT_CACHE"] = str(work / "cache")

    import pandas as pd

    from segkit.live.feed import LiveFeed
    from segkit.live.live_log import SEGMENT_COLUMNS
    from segkit.pipeline.workflow import load_customer_data

    log = pd.read_parquet(source)
    days, data, add = daily_folder(log, work, ADDED)
    print(f"{len(log):,} lines, {len(days)} days; folder of {len(days) - ADDED} daily files, {ADDED} days added one by one")

    model = saved_model(data, work / "artifacts")

    computer = LiveFeed(data, model, settle=0)
    reader = LiveFeed(data, model, settle=0)
    light = LiveFeed(data, model, settle=0, with_lines=False)
    update, cpu, wall = timed(computer.check)
    print(f"first build (reads {len(days) - ADDED} files, cleans, features, scores, writes the snapshot): "
          f"{cpu:.2f} s CPU, {wall:.2f} s wall [{update.how}]")
    update, cpu, wall = timed(reader.check)
    print(f"first open of another kernel (reads the snapshot, with lines): {cpu:.2f} s CPU, {wall:.2f} s wall [{update.how}]")
    _, cpu, wall = timed(light.check)
    print(f"first open without lines: {cpu:.2f} s CPU, {wall:.2f} s wall")

    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in ("computing kernel (own state)", "fresh kernel computing from the snapshot on disk",
                                                                  "reading kernel, with lines", "reading kernel, customers only")}
    for i, d in enumerate(days[-ADDED:]):
        add(d)
        if i < ADDED - 3:
            update, cpu, wall = timed(computer.check)
            rows["computing kernel (own state)"].append((cpu, wall))
        else:
            fresh = LiveFeed(data, model, settle=0)
            update, cpu, wall = timed(fresh.check)
            rows["fresh kernel computing from the snapshot on disk"].append((cpu, wall))
        assert update.how == "incremental", update.how
        reading, rcpu, rwall = timed(reader.check)
        assert reading.how == "snapshot"
        rows["reading kernel, with lines"].append((rcpu, rwall))
        _, lcpu, lwall = timed(light.check)
        rows["reading kernel, customers only"].append((lcpu, lwall))
        print(f"  + {d}: {reading.new_lines:,} lines, {len(reading.new_customers)} new customers, "
              f"{len(reading.moves):,} moves ({int(reading.moves['Matters'].sum())} that matter); "
              f"compute {cpu:.2f} s CPU, read {rcpu:.2f} s CPU")

    print("\nmedians per added day (CPU s / wall s):")
    for name, values in rows.items():
        print(f"  {name:52s} {statistics.median(v[0] for v in values):6.3f} / {statistics.median(v[1] for v in values):6.3f}"
              f"  (n={len(values)})")
    full = LiveFeed(data, model, settle=0, folder=work / "other-snapshots")
    _, cpu, wall = timed(full.check)
    print(f"\nfor comparison, everything from scratch on all {len(days)} files: {cpu:.2f} s CPU, {wall:.2f} s wall")
    pd.testing.assert_frame_equal(full.customers, reader.customers)
    pd.testing.assert_frame_equal(load_customer_data(data).customers, reader.customers.drop(columns=[c for c in SEGMENT_COLUMNS if c in reader.customers]))
    print("the incremental result equals the one computed from scratch (customers and segments), "
          "and load_customer_data on the folder (features)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
