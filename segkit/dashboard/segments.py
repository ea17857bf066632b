"""The segments panel: what each segment means, the summary table, sizes and centres.

Reads the selection and the model; writes only ``state.segmentation`` (the switch
between the model's segments and the RFM rule segments). With lifetime value the
summary has total and mean CLV per segment and a sentence on the value at stake in
At risk and Lost. The glossary ("What the segments mean") comes from the model's own
``definitions_`` (segment -> Definition, InNumbers, Recommendation) when it has them,
else from ``label.RECOMMENDATIONS`` and the members' numbers (``segment_definitions``);
for RFM segments from ``label.RFM_SEGMENT_TEXT``. Under it, in a closed section (filled
once the page is drawn, so opening the page waits for no lines; printed open), what each
segment buys more than other customers do (``products_html``: ``views.products.top_products``).
"""
from __future__ import annotations

import html

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go

from segkit.dashboard.urlsync import view_name
from segkit.dashboard.value_panel import group_range_note
from segkit.dashboard.widgets import (
    FIGURE_TEMPLATE,
    Chart,
    classed,
    empty_figure,
    guarded,
)
from segkit.modeling.label import (
    RECOMMENDATIONS,
    RFM_ORDER,
    RFM_PREFIX,
    RFM_SEGMENT_TEXT,
    recommendation_for,
)
from segkit.page.data import holds_lines
from segkit.pipeline.backtest import NO_EVIDENCE
from segkit.views import plots
from segkit.views.products import top_products, top_products_html
from segkit.views.tables import Filters, download_link_html, summary_csv, summary_html
from segkit.views.wording import money

__all__ = ["SegmentsPanel", "segment_definitions", "rfm_definitions", "glossary_html", "value_at_stake",
           "value_check_note",
           "SMALL_CHART_HEIGHT", "TYPICAL_PROFILES", "AT_STAKE", "SEGMENTATION_CHOICES", "products_html",
           "PRODUCTS_TITLE", "glossary_scope_html", "lifecycle_note_html"]

SMALL_CHART_HEIGHT = 340

#: What a segment name stands for, for a model without ``definitions_`` (its clusters get
#: the name of the nearest prototype profile in ``label.SEGMENT_PROTOTYPES``, so this is
#: the typical member, not a rule every member meets).
TYPICAL_PROFILES = {
    "VIP": "Buy most often and spend the most; bought recently.",
    "Loyal": "Buy often and recently, with above-average spend.",
    "Regular": "Close to the average customer on how recently, how often and how much they buy.",
    "Budget": "Buy now and then and spend little.",
    "At risk": "Used to buy well but have not bought for a while.",
    "Lost": "Few, small purchases, long ago.",
    "Lapsed": "Silent for a long while, but customers like these often come back.",
    "Quiet": "Bought more than once, quiet for a while; customers like these often buy again on their own.",
    "New": "First purchases are recent; few so far.",
}


def _base(name: str) -> str:
    return name if name in TYPICAL_PROFILES else name.rsplit(" ", 1)[0]


def _in_numbers(members: pd.DataFrame, currency: str) -> str:
    if members.empty:
        return "No customers in this segment."
    purchases = members["NumPurchases"].median()
    return (f"{len(members):,} customers; typical (median) member: {purchases:,.0f} "
            f"purchase{'' if purchases == 1 else 's'}, "
            f"{money(members['TotalSpend'].median(), currency)} spent, last purchase "
            f"{members['Recency'].median():,.0f} days ago.")


def segment_definitions(model, everyone: pd.DataFrame, currency: str = "£") -> pd.DataFrame:
    """One row per segment of ``model`` (index: segment name) with ``Definition``,
    ``InNumbers`` and ``Recommendation``: the model's ``definitions_`` when it has them,
    else the typical profile behind the name, the members' own median numbers (over
    ``everyone``, segmented on the full period) and ``label.RECOMMENDATIONS``."""
    definitions = getattr(model, "definitions_", None)
    if isinstance(definitions, pd.DataFrame) and not definitions.empty:
        columns = ["Definition", "InNumbers", "Recommendation"]
        if "Evidence" in definitions and definitions["Evidence"].fillna("").astype(str).str.len().gt(0).any():
            columns.append("Evidence")  # what customers like these did next (segkit.pipeline.backtest)
        out = definitions.reindex(columns=columns).copy()
        return out.fillna("")
    rows = {}
    names = sorted({str(n) for n in model.segment_names_.values()})
    for name in names:
        members = everyone[everyone["Segment"] == name]
        rows[name] = {"Definition": "Named for its typical member: " + TYPICAL_PROFILES.get(_base(name), "").lower()
                      if _base(name) in TYPICAL_PROFILES else "A group of customers the model found.",
                      "InNumbers": _in_numbers(members, currency),
                      "Recommendation": recommendation_for(name) if _base(name) in RECOMMENDATIONS else ""}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["Definition", "InNumbers", "Recommendation"])
    frame.index.name = "Segment"
    return frame


def rfm_definitions(everyone: pd.DataFrame, currency: str = "£") -> pd.DataFrame:
    """Like ``segment_definitions`` for the RFM rule segments present in ``everyone``
    (``label.RFM_SEGMENT_TEXT``), named "RFM: ..." as the page shows them, in
    ``label.RFM_ORDER``."""
    names = set(everyone["Segment"].astype(str))
    rows = {RFM_PREFIX + name: {"Definition": RFM_SEGMENT_TEXT[name][0] + " R, F and M are quintile scores "
                                              "(5 best) over every customer.",
                   "InNumbers": _in_numbers(everyone[everyone["Segment"] == RFM_PREFIX + name], currency),
                   "Recommendation": RFM_SEGMENT_TEXT[name][1]}
            for name in RFM_ORDER if RFM_PREFIX + name in names}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["Definition", "InNumbers", "Recommendation"])
    frame.index.name = "Segment"
    return frame


#: Segments whose lifetime value is "at stake" (base names; numbered names count too).
AT_STAKE = ("At risk", "Lost", "Lapsed")
#: The segmentation switch: what the page calls a segment.
SEGMENTATION_CHOICES = [("Model segments", "model"), ("RFM rules", "rfm")]


def value_at_stake(summary: pd.DataFrame, currency: str = "£") -> str:
    """One sentence on the lifetime value of the At risk and Lost customers in a
    ``segment_summary`` with ``SumCLV`` ("" without lifetime value or such segments)."""
    if "SumCLV" not in summary.columns or summary.empty:
        return ""
    total = float(summary["SumCLV"].sum())
    parts = []
    for stake in AT_STAKE:
        rows = summary[summary["Segment"].astype(str).map(lambda n: n == stake or n.rsplit(" ", 1)[0] == stake)]
        if rows.empty:
            continue
        value, customers = float(rows["SumCLV"].sum()), int(rows["Customers"].sum())
        share = f" ({max(value / total, 0.001):.1%} of the value shown)" if total > 0 else ""
        parts.append(f"{stake}: {customers:,} customer{'' if customers == 1 else 's'} worth "
                     f"{money(value, currency)} over the next 12 months{share}")
    if not parts:
        return ""
    return "Value at stake — " + "; ".join(parts) + ". Win-back campaigns aim at this."


def value_check_note(model) -> str:
    """One sentence on how the lifetime value held up at earlier dates, for all customers
    (``evidence["value"]``, ``segkit.pipeline.value_backtest``); "" when it was not checked."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.pipeline.backtest import value_sentence

    value = (getattr(model, "evidence_", None) or {}).get("value") or {}
    if not value.get("all"):
        return ""
    n = len(value.get("cutoffs") or [])
    return ("Lifetime value, checked: " + value_sentence(value["all"], n, int(value.get("horizon_days", 90)))
            .replace("for customers like these", "for all customers", 1)
            + " Each segment's check is in what the segments mean.")


def glossary_html(definitions: pd.DataFrame) -> str:
    """The glossary as a definition list: name, what it means, in numbers, what to do."""
    colours = plots.segment_colour_map(list(definitions.index))
    items = []
    for name, row in definitions.iterrows():
        items.append(
            f'<div class="seg-term" data-segment="{html.escape(str(name))}">'
            f'<dt><span class="seg-swatch" style="background:{colours[str(name)]}"></span>{html.escape(str(name))}</dt>'
            f'<dd><span class="seg-definition">{html.escape(str(row["Definition"]))}</span> '
            f'<span class="seg-in-numbers">{html.escape(str(row["InNumbers"]))}</span><br>'
            + (f'<span class="seg-evidence">{html.escape(str(row["Evidence"]))}</span><br>'
               if str(row.get("Evidence", "") or "") else "")
            + f'<b>What to do:</b> <span class="seg-recommendation">{html.escape(str(row["Recommendation"]))}</span>'
            "</dd></div>")
    return f'<dl class="seg-glossary-list">{"".join(items)}</dl>'


def glossary_scope_html(state) -> str:
    """Under any filter, one sentence above the glossary: its definitions and numbers are
    the whole shop's (every customer, the whole period), since the rules that name the
    segments do not change with the filters ("" without a filter)."""
    if state.filters == Filters():
        return ""
    start, end = state.data.period
    customers = len(state.everyone)
    return ('<p class="seg-note seg-glossary-scope">Whatever the filters, these definitions, their numbers and the '
            f"products below are the whole shop's: all {customers:,} customers from {start:%d %b %Y} to "
            f"{end:%d %b %Y}. The rules that name the segments do not change with the filters; the customers shown "
            "are counted under “Segments in this view” below.</p>")


def lifecycle_note_html(state) -> str:
    """One sentence above the model's glossary: the lifecycle thresholds its stages use, and
    whether they were fitted to the log (on which dates) or fixed and why (the card's
    ``lifecycle_fit``, ``segkit.pipeline.thresholds.LifecycleChoice``). "" for the RFM
    segments and for models without lifecycle stages."""
    card = state.card or {}
    rules = card.get("lifecycle")
    if state.segmentation == "rfm" or not rules:
        return ""
    sentence = (card.get("lifecycle_fit") or {}).get("sentence")
    if not sentence:  # a model saved before segkit recorded how its thresholds were chosen
        sentence = (f"Lifecycle thresholds: New under {rules['new_days']} days, At risk from {rules['at_risk_days']} "
                    f"and Lost from {rules['lost_days']} days of silence; this model does not record whether they "
                    "were fitted to the log (retrain it with `segkit train` to fit them).")
    return f'<p class="seg-note seg-lifecycle-note">{html.escape(sentence)}</p>'


#: The title of the section with each segment's top products.
PRODUCTS_TITLE = "What each segment buys more than other customers"
#: What the closed, never opened products section says (on screen it is hidden; on paper it
#: stands where the tables would).
PRODUCTS_ON_REQUEST = ('<p class="seg-note seg-products-on-request">Each segment\'s top products are read from the '
                       'order lines when this section is opened: open it before printing to include them.</p>')


def products_html(state, order: list[str]) -> str:
    """Each segment's top products by lift (``views.products``) over every customer and
    the whole period, as small tables in ``order``; one sentence instead when the page
    holds no purchase lines (a log aggregated out of core). Computed once per model,
    segmentation and data (``state._cached``)."""
    if not holds_lines(state.data):
        return ('<p class="seg-note seg-no-lines seg-top-products-missing">Not available for this log: its purchase '
                "lines are not held in memory (aggregated out of core), and what each segment buys is computed from "
                "the lines.</p>")
    table = state._cached("top_products", (state.model_version,),
                          lambda: top_products(state.data.lines, state.everyone["Segment"]))
    return top_products_html(table, order, state.currency)


class SegmentsPanel:
    def __init__(self, state):
        self.state = state
        self.glossary = classed(W.HTML(), "seg-glossary")
        self.glossary_scope = classed(W.HTML(), "seg-glossary-scope-box")
        self.lifecycle_note = classed(W.HTML(), "seg-lifecycle-note-box")
        self.summary = classed(W.HTML(), "seg-summary")
        self.summary_download = classed(W.HTML(), "seg-summary-download")
        self.range_note = classed(W.HTML(), "seg-summary-range-note")
        self.at_stake = classed(W.HTML(), "seg-at-stake")
        self.segmentation = classed(W.ToggleButtons(options=SEGMENTATION_CHOICES, value=state.segmentation,
                                                    description="Segments", tooltips=[
                                                        "The segments of the model (clusters and lifecycle stages)",
                                                        "Classic RFM rule segments (quintile scores)"]),
                                    "seg-segmentation")
        self.segmentation.style.button_width = "130px"
        #: The summary's charts and box: made by ``summary_view`` when the page shows them
        #: (below the first screen: ``fold.FoldSection``); the summary's texts follow the
        #: filters from the start.
        self.sizes_chart = self.heatmap_chart = self.widget = None
        self.products = classed(W.HTML(), "seg-top-products-box")
        self.products_section = classed(W.Accordion(children=[self.products], titles=(PRODUCTS_TITLE,),
                                                    selected_index=None), "seg-products-section")
        self.glossary_box = classed(W.VBox([
            W.HBox([W.HTML("<h3>What the segments mean</h3>"), self.segmentation],
                   layout=W.Layout(align_items="center", grid_gap="16px", flex_flow="row wrap")),
            self.lifecycle_note, self.glossary_scope, self.glossary, self.products_section]), "seg-panel",
            "seg-glossary-box")
        state.observe(guarded(state, lambda _c: self.show()), names=["filters"])
        state.observe(guarded(state, lambda _c: self.show(model=True)), names=["model_version", "data_version"])
        self.segmentation.observe(guarded(state, lambda c: setattr(state, "segmentation", c["new"])), names="value")
        state.observe(lambda c: setattr(self.segmentation, "value", c["new"]), names="segmentation")
        self.products_section.observe(guarded(state, lambda _c: self.show_products()), names="selected_index")
        self._drawn: tuple = (None, None)  # the summary and centres the charts show
        self.show(model=True, charts=False)

    @property
    def charts(self) -> list[Chart]:
        """The sizes and centres charts, once ``summary_view`` made them."""
        return [self.sizes_chart, self.heatmap_chart] if self.widget is not None else []

    def summary_view(self) -> SegmentsPanel:
        """Make the summary's box with its two charts drawn for the view as it is now
        (``.widget``; once); returns the panel."""
        if self.widget is None:
            self.sizes_chart = Chart(self.state, self._sizes_figure(), SMALL_CHART_HEIGHT)
            self.heatmap_chart = Chart(self.state, self._heatmap_figure(), SMALL_CHART_HEIGHT)
            half = W.Layout(width="50%", min_width="320px")
            self.widget = classed(W.VBox([
                W.HTML("<h3>Segments in this view</h3>"), self.summary, self.range_note, self.summary_download,
                self.at_stake, W.HBox([W.VBox([self.sizes_chart.widget], layout=half),
                                       W.VBox([self.heatmap_chart.widget], layout=half)],
                                      layout=W.Layout(flex_flow="row wrap")),
            ]), "seg-panel", "seg-segments")
            self._drawn = self._chart_numbers()
        return self

    def _chart_numbers(self) -> tuple:
        """What the two charts show for the view: the summary and the segment centres (None
        for an empty view)."""
        selection = self.state.selection
        return selection.summary, selection.centres(self.state.z_scores) if len(selection) else None

    @property
    def summary_rows(self) -> pd.DataFrame:
        """What the summary CSV holds: the summary of the view with each segment's evidence."""
        return summary_csv(self.state.selection.summary, self.state.evidence, self.state.currency)

    @property
    def summary_filename(self) -> str:
        """``summary_<view>.csv``, named after the view as the customers' CSV is."""
        first, last = (ts.date() for ts in self.state.data.period)
        return view_name(self.state.filters, (first, last)).replace("segments", "summary", 1) + ".csv"

    def definitions(self) -> pd.DataFrame:
        """The glossary of the segments shown, each with its evidence in words
        (``State.evidence``: a sentence saying so where nothing was measured)."""
        state = self.state

        def compute() -> pd.DataFrame:
            frame = rfm_definitions(state.everyone, state.currency) if state.segmentation == "rfm" \
                else segment_definitions(state.model, state.everyone, state.currency)
            return frame.assign(Evidence=[state.evidence.get(str(n), NO_EVIDENCE) for n in frame.index])

        return state._cached("definitions", (state.model_version, state.segmentation), compute)

    def _sizes_figure(self) -> go.Figure:
        selection = self.state.selection
        if not len(selection):
            return empty_figure()
        return plots.segment_sizes(selection.summary, template=FIGURE_TEMPLATE)

    def _heatmap_figure(self) -> go.Figure:
        state = self.state
        selection = state.selection
        if not len(selection):
            return empty_figure()
        centres = selection.centres(state.z_scores)
        return plots.centroid_heatmap(centres, state.segment_labels, FIGURE_TEMPLATE)

    def show_products(self) -> None:
        """Fill the products section when it is open. Closed and never opened, it holds
        ``PRODUCTS_ON_REQUEST``, which a printed page shows: the products are read from the
        order lines, which a page reads only when asked (on the real data that costs each
        kernel about 100 MB, and ten visitors' kernels must stay within their memory aim)."""
        if self.products_section.selected_index == 0:
            self.fill_products()
        elif not self.products.value:
            self.products.value = PRODUCTS_ON_REQUEST

    def fill_products(self) -> None:
        self.products.value = products_html(self.state, list(self.definitions().index))

    def show(self, model: bool = False, charts: bool = True) -> None:
        if model:
            self.glossary.value = glossary_html(self.definitions())
            self.lifecycle_note.value = lifecycle_note_html(self.state)
            self.products.value = ""
            self.show_products()
        self.glossary_scope.value = glossary_scope_html(self.state)
        summary = self.state.selection.summary
        self.summary.value = summary_html(summary, self.state.currency)
        level = float((getattr(self.state.model, "clv_uncertainty_", None) or {}).get("level", 0.9))
        self.range_note.value = (f'<p class="seg-meta seg-range-note">{html.escape(group_range_note(level))}</p>'
                                 if "SumCLVLow" in summary.columns and len(summary) else "")
        self.summary_download.value = download_link_html(
            self.summary_rows, self.summary_filename, "Download this summary as CSV (with what customers like these "
            "did next)") if len(summary) else ""
        stake = value_at_stake(summary, self.state.currency)
        checked = value_check_note(self.state.model) if "SumCLV" in summary.columns else ""
        self.at_stake.value = (f'<p class="seg-at-stake-text">{html.escape(stake)}</p>' if stake else "") + (
            f'<p class="seg-value-check">{html.escape(checked)}</p>' if checked else "")
        if charts and self.widget is not None:  # each chart redrawn only when its numbers changed (or the model)
            (summary, centres), (drawn_summary, drawn_centres) = self._chart_numbers(), self._drawn
            if model or drawn_summary is None or not summary.equals(drawn_summary):
                self.sizes_chart.show(self._sizes_figure())
            if model or drawn_centres is None or centres is None or not centres.equals(drawn_centres):
                self.heatmap_chart.show(self._heatmap_figure())
            self._drawn = (summary, centres)
