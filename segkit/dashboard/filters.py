"""The filter panel: segments, countries, full-period spend, purchase dates, product category.

The country list takes several countries (Ctrl or Cmd + click); none chosen means every country.

It writes only ``state.filters`` (one field per widget change, so a change that leaves
the filters as they are notifies nobody) and follows ``state.filters`` when something
else sets them (a link, Reset, a new model).
"""
from __future__ import annotations

import html
from dataclasses import replace
from datetime import date, datetime

import ipywidgets as W

from segkit.dashboard.widgets import classed, guarded
from segkit.errors import SegkitError
from segkit.page.data import line_count
from segkit.rules.registry import OTHER_CATEGORY, PRODUCT_CATEGORIES
from segkit.views.tables import ALL, Filters

__all__ = ["FiltersPanel", "parse_amount", "parse_day", "DATE_FORMAT"]

#: How dates are typed and shown: day first (a UK shop; also what most of Europe reads).
DATE_FORMAT = "%d/%m/%Y"
_DATE_INPUTS = ("%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d", "%d %b %Y", "%d %B %Y")


def parse_amount(text: str) -> float | None:
    """An amount typed by a person (``1,250``, ``£300``); ``None`` for an empty box."""
    cleaned = (text or "").strip().replace(",", "").lstrip("£$€ ").strip()
    if not cleaned:
        return None
    try:
        return float(cleaned)
    except ValueError:
        raise SegkitError(f"'{text.strip()}' is not an amount; type a number such as 250 or leave the box empty.") from None


def parse_day(text: str) -> date | None:
    """A day typed as DD/MM/YYYY (also 1/9/2011, 01.09.2011, 2011-09-01, 1 Sep 2011);
    ``None`` for an empty box."""
    cleaned = (text or "").strip()
    if not cleaned:
        return None
    for fmt in _DATE_INPUTS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    raise SegkitError(f"'{cleaned}' is not a date; type it as day/month/year, e.g. 01/09/2011.")


def _day_text(day: date | None) -> str:
    return "" if day is None else day.strftime(DATE_FORMAT)


def _amount_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class FiltersPanel:
    """The sidebar of filters; ``.widget`` is the box to lay out."""

    def __init__(self, state):
        self.state = state
        data = state.data
        first, last = (ts.date() for ts in data.period)
        self.first, self.last = first, last
        spend = data.customers["TotalSpend"]
        currency = state.currency
        names = state.segment_names
        self.segment_filter = classed(W.SelectMultiple(options=names, value=tuple(names), rows=7), "seg-segment-filter")
        self.all_segments = W.Button(description="All segments", layout=W.Layout(width="auto"))
        self.country_filter = classed(W.SelectMultiple(options=state.countries, value=(), rows=6,
                                                       layout=W.Layout(width="auto")), "seg-country-filter")
        self.all_countries = classed(W.Button(description="All countries", layout=W.Layout(width="auto")),
                                     "seg-all-countries")
        self.spend_min = W.Text(placeholder=f"min ({currency}{spend.min():,.0f})", continuous_update=False,
                                layout=W.Layout(width="110px"))
        self.spend_max = W.Text(placeholder=f"max ({currency}{spend.max():,.0f})", continuous_update=False,
                                layout=W.Layout(width="110px"))
        self.spend_filter = classed(W.HBox([self.spend_min, self.spend_max]), "seg-spend-filter")
        # Text boxes, day first: Chromium's date input shows the browser's locale order
        # (MM/DD/YYYY for en-US) and snapped typed dates back to its minimum.
        self.date_start = classed(W.Text(value=_day_text(first), placeholder="DD/MM/YYYY", continuous_update=False,
                                         layout=W.Layout(width="120px")), "seg-date-from")
        self.date_end = classed(W.Text(value=_day_text(last), placeholder="DD/MM/YYYY", continuous_update=False,
                                       layout=W.Layout(width="120px")), "seg-date-to")
        label = W.Layout(width="40px")
        self.date_filter = classed(W.VBox([
            W.HBox([classed(W.HTML("From", layout=label), "seg-date-label"), self.date_start]),
            W.HBox([classed(W.HTML("To", layout=label), "seg-date-label"), self.date_end]),
        ]), "seg-date-filter")
        present = set(state.category_names)
        categories = [c for c in list(PRODUCT_CATEGORIES) + [OTHER_CATEGORY] if c in present]
        self.category_options = categories
        self.category_filter = classed(W.Dropdown(options=[ALL] + categories, value=ALL,
                                                  layout=W.Layout(width="auto")), "seg-category-filter")
        self.reset_filters = W.Button(description="Reset filters", icon="undo", layout=W.Layout(width="auto"))
        if state.large_log is not None:
            note = (f"Dates and category keep the customers who bought in that window; segments and spend stay "
                    f"those of the whole period. This log's {line_count(data):,} lines are not held in memory: "
                    "DuckDB computes each window over the file (the first change takes longest).")
        elif state.can_filter_dates:
            note = ("Dates and category keep the customers who bought in that window; segments and spend stay "
                    "those of the whole period.")
        else:
            for widget in (self.date_start, self.date_end, self.category_filter):
                widget.disabled = True
            lines = line_count(data)
            lines_text = f"its {lines:,} lines" if lines else "its lines"
            note = (f"Dates and category are off for this log: {lines_text} were aggregated out of core (DuckDB) and "
                    "are not held in memory; filter the log by date or product before serving it to see a window.")
        self.widget = classed(W.VBox([
            W.HTML("<h3>Filters</h3>"),
            W.HTML("<b>Segments</b>"), self.segment_filter, self.all_segments,
            W.HTML("<b>Country</b>"),
            classed(W.HTML('<span class="seg-meta">None chosen: every country. Ctrl or Cmd + click for several.'
                           "</span>"), "seg-country-note"),
            self.country_filter, self.all_countries,
            W.HTML(f"<b>Total spend ({html.escape(currency)})</b>"), self.spend_filter,
            W.HTML("<b>Bought between</b>"), self.date_filter,
            W.HTML("<b>Bought in product category</b>"), self.category_filter,
            classed(W.HTML(f'<span class="seg-meta">{html.escape(note)}</span>'), "seg-window-note"),
            self.reset_filters,
        ], layout=W.Layout(padding="0 8px 0 0")), "seg-filters")
        self._connect()

    # ------------------------------------------------------------ events up
    def _set(self, **changes) -> None:
        self.state.filters = replace(self.state.filters, **changes)

    def _connect(self) -> None:
        state = self.state

        def on(widget, handler):
            widget.observe(guarded(state, lambda change: handler(change["new"])), names="value")

        self._new_options = False
        on(self.segment_filter, lambda v: None if self._new_options else self._set(
            segments=None if set(v) == set(self.segment_filter.options) else tuple(v)))
        on(self.country_filter, lambda v: None if self._new_options else self._set(
            country=() if set(v) == set(self.country_filter.options) else tuple(v)))
        self.all_countries.on_click(guarded(state, lambda _b: self._set(country=())))
        on(self.spend_min, lambda v: self._set(spend_min=parse_amount(v)))
        on(self.spend_max, lambda v: self._set(spend_max=parse_amount(v)))
        on(self.date_start, lambda v: self._set(start=self._day(v, self.first)))
        on(self.date_end, lambda v: self._set(end=self._day(v, self.last)))
        on(self.category_filter, lambda v: self._set(category=v))
        self.all_segments.on_click(guarded(state, lambda _b: self._set(segments=None)))
        self.reset_filters.on_click(guarded(state, lambda _b: setattr(state, "filters", Filters())))
        state.observe(guarded(state, lambda _c: self.show()), names="filters")
        state.observe(guarded(state, lambda _c: self._on_model()), names="model_version")
        state.observe(guarded(state, lambda _c: self._on_data()), names="data_version")

    def _day(self, text: str, default: date) -> date | None:
        day = parse_day(text)
        if day is None:
            return None
        # The data's own first/last day is "no limit": the same view, and the same link.
        return None if day == default else day

    # ------------------------------------------------------------ state down
    def _replace_options(self, select: W.SelectMultiple, options: list[str], value: tuple[str, ...]) -> None:
        """New choices for a list, then ``value`` chosen; none of it is a choice of the viewer's.

        The choice is emptied first: the browser draws the new options with the choice it
        holds, and a choice past the end of a shorter list (RFM's ten segments -> the model's
        six) threw "Cannot set properties of undefined (setting 'selected')"."""
        self._new_options = True
        try:
            select.value = ()
            select.options = options
            select.value = value
        finally:
            self._new_options = False

    def _on_model(self) -> None:
        names = self.state.segment_names
        if list(self.segment_filter.options) != names:
            self._replace_options(self.segment_filter, names, tuple(names))
        self.show()

    def _on_data(self) -> None:
        """New data of the same log: its period, countries and spend range; the choices stay."""
        state = self.state
        self.first, self.last = (ts.date() for ts in state.data.period)
        spend = state.data.customers["TotalSpend"]
        self.spend_min.placeholder = f"min ({state.currency}{spend.min():,.0f})"
        self.spend_max.placeholder = f"max ({state.currency}{spend.max():,.0f})"
        countries = state.countries
        if list(self.country_filter.options) != countries:
            self._replace_options(self.country_filter, countries,
                                  tuple(c for c in countries if c in state.filters.country))
        self.show()

    def show(self) -> None:
        """Set the widgets to ``state.filters`` (a widget already showing it is left alone,
        so typing in progress elsewhere is not overwritten)."""
        f = self.state.filters
        segments = tuple(self.segment_filter.options) if f.segments is None else tuple(
            s for s in self.segment_filter.options if s in f.segments)
        if tuple(self.segment_filter.value) != segments:
            self.segment_filter.value = segments
        countries = tuple(c for c in self.country_filter.options if c in f.country)
        if tuple(self.country_filter.value) != countries:
            self.country_filter.value = countries
        for widget, value in ((self.spend_min, f.spend_min), (self.spend_max, f.spend_max)):
            try:
                current = parse_amount(widget.value)
            except SegkitError:
                current = object()
            if current != value:
                widget.value = _amount_text(value)
        for widget, value, default in ((self.date_start, f.start, self.first), (self.date_end, f.end, self.last)):
            try:
                current = self._day(widget.value, default)
            except SegkitError:
                current = object()
            if current != value:
                widget.value = _day_text(value or default)
        if self.category_filter.value != f.category:
            self.category_filter.value = f.category if f.category in self.category_filter.options else ALL
