"""segkit.dashboard.urlsync: the page's view in its link."""
from __future__ import annotations

from datetime import date

from segkit.views.tables import Filters


def test_url_query_round_trip():
    from segkit.dashboard.urlsync import encode_query, parse_query, view_name

    segments, countries, categories = ["Lost", "VIP", "Loyal"], ["France", "Germany"], ["Christmas"]
    parsed = parse_query("?segment=VIP&segment=Loyal&country=France&spend_min=100&to=2011-09-30&category=Christmas"
                         "&theme=dark", segments, countries, categories)
    assert parsed.filters == Filters(segments=("VIP", "Loyal"), country="France", spend_min=100.0,
                                     end=date(2011, 9, 30), category="Christmas")
    assert parsed.theme == "dark" and parsed.ignored == ()
    assert parse_query("segment=VIP,Loyal", segments, countries, categories).filters.segments == ("VIP", "Loyal")
    query = encode_query(parsed.filters, "dark")
    assert parse_query(query, segments, countries, categories).filters == parsed.filters
    assert "segment=VIP,Loyal" in query and "theme=dark" in query
    bad = parse_query("segment=Gold&country=Mars&from=31/12/2011", segments, countries, categories)
    assert bad.filters == Filters() and len(bad.ignored) == 3
    assert view_name(Filters(segments=("VIP",), country="France")) == "segments_VIP_France"
    assert view_name(Filters()) == "segments"
