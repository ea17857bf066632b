"""A log of many files: the files of a folder or glob, read as one log (lines exported
twice counted once), and a CSV that grows, read on from where it ended."""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from segkit.config import (
    COMPRESSED_CSV_SUFFIXES,
    IGNORED_SUFFIXES,
    SUPPORTED_SUFFIXES,
    is_log_file,
    is_multi_file,
)
from segkit.errors import SegkitDataError
from segkit.ingest.load import (
    CONVERTED,
    FILLED_DOWN,
    LAYOUT_READ,
    LOG_CURRENCY,
    read_transactions,
    resolve_mapping,
    standardise_columns,
)
from segkit.ingest.options import ReadOptions
from segkit.ingest.orders import SETTLED_ORDERS
from segkit.ingest.read_cache import file_digest
from segkit.ingest.readers import MAX_CSV_CELLS, MAX_CSV_COLUMNS, MAX_CSV_LINES
from segkit.ingest.values import DAY_MONTH_DATE, decimal_marks
from segkit.schema import (
    CANONICAL_COLUMNS,
    ORDER_STATUS_ROLES,
)

__all__ = ["REPEATED_ACROSS_FILES", "drop_repeats_across_files", "line_hashes", "load_log", "log_files", "read_log_files", "plain_cells", "read_grown_csv", "repeated_across_files", "skipped_files", "source_labels", "with_source_files"]


def read_grown_csv(path: str | Path, old_size: int, old_plain: bool | None, options: ReadOptions | None = None,
                   new_size: int | None = None, old_lines: int = 0) -> tuple[pd.DataFrame, bool] | None:
    """The lines a CSV file gained after its first ``old_size`` bytes, read alone, with
    whether the whole file is now plain (``plain_cells``); ``None`` when they cannot be read
    alone with exactly the result of reading the whole file (then read it whole). ``new_size``:
    read up to that size (the size whose hash the caller knows), else to the end.
    ``old_lines``: lines read before, so a file grown past what segkit reads from a CSV is
    read whole (and refused there in one sentence).

    Read alone only when the earlier bytes ended a line outside quotes (their last line has
    an even number of ``"``; a last line longer than 64 kB, or the header alone, reads
    whole), the file is UTF-8 (no byte-order mark), its earlier lines are plain
    (``old_plain``; ``None``: not known yet, checked here by reading those lines' text) and
    the new ones plain alone (``plain_cells``): then no per-column decision (date order,
    decimal mark) can differ between the part and the whole. The caller checks that the
    earlier bytes are unchanged (their hash). A Quantity column that is whole
    numbers in one part and not in the other is float in both readings."""
    path = Path(path)
    options = options or ReadOptions()
    columns = options.columns
    with open(path, "rb") as fh:
        head = fh.read(65536)
        fh.seek(max(old_size - 65536, 0))
        before = fh.read(min(old_size, 65536))  # the earlier bytes' end: their last line
        tail = fh.read() if new_size is None else fh.read(max(new_size - old_size, 0))
    ends_line = before.endswith(b"\n")
    # The earlier bytes must end a record, not a line inside a quoted field: their last line
    # shows an even number of quote marks (a field's opening and closing ones, doubled ones inside).
    last_line = before[:-1].rsplit(b"\n", 1)
    closed = len(last_line) == 2 and last_line[1].count(b'"') % 2 == 0
    first = head.split(b"\n", 1)
    if (old_size <= 0 or not ends_line or not closed or not tail.strip() or len(first) < 2
            or head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")) or b"\x00" in head + tail):
        return None
    try:
        header, text = first[0].decode("utf-8"), tail.decode("utf-8")
    except UnicodeDecodeError:
        return None
    separator = max([",", ";", "\t", "|"], key=header.count)
    fields = header.count(separator) + 1
    if fields > MAX_CSV_COLUMNS:
        return None

    def read(body: str, **kw) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(header + "\n" + body), dtype=str, sep=separator, skipinitialspace=True,
                               index_col=False, **kw)

    try:
        raw = read(text)
        if old_lines + len(raw) > min(MAX_CSV_LINES, MAX_CSV_CELLS // fields):
            return None
        if old_plain is None:  # the earlier lines' text, once: read whole minus the new lines
            with open(path, "rb") as fh:
                earlier = fh.read(old_size).decode("utf-8").split("\n", 1)[1]
            old_plain = plain_cells(read(earlier), columns, path.name)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, ValueError):
        return None
    if not old_plain or not plain_cells(raw, columns, path.name, alone=True):
        return None
    try:
        return standardise_columns(raw, columns, source=path.name, dayfirst=options.dayfirst), True
    except SegkitDataError:
        return None


def log_files(source: str | Path) -> list[Path]:
    """The files that make up a log, sorted by name.

    ``source`` is a file (itself), a folder (every supported file in it, not in
    subfolders; dotfiles, ``~$`` lock files and ``*.tmp`` / ``*.part`` names skipped: see
    ``segkit.config.is_log_file``) or a glob (``exports/2011-*.csv``). A folder or glob
    with no supported file is refused in one sentence.
    """
    text = str(source)
    if not is_multi_file(text):
        return [Path(text).expanduser()]
    if any(c in text for c in "*?["):
        pattern = Path(text).expanduser()
        anchor = Path(pattern.anchor) if pattern.is_absolute() else Path(".")
        relative = pattern.relative_to(anchor) if pattern.is_absolute() else pattern
        files = sorted(p for p in anchor.glob(str(relative)) if p.is_file() and is_log_file(p))
        where = f"the pattern '{text}'"
    else:
        folder = Path(text).expanduser()
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_log_file(p))
        where = f"the folder '{folder}'"
    if not files:
        raise SegkitDataError(
            f"{where} holds no transaction file; put .xlsx, .csv or .parquet files there "
            f"({', '.join(SUPPORTED_SUFFIXES)})."
        )
    return files


def skipped_files(source: str | Path) -> list[tuple[str, str]]:
    """What a folder log (``log_files``) leaves out, as ``(name, why)`` by name: subfolders,
    hidden files, Excel lock files, unfinished downloads and files of other types. Empty for
    a file or a glob (a glob names what it reads)."""
    folder = Path(str(source)).expanduser()
    if not folder.is_dir():
        return []
    skipped = []
    for entry in sorted(folder.iterdir()):
        name, lower = entry.name, entry.name.lower()
        if entry.is_dir():
            why = "a subfolder (only the files directly in the folder are read)"
        elif is_log_file(entry):
            continue
        elif name.startswith("~$"):
            why = "an Excel lock file (the workbook is open in Excel)"
        elif name.startswith("."):
            why = "a hidden file"
        elif lower.endswith(IGNORED_SUFFIXES):
            why = "an unfinished copy or download"
        else:
            why = (f"not a transaction file type ({entry.suffix or 'no extension'}; read: "
                   f"{', '.join(SUPPORTED_SUFFIXES + COMPRESSED_CSV_SUFFIXES)})")
        skipped.append((name, why))
    return skipped


#: ``load_log(...).attrs`` key: (lines, revenue) of the copies dropped because another
#: file of the log holds the same line (overlapping exports).
REPEATED_ACROSS_FILES = "repeated_across_files"


def load_log(
    source: str | Path,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    use_cache: bool = True,
    dayfirst: bool | None = None,
    notes: list[str] | None = None,
    layout: str | None = None,
) -> pd.DataFrame:
    """Every file of a log (``log_files``) read as one, in the canonical layout plus
    ``SourceFile`` (the file's name, categorical), in file-name order.

    Each file goes through ``load_transactions`` (Excel and CSV files come from the
    parquet cache keyed by their content, so only new or changed files are parsed); any
    mix of types works as long as every file has the same layout. Files with identical
    bytes (the same export saved twice) are read once, with a sentence in ``notes``;
    lines repeated across different files are left to the cleaning rules (exact
    duplicates are dropped, see docs/data-science.md). A file that cannot be read is refused with
    its own one-sentence reason. ``columns``, ``layout`` and the rest as in ``load_transactions``.
    """
    return read_log_files(source, ReadOptions.given(columns, sheet, dayfirst, layout), use_cache, notes)


def read_log_files(source: str | Path, options: ReadOptions, use_cache: bool = True,
                   notes: list[str] | None = None) -> pd.DataFrame:
    """``load_log`` with its reading options as one ``ReadOptions``."""
    frames: list[pd.DataFrame] = []
    names: list[str] = []
    seen: dict[str, str] = {}
    paths = log_files(source)
    labels = source_labels(paths)
    for path in paths:
        digest = file_digest(path) if len(paths) > 1 else ""
        if digest and digest in seen:
            if notes is not None:
                notes.append(f"'{labels[path]}' has the same contents as '{seen[digest]}'; it was read once.")
            continue
        seen[digest] = labels[path]
        frames.append(read_transactions(path, options, use_cache))
        names.append(labels[path])
    filled = sum(int(frame.attrs.get(FILLED_DOWN, 0)) for frame in frames)
    combined = with_source_files(frames, names)
    log, repeated = drop_repeats_across_files(combined)
    if repeated and notes is not None:
        notes.append(f"{repeated:,} lines appear in more than one file (overlapping exports); each was counted once.")
    # What the cleaning report shows as its own row (segkit.pipeline.workflow).
    log.attrs[REPEATED_ACROSS_FILES] = (repeated, _revenue(combined) - _revenue(log) if repeated else 0.0)
    if filled:
        log.attrs[FILLED_DOWN] = filled
    settled: dict[str, list] = {}
    for frame in frames:
        for rule, (lines, revenue) in frame.attrs.get(SETTLED_ORDERS, {}).items():
            total = settled.setdefault(rule, [0, 0.0])
            total[0], total[1] = total[0] + int(lines), round(total[1] + float(revenue), 2)
    if settled:
        log.attrs[SETTLED_ORDERS] = settled
    currencies = {name: frame.attrs[LOG_CURRENCY] for name, frame in zip(names, frames) if LOG_CURRENCY in frame.attrs}
    if len(set(currencies.values())) > 1:
        shown = ", ".join(f"'{name}' in {code}" for name, code in list(currencies.items())[:4])
        raise SegkitDataError(
            f"The log '{source}' mixes currencies across its files ({shown}), which segkit would add up as one; "
            "pass --fx RATES.csv (lines 'currency,rate_to_<base>') to convert them, or read one currency at a time."
        )
    if currencies:
        log.attrs[LOG_CURRENCY] = next(iter(currencies.values()))
    converted: dict[str, int] = {}
    for frame in frames:
        for code, lines in frame.attrs.get(CONVERTED, {}).items():
            converted[code] = converted.get(code, 0) + int(lines)
    if converted:
        log.attrs[CONVERTED] = dict(sorted(converted.items()))
    layouts = sorted({frame.attrs[LAYOUT_READ] for frame in frames if LAYOUT_READ in frame.attrs})
    if layouts:
        log.attrs[LAYOUT_READ] = " and ".join(layouts)
    return log


def line_hashes(log: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per line of ``log`` over its canonical columns (equal lines, equal hashes)."""
    return pd.util.hash_pandas_object(log[CANONICAL_COLUMNS], index=False).to_numpy()


def _revenue(lines: pd.DataFrame) -> float:
    return float((lines["Quantity"] * lines["UnitPrice"]).sum())


def drop_repeats_across_files(log: pd.DataFrame, hashes: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """``log`` without the copies of lines that another file already holds, and how many
    were dropped (``hashes``: ``line_hashes(log)`` when already known).

    A line equal in every canonical column to a line of another file is the same sale
    exported twice (overlapping exports): only the copies in the first of those files (by
    name) are kept. Repeats inside one file are left to the cleaning's duplicate rule.
    Dropping them here matters: the cleaning nets cancellations before it drops duplicates,
    so a partly cancelled purchase present twice would otherwise be netted twice and kept
    twice.
    """
    repeated = repeated_across_files(log, hashes)
    if not repeated.any():
        return log, 0
    return log.loc[~repeated].reset_index(drop=True), int(repeated.sum())


def repeated_across_files(log: pd.DataFrame, hashes: np.ndarray | None = None) -> np.ndarray:
    """Which lines of ``log`` (by position) ``drop_repeats_across_files`` drops."""
    repeated = np.zeros(len(log), dtype=bool)
    if "SourceFile" not in log.columns or len(log) == 0 or len(log["SourceFile"].cat.categories) < 2:
        return repeated
    hashed = line_hashes(log) if hashes is None else hashes
    maybe = pd.Series(hashed).duplicated(keep=False).to_numpy()
    if not maybe.any():
        return repeated
    categories = log["SourceFile"].cat.categories
    rank_of_code = np.argsort(np.argsort(np.asarray(categories.astype(str))))
    candidates = log.loc[maybe, CANONICAL_COLUMNS].assign(
        _rank=rank_of_code[log.loc[maybe, "SourceFile"].cat.codes.to_numpy()])
    first = candidates.groupby(CANONICAL_COLUMNS, dropna=False, observed=True, sort=False)["_rank"].transform("min")
    repeated[np.flatnonzero(maybe)[(candidates["_rank"] != first).to_numpy()]] = True
    return repeated


def source_labels(paths: list[Path]) -> dict[Path, str]:
    """The ``SourceFile`` of each path: its name, or its full path when two files of a
    glob share a name."""
    names = [p.name for p in paths]
    unique = len(set(names)) == len(names)
    return {p: (p.name if unique else str(p)) for p in paths}


def with_source_files(frames: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """Canonical frames stacked, each line tagged with its file's name in ``SourceFile``."""
    if not frames:
        empty = pd.DataFrame(columns=CANONICAL_COLUMNS)
        empty["SourceFile"] = pd.Categorical([], categories=pd.Index([], dtype="string"))
        return empty
    sizes = [len(f) for f in frames]
    log = pd.concat([f[CANONICAL_COLUMNS] for f in frames], ignore_index=True) if len(frames) > 1 \
        else frames[0][CANONICAL_COLUMNS].reset_index(drop=True)
    codes = np.repeat(np.arange(len(names)), sizes)
    log["SourceFile"] = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype="string"))
    return log


def plain_cells(raw: pd.DataFrame, columns: Mapping[str, str] | None = None, source: str = "the data",
                alone: bool = False) -> bool:
    """True when ``raw`` (CSV cells as text) holds nothing whose reading is decided per
    column (or per order: a financial status or refund) in a way other lines could change: no day/month-numeric dates (their order is
    decided per column), number cells of digits and marks only, none showing a decimal comma.
    With ``alone`` (lines to be read apart from the rest of their file), each number column
    also decides by itself: it shows a decimal point, or no mark at all."""
    raw = raw.rename(columns=lambda c: str(c).strip())
    try:
        mapping = resolve_mapping(raw, dict(columns or {}), source)
    except SegkitDataError:
        return False
    if any(role in mapping for role in ORDER_STATUS_ROLES):
        return False  # an order's status and refund apply to all its lines, which may straddle the parts
    for role in ("quantity", "price", "amount"):
        if role in mapping:
            text = raw[mapping[role]].dropna().astype(str)
            text = text[text.str.strip() != ""]
            marked, comma, point = decimal_marks(text)
            if not text.str.match(_BARE_NUMBER).all() or comma.any():
                return False
            if alone and len(marked) and not point.any():
                return False
    if "date" in mapping:
        text = raw[mapping["date"]].dropna().astype(str).str.strip()
        if text.str.match(DAY_MONTH_DATE).any():
            return False
    return True


#: A number cell made of digits and marks only (no currency sign, no letters).
_BARE_NUMBER = re.compile(r"^\s*[-+]?\d[\d.,]*\s*$")


