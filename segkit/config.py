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

from segkit.errors import SegkitError

__all__ = [
    "PROJECT_ROOT",
    "DATA_DIR",
    "ARTIFACTS_DIR",
    "CACHE_DIR",
    "SUPPORTED_SUFFIXES",
    "COMPRESSED_CSV_SUFFIXES",
    "default_data_path",
    "is_multi_file",
    "is_database_url",
    "DATABASE_SCHEMES",
    "is_log_file",
    "refresh_seconds",
    "settle_seconds",
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
#: Compressed CSV files read as CSV: gzip, Zstandard (with the ``zstandard`` package) and a
#: ``.zip`` holding one CSV file.
COMPRESSED_CSV_SUFFIXES = (".csv.gz", ".csv.zst", ".zip")


def cache_dir() -> Path:
    """Folder for parquet copies of slow-to-read files (``SEGKIT_CACHE`` overrides)."""
    return Path(os.environ.get("SEGKIT_CACHE", CACHE_DIR))


def artifacts_dir() -> Path:
    """Folder of the saved model (``SEGKIT_ARTIFACTS`` overrides, e.g. for tests)."""
    return Path(os.environ.get("SEGKIT_ARTIFACTS", ARTIFACTS_DIR))


#: URL schemes read as a table of a database (``segkit.pipeline.workflow.database_source``).
DATABASE_SCHEMES = ("postgres", "postgresql", "duckdb")


def is_database_url(source) -> bool:
    """True when ``source`` is a database URL such as
    ``postgresql://user@host:5432/shop?table=orders`` (a scheme of ``DATABASE_SCHEMES``)."""
    return isinstance(source, str) and source.split("://", 1)[0].lower() in DATABASE_SCHEMES and "://" in source


def default_data_path() -> Path | str | None:
    """The data set to use when none is named: a file, a folder, a glob or a database table.

    ``SEGKIT_DATA`` wins and may name a file, a folder (every supported file in it is one
    log), a glob such as ``exports/2011-*.csv`` or a table of a database, as a URL with the
    table in its query (``postgresql://user@host:5432/shop?table=orders``, returned as
    text); set but empty (``SEGKIT_DATA=``) forces
    the built-in sample, so ``make notebooks`` never reads private files in ``data/``.
    Otherwise ``data/``: its only supported file, or the folder itself when it holds
    several (read as one log, ``segkit.ingest.logs.load_log``). ``None`` means: use the built-in
    sample.
    """
    if "SEGKIT_DATA" in os.environ:
        named = os.environ["SEGKIT_DATA"].strip()
        if is_database_url(named):
            return named
        return Path(named).expanduser() if named else None
    if DATA_DIR.is_dir():
        files = sorted(p for p in DATA_DIR.iterdir() if p.is_file() and is_log_file(p))
        if len(files) == 1:
            return files[0]
        if files:
            return DATA_DIR
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
    (``SEGKIT_ANALYST=1``; ``python -m segkit.server.serve --analyst`` sets it); off, the page
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


#: Names never read as part of a folder log: files still being written by a copy or an
#: export (``*.tmp``, ``*.part``, ``*.partial``, ``*.crdownload``), dotfiles and Excel's
#: ``~$`` lock files.
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


def is_log_file(path: Path) -> bool:
    """True for a file a folder log reads: a supported type, not hidden, not a partial download."""
    name = path.name
    if name.startswith((".", "~$")) or name.lower().endswith(IGNORED_SUFFIXES):
        return False
    return path.suffix.lower() in SUPPORTED_SUFFIXES or name.lower().endswith(COMPRESSED_CSV_SUFFIXES)


def is_multi_file(source: str | Path) -> bool:
    """True when ``source`` names a folder or a glob (``*``, ``?``, ``[``): a log of many files
    (never a database URL, whose query starts with ``?``)."""
    if is_database_url(source):
        return False
    text = str(source)
    return any(c in text for c in "*?[") or Path(text).expanduser().is_dir()


def _seconds(name: str, default: float, minimum: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SegkitError(f"{name}={text!r} is not a number of seconds; set it to e.g. {default:g}.") from None
    return max(value, minimum)


def refresh_seconds() -> float:
    """How often an open page checks its data folder for new or changed files
    (``SEGKIT_REFRESH_SECONDS``, default 60, at least 1)."""
    return _seconds("SEGKIT_REFRESH_SECONDS", 60.0, 1.0)


def settle_seconds() -> float:
    """How long a file must stay untouched before a live refresh reads it
    (``SEGKIT_SETTLE_SECONDS``, default 10): a file whose modification time is younger,
    and whose size or time changed since the previous check, is still being written."""
    return _seconds("SEGKIT_SETTLE_SECONDS", 10.0, 0.0)


def currency() -> str:
    """The currency symbol on money figures (``SEGKIT_CURRENCY``; default £, as the UCI shop sells in GBP)."""
    return settings().currency
