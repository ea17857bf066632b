"""segkit.dashboard.score: scoring an upload on the page, without a browser."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from dashboard_checks import decode_csv_href, new_lines_for_known_customers

from segkit.errors import SegkitDataError


def test_score_panel_says_who_was_not_scored_and_which_model(state, sample_csv, sample_log, tmp_path):
    from segkit.dashboard.score import ScorePanel

    panel = ScorePanel(state)
    assert "(0)" not in panel.upload.label
    log = sample_log.head(3000).copy()
    # A customer the page's log does not know, with a return and nothing else (a known one
    # would be scored on their whole history).
    only_cancelled = 99999.0
    keep = log
    cancelled = log.head(1).assign(CustomerID=only_cancelled, InvoiceNo="C999999", Quantity=-1)
    upload = pd.concat([keep, cancelled])
    content = upload.drop(columns=["TotalPrice"], errors="ignore").to_csv(index=False).encode()
    panel.upload.receive("orders.csv", content)
    result = panel.upload_result.value
    assert "Scored" in result and "this page's model (not saved)" in result
    assert "got no segment" in result and str(only_cancelled).split(".")[0] in result
    assert 'download="scored_orders.csv"' in result
    state.model_version += 1  # a new model: the old result says so
    assert "has changed since" in panel.upload_result.value and "Scored" not in panel.upload_result.value
    panel.upload.receive("bad.csv", b"x,y\n1,2\n")
    assert "seg-error" in panel.upload_result.value and "bad.csv" in panel.upload_result.value


def test_dashboard_refuses_an_upload_above_the_limit(sample_state, monkeypatch):
    from segkit.dashboard.score import ScorePanel

    monkeypatch.setenv("SEGKIT_MAX_UPLOAD_MB", "0.001")  # 1,048 bytes
    panel = ScorePanel(sample_state)
    panel.upload.receive("big.csv", b"x" * 1100)
    message = panel.upload_result.value
    assert "seg-upload-too-large" in message and "big.csv" in message
    # What a viewer of the page can do, not a command or a server setting.
    assert "segkit" not in message and "SEGKIT_" not in message and "<code>" not in message
    assert "upload limit of 0.001 MB; split it into parts under 0.001 MB" in message  # not "under 0 MB"
    assert "upload them one by one" in message and "ask the person who runs this page" in message


def test_score_panel_shows_the_loaders_warnings(state, monkeypatch):
    import segkit.dashboard.score as score

    scored = state.everyone.head(5).copy()
    scored.attrs["notes"] = ["The log covers 20 days, shorter than the model's 365-day window."]
    monkeypatch.setattr(score, "score_upload", lambda content, name, model, dayfirst=None, history=None, columns=None: scored)
    panel = score.ScorePanel(state)
    panel.upload.receive("short.csv", b"anything")
    assert "shorter than the model" in panel.upload_result.value and "Scored 5 of 5" in panel.upload_result.value


def test_upload_messages_name_what_a_viewer_can_do_not_command_line_switches(state, sample_log, tmp_path):
    """Each refused upload says how to fix the file or which of the page's
    controls to use, never a switch of the command line (--columns, --sheet, ...)."""
    import html as _html

    import segkit.dashboard.score as score

    log = sample_log.head(300).drop(columns=["TotalPrice"], errors="ignore")
    workbook = tmp_path / "two_sheets.xlsx"
    with pd.ExcelWriter(workbook) as sheets:
        log.head(20).to_excel(sheets, sheet_name="Orders", index=False)
        pd.DataFrame({"Note": ["exported 2011"]}).to_excel(sheets, sheet_name="About", index=False)
    ambiguous = log[log["InvoiceDate"].dt.day <= 12]
    files = {
        "renamed.csv": (log.rename(columns={"CustomerID": "Client"}).to_csv(index=False).encode(), "Client"),
        "shop_export.csv": (b"Date,Amount,Shop\n2011-01-01,3,x\n", "Date, Amount, Shop"),
        "no_quantity.csv": (log.drop(columns=["Quantity"]).to_csv(index=False).encode(), "no Quantity column"),
        "two_sheets.xlsx": (workbook.read_bytes(), "'About': Note"),
        "ambiguous.csv": (ambiguous.assign(InvoiceDate=ambiguous["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M"))
                          .to_csv(index=False).encode(), "Dates list"),
    }
    panel = score.ScorePanel(state)
    for name, (content, what) in files.items():
        panel.upload.receive(name, content)
        message = _html.unescape(panel.upload_result.value)
        assert "seg-error" in message and name in message and what in message, message
        assert not re.search(r"--[a-z]", message) and "segkit " not in message, message
        # what to do: upload it again, or (columns not recognised) choose them in the page's Columns lists
        assert "upload the file again" in message or "press \u201cScore with these columns\u201d" in message, message
    # The command line keeps its own words: the same file refused by the loader names --columns.
    with pytest.raises(SegkitDataError, match="--columns"):
        score.score_upload(files["renamed.csv"][0], "renamed.csv", state.model)


@pytest.mark.slow
def test_upload_date_order_switch_reads_ambiguous_dates(state, sample_log):
    """An upload whose dates all read either way is refused with the page's own way out,
    and read day-first or month-first once the viewer says which."""
    import segkit.dashboard.score as score

    log = sample_log.head(400).copy()
    log = log[log["InvoiceDate"].dt.day <= 12]
    stamps = log["InvoiceDate"]
    panel = score.ScorePanel(state)
    day_first = log.assign(InvoiceDate=stamps.dt.strftime("%d/%m/%Y %H:%M")).to_csv(index=False).encode()
    panel.upload.receive("uk.csv", day_first)
    assert "Dates list" in panel.upload_result.value and "seg-error" in panel.upload_result.value
    panel.date_order.value = True
    panel.upload.receive("uk.csv", day_first)
    assert "seg-error" not in panel.upload_result.value and "Scored" in panel.upload_result.value
    month_first = log.assign(InvoiceDate=stamps.dt.strftime("%m/%d/%Y %H:%M")).to_csv(index=False).encode()
    scored_day = score.score_upload(day_first, "uk.csv", state.model, True)
    scored_month = score.score_upload(month_first, "us.csv", state.model, False)
    pd.testing.assert_frame_equal(scored_day[["Recency", "Segment"]], scored_month[["Recency", "Segment"]])


def test_an_upload_of_known_customers_joins_the_pages_log_and_lists_who_moved(state, sample_log, sample_data):
    """The page's best customers' December lines (already in its log)
    leave them where they were, never "New"; Lost customers who order again move by the
    rules of their whole history, and the page lists them (before -> after) with counts."""
    from segkit.dashboard.score import ScorePanel
    from segkit.pipeline.workflow import customers_for_scoring

    panel = ScorePanel(state)
    before = state.everyone["Segment"].astype(str)
    upload, best, lost = new_lines_for_known_customers(sample_log, state.everyone)
    panel.upload.receive("december.csv", upload.to_csv(index=False).encode())
    result = panel.upload_result.value
    assert "seg-upload-moves" in result and "seg-error" not in result
    scored = decode_csv_href(result.split('href="', 1)[1].split('"', 1)[0]).set_index("Customer")
    scored.index = scored.index.astype(str)
    assert set(scored.index) == best | lost
    # exactly what the whole log with the new lines gives
    whole = pd.concat([sample_log.drop(columns=["TotalPrice"], errors="ignore"), upload])
    expected = state.model.segment(customers_for_scoring(whole.drop_duplicates(), state.model))["Segment"]
    assert (scored["Segment"] == expected.reindex(scored.index)).all()
    assert (scored.loc[list(best), "Segment"] == before.reindex(list(best))).all()  # nothing new for them
    assert not (scored["Segment"] == "New").any()
    assert (scored["Segment before the upload"] == before.reindex(scored.index)).all()
    moved = scored[scored["Segment"] != scored["Segment before the upload"]]
    assert len(moved) >= 3 and set(moved.index) <= lost
    assert f"{len(moved):,} of the {len(scored):,} customers this page already knew moved segment" in result
    for (old, new), n in moved.groupby(["Segment before the upload", "Segment"]).size().items():
        assert f"{n:,} {old} \u2192 {new}" in result
        for customer in moved.index[(moved["Segment before the upload"] == old) & (moved["Segment"] == new)]:
            assert f"<tr><td>{customer}</td><td>{old}</td><td>{new}</td></tr>" in result


def test_an_upload_of_unknown_customers_is_scored_on_its_own_with_the_short_window_said(state, sample_log):
    from segkit.dashboard.score import ScorePanel

    panel = ScorePanel(state)
    december = sample_log[sample_log["InvoiceDate"] >= "2011-12-01"].drop(columns=["TotalPrice"], errors="ignore")
    strangers = december.assign(CustomerID=december["CustomerID"].astype("Int64").astype("string").radd("9"))
    panel.upload.receive("strangers.csv", strangers.to_csv(index=False).encode())
    result = panel.upload_result.value
    assert "None of the customers in strangers.csv are in this page's log" in result
    assert "covers 9 days of purchases" in result and "look less valuable than they are" in result
    assert "seg-upload-moves" not in result and "--allow-short-window" not in result
