"""Where segkit finds things.

The project root is, in this order: ``SEGKIT_HOME``; the folder holding the package when
segkit runs from its source tree (an editable install, or the repository itself: the
folder has segkit's ``pyproject.toml``), so notebooks, the CLI and Voilà find ``data/``,
``artifacts/`` and ``.cache/`` from any working folder; else, for a plain ``pip install``
(the package inside site-packages), the current working folder. Callers ask this module
for paths instead of writing literals.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

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
    "CURRENCY_ENV",
    "ANALYST_ENV",
    "Settings",
    "settings",
]

def _project_root() -> Path:
    home = os.environ.get("SEGKIT_HOME", "").strip()
    if home:
        return Path(home).expanduser().resolve()
    source = Path(__file__).resolve().parent.parent
    marker = source / "pyproject.toml"
    if marker.is_file() and 'name = "segkit"' in marker.read_text(errors="replace"):
        return source
    return Path.cwd()


PROJECT_ROOT = _project_root()
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


# ---------------------------------------------------------------- settings

#: Environment variables of the settings below (read by ``settings()``).
CURRENCY_ENV = "SEGKIT_CURRENCY"
ANALYST_ENV = "SEGKIT_ANALYST"
#: The UCI Online Retail shop sells in pounds sterling.
DEFAULT_CURRENCY = "£"


@dataclass(frozen=True)
class Settings:
    """What every entry point reads from the environment.

    ``currency``: symbol put before every money figure (``SEGKIT_CURRENCY``, default "£").
    ``analyst``: the dashboard lets this visitor retrain and save the model
    (``SEGKIT_ANALYST=1``; ``python -m segkit.serve --analyst`` sets it); off, the page
    is read-only: filter, compare, download, upload and score.
    """

    currency: str = DEFAULT_CURRENCY
    analyst: bool = False


def settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    currency = env.get(CURRENCY_ENV, "").strip() or DEFAULT_CURRENCY
    analyst = env.get(ANALYST_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return Settings(currency=currency, analyst=analyst)


def currency() -> str:
    """The currency symbol on money figures (``SEGKIT_CURRENCY``; default £, as the UCI shop sells in GBP)."""
    return settings().currency
