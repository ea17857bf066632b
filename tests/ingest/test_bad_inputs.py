"""The corpus in tests/bad_inputs through the library, the CLI and the dashboard upload.

Each refused file gives one sentence naming the file, the problem and the fix; nothing in
artifacts/ changes; acceptable-but-awkward files load and train (or, for customer tables,
score). A case's "options" carry ``k``, ``dayfirst`` and ``command`` ("train", the
default, or "score"); the CLI runs in process (``cli.main``), with one subprocess smoke
test.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from segkit import cli
from segkit.errors import SegkitError
from segkit.modeling.model import SegmentationModel
from segkit.pipeline.workflow import (
    customers_for_scoring,
    load_customer_data,
    train_model,
)
from segkit.views.export import to_safe_csv

CORPUS = Path(__file__).resolve().parents[1] / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text())
ERRORS = [c for c in CASES if c["expect"] == "error"]
ACCEPTED = [c for c in CASES if c["expect"] == "accepted"]


def _options(case: dict) -> dict:
    options = {}
    if "--sheet Orders" in case.get("what", ""):
        options["sheet"] = "Orders"
    if "dayfirst" in case.get("options", {}):
        options["dayfirst"] = case["options"]["dayfirst"]
    return options


def _k(case: dict) -> int | str:
    return case.get("options", {}).get("k", 4)


def _command(case: dict) -> str:
    return case.get("options", {}).get("command", "train")


@pytest.fixture(scope="module")
def shipped_model():
    from segkit.config import ARTIFACTS_DIR
    from segkit.pipeline.artifacts import load_artifacts

    return load_artifacts(ARTIFACTS_DIR)


def _run_library(case: dict, model) -> pd.DataFrame:
    """What the CLI does with the case, through the library: the customers trained or scored."""
    path = CORPUS / case["file"]
    if _command(case) == "score":
        return model.segment(customers_for_scoring(path, model, **_options(case)))
    data = load_customer_data(path, **_options(case))
    if _k(case) == "auto":
        train_model(data, "auto", k_values=range(2, 6))
    else:
        SegmentationModel(n_clusters=_k(case)).fit(data.customers)
    return data.customers


def test_corpus_is_large_enough_and_files_exist():
    assert len(CASES) >= 60
    for case in CASES:
        assert (CORPUS / case["file"]).exists(), case["file"]
    families = {c.get("family") for c in CASES}
    assert {"dates", "numbers", "outlier dates", "blanks", "crashes", "size", "customer tables"} <= families


@pytest.mark.parametrize("case", ERRORS, ids=[c["file"] for c in ERRORS])
def test_library_refuses_with_one_clear_sentence(case, shipped_model):
    with pytest.raises(SegkitError) as info:
        _run_library(case, shipped_model)
    message = str(info.value)
    assert case["message"] in message
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["file"] for c in ACCEPTED])
def test_awkward_but_valid_files_load_and_train(case, shipped_model):
    if _command(case) == "score":
        scored = _run_library(case, shipped_model)
        assert len(scored) == 12 and scored["Segment"].notna().all()
        return
    data = load_customer_data(CORPUS / case["file"], **_options(case))
    assert len(data.customers) >= 8
    assert data.customers["TotalSpend"].gt(0).all()
    model = SegmentationModel(n_clusters=3).fit(data.customers)
    assert model.profile_["Customers"].sum() == len(data.customers)


def test_accepted_variants_read_the_same_numbers_as_plain_csv():
    plain = load_customer_data(CORPUS / "semicolons.csv").customers
    for name in ("utf16.csv", "dates_iso_with_zone.csv", "very_wide.csv"):
        other = load_customer_data(CORPUS / name).customers
        if name == "very_wide.csv":
            assert set(other.index) <= set(plain.index)
        else:
            pd.testing.assert_frame_equal(other, plain)
    latin = load_customer_data(CORPUS / "latin1.csv")
    assert (latin.lines["Description"] == "CAFÉ CRÈME £ MUG").all()


def test_dates_in_any_one_order_read_the_same_customers():
    plain = load_customer_data(CORPUS / "semicolons.csv").customers
    for name in ("dates_dayfirst.csv", "dates_monthfirst.csv", "dates_dotted_short_year.csv",
                 "dates_dayfirst_text.xlsx", "price_with_currency.csv"):
        pd.testing.assert_frame_equal(load_customer_data(CORPUS / name).customers, plain, obj=name)
    early = load_customer_data(CORPUS / "dates_ambiguous_dayfirst.csv", dayfirst=True)
    # Read day first, every date is one of the log's own (read month first, 03/01 would be 1 March).
    known = set(load_customer_data(CORPUS / "semicolons.csv").lines["InvoiceDate"])
    assert early.lines["InvoiceDate"].dt.day.le(12).all() and early.lines["InvoiceDate"].isin(known).all()


def test_decimal_commas_and_thousands_separators_read_the_same_numbers():
    reference = load_customer_data(CORPUS / "locale_reference.csv").customers
    assert reference["TotalQuantity"].max() > 1000
    for name in ("decimal_comma.csv", "thousands_comma.csv", "price_euro_comma.csv"):
        pd.testing.assert_frame_equal(load_customer_data(CORPUS / name).customers, reference, obj=name)


def test_outlier_dates_are_excluded_and_reported():
    data = load_customer_data(CORPUS / "dates_2099_and_1900.csv")
    assert data.report.set_index("rule").loc["outlier dates", "rows_removed"] == 2
    assert data.customers["Recency"].max() < 100 and data.customers["Tenure"].max() < 100
    assert data.lines["InvoiceDate"].dt.year.isin([2010, 2011]).all()


def test_blank_quantities_and_nan_prices_get_their_own_report_rows():
    report = load_customer_data(CORPUS / "blank_quantities_nan_prices.csv").report.set_index("rule")
    assert report.loc["missing quantity", "rows_removed"] == 80  # 40 blank, 40 '#N/A'
    assert report.loc["missing price", "rows_removed"] == 40
    assert report.loc["non-positive price", "rows_removed"] == 0


def test_rows_without_dates_are_reported_not_crashed_on():
    total = load_customer_data(CORPUS / "grand_total_row.csv")
    assert "Grand Total" not in total.customers.index
    assert total.report.set_index("rule").loc["missing date", "rows_removed"] == 1
    undated = load_customer_data(CORPUS / "blank_dates_one_customer.csv")
    first = str(pd.read_csv(CORPUS / "blank_dates_one_customer.csv")["CustomerID"].iloc[0])
    assert first not in undated.customers.index
    assert undated.report.set_index("rule").loc["missing date", "rows_removed"] > 0


def test_customer_tables_score_like_the_plain_one_and_export_safely(shipped_model, tmp_path):
    reference = _run_library({"file": "customers_reference.csv", "options": {"command": "score"}}, shipped_model)
    comma = _run_library({"file": "customers_decimal_comma.csv", "options": {"command": "score"}}, shipped_model)
    assert comma["TotalSpend"].tolist() == reference["TotalSpend"].tolist()
    assert comma["Segment"].tolist() == reference["Segment"].tolist()
    out = tmp_path / "scored.csv"
    assert cli.main(["score", "--data", str(CORPUS / "customers_formula_header.csv"), "--out", str(out)]) == 0
    text = out.read_text()
    header = text.splitlines()[0]
    assert "'=HYPERLINK" in header and ",=" not in header and not header.startswith("=")
    scored = pd.read_csv(out)
    margin = [c for c in scored.columns if "HYPERLINK" in c][0]
    assert pd.api.types.is_float_dtype(scored[margin]) and scored[margin].min() == -12.5  # numbers, not '-12.5


def test_formula_injection_is_neutralised_in_csv_exports():
    data = load_customer_data(CORPUS / "formula_injection.csv")
    text = to_safe_csv(data.lines.head(50))
    assert "'=HYPERLINK" in text
    assert not any(cell.startswith(("=", "+", "@")) for line in text.splitlines() for cell in line.split(","))


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli_args(case: dict, artifacts: Path, out: Path) -> list[str]:
    args = [_command(case), "--data", str(CORPUS / case["file"]), "--artifacts", str(artifacts)]
    args += ["--out", str(out)] if _command(case) == "score" else ["--k", str(_k(case))]
    if "sheet" in _options(case):
        args += ["--sheet", _options(case)["sheet"]]
    if "dayfirst" in _options(case):
        args += ["--dayfirst" if _options(case)["dayfirst"] else "--monthfirst"]
    return args


@pytest.mark.parametrize("case", ERRORS, ids=[c["file"] for c in ERRORS])
def test_cli_refuses_with_one_line_and_leaves_artifacts_untouched(case, tmp_path, capsys):
    import warnings

    from segkit.config import ARTIFACTS_DIR

    artifacts = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, artifacts)
    before = _digest(artifacts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(_cli_args(case, artifacts, tmp_path / "out.csv"))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert case["message"] in lines[0] and "unexpected error" not in lines[0]
    assert not [w for w in caught if "Convergence" in type(w.message).__name__], caught
    assert _digest(artifacts) == before
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("name", ["identical_customers.csv", "dates_ambiguous.csv"])
@pytest.mark.slow
def test_cli_subprocess_smoke_one_line_no_warnings(name, tmp_path):
    """A real process: exit code 2 and exactly one line on stderr (no ConvergenceWarning)."""
    from segkit.config import ARTIFACTS_DIR

    case = next(c for c in CASES if c["file"] == name)
    artifacts = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, artifacts)
    result = subprocess.run([sys.executable, "-m", "segkit.cli", *_cli_args(case, artifacts, tmp_path / "o.csv")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert case["message"] in result.stderr


# ------------------------------------------------------------------ the dashboard's upload

#: Error cases that are about training, not scoring: the upload scores them with the saved
#: model (one or three customers are fine to score; K only matters when fitting), and the
#: upload has no sheet choice, so it reads the first sheet of wrong_sheet.xlsx, which is fine.
SCORED_BY_THE_UPLOAD = {"one_customer.csv": 1, "three_customers_k4.csv": 3, "wrong_sheet.xlsx": None,
                        **{c["file"]: None for c in CASES if c.get("upload") == "scored"}}
#: Files with no purchase of their own whose customers the page's (sample) log knows.
KNOWN_CUSTOMERS_WITHOUT_A_PURCHASE = {"negative_and_zero.csv"}
#: Types the upload refuses before reading them, with its own sentence.
REFUSED_BY_TYPE = {"notes.txt", "broken.parquet"}


@pytest.fixture(scope="module")
def upload_dashboard(sample_data, tmp_path_factory):
    """The dashboard on the sample with a saved model in a temporary artifacts folder."""
    from segkit.dashboard import Dashboard
    from segkit.pipeline.artifacts import save_artifacts
    from segkit.pipeline.workflow import train_model

    artifacts = tmp_path_factory.mktemp("upload") / "artifacts"
    model, _ = train_model(sample_data, 4)
    save_artifacts(model, artifacts, sample_data.training_info())
    dash = Dashboard(sample_data, artifacts=artifacts, query="")
    assert dash.state.saved
    return dash, artifacts


def _page_text(markup: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


@pytest.mark.parametrize("case", ERRORS, ids=[c["file"] for c in ERRORS])
def test_dashboard_upload_gives_one_line_and_the_session_goes_on(case, upload_dashboard):
    dash, artifacts = upload_dashboard
    before = _digest(artifacts)
    content = (CORPUS / case["file"]).read_bytes()
    score = dash.score
    score.upload.receive(case["file"], content)
    text = _page_text(score.upload_result.value)
    if case["file"] in KNOWN_CUSTOMERS_WITHOUT_A_PURCHASE:
        # The page's log knows some of these customers: they are shown on their history, and
        # the page says the file itself held no purchase (uploads join the log).
        assert "seg-error" not in score.upload_result.value and text.startswith("Scored"), text[:300]
        assert f"No line of '{case['file']}' is a purchase on its own" in text, text[:600]
    elif case["file"] in SCORED_BY_THE_UPLOAD:
        assert "seg-error" not in score.upload_result.value and text.startswith("Scored"), text[:300]
        expected = SCORED_BY_THE_UPLOAD[case["file"]]
        assert expected is None or text.startswith(f"Scored {expected} of {expected} customers")
    else:
        assert 'class="seg-error"' in score.upload_result.value, text[:300]
        fragment = "is not a CSV or XLSX file" if case["file"] in REFUSED_BY_TYPE else case["message"]
        if "--dayfirst" in fragment:  # the page names its own control, never a command-line switch
            fragment = "in the Dates list next to the upload button"
        assert fragment in text and case["file"] in text, text
        assert not re.search(r"--[a-z]", text), text  # no command-line switch (--columns, --sheet, ...)
        assert "\n" not in text and "Traceback" not in text and len(text) < 400, text
    assert dash.state.message == ""
    # The session goes on: a filter still changes the summary, and back.
    segment_filter, summary_view = dash.filters.segment_filter, dash.segments.summary
    summary = summary_view.value
    segment_filter.value = segment_filter.options[:1]
    assert dash.state.message == "" and summary_view.value != summary
    segment_filter.value = segment_filter.options
    assert summary_view.value == summary
    assert _digest(artifacts) == before
    assert dash.state.saved and score.upload.content == b""


#: Accepted files and the plain export they were made from: the page scores both alike.
PLAIN = {**{name: "semicolons.csv" for name in (
    "utf16.csv", "dates_iso_with_zone.csv", "dates_dayfirst.csv", "dates_monthfirst.csv", "dates_dotted_short_year.csv",
    "dates_dayfirst_text.xlsx", "price_with_currency.csv")},
    **{name: "locale_reference.csv" for name in ("decimal_comma.csv", "thousands_comma.csv", "price_euro_comma.csv")},
    "customers_decimal_comma.csv": "customers_reference.csv"}


def _uploaded(dash, name: str, dayfirst: bool | None = None) -> pd.DataFrame:
    """The customers the page scores from the corpus file ``name`` (its Dates list set to
    ``dayfirst``), through the page's own upload handler."""
    score = dash.score
    score.date_order.value = dayfirst
    score.upload.receive(name, (CORPUS / name).read_bytes())
    text = _page_text(score.upload_result.value)
    assert "seg-error" not in score.upload_result.value and text.startswith("Scored"), text[:300]
    assert score.scored is not None
    return score.scored


def _customers_equal(page: pd.DataFrame, library: pd.DataFrame, obj: str) -> None:
    columns = [c for c in library.columns if c in page.columns]
    assert "Segment" in columns and "TotalSpend" in columns, columns
    pd.testing.assert_frame_equal(page[columns].sort_index(), library[columns].sort_index(), check_names=False,
                                  obj=obj)


@pytest.mark.slow  # 8-12 s a file: each joins the page's log, and the library does it again
@pytest.mark.parametrize("case", ACCEPTED, ids=[c["file"] for c in ACCEPTED])
def test_dashboard_upload_scores_every_accepted_file_as_the_library_does(case, upload_dashboard):
    """The page's upload handler on every accepted file: customer by customer, the same
    features and segments as the library (``segkit score --history`` against the page's log,
    or the file alone when the log knows none of its customers), and the same as the plain
    export the file was made from."""
    from segkit.pipeline.workflow import customers_with_history

    dash, _ = upload_dashboard
    dayfirst = _options(case).get("dayfirst")
    try:
        page = _uploaded(dash, case["file"], dayfirst)
    finally:
        dash.score.date_order.value = None
    model, path = dash.state.model, CORPUS / case["file"]
    if _command(case) == "score":
        library = model.segment(customers_for_scoring(path, model, use_cache=False, allow_short_window=True))
    else:
        joined = customers_with_history(path, dash.state.data.transactions, model, dayfirst=dayfirst, use_cache=False,
                                        allow_short_window=True)
        library = model.segment(joined if joined.attrs["known"] else customers_for_scoring(
            path, model, dayfirst=dayfirst, use_cache=False, allow_short_window=True))
    assert len(page) == len(library) > 0
    _customers_equal(page, library, case["file"])
    if case["file"] in PLAIN:
        _customers_equal(page, _uploaded(dash, PLAIN[case["file"]]), f"{case['file']} against {PLAIN[case['file']]}")


def test_exact_repeats_in_a_customer_table_are_scored_once_with_a_warning(shipped_model, tmp_path, capsys):
    """A customer listed twice with the same values is scored once, and the user is told."""
    table = pd.read_csv(CORPUS / "customers_reference.csv", dtype={"CustomerID": str})
    doubled = tmp_path / "customers_doubled.csv"
    pd.concat([table, table.head(3)]).to_csv(doubled, index=False)
    out = tmp_path / "scored.csv"
    assert cli.main(["score", "--data", str(doubled), "--out", str(out)]) == 0
    assert "'customers_doubled.csv' repeats 3 row(s) exactly" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == len(table)


# ------------------------------------------------------------------ a closed pipe


@pytest.mark.slow
def test_score_into_a_closed_pipe_finishes_and_exits_cleanly(tmp_path, sample_csv):
    """``segkit score ... | head``: the reader is gone before the first line is printed; the
    scores are still written, the exit code is 0 and stderr holds no error."""
    out = tmp_path / "scored.csv"
    process = subprocess.Popen([sys.executable, "-m", "segkit.cli", "score", "--data", str(sample_csv),
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # as `head` does once it has its lines
    err = process.stderr.read()
    assert process.wait(timeout=300) == 0, err
    assert "BrokenPipe" not in err and "unexpected error" not in err and "Exception ignored" not in err, err
    assert len(pd.read_csv(out)) > 100


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_train_into_a_closed_pipe_still_saves_the_model(tmp_path, sample_csv, monkeypatch):
    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise ValueError("no file")

    artifacts = tmp_path / "artifacts"
    monkeypatch.setattr(sys, "stdout", Gone())
    assert cli.main(["train", "--data", str(sample_csv), "--k", "4", "--artifacts", str(artifacts)]) == 0
    assert list(artifacts.rglob("model.json"))


def test_a_currency_column_with_two_currencies_is_refused_and_one_other_currency_needs_its_symbol(
        tmp_path, sample_log, monkeypatch):
    """Orders in EUR were added as pounds (+£220k on 415 customers on the real data):
    a Currency column with two currencies is refused; one currency must match the symbol
    SEGKIT_CURRENCY sets, when it is set, else the sentence says how to set it."""
    from segkit.errors import SegkitDataError
    from segkit.ingest.load import load_transactions

    log = sample_log.head(300).copy()
    log["Currency"] = "GBP"
    one = tmp_path / "gbp.csv"
    log.to_csv(one, index=False)
    monkeypatch.delenv("SEGKIT_CURRENCY", raising=False)
    assert len(load_transactions(one, use_cache=False)) == 300
    log.loc[log.index[::7], "Currency"] = "EUR"
    mixed = tmp_path / "mixed.csv"
    log.to_csv(mixed, index=False)
    with pytest.raises(SegkitDataError, match=r"'mixed.csv' holds amounts in 2 currencies \(EUR, GBP\) in column 'Currency'"):
        load_transactions(mixed, use_cache=False)
    log["Currency"] = "eur"
    euros = tmp_path / "eur.csv"
    log.to_csv(euros, index=False)
    # without SEGKIT_CURRENCY the log's own currency is shown (tests/ingest/test_currency.py)
    assert load_transactions(euros, use_cache=False).attrs["currency"] == "EUR"
    monkeypatch.setenv("SEGKIT_CURRENCY", "$")
    with pytest.raises(SegkitDataError, match="'eur.csv' is in EUR .* set SEGKIT_CURRENCY=€"):
        load_transactions(euros, use_cache=False)
    monkeypatch.setenv("SEGKIT_CURRENCY", "€")
    assert len(load_transactions(euros)) == 300
    monkeypatch.setenv("SEGKIT_CURRENCY", "£")  # the cached read is checked again
    with pytest.raises(SegkitDataError, match="'eur.csv' is in EUR"):
        load_transactions(euros)
