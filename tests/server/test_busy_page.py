"""Past the cap on live kernels a visitor gets a clear "busy" page that retries by itself,
not an overloaded machine; a place frees up when a page is closed."""
from __future__ import annotations

import os

import pytest
from dashboard_checks import FIRST_SCREEN_DRAWN
from test_browser import TIMEOUT_MS, Served, _require_chromium, open_until_drawn

from segkit.server.kernels import CONNECT_GRACE_SECONDS

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def served_capped(tmp_path_factory, sample_log, browser):
    """The sample with its model saved, one pre-executed kernel and a cap of one page."""
    _require_chromium()
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import load_customer_data, train_model

    folder = tmp_path_factory.mktemp("voila-busy")
    log = folder / "log.csv"
    sample_log.to_csv(log, index=False)
    env = dict(os.environ, SEGKIT_DATA=str(log), SEGKIT_ARTIFACTS=str(folder / "artifacts"),
               SEGKIT_CACHE=str(folder / "cache"), SEGKIT_MAX_KERNELS="1", SEGKIT_POOL_SIZE="1")
    data = load_customer_data(log)
    model, _ = train_model(data, 4)
    save_artifacts(model, folder / "artifacts", data.training_info())
    server = Served("busy", folder, env)
    yield server
    server.stop()


def test_a_visitor_past_the_cap_gets_a_busy_page_that_retries(served_capped, browser):
    served = served_capped
    served.wait_preheated()
    first = browser.new_context(viewport={"width": 1400, "height": 900})
    second = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = first.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        open_until_drawn(page, served.url)

        busy = second.new_page()
        busy.set_default_timeout(TIMEOUT_MS)
        reply = busy.goto(served.url)
        assert reply.status == 503
        text = busy.inner_text("body")
        assert "The dashboard is busy" in text and "1 page is open" in text
        assert "tries again by itself in 30 seconds" in text
        assert busy.locator("meta[http-equiv='refresh']").get_attribute("content") == "30"
        assert "Traceback" not in busy.content()

        # The first visitor leaves: once their page has had CONNECT_GRACE_SECONDS to
        # connect and is gone, their kernel is shut down and the place is free again.
        page.close(run_before_unload=True)
        for _ in range(CONNECT_GRACE_SECONDS + 20):
            reply = busy.goto(served.url)
            if reply.status == 200:
                break
            busy.wait_for_timeout(1000)
        assert reply.status == 200
        busy.wait_for_function(FIRST_SCREEN_DRAWN, polling=100)  # the page itself, not the busy page
    finally:
        first.close()
        second.close()
    assert "segkit: busy, 1 of 1 visitor kernels in use" in served.log.read_text(errors="replace")
