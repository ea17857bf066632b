"""How to read a log: one object for the options every reader, engine and cache key shares.

The column mapping, the Excel sheet and the date order travel together from the command
line (or the page, or a notebook's keywords) down to the loader; ``ReadOptions`` carries
them as one value, and ``key()`` is the part of every cache key they decide (the loader's
parquet copies, the clean lines, the live snapshots). Public functions keep taking the
plain keywords (``columns=``, ``sheet=``, ``dayfirst=``, ``layout=``) and build one here.
Whether to use the caches (``use_cache``) is not a reading option: it never changes what
is read.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segkit.errors import SegkitDataError
from segkit.schema import LAYOUT_KEY, LAYOUT_PRESETS

__all__ = ["ReadOptions", "with_layout"]


def with_layout(columns: Mapping[str, str] | None, layout: str | None) -> dict[str, str]:
    """A column mapping that also names a layout preset (``--layout NAME``: a key of
    ``segkit.schema.LAYOUT_PRESETS``) under ``LAYOUT_KEY``, so it travels wherever a mapping
    goes (every reader, engine and cache key). An unknown name is refused in one sentence."""
    mapping = dict(columns or {})
    if layout is None or str(layout).strip().lower() in ("", "auto"):
        return mapping
    name = str(layout).strip().lower()
    if name not in LAYOUT_PRESETS:
        raise SegkitDataError(
            f"'{layout}' is not a layout segkit knows; use --layout {', '.join(LAYOUT_PRESETS)}, or leave --layout "
            "out to recognise the layout from the file's header."
        )
    mapping[LAYOUT_KEY] = name
    return mapping


@dataclass(frozen=True)
class ReadOptions:
    """How to read a transaction log (every field optional: the defaults read a UCI-style file).

    Build one with ``ReadOptions.given(columns=..., layout=...)`` to fold a layout preset
    into the mapping; pass it down as one value; hand it to a public function with
    ``**options.as_kwargs()``.
    """

    #: Role -> column name (``segkit.schema.ROLES``), for logs in another layout, e.g.
    #: ``{"customer": "Client", "date": "Day"}``. It also carries the layout preset (under
    #: ``segkit.schema.LAYOUT_KEY``) and the exchange rates (under ``segkit.schema.FX_KEY``,
    #: ``segkit.ingest.currency.with_fx``), so they reach every reader and engine with it.
    #: ``None``: recognise the layout from the header. Treat it as read-only.
    columns: Mapping[str, str] | None = None
    #: The Excel sheet, by name or index; ``None``: every sheet with cells, read as one log
    #: when they share their columns.
    sheet: str | int | None = None
    #: Order of text dates like ``05/01/2011``: ``True`` day-first, ``False`` month-first,
    #: ``None`` decided per column from the values (``segkit.ingest.values.as_dates``).
    dayfirst: bool | None = None

    @classmethod
    def given(cls, columns: Mapping[str, str] | None = None, sheet: str | int | None = None,
              dayfirst: bool | None = None, layout: str | None = None) -> ReadOptions:
        """The options of a public function's keywords, the ``layout`` preset folded into
        ``columns`` (``with_layout``); an empty mapping becomes ``None``."""
        return cls(with_layout(columns, layout) or None, sheet, dayfirst)

    @property
    def mapping(self) -> dict[str, str]:
        """``columns`` as a new dict (empty when ``None``), for code that edits its copy."""
        return dict(self.columns or {})

    def as_kwargs(self) -> dict[str, Any]:
        """The keywords of the public readers (``load_transactions``, ``load_customer_data``, ...)."""
        return {"columns": self.columns, "sheet": self.sheet, "dayfirst": self.dayfirst}

    def key(self) -> list:
        """The part of a cache key these options decide (JSON-ready): two options with the
        same key read every file to the same lines."""
        return [sorted((self.columns or {}).items()), str(self.sheet), self.dayfirst]
