"""A saved model reloads whole (every constructor parameter, so
``clone(load(...))`` refits the same scaler and clusterer), and its registered features
travel with it (imported at load by ``module:function``, checked against their source)."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import joblib
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import RobustScaler

import segkit.features as features_module
from segkit.errors import SegkitFeatureError
from segkit.features.customers import add_registered_features
from segkit.modeling.model import SegmentationModel
from segkit.pipeline.artifacts import load_artifacts, save_artifacts

WORKTREE = Path(__file__).resolve().parents[2]  # the repository root

FEATURE_SOURCE = '''
from segkit.rules.registry import register_feature


@register_feature("AfternoonShare", transform="identity")
def afternoon_share(lines):
    """Share of the customer's spend bought from noon on, 0..1."""
    spend = lines["Quantity"] * lines["UnitPrice"]
    afternoon = spend.where(lines["InvoiceDate"].dt.hour >= 12, 0.0)
    total = spend.groupby(lines["CustomerID"], observed=True).sum()
    share = afternoon.groupby(lines["CustomerID"], observed=True).sum() / total.where(total > 0)
    return share.fillna(0.0).clip(0, 1)
'''


@pytest.fixture
def clean_registry():
    """The feature registry, sys.modules and sys.path as they were after the test: the
    feature modules a test imported from its temporary folders are forgotten. Libraries it
    imported first stay (forgetting DuckDB's compiled submodules broke every later DuckDB
    import in the same worker: "'_duckdb' is not a package")."""
    registered = dict(features_module.REGISTERED_FEATURES)
    transforms = dict(features_module.FEATURE_TRANSFORMS)
    modules = set(sys.modules)
    path = list(sys.path)
    yield
    temporary = Path(tempfile.gettempdir()).resolve()
    for name in set(sys.modules) - modules:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and Path(file).resolve().is_relative_to(temporary):
            sys.modules.pop(name, None)
    sys.path[:] = path
    features_module.REGISTERED_FEATURES.clear()
    features_module.REGISTERED_FEATURES.update(registered)
    features_module.FEATURE_TRANSFORMS.clear()
    features_module.FEATURE_TRANSFORMS.update(transforms)


def write_feature_module(folder: Path, name: str, source: str = FEATURE_SOURCE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def import_from(folder: Path, name: str):
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    return importlib.import_module(name)


def forget(name: str, folder: Path) -> None:
    """As in a fresh process: the module and its feature are gone, its folder off the path."""
    sys.modules.pop(name, None)
    features_module.REGISTERED_FEATURES.pop("AfternoonShare", None)
    features_module.FEATURE_TRANSFORMS.pop("AfternoonShare", None)
    while str(folder) in sys.path:
        sys.path.remove(str(folder))


def configuration(params: dict) -> dict:
    """``get_params(deep=True)`` comparable across processes: estimators by type and params."""
    def plain(value):
        if isinstance(value, BaseEstimator):
            return (type(value).__module__, type(value).__qualname__, configuration(value.get_params(deep=False)))
        return value
    return {k: plain(v) for k, v in params.items()}


def custom_model() -> SegmentationModel:
    return SegmentationModel(features=("NumPurchases", "TotalSpend", "AfternoonShare"),
                             transforms={"AfternoonShare": "identity"}, n_clusters=3, n_init=3, random_state=7,
                             scaler=RobustScaler(quantile_range=(10.0, 90.0)),
                             clusterer=GaussianMixture(n_components=2, covariance_type="diag", max_iter=200))


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and message.count(". ") == 0


FRESH_PROCESS = textwrap.dedent('''
    import sys

    import joblib
    import pandas as pd
    from sklearn.base import clone

    from segkit.pipeline.artifacts import load_artifacts
    from segkit.rules.registry import REGISTERED_FEATURES
    from segkit.features.customers import add_registered_features
    from segkit.pipeline.workflow import load_customer_data

    folder, out = sys.argv[1:3]
    model = load_artifacts(folder)
    data = load_customer_data(None)
    extra = [f for f in model.input_columns_ if f in REGISTERED_FEATURES]
    customers = add_registered_features(data.customers, data.lines, extra)
    refit = clone(model).fit(customers)
    joblib.dump({"params": clone(model).get_params(deep=True), "extra": extra,
                 "steps": [type(step).__name__ for _, step in refit.pipeline_.steps],
                 "labels": refit.labels_, "predicted": model.predict(customers)}, out)
''')


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_a_custom_model_reloads_whole_in_a_fresh_process_and_its_clone_refits_the_same(
        tmp_path, sample_data, clean_registry):
    write_feature_module(tmp_path / "features", "roundtrip_feats")
    import_from(tmp_path / "features", "roundtrip_feats")
    customers = add_registered_features(sample_data.customers, sample_data.lines, ["AfternoonShare"])
    model = custom_model().fit(customers)
    save_artifacts(model, tmp_path / "artifacts")

    out = tmp_path / "fresh.joblib"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "features"), str(WORKTREE)])}
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "artifacts"), str(out)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fresh = joblib.load(out)

    assert configuration(fresh["params"]) == configuration(clone(model).get_params(deep=True))
    assert fresh["extra"] == ["AfternoonShare"]
    assert fresh["steps"] == ["ColumnTransformer", "RobustScaler", "GaussianMixture"]
    expected = clone(model).fit(customers)
    assert (fresh["labels"] == expected.labels_).all()
    assert (fresh["predicted"] == model.labels_).all()


def test_the_card_records_every_parameter_and_where_each_feature_comes_from(tmp_path, sample_data, clean_registry):
    write_feature_module(tmp_path / "features", "card_feats")
    import_from(tmp_path / "features", "card_feats")
    customers = add_registered_features(sample_data.customers, sample_data.lines, ["AfternoonShare", "ChristmasShare"])
    model = SegmentationModel(features=("NumPurchases", "TotalSpend", "AfternoonShare", "ChristmasShare"),
                              transforms={"AfternoonShare": "identity", "ChristmasShare": "identity"},
                              scaler=RobustScaler(), n_clusters=3).fit(customers)
    card = json.loads(save_artifacts(model, tmp_path / "artifacts").read_text())
    assert set(card["params"]) == set(model.get_params(deep=False))
    assert card["params"]["scaler"]["__estimator__"].endswith("RobustScaler")
    assert card["params"]["clusterer"] is None
    recorded = card["feature_functions"]
    assert recorded["AfternoonShare"]["function"] == "card_feats:afternoon_share"
    assert recorded["ChristmasShare"]["function"] == "segkit.rules.registry:christmas_share"
    assert all(len(spec["source_sha256"]) == 64 for spec in recorded.values())
    # The default model, reloaded, still has segkit's defaults.
    default = SegmentationModel(n_clusters=4).fit(sample_data.customers)
    save_artifacts(default, tmp_path / "default")
    assert configuration(load_artifacts(tmp_path / "default").get_params(deep=True)) == configuration(
        default.get_params(deep=True))


@pytest.fixture
def saved_with_module(tmp_path, sample_data, clean_registry):
    folder = tmp_path / "features"
    path = write_feature_module(folder, "travel_feats")
    import_from(folder, "travel_feats")
    customers = add_registered_features(sample_data.customers, sample_data.lines, ["AfternoonShare"])
    model = SegmentationModel(features=("NumPurchases", "TotalSpend", "AfternoonShare"),
                              transforms={"AfternoonShare": "identity"}, n_clusters=3).fit(customers)
    save_artifacts(model, tmp_path / "artifacts")
    return model, tmp_path / "artifacts", path


def test_loading_imports_the_feature_module_and_registers_the_feature(saved_with_module):
    model, artifacts, path = saved_with_module
    forget("travel_feats", path.parent)
    sys.path.insert(0, str(path.parent))
    loaded = load_artifacts(artifacts)
    assert features_module.REGISTERED_FEATURES["AfternoonShare"].__module__ == "travel_feats"
    assert features_module.FEATURE_TRANSFORMS["AfternoonShare"] == "identity"
    assert loaded.input_columns_[:3] == ["NumPurchases", "TotalSpend", "AfternoonShare"]


def test_a_module_that_cannot_be_imported_is_refused_in_one_sentence(saved_with_module):
    _, artifacts, path = saved_with_module
    forget("travel_feats", path.parent)
    with pytest.raises(SegkitFeatureError) as caught:
        load_artifacts(artifacts)
    message = str(caught.value)
    assert "'AfternoonShare'" in message and "afternoon_share()" in message and "'travel_feats'" in message
    assert "--feature-module" in message and "PYTHONPATH" in message
    assert one_sentence(message), message


def test_a_changed_feature_source_is_refused_in_one_sentence(saved_with_module):
    _, artifacts, path = saved_with_module
    forget("travel_feats", path.parent)
    path.write_text(FEATURE_SOURCE.replace(">= 12", ">= 13"))
    sys.path.insert(0, str(path.parent))
    importlib.invalidate_caches()
    with pytest.raises(SegkitFeatureError) as caught:
        load_artifacts(artifacts)
    message = str(caught.value)
    assert "'AfternoonShare'" in message and "afternoon_share()" in message and "'travel_feats'" in message
    assert "no longer matches" in message and "retrain" in message
    assert one_sentence(message), message


def test_a_feature_defined_in_main_warns_at_save_and_loads_only_where_it_is_registered(
        tmp_path, sample_data, clean_registry):
    def evening_share(lines):
        spend = lines["Quantity"] * lines["UnitPrice"]
        evening = spend.where(lines["InvoiceDate"].dt.hour >= 17, 0.0)
        return (evening.groupby(lines["CustomerID"]).sum() / spend.groupby(lines["CustomerID"]).sum()).fillna(0.0)

    evening_share.__module__ = "__main__"
    evening_share.__qualname__ = "evening_share"
    features_module.register_feature("EveningShare", evening_share, transform="identity")
    customers = add_registered_features(sample_data.customers, sample_data.lines, ["EveningShare"])
    model = SegmentationModel(features=("NumPurchases", "TotalSpend", "EveningShare"),
                              transforms={"EveningShare": "identity"}, n_clusters=3).fit(customers)
    with pytest.warns(UserWarning, match=r"'EveningShare' is defined in __main__ .* cannot import"):
        save_artifacts(model, tmp_path)
    assert (load_artifacts(tmp_path).predict(customers) == model.labels_).all()  # same session: loads
    features_module.REGISTERED_FEATURES.pop("EveningShare")
    with pytest.raises(SegkitFeatureError, match=r"'EveningShare' is evening_share\(\) from __main__") as caught:
        load_artifacts(tmp_path)
    assert one_sentence(str(caught.value)), str(caught.value)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_segkit_score_imports_the_feature_module_for_one_run(tmp_path, sample_csv, clean_registry):
    from test_cli import segkit

    path = write_feature_module(tmp_path / "features", "cli_feats")
    artifacts = tmp_path / "artifacts"
    trained = segkit("train", "--data", sample_csv, "--feature-module", path, "--feature", "AfternoonShare",
                     "--k", "3", "--no-clv", "--artifacts", artifacts)
    assert trained.returncode == 0, trained.stderr
    assert str(path.parent) not in sys.path  # for that run only
    card = json.loads(next((artifacts / "versions").glob("*/model.json")).read_text())
    assert card["feature_functions"]["AfternoonShare"]["function"] == "cli_feats:afternoon_share"

    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    command = [sys.executable, "-m", "segkit.cli", "score", "--data", str(sample_csv), "--artifacts", str(artifacts)]
    refused = subprocess.run(command + ["--out", str(tmp_path / "refused.csv")], capture_output=True, text=True,
                             timeout=300, env=env, cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "'AfternoonShare'" in refused.stderr and "'cli_feats'" in refused.stderr
    assert "--feature-module" in refused.stderr and not (tmp_path / "refused.csv").exists()

    out = tmp_path / "scored.csv"
    scored = subprocess.run(command + ["--feature-module", str(path), "--out", str(out)], capture_output=True,
                            text=True, timeout=300, env=env, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    header = out.read_text().splitlines()[0].split(",")
    assert "AfternoonShare" in header and "Segment" in header


def test_a_reloaded_model_keeps_its_scaler_and_clusterer_and_its_clone_refits_them(tmp_path, sample_data):
    model = SegmentationModel(scaler=RobustScaler(quantile_range=(10.0, 90.0)), n_clusters=3, n_init=2,
                              clusterer=GaussianMixture(n_components=2, covariance_type="diag"))
    model.fit(sample_data.customers)
    save_artifacts(model, tmp_path)
    loaded = load_artifacts(tmp_path)
    assert configuration(clone(loaded).get_params(deep=True)) == configuration(clone(model).get_params(deep=True))
    refit = clone(loaded).fit(sample_data.customers)
    assert [type(step).__name__ for _, step in refit.pipeline_.steps] == ["FunctionTransformer", "RobustScaler",
                                                                          "GaussianMixture"]
    assert (refit.labels_ == clone(model).fit(sample_data.customers).labels_).all()


def test_a_card_saved_before_params_were_recorded_reloads_its_scaler_and_clusterer_from_the_pipeline(
        tmp_path, sample_data):
    from test_artifacts import edit_card

    model = SegmentationModel(scaler=RobustScaler(), n_clusters=3,
                              clusterer=GaussianMixture(covariance_type="diag")).fit(sample_data.customers)
    folder = save_artifacts(model, tmp_path).parent
    edit_card(folder, lambda card: [card.pop("params"), card.pop("feature_functions")])
    loaded = load_artifacts(tmp_path)
    assert type(loaded.scaler) is RobustScaler and type(loaded.clusterer) is GaussianMixture
    assert loaded.clusterer.covariance_type == "diag" and loaded.clusterer.n_components == 3
    assert (loaded.predict(sample_data.customers) == model.labels_).all()
    default = SegmentationModel(n_clusters=4).fit(sample_data.customers)
    folder = save_artifacts(default, tmp_path / "default").parent
    edit_card(folder, lambda card: [card.pop("params"), card.pop("feature_functions")])
    reloaded = load_artifacts(tmp_path / "default")
    # An old card holds the lifecycle rules resolved ("default" and LifecycleRules() are the same rules).
    assert reloaded.lifecycle_rules_ == default.lifecycle_rules_
    assert {**reloaded.get_params(deep=False), "lifecycle": "default"} == default.get_params(deep=False)


def test_a_parameter_the_card_cannot_hold_refuses_the_save_and_keeps_the_previous_model(tmp_path, sample_data):
    from test_artifacts import tree

    from segkit.errors import SegkitArtifactError

    model = SegmentationModel(n_clusters=3).fit(sample_data.customers)
    save_artifacts(model, tmp_path)
    before = tree(tmp_path)
    model.transforms = {"TotalSpend": object()}  # not JSON: set after fit, as a careless notebook might
    with pytest.raises(SegkitArtifactError, match="parameter transforms="):
        save_artifacts(model, tmp_path)
    assert tree(tmp_path) == before
