"""Page-side cost of a live refresh on the real data split into daily files (issue 13).

``bench_live.py`` measures the library (``LiveFeed.check``); this measures what one open
page pays per new day: the check *and* the redraw (``DashboardState.set_data``, every
panel's numbers, charts and table, the header and the notice), as ``LivePanel.check``
does it. Two pages built in this process stand for two kernels: the first computes each
new snapshot, the second reads it. Widget messages are built but not sent (no browser),
so the serialising and sending of a real kernel are not counted.

Splits ``online_retail.parquet`` (``SEGKIT_REAL_DATA`` or the first argument: the folder
holding it) into one parquet file per day in a temporary folder, holds back the last
``ADDED`` days, trains a K=4 model on the rest and saves it, then adds the held-back days
one at a time. CPU seconds (``time.process_time``, every thread) and wall seconds.

Run: ``.venv/bin/python benchmarks/bench_live_page.py [/work/shared/data]``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ADDED = 5  # days added one at a time


def timed(call):
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SEGKIT_REAL_DATA", "../shared/data"))
    work = Path(tempfile.mkdtemp(prefix="segkit-bench-live-page-"))
    os.environ["SEGKIT_CACHE"] = str(work / "cache")
    os.environ["SEGKIT_SETTLE_SECONDS"] = "0"

    import pandas as pd

    from segkit.artifacts import save_artifacts
    from segkit.dashboard import Dashboard
    from segkit.views import Filters
    from segkit.workflow import load_customer_data, train_model

    log = pd.read_parquet(folder / "online_retail.parquet")
    day = log["InvoiceDate"].dt.strftime("%Y-%m-%d")
    days = sorted(day.unique())
    data = work / "data"
    data.mkdir()
    old = time.time() - 3600

    def add(d: str) -> None:
        path = data / f"{d}.parquet"
        log[day == d].to_parquet(path, index=False)
        os.utime(path, (old, old))

    for d in days[:-ADDED]:
        add(d)
    print(f"{len(log):,} lines, {len(days)} days; folder of {len(days) - ADDED} daily files, {ADDED} days added one by one; "
          f"load average {os.getloadavg()[0]:.2f}")
    base = load_customer_data(data)
    model, _ = train_model(base, k=4)
    save_artifacts(model, work / "artifacts", base.training_info())

    computing, cpu, wall = timed(lambda: Dashboard(data, work / "artifacts", query=""))
    print(f"first page (computes the first snapshot, builds the page): {cpu:.2f} s CPU, {wall:.2f} s wall")
    reading, cpu, wall = timed(lambda: Dashboard(data, work / "artifacts", query=""))
    print(f"second page (reads that snapshot, builds the page): {cpu:.2f} s CPU, {wall:.2f} s wall")
    # A viewer's view on the reading page: a country, a sort and page 2 (kept through refreshes).
    reading.state.filters = Filters(country="United Kingdom")
    reading.table.sort_by.value = "NumPurchases"
    reading.table._turn(+1)

    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in (
        "computing page: check (computes the snapshot) + redraw", "reading page: check (reads the snapshot) + redraw",
        "computing page: of which the redraw", "reading page: of which the redraw")}
    for d in days[-ADDED:]:
        add(d)
        update, cpu, wall = timed(computing.live.feed.check)
        assert update is not None and update.how == "incremental", update and update.how
        _, ccpu, cwall = timed(lambda: computing.live.apply(update))
        rows["computing page: check (computes the snapshot) + redraw"].append((cpu + ccpu, wall + cwall))
        rows["computing page: of which the redraw"].append((ccpu, cwall))
        cpu += ccpu
        feed_cpu = time.process_time()
        update = reading.live.feed.check()
        feed_cpu = time.process_time() - feed_cpu
        assert update is not None and update.how == "snapshot"
        _, rcpu, rwall = timed(lambda: reading.live.apply(update))
        rows["reading page: check (reads the snapshot) + redraw"].append((feed_cpu + rcpu, rwall))
        rows["reading page: of which the redraw"].append((rcpu, rwall))
        assert reading.table.page == 2 and reading.state.filters.country == "United Kingdom"
        print(f"  + {d}: {update.new_lines:,} lines, {len(update.new_customers)} new customers, {len(update.moves)} moves; "
              f"computing page {cpu:.2f} s CPU, reading page {feed_cpu + rcpu:.2f} s CPU (redraw {rcpu:.2f})")

    print(f"\nmedians per added day (CPU s / wall s), load average {os.getloadavg()[0]:.2f}:")
    for name, values in rows.items():
        print(f"  {name:58s} {statistics.median(v[0] for v in values):6.3f} / "
              f"{statistics.median(v[1] for v in values):6.3f}  (n={len(values)})")
    expected = load_customer_data(data).customers
    pd.testing.assert_frame_equal(reading.state.data.customers, expected, check_dtype=False)
    print("the reading page's customers equal load_customer_data on the whole folder")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
