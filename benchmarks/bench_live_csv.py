"""Cost of a live refresh when a shop appends to one CSV file, on the real data.

Writes ``online_retail.parquet`` (``SEGKIT_REAL_DATA`` or the first argument: the folder
holding it) as one CSV file, all but the last ``ADDED`` days, in a temporary folder; trains
a K=4 model on it and saves it; then appends the held-back days to the file one at a time.
Two logs follow the folder in this process: one reads only the appended lines
(``load.read_grown_csv``), the other is made to read the whole file at every change (as
before). CPU seconds (``time.process_time``, every thread) per appended day, and the
results of both compared with a fresh read of the whole file.

Run: ``.venv/bin/python benchmarks/bench_live_csv.py [/work/shared/data]``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_live import saved_model  # noqa: E402 (the same model)

ADDED = 5


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SEGKIT_REAL_DATA", "../shared/data"))
    work = Path(tempfile.mkdtemp(prefix="segkit-bench-live-csv-"))
    os.environ["SEGKIT_CACHE"] = str(work / "cache")

    import pandas as pd

    import segkit.live.live_log as live_module
    from segkit.live.live_log import LiveLog

    log = pd.read_parquet(folder / "online_retail.parquet")
    day = log["InvoiceDate"].dt.strftime("%Y-%m-%d")
    days = sorted(day.unique())
    data = work / "data"
    data.mkdir()
    path = data / "sales.csv"
    old = time.time() - 3600
    log[day.isin(days[:-ADDED])].to_csv(path, index=False)
    os.utime(path, (old, old))
    print(f"{len(log):,} lines, {len(days)} days; one CSV of {path.stat().st_size / 1e6:.1f} MB "
          f"({len(days) - ADDED} days), {ADDED} days appended one by one; load average {os.getloadavg()[0]:.2f}")
    model = saved_model(data, work / "artifacts")

    appending = LiveLog(data, model, settle=0)
    whole = LiveLog(data, model, settle=0)
    appending.refresh()
    whole.refresh()
    grown = live_module.read_grown_csv
    rows: dict[str, list[float]] = {"reads the appended lines": [], "reads the whole file": []}
    for d in days[-ADDED:]:
        log[day == d].to_csv(path, mode="a", header=False, index=False)
        os.utime(path, (old, old))
        cpu = time.process_time()
        update = appending.refresh()
        rows["reads the appended lines"].append(time.process_time() - cpu)
        assert appending.files["sales.csv"].grew_from, "the appended lines were not read alone"
        live_module.read_grown_csv = lambda *a, **k: None  # as before: every change read whole
        try:
            cpu = time.process_time()
            whole.refresh()
            rows["reads the whole file"].append(time.process_time() - cpu)
        finally:
            live_module.read_grown_csv = grown
        print(f"  + {d}: {update.new_lines:,} new lines; appended read {rows['reads the appended lines'][-1]:.2f} s CPU, "
              f"whole file {rows['reads the whole file'][-1]:.2f} s CPU")
    print(f"\nmedians per appended day (CPU s), load average {os.getloadavg()[0]:.2f}:")
    for name, values in rows.items():
        print(f"  {name:28s} {statistics.median(values):6.3f}  (n={len(values)})")
    print("  (the first append also reads the earlier lines' text once, to know they are plain)")
    fresh = LiveLog(data, model, settle=0)
    fresh.refresh()
    pd.testing.assert_frame_equal(appending.customers, fresh.customers)
    pd.testing.assert_frame_equal(whole.customers, fresh.customers)
    print("both equal a fresh read of the whole file")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
