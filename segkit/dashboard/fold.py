"""Sections below the first screen, built on demand.

A visitor first sees the header, the filters and what the segments mean; every widget of
the page costs the browser time to draw, so the sections below (the chart of every
customer, the segment summary and everything under them: ``app.SECTIONS``) are not built
when the page opens. Each ``FoldSection`` stands in the page as its title and a "Show" button in a light box; it
builds its panel (``build()``, from the page's state as it is then: the filters set
before are honoured) and puts it in its place when the box scrolls into view (a
``FoldWatcher`` in the browser tells the kernel) or the button is clicked, or when code
asks for ``section.panel``. Built once, the panel follows the state as any panel does.

On paper a never-opened section prints one line (``NOT_OPENED``): open it on the page
before printing, or download the HTML report (``report.report_html``, a function of the
state alone: what was opened does not change it).
"""
from __future__ import annotations

import html
from typing import Callable

import anywidget
import ipywidgets as W
import traitlets

from segkit.dashboard.widgets import classed, guarded

__all__ = ["FoldSection", "FoldWatcher", "NOT_OPENED", "PLACEHOLDER_HEIGHT"]

#: Height a placeholder keeps on screen, about a panel's: scrolling to one section does not
#: bring all the others below it into view at once (each is a few lines tall otherwise).
PLACEHOLDER_HEIGHT = "360px"
#: What a never-opened section says on paper.
NOT_OPENED = ("This section was not opened on the page, so it is not printed: open it (scroll to it or click "
              "Show) before printing, or download the HTML report (Report, at the top), which does not depend on "
              "what was opened.")


class FoldWatcher(anywidget.AnyWidget):
    """Sets ``seen`` once its element comes within 200 px of the visible part of the page
    (an ``IntersectionObserver``: it follows Voilà's own scrolling box too)."""

    _esm = """
function render({ model, el }) {
  el.classList.add("seg-fold-watch");
  el.style.height = "1px";
  if (model.get("seen")) return;
  const watch = new IntersectionObserver((entries) => {
    if (entries.some(e => e.isIntersecting) && !model.get("seen")) {
      watch.disconnect();
      model.set("seen", true);
      model.save_changes();
    }
  }, { rootMargin: "200px 0px" });
  watch.observe(el);
  return () => watch.disconnect();
}
export default { render };
"""
    seen = traitlets.Bool(False).tag(sync=True)


class FoldSection:
    """A section of the page drawn on demand.

    Parameters
    ----------
    name : short name, also the CSS class ``seg-fold-<name>`` of its box.
    title : what the placeholder shows before the section is built.
    build : makes the panel (an object with a ``.widget``) from the page's state as it is.
    state : the page's ``DashboardState`` (a failure to build becomes its message).

    ``widget`` is the box the page lays out; ``built`` says whether the panel exists;
    ``panel`` builds it first if needed (what showing the section does).
    """

    def __init__(self, name: str, title: str, build: Callable[[], object], state):
        self.name, self.title, self._build, self.state = name, title, build, state
        self._panel = None
        self.show_button = classed(W.Button(description="Show", icon="chevron-down",
                                            tooltip=f"Draw {title.lower()} now", layout=W.Layout(width="auto")),
                                   "seg-fold-show")
        self.watcher = FoldWatcher()
        heading = W.HTML(f'<h3>{html.escape(title)}</h3><p class="seg-meta seg-fold-hint">Drawn when you scroll '
                         f'here or click Show.</p><p class="seg-print-only seg-fold-not-opened">'
                         f"{html.escape(NOT_OPENED)}</p>")
        self.placeholder = classed(W.VBox([heading, self.show_button, self.watcher],
                                          layout=W.Layout(min_height=PLACEHOLDER_HEIGHT, align_items="flex-start")),
                                   "seg-panel", "seg-fold-placeholder")
        self.widget = classed(W.VBox([self.placeholder]), "seg-fold", f"seg-fold-{name}")
        self.show_button.on_click(guarded(state, lambda _b: self.show()))
        self.watcher.observe(guarded(state, lambda c: c["new"] and self.show()), names="seen")

    @property
    def built(self) -> bool:
        return self._panel is not None

    @property
    def built_panel(self):
        """The panel if it was built, else ``None`` (never builds it)."""
        return self._panel

    @property
    def panel(self):
        """The panel, built (and put in the page) first if it was not."""
        self.show()
        return self._panel

    def show(self) -> None:
        """Build the panel from the state as it is now and put it in the placeholder's place
        (once: later calls do nothing)."""
        if self._panel is None:
            self._panel = self._build()
            self.widget.children = [self._panel.widget]
            for widget in (*self.placeholder.children, self.placeholder):  # no longer shown anywhere
                widget.close()
