"""Save and reload a trained model: ``scaler.joblib``, ``kmeans.joblib``, ``model.json``.

``model.json`` records the features, transforms, K, segment names, metrics, a
fingerprint of the training data, library versions and the sha256 of each joblib file.

Saving is atomic: every file is first written to a temporary name in the target folder;
only when all are written are they moved into place with ``os.replace``, ``model.json``
last. A failure while writing leaves the previous set untouched.

Loading refuses a set whose files do not match the sha256 in ``model.json`` (joblib
runs code when it loads a file, so an altered file is never unpickled), and only opens
plain file names inside the folder it was given.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .config import ARTIFACTS_DIR
from .errors import SegkitArtifactError
from .features import NUMERIC_FEATURES
from .label import LifecycleRules
from .model import STAGE_SEGMENTS, SegmentationModel, log_step

__all__ = ["FORMAT_VERSION", "data_fingerprint", "save_artifacts", "load_artifacts", "read_model_card"]

FORMAT_VERSION = 1
MODEL_CARD = "model.json"
PIECES = {"scaler": "scaler.joblib", "kmeans": "kmeans.joblib"}


def data_fingerprint(customers: pd.DataFrame) -> str:
    """A short, stable hash of a customer table (ids and numeric features)."""
    cols = [c for c in NUMERIC_FEATURES if c in customers.columns]
    frame = customers[cols].astype("float64").round(6)
    frame.index = frame.index.astype(str)
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
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
    """Write the model's files into ``directory`` atomically; returns the model card path.

    ``training_data`` describes what the model was trained on (source, fingerprint,
    customers, lines, period, cleaning rules); it is stored in ``model.json``.
    """
    if not hasattr(model, "pipeline_"):
        raise SegkitArtifactError("The model is not trained yet; call fit() before saving it.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    steps = model.pipeline_.named_steps
    written: dict[str, Path] = {}
    try:
        for key, name in PIECES.items():
            written[name] = _temp_file(directory, name)
            joblib.dump(steps[key], written[name])
        card = {
            "format": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "features": list(model.features),
            "transforms": (["log1p"] if model.log_transform else []) + ["standard_scaler"],
            "k": int(model.n_clusters),
            "random_state": model.random_state,
            "algorithm": type(steps["kmeans"]).__name__,
            "segments": {str(c): n for c, n in model.segment_names_.items()},
            "lifecycle": model.lifecycle.as_dict() if model.lifecycle is not None else None,
            "tier_of_cluster": [int(t) for t in model.tier_of_cluster_],
            "definitions": _jsonable(model.definitions_.reset_index().to_dict(orient="records")),
            "profile": _jsonable(model.profile_.reset_index().to_dict(orient="records")),
            "metrics": _jsonable(model.metrics_),
            "training_data": _jsonable(training_data or {}),
            "versions": _versions(),
            "files": {name: _sha256(path) for name, path in written.items()},
        }
        card_tmp = _temp_file(directory, MODEL_CARD)
        written[MODEL_CARD] = card_tmp
        card_tmp.write_text(json.dumps(card, indent=2))
        for path in written.values():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    except BaseException:
        for path in written.values():
            path.unlink(missing_ok=True)
        raise
    # All files are complete: move them into place, the card last.
    for path in written.values():
        os.chmod(path, 0o644)
    for name, path in written.items():
        if name != MODEL_CARD:
            os.replace(path, directory / name)
    os.replace(written[MODEL_CARD], directory / MODEL_CARD)
    return directory / MODEL_CARD


def _temp_file(directory: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def read_model_card(directory: str | Path = ARTIFACTS_DIR) -> dict[str, Any]:
    """Read and check ``model.json`` (without loading any joblib file)."""
    directory = Path(directory)
    card_path = directory / MODEL_CARD
    if not card_path.is_file():
        raise SegkitArtifactError(
            f"No saved model in '{directory}' ({MODEL_CARD} is missing); train one with `segkit train`."
        )
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SegkitArtifactError(
            f"'{card_path}' is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}); retrain with `segkit train`."
        ) from None
    needed = ["format", "features", "transforms", "k", "segments", "files"]
    missing = [k for k in needed if k not in card]
    if missing:
        raise SegkitArtifactError(f"'{card_path}' lacks {', '.join(missing)}; retrain with `segkit train`.")
    if card["format"] != FORMAT_VERSION:
        raise SegkitArtifactError(
            f"'{card_path}' has format {card['format']}, this segkit reads format {FORMAT_VERSION}; retrain with `segkit train`."
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
    """Load a saved model after checking every file's sha256 against ``model.json``.

    The returned model predicts and segments like the one that was saved; its
    ``card_`` attribute holds ``model.json``.
    """
    directory = Path(directory)
    card = read_model_card(directory)
    paths = {key: _checked_piece(directory, card, name) for key, name in PIECES.items()}
    try:
        scaler = joblib.load(paths["scaler"])
        kmeans = joblib.load(paths["kmeans"])
    except Exception as exc:
        raise SegkitArtifactError(f"The model files in '{directory}' could not be loaded ({exc}); retrain with `segkit train`.") from None

    features = list(card["features"])
    problems = []
    if getattr(scaler, "n_features_in_", len(features)) != len(features):
        problems.append(f"the scaler expects {scaler.n_features_in_} features, model.json lists {len(features)}")
    names_in = getattr(scaler, "feature_names_in_", None)
    if names_in is not None and list(names_in) != features:
        problems.append(f"the scaler was fitted on {', '.join(names_in)}, model.json lists {', '.join(features)}")
    if getattr(kmeans, "n_clusters", None) != card["k"]:
        problems.append(f"kmeans has {getattr(kmeans, 'n_clusters', '?')} clusters, model.json says K={card['k']}")
    lifecycle = card.get("lifecycle")
    expected_segments = card["k"] + (len(STAGE_SEGMENTS) if lifecycle else 0)
    if len(card["segments"]) != expected_segments:
        problems.append(f"model.json names {len(card['segments'])} segments for K={card['k']}"
                        + (" value tiers and 3 lifecycle stages" if lifecycle else ""))
    tier_of_cluster = card.get("tier_of_cluster", list(range(card["k"])))
    if sorted(tier_of_cluster) != list(range(card["k"])):
        problems.append("model.json's tier_of_cluster is not an order of the K clusters")
    if problems:
        raise SegkitArtifactError(f"The model in '{directory}' is inconsistent: {'; '.join(problems)}. Retrain with `segkit train`.")

    log_transform = "log1p" in card["transforms"]
    rules = LifecycleRules(**lifecycle) if lifecycle else None
    model = SegmentationModel(features=tuple(features), log_transform=log_transform, n_clusters=int(card["k"]),
                              random_state=card.get("random_state"), lifecycle=rules)
    model.tier_of_cluster_ = np.asarray(tier_of_cluster, dtype=int)
    steps = []
    if log_transform:
        # Stateless, but it learns the column names it passes on when fitted.
        steps.append(("log1p", log_step().fit(pd.DataFrame(np.zeros((1, len(features))), columns=features))))
    steps += [("scaler", scaler), ("kmeans", kmeans)]
    model.pipeline_ = Pipeline(steps)
    model.segment_names_ = {int(c): n for c, n in card["segments"].items()}
    model.metrics_ = card.get("metrics", {})
    profile = pd.DataFrame(card.get("profile", []))
    model.profile_ = profile.set_index("Cluster") if "Cluster" in profile else profile
    definitions = pd.DataFrame(card.get("definitions") or [])
    if "Segment" in definitions:
        model.definitions_ = definitions.set_index("Segment")
    else:  # a card written before definitions were stored: names and recommendations only
        from .label import segment_definitions

        model.definitions_ = segment_definitions(pd.DataFrame({"Segment": list(model.segment_names_.values())}),
                                                 rules, list(model.segment_names_.values()))
    model.card_ = card
    return model
