"""The first start on new data, as a viewer sees it: ``make run`` on data without a saved
model trains and saves one first (``segkit.server.first_start``), so the page, its report and
its print show lifetime value and never a server folder or an instruction for the operator.
Servers, browser and page helpers as in test_browser.py."""
from __future__ import annotations

import os
import re

import pytest
from test_browser import TIMEOUT_MS, Served, _require_chromium, open_until_drawn

from segkit.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

#: Words meant for whoever runs the server: none may reach a viewer.
OPERATOR_WORDS = ["Not saved", "train with", "segkit train", "make run", "make train", "SEGKIT_", "artifacts",
                  "on the fly", "--"]


@pytest.fixture(scope="module")
def first_started(tmp_path_factory):
    """Voilà started as ``make run`` starts it on data with no saved model: the sample, an
    empty artifacts folder, lifetime value on (conftest turns it off for speed), read-only."""
    folder = tmp_path_factory.mktemp("voila-first-start")
    env = dict(os.environ, SEGKIT_DATA="", SEGKIT_ARTIFACTS=str(folder / "artifacts"),
               SEGKIT_CACHE=str(folder / "cache"), SEGKIT_CLV="1", SEGKIT_ANALYST="")
    _require_chromium()
    from segkit.value.clv import clv_available

    if not clv_available():
        pytest.skip("lifetime value needs the clv extra (pip install 'segkit[clv]')")
    server = Served("first start", folder, env, first_start=True)
    yield server
    server.stop()


def _operator_text(text: str, folder) -> list[str]:
    """What in ``text`` is meant for the operator (a server folder or an instruction), each
    with the words around it."""
    text = re.sub(r"\s+", " ", text)
    words = OPERATOR_WORDS + [str(folder), str(PROJECT_ROOT), "/tmp/", "/home/", "/root/"]
    return [text[max(0, m.start() - 80):m.end() + 80] for word in words
            for m in re.finditer(re.escape(word.lower()), text.lower())]


def test_first_start_page_shows_value_and_nothing_meant_for_the_operator(first_started, browser, tmp_path):
    from segkit.pipeline.artifacts import read_model_card

    assert read_model_card(first_started.artifacts)["clv"]  # trained and saved before the page opened
    log = first_started.log.read_text(errors="replace")
    assert "Trained and saved the model to" in log and "with lifetime value" in log, log[:2000]
    first_started.wait_preheated()
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        open_until_drawn(page, first_started.url)
        text = page.inner_text("body")
        assert "Using the saved model" in text and "lifetime value, next 12 months" in text.lower(), text[:3000]
        assert "not available" not in page.inner_text(".seg-kpis")
        assert _operator_text(text, first_started.folder) == []

        page.emulate_media(media="print")  # what a printed page (and its PDF) holds
        try:
            printed = page.inner_text("body")
        finally:
            page.emulate_media(media="screen")
        assert _operator_text(printed, first_started.folder) == []

        with page.expect_download() as info:
            page.get_by_role("button", name="Report").click()
        report = tmp_path / "report.html"
        info.value.save_as(report)
        shown = context.new_page()
        shown.goto(report.as_uri())
        report_text = shown.inner_text("body")
        assert "Using the saved model" in report_text
        assert _operator_text(report_text, first_started.folder) == []
    finally:
        context.close()
