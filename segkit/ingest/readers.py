"""Files to raw frames: CSV (encodings, separators, compressed), Excel (every sheet, cells
as shown) and parquet, with the size checks that refuse a file before pandas reads it, and
the header row found under a title."""
from __future__ import annotations

import gzip
import io
import re
import warnings
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas._libs.parsers import STR_NA_VALUES

from segkit.config import (
    COMPRESSED_CSV_SUFFIXES,
)
from segkit.errors import SegkitDataError
from segkit.ingest.values import cells_as_shown, reason_of, short_list
from segkit.schema import (
    KNOWN_LAYOUTS,
    LAYOUT_KEY,
    LAYOUT_PRESETS,
    layout_columns,
)

try:  # a dependency; an environment without it reads workbooks through python-calamine's rows
    import fastexcel
except ImportError:
    fastexcel = None

__all__ = ["column_names", "HEADER_SEARCH_ROWS", "values_in_header", "MAX_CSV_CELLS", "MAX_CSV_COLUMNS", "MAX_CSV_LINES", "MAX_DECOMPRESSED_BYTES", "MAX_XLSX_EXPANDED_BYTES", "file_kind", "find_header", "header_hint", "read_raw", "workbook_sheets_note"]


#: Bounds on the work one file may ask for (refused past them, before pandas reads it).
#: An .xlsx sheet holds at most 1,048,576 rows; the real UCI workbook (541,909 rows)
#: expands to 216 MB, so 500 MB leaves room for a full sheet of that width.
MAX_XLSX_EXPANDED_BYTES = 500_000_000


#: pandas renames repeated headers in quadratic time (50,000 fields: 24 s).
MAX_CSV_COLUMNS = 5_000


#: Larger logs belong in parquet, read out of core (``--engine duckdb``): 10M lines, and
#: 50M cells (lines x header fields; the UCI log is 4.3M; pandas holds ~60 bytes a text cell).
MAX_CSV_LINES = 10_000_000


MAX_CSV_CELLS = 50_000_000


def header_hint(raw: pd.DataFrame) -> str:
    """When the first row read as the header looks like a title (most of its cells empty), the
    row below it that looks like the header (every cell filled with text), as a clause."""
    unnamed = sum(str(c).startswith("Unnamed:") for c in raw.columns)
    if raw.shape[1] < 2 or unnamed < raw.shape[1] / 2:
        return ""
    top = raw.head(HEADER_SEARCH_ROWS)
    for i in range(len(top)):
        cells = top.iloc[i]
        if cells.notna().all() and all(isinstance(v, str) and not re.fullmatch(r"[-+\d.,\s]*", v) for v in cells):
            return (f" (the first row looks like a title; row {i + 2} looks like the header: "
                    f"{short_list([str(v).strip() for v in cells], 6)})")
    return " (the first row looks like a title, not a header row)"


#: A header name that is a value, not a column name: a number (``536365``, ``1.2``, ``-3``, pandas'
#: ``12.1`` for a repeated ``12``) or a date (``2010-12-01 09:36:00``, ``01/12/2010``).
_VALUE_NAME = re.compile(r"[-+]?[£€$]?\s*\d[\d,.\s]*|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?")


def values_in_header(columns) -> list[str]:
    """The names of ``columns`` that are values (numbers, dates), when the header holds at
    least two of them and they are a third of it or more: a file without a header row, whose
    first line of data was read as its column names (``[]`` otherwise)."""
    names = [str(c).strip() for c in columns]
    values = [n for n in names if _VALUE_NAME.fullmatch(n)]
    return values if len(values) >= 2 and 3 * len(values) >= len(names) else []


def file_kind(path: Path) -> str:
    """The type a file is read as: its suffix, ``.csv`` for a compressed CSV file."""
    if path.name.lower().endswith(COMPRESSED_CSV_SUFFIXES):
        return ".csv"
    return path.suffix.lower()


#: A compressed CSV file is refused when it expands past this (a zip bomb, or a file for
#: parquet and --engine duckdb); the real UCI log is 45 MB as CSV.
MAX_DECOMPRESSED_BYTES = 2_000_000_000


def _decompressed(path: Path) -> bytes | None:
    """The CSV bytes of a ``.csv.gz``, ``.csv.zst`` or ``.zip`` file; ``None`` for a plain file."""
    lower = path.name.lower()
    name = path.name
    limit = MAX_DECOMPRESSED_BYTES

    def bounded(stream) -> bytes:
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise SegkitDataError(
                f"'{name}' expands to more than {limit / 1e9:.0f} GB, more than segkit reads from a compressed "
                "CSV file; save it as parquet and use --engine duckdb, or split it."
            )
        return data

    if lower.endswith(".csv.gz"):
        try:
            with gzip.open(path, "rb") as fh:
                return bounded(fh)
        except (OSError, EOFError) as exc:
            raise SegkitDataError(f"'{name}' is not a readable gzip file ({reason_of(exc)}); compress it again "
                                  "or give the plain CSV file.") from None
    if lower.endswith(".csv.zst"):
        try:
            # optional: zstandard, for .csv.zst files
            import zstandard
        except ImportError:
            raise SegkitDataError(
                f"'{name}' is compressed with Zstandard, which this installation cannot read; install it "
                "(pip install zstandard) or decompress the file (unzstd) and give the plain CSV file."
            ) from None
        try:
            with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as fh:
                return bounded(fh)
        except zstandard.ZstdError as exc:
            raise SegkitDataError(f"'{name}' is not a readable Zstandard file ({reason_of(exc)}); compress it "
                                  "again or give the plain CSV file.") from None
    if lower.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                           and not Path(m.filename).name.startswith(".")]
                csvs = [m for m in members if m.filename.lower().endswith(".csv")]
                if len(members) != 1 or len(csvs) != 1:
                    listed = short_list([m.filename for m in members], 5) or "nothing"
                    raise SegkitDataError(
                        f"'{name}' holds {len(members)} file(s) ({listed}), and segkit reads a .zip holding exactly "
                        "one CSV file; unzip it and give the transaction file (or the folder) instead."
                    )
                if csvs[0].file_size > limit:
                    raise SegkitDataError(
                        f"'{name}' expands to {csvs[0].file_size / 1e9:.1f} GB, more than segkit reads from a "
                        "compressed CSV file; save it as parquet and use --engine duckdb, or split it."
                    )
                with archive.open(csvs[0]) as fh:
                    return bounded(fh)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            raise SegkitDataError(f"'{name}' is not a readable .zip file ({reason_of(exc)}); zip it again without "
                                  "a password, or give the plain CSV file.") from None
    return None


def read_raw(path: Path, sheet: str | int | None, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    suffix = file_kind(path)
    name = path.name
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except MemoryError:  # also pyarrow's ArrowMemoryError
            raise SegkitDataError(
                f"'{name}' is too large to load into memory; use the out-of-core path "
                "(--engine duckdb, or segkit.features.out_of_core.customer_features_out_of_core)."
            ) from None
        except Exception as exc:
            raise SegkitDataError(
                f"'{name}' is not a readable parquet file ({reason_of(exc)}); write it again or export it as CSV."
            ) from None
    if suffix == ".csv":
        return _read_csv(path)
    return _read_excel(path, sheet, mapping)


def column_names(path: Path, sheet: str | int | None = None) -> list[str] | None:
    """The column names ``read_raw`` would give, read from the file's schema alone (parquet
    metadata, a CSV's header line), without its rows; ``None`` for workbooks and compressed
    CSV files (read them whole). Unreadable files are refused as ``read_raw`` refuses them."""
    suffix = file_kind(path)
    if suffix == ".parquet":
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise SegkitDataError(
                f"'{path.name}' is not a readable parquet file ({reason_of(exc)}); write it again or export it as CSV."
            ) from None
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
        return [name for name in schema.names if name not in index]
    if suffix == ".csv" and path.suffix.lower() == ".csv":
        return [str(c) for c in _read_csv(path, header_only=True).columns]
    return None


def _read_csv(path: Path, header_only: bool = False) -> pd.DataFrame:
    name = path.name
    data = _decompressed(path)
    if data is not None:
        if not data.strip():
            raise SegkitDataError(f"'{name}' holds an empty CSV file; export the transactions again.")
        head = data[:65536]
    else:
        with open(path, "rb") as fh:
            head = fh.read(65536)

    def source():
        return path if data is None else io.BytesIO(data)

    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)  # Excel's "Unicode text" export
    elif head.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    elif b"\x00" in head:
        raise SegkitDataError(f"'{name}' is not a text CSV file (it holds binary data); export it again as CSV.")
    else:
        # Windows-1252 (Excel's "CSV" on Windows) before ISO-8859-1: they differ only in bytes
        # 0x80-0x9f, which are € “ ” ‘ ’ – — … Œ in Windows-1252 and invisible control characters
        # in ISO-8859-1; the few bytes Windows-1252 leaves undefined fall back to ISO-8859-1,
        # which accepts any byte: the last resort.
        encodings = ("utf-8", "cp1252", "iso-8859-1")
    lines = head.decode(encodings[0], errors="replace").lstrip("\ufeff").splitlines()[:20] if head.strip() else []
    # A title above the header ('Online Retail - transactions export', a blank line): lines
    # without any separator before the first line with some are skipped.
    title = next((i for i, line in enumerate(lines[:10]) if any(c in re.sub(r'"[^"]*"', "", line) for c in ",;\t|")), 0)
    first_line = lines[title] if lines else ""
    # Excel in many European locales writes ';' between fields.
    separator = max([",", ";", "\t", "|"], key=first_line.count) if first_line else ","
    fields = _check_csv_width(path, encodings[0], separator, data, skip=title)
    max_lines = min(MAX_CSV_LINES, MAX_CSV_CELLS // fields)
    for encoding in encodings:
        try:
            with warnings.catch_warnings():
                # Rows longer than the header would silently shift into the index or be cut.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(source(), dtype=str, encoding=encoding, sep=separator, skipinitialspace=True,
                                    index_col=False, nrows=0 if header_only else max_lines + 1, skiprows=title)
            if len(frame) > max_lines:
                raise SegkitDataError(
                    f"'{name}' has more than {max_lines:,} lines of {fields:,} columns, more than segkit reads from "
                    "a CSV file; drop unused columns, save it as parquet and use --engine duckdb, or split it."
                )
            return frame
        except UnicodeDecodeError:
            continue
        except pd.errors.ParserWarning:
            raise SegkitDataError(
                f"'{name}' has rows with more fields than its header; check the separator and quoting, "
                "or add the missing column names."
            ) from None
        except pd.errors.EmptyDataError:
            raise SegkitDataError(f"'{name}' has no header row and no data; export the transactions again.") from None
        except pd.errors.ParserError as exc:
            raise SegkitDataError(
                f"'{name}' is not a well-formed CSV file ({reason_of(exc)}); check that every row has the same "
                "number of fields and quotes are closed."
            ) from None
    raise SegkitDataError(f"'{name}' is not UTF-8, UTF-16 or ISO-8859-1 text; save it as UTF-8 CSV.")


def _check_csv_width(path: Path, encoding: str, separator: str, data: bytes | None = None, skip: int = 0) -> int:
    """Refuse a header of more than ``MAX_CSV_COLUMNS`` fields before pandas reads it;
    returns the number of header fields (``data``: the bytes of a compressed file)."""
    limit = MAX_CSV_COLUMNS
    opened = open(path, encoding=encoding, errors="replace", newline="") if data is None else \
        io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
    with opened as fh:
        for _ in range(skip):
            fh.readline(64 * (limit + 1))
        header = fh.readline(64 * (limit + 1))
    if header.count(separator) >= limit:
        raise SegkitDataError(
            f"'{path.name}' has more than {limit:,} columns in its header; keep the transaction columns "
            "(customer, invoice, date, quantity, price, ...) and export it again."
        )
    return header.count(separator) + 1


def _check_workbook_size(path: Path) -> None:
    """Refuse a workbook whose parts expand past ``MAX_XLSX_EXPANDED_BYTES`` (a zip bomb
    or a sheet too large for memory), from the zip directory, before any parsing."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # the readers give their own sentence for a damaged file
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise SegkitDataError(
            f"'{path.name}' expands to {expanded / 1e9:.1f} GB when opened, more than the "
            f"{MAX_XLSX_EXPANDED_BYTES / 1e9:.1f} GB segkit reads from a workbook; export the transactions as CSV "
            "or parquet, or remove unused sheets and cells."
        )


def _read_excel(path: Path, sheet: str | int | None, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    name = path.name
    if not zipfile.is_zipfile(path) and path.suffix.lower() in (".xlsx", ".xlsm"):
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise SegkitDataError(
                f"'{name}' is an encrypted (password-protected) or legacy Excel file; "
                "open it in Excel, remove the password and save it as .xlsx."
            )
        raise SegkitDataError(f"'{name}' is not an Excel workbook although it is named .xlsx; save it again as .xlsx or .csv.")
    _check_workbook_size(path)
    errors: list[Exception] = []
    for engine in ("calamine", "openpyxl"):  # calamine is ~10x faster; openpyxl as fallback
        try:
            return _read_with(engine, path, sheet, mapping)
        except SegkitDataError:
            raise
        except Exception as exc:  # damaged workbook or engine missing: try the next, then give up
            errors.append(exc)
    raise SegkitDataError(
        f"'{name}' could not be read as an Excel workbook ({reason_of(errors[-1])}); "
        "it may be damaged: open and save it again in Excel, or export it as CSV."
    )


def _check_sheet(name: str, sheets: list[str], sheet_name: str | int) -> None:
    if isinstance(sheet_name, str) and sheet_name not in sheets:
        raise SegkitDataError(f"'{name}' has no sheet '{sheet_name}'; its sheets are: {', '.join(sheets)}. Pass one of those.")
    if isinstance(sheet_name, int) and not 0 <= sheet_name < len(sheets):
        raise SegkitDataError(f"'{name}' has no sheet number {sheet_name}; it has {len(sheets)} sheet(s): {', '.join(sheets)}.")


def _read_with(engine: str, path: Path, sheet: str | int | None, mapping: Mapping[str, str] | None = None
               ) -> pd.DataFrame:
    """One sheet (``sheet``), or with ``sheet=None`` every sheet (``_one_log_of_sheets``)."""
    if engine == "calamine":
        fast = _arrow_sheet(path, sheet)
        if fast is not None:
            return fast
    with pd.ExcelFile(path, engine=engine) as book:
        if sheet is not None or len(book.sheet_names) == 1:
            sheet_name = 0 if sheet is None else sheet
            _check_sheet(path.name, book.sheet_names, sheet_name)
            if engine == "calamine":
                plain = _plain_sheet(book.book, sheet_name)
                if plain is not None:
                    return cells_as_shown(plain)
            return cells_as_shown(pd.read_excel(book, sheet_name=sheet_name, dtype=object))
        sheets = pd.read_excel(book, sheet_name=None, dtype=object)
    return _one_log_of_sheets(path.name, sheets, mapping)


#: A header name that a number, a date or a truth value in the header row may have become
#: in fastexcel (``2011``, ``2010-12-01 08:26:00``, ``true``): such a header is read by pandas.
_NOT_A_TEXT_HEADER = re.compile(r"[-+\d.,:/\s]*|\d{4}-\d{2}-\d{2}.*|true|false", re.IGNORECASE)


def _fastexcel_failed(exc: BaseException) -> bool:
    """Whether fastexcel's ``exc`` is a failure to read (its errors, or a Rust panic: pyo3's
    ``PanicException``, a ``BaseException``), not an interrupt to pass on."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _arrow_sheet(path: Path, sheet: str | int | None) -> pd.DataFrame | None:
    """A sheet with a plain header row (distinct, non-blank texts) read by fastexcel (calamine
    in Rust) straight into Arrow columns, typed from all their cells: the lines
    ``load_transactions`` gives are those of ``pd.read_excel(..., dtype=object)`` (ids as the
    cells show them, ``0017850`` kept; blank and ``#N/A``-like text cells missing), without
    handing 4.3M cells of the UCI workbook to Python (about 2 s instead of 5). ``None`` when
    fastexcel is not installed, the workbook has several sheets and none is named, or the
    header row is not plain text: then ``_plain_sheet`` or pandas reads it."""
    if fastexcel is None:
        return None
    try:
        reader = fastexcel.read_excel(str(path))
    except BaseException as exc:  # damaged or not a workbook: the calamine/openpyxl path says why
        if not _fastexcel_failed(exc):
            raise
        return None
    names = list(reader.sheet_names)
    if sheet is None and len(names) != 1:
        return None
    sheet_name = 0 if sheet is None else sheet
    _check_sheet(path.name, names, sheet_name)
    try:
        loaded = reader.load_sheet(sheet_name, schema_sample_rows=None)
        header = [(info.name, info.column_name_from) for info in loaded.available_columns()]
        seen = {name for name, _ in header}
        for name, origin in header:
            repeated = re.fullmatch(r"(.+)_\d+", name)
            if (origin != "looked_up" or not name.strip() or _NOT_A_TEXT_HEADER.fullmatch(name.strip())
                    or (repeated and repeated.group(1) in seen)):
                return None
        if loaded.height == 0:
            return None
        table = loaded.to_arrow()
    except BaseException as exc:
        if not _fastexcel_failed(exc):
            raise
        return None
    frame = table.to_pandas(date_as_object=False)
    missing = list(STR_NA_VALUES)
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_string_dtype(column.dtype):
            frame[name] = column.mask(column.isin(missing))
        elif (pd.api.types.is_float_dtype(column.dtype) and column.notna().all() and (column % 1 == 0).all()
              and (column.abs() < 2 ** 53).all()):
            frame[name] = column.astype("int64")  # whole numbers show as ints, as pandas reads them
    return frame


def _plain_sheet(workbook, sheet_name: str | int) -> pd.DataFrame | None:
    """A sheet whose first row is a plain header (distinct, non-blank texts) read by calamine
    straight into columns, as ``pd.read_excel(..., dtype=object)`` reads it: whole-number
    cells as ints, blank and ``#N/A``-like cells missing. About 10x
    faster on the UCI workbook: pandas converts each of its 4.3M cells in a Python loop and
    then parses the rows again as text. ``None`` for any other sheet (pandas reads it)."""
    sheet = workbook.get_sheet_by_index(sheet_name) if isinstance(sheet_name, int) \
        else workbook.get_sheet_by_name(sheet_name)
    rows = sheet.to_python(skip_empty_area=False)
    if len(rows) < 2:
        return None
    header = rows[0]
    if not all(isinstance(h, str) and h.strip() for h in header) or len(set(header)) != len(header):
        return None
    width = len(header)
    if any(len(row) != width for row in rows):
        return None
    columns = {}
    missing = list(STR_NA_VALUES)
    del rows[0]
    cells = np.array(rows, dtype=object)
    del rows
    for i, name in enumerate(header):
        column = pd.Series(cells[:, i], dtype=object)
        column = column.mask(column.isin(missing))
        typed = column.infer_objects()
        if typed.dtype == object:  # mixed cells: a whole number shows as an int, as pandas makes it
            floats = column[column.map(type, na_action="ignore") == float].astype("float64")
            whole = floats[(floats % 1 == 0) & (floats.abs() < 2 ** 53)]
            if len(whole):
                typed = column.copy()
                typed[whole.index] = pd.Series(whole.astype("int64").tolist(), index=whole.index, dtype=object)
        elif (pd.api.types.is_float_dtype(typed.dtype) and typed.notna().all() and (typed % 1 == 0).all()
              and (typed.abs() < 2 ** 53).all()):
            typed = typed.astype("int64")
        columns[name] = typed
    return pd.DataFrame(columns)


def _one_log_of_sheets(name: str, sheets: dict[str, pd.DataFrame], mapping: Mapping[str, str] | None = None
                       ) -> pd.DataFrame:
    """The sheets of a workbook as one log when every sheet with cells has the same columns
    (UCI's Online Retail II: 'Year 2009-2010' and 'Year 2010-2011'), empty sheets left out; a
    workbook whose sheets differ (a summary before the data) is refused, naming them and
    ``--sheet``."""
    filled = {sheet: find_header(cells_as_shown(frame), mapping) for sheet, frame in sheets.items() if frame.shape[1] > 0}
    if len(filled) <= 1:
        return next(iter(filled.values())) if filled else cells_as_shown(next(iter(sheets.values())))
    layouts = {sheet: [str(c).strip() for c in frame.columns] for sheet, frame in filled.items()}
    first = next(iter(layouts.values()))
    if all(sorted(columns) == sorted(first) for columns in layouts.values()):
        frames = [frame.rename(columns=lambda c: str(c).strip())[first] for frame in filled.values()]
        return cells_as_shown(pd.concat([f.astype(object) for f in frames], ignore_index=True))
    described = "; ".join(f"'{sheet}': {short_list(columns, 4)}" for sheet, columns in layouts.items())
    raise SegkitDataError(
        f"'{name}' has sheets with different columns ({described}); pass --sheet NAME with the sheet of "
        "transactions, or give the sheets the same columns to read them as one log."
    )


def workbook_sheets_note(path: str | Path, sheet: str | int | None = None) -> str | None:
    """The sentence saying that a workbook's sheets were read as one log (``None`` for a file
    that is not a workbook, a ``sheet`` named, or a workbook of one sheet). Read from the
    workbook's list of sheets only (instant), after the log was read: empty sheets are
    named too."""
    path = Path(path)
    if sheet is not None or file_kind(path) not in (".xlsx", ".xlsm", ".xls") or not path.is_file():
        return None
    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            names = list(book.sheet_names)
    except Exception:
        return None
    if len(names) < 2:
        return None
    return (f"read the {len(names)} sheets of '{path.name}' ({', '.join(repr(n) for n in names)}) as one log, as they "
            "have the same columns; pass --sheet NAME to read one sheet.")


def _header_names(mapping: Mapping[str, str] | None) -> list[set[str]]:
    """For each layout a header may follow, the column names it must hold (customer and date)."""
    mapping = dict(mapping or {})
    preset = mapping.get(LAYOUT_KEY)
    layouts = LAYOUT_PRESETS.get(preset, ()) if preset else tuple(KNOWN_LAYOUTS)
    return [{mapping.get("customer", customer), mapping.get("date", date)}
            for layout in layouts for customer in layout_columns(layout, "customer")
            for date in layout_columns(layout, "date")]


#: How far below the first row a header under a title is looked for.
HEADER_SEARCH_ROWS = 20


def find_header(raw: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``raw`` with its header row found when a title (or a few lines of notes) sits above it:
    the first of the first ``HEADER_SEARCH_ROWS`` rows that holds the customer and date
    column names of the mapping or of a known layout becomes the header."""
    wanted = _header_names(mapping)
    names = {str(c).strip() for c in raw.columns}
    if any(w <= names for w in wanted):
        return raw
    top = raw.head(HEADER_SEARCH_ROWS)
    for i in range(len(top)):
        cells = {str(v).strip() for v in top.iloc[i] if not pd.isna(v)}
        if any(w <= cells for w in wanted):
            header = [str(v).strip() if not pd.isna(v) else f"Unnamed: {j}" for j, v in enumerate(top.iloc[i])]
            body = raw.iloc[i + 1:].reset_index(drop=True)
            body.columns = header
            return cells_as_shown(body.astype(object)) if any(raw.dtypes == object) else body
    return raw


