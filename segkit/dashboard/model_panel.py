"""The model panel: "About the model" for everyone; for analysts, retrain and save.

Viewers read what the model is and how well its groups separate. In analyst mode
(``config.settings().analyst``) the panel also compares K values, retrains with the
model's own features and preset, and saves after a confirmation; saving writes the
saved model every new page uses.
"""
from __future__ import annotations

import html

import ipywidgets as W

from segkit.dashboard.widgets import classed, guarded
from segkit.views.tables import k_table_html, model_card_html

__all__ = ["ModelPanel"]


class ModelPanel:
    def __init__(self, state):
        self.state = state
        self.card_html = classed(W.HTML(), "seg-model-card")
        self.about = classed(W.VBox([W.HTML("<h3>About the model</h3>"), self.card_html]), "seg-panel", "seg-about")
        children = [self.about]
        self.analyst = state.settings.analyst
        if self.analyst:
            # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
            from segkit.dashboard.state import lifecycle_rules

            tiers = lifecycle_rules(state.model) is not None
            self.k_choice = W.Dropdown(options=state.k_choices, value=int(state.model.n_clusters),
                                       description="Value tiers" if tiers else "K",
                                       layout=W.Layout(width="200px"))
            self.evaluate_button = W.Button(description="Recommend K", icon="search", layout=W.Layout(width="auto"))
            self.retrain_button = W.Button(description="Retrain", icon="refresh", button_style="warning",
                                           layout=W.Layout(width="auto"))
            self.save_button = W.Button(description="Save model", icon="save", button_style="primary",
                                        layout=W.Layout(width="auto"))
            self.confirm_text = W.HTML()
            self.confirm_save = W.Button(description="Yes, save it", button_style="danger",
                                         layout=W.Layout(width="auto"))
            self.cancel_save = W.Button(description="Cancel", layout=W.Layout(width="auto"))
            self.confirm = classed(W.HBox([self.confirm_text, self.confirm_save, self.cancel_save],
                                          layout=W.Layout(display="none", align_items="center", grid_gap="6px",
                                                          flex_flow="row wrap")), "seg-confirm-save")
            self.retrain_status = classed(W.HTML(), "seg-retrain-status")
            self.k_view = classed(W.HTML(), "seg-k-table-view", "seg-scroll")
            self.retrain_box = classed(W.VBox([
                W.HTML("<h3>Retrain (analyst mode)</h3><span class='seg-meta'>Compare K values (silhouette, "
                       "Calinski-Harabasz, Davies-Bouldin, bootstrap stability), retrain on all customers with "
                       "the K you choose and the model's own features, then save it as the model every page "
                       "uses.</span>"),
                W.HBox([self.k_choice, self.evaluate_button, self.retrain_button, self.save_button],
                       layout=W.Layout(flex_flow="row wrap", grid_gap="6px")),
                self.confirm, self.retrain_status, self.k_view,
            ]), "seg-retrain", "seg-panel")
            children.append(self.retrain_box)
            self.evaluate_button.on_click(guarded(state, lambda _b: self._evaluate()))
            self.retrain_button.on_click(guarded(state, lambda _b: self._retrain()))
            self.save_button.on_click(guarded(state, lambda _b: self._ask_save()))
            self.confirm_save.on_click(guarded(state, lambda _b: self._save()))
            self.cancel_save.on_click(guarded(state, lambda _b: self._close_confirm()))
            if state.k_table is not None:
                # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
                from segkit.modeling.model import recommend_k

                self.k_view.value = k_table_html(state.k_table, recommend_k(state.k_table))
        self.widget = classed(W.VBox(children), "seg-model")
        state.observe(guarded(state, lambda _c: self.show()), names="model_version")
        self.show()

    def show(self) -> None:
        state = self.state
        self.card_html.value = model_card_html(state.card, state.status.html())
        if self.analyst:
            self.save_button.layout.display = "none" if state.saved else ""
            if list(self.k_choice.options) != state.k_choices:
                self.k_choice.options = state.k_choices
            if self.k_choice.value != int(state.model.n_clusters):
                self.k_choice.value = int(state.model.n_clusters)

    def _evaluate(self) -> None:
        recommended = self.state.evaluate()
        self.k_view.value = k_table_html(self.state.k_table, recommended)
        self.k_choice.value = recommended
        self.retrain_status.value = f'<span class="seg-ok">Recommended K = {recommended}.</span>'

    def _retrain(self) -> None:
        k = int(self.k_choice.value)
        self._close_confirm()
        self.state.retrain(k)
        metrics = self.state.model.metrics_
        self.retrain_status.value = (
            f'<span class="seg-ok">Retrained with K = {k}: {html.escape(", ".join(self.state.segment_names))}; '
            f'silhouette {metrics.get("silhouette", float("nan")):.3f}, Davies-Bouldin '
            f'{metrics.get("davies_bouldin", float("nan")):.3f}. Not saved yet.</span>')

    def _ask_save(self) -> None:
        self.confirm_text.value = ("<b>Replace the saved model?</b> "
                                   "Every page opened from now on will use this one.")
        self.confirm.layout.display = ""

    def _close_confirm(self) -> None:
        self.confirm.layout.display = "none"

    def _save(self) -> None:
        self._close_confirm()
        self.state.save()
        self.retrain_status.value = '<span class="seg-ok">Saved: every page opened from now on uses this model.</span>'
