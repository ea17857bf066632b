"""Fixtures the browser tests of several modules share: a read-only dashboard server
(``viewer_served``: the sample, where the page trains on the fly, or the real parquet
with a model saved beforehand) and one page on it (``viewer_page``). The server is started once per data set for the whole run (it is
read-only, so modules cannot disturb each other through it); each module opens its own
page. A module may narrow the data sets with
``@pytest.mark.parametrize("viewer_served", ["sample"], indirect=True)``.

Without a browser: a page state over the sample's customers and model (``sample_state``; ``state``
resets its filters) and an analyst's whole page (``dashboard``), shared by the modules of the panels."""
from __future__ import annotations

import os

import pytest
from dashboard_checks import ANALYST, VIEWER
from test_browser import (
    Served,
    _require_chromium,
    _summary,
    pages_on,
    served_with_evidence,
)

from segkit.views import tables as views
from segkit.views.tables import Filters


@pytest.fixture(scope="session", params=["sample", "real"])
def viewer_served(request, tmp_path_factory):
    """Voilà on the sample (the page trains on the fly) or on the real parquet (a model
    saved beforehand), read-only as viewers get it."""
    from segkit.config import default_data_path
    from segkit.pipeline.workflow import load_customer_data

    folder = tmp_path_factory.mktemp(f"voila-viewer-{request.param}")
    env = {k: v for k, v in os.environ.items() if k != "SEGKIT_DATA"}
    env.update(SEGKIT_ARTIFACTS=str(folder / "artifacts"), SEGKIT_CACHE=str(folder / "cache"), SEGKIT_ANALYST="")
    if request.param == "sample":
        if default_data_path() is not None:
            pytest.skip(f"data/ holds {default_data_path().name}: the sample-data page needs an empty data/ folder")
        data = load_customer_data(None)
    else:
        from segkit.pipeline.artifacts import save_artifacts

        env["SEGKIT_DATA"] = str(request.getfixturevalue("real_parquet"))
        data = request.getfixturevalue("real_data")
        save_artifacts(request.getfixturevalue("real_auto_model"), folder / "artifacts", data.training_info())
    _require_chromium()
    server = Served(request.param, folder, env)
    server.data = data
    yield server
    server.stop()


@pytest.fixture(scope="module")
def viewer_page(viewer_served, browser):
    """One page on ``viewer_served``, opened once the pre-heated kernel has run the notebook."""
    for page in pages_on(viewer_served, browser):
        page.full_summary = _summary(page)
        yield page


@pytest.fixture(scope="session")
def evidence_served(tmp_path_factory, sample_data):
    """Voilà on the built-in sample with a saved model that carries its backtest (as
    ``segkit train`` saves it); read-only, as viewers get it. Started once for the run."""
    from segkit.config import default_data_path
    from segkit.pipeline.workflow import train_model

    if default_data_path() is not None:
        pytest.skip(f"data/ holds {default_data_path().name}: the sample-data page needs an empty data/ folder")
    model, _ = train_model(sample_data, "auto")
    yield from served_with_evidence("evidence", tmp_path_factory.mktemp("voila-evidence"), sample_data, model)


# ------------------------------------------------------------------ a model and a page state over the sample,
# shared by the modules that test the dashboard's panels without a browser


@pytest.fixture(scope="module")
def sample_state(sample_data, sample_model, tmp_path_factory):
    """A state over the sample with a fixed model (no training): what every panel reads."""
    from segkit.dashboard.state import DashboardState, ModelStatus

    card = views.provisional_card(sample_model, sample_data.training_info())
    return DashboardState(sample_data, sample_model, card, ModelStatus(False, "Not saved: test model."),
                          tmp_path_factory.mktemp("artifacts"), VIEWER)


@pytest.fixture()
def state(sample_state):
    sample_state.filters = Filters()
    sample_state.message = sample_state.notice = ""
    return sample_state


@pytest.fixture()
def dashboard(sample_data, tmp_path):
    from segkit.dashboard import Dashboard

    return Dashboard(sample_data, artifacts=tmp_path / "artifacts", settings=ANALYST, query="")
