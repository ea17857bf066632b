"""The page refresher (``segkit.live.refresher``): one process computes a live page's
refreshes, every open page only reads them (so a kernel does not pay for it)."""
from __future__ import annotations

import asyncio
import html
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_live_panel import (  # noqa: F401
    HELD_BACK,
    SampleFolder,
    in_fresh_thread,
    trained,
    write_settled,
)

from segkit.config import PROJECT_ROOT


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def folder(tmp_path, trained):  # noqa: F811 - the shared module fixture
    """A fresh copy of the trained folder: ``(SampleFolder, artifacts)``."""
    source, artifacts = trained
    copy = SampleFolder.__new__(SampleFolder)
    copy.path, copy.coming = tmp_path / "data", source.coming
    shutil.copytree(source.path, copy.path)
    return copy, artifacts


class PagesMustNotCompute:
    """While ``on``, a page's feed computing a refresh, or a page computing its page
    snapshot, fails the test (the refresher's feed may)."""

    def __init__(self, monkeypatch):
        from segkit.live.feed import LiveFeed
        from segkit.page import page_cache

        self.on = False
        original_state, original_customers = LiveFeed._state_to_compute, page_cache.page_customers

        def state_to_compute(feed):
            assert not (self.on and not feed.is_follower), "a page computed a refresh"
            return original_state(feed)

        def page_customers(*args, **kwargs):
            assert not self.on, "a page computed its page cache"
            return original_customers(*args, **kwargs)

        monkeypatch.setattr(LiveFeed, "_state_to_compute", state_to_compute)
        monkeypatch.setattr(page_cache, "page_customers", page_customers)
        import segkit.dashboard.state as state_module

        if hasattr(state_module, "page_customers"):
            monkeypatch.setattr(state_module, "page_customers", page_customers)


def _open_page(folder, artifacts):
    from segkit.dashboard import Dashboard

    return in_fresh_thread(lambda: Dashboard(folder.path, artifacts, query=""))


def _refresher(folder, artifacts):
    from segkit.live.refresher import PageRefresher

    return PageRefresher(folder.path, artifacts, interval=1)


@pytest.mark.slow
def test_with_a_refresher_pages_only_read_and_show_the_new_day(folder, cache, monkeypatch):
    folder, artifacts = folder
    guard = PagesMustNotCompute(monkeypatch)
    refresher = _refresher(folder, artifacts)
    assert refresher.why_not() == ""
    first = refresher.step()
    assert first is not None and refresher.feed.computed == 1 and refresher.feed.follower_path().is_file()
    guard.on = True
    page, other = _open_page(folder, artifacts), _open_page(folder, artifacts)
    for dashboard in (page, other):
        feed = dashboard.live.feed
        assert feed.computed == 0 and feed.key == refresher.feed.key and not feed.has_news()
        pd.testing.assert_frame_equal(dashboard.state.data.customers, folder.customers(), check_dtype=False)
        assert len(dashboard.state.everyone) == len(folder.customers())  # the page cache, read
    page.state.filters = page.state.filters.__class__(country="United Kingdom")

    day, frame = next(iter(folder.coming.items()))
    write_settled(frame, folder.path / f"{day}.parquet")
    assert page.live.check() is None  # the page does not list the folder: the refresher has not seen it yet
    guard.on = False
    update = refresher.step()
    guard.on = True
    assert update is not None and update.added_files == [f"{day}.parquet"]
    meta = json.loads((cache / "live" / f"{refresher.feed.key}.json").read_text())
    assert meta["computed_by"] == {"pid": os.getpid(), "refresher": True}
    expected = folder.customers()
    for dashboard in (page, other):
        assert dashboard.live.feed.has_news()
        shown = dashboard.live.check()
        assert shown is not None and shown.how == "snapshot" and shown.added_files == [f"{day}.parquet"]
        assert shown.new_lines == len(frame) and shown.new_customers
        pd.testing.assert_frame_equal(dashboard.state.data.customers, expected, check_dtype=False)
        assert len(dashboard.state.everyone) == len(expected)
        assert f"new lines from &#x27;{day}.parquet&#x27;" in dashboard.live.notice_text.value
        assert dashboard.live.feed.computed == 0 and not dashboard.live.feed.has_news()
    assert page.state.filters.country == ("United Kingdom",)  # the view stays


def test_a_refreshers_failure_is_shown_and_the_page_keeps_its_data(folder, cache, monkeypatch, tmp_path):
    folder, artifacts = folder
    refresher = _refresher(folder, artifacts)
    refresher.step()
    page = _open_page(folder, artifacts)
    data = page.state.data
    aside = tmp_path / "aside"
    shutil.move(folder.path, aside)  # every file gone: the refresher's check fails
    folder.path.mkdir()
    assert refresher.step() is None
    reason = json.loads(refresher.feed.follower_path().read_text())["error"]
    assert "no usable lines" in reason and page.live.feed.has_news()

    async def check():
        page.live.opened = True
        page.live._checking = asyncio.Lock()
        await page.live._check_once()

    in_fresh_thread(lambda: asyncio.run(check()))
    status = html.unescape(page.live.status.value)
    assert f"failed ({reason})" in status and "Data up to" in status
    assert page.state.data is data and not page.live.feed.has_news()  # told once
    folder.path.rmdir()
    shutil.move(aside, folder.path)
    assert refresher.step() is None  # the same files as its last snapshot: nothing new, the failure cleared
    assert page.live.feed.has_news()
    in_fresh_thread(lambda: asyncio.run(check()))
    assert "failed" not in page.live.status.value and page.state.data is data


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_pages_compute_again_when_the_refresher_stops_answering(folder, cache):
    from segkit.live.heartbeat import FOLLOWER_STALE_SECONDS

    folder, artifacts = folder
    refresher = _refresher(folder, artifacts)
    refresher.step()
    page = _open_page(folder, artifacts)
    assert page.live.feed.follower() is not None
    old = time.time() - FOLLOWER_STALE_SECONDS - 5
    os.utime(refresher.feed.follower_path(), (old, old))  # no heartbeat for a while
    assert page.live.feed.follower() is None
    day, frame = next(iter(folder.coming.items()))
    write_settled(frame, folder.path / f"{day}.parquet")
    update = page.live.check()
    assert update is not None and page.live.feed.computed == 1
    pd.testing.assert_frame_equal(page.state.data.customers, folder.customers(), check_dtype=False)


@pytest.mark.slow
def test_the_refresher_takes_a_model_saved_after_it_started(folder, cache):
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    folder, artifacts = folder
    refresher = _refresher(folder, artifacts)
    refresher.step()
    old_page, old_beat = _open_page(folder, artifacts), refresher.feed.follower_path()
    data = load_customer_data(folder.path)
    model, _ = train_model(data, 3)
    save_artifacts(model, artifacts, data.training_info())
    refresher.step()
    assert refresher.feed.model.n_clusters == 3
    assert not old_beat.exists() and refresher.feed.follower_path().is_file()
    assert old_page.live.feed.follower() is None  # the old model's pages compute their own again
    new_page = _open_page(folder, artifacts)
    assert new_page.live.feed.computed == 0 and new_page.live.feed.key == refresher.feed.key


@pytest.mark.slow
def test_an_open_page_polls_the_refresher_and_shows_a_new_day_before_its_interval(folder, cache, monkeypatch):
    import segkit.dashboard.live_panel as live_module

    folder, artifacts = folder
    refresher = _refresher(folder, artifacts)
    refresher.step()
    page = _open_page(folder, artifacts)
    live = page.live
    monkeypatch.setattr(live_module, "FOLLOWER_POLL_SECONDS", 0.05)
    day, frame = next(iter(folder.coming.items()))

    async def follow():
        live.interval = 3600  # the page's own interval never comes in this test
        assert live.start() is True
        live.page_opened()
        await asyncio.sleep(0.3)
        checks = live.checks
        write_settled(frame, folder.path / f"{day}.parquet")
        refresher.step()
        for _ in range(200):
            await asyncio.sleep(0.05)
            if live.updates:
                break
        live.stop()
        return checks

    checks_before = in_fresh_thread(lambda: asyncio.run(follow()))
    assert checks_before == 1  # the check when the page was opened; polling the heartbeat is not a check
    assert live.updates == 1 and live.feed.computed == 0
    assert f"{day}.parquet" in live.notice_text.value


def _env(folder, artifacts, cache) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SEGKIT_DATA=str(folder), SEGKIT_ARTIFACTS=str(artifacts), SEGKIT_CACHE=str(cache),
               SEGKIT_REFRESH_SECONDS="1", SEGKIT_SETTLE_SECONDS="0")
    return env


@pytest.mark.slow
def test_serve_starts_the_refresher_which_stops_with_the_server(folder, cache):
    from segkit.server.serve import start_refresher

    folder, artifacts = folder
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        process, line = start_refresher(_env(folder.path, artifacts, cache), watch_pid=watched.pid,
                                        stderr=subprocess.DEVNULL)
        assert process is not None and line.startswith("ready: following") and "customers" in line
        beats = list((cache / "live").glob("*.follower.json"))
        assert len(beats) == 1 and json.loads(beats[0].read_text())["pid"] == process.pid
        day, frame = next(iter(folder.coming.items()))
        write_settled(frame, folder.path / f"{day}.parquet")
        deadline = time.monotonic() + 60
        while json.loads(beats[0].read_text())["key"] is None or not _shows(cache, beats[0], day):
            assert time.monotonic() < deadline, "the refresher did not take the new file"
            time.sleep(0.2)
    finally:
        watched.kill()
        watched.wait()
    process.wait(timeout=30)  # the watched process (the server) ended: so does the refresher
    assert not beats[0].exists()


def _shows(cache: Path, beat: Path, day: str) -> bool:
    key = json.loads(beat.read_text())["key"]
    meta = cache / "live" / f"{key}.json"
    return meta.is_file() and f"{day}.parquet" in json.loads(meta.read_text())["files"]


def test_no_refresher_for_a_page_on_one_file_or_without_a_saved_model(folder, cache, tmp_path, sample_data):
    from segkit.server.serve import start_refresher

    folder, artifacts = folder
    process, line = start_refresher(_env(sample_data, artifacts, cache), stderr=subprocess.DEVNULL)
    assert process is None and line.startswith("not following") and "not a folder" in line
    process, line = start_refresher(_env(folder.path, tmp_path / "none", cache), stderr=subprocess.DEVNULL)
    assert process is None and line.startswith("not following") and "no saved model" in line
    assert not (cache / "live").exists() or not list((cache / "live").glob("*.follower.json"))


@pytest.mark.slow
def test_the_refresher_can_be_run_by_hand(folder, cache):
    folder, artifacts = folder
    run = subprocess.run([sys.executable, "-m", "segkit.live.refresher", "--once", "--data", str(folder.path),
                          "--artifacts", str(artifacts)], env=_env(folder.path, artifacts, cache), cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ready: following") and f"{len(folder.customers()):,} customers" in run.stdout


@pytest.mark.slow
def test_make_run_on_a_folder_starts_the_refresher_and_stops_it_with_the_server(folder, cache, tmp_path):
    """``python -m segkit.server.serve`` (what ``make run`` starts) on a folder with a saved model: it
    says the refresher follows the folder, and the refresher ends with Voilà (which the serve
    process becomes)."""
    from segkit.server import serve

    folder, artifacts = folder
    port, output = serve.free_port(), tmp_path / "serve.log"
    env = dict(_env(folder.path, artifacts, cache), SEGKIT_POOL_SIZE="1")
    with open(output, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "segkit.server.serve", f"--port={port}", "--no-browser"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 300
        while "Serving the dashboard" not in output.read_text():
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.5)
        text = output.read_text()
        assert f"Starting the page refresher (it reads {folder.path} once" in text
        assert text.index("Starting the page refresher") < text.index(f"Page refresher: ready: following {folder.path}")
        beat = next((cache / "live").glob("*.follower.json"))
        pid = json.loads(beat.read_text())["pid"]
        os.kill(pid, 0)  # running
    finally:
        process.terminate()
        process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while beat.exists() or _alive(pid):
        assert time.monotonic() < deadline, "the refresher outlived the server"
        time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of this test's process tree that ended but was not reaped counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _beat_pid(cache: Path, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while True:
        beats = list((cache / "live").glob("*.follower.json")) if (cache / "live").is_dir() else []
        if beats:
            try:
                beat = json.loads(beats[0].read_text())
                if beat.get("key"):
                    return int(beat["pid"])
            except ValueError:
                pass
        assert time.monotonic() < deadline, "no page refresher published a snapshot"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_page_in_plain_voila_starts_the_refresher_once(folder, cache, monkeypatch):
    """Without ``segkit.server.serve`` (a plain ``voila dashboard.ipynb``), the first page kernel that
    finds no refresher starts one; later pages read from it, and start no other."""
    import signal

    from segkit.live.refresher import start_for_page

    folder, artifacts = folder
    monkeypatch.setenv("VOILA_KERNEL_ID", "a-kernel")  # as in a Voila kernel
    page = _open_page(folder, artifacts)
    assert page.live.feed.computed == 1  # the first page computed the log: nobody had yet
    pid = _beat_pid(cache)
    try:
        assert pid != os.getpid()
        other = _open_page(folder, artifacts)
        assert other.live.feed.follower()["pid"] == pid and other.live.feed.computed == 0
        assert start_for_page(other.live.feed, artifacts) is False  # one runs: no second one
        day, frame = next(iter(folder.coming.items()))
        write_settled(frame, folder.path / f"{day}.parquet")
        deadline = time.monotonic() + 120
        while not page.live.feed.has_news():
            assert time.monotonic() < deadline, "the started refresher did not take the new file"
            time.sleep(0.2)
        update = page.live.check()
        assert update is not None and update.added_files == [f"{day}.parquet"] and update.how == "snapshot"
        assert page.live.feed.computed == 1  # the new day was computed by the refresher
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid) or list((cache / "live").glob("*.follower.json")):
        assert time.monotonic() < deadline, "the refresher did not stop on SIGTERM"
        time.sleep(0.2)


def test_a_second_refresher_for_the_same_log_stops_and_the_switch_turns_it_off(folder, cache):
    from segkit.live.refresher import PageRefresher

    folder, artifacts = folder
    first = _refresher(folder, artifacts)
    assert first.step() is not None
    second = PageRefresher(folder.path, artifacts, interval=1)
    assert second.step() is None and second.duplicate and second.stopped.is_set()
    assert second._ready_text().startswith("not following: another page refresher")
    assert json.loads(first.feed.follower_path().read_text())["pid"] == os.getpid()  # the first one's, kept
    first._release()
    assert not first.feed.follower_path().exists()
    third = PageRefresher(folder.path, artifacts, interval=1)
    assert third.step() is not None and not third.duplicate  # the lock was released
    third._release()
    from segkit.server.serve import start_refresher

    process, line = start_refresher(dict(_env(folder.path, artifacts, cache), SEGKIT_REFRESHER="0"),
                                    stderr=subprocess.DEVNULL)
    assert process is None and line == "not following: SEGKIT_REFRESHER=0 turns the page refresher off"
