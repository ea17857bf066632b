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
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .config import ARTIFACTS_DIR
from .errors import SegkitArtifactError, SegkitError
from .features import NUMERIC_FEATURES, data_fingerprint  # noqa: F401 (re-exported)
from .label import LifecycleRules
from .load import file_digest as _sha256

if TYPE_CHECKING:  # scikit-learn and joblib load only to save or load a pipeline (about 1 s)
    from sklearn.pipeline import Pipeline

    from .model import SegmentationModel

__all__ = ["FORMAT_VERSION", "data_fingerprint", "save_artifacts", "load_artifacts", "read_model_card",
           "current_version_dir", "list_versions", "rollback", "MODEL_KEY_ENV"]

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
MODEL_CARD = "model.json"
#: Format 2 saves the whole fitted pipeline (transforms, any scaler, any clusterer).
PIECES = {"pipeline": "pipeline.joblib"}
#: Format 1 (segkit 0.1) saved the scaler and the K-Means step apart.
PIECES_V1 = {"scaler": "scaler.joblib", "kmeans": "kmeans.joblib"}
CURRENT = "CURRENT"
VERSIONS = "versions"
MODEL_KEY_ENV = "SEGKIT_MODEL_KEY"
#: Deepest JSON nesting a model card may have (a real card has 4 levels).
MAX_CARD_DEPTH = 20
MAX_CARD_BYTES = 5_000_000



def _versions() -> dict[str, str]:
    import joblib
    import sklearn

    return {"python": ".".join(map(str, __import__("sys").version_info[:3])), "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__, "numpy": np.__version__, "joblib": joblib.__version__}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
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
    nothing; returns the new version's ``model.json`` path.

    ``training_data`` describes what the model was trained on (source, fingerprint,
    customers, lines, period, cleaning rules); it is stored in ``model.json``.
    """
    if not hasattr(model, "pipeline_"):
        raise SegkitArtifactError("The model is not trained yet; call fit() before saving it.")
    directory = Path(directory)
    created = datetime.now(timezone.utc)
    try:
        versions = directory / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=versions, prefix=".new-"))
    except OSError as exc:
        raise _folder_error(directory, exc) from None
    import joblib

    try:
        files = {}
        joblib.dump(model.pipeline_, staging / PIECES["pipeline"])
        files[PIECES["pipeline"]] = _sha256(staging / PIECES["pipeline"])
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
        "features": [str(f) for f in model.feature_names_in_],
        "transforms": pipeline_transforms(model.pipeline_, list(model.feature_names_in_)),
        "scaler": type(model.pipeline_.named_steps["scaler"]).__name__,
        "k": int(model.n_clusters),
        "random_state": model.random_state,
        "algorithm": type(model.pipeline_.steps[-1][1]).__name__,
        "centres": _jsonable(model.cluster_centres_.tolist()),
        "segments": {str(c): n for c, n in model.segment_names_.items()},
        "lifecycle": model.lifecycle_rules_.as_dict() if model.lifecycle_rules_ is not None else None,
        "tier_of_cluster": [int(t) for t in model.tier_of_cluster_],
        "definitions": _jsonable(model.definitions_.reset_index().to_dict(orient="records")),
        "clv": _jsonable(getattr(model, "clv_params_", None)),
        "profile": _jsonable(model.profile_.reset_index().to_dict(orient="records")),
        "metrics": _jsonable(model.metrics_),
        "training_data": _jsonable(training_data or {}),
        "versions": _versions(),
        "files": files,
    }
    if getattr(model, "evidence_", None):  # segkit.backtest: what customers like these did next
        card["evidence"] = _jsonable(model.evidence_)
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


def _point_current(directory: Path, version: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".CURRENT.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / CURRENT)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    The returned model predicts and segments like the one that was saved; its
    ``card_`` attribute holds ``model.json`` and ``version_`` the version's name.
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


def load_artifacts_from(directory: Path) -> SegmentationModel:
    """Load the model whose files are in ``directory`` (one version's folder)."""
    import joblib
    from sklearn.pipeline import Pipeline

    from .model import STAGE_SEGMENTS, SegmentationModel, log_step

    directory = Path(directory)
    card = _read_card_file(directory / MODEL_CARD)
    pieces = PIECES if card["format"] >= 2 else PIECES_V1
    paths = {key: _checked_piece(directory, card, name) for key, name in pieces.items()}
    try:
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
    if problems:
        raise SegkitArtifactError(f"The model in '{directory}' is inconsistent: {'; '.join(problems)}. Retrain with `segkit train`.")

    rules = LifecycleRules(**lifecycle) if lifecycle else None
    logged = [f for f, t in declared.items() if t == "log1p"]
    model = SegmentationModel(features=tuple(features), log_transform=len(logged) == len(features),
                              n_clusters=int(card["k"]), random_state=card.get("random_state"), lifecycle=rules,
                              transforms=None if len(logged) in (0, len(features)) else declared)
    model.pipeline_ = pipeline
    model.feature_names_in_ = np.asarray(features, dtype=object)
    model.n_features_in_ = len(features)
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
        from .clv import check_params

        try:
            model.clv_params_ = check_params(card["clv"], f"'{directory / MODEL_CARD}'")
        except SegkitError as exc:
            raise SegkitArtifactError(f"{exc} Retrain with `segkit train`.") from None
    if card.get("evidence"):
        model.evidence_ = card["evidence"]
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
    from .label import segment_definitions

    names = [str(n) for n in card["segments"].values()]
    return segment_definitions(pd.DataFrame({"Segment": names}), rules, names)


def _names_problem(model: SegmentationModel, clusterer) -> str:
    """Tier names must be the ones the centres' profiles give (swapped names are caught).
    The centres come from the pickled clusterer where it has them, not from the card."""
    if model.lifecycle_rules_ is None:
        return ""
    from .label import tier_names
    from .model import STAGE_SEGMENTS

    centres = np.asarray(getattr(clusterer, "cluster_centers_", model.cluster_centres_), dtype=float)
    if centres.shape != model.cluster_centres_.shape:
        return "the clusterer's centres do not match model.json's"
    order = np.argsort(model.tier_of_cluster_)
    expected = tier_names(centres[order], tuple(model.features)) + list(STAGE_SEGMENTS)
    actual = [model.segment_names_.get(code) for code in range(len(expected))]
    # a stage the backtest renamed (segkit.backtest.earned_names: "Lost" -> "Lapsed")
    renamed = ((getattr(model, "evidence_", None) or {}).get("renamed") or {})
    expected = [renamed.get(name, name) if i >= len(expected) - len(STAGE_SEGMENTS) else name
                for i, name in enumerate(expected)]
    if actual != expected:
        return f"the segment names ({', '.join(map(str, actual))}) do not match the centres' profiles ({', '.join(expected)})"
    return ""
