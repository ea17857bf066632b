"""The live page in a real browser: Voilà serving a folder of daily files that grows while
the page is open. Server and browser as in ``tests/test_browser.py``.

The built-in sample is split into monthly files up to ten days before its end and daily
files after that; the last three days are held back. A model is trained on the folder as
it starts and saved in temporary artifacts; the server checks every 2 s
(``SEGKIT_REFRESH_SECONDS``) and counts a file as written after 3 s untouched
(``SEGKIT_SETTLE_SECONDS``). The tests share one page, in order.
"""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
from dashboard_checks import show_section
from test_browser import (
    TIMEOUT_MS,
    Served,
    _require_chromium,
    open_until_drawn,
    pages_on,
)
from test_live_panel import SampleFolder, write_settled
from test_refresher import _alive

pytestmark = pytest.mark.browser

REFRESH_SECONDS = 2
SETTLE_SECONDS = 3
UPDATE_TIMEOUT_MS = 60_000


def _number(text: str) -> int:
    return int("".join(c for c in text if c.isdigit()))


@pytest.fixture(scope="module")
def live_served(tmp_path_factory):
    """Voilà on the folder, with a model trained on it as it starts (saved: the page uses it)."""
    _require_chromium()
    from segkit.ingest.sample import generate_sample_transactions
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    root = tmp_path_factory.mktemp("voila-live")
    folder = SampleFolder(root / "data", generate_sample_transactions())
    data = load_customer_data(folder.path)
    model, _ = train_model(data, "auto")
    save_artifacts(model, root / "artifacts", data.training_info())
    env = dict(os.environ)
    env.update(SEGKIT_DATA=str(folder.path), SEGKIT_ARTIFACTS=str(root / "artifacts"), SEGKIT_CACHE=str(root / "cache"),
               SEGKIT_REFRESH_SECONDS=str(REFRESH_SECONDS), SEGKIT_SETTLE_SECONDS=str(SETTLE_SECONDS),
               SEGKIT_ANALYST="")
    server = Served("live", root, env)
    server.folder, server.first, server.cache = folder, data, root / "cache"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_page(live_served, browser):
    """One page, opened once the pre-heated kernel has run the notebook."""
    yield from pages_on(live_served, browser)


def _customers_kpi(page) -> int:
    return _number(page.inner_text('.seg-kpis [data-kpi="Customers"] .seg-card-value'))


def _wait_for_status(page, text: str) -> None:
    page.wait_for_function("(t) => document.querySelector('.seg-data-status').innerText.includes(t)", arg=text,
                           timeout=UPDATE_TIMEOUT_MS)


def test_the_page_says_how_recent_its_data_is(live_page, live_served):
    last = live_served.first.period[1]
    status = live_page.inner_text(".seg-data-status")
    assert f"Data up to {last.day} {last:%b %Y %H:%M}" in status and "updated" in status
    assert _customers_kpi(live_page) == len(live_served.first.customers)
    assert live_page.locator(".seg-live-notice").is_hidden()
    assert "Using the saved model" in live_page.inner_text(".seg-app")


def test_a_new_day_shows_up_and_the_view_stays(live_page, live_served):
    page, folder = live_page, live_served.folder
    # The viewer's view: sorted by purchases, ascending, on page 2 of the table.
    show_section(page, "table")
    page.locator(".seg-customers select").first.select_option(label="Purchases")
    page.locator(".seg-customers button", has_text="Ascending").click()
    # the kernel has sorted when the first row shows the fewest purchases ('page 1 of' holds before)
    page.wait_for_function(
        """(n) => { const t = document.querySelector('.seg-customer-table'); if (!t) return false;
                    const i = [...t.querySelectorAll('thead th')].findIndex(h => h.innerText.trim() === 'Purchases');
                    const cell = i < 0 ? null : t.querySelector(`tbody tr td:nth-child(${i + 1})`);
                    return cell !== null && cell.innerText.replace(/,/g, '') === String(n); }""",
        arg=int(live_served.first.customers["NumPurchases"].min()))
    assert "page 1 of" in page.inner_text(".seg-page-label")
    page.get_by_role("button", name="Next ›").click()
    page.wait_for_function("() => document.querySelector('.seg-page-label').innerText.includes('page 2 of')")
    before = _customers_kpi(page)

    day, frame = next(iter(folder.coming.items()))
    write_settled(frame, folder.path / f"{day}.parquet")
    expected = folder.customers()
    last = expected["LastPurchase"].max()
    _wait_for_status(page, f"Data up to {last.day} {last:%b %Y}")
    page.wait_for_function("(n) => document.querySelector('.seg-kpis [data-kpi=\"Customers\"] .seg-card-value')"
                           ".innerText.replace(/,/g, '') === String(n)", arg=len(expected), timeout=UPDATE_TIMEOUT_MS)
    new = len(expected) - before
    assert new > 0
    notice = page.inner_text(".seg-live-notice")
    assert f"{len(frame):,} new lines from '{day}.parquet'" in notice and f"{new:,} new customer" in notice
    # Filters, sort and page stay as the viewer set them.
    assert "page 2 of" in page.inner_text(".seg-page-label")
    assert page.locator(".seg-customers select").first.input_value() == "Purchases"
    assert page.locator(".seg-customers button.mod-active", has_text="Ascending").count() == 1
    assert page.inner_text(".seg-message") == ""
    # Computed once by the page refresher the server started; the page's kernel only read it.
    assert live_served.process.refresher is not None and live_served.process.refresher.poll() is None
    beat = json.loads(next((live_served.cache / "live").glob("*.follower.json")).read_text())
    meta = json.loads((live_served.cache / "live" / f"{beat['key']}.json").read_text())
    assert f"{day}.parquet" in meta["files"] and meta["computed_by"] == {"pid": beat["pid"], "refresher": True}


def test_a_half_written_file_is_not_read(live_page, live_served):
    page, folder = live_page, live_served.folder
    day, frame = list(folder.coming.items())[1]
    path = folder.path / f"{day}.csv"
    before = page.inner_text(".seg-data-status")
    header, rows = frame.columns, frame.to_csv(index=False, header=False).splitlines(keepends=True)
    chunks = [rows[i::8] for i in range(8)]

    def write_slowly():  # a export still being written: a chunk every 0.7 s for about 6 s
        with open(path, "w") as handle:
            handle.write(",".join(header) + "\n")
            for chunk in chunks:
                handle.writelines(chunk)
                handle.flush()
                time.sleep(0.7)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        while writer.is_alive():  # every check while it grows: the page has not read it
            assert page.inner_text(".seg-data-status") == before
            assert f"'{day}.csv'" not in page.inner_text(".seg-live-notice")
            time.sleep(0.5)
    finally:
        writer.join()
    # Written and left alone: read whole at a later check.
    page.wait_for_function("(t) => document.querySelector('.seg-live-notice').innerText.includes(t)",
                           arg=f"'{day}.csv'", timeout=UPDATE_TIMEOUT_MS)
    assert f"{len(frame):,} new lines from '{day}.csv'" in page.inner_text(".seg-live-notice")
    expected = folder.customers()
    last = expected["LastPurchase"].max()
    assert f"Data up to {last.day} {last:%b %Y %H:%M}" in page.inner_text(".seg-data-status")
    assert _customers_kpi(page) == len(expected)


def test_clicking_a_move_filters_the_table_to_those_customers(live_page):
    page = live_page
    moves = page.locator(".seg-live-move")
    if moves.count() == 0:  # this update moved nobody: the new customers' button filters the same way
        moves = page.locator(".seg-live-new")
    button = moves.first
    count = _number(button.inner_text().split()[0])
    show_section(page, "table")
    button.click()
    page.wait_for_selector(".seg-customer-filter", state="visible")
    page.wait_for_function("(n) => document.querySelector('.seg-page-label').innerText.startsWith(n + ' customers')",
                           arg=f"{count:,}")
    assert "The table shows" in page.inner_text(".seg-customer-filter")
    page.locator(".seg-clear-customer-filter").click()
    page.wait_for_selector(".seg-customer-filter", state="hidden")
    page.wait_for_function("(n) => !document.querySelector('.seg-page-label').innerText.startsWith(n + ' customers')",
                           arg=f"{count:,}")


def test_a_removed_file_is_dropped_with_a_notice(live_page, live_served):
    page, folder = live_page, live_served.folder
    gone = sorted(folder.path.glob("*.csv"))[0]
    gone.unlink()
    expected = folder.customers()
    page.wait_for_function("(n) => document.querySelector('.seg-live-notice').innerText.includes(n)",
                           arg=f"'{gone.name}' is no longer in the folder", timeout=UPDATE_TIMEOUT_MS)
    page.wait_for_function("(n) => document.querySelector('.seg-kpis [data-kpi=\"Customers\"] .seg-card-value')"
                           ".innerText.replace(/,/g, '') === String(n)", arg=len(expected), timeout=UPDATE_TIMEOUT_MS)


def test_plain_voila_on_a_folder_starts_a_refresher_that_ends_with_it(live_served, browser, tmp_path):
    """``voila dashboard.ipynb`` (voila.json, no ``segkit.server.serve``) on a folder with a saved
    model: the first page kernel starts the page refresher, which computes the next day for
    the open page and stops when Voilà stops."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from test_browser import PROJECT_ROOT
    from test_live_panel import SampleFolder

    from segkit.server import serve

    folder = SampleFolder.__new__(SampleFolder)
    folder.path, folder.coming = tmp_path / "data", live_served.folder.coming
    shutil.copytree(live_served.folder.path, folder.path)
    for day in folder.coming:  # the days the other tests added
        for added in folder.path.glob(f"{day}.*"):
            added.unlink()
    port, log, cache = serve.free_port(), tmp_path / "voila.log", tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("SEGKIT_PLOTLY_BUNDLE", "JUPYTER_PATH")}
    env.update(SEGKIT_DATA=str(folder.path), SEGKIT_ARTIFACTS=str(live_served.artifacts), SEGKIT_CACHE=str(cache),
               SEGKIT_POOL_SIZE="1", SEGKIT_REFRESH_SECONDS=str(REFRESH_SECONDS),
               SEGKIT_SETTLE_SECONDS=str(SETTLE_SECONDS), SEGKIT_ANALYST="")
    with open(log, "w") as output:
        process = subprocess.Popen([str(Path(sys.executable).parent / "voila"), "dashboard.ipynb", f"--port={port}",
                                    "--no-browser"], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        serve.wait_until_preheated(port, log, timeout=TIMEOUT_MS / 1000, process=process)
        deadline = time.monotonic() + 60
        while not list((cache / "live").glob("*.follower.json")):
            assert time.monotonic() < deadline, "no page refresher started"
            time.sleep(0.2)
        beat_path = next((cache / "live").glob("*.follower.json"))
        pid = json.loads(beat_path.read_text())["pid"]
        command = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        assert "segkit.live.refresher" in command and command[command.index("--watch-pid") + 1] == str(process.pid)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            open_until_drawn(page, f"http://127.0.0.1:{port}/")
            day, frame = next(iter(folder.coming.items()))
            write_settled(frame, folder.path / f"{day}.parquet")
            expected = folder.customers()
            last = expected["LastPurchase"].max()
            _wait_for_status(page, f"Data up to {last.day} {last:%b %Y}")
            assert _customers_kpi(page) == len(expected)
        finally:
            context.close()
        beat = json.loads(beat_path.read_text())
        meta = json.loads((cache / "live" / f"{beat['key']}.json").read_text())
        assert f"{day}.parquet" in meta["files"] and meta["computed_by"] == {"pid": pid, "refresher": True}
    finally:
        process.terminate()
        process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, "the page refresher outlived Voila"
        time.sleep(0.2)
    assert not beat_path.exists()

