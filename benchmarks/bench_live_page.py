"""Page-side cost of a live refresh on the real data split into daily files.

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

With ``--voila`` the same folder is served by Voilà (``segkit.server.serve``) and two pages are
opened in Chromium; for each added day the CPU time of every kernel process (the two
pages' and the pre-heated ones waiting for visitors, which do not follow the folder until
their page is opened) is read from the system before the file is dropped and after the
page shows it, minus what the same kernels spend idle over as long (the folder checks with
nothing new). That counts the widget messages too. The server runs the page refresher
(``segkit.live.refresher``, as ``segkit.server.serve`` starts it): it computes each day once
and both pages read it; its CPU per day is printed beside the kernels'. With
``--without-refresher`` the server runs with ``SEGKIT_REFRESHER=0``, so the first page to
notice a day computes it in its kernel (the way before the refresher).

Run: ``.venv/bin/python benchmarks/bench_live_page.py [/work/shared/data] [--voila [--without-refresher]]``.
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
from bench_live import daily_folder  # noqa: E402 (the same daily files)

ADDED = 5  # days added one at a time


def timed(call):
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    folder = Path(args[0] if args else os.environ.get("SEGKIT_REAL_DATA", "../shared/data"))
    work = Path(tempfile.mkdtemp(prefix="segkit-bench-live-page-"))
    os.environ["SEGKIT_CACHE"] = str(work / "cache")
    os.environ["SEGKIT_SETTLE_SECONDS"] = "0"

    import pandas as pd

    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model
    from segkit.views.tables import Filters

    log = pd.read_parquet(folder / "online_retail.parquet")
    days, data, add = daily_folder(log, work, ADDED)
    print(f"{len(log):,} lines, {len(days)} days; folder of {len(days) - ADDED} daily files, {ADDED} days added one by one; "
          f"load average {os.getloadavg()[0]:.2f}")
    base = load_customer_data(data)
    model, _ = train_model(base, k=4)
    save_artifacts(model, work / "artifacts", base.training_info())
    if "--voila" in sys.argv:
        in_voila(work, data, days[-ADDED:], add)
        shutil.rmtree(work, ignore_errors=True)
        return

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
        assert reading.table.page == 2 and reading.state.filters.country == ("United Kingdom",)
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


def process_seconds(pid: int, system: bool = False) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.system if system else times.user + times.system


def kernel_seconds(server, system: bool = False) -> dict[int, float]:
    """CPU seconds (user + system; with ``system``, system only) of each kernel process under
    the Voilà server, by pid, oldest first."""
    import psutil

    out = {}
    children = psutil.Process(server.pid).children(recursive=True)
    for child in sorted(children, key=lambda c: c.create_time()):  # the oldest kernel serves the open page
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                times = child.cpu_times()
                out[child.pid] = times.system if system else times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return out


def in_voila(work: Path, data: Path, coming: list[str], add, refresh: int = 5) -> None:
    from playwright.sync_api import sync_playwright

    from segkit.server import serve

    env = dict(os.environ, SEGKIT_DATA=str(data), SEGKIT_ARTIFACTS=str(work / "artifacts"),
               SEGKIT_REFRESH_SECONDS=str(refresh), SEGKIT_SETTLE_SECONDS="0", SEGKIT_ANALYST="",
               SEGKIT_REFRESHER="0" if "--without-refresher" in sys.argv else "1")
    port, log_path = serve.free_port(), work / "voila.log"
    server = serve.start_voila(port, env, log_path)
    try:
        refresher = server.refresher
        print("page refresher: " + ("running, computes every day" if refresher is not None else
                                    "none, the first page to notice a day computes it"))
        serve.wait_until_preheated(port, log_path, timeout=300, process=server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            pages = []
            for _ in range(2):  # two visitors: one kernel computes each new snapshot, the other reads it
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.set_default_timeout(300_000)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector(".seg-summary table")
                page.wait_for_selector(".seg-data-status")
                pages.append(page)
                time.sleep(3)
                serve.wait_until_preheated(port, log_path, timeout=300, process=server)  # the next visitor's kernel
            page = pages[0]
            time.sleep(2 * refresh)
            before, start = kernel_seconds(server), time.perf_counter()
            time.sleep(4 * refresh)
            idle = {pid: (s - before.get(pid, s)) / (time.perf_counter() - start) for pid, s in kernel_seconds(server).items()}
            print(f"Voilà: {len(idle)} kernels (2 with an open page); idle, per kernel: "
                  + ", ".join(f"{rate * refresh * 1000:.0f} ms CPU per {refresh} s" for rate in idle.values()))
            costs: dict[int, list[float]] = {pid: [] for pid in idle}
            refreshed: list[float] = []
            reached: list[float] = []  # seconds from the file's arrival to the first page showing it
            for d in coming:
                status = page.inner_text(".seg-data-status")
                before, start = kernel_seconds(server), time.perf_counter()
                system_before = kernel_seconds(server, system=True)
                refresher_before = process_seconds(refresher.pid) if refresher is not None else 0.0
                add(d)
                page.wait_for_function("(t) => document.querySelector('.seg-data-status').innerText !== t", arg=status)
                reached.append(time.perf_counter() - start)
                time.sleep(refresh + 3)  # the other kernel's check too
                after, elapsed = kernel_seconds(server), time.perf_counter() - start
                system_after = kernel_seconds(server, system=True)
                if refresher is not None:
                    refreshed.append(process_seconds(refresher.pid) - refresher_before)
                for pid in costs:
                    costs[pid].append(after[pid] - before[pid] - idle[pid] * elapsed)
                busiest = max(costs, key=lambda pid: costs[pid][-1])
                system_share = system_after[busiest] - system_before[busiest]
                print(f"  + {d}: " + ", ".join(f"kernel {i + 1} {c[-1]:.2f} s CPU" for i, c in enumerate(costs.values()))
                  + f" (busiest: kernel {1 + list(after).index(busiest)}, {system_share:.2f} s of it system time)"
                  + (f"; the page refresher {refreshed[-1]:.2f} s CPU" if refreshed else "")
                  + f"; shown {reached[-1]:.1f} s after the file arrived (load average {os.getloadavg()[0]:.2f})")
            import psutil

            resident = {pid: psutil.Process(pid).memory_info().rss / 2**20 for pid in list(costs)[:2]}
            print("resident memory after the days: open pages' kernels "
                  + ", ".join(f"{mb:.0f} MB" for mb in resident.values())
                  + (f", the page refresher {psutil.Process(refresher.pid).memory_info().rss / 2**20:.0f} MB"
                     if refresher is not None else ""))
            browser.close()
        opened = list(costs.values())[:2]  # the two open pages' kernels; the rest wait for visitors
        computing = [max(a, b) for a, b in zip(*opened)]
        reading = [min(a, b) for a, b in zip(*opened)]
        waiting = [c for cs in list(costs.values())[2:] for c in cs]
        print(f"medians per added day, CPU s: the busier open page {statistics.median(computing):.2f} "
              f"({min(computing):.2f}-{max(computing):.2f}), the other open page {statistics.median(reading):.2f} "
              f"({min(reading):.2f}-{max(reading):.2f}), {len(costs) - 2} pre-heated kernels waiting for visitors "
              f"at most {max(waiting, default=0):.2f}"
              + (f"; the page refresher {statistics.median(refreshed):.2f} ({min(refreshed):.2f}-{max(refreshed):.2f})"
                 if refreshed else "")
              + f"; a day reached the page {statistics.median(reached):.1f} s (median; {min(reached):.1f}-"
              f"{max(reached):.1f}) after its file arrived, checks every {refresh} s")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
