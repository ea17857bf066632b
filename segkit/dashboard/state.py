"""The one state of a dashboard page, and the pure functions that derive what it shows.

``DashboardState`` holds the data, the model (and a version number that changes with
every new model, or when ``segmentation`` switches between the model's segments and the
RFM rule segments), the filters, the theme and the message line. It is a
``traitlets.HasTraits``: panels observe ``filters``, ``model_version``, ``data_version``
(new data of the same log: a live page's refresh, ``dashboard/live.py``), ``theme`` and
``message`` and redraw themselves; a panel writes only its own inputs (the filter panel
writes ``filters``, the theme switch ``theme``, the model panel the model).

What the filters select is computed by pure functions of their inputs
(``date_range_activity``, ``select_customers``, ``filter_warnings``) and cached on those
inputs (``_cached``): no cache is ever reset by hand, a new model, new data or new filters
are simply other keys.

Filters select, they never relabel: every customer keeps the segment the model gives
them on the full period. The date range keeps the customers who bought in it, the
product category those who bought in that category (their purchases and spend there
become extra columns), the spend filter reads full-period spend; each filter only ever
removes customers.
"""
from __future__ import annotations

import html
import sys
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import traitlets

from segkit.config import Settings
from segkit.config import settings as read_settings
from segkit.errors import SegkitError
from segkit.ingest.currency import currency_symbol
from segkit.modeling.label import RFM_LABELS, rfm_segmented
from segkit.page.data import holds_lines, large_log_date_ranges
from segkit.page.page_cache import (
    CardModel,
    full_model,
    page_customers,
    prepare_page_cache,
    segmented_customers,
    split_value_draws,
)
from segkit.pipeline.backtest import segment_evidence
from segkit.pipeline.page_model import (
    model_trained_for_page,
    newer_saved_card,
    retrained,
    save_model,
    saved_card_for,
)
from segkit.pipeline.workflow import CustomerData
from segkit.value.campaign import DEFAULT_COST_PER_CONTACT, DEFAULT_UPLIFT
from segkit.views.tables import (
    ALL,
    TABLE_COLUMNS,
    Filters,
    date_range_mask,
    everyone_z_scores,
    filter_mask,
    line_categories,
    provisional_card,
    segment_centres,
    segment_summary,
    summary_of_segments,
    table_order,
)
from segkit.views.wording import money

__all__ = ["DashboardState", "Selection", "ModelStatus", "date_range_activity", "select_customers", "filter_warnings",
           "initial_model", "DATE_RANGE_COLUMNS", "K_CHOICES", "SEGMENTATIONS"]

#: Columns ``views.segment_summary`` reads.
SUMMARY_INPUTS = ["Cluster", "Segment", "Recommendation", "CLV", "NumPurchases", "TotalQuantity", "TotalSpend",
                  "Recency", "Tenure", "AvgOrderValue"]
#: Text columns the page selects and groups as categoricals (``segment_labels``).
LABEL_COLUMNS = ("Segment", "Recommendation")


def segment_labels(everyone: pd.DataFrame) -> dict[str, pd.Categorical]:
    """``LABEL_COLUMNS`` of ``everyone`` as categoricals (categories: the sorted values),
    for columns without missing values (a categorical writes a missing value otherwise)."""
    out = {}
    for name in LABEL_COLUMNS:
        if name in everyone.columns and not everyone[name].isna().any():
            out[name] = pd.Categorical(everyone[name])
    return out


#: Columns a date or category filter adds: the customer's activity inside the date range (and category).
DATE_RANGE_COLUMNS = ["PurchasesInWindow", "SpendInWindow"]
K_CHOICES = list(range(2, 11))
#: Value tiers offered for a model with lifecycle stages (as ``workflow.train_model``).
LIFECYCLE_K_CHOICES = list(range(2, 7))
#: What the page calls a segment: the model's segments or the RFM rule segments (``label.rfm_segmented``).
SEGMENTATIONS = ("model", "rfm")


# ---------------------------------------------------------------- pure functions

def date_range_activity(lines: pd.DataFrame, categories: pd.Series | None, start: date | None = None,
                        end: date | None = None, category: str = ALL) -> pd.DataFrame | None:
    """Purchases and spend per customer in the lines of ``[start, end]`` (whole days)
    and ``category``, indexed by CustomerID (only customers with such lines).

    ``None`` when neither filter narrows anything (the whole period, every category).
    """
    keep = date_range_mask(lines, categories, start, end, category)
    if keep is None:
        return None
    selected = lines.loc[keep, ["CustomerID", "InvoiceNo", "TotalPrice"]]
    grouped = selected.groupby(selected["CustomerID"].astype("string"), observed=True, sort=True)
    activity = pd.DataFrame({"PurchasesInWindow": grouped["InvoiceNo"].nunique().astype("int64"),
                             "SpendInWindow": grouped["TotalPrice"].sum().round(2)})
    activity.index = activity.index.astype("string").rename("CustomerID")
    return activity


def select_customers(everyone: pd.DataFrame, activity: pd.DataFrame | None, filters: Filters) -> np.ndarray:
    """Which rows of ``everyone`` (segmented on the full period) the filters keep: segment,
    country and full-period spend (``views.filter_mask``), and, when a date or category
    filter is set, having bought in that date range and category (``activity``). Only ever narrows."""
    mask = filter_mask(everyone, filters)
    if activity is not None:
        mask &= _in_index(everyone.index, activity.index)
    return mask


def _in_index(ids: pd.Index, among: pd.Index) -> np.ndarray:
    """``ids.isin(among)``; for text ids with Arrow compute (pandas' isin of Arrow strings
    builds a Python list: 1.5 s against 0.06 s at 350,000 customers)."""
    if isinstance(ids.dtype, pd.StringDtype) and isinstance(among.dtype, pd.StringDtype):
        try:
            found = pc.is_in(pa.array(ids.array), value_set=pa.array(among.array))
            return found.fill_null(False).to_numpy(zero_copy_only=False)
        except (pa.ArrowException, TypeError):
            pass
    return ids.isin(among)


def filter_warnings(filters: Filters, currency: str = "£") -> tuple[str, ...]:
    """Filter choices that can match nobody, in words (shown above the numbers)."""
    warnings = []
    if filters.spend_min is not None and filters.spend_max is not None and filters.spend_min > filters.spend_max:
        warnings.append(f"The minimum spend ({money(filters.spend_min, currency)}) is above the maximum "
                        f"({money(filters.spend_max, currency)}), so no customer can match: lower the minimum "
                        "or raise the maximum.")
    if filters.start and filters.end and filters.start > filters.end:
        warnings.append(f"The start date is after the end date ({filters.start:%d/%m/%Y} > {filters.end:%d/%m/%Y}), "
                        "so no purchase can match: pick a start on or before the end.")
    return tuple(warnings)


class Selection:
    """What the filters select, derived once per (model, filters) and shared by panels.

    ``everyone``: every customer with the full-period segment; ``mask``: which of them
    are shown; ``shown``: those rows (plus the date-range columns when a date or category
    filter is set); ``period``: the dates the view covers.
    """

    def __init__(self, everyone: pd.DataFrame, activity: pd.DataFrame | None, filters: Filters,
                 period: tuple[pd.Timestamp, pd.Timestamp], warnings: tuple[str, ...],
                 labels: dict[str, pd.Categorical] | None = None, base: "Selection | None" = None,
                 draws: np.ndarray | None = None):
        self.everyone, self.activity, self.filters = everyone, activity, filters
        #: Every customer's lifetime value under each stored parameter draw (rows as
        #: ``everyone``; ``DashboardState.value_draws``), ``None`` without: what the
        #: intervals of the segments and of the total shown are read from.
        self.all_draws = draws
        #: The selection of the same filters without the segment filter (``None`` when there
        #: is none): summary and centres of a segment filter are rows of its own.
        self.base = base if filters.segments is not None else None
        self._centres: tuple[Any, pd.DataFrame] | None = None
        self.period, self.warnings = period, warnings
        self.mask = select_customers(everyone, activity, filters)
        #: ``segment_labels(everyone)``: text columns as categoricals (cheap to select and group).
        self.labels = labels or {}
        self._columns: dict[str, Any] = {}

    @cached_property
    def shown(self) -> pd.DataFrame:
        shown = self.everyone[self.mask]
        if self.activity is not None:
            shown = shown.join(self.activity, how="left")
        return shown

    @property
    def columns(self) -> list[str]:
        """The columns of ``shown`` (without building it)."""
        columns = list(self.everyone.columns)
        if self.activity is not None:
            columns += [c for c in self.activity.columns if c not in columns]
        return columns

    def column(self, name: str):
        """The values of column ``name`` of the shown customers, without an index: what
        ``shown[name]`` holds, for a fraction of the cost at a million customers (no copy of
        the other columns and of the text index). ``Segment`` and ``Recommendation`` come
        as categoricals when ``labels`` has them."""
        if name not in self._columns:
            if name not in self.everyone.columns:
                values = self.shown[name].array
            elif name in self.labels:
                values = self.labels[name][self.mask]
            else:
                series = self.everyone[name]
                values = series.to_numpy()[self.mask] if isinstance(series.dtype, np.dtype) \
                    else series.array[self.mask]
            self._columns[name] = values
        return self._columns[name]

    def frame(self, columns) -> pd.DataFrame:
        """The shown customers' ``columns`` (those they have) with a plain 0..n-1 index: the
        columns of ``shown`` built one by one (see ``column``)."""
        have = self.columns
        return pd.DataFrame({c: self.column(c) for c in columns if c in have}, index=pd.RangeIndex(len(self)),
                            copy=False)

    @cached_property
    def counts(self) -> np.ndarray:
        """Customers shown per category of ``labels["Segment"]`` (``None`` without it)."""
        labels = self.labels.get("Segment")
        if labels is None:
            return None
        codes = labels.codes[self.mask]
        return np.bincount(codes[codes >= 0], minlength=len(labels.categories))

    def segment_count(self, name: str) -> int:
        """Customers of segment ``name`` shown."""
        labels = self.labels.get("Segment")
        if labels is None:
            return int((self.shown["Segment"] == name).sum())
        categories = list(labels.categories)
        return int(self.counts[categories.index(name)]) if name in categories else 0

    @property
    def present_segments(self) -> list[str]:
        """The segment names of the shown customers (sorted)."""
        labels = self.labels.get("Segment")
        if labels is None:
            return sorted(pd.unique(self.shown["Segment"].astype(str)))
        return sorted(str(c) for c, n in zip(labels.categories, self.counts) if n)

    @cached_property
    def draws(self) -> np.ndarray | None:
        """The rows of ``all_draws`` of the customers shown (``None`` without draws)."""
        return None if self.all_draws is None else self.all_draws[self.mask]

    @cached_property
    def summary(self) -> pd.DataFrame:
        if self.base is not None:
            return summary_of_segments(self.base.summary, self.filters.segments)
        return segment_summary(self.frame(SUMMARY_INPUTS), self.draws)

    @cached_property
    def value_interval(self) -> tuple[float, float] | None:
        """The 90 % interval (low, high; currency) of the total lifetime value of the customers
        shown, from each draw's total (``clv.total_value_interval``); ``None`` without draws."""
        if self.draws is None:
            return None
        # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
        from segkit.value.clv import total_value_interval

        return total_value_interval(self.draws)

    def centres(self, z: pd.DataFrame) -> pd.DataFrame:
        """``views.segment_centres`` of the shown customers over ``z`` (``everyone_z_scores`` of
        everyone); under a segment filter, the rows of its segments in the centres of ``base``
        (each cluster's centre depends only on its own customers)."""
        if self._centres is not None and self._centres[0] is z:
            return self._centres[1]
        if not len(self):
            centres = pd.DataFrame()
        elif self.base is not None:
            centres = self.base.centres(z).loc[sorted(self.summary.index)]
        else:
            centres = segment_centres(self.everyone, self.frame(["Cluster"]), self.mask, z)
        self._centres = (z, centres)
        return centres

    def __len__(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class ModelStatus:
    """Whether the model on the page is the saved one, in words that are true."""

    saved: bool
    text: str

    def html(self) -> str:
        css = "seg-ok" if self.saved else "seg-warning"
        return f'<span class="{css} seg-model-status">{html.escape(self.text)}</span>'


def initial_model(data: CustomerData, artifacts: Path):
    """The saved model when it was trained on exactly this data, else one trained now.

    Returns ``(model, card, status, k_table)``; ``k_table`` is the ``evaluate_k`` table
    of a model trained now (``None`` for the saved one). Why the saved model was not
    used (its folder, what to run) goes to the server's log, never to the page: a viewer
    cannot act on it (``serve`` trains and saves a model before the first page opens).
    """
    card, reason = saved_card_for(data, artifacts)
    if card is not None:
        # The card is enough to draw the page; the pipeline loads when first needed.
        return CardModel(artifacts, card), card, saved_status(artifacts, card), None
    server_log(f"segkit: the page trains a model of its own (not saved, no lifetime value): {reason}. "
               "Run `segkit train`, or restart `make run`, which trains and saves one first.")
    model, k_table = model_trained_for_page(data)
    return model, provisional_card(model, data.training_info()), COMPUTED_HERE, k_table


#: The status of a model the page trained when it opened (no saved model fits its data).
COMPUTED_HERE = ModelStatus(False, "Segments computed for this page when it opened (not the saved model).")


def server_log(message: str) -> None:
    """Write ``message`` to the server's log (the kernel's process stderr: the terminal or
    log file of ``make run``), never to the page."""
    stream = sys.__stderr__
    if stream is not None:
        try:
            print(message, file=stream, flush=True)
        except (OSError, ValueError):
            pass


def saved_status(artifacts: Path, card: dict) -> ModelStatus:
    """The status of the saved model, in words for a viewer (its date, never its folder)."""
    created = str(card.get("created", "?")).replace("T", " ")[:16]
    return ModelStatus(True, f"Using the saved model (saved {created}).")


def lifecycle_rules(model):
    """The model's lifecycle rules in force (``None``: clusters named by profile only)."""
    if hasattr(model, "lifecycle_rules_"):
        return model.lifecycle_rules_
    return getattr(model, "lifecycle", None)


def preset_of(model):
    """The feature preset (``model.FeaturePreset``) ``model`` was built from (features,
    log, lifecycle rules), or a preset with its settings and the usual largest K when none
    matches."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.model import FEATURE_PRESETS, FeaturePreset

    rules = lifecycle_rules(model)
    for spec in FEATURE_PRESETS.values():
        spec_rules = getattr(spec, "lifecycle", None)
        if spec_rules == "default":
            # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
            from segkit.modeling.label import LifecycleRules

            spec_rules = LifecycleRules()
        if (tuple(spec.features) == tuple(model.features) and spec.log_transform == model.log_transform
                and spec_rules == rules):
            return spec
    return FeaturePreset(tuple(model.features), model.log_transform)


# ---------------------------------------------------------------- the state

class DashboardState(traitlets.HasTraits):
    """Data, model, filters, theme and message of one page; see the module docstring.

    Parameters
    ----------
    data : the page's ``CustomerData``.
    model, card, status : the model, its card (``model.json`` or ``provisional_card``) and
        whether it is the saved one.
    artifacts : the saved model's folder.
    settings : ``config.Settings`` (currency, analyst mode); default from the environment.
    """

    filters = traitlets.Instance(Filters, args=())
    theme = traitlets.Unicode("light")
    model_version = traitlets.Int(0)
    #: Changes with every new data of the same log (``set_data``); panels redraw, keeping their inputs.
    data_version = traitlets.Int(0)
    message = traitlets.Unicode("")
    notice = traitlets.Unicode("")
    #: What the engine is computing while the page waits ("" when idle): the header shows it.
    progress = traitlets.Unicode("")
    #: "model" (the model's segments) or "rfm" (RFM rule segments); every panel follows it.
    segmentation = traitlets.Enum(SEGMENTATIONS, default_value="model")
    #: Campaign planning's inputs (``CampaignPanel``): cost per contact (currency) and uplift (a share, 0.10 = 10 %).
    campaign_cost = traitlets.Float(DEFAULT_COST_PER_CONTACT)
    campaign_uplift = traitlets.Float(DEFAULT_UPLIFT)
    #: The log a live page follows (``LiveFeed.snapshot_key({})``; "" for any other page): its page
    #: caches, one per refresh, are pruned among themselves (``page_cache.prune_page_caches``).
    live_log = ""

    def __init__(self, data: CustomerData, model, card: dict, status: ModelStatus, artifacts: str | Path,
                 settings: Settings | None = None, k_table: pd.DataFrame | None = None, theme: str = "light"):
        super().__init__(theme=theme)
        self.data = data
        self.artifacts = Path(artifacts)
        self.settings = settings or read_settings()
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._take_data(data)
        self.model, self.card, self.status, self.k_table = model, card, status, k_table

    def _take_data(self, data: CustomerData) -> None:
        self.data = data
        #: The symbol on money figures: the log's own currency unless SEGKIT_CURRENCY sets one.
        self.currency = currency_symbol(getattr(data, "currency", None), self.settings)
        #: The engine's date-range activity of a log aggregated out of core (``None`` otherwise).
        self.large_log = large_log_date_ranges(data)
        #: False when the date and category filters are off: the lines are not held and no
        #: engine computes them (``load_customer_data(..., engine="duckdb")``).
        self.can_filter_dates = holds_lines(data) or self.large_log is not None
        self.countries = sorted(data.customers["Country"].dropna().astype(str).unique())
        self._present_categories: list[str] | None = None
        self.__dict__.pop("categories", None)  # the cached_property of the data before

    def set_data(self, data: CustomerData) -> None:
        """Show new data of the same log (a live refresh): same model, filters and theme;
        observers of ``data_version`` redraw, keeping their own inputs (sort, page)."""
        self._take_data(data)
        self.data_version += 1

    @classmethod
    def load(cls, data: CustomerData, artifacts: str | Path, settings: Settings | None = None,
             theme: str = "light") -> "DashboardState":
        """The state of a new page: the saved model when it fits ``data``, else one trained now."""
        model, card, status, k_table = initial_model(data, Path(artifacts))
        return cls(data, model, card, status, artifacts, settings, k_table, theme)

    @cached_property
    def categories(self) -> pd.Series:
        """Product category of each clean line (read on first use of a date or category filter)."""
        if not holds_lines(self.data):
            return pd.Series(pd.Categorical([]), name="Category")
        return line_categories(self.data.lines)

    @property
    def category_names(self) -> list[str]:
        """Product categories present in the lines (from the page cache when it has them;
        of a log aggregated out of core: of its descriptions)."""
        if self.large_log is not None:
            return self.large_log.category_names
        self.everyone  # noqa: B018 (the page cache brings them)
        if self._present_categories is None:
            self._present_categories = [str(c) for c in self.categories.cat.categories]
        return self._present_categories

    # ------------------------------------------------------------ model
    @property
    def segment_names(self) -> list[str]:
        if self.segmentation == "rfm":
            return self._cached("rfm_names", (self.model,), lambda: sorted(set(self.everyone["Segment"].astype(str))))
        return sorted(str(n) for n in self.model.segment_names_.values())

    @property
    def evidence(self) -> dict[str, str]:
        """Segment shown -> what customers like these did next, in words
        (``backtest.segment_evidence``: the model's evidence, or a sentence saying there is none)."""
        return self._cached("evidence", (self.model, self.segmentation),
                            lambda: segment_evidence(self.model, self.segment_names, self.currency))

    @property
    def segment_labels(self) -> dict[int, str]:
        """``Cluster`` number -> segment name of the segments shown (model or RFM)."""
        if self.segmentation == "rfm":
            return dict(enumerate(RFM_LABELS))
        return self.model.segment_names_

    @traitlets.observe("segmentation")
    def _on_segmentation(self, _change) -> None:
        # Other names: the segment filter starts over; panels redraw as for a new model.
        with self.hold_trait_notifications():
            if self.filters.segments is not None:
                self.filters = replace(self.filters, segments=None)
            self.model_version += 1

    @property
    def value_missing(self) -> str:
        """Why the page shows no lifetime value, one sentence for a viewer ("" when it does)."""
        if not getattr(self.model, "clv_params_", None):
            return "Lifetime value is not available for this model."
        if not holds_lines(self.data):
            return ("Lifetime value is not available for this log: its purchase lines are not held in memory "
                    "(aggregated out of core).")
        return ""

    @property
    def saved(self) -> bool:
        return self.status.saved

    def set_model(self, model, card: dict, status: ModelStatus, k_table: pd.DataFrame | None = None) -> None:
        """Show another model; observers of ``model_version`` redraw."""
        self.model, self.card, self.status, self.k_table = model, card, status, k_table
        if self.filters.segments is not None:  # names of the old model mean nothing now
            self.filters = replace(self.filters, segments=None)
        self.model_version += 1

    def retrain(self, k: int) -> None:
        """Refit the model with K = ``k`` on every customer (same features and preset)."""
        model = retrained(full_model(self.model), self.data.customers, k)
        status = ModelStatus(False, f"Not saved: retrained with K = {int(k)} on this page. Save it to make it the "
                                    "model every page uses.")
        self.set_model(model, provisional_card(model, self.data.training_info()), status, self.k_table)

    @property
    def k_choices(self) -> list[int]:
        """The K values to offer: value tiers 2..6 under lifecycle rules, else clusters 2..10."""
        return LIFECYCLE_K_CHOICES if lifecycle_rules(self.model) is not None else K_CHOICES

    def evaluate(self) -> int:
        """Compare K values with the model's own features, lifecycle rules and preset's
        largest K; returns the recommended K."""
        # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
        from segkit.modeling.model import evaluate_k, recommend_k

        lifecycle = lifecycle_rules(self.model)
        extra = {"lifecycle": lifecycle} if lifecycle is not None else {}
        self.k_table = evaluate_k(self.data.customers, self.k_choices, list(self.model.features),
                                  bool(getattr(self.model, "log_transform", True)), **extra)
        return recommend_k(self.k_table, max_k=preset_of(self.model).max_k)

    def save(self) -> None:
        """Save the model to ``artifacts`` (analyst mode only): every new page uses it."""
        if not self.settings.analyst:
            raise SegkitError("Saving the model needs analyst mode (SEGKIT_ANALYST=1 or segkit.server.serve --analyst).")
        card = save_model(full_model(self.model), self.artifacts, self.data)
        # Every page opened from now on reads this model's segments instead of computing them.
        prepare_page_cache(self.data, full_model(self.model), card)
        self.set_model(self.model, card, saved_status(self.artifacts, card), self.k_table)

    def reload_saved_model(self) -> bool:
        """Take the saved model when it is newer than the one shown and fits this data.

        A pre-heated kernel builds its page before the visitor arrives, maybe before
        someone saved a new model; the page calls this when it opens. Returns True when
        the model changed.
        """
        if not self.saved and self.model_version > 0:
            return False  # a model retrained on this page stays until its author saves it
        card = newer_saved_card(self.artifacts, self.data, self.card if self.saved else None)
        if card is None:
            return False
        self.set_model(CardModel(self.artifacts, card), card, saved_status(self.artifacts, card))
        self.notice = f"This page now uses the model saved {str(card.get('created', '?')).replace('T', ' ')[:16]}."
        return True

    # ------------------------------------------------------------ derived, cached on inputs
    def _cached(self, name: str, key: tuple, compute: Callable[[], Any]) -> Any:
        key = (self.data_version, *key)  # every derived value belongs to one version of the data
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        self._cache[name] = (key, value)
        return value

    @property
    def scored(self) -> pd.DataFrame:
        """Every customer with the model's full-period segment and lifetime value: for the
        saved model from the page cache every kernel shares (``page_cache.segmented_customers``)."""
        return self._scored_and_draws()[0]

    @property
    def value_draws(self) -> np.ndarray | None:
        """Every customer's lifetime value under each of the model's stored parameter draws
        (customers x draws, float32, rows as ``scored`` and ``everyone``; ``None`` for a model
        without draws): kept with the page so that any group shown gets its own interval."""
        return self._scored_and_draws()[1]

    def _scored_and_draws(self) -> tuple[pd.DataFrame, np.ndarray | None]:
        return self._cached("scored", (self.model,), lambda: split_value_draws(self._segment_everyone()))

    def _segment_everyone(self) -> pd.DataFrame:
        def compute():
            return page_customers(self.data, self.model, self.categories if holds_lines(self.data) else None)

        if self.saved:
            everyone, self._present_categories = segmented_customers(self.data.fingerprint, self.card, compute,
                                                                     self.live_log)
            return everyone
        everyone, _ = compute()
        return everyone

    @property
    def everyone(self) -> pd.DataFrame:
        """Every customer with the full-period segment shown: the model's, or the RFM
        rule segment (model segment kept as ``ModelSegment``) when ``segmentation == "rfm"``."""
        return self._cached("everyone", (self.model, self.segmentation),
                            lambda: rfm_segmented(self.scored) if self.segmentation == "rfm" else self.scored)

    def _date_range_key(self, filters: Filters) -> tuple:
        return (filters.start, filters.end, filters.category) if self.can_filter_dates else (None, None, ALL)

    def activity(self, filters: Filters | None = None) -> pd.DataFrame | None:
        """``date_range_activity`` for the filters' dates and category (``None``: no date range or category)."""
        filters = filters or self.filters
        key = self._date_range_key(filters)
        if not self.can_filter_dates or key == (None, None, ALL):  # no date range: the lines are not needed
            return None
        if self.large_log is not None:  # DuckDB over the file, saying so while it works
            return self._cached("activity", key, lambda: self.large_log.activity(*key, progress=self._show_progress))
        return self._cached("activity", key, lambda: date_range_activity(self.data.lines, self.categories, *key))

    def _show_progress(self, text: str) -> None:
        self.progress = text

    def period(self, filters: Filters | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
        filters = filters or self.filters
        first, last = self.data.period
        return pd.Timestamp(filters.start or first), pd.Timestamp(filters.end or last)

    @property
    def selection(self) -> Selection:
        """What the current filters select (see ``Selection``)."""
        filters = self.filters
        return self._cached("selection", (self.model_version, filters), lambda: self._selection(filters))

    def whole_period_selection(self) -> Selection:
        """The current filters without the dates and the category: the customers the KPIs'
        "whole period" figures are of (kept apart from ``selection``'s caches)."""
        filters = replace(self.filters, start=None, end=None, category=ALL)
        return self._cached("whole_selection", (self.model_version, filters), lambda: Selection(
            self.everyone, None, filters, self.period(filters), (), self.labels, draws=self.value_draws))

    def _selection(self, filters: Filters) -> Selection:
        if filters.segments is None:  # kept apart too: the base of the segment filters that follow
            return self._cached("base_selection", (self.model_version, filters), lambda: Selection(
                self.everyone, self.activity(filters), filters, self.period(filters),
                filter_warnings(filters, self.currency), self.labels, draws=self.value_draws))
        base = self._selection(replace(filters, segments=None))
        return Selection(self.everyone, self.activity(filters), filters, self.period(filters),
                         filter_warnings(filters, self.currency), self.labels, base, self.value_draws)

    @property
    def labels(self) -> dict[str, pd.Categorical]:
        """``segment_labels`` of everyone, once per model and segmentation."""
        return self._cached("labels", (self.model, self.segmentation), lambda: segment_labels(self.everyone))

    @property
    def z_scores(self) -> pd.DataFrame:
        """Per-customer z-scores over everyone (so filters do not shift the centres' scale)."""
        return self._cached("z", (self.model_version,), lambda: everyone_z_scores(self.everyone))

    @property
    def sample_rank(self) -> np.ndarray:
        """A fixed random rank per customer: which points a chart draws when over budget."""
        return self._cached("rank", (len(self.data.customers),),
                            lambda: np.random.default_rng(0).permutation(len(self.data.customers)))

    def table_frame(self, filters: Filters | None = None) -> pd.DataFrame:
        """Everyone with the table's columns (date-range columns when a date range or category is set)."""
        filters = filters or self.filters
        key = (self.model_version, self._date_range_key(filters))

        def build():
            frame = self.everyone
            activity = self.activity(filters)
            if activity is not None:
                frame = frame.join(activity, how="left")
            table = frame.reset_index()
            columns = [c for c in TABLE_COLUMNS if c in table.columns]
            if activity is not None:
                columns[columns.index("TotalSpend") + 1:columns.index("TotalSpend") + 1] = DATE_RANGE_COLUMNS
            return table[columns]
        return self._cached("table", key, build)

    def table_rows(self, sort_by: str, ascending: bool) -> np.ndarray:
        """Positions (in ``everyone``) of the shown customers in table order."""
        filters = self.filters
        frame = self.table_frame(filters)
        if sort_by not in frame.columns:
            sort_by = "TotalSpend"
        key = (self.model_version, self._date_range_key(filters), sort_by, ascending)
        order = self._cached("order", key, lambda: table_order(frame.set_index("CustomerID"), sort_by, ascending))
        return order[self.selection.mask[order]]
