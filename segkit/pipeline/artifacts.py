"""Save and reload trained models: versioned, all or nothing, checked before loading.

Layout of an artifacts folder::

    artifacts/
      CURRENT                      one line: the version in use
      versions/<version>/          pipeline.joblib, model.json

``save_artifacts`` writes a new version into a temporary folder, fsyncs it, renames the
folder into ``versions/`` and only then points ``CURRENT`` at it with one atomic
``os.replace``. A failure at any step leaves ``CURRENT`` on the previous version, so a
model is switched whole or not at all; earlier versions stay for ``rollback``.
A folder with ``model.json`` at its top (the layout before versions) still loads.

``model.json`` records the features, transforms, K, lifecycle rules, segment names and
definitions, metrics, a fingerprint of the training data, library versions, the sha256 of
each joblib file and ``card_sha256``, a checksum of the card itself. With
``SEGKIT_MODEL_KEY`` set (a shared folder), the card also carries an HMAC-SHA256 under
that key, and a card without a valid one is refused. Loading also checks what can be
checked from the files themselves: the scaler's statistics against the declared
transforms, the segment names against the centres' profiles.

Loading refuses a set whose files do not match the sha256 in ``model.json`` (joblib
runs code when it loads a file, so an altered file is never unpickled), and only opens
plain file names inside the folder it was given.

Whole models: ``model.json``'s ``params`` holds every constructor parameter of the
``SegmentationModel`` (features, K, random_state, n_init, lifecycle, transforms, and the
scaler and clusterer as given, by class and parameters), so ``clone(load_artifacts(...))``
is configured exactly as ``clone(original)`` and refits the same scaler and clusterer. The
estimators' classes are taken from the checked ``pipeline.joblib`` (the card names them
only to be compared), their parameters from the card; parameters JSON cannot hold (arrays,
nested estimators) are taken from the pipeline's step, which keeps them as given. Cards
written before ``params`` existed reload with the scaler and clusterer read off the pipeline
(``None`` where they are segkit's defaults).

Features that travel: ``model.json``'s ``feature_functions`` records, for each registered
feature (``segkit.rules.registry.register_feature``) the model uses, its function's import path
(``module:function``), the sha256 of its source and its transform. Loading imports each
one and registers it, so ``segkit score``, ``workflow.customers_for_scoring`` and the page
compute it in a fresh process. Loading refuses, in one sentence naming the feature, the
function, the module and the fix (``SegkitFeatureError``), when the module cannot be
imported (``segkit score --feature-module PATH`` makes one importable for a run) or the
function's source no longer matches. Only the function's own source is hashed, not the
helpers it calls. A feature defined in ``__main__`` (a notebook or script) or inside another
function cannot be imported by another process: saving warns in one sentence and still
saves (the notebook that trained the model can go on using and reloading it), and loading
accepts it only where the same code is registered under that name in the running process
(e.g. the same notebook), else refuses.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segkit.config import ARTIFACTS_DIR
from segkit.errors import SegkitArtifactError, SegkitError, SegkitFeatureError
from segkit.features.customers import NUMERIC_FEATURES, data_fingerprint  # noqa: F401 (re-exported)
from segkit.files.atomic import write_text_atomically
from segkit.ingest.read_cache import file_digest as _sha256
from segkit.modeling.label import LifecycleRules
from segkit.rules.registry import FEATURE_TRANSFORMS, REGISTERED_FEATURES

if TYPE_CHECKING:  # scikit-learn and joblib load only to save or load a pipeline (about 1 s)
    from sklearn.pipeline import Pipeline

    from segkit.modeling.model import SegmentationModel

__all__ = ["FORMAT_VERSION", "data_fingerprint", "save_artifacts", "load_artifacts", "read_model_card",
           "current_version_dir", "list_versions", "rollback", "MODEL_KEY_ENV", "jsonable"]

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MODEL_CARD = "model.json"
#: Format 2 saves the whole fitted pipeline (transforms, any scaler, any clusterer).
PIECES = {"pipeline": "pipeline.joblib"}
#: Format 1 (segkit 0.1) saved the scaler and the K-Means step apart.
PIECES_V1 = {"scaler": "scaler.joblib", "kmeans": "kmeans.joblib"}
#: The refits on resampled customers (``SegmentationModel.refits_``: each one's pipeline and
#: cluster names), written when the model has them, for each customer's ``KeptInRefits``.
REFITS_PIECE = "refits.joblib"
CURRENT = "CURRENT"
VERSIONS = "versions"
MODEL_KEY_ENV = "SEGKIT_MODEL_KEY"
#: Deepest JSON nesting a model card may have (a real card has 4 levels).
MAX_CARD_DEPTH = 20
MAX_CARD_BYTES = 5_000_000



def _versions() -> dict[str, str]:
    # start-up: joblib loads on first use, not on import (0.07 s, measured)
    import joblib
    import sklearn

    return {"python": ".".join(map(str, __import__("sys").version_info[:3])), "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__, "numpy": np.__version__, "joblib": joblib.__version__}


def jsonable(value: Any) -> Any:
    """``value`` with NumPy numbers, timestamps and tuples made plain JSON (NaN and inf: null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return value


def save_artifacts(model: SegmentationModel, directory: str | Path = ARTIFACTS_DIR,
                   training_data: dict[str, Any] | None = None) -> Path:
    """Write the model as a new version in ``directory`` and make it current, all or
    nothing: on any failure the previous model stays current, byte for byte.

    Parameters
    ----------
    model : SegmentationModel
        A fitted model.
    directory : str or Path, default ``artifacts/``
        The artifacts folder (``versions/<time>-<checksum>/`` and ``CURRENT`` inside).
    training_data : dict, optional
        What the model was trained on (source, fingerprint, customers, lines, period,
        cleaning rules); stored in ``model.json``.

    Returns
    -------
    Path
        The new version's ``model.json``.

    Examples
    --------
    >>> import tempfile
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> from segkit.pipeline.workflow import load_customer_data, train_model
    >>> model, _ = train_model(load_customer_data(generate_sample_transactions(n_customers=300)), k=3)
    >>> folder = tempfile.mkdtemp()
    >>> card = save_artifacts(model, folder)
    >>> card.name
    'model.json'
    >>> load_artifacts(folder).n_clusters
    3
    """
    if not hasattr(model, "pipeline_"):
        raise SegkitArtifactError("The model is not trained yet; call fit() before saving it.")
    directory = Path(directory)
    created = datetime.now(timezone.utc)
    try:
        versions = directory / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        remove_leftovers(directory)
        staging = Path(tempfile.mkdtemp(dir=versions, prefix=".new-"))
    except OSError as exc:
        raise _folder_error(directory, exc) from None
    # start-up: joblib loads on first use, not on import (0.07 s, measured)
    import joblib

    try:
        files = {}
        joblib.dump(model.pipeline_, staging / PIECES["pipeline"])
        files[PIECES["pipeline"]] = _sha256(staging / PIECES["pipeline"])
        if getattr(model, "refits_", None):
            joblib.dump(model.refits_, staging / REFITS_PIECE)
            files[REFITS_PIECE] = _sha256(staging / REFITS_PIECE)
        card = _model_card(model, training_data, created, files)
        # Names sort by time (to the millisecond), then the card's checksum.
        version = f"{created:%Y%m%dT%H%M%S}{created.microsecond // 1000:03d}Z-{card['card_sha256'][:8]}"
        card_text = json.dumps(card, indent=2)
        (staging / MODEL_CARD).write_text(card_text)
        for path in staging.iterdir():
            os.chmod(path, 0o644)
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        target, n = versions / version, 1
        while target.exists():  # the same model saved twice within a second
            n += 1
            target = versions / f"{version}-{n}"
        os.rename(staging, target)  # atomic: the version appears complete or not at all
        version = target.name
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _folder_error(directory, exc) from None
        raise
    try:
        _point_current(directory, version)
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise _folder_error(directory, exc) from None
    return target / MODEL_CARD


def _model_card(model: SegmentationModel, training_data, created: datetime, files: dict[str, str]) -> dict:
    card = {
        "format": FORMAT_VERSION,
        "created": created.isoformat(timespec="seconds"),
        "features": [str(f) for f in model.cluster_features_],
        "transforms": pipeline_transforms(model.pipeline_, list(model.cluster_features_)),
        "scaler": type(model.pipeline_.named_steps["scaler"]).__name__,
        "k": int(model.n_clusters),
        "random_state": model.random_state,
        "algorithm": type(model.pipeline_.steps[-1][1]).__name__,
        "centres": jsonable(model.cluster_centres_.tolist()),
        "segments": {str(c): n for c, n in model.segment_names_.items()},
        "lifecycle": model.lifecycle_rules_.as_dict() if model.lifecycle_rules_ is not None else None,
        "tier_of_cluster": [int(t) for t in model.tier_of_cluster_],
        "definitions": jsonable(model.definitions_.reset_index().to_dict(orient="records")),
        "clv": jsonable(getattr(model, "clv_params_", None)),
        "clv_uncertainty": jsonable(getattr(model, "clv_uncertainty_", None)),
        "profile": jsonable(model.profile_.reset_index().to_dict(orient="records")),
        "metrics": jsonable(model.metrics_),
        "params": model_params(model),
        "feature_functions": feature_functions_card(list(model.cluster_features_)),
        "training_data": jsonable(training_data or {}),
        "versions": _versions(),
        "files": files,
    }
    if getattr(model, "refits_", None):  # segkit.modeling.validation.store_refits: KeptInRefits per customer
        card["refits"] = {"count": len(model.refits_), "resampled": "customers drawn with replacement",
                          "file": REFITS_PIECE}
    if getattr(model, "evidence_", None):  # segkit.pipeline.backtest: what customers like these did next
        card["evidence"] = jsonable(model.evidence_)
    if getattr(model, "advice_rules_", None):  # segkit.pipeline.backtest.advice_table: what each advice needs
        card["advice_rules"] = jsonable(model.advice_rules_)
    if getattr(model, "lifecycle_fit_", None):  # segkit.pipeline.thresholds: how the lifecycle thresholds were chosen
        card["lifecycle_fit"] = jsonable(model.lifecycle_fit_)
    card["card_sha256"] = _card_digest(card)
    key = os.environ.get(MODEL_KEY_ENV)
    if key:
        card["card_hmac"] = _card_hmac(card, key)
    return card


def _canonical(card: dict) -> bytes:
    body = {k: v for k, v in card.items() if k not in ("card_sha256", "card_hmac")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _card_digest(card: dict) -> str:
    return hashlib.sha256(_canonical(card)).hexdigest()


def _card_hmac(card: dict, key: str) -> str:
    return hmac.new(key.encode(), _canonical(card), hashlib.sha256).hexdigest()


#: A half-written version or pointer this old was left by a save that was killed (a save
#: takes seconds); younger ones may belong to a save running now, and are kept.
LEFTOVER_SECONDS = 3600.0


def remove_leftovers(directory: str | Path, older_than: float = LEFTOVER_SECONDS) -> list[Path]:
    """Remove what killed saves left in ``directory``: staging folders (``versions/.new-*``)
    and pointer temp files (``.CURRENT.*.tmp``) older than ``older_than`` seconds. Never
    touches a finished version or ``CURRENT``. Returns what was removed."""
    directory = Path(directory)
    now = time.time()
    candidates = list((directory / VERSIONS).glob(".new-*")) + list(directory.glob(f".{CURRENT}.*.tmp"))
    removed = []
    for path in candidates:
        try:
            if now - path.lstat().st_mtime < older_than:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            continue  # another save is removing it, or it is not ours to remove
    return removed


def _point_current(directory: Path, version: str) -> None:
    write_text_atomically(version + "\n", directory / CURRENT, durable=True)


def _folder_error(directory: Path, exc: OSError) -> SegkitArtifactError:
    reason = exc.strerror or type(exc).__name__
    return SegkitArtifactError(
        f"Could not save the model in '{directory}' ({reason}); the previous model is unchanged. "
        "Free some space or make the folder writable, or pass --artifacts <another folder>."
    )


def current_version_dir(directory: str | Path = ARTIFACTS_DIR) -> Path:
    """The folder of the version in use (``directory`` itself in the old flat layout)."""
    directory = Path(directory)
    pointer = directory / CURRENT
    if not pointer.is_file():
        return directory
    version = pointer.read_text(errors="replace").strip()
    target = directory / VERSIONS / version
    if not version or Path(version).name != version or version.startswith(".") or not target.is_dir():
        raise SegkitArtifactError(
            f"'{pointer}' names a model version that is not in '{directory / VERSIONS}' ({version[:40]!r}); "
            "run `segkit models` to list the versions and `segkit rollback <version>` to choose one."
        )
    return target


def list_versions(directory: str | Path = ARTIFACTS_DIR) -> pd.DataFrame:
    """One row per saved version, newest first: version, created, K, segments, trained on, current."""
    directory = Path(directory)
    try:
        current = current_version_dir(directory).name
    except SegkitArtifactError:
        current = None
    rows = []
    for folder in sorted((directory / VERSIONS).glob("[!.]*"), reverse=True):
        try:
            card = _read_card_file(folder / MODEL_CARD)
        except SegkitArtifactError:
            continue
        data = card.get("training_data") or {}
        rows.append({"version": folder.name, "created": card.get("created"), "k": card.get("k"),
                     "segments": ", ".join(map(str, (card.get("segments") or {}).values())),
                     "trained_on": data.get("source"), "customers": data.get("customers"),
                     "current": folder.name == current})
    return pd.DataFrame(rows, columns=["version", "created", "k", "segments", "trained_on", "customers", "current"])


def rollback(directory: str | Path, version: str) -> Path:
    """Make ``version`` (a name from ``list_versions``) the model in use, after checking it loads."""
    directory = Path(directory)
    target = directory / VERSIONS / version
    if Path(version).name != version or version.startswith(".") or not target.is_dir():
        known = ", ".join(list_versions(directory)["version"]) or "none"
        raise SegkitArtifactError(f"No model version '{version}' in '{directory}'; saved versions: {known}.")
    load_artifacts_from(target)
    try:
        _point_current(directory, version)
    except OSError as exc:
        raise _folder_error(directory, exc) from None
    return target


def read_model_card(directory: str | Path = ARTIFACTS_DIR) -> dict[str, Any]:
    """Read and check the current version's ``model.json`` (without loading any joblib file)."""
    return _read_card_file(current_version_dir(directory) / MODEL_CARD)


def _depth(value, limit: int, level: int = 0) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        return max([_depth(v, limit, level + 1) for v in value.values()] or [level + 1])
    if isinstance(value, list):
        return max([_depth(v, limit, level + 1) for v in value] or [level + 1])
    return level


def _read_card_file(card_path: Path) -> dict[str, Any]:
    retrain = "retrain with `segkit train` (or `segkit rollback <version>` to an earlier one)"
    if not card_path.is_file():
        raise SegkitArtifactError(
            f"No saved model in '{card_path.parent}' ({MODEL_CARD} is missing); train one with `segkit train`."
        )
    if card_path.stat().st_size > MAX_CARD_BYTES:
        raise SegkitArtifactError(f"'{card_path}' is larger than any model card ({card_path.stat().st_size:,} bytes); {retrain}.")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegkitArtifactError(
            f"'{card_path}' is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}); {retrain}."
        ) from None
    except RecursionError:
        raise SegkitArtifactError(f"'{card_path}' is nested too deeply to be a model card; {retrain}.") from None
    if not isinstance(card, dict):
        raise SegkitArtifactError(f"'{card_path}' holds {type(card).__name__ if card is not None else 'null'}, not a model card; {retrain}.")
    if _depth(card, MAX_CARD_DEPTH) > MAX_CARD_DEPTH:
        raise SegkitArtifactError(f"'{card_path}' is nested too deeply to be a model card; {retrain}.")
    needed = ["format", "features", "transforms", "k", "segments", "files"]
    missing = [k for k in needed if k not in card]
    if missing:
        raise SegkitArtifactError(f"'{card_path}' lacks {', '.join(missing)}; {retrain}.")
    if card["format"] not in READABLE_FORMATS:
        raise SegkitArtifactError(
            f"'{card_path}' has format {card['format']}, this segkit reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}; {retrain}."
        )
    shapes = {"features": list, "transforms": list if card["format"] == 1 else dict, "segments": dict, "files": dict}
    wrong = [f"{k} should be a {t.__name__}" for k, t in shapes.items() if not isinstance(card[k], t)]
    if not isinstance(card["k"], int) or isinstance(card["k"], bool):
        wrong.append("k should be a whole number")
    if isinstance(card.get("features"), list) and not all(isinstance(f, str) for f in card["features"]):
        wrong.append("features should be names")
    if wrong:
        raise SegkitArtifactError(f"'{card_path}' is not a valid model card ({'; '.join(wrong)}); {retrain}.")
    if "card_sha256" in card and card["card_sha256"] != _card_digest(card):
        raise SegkitArtifactError(
            f"'{card_path}' was edited after training (its card_sha256 does not match its contents), so it is "
            f"not trusted; {retrain}."
        )
    key = os.environ.get(MODEL_KEY_ENV)
    if key and not hmac.compare_digest(str(card.get("card_hmac", "")), _card_hmac(card, key)):
        raise SegkitArtifactError(
            f"'{card_path}' has no valid signature for the key in {MODEL_KEY_ENV}, so it was not written by "
            f"someone holding that key; {retrain} with the key set."
        )
    return card


def _checked_piece(directory: Path, card: dict, name: str) -> Path:
    expected = card["files"].get(name)
    if expected is None:
        raise SegkitArtifactError(f"'{directory / MODEL_CARD}' lists no sha256 for {name}; retrain with `segkit train`.")
    path = directory / name
    # Only plain names inside the folder: model.json cannot point elsewhere.
    if Path(name).name != name or path.resolve().parent != directory.resolve():
        raise SegkitArtifactError(f"'{directory / MODEL_CARD}' names a file outside its folder ({name}); refusing to load it.")
    if not path.is_file():
        raise SegkitArtifactError(f"'{path}' is missing; retrain with `segkit train` to write a complete set.")
    actual = _sha256(path)
    if actual != expected:
        raise SegkitArtifactError(
            f"'{path}' does not match its sha256 in model.json (expected {expected[:12]}..., found {actual[:12]}...); "
            "it was changed or replaced after training, so it is not loaded. Retrain with `segkit train`."
        )
    return path


def load_artifacts(directory: str | Path = ARTIFACTS_DIR) -> SegmentationModel:
    """Load the current model version after checking every file's sha256 against ``model.json``.

    Loading a pickle runs code, so every file is checked before it is opened, the card
    against its own checksum (and ``SEGKIT_MODEL_KEY``'s signature when set), and a
    registered feature the model uses is imported from the module it was defined in.

    Parameters
    ----------
    directory : str or Path, default ``artifacts/``
        The artifacts folder; its ``CURRENT`` names the version loaded.

    Returns
    -------
    SegmentationModel
        A model that predicts and segments like the one that was saved; its ``card_``
        attribute holds ``model.json`` and ``version_`` the version's name.

    Raises
    ------
    SegkitArtifactError
        In one sentence, when a file is missing, changed or not signed.

    Examples
    --------
    >>> import tempfile
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> from segkit.pipeline.workflow import load_customer_data, train_model
    >>> data = load_customer_data(generate_sample_transactions(n_customers=300))
    >>> model, _ = train_model(data, k=3)
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_artifacts(model, folder)
    >>> reloaded = load_artifacts(folder)
    >>> bool((reloaded.predict(data.customers) == model.predict(data.customers)).all())
    True
    """
    return load_artifacts_from(current_version_dir(directory))


def pipeline_transforms(pipeline: Pipeline, features: list[str]) -> dict[str, str]:
    """Which transform the fitted pipeline applies to each feature: "log1p" or "identity"."""
    first = pipeline.steps[0]
    if first[0] == "log1p":
        return {f: "log1p" for f in features}
    if first[0] == "transforms":
        logged = {c for name, _, cols in first[1].transformers_ if name == "log1p" for c in cols}
        return {f: ("log1p" if f in logged else "identity") for f in features}
    return {f: "identity" for f in features}


#: Where classes lived before segkit was split into layers (0.1 wrote pickles naming
#: them): a model saved then still loads.
EARLIER_MODULE_PATHS = {
    "segkit.model": "segkit.modeling.model",
    "segkit.label": "segkit.modeling.label",
    "segkit.clv": "segkit.value.clv",
    "segkit.extra_features": "segkit.rules.registry",
    "segkit.workflow": "segkit.pipeline.workflow",
}


@contextmanager
def _module_paths_of_earlier_versions():
    """While unpickling, let the module names of ``EARLIER_MODULE_PATHS`` resolve to their new homes."""
    added = []
    for old, new in EARLIER_MODULE_PATHS.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
            added.append(old)
    try:
        yield
    finally:
        for old in added:
            sys.modules.pop(old, None)


def load_artifacts_from(directory: Path) -> SegmentationModel:
    """Load the model whose files are in ``directory`` (one version's folder)."""
    # start-up: joblib loads on first use, not on import (0.07 s, measured)
    import joblib
    from sklearn.pipeline import Pipeline

    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from segkit.modeling.model import STAGE_SEGMENTS, SegmentationModel, log_step

    directory = Path(directory)
    card = _read_card_file(directory / MODEL_CARD)
    pieces = PIECES if card["format"] >= 2 else PIECES_V1
    paths = {key: _checked_piece(directory, card, name) for key, name in pieces.items()}
    if REFITS_PIECE in card["files"]:
        paths["refits"] = _checked_piece(directory, card, REFITS_PIECE)
    try:
        with _module_paths_of_earlier_versions():
            loaded = {key: joblib.load(path) for key, path in paths.items()}
    except Exception as exc:
        raise SegkitArtifactError(f"The model files in '{directory}' could not be loaded ({exc}); retrain with `segkit train`.") from None
    features = list(card["features"])
    if card["format"] >= 2:
        pipeline = loaded["pipeline"]
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2 or "scaler" not in pipeline.named_steps:
            raise SegkitArtifactError(f"'{paths['pipeline']}' is not a segkit pipeline; retrain with `segkit train`.")
        declared = dict(card["transforms"])
    else:
        steps = []
        if "log1p" in card["transforms"]:
            # Stateless, but it learns the column names it passes on when fitted.
            steps.append(("log1p", log_step().fit(pd.DataFrame(np.zeros((1, len(features))), columns=features))))
        pipeline = Pipeline(steps + [("scaler", loaded["scaler"]), ("cluster", loaded["kmeans"])])
        declared = {f: ("log1p" if "log1p" in card["transforms"] else "identity") for f in features}
    scaler, clusterer = pipeline.named_steps["scaler"], pipeline.steps[-1][1]

    problems = []
    if getattr(scaler, "n_features_in_", len(features)) != len(features):
        problems.append(f"the scaler expects {scaler.n_features_in_} features, model.json lists {len(features)}")
    names_in = getattr(scaler, "feature_names_in_", None)
    if names_in is not None and list(names_in) != features:
        problems.append(f"the scaler was fitted on {', '.join(names_in)}, model.json lists {', '.join(features)}")
    k_in_clusterer = getattr(clusterer, "n_clusters", getattr(clusterer, "n_components", card["k"]))
    if k_in_clusterer != card["k"]:
        problems.append(f"the clusterer has {k_in_clusterer} clusters, model.json says K={card['k']}")
    lifecycle = card.get("lifecycle")
    expected_segments = card["k"] + (len(STAGE_SEGMENTS) if lifecycle else 0)
    if len(card["segments"]) != expected_segments:
        problems.append(f"model.json names {len(card['segments'])} segments for K={card['k']}"
                        + (" value tiers and 3 lifecycle stages" if lifecycle else ""))
    tier_of_cluster = card.get("tier_of_cluster", list(range(card["k"])))
    if sorted(tier_of_cluster) != list(range(card["k"])):
        problems.append("model.json's tier_of_cluster is not an order of the K clusters")
    if card["format"] >= 2:
        actual = pipeline_transforms(pipeline, features)
        if actual != declared:
            problems.append(f"model.json declares transforms {declared} but the pipeline applies {actual}")
    else:
        problems += _transform_problems(scaler, card, "log1p" in card["transforms"])
    rules = LifecycleRules(**lifecycle) if lifecycle else None
    if card.get("params") is not None:
        params = _params_from_card(card, pipeline, problems)
    else:  # saved before the parameters were recorded
        params = _params_from_pipeline(card, pipeline, declared)
    try:
        model = SegmentationModel(**params)
        if model.n_clusters != card["k"]:
            problems.append(f"model.json's params say n_clusters={model.n_clusters}, its k is {card['k']}")
        if model.lifecycle_rules_ != rules:
            problems.append("model.json's params and lifecycle disagree on the lifecycle rules")
        implied = {f: ("log1p" if model.log_transform else "identity") for f in features}
        implied.update({f: t for f, t in dict(model.transforms or {}).items() if f in implied})
        if implied != declared:
            problems.append(f"model.json's params imply transforms {implied}, it declares {declared}")
    except (TypeError, ValueError, SegkitError) as exc:
        problems.append(f"model.json's params do not make a SegmentationModel ({str(exc)[:100]})")
    if problems:
        raise SegkitArtifactError(f"The model in '{directory}' is inconsistent: {'; '.join(problems)}. Retrain with `segkit train`.")
    import_feature_functions(card, directory / MODEL_CARD)

    model.pipeline_ = pipeline
    model._set_input_names(features)
    model.tier_of_cluster_ = np.asarray(tier_of_cluster, dtype=int)
    if card.get("centres") is not None:
        model.cluster_centres_ = np.asarray(card["centres"], dtype=float)
    else:
        model.cluster_centres_ = np.asarray(clusterer.cluster_centers_, dtype=float)
    model.segment_names_ = {int(c): n for c, n in card["segments"].items()}
    model.metrics_ = card.get("metrics", {})
    profile = pd.DataFrame(card.get("profile", []))
    model.profile_ = profile.set_index("Cluster") if "Cluster" in profile else profile
    model.definitions_ = card_definitions(card, rules)
    if card.get("clv"):
        # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
        from segkit.value.clv import check_params

        try:
            model.clv_params_ = check_params(card["clv"], f"'{directory / MODEL_CARD}'")
            uncertainty = card.get("clv_uncertainty")
            if uncertainty:
                draws = [check_params(d, f"'{directory / MODEL_CARD}' (clv_uncertainty)")
                         for d in uncertainty.get("draws") or []]
                model.clv_uncertainty_ = dict(uncertainty, draws=draws)
        except SegkitError as exc:
            raise SegkitArtifactError(f"{exc} Retrain with `segkit train`.") from None
    if "refits" in loaded:
        refits = loaded["refits"]
        if not isinstance(refits, list) or not all(
                isinstance(r, dict) and isinstance(r.get("pipeline"), Pipeline) and len(r.get("names", ())) == card["k"]
                for r in refits):
            raise SegkitArtifactError(f"'{paths['refits']}' is not a list of segkit refits; retrain with `segkit train`.")
        model.refits_ = refits
    if card.get("evidence"):
        model.evidence_ = card["evidence"]
    if card.get("lifecycle_fit"):
        model.lifecycle_fit_ = card["lifecycle_fit"]
    if card.get("advice_rules"):
        model.advice_rules_ = card["advice_rules"]
    model.card_ = card
    model.version_ = directory.name
    names_problem = _names_problem(model, clusterer)
    if names_problem:
        raise SegkitArtifactError(f"The model in '{directory}' is inconsistent: {names_problem}. Retrain with `segkit train`.")
    return model


def _transform_problems(scaler, card: dict, log_declared: bool) -> list[str]:
    """The scaler learnt its mean from the transformed training data: the training
    customers' mean features (from the profile) must land near that mean once transformed
    as declared. Removing or adding log1p in model.json moves them far off."""
    mean = getattr(scaler, "mean_", None)
    scale = getattr(scaler, "scale_", None)
    profile = pd.DataFrame(card.get("profile") or [])
    if mean is None or scale is None or profile.empty or "Customers" not in profile:
        return []
    problems = []
    weights = profile["Customers"].astype(float)
    for i, feature in enumerate(card["features"]):
        column = f"Avg{feature}" if not feature.startswith("Avg") else feature
        if column not in profile or weights.sum() == 0:
            continue
        raw_mean = float(np.average(profile[column].astype(float), weights=weights))
        declared = np.log1p(max(raw_mean, 0.0)) if log_declared else raw_mean
        other = raw_mean if log_declared else np.log1p(max(raw_mean, 0.0))
        # Mean of logs <= log of mean (Jensen), so allow a wide margin: 6 standard deviations.
        if abs(declared - mean[i]) > 6 * scale[i] and abs(other - mean[i]) <= 6 * scale[i]:
            problems.append(f"the scaler's statistics for {feature} fit {'raw' if log_declared else 'log1p'} values, "
                            f"but model.json declares {'log1p' if log_declared else 'no log'}")
    return problems


def card_definitions(card: dict[str, Any], rules: LifecycleRules | None) -> pd.DataFrame:
    """What each segment means (index: name; Definition, InNumbers, Recommendation), from
    the card; a card written before definitions were stored gives names and recommendations only."""
    definitions = pd.DataFrame(card.get("definitions") or [])
    if "Segment" in definitions:
        return definitions.set_index("Segment")
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import segment_definitions

    names = [str(n) for n in card["segments"].values()]
    return segment_definitions(pd.DataFrame({"Segment": names}), rules, names)


def _names_problem(model: SegmentationModel, clusterer) -> str:
    """Tier names must be the ones the centres' profiles give (swapped names are caught).
    The centres come from the pickled clusterer where it has them, not from the card."""
    if model.lifecycle_rules_ is None:
        return ""
    # start-up: scipy.optimize loads on first use, not on import (0.6 s, measured)
    from segkit.modeling.label import tier_names
    from segkit.modeling.model import STAGE_SEGMENTS

    centres = np.asarray(getattr(clusterer, "cluster_centers_", model.cluster_centres_), dtype=float)
    if centres.shape != model.cluster_centres_.shape:
        return "the clusterer's centres do not match model.json's"
    order = np.argsort(model.tier_of_cluster_)
    expected = tier_names(centres[order], tuple(model.features)) + list(STAGE_SEGMENTS)
    actual = [model.segment_names_.get(code) for code in range(len(expected))]
    # a stage renamed before any backtest (fixed thresholds: "Lost" -> "Lapsed", backtest.name_unmeasured), then
    # by the backtest (segkit.pipeline.backtest.earned_names: "Lost" -> "Lapsed"; a measured "Lapsed" -> "Lost")
    unmeasured = ((getattr(model, "lifecycle_fit_", None) or {}).get("renamed") or {})
    renamed = ((getattr(model, "evidence_", None) or {}).get("renamed") or {})
    expected = [renamed.get(unmeasured.get(name, name), unmeasured.get(name, name))
                if i >= len(expected) - len(STAGE_SEGMENTS) else name for i, name in enumerate(expected)]
    if actual != expected:
        return f"the segment names ({', '.join(map(str, actual))}) do not match the centres' profiles ({', '.join(expected)})"
    return ""


# -- whole models: every constructor parameter ----------------------------------------
_TUPLE, _ESTIMATOR, _RULES = "__tuple__", "__estimator__", "__lifecycle_rules__"


class _NotJson(Exception):
    pass


def _class_path(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _encode(value, estimators: bool = False):
    """``value`` as JSON that ``_decode`` turns back into an equal value; ``_NotJson``
    when it cannot (arrays, callables, nested estimators)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.base import BaseEstimator

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, LifecycleRules):
        return {_RULES: value.as_dict()}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) and not {_TUPLE, _ESTIMATOR, _RULES} & set(value):
        return {k: _encode(v) for k, v in value.items()}
    if estimators and isinstance(value, BaseEstimator):
        params, from_pipeline = {}, []
        for name, v in value.get_params(deep=False).items():
            try:
                params[name] = _encode(v)
            except _NotJson:
                from_pipeline.append(name)
        return {_ESTIMATOR: _class_path(value), "params": params, "from_pipeline": from_pipeline}
    raise _NotJson(type(value).__name__)


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if _TUPLE in value:
            return tuple(_decode(v) for v in value[_TUPLE])
        if _RULES in value:
            return LifecycleRules(**value[_RULES])
        return {k: _decode(v) for k, v in value.items()}
    return value


def model_params(model: SegmentationModel) -> dict[str, Any]:
    """Every constructor parameter of ``model`` as JSON for ``model.json`` (``params``)."""
    out = {}
    for name, value in model.get_params(deep=False).items():
        if isinstance(value, (np.ndarray, pd.Index)):  # features given as an array: kept as a list
            value = value.tolist()
        try:
            out[name] = _encode(value, estimators=name in ("scaler", "clusterer"))
        except _NotJson:
            raise SegkitArtifactError(
                f"The model's parameter {name}={value!r:.60} cannot be written to {MODEL_CARD}; "
                "pass it as a number, a string, a tuple or LifecycleRules."
            ) from None
    return out


def _params_from_card(card: dict, pipeline: Pipeline, problems: list[str]) -> dict[str, Any]:
    """The constructor parameters recorded in the card; the scaler and clusterer are clones
    of the pipeline's steps with the recorded parameters set back (the clusterer's K and
    random_state are the model's in the pipeline, as given in the card)."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.base import clone

    recorded = card["params"]
    if not isinstance(recorded, dict):
        problems.append("model.json's params is not a mapping")
        return {}
    params = {}
    clusterer = pipeline.steps[-1][1]
    # A clusterer without predict runs inside NearestMemberAssignment; the parameter is the clusterer.
    steps = {"scaler": pipeline.named_steps["scaler"], "clusterer": getattr(clusterer, "clusterer_", clusterer)}
    for name, value in recorded.items():
        if name in steps and isinstance(value, dict) and _ESTIMATOR in value:
            step = steps[name]
            if value[_ESTIMATOR] != _class_path(step):
                problems.append(f"model.json's {name} is {value[_ESTIMATOR]} but the pipeline holds {_class_path(step)}")
                continue
            estimator = clone(step)
            own = estimator.get_params(deep=False)
            settable = {k: _decode(v) for k, v in dict(value.get("params") or {}).items() if k in own}
            params[name] = estimator.set_params(**settable)
        else:
            params[name] = _decode(value)
    return params


def _params_from_pipeline(card: dict, pipeline: Pipeline, declared: dict[str, str]) -> dict[str, Any]:
    """Constructor parameters of a model saved before ``params`` was recorded: the scaler
    and clusterer read off the pipeline, ``None`` where they are segkit's defaults."""
    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.base import clone
    from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans

    # start-up: scikit-learn loads on first use, not on import (1.8 s, measured)
    from sklearn.preprocessing import StandardScaler

    features = list(card["features"])
    lifecycle = card.get("lifecycle")
    logged = [f for f, t in declared.items() if t == "log1p"]
    scaler, clusterer = pipeline.named_steps["scaler"], pipeline.steps[-1][1]
    default_scaler = type(scaler) is StandardScaler and scaler.get_params() == StandardScaler().get_params()
    defaults = (BisectingKMeans,) if lifecycle else (KMeans, MiniBatchKMeans)
    default_clusterer = type(clusterer) in defaults and clusterer.get_params().get("random_state") == card.get("random_state")
    return {"features": tuple(features), "log_transform": len(logged) == len(features), "n_clusters": int(card["k"]),
            "random_state": card.get("random_state"),
            "n_init": int(getattr(clusterer, "n_init", 10)) if default_clusterer else 10,
            "lifecycle": LifecycleRules(**lifecycle) if lifecycle else None,
            "scaler": None if default_scaler else clone(scaler),
            "clusterer": None if default_clusterer else clone(clusterer),
            "transforms": None if len(logged) in (0, len(features)) else declared}


# -- features that travel ---------------------------------------------------------------
def _function_path(function) -> str:
    return f"{getattr(function, '__module__', None)}:{getattr(function, '__qualname__', None)}"


def _source_sha256(function) -> str | None:
    """sha256 of the function's own source (dedented); ``None`` when Python cannot show it."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(textwrap.dedent(source).encode()).hexdigest()


def _resolve(module, qualname: str):
    target = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            return None
    return target


def _importable(function) -> bool:
    """Whether another process can import ``function`` by its module and name."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return False
    loaded = sys.modules.get(module)
    if loaded is None:
        try:
            loaded = importlib.import_module(module)
        except Exception:
            return False
    return _resolve(loaded, qualname) is function


def feature_functions_card(features: list[str]) -> dict[str, dict[str, Any]]:
    """For each registered feature among ``features``: its function's ``module:function``,
    the sha256 of its source and its transform (``model.json``'s ``feature_functions``).
    Warns, in one sentence, of a function another process cannot import."""
    out = {}
    for name in features:
        function = REGISTERED_FEATURES.get(name)
        if function is None:
            continue
        path = _function_path(function)
        out[name] = {"function": path, "source_sha256": _source_sha256(function),
                     "transform": FEATURE_TRANSFORMS.get(name, "log1p")}
        if not _importable(function):
            where = "__main__ (a notebook or script)" if path.startswith("__main__:") else f"'{path}'"
            warnings.warn(
                f"The feature '{name}' is defined in {where}, which another process cannot import, so this model "
                f"will load only where '{name}' is registered with the same code; to score it elsewhere, move "
                f"{getattr(function, '__name__', name)}() into a module (a .py file), register it there and retrain.",
                UserWarning, stacklevel=4)
    return out


def import_feature_functions(card: dict[str, Any], card_path: Path) -> None:
    """Import and register every registered feature the card records (``feature_functions``),
    or refuse in one sentence (``SegkitFeatureError``)."""
    recorded = card.get("feature_functions") or {}
    if not isinstance(recorded, dict):
        raise SegkitArtifactError(f"'{card_path}' has a malformed feature_functions; retrain with `segkit train`.")
    for name, spec in recorded.items():
        spec = spec if isinstance(spec, dict) else {}
        path, digest = str(spec.get("function") or ""), spec.get("source_sha256")
        transform = spec.get("transform") if spec.get("transform") in ("log1p", "identity") else "log1p"
        module, _, qualname = path.partition(":")
        current = REGISTERED_FEATURES.get(name)
        if current is not None and _function_path(current) == path and (digest is None or _source_sha256(current) == digest):
            continue  # already registered with the same code (this process trained or loaded it)
        if current is not None and module.split(".")[0] == "segkit" and _function_path(current).startswith("segkit."):
            continue  # segkit's own features belong to the installed segkit, wherever it keeps them
        if not module or not qualname or module == "__main__" or "<" in qualname:
            raise SegkitFeatureError(
                f"The model's feature '{name}' is {qualname or '?'}() from {module or 'an unknown module'} (a notebook "
                f"or script), which cannot be imported here; register the same function as '{name}' before loading, "
                f"or move it into a module (a .py file), retrain, and load with `segkit score --feature-module PATH`."
            )
        file_hint = module.replace(".", "/") + ".py"
        try:
            loaded = importlib.import_module(module)
        except Exception as exc:
            reason = (str(exc).splitlines() or [""])[0][:120].replace(". ", "; ").rstrip(".")
            raise SegkitFeatureError(
                f"The model's feature '{name}' needs {qualname}() from module '{module}', which cannot be imported "
                f"({type(exc).__name__}: {reason}); put the folder holding {file_hint} on PYTHONPATH, or pass "
                f"`segkit score --feature-module path/to/{file_hint}`."
            ) from None
        function = _resolve(loaded, qualname)
        if not callable(function):
            raise SegkitFeatureError(
                f"The model's feature '{name}' needs {qualname}() from module '{module}', but that module has no such "
                f"function; restore the code the model was trained with, or retrain with `segkit train`."
            )
        if digest is not None and _source_sha256(function) != digest:
            raise SegkitFeatureError(
                f"The model's feature '{name}' was trained with another version of {qualname}() in module "
                f"'{module}' (its source no longer matches the sha256 in model.json); restore the code the model "
                f"was trained with, or retrain with `segkit train`."
            )
        REGISTERED_FEATURES[name] = function
        FEATURE_TRANSFORMS[name] = transform
