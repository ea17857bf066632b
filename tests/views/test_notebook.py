"""segkit.views.notebook: the notebooks' charts interactive, with a PNG beside when kaleido can draw one."""
from __future__ import annotations

import sys

import plotly.io as pio
import pytest

from segkit.views.notebook import charts_everywhere


@pytest.fixture(autouse=True)
def _keep_plotlys_renderer():
    default = pio.renderers.default
    yield
    pio.renderers.default = default


def test_without_static_images_charts_are_interactive_only():
    assert charts_everywhere(static=False) == "plotly_mimetype"
    assert pio.renderers.default == "plotly_mimetype"


def test_without_kaleido_the_charts_stay_interactive_and_one_sentence_says_why(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "kaleido", None)  # import kaleido fails as when it is not installed
    assert charts_everywhere() == "plotly_mimetype"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Charts are interactive only") and "Install kaleido" in out[0]
    assert pio.renderers.default == "plotly_mimetype"
