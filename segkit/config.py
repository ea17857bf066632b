"""Where segkit finds things: every path is built from the package's own location.

Notebooks, the CLI and Voilà may run from any working folder; they ask this module
for paths instead of writing literals.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PROJECT_ROOT",
    "DATA_DIR",
    "ARTIFACTS_DIR",
    "CACHE_DIR",
    "SUPPORTED_SUFFIXES",
    "default_data_path",
    "cache_dir",
    "artifacts_dir",
    "currency",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
ARTIFACTS_DIR = PROJECT_ROOT / "artifacts"
CACHE_DIR = PROJECT_ROOT / ".cache"
SUPPORTED_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv", ".parquet")


def cache_dir() -> Path:
    """Folder for parquet copies of slow-to-read files (``SEGKIT_CACHE`` overrides)."""
    return Path(os.environ.get("SEGKIT_CACHE", CACHE_DIR))


def artifacts_dir() -> Path:
    """Folder of the saved model (``SEGKIT_ARTIFACTS`` overrides, e.g. for tests)."""
    return Path(os.environ.get("SEGKIT_ARTIFACTS", ARTIFACTS_DIR))


def default_data_path() -> Path | None:
    """The data set to use when none is named.

    ``SEGKIT_DATA`` wins; set but empty (``SEGKIT_DATA=``) forces the built-in sample,
    so ``make notebooks`` never reads private files in ``data/``; otherwise the first
    supported file in ``data/`` (by name). ``None`` means: use the built-in sample.
    """
    if "SEGKIT_DATA" in os.environ:
        named = os.environ["SEGKIT_DATA"].strip()
        return Path(named).expanduser() if named else None
    if DATA_DIR.is_dir():
        files = sorted(
            p for p in DATA_DIR.iterdir()
            if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
        )
        if files:
            return files[0]
    return None


def currency() -> str:
    """The currency symbol on money figures (``SEGKIT_CURRENCY``; default £, as the UCI shop sells in GBP)."""
    return os.environ.get("SEGKIT_CURRENCY", "£")
