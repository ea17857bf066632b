"""The page's address mirrors its view: filters and theme in the URL query.

Keys: ``segment``, ``country``, ``spend_min``, ``spend_max``, ``from``, ``to``
(``YYYY-MM-DD``), ``category``, ``theme``, ``segmentation`` (``rfm`` for the RFM rule
segments; the model's by default); several segments or countries comma-separated or
repeated (``?segment=VIP,Loyal`` = ``?segment=VIP&segment=Loyal``;
``?country=France,Germany``). ``/?segment=VIP&country=France`` opens that view. A country
whose name holds a comma ("Korea, Republic of") is read as the longest run of
comma-separated parts that names a known country, so it needs no escaping.

The query reaches the kernel two ways: ``QUERY_STRING`` (Voilà sets it for a kernel
started for the request) and, for a pre-heated kernel that built its page before the
visitor came, the ``PageBridge`` widget, which sends ``location.search`` when the page is
shown and writes the view back with ``history.replaceState`` on every change. It also
fits the charts to the paper when the page is printed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import parse_qsl, urlencode

import anywidget
import traitlets

from segkit.views.tables import ALL, Filters

__all__ = ["QUERY_KEYS", "ViewQuery", "parse_query", "encode_query", "view_name", "PageBridge"]

QUERY_KEYS = ("segment", "country", "spend_min", "spend_max", "from", "to", "category", "theme", "segmentation")
SEGMENTATIONS = ("model", "rfm")


@dataclass(frozen=True)
class ViewQuery:
    """A parsed query: the filters, the theme and the segmentation (or ``None``) and what
    was ignored, in words."""

    filters: Filters
    theme: str | None
    ignored: tuple[str, ...]
    segmentation: str | None = None


def _values(pairs: list[tuple[str, str]], key: str) -> list[str]:
    out = []
    for k, v in pairs:
        if k == key:
            out.extend(part.strip() for part in v.split(",") if part.strip())
    return out


def _names(pairs: list[tuple[str, str]], key: str, known: list[str]) -> tuple[list[str], list[str]]:
    """The names of ``known`` that the values of ``key`` list, comma-separated, and the
    parts that name none. Each run of parts is read as the longest that names a known
    one, so a name holding a comma needs no escaping; ``ALL`` ("All") is no filter."""
    known_set = set(known) | {ALL}
    found: list[str] = []
    unknown: list[str] = []
    for k, value in pairs:
        if k != key:
            continue
        parts = value.split(",")
        i = 0
        while i < len(parts):
            for j in range(len(parts), i, -1):
                name = ",".join(parts[i:j]).strip()
                if name in known_set:
                    if name != ALL and name not in found:
                        found.append(name)
                    i = j
                    break
            else:
                if parts[i].strip():
                    unknown.append(parts[i].strip())
                i += 1
    return found, unknown


def _amount(text: str) -> float:
    return float(text.replace(",", "").replace("£", "").strip())


def parse_query(query: str, segments: list[str], countries: list[str], categories: list[str],
                base: Filters | None = None) -> ViewQuery:
    """``query`` (``a=1&b=2``, with or without ``?``) as filters over ``base`` (default:
    everything). Unknown names and unreadable values are ignored and listed."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    filters = base or Filters()
    ignored = []
    changes: dict = {}
    wanted = _values(pairs, "segment")
    if wanted:
        known = [s for s in wanted if s in segments]
        ignored += [f"segment {s!r}" for s in wanted if s not in segments]
        changes["segments"] = tuple(s for s in segments if s in known) if known else None
    found, unknown = _names(pairs, "country", countries)
    ignored += [f"country {name!r}" for name in unknown]
    if found:
        changes["country"] = tuple(found)
    values = _values(pairs, "category")
    if values:
        if values[0] in categories:
            changes["category"] = values[0]
        else:
            ignored.append(f"category {values[0]!r}")
    for key in ("spend_min", "spend_max"):
        values = _values(pairs, key)
        if values:
            try:
                changes[key] = _amount(values[0])
            except ValueError:
                ignored.append(f"{key} {values[0]!r}")
    for key, field in (("from", "start"), ("to", "end")):
        values = _values(pairs, key)
        if values:
            try:
                changes[field] = date.fromisoformat(values[0])
            except ValueError:
                ignored.append(f"{key} {values[0]!r} (dates are YYYY-MM-DD)")
    theme = None
    values = _values(pairs, "theme")
    if values:
        if values[0] in ("light", "dark"):
            theme = values[0]
        else:
            ignored.append(f"theme {values[0]!r}")
    segmentation = None
    values = _values(pairs, "segmentation")
    if values:
        if values[0] in SEGMENTATIONS:
            segmentation = values[0]
        else:
            ignored.append(f"segmentation {values[0]!r}")

    return ViewQuery(replace(filters, **changes), theme, tuple(ignored), segmentation)


def _amount_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else str(value)


def encode_query(filters: Filters, theme: str, period: tuple[date, date] | None = None,
                 segmentation: str = "model") -> str:
    """The query for a view: only what differs from "everything" (dates equal to the data's
    first or last day are left out), ``theme`` only when dark, ``segmentation`` only for RFM."""
    params: list[tuple[str, str]] = []
    if segmentation != "model":
        params.append(("segmentation", segmentation))
    if filters.segments is not None:
        params.append(("segment", ",".join(filters.segments)))
    if filters.country:
        params.append(("country", ",".join(filters.country)))
    if filters.spend_min is not None:
        params.append(("spend_min", _amount_text(filters.spend_min)))
    if filters.spend_max is not None:
        params.append(("spend_max", _amount_text(filters.spend_max)))
    first, last = period if period else (None, None)
    if filters.start is not None and filters.start != first:
        params.append(("from", filters.start.isoformat()))
    if filters.end is not None and filters.end != last:
        params.append(("to", filters.end.isoformat()))
    if filters.category != ALL:
        params.append(("category", filters.category))
    if theme != "light":
        params.append(("theme", theme))
    return urlencode(params, safe=",")


def view_name(filters: Filters, period: tuple[date, date] | None = None) -> str:
    """A file name stem for the view: ``segments``, ``segments_VIP_France``, ``segments_France-Germany``,
    ``segments_Loyal_spend-500-2000_2011-09-01-to-2011-12-09_Christmas``."""
    parts = ["segments"]
    if filters.segments is not None:
        parts.append("-".join(s.replace(": ", "-") for s in filters.segments) if filters.segments else "none")
    if filters.country:
        parts.append("-".join(filters.country))
    if filters.spend_min is not None or filters.spend_max is not None:
        low = _amount_text(filters.spend_min) if filters.spend_min is not None else "0"
        high = _amount_text(filters.spend_max) if filters.spend_max is not None else "max"
        parts.append(f"spend-{low}-{high}")
    first, last = period if period else (None, None)
    start = filters.start if filters.start not in (None, first) else None
    end = filters.end if filters.end not in (None, last) else None
    if start or end:
        parts.append(f"{(start or first or '')}-to-{(end or last or '')}")
    if filters.category != ALL:
        parts.append(filters.category)
    name = "_".join(parts)
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    return safe[:150]


class PageBridge(anywidget.AnyWidget):
    """The page's link to the browser: sends ``location.search`` when shown (``opened``,
    ``initial``), writes ``query`` into the address bar, and fits charts to the paper
    when the page is printed (Chromium's ``zoom`` on charts wider than the page)."""

    _esm = """
const OURS = %s;
// Width a chart may take on A4 paper: the 703 CSS pixels inside the 12 mm side margins
// of the print CSS (printout.PRINT_CSS) less the panels' borders and padding.
const PAPER_WIDTH = 660;
function fitCharts(printing) {
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    if (!printing) { gd.style.zoom = ''; return; }
    const svg = gd.querySelector('.main-svg');
    const width = (gd._fullLayout && gd._fullLayout.width) || (svg ? svg.getBoundingClientRect().width : 0);
    if (width > PAPER_WIDTH) gd.style.zoom = String(PAPER_WIDTH / width);
  });
}
function render({ model, el }) {
  el.style.display = "none";
  const write = () => {
    const params = new URLSearchParams(window.location.search);
    for (const key of OURS) params.delete(key);
    for (const [key, value] of new URLSearchParams(model.get("query"))) params.append(key, value);
    const text = params.toString().replace(/%%2C/g, ",");
    window.history.replaceState(window.history.state, "", window.location.pathname + (text ? "?" + text : "") + window.location.hash);
  };
  model.on("change:query", write);
  const print = window.matchMedia("print");
  const onPrint = () => fitCharts(print.matches);
  print.addEventListener("change", onPrint);
  window.addEventListener("beforeprint", () => fitCharts(true));
  window.addEventListener("afterprint", () => fitCharts(false));
  model.set("initial", window.location.search.replace(/^\\?/, ""));
  model.set("opened", model.get("opened") + 1);
  model.save_changes();
  return () => { print.removeEventListener("change", onPrint); };
}
export default { render };
""" % (list(QUERY_KEYS),)
    query = traitlets.Unicode("").tag(sync=True)
    initial = traitlets.Unicode("").tag(sync=True)
    opened = traitlets.Int(0).tag(sync=True)
