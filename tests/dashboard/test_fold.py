"""segkit.dashboard.fold: the sections below the first screen are built on demand.

Without a browser: a section is not built until shown, is built once, and built late it
shows the filters set before; the report holds every section whatever was opened. In
Chromium at 1280x800: at first draw the sections' widgets are absent, scrolling to one
builds it, clicking another's "Show" builds that one."""
from __future__ import annotations

import types

import ipywidgets as W
import pytest
from dashboard_checks import SECTION_SHOWN, SECTIONS, show_section
from test_browser import open_first_screen, opened_page

from segkit.dashboard.app import SECTIONS as TITLED_SECTIONS
from segkit.dashboard.fold import FoldSection
from segkit.views.tables import Filters

#: A widget of each section's panel (absent until the section is built).
PANEL_SELECTORS = {"scatter": ".seg-3d-toggle", "segments": ".seg-summary", "compare": ".seg-compare", "value": ".seg-value", "changes": ".seg-changes-section",
                   "campaign": ".seg-campaign-planning", "table": ".seg-download", "score": ".seg-upload",
                   "model": ".seg-about"}


class _Panel:
    def __init__(self):
        self.widget = W.HTML("built")


def _counting_section():
    built = []

    def build():
        built.append(_Panel())
        return built[-1]

    state = types.SimpleNamespace(message="")
    return FoldSection("test", "A test section", build, state), built


def test_a_section_is_not_built_until_shown_and_then_built_once():
    section, built = _counting_section()
    assert not section.built and section.built_panel is None and built == []
    assert section.widget.children == (section.placeholder,)
    section.watcher.seen = True  # the browser saw it scroll into view
    assert len(built) == 1 and section.widget.children == (built[0].widget,)
    section.show_button.click()  # clicked as it was being built: nothing more
    section.show()
    assert len(built) == 1 and section.panel is built[0]


def test_the_show_button_builds_the_section():
    section, built = _counting_section()
    section.show_button.click()
    assert len(built) == 1 and section.built and section.widget.children == (built[0].widget,)


def test_the_page_opens_with_no_section_below_the_first_screen_built(dashboard):
    assert list(dashboard.sections) == [name for name, _t in TITLED_SECTIONS] == list(SECTIONS)
    assert not any(section.built for section in dashboard.sections.values())
    centre = dashboard.app.center.children
    assert centre == (dashboard.segments.glossary_box, *(section.widget for section in dashboard.sections.values()))
    assert dashboard.charts == []  # listing the charts builds nothing
    assert dashboard.segments.charts == [] and dashboard.segments.widget is None
    assert "<table" in dashboard.segments.summary.value  # the summary's texts are kept from the start
    assert not any(section.built for section in dashboard.sections.values())
    dashboard.sections["segments"].show()
    dashboard.sections["compare"].show()
    assert dashboard.segments.widget is not None and len(dashboard.segments.charts) == 2
    assert not dashboard.sections["scatter"].built
    assert dashboard.charts == dashboard.segments.charts + dashboard.compare.charts
    scatter = dashboard.scatter  # reading it builds it
    assert scatter.charts and dashboard.charts == dashboard.segments.charts + scatter.charts + dashboard.compare.charts


def test_a_section_shown_late_shows_the_filters_set_before(dashboard):
    state = dashboard.state
    country = "France"
    expected = int((state.data.customers["Country"] == country).sum())
    assert 0 < expected < len(state.data.customers)
    state.filters = Filters(country=(country,))
    dashboard.sections["table"].watcher.seen = True  # scrolled into view after the filter
    assert dashboard.sections["table"].built
    assert dashboard.table.n_rows == expected and country in dashboard.table.table.value
    a, b = dashboard.compare.compare_a.value, dashboard.compare.compare_b.value  # reading it builds it
    selection = state.selection
    assert f"{selection.segment_count(a):,} {a}" in dashboard.compare.scope.value
    assert f"{selection.segment_count(b):,} {b}" in dashboard.compare.scope.value
    state.filters = Filters()  # built, it follows the filters as any panel does
    assert dashboard.table.n_rows == len(state.data.customers)


def test_the_report_holds_every_section_whatever_was_opened(dashboard):
    dashboard.report.make()
    text = dashboard.report.download.content.decode("utf-8")
    for heading in ("Campaign planning", "What changed", "Segments in this view", "What the segments mean"):
        assert f"<h2>{heading}</h2>" in text, heading
    assert not any(section.built for section in dashboard.sections.values())  # the report built none


# ------------------------------------------------------------------ in Chromium


@pytest.mark.browser
def test_sections_are_absent_at_first_draw_and_come_on_scroll_or_show(viewer_served, browser):
    with opened_page(viewer_served, browser, viewport=(1280, 800), opener=open_first_screen) as page:
        page.wait_for_timeout(1500)  # time for a watcher to fire, were its section in view
        for name, selector in PANEL_SELECTORS.items():
            assert page.locator(f".seg-fold-{name} .seg-fold-placeholder").count() == 1, name
            assert page.locator(selector).count() == 0, name
        assert page.locator(".js-plotly-plot").count() == 0  # every chart is below the first screen
        # below the first screen indeed: the first placeholder starts under the window
        top = page.evaluate("() => document.querySelector('.seg-fold-scatter').getBoundingClientRect().top")
        assert top > 800, top

        page.locator(".seg-fold-segments").scroll_into_view_if_needed()
        page.wait_for_function(SECTION_SHOWN, arg="segments", polling=100)
        # SECTION_SHOWN holds as soon as the section's text is drawn and every chart drawn so far has
        # its svg; on a cold machine the charts' views may come a moment after the text
        page.wait_for_function("() => document.querySelectorAll('.seg-segments .js-plotly-plot .main-svg')"
                               ".length >= 2", polling=100)
        assert page.locator(".seg-summary table").count() == 1
        assert page.locator(".seg-fold-model .seg-fold-placeholder").count() == 1  # far below: still waiting

        page.locator(".seg-fold-model .seg-fold-show").click()
        page.wait_for_function(SECTION_SHOWN, arg="model", polling=100)
        assert "K =" in page.inner_text(".seg-about")
        show_section(page, "model")  # shown already: nothing to click, returns at once
