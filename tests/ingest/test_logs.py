"""segkit.ingest.logs: reading on from where a growing CSV ended, only when that is safe."""
from __future__ import annotations

import pandas as pd


def test_appended_lines_whose_reading_depends_on_the_rest_are_read_with_the_rest(tmp_path):
    """Day/month-numeric dates and numbers with marks are read per column (order, decimal
    mark): appended lines holding them are not read alone."""
    from segkit.ingest.logs import plain_cells, read_grown_csv

    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    first = header + "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    path = tmp_path / "sales.csv"
    for line, plain in (("536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850,United Kingdom\n", True),
                        ("536366,22633,HAND WARMER,6,01/12/2010 08:28,1.85,17850,United Kingdom\n", False),
                        ('536366,22633,HAND WARMER,6,2010-12-01 08:28:00,"1,850",17850,United Kingdom\n', False),
                        ("536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.850,17850,United Kingdom\n", False),
                        ("536366,22633,HAND WARMER,6,2010-12-01 08:28:00,£1.85,17850,United Kingdom\n", False),
                        ("536366,22633,HAND WARMER,6,2010-12-01 08:28:00,2,17850,United Kingdom\n", True)):
        path.write_text(first + line)
        read = read_grown_csv(path, len(first.encode()), None)
        assert (read is not None) == plain, line
        if plain:
            frame, whole_plain = read
            assert whole_plain and len(frame) == 1 and frame["UnitPrice"].iloc[0] in (1.85, 2.0)
    assert plain_cells(pd.read_csv(path, dtype=str)) is True
    path.write_text(first + "536366,22633,HAND WARMER,6,01/12/2010 08:28,1.85,17850,United Kingdom\n")
    assert plain_cells(pd.read_csv(path, dtype=str)) is False
    path.write_text(first[:-1] + "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850,United Kingdom\n")
    assert read_grown_csv(path, len(first.encode()) - 1, None) is None  # the earlier bytes did not end a line


def test_a_csv_grown_past_the_line_limit_is_read_whole(tmp_path, monkeypatch):
    import segkit.ingest.logs as load_module

    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    first = header + "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    path = tmp_path / "sales.csv"
    path.write_text(first + "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850,United Kingdom\n")
    assert load_module.read_grown_csv(path, len(first.encode()), True, old_lines=1) is not None
    monkeypatch.setattr(load_module, "MAX_CSV_LINES", 1)
    assert load_module.read_grown_csv(path, len(first.encode()), True, old_lines=1) is None


def test_a_csv_is_not_read_on_from_inside_a_quoted_field(tmp_path):
    """Earlier bytes that end inside a quoted field spanning lines are not an end to read on
    from: the file is read whole. (Their last line is checked, so earlier bytes ending just
    after such a field are read whole too: slower, never wrong.)"""
    from segkit.ingest.logs import read_grown_csv

    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    first = header + "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    straddling = '536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,17850,"United\nKingdom"\n'
    path = tmp_path / "sales.csv"
    path.write_text(first + straddling + "536367,22632,HAND WARMER,6,2010-12-01 08:29:00,1.85,17850,France\n")
    inside = len((first + straddling[: straddling.index("\n") + 1]).encode())
    assert read_grown_csv(path, inside, True) is None
    frame, _ = read_grown_csv(path, len(first.encode()), True)  # from the end of a whole line: read alone
    assert frame["InvoiceNo"].tolist() == ["536366", "536367"] and frame["Country"].iloc[0] == "United\nKingdom"
