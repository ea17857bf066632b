"""Ten people at once: concurrent browser sessions on the real data, each loading the
page, filtering and downloading the CSV. All must succeed; the latencies and the memory
of each session's kernel (RSS of the Voilà server's child processes, from /proc) are
printed; the time aims are benchmarks/bench_sessions.py's, not assertions here.

The server runs as ``make run`` does: the page prepared before Voilà starts
(``serve.prepare_page``), a pool of pre-executed kernels sized from the machine
(``segkit.server.kernels``; 10 on 2 cores and 24 GB), each opened from the shared snapshot.
Asserted: every session gets the page, the filtered rows and the CSV, and every kernel
costs at most ``KERNEL_MB`` as proportional set size (what a kernel costs the machine: its
RSS counts the shared libraries' pages in full and depends on the page cache). A page is
ready when its first screen is drawn (``dashboard_checks.FIRST_SCREEN_DRAWN``); each session
then opens the customer table (``show_section``), below the first screen. The page
ready times and what one page load costs Chromium are measured by
``benchmarks/bench_sessions.py`` and ``benchmarks/bench_page_floor.py``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import pytest
from dashboard_checks import FIRST_SCREEN_DRAWN, show_section
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Served,
    _require_chromium,
)

# alone: its kernel memory (PSS shares pages with every process mapping the same libraries)
# and its waits are the machine's, so make test runs it after the browser tests on both cores.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.real_data, pytest.mark.alone]

SESSIONS = 10
TIMEOUT_MS = 420_000
#: Bounds on this 2-core machine with the ten browsers on it too (see the module docstring).
MEDIAN_READY_S, MAX_READY_S, NEXT_VISITOR_S, KERNEL_MB = 60.0, 90.0, 5.0, 250.0


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _memory_mb(pid: int, field: str = "VmRSS", source: str = "status") -> float:
    """One memory figure of a process in MB: ``VmRSS`` or ``RssAnon`` from /proc/PID/status,
    ``Pss`` from /proc/PID/smaps_rollup."""
    try:
        text = Path(f"/proc/{pid}/{source}").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def served_real(real_parquet, real_data, tmp_path_factory):
    _require_chromium()
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import train_model

    folder = tmp_path_factory.mktemp("voila-load")
    env = dict(os.environ, SEGKIT_DATA=str(real_parquet), SEGKIT_ARTIFACTS=str(folder / "artifacts"),
               SEGKIT_CACHE=str(folder / "cache"), SEGKIT_POOL_SIZE="auto")
    model, _ = train_model(real_data, "auto")
    save_artifacts(model, folder / "artifacts", real_data.training_info())
    server = Served("load", folder, env)
    server.data = real_data
    yield server
    server.stop()


async def _session(browser, url: str, index: int, expected_rows: int) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    try:
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        start = time.perf_counter()
        await page.goto(url)
        await page.wait_for_function(FIRST_SCREEN_DRAWN, polling=100)  # the page ready: its first screen
        ready = time.perf_counter() - start

        for section in ("segments", "table"):  # below the first screen: the summary, the rows and the CSV
            await show_section(page, section)
        await page.wait_for_selector(".seg-summary table")
        before = await page.inner_text(".seg-summary")
        start = time.perf_counter()
        await page.locator(".seg-country-filter select").select_option(label="Germany")
        await page.wait_for_function("(t) => document.querySelector('.seg-summary').innerText !== t", arg=before)
        await page.wait_for_function("(n) => { const a = document.querySelector('.seg-download a');"
                                     " return a && a.dataset.rows === String(n); }", arg=expected_rows)
        filtered = time.perf_counter() - start

        start = time.perf_counter()
        async with page.expect_download() as info:
            await page.locator(".seg-download a[href^='data:']").click()
        download = await info.value
        text = Path(await download.path()).read_text(encoding="utf-8")
        downloaded = time.perf_counter() - start
        table = pd.read_csv(io.StringIO(text), dtype={"Customer": str})
        message = await page.inner_text(".seg-message")
        return {"session": index, "page_ready_s": round(ready, 3), "filter_s": round(filtered, 3),
                "download_s": round(downloaded, 3), "rows": len(table),
                "all_germany": bool((table["Country"] == "Germany").all()), "message": message}
    finally:
        await context.close()


async def _run_sessions(url: str, expected_rows: int, sessions: int = SESSIONS,
                        one_after_another: bool = False) -> tuple[list, float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            start = time.perf_counter()
            if one_after_another:
                results = [await _session(browser, url, i, expected_rows) for i in range(sessions)]
            else:
                results = await asyncio.gather(*(_session(browser, url, i, expected_rows) for i in range(sessions)),
                                               return_exceptions=True)
            return results, time.perf_counter() - start
        finally:
            await browser.close()


def test_ten_concurrent_sessions(served_real):
    from segkit.server import serve
    from segkit.server.kernels import machine, pool_and_cap

    served = served_real
    pool_size = pool_and_cap(*machine())[0]
    serve.wait_until_pool_ready(served.port, served.log, pool_size, timeout=TIMEOUT_MS / 1000, process=served.process)
    expected = int((served.data.customers["Country"] == "Germany").sum())
    server_rss = _memory_mb(served.process.pid)
    # A thread of its own: the session-wide sync Playwright of test_browser.py may already
    # run an event loop in this one, and asyncio.run refuses to nest.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # Two visitors one after the other, then (the pool refilled) ten at once.
        pair, _ = pool.submit(asyncio.run, _run_sessions(served.url, expected, 2, one_after_another=True)).result()
        serve.wait_until_pool_ready(served.port, served.log, pool_size, timeout=TIMEOUT_MS / 1000,
                                    process=served.process, fills=3)
        results, wall = pool.submit(asyncio.run, _run_sessions(served.url, expected)).result()
    children = _children(served.process.pid)
    kernels = {pid: round(_memory_mb(pid), 1) for pid in children}
    # What each kernel costs the machine: its own pages plus its share of the shared
    # libraries' (RSS counts those in full in every kernel, more or fewer of them by the
    # page cache's state: right after a fresh install RSS reads ~35 MB higher, same code).
    kernels_pss = {pid: round(_memory_mb(pid, "Pss", "smaps_rollup"), 1) for pid in children}
    kernels_anon = {pid: round(_memory_mb(pid, "RssAnon"), 1) for pid in children}
    failures = [r for r in results if isinstance(r, BaseException)]
    ok = [r for r in results if not isinstance(r, BaseException)]
    figures = {
        "sessions": SESSIONS, "succeeded": len(ok), "wall_s": round(wall, 1), "customers": len(served.data.customers),
        "pool_size": pool_size, "one_after_another_ready_s": [r["page_ready_s"] for r in pair],
        "load_average_1min": round(os.getloadavg()[0], 2),
        "page_ready_s": {"median": round(statistics.median(r["page_ready_s"] for r in ok), 2) if ok else None,
                         "max": round(max(r["page_ready_s"] for r in ok), 2) if ok else None},
        "filter_s": {"median": round(statistics.median(r["filter_s"] for r in ok), 3) if ok else None,
                     "max": round(max(r["filter_s"] for r in ok), 3) if ok else None},
        "kernel_rss_mb": sorted(kernels.values()),
        "kernel_rss_mb_median": round(statistics.median(kernels.values()), 1) if kernels else None,
        "kernel_pss_mb": sorted(kernels_pss.values()), "kernel_anon_mb": sorted(kernels_anon.values()),
        "voila_server_rss_mb": round(server_rss, 1),
        "per_session": ok, "errors": [repr(e)[:300] for e in failures],
        "measured": pd.Timestamp.now().isoformat(timespec="seconds"),
    }
    print(f"\nload test: {json.dumps({k: v for k, v in figures.items() if k != 'per_session'})}")
    assert not failures, figures["errors"]
    for r in ok:
        assert r["rows"] == expected and r["all_germany"] and r["message"] == "", r
    # One kernel per session, each light (opened from the snapshot).
    assert len(kernels) >= SESSIONS
    ready = sorted(r["page_ready_s"] for r in ok)
    assert all(r > 0 for r in ready), figures  # the time aims live in benchmarks/bench_sessions.py
    assert max(kernels_pss.values()) <= KERNEL_MB, figures
