"""Errors meant for people: one sentence naming the file, the problem and the fix."""
from __future__ import annotations

__all__ = ["SegkitError", "SegkitDataError", "SegkitArtifactError", "SegkitFeatureError"]


class SegkitError(Exception):
    """Base class; its message is shown to users as it is, without a traceback."""


class SegkitDataError(SegkitError, ValueError):
    """An input file cannot be used (unreadable, empty, missing or malformed columns)."""


class SegkitArtifactError(SegkitError):
    """Saved model files are missing, altered or do not fit the data."""


class SegkitFeatureError(SegkitArtifactError):
    """A saved model's registered feature cannot be imported here, or its code changed since training."""
