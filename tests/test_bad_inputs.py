"""The corpus in tests/bad_inputs through the library and the CLI.

Each refused file gives one sentence naming the file, the problem and the fix; nothing in
artifacts/ changes; acceptable-but-awkward files load and train.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from segkit.errors import SegkitError
from segkit.export import to_safe_csv
from segkit.model import SegmentationModel
from segkit.workflow import load_customer_data

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text())
ERRORS = [c for c in CASES if c["expect"] == "error"]
ACCEPTED = [c for c in CASES if c["expect"] == "accepted"]


def _options(case: dict) -> dict:
    options = {}
    if "--sheet Orders" in case["what"]:
        options["sheet"] = "Orders"
    return options


def _k(case: dict) -> int:
    return 4


def test_corpus_is_large_enough_and_files_exist():
    assert len(CASES) >= 20
    for case in CASES:
        assert (CORPUS / case["file"]).exists(), case["file"]


@pytest.mark.parametrize("case", ERRORS, ids=[c["file"] for c in ERRORS])
def test_library_refuses_with_one_clear_sentence(case):
    with pytest.raises(SegkitError) as info:
        data = load_customer_data(CORPUS / case["file"], **_options(case))
        SegmentationModel(n_clusters=_k(case)).fit(data.customers)
    message = str(info.value)
    assert case["message"] in message
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["file"] for c in ACCEPTED])
def test_awkward_but_valid_files_load_and_train(case):
    data = load_customer_data(CORPUS / case["file"])
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


def test_formula_injection_is_neutralised_in_csv_exports():
    data = load_customer_data(CORPUS / "formula_injection.csv")
    text = to_safe_csv(data.lines.head(50))
    assert "'=HYPERLINK" in text
    assert not any(cell.startswith(("=", "+", "@")) for line in text.splitlines() for cell in line.split(","))


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", ERRORS, ids=[c["file"] for c in ERRORS])
def test_cli_refuses_with_one_line_and_leaves_artifacts_untouched(case, tmp_path):
    from segkit.config import ARTIFACTS_DIR

    artifacts = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, artifacts)
    before = _digest(artifacts)
    command = [sys.executable, "-m", "segkit.cli", "train", "--data", str(CORPUS / case["file"]),
               "--artifacts", str(artifacts), "--k", str(_k(case))]
    if "sheet" in _options(case):
        command += ["--sheet", _options(case)["sheet"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert case["message"] in lines[0]
    assert _digest(artifacts) == before


# ------------------------------------------------------------------ the dashboard's upload

#: Error cases that are about training, not scoring: the upload scores them with the saved
#: model (one or three customers are fine to score; K only matters when fitting), and the
#: upload has no sheet choice, so it reads the first sheet of wrong_sheet.xlsx, which is fine.
SCORED_BY_THE_UPLOAD = {"one_customer.csv": 1, "three_customers_k4.csv": 3, "wrong_sheet.xlsx": None}
#: Types the upload refuses before reading them, with its own sentence.
REFUSED_BY_TYPE = {"notes.txt", "broken.parquet"}


@pytest.fixture(scope="module")
def upload_dashboard(sample_data, tmp_path_factory):
    """The dashboard on the sample with a saved model in a temporary artifacts folder."""
    from segkit.artifacts import save_artifacts
    from segkit.dashboard import Dashboard
    from segkit.workflow import train_model

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
    if case["file"] in SCORED_BY_THE_UPLOAD:
        assert "seg-error" not in score.upload_result.value and text.startswith("Scored"), text[:300]
        expected = SCORED_BY_THE_UPLOAD[case["file"]]
        assert expected is None or text.startswith(f"Scored {expected} of {expected} customers")
    else:
        assert 'class="seg-error"' in score.upload_result.value, text[:300]
        fragment = "is not a CSV or XLSX file" if case["file"] in REFUSED_BY_TYPE else case["message"]
        assert fragment in text and case["file"] in text, text
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
