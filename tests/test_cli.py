"""The command line as users call it: words, outputs, and one-line errors."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from segkit.pipeline.artifacts import load_artifacts


def segkit(*args, env_extra=None):
    """The CLI called in process (``cli.main``), as a completed process: returncode,
    stdout, stderr. ``test_subprocess_smoke`` runs the real command once."""
    import contextlib
    import io
    import os

    from segkit import cli

    saved = {k: os.environ.get(k) for k in (env_extra or {})}
    os.environ.update(env_extra or {})
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in args])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.mark.slow
def test_subprocess_smoke(tmp_path, sample_csv):
    """The installed command itself: features written, and bad input is one line on stderr, exit 2."""
    out = tmp_path / "features.csv"
    done = subprocess.run([sys.executable, "-m", "segkit.cli", "features", "--data", str(sample_csv), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and out.is_file(), done.stderr
    bad = subprocess.run([sys.executable, "-m", "segkit.cli", "features", "--data", str(tmp_path / "nope.csv"),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "nope.csv" in bad.stderr


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_csv):
    folder = tmp_path_factory.mktemp("artifacts")
    result = segkit("train", "--data", sample_csv, "--k", "4", "--artifacts", folder)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


@pytest.mark.slow
def test_features_writes_one_row_per_customer(tmp_path, sample_csv, sample_data):
    out = tmp_path / "features.csv"
    result = segkit("features", "--data", sample_csv, "--out", out)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out, dtype={"CustomerID": str})
    assert {"CustomerID", "NumPurchases", "TotalQuantity", "TotalSpend", "Recency"} <= set(table.columns)
    assert table["CustomerID"].is_unique and len(table) == len(sample_data.customers)
    assert table["TotalSpend"].sum() == pytest.approx(sample_data.customers["TotalSpend"].sum())


@pytest.mark.slow
def test_train_prints_report_segments_and_saves(trained):
    folder, stdout = trained
    assert "cleaning report" in stdout and "cancellations" in stdout
    assert "segments (K=4 value tiers" in stdout and "Lost" in stdout
    model = load_artifacts(folder)
    lost_days = model.lifecycle_rules_.lost_days  # fitted to the log by default, and said so
    assert "what the segments mean" in stdout and f"No purchase for {lost_days} days or more" in stdout
    assert model.lifecycle_fit_["fitted"] and model.lifecycle_fit_["sentence"] in stdout
    assert model.n_clusters == 4


@pytest.mark.slow
def test_train_auto_prints_metrics_per_k(tmp_path, sample_csv):
    result = segkit("train", "--data", sample_csv, "--artifacts", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "metrics per K" in result.stdout and "recommended K:" in result.stdout
    assert "silhouette" in result.stdout and "stability" in result.stdout


def test_score_adds_cluster_and_segment(tmp_path, trained, sample_csv):
    folder, _ = trained
    out = tmp_path / "scored.csv"
    result = segkit("score", "--data", sample_csv, "--artifacts", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(out)
    assert {"Cluster", "Segment"} <= set(scored.columns)
    assert set(scored["Segment"]) == set(load_artifacts(folder).segment_names_.values())



@pytest.mark.slow
def test_score_cleans_as_the_model_was_trained(tmp_path, sample_csv):
    """A model trained on seed-cleaned lines scores a log cleaned with the seed rules
    unless told otherwise; other rules than the model's are said on stderr."""
    from segkit.pipeline.workflow import load_customer_data

    folder = tmp_path / "seed-model"
    assert segkit("train", "--data", sample_csv, "--rules", "seed", "--k", "3", "--no-clv",
                  "--artifacts", folder).returncode == 0
    model = load_artifacts(folder)
    implied, seed, default = (tmp_path / f"{n}.csv" for n in ("implied", "seed", "default"))
    result = segkit("score", "--data", sample_csv, "--artifacts", folder, "--out", implied)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    assert segkit("score", "--data", sample_csv, "--artifacts", folder, "--rules", "seed", "--out", seed).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(implied), pd.read_csv(seed))
    expected = model.segment(load_customer_data(sample_csv, rules="seed").customers)
    assert pd.read_csv(implied)["Segment"].tolist() == expected["Segment"].tolist()
    other = segkit("score", "--data", sample_csv, "--artifacts", folder, "--rules", "default", "--out", default)
    assert other.returncode == 0 and "trained on lines cleaned with the 'seed' rules" in other.stderr


@pytest.mark.slow
def test_train_on_more_customers_than_the_limit_fits_a_sample_and_says_so(tmp_path, sample_csv, monkeypatch):
    """Above MAX_TRAINING_CUSTOMERS the model is fitted on a seeded random sample of that
    many customers; the run and the model card say so, and every customer is scored."""
    from segkit.pipeline import workflow
    from segkit.pipeline.artifacts import read_model_card

    monkeypatch.setattr(workflow, "MAX_TRAINING_CUSTOMERS", 500)
    result = segkit("train", "--data", sample_csv, "--k", "3", "--no-clv", "--artifacts", tmp_path / "a")
    assert result.returncode == 0, result.stderr
    total = len(workflow.load_customer_data(sample_csv).customers)
    assert total > 500 and f"trained on a random sample of 500 of the {total:,} customers" in result.stdout
    card = read_model_card(tmp_path / "a")
    assert card["training_data"]["trained_on_customers"] == 500 and card["training_data"]["customers"] == total
    assert sum(row["Customers"] for row in card["profile"]) == 500  # the profile is the sample's
    out = tmp_path / "scored.csv"
    assert segkit("score", "--data", sample_csv, "--artifacts", tmp_path / "a", "--out", out).returncode == 0
    assert len(pd.read_csv(out)) == total
    again = segkit("train", "--data", sample_csv, "--k", "3", "--no-clv", "--artifacts", tmp_path / "b")
    assert again.returncode == 0
    assert read_model_card(tmp_path / "b")["centres"] == card["centres"]  # the sample is seeded

@pytest.mark.slow
def test_train_without_data_uses_the_sample_and_says_so(tmp_path):
    result = segkit("train", "--k", "3", "--artifacts", tmp_path, env_extra={"SEGKIT_DATA": ""})
    assert result.returncode == 0, result.stderr
    assert "SAMPLE DATA" in result.stdout


@pytest.mark.parametrize("case", ["missing", "empty", "no-customer", "bad-dates", "bad-numbers", "sheet", "fake-xlsx", "k"])
def test_bad_input_is_one_line_on_stderr_and_leaves_artifacts_alone(case, tmp_path, trained, sample_log):
    folder, _ = trained
    before = folder_digest(folder)
    path = tmp_path / "input.csv"
    extra = []
    if case == "empty":
        path.write_bytes(b"")
    elif case == "no-customer":
        sample_log.head(50).drop(columns="CustomerID").to_csv(path, index=False)
    elif case == "bad-dates":
        sample_log.head(50).assign(InvoiceDate="31/31/2011").to_csv(path, index=False)
    elif case == "bad-numbers":
        sample_log.head(50).assign(UnitPrice="n/a").to_csv(path, index=False)
    elif case == "sheet":
        path = tmp_path / "input.xlsx"
        sample_log.head(50).to_excel(path, index=False)
        extra = ["--sheet", "Nope"]
    elif case == "fake-xlsx":
        path = tmp_path / "input.xlsx"
        path.write_text("not a workbook")
    elif case == "k":
        sample_log.head(500).to_csv(path, index=False)
        extra = ["--k", "many"]
    result = segkit("train", "--data", path, "--artifacts", folder, *extra)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("segkit: error:")
    if case != "k":
        assert path.name in lines[0]
    assert folder_digest(folder) == before


def test_scoring_with_tampered_artifacts_is_refused(tmp_path, trained, sample_csv):
    import shutil

    folder, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    from segkit.pipeline.artifacts import current_version_dir

    (current_version_dir(copy) / "pipeline.joblib").write_bytes(b"not the pipeline")
    result = segkit("score", "--data", sample_csv, "--artifacts", copy, "--out", tmp_path / "x.csv")
    assert result.returncode == 2 and "sha256" in result.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_out_of_core_engine_gives_the_same_features(tmp_path, sample_log):
    parquet = tmp_path / "log.parquet"
    sample_log.to_parquet(parquet, index=False)
    for engine in ("pandas", "duckdb"):
        result = segkit("features", "--data", parquet, "--engine", engine, "--out", tmp_path / f"{engine}.csv")
        assert result.returncode == 0, result.stderr
    pandas_table = pd.read_csv(tmp_path / "pandas.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "duckdb.csv"), pandas_table, check_exact=True)
    trained = segkit("train", "--data", parquet, "--engine", "duckdb", "--k", "3", "--artifacts", tmp_path / "a")
    assert trained.returncode == 0, trained.stderr
    assert "cleaning report" in trained.stdout and "duplicate lines" in trained.stdout  # out of core too


MAPPED_CSV = """Client;Day;LineTotal;Shop
A1;05/01/2011 10:00;10,50;UK
A1;05/01/2011 10:00;2,25;UK
B2;13/02/2011 09:30;7,00;France
B2;01/03/2011 09:00;-7,00;France
B2;02/03/2011 11:00;3,10;France
C3;;1,00;UK
"""


def _every_option(engine: str, tmp_path, capsys) -> dict[str, pd.DataFrame]:
    """features with --columns, text day-first dates, decimal commas and both rule sets."""
    data = tmp_path / "mapped.csv"
    data.write_text(MAPPED_CSV)
    tables = {}
    for rules in ("default", "seed"):
        out = tmp_path / f"{engine}-{rules}.csv"
        code, _, err = run(["features", "--data", data, "--columns", "customer=Client,date=Day,amount=LineTotal,country=Shop",
                            "--rules", rules, "--engine", engine, "--spark-master", "local[2]", "--out", out], capsys)
        assert code == 0, err
        tables[rules] = pd.read_csv(out)
    return tables


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.slow)])
def test_every_option_works_on_every_engine(engine, tmp_path, capsys, request):
    if engine == "spark":
        request.getfixturevalue("spark_engine")  # the test session's Spark (skips or fails without it)
    expected = _every_option("pandas", tmp_path, capsys)
    got = _every_option(engine, tmp_path, capsys)
    for rules in ("default", "seed"):
        pd.testing.assert_frame_equal(got[rules], expected[rules], check_exact=True)
    assert expected["seed"]["CustomerID"].tolist() == ["A1", "B2"]


@pytest.mark.slow
def test_train_and_score_on_spark_print_the_report(spark_engine, tmp_path, sample_log, capsys):
    parquet = tmp_path / "log.parquet"
    sample_log.to_parquet(parquet, index=False)  # nanosecond stamps, as pandas writes them
    code, out, err = run(["train", "--data", parquet, "--engine", "spark", "--spark-master", "local[2]", "--k", "3",
                          "--feature", "ChristmasShare", "--artifacts", tmp_path / "a"], capsys)
    assert code == 0, err
    assert "cleaning report" in out and "cancellations" in out
    code, out, err = run(["score", "--data", parquet, "--engine", "spark", "--spark-master", "local[2]",
                          "--artifacts", tmp_path / "a", "--out", tmp_path / "scored.csv"], capsys)
    assert code == 0, err
    assert "on Spark" in out
    from_csv = pd.read_csv(tmp_path / "scored.csv", dtype={"CustomerID": str}).set_index("CustomerID")
    assert len(from_csv) > 1000
    # scored on the executors (mapInPandas), written by Spark as parquet: the in-process segments
    code, out, err = run(["score", "--data", parquet, "--engine", "spark", "--spark-master", "local[2]",
                          "--artifacts", tmp_path / "a", "--out", tmp_path / "scored.parquet"], capsys)
    assert code == 0, err
    assert (tmp_path / "scored.parquet").is_dir()
    got = pd.read_parquet(tmp_path / "scored.parquet").set_index("CustomerID").sort_index()
    code, _, err = run(["score", "--data", parquet, "--artifacts", tmp_path / "a", "--out", tmp_path / "here.csv"],
                       capsys)
    assert code == 0, err
    expected = pd.read_csv(tmp_path / "here.csv", dtype={"CustomerID": str}).set_index("CustomerID").sort_index()
    assert list(got.index) == list(expected.index) == list(from_csv.index)
    assert (got["Cluster"].to_numpy() == expected["Cluster"].to_numpy()).all()
    assert (got["Segment"].to_numpy() == expected["Segment"].to_numpy()).all()
    assert abs(got["Confidence"].to_numpy() - expected["Confidence"].to_numpy()).max() < 1e-9
    # each row says what customers of its segment did next, as the pandas scoring writes it (issue 21)
    for scored in (got, from_csv.sort_index()):
        assert scored["Evidence"].notna().all() and (scored["Evidence"] == expected["Evidence"]).all()


# ------------------------------------------------------------- bad inputs, in process


def run(argv, capsys) -> tuple[int, str, str]:
    from segkit import cli

    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_out_equal_to_data_or_inside_artifacts_is_refused(tmp_path, trained, sample_csv, capsys):
    folder, _ = trained
    before_data, before_model = sample_csv.read_bytes(), folder_digest(folder)
    for command in (["features"], ["score", "--artifacts", folder]):
        code, _, err = run([*command, "--data", sample_csv, "--out", sample_csv], capsys)
        assert code == 2 and "is the input file itself" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["score", "--data", sample_csv, "--artifacts", folder, "--out", folder / "model.json"], capsys)
    assert code == 2 and "inside the artifacts folder" in err
    assert sample_csv.read_bytes() == before_data and folder_digest(folder) == before_model


def test_features_out_inside_the_default_artifacts_folder_is_refused(tmp_path, sample_csv, capsys, monkeypatch):
    monkeypatch.setenv("SEGKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    code, _, err = run(["features", "--data", sample_csv, "--out", tmp_path / "artifacts" / "model.json"], capsys)
    assert code == 2 and "inside the artifacts folder" in err


@pytest.mark.parametrize("errno, strerror", [(13, "Permission denied"), (28, "No space left on device")])
def test_unwritable_or_full_artifacts_folder_is_one_line_naming_it(tmp_path, sample_csv, capsys, monkeypatch, errno,
                                                                   strerror):
    import segkit.pipeline.artifacts as artifacts

    def refuse(*args, **kwargs):
        raise OSError(errno, strerror)

    monkeypatch.setattr(artifacts.tempfile, "mkstemp", refuse)
    code, _, err = run(["train", "--data", sample_csv, "--k", "3", "--artifacts", tmp_path / "models"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(tmp_path / "models") in err and strerror in err and "unexpected" not in err


def test_read_only_artifacts_folder_is_refused(tmp_path, sample_csv, capsys):
    import os

    if os.geteuid() == 0:
        # root writes into read-only folders: a file where the folder should be is refused the same way
        folder = tmp_path / "ro"
        folder.write_text("not a folder")
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    try:
        code, _, err = run(["train", "--data", sample_csv, "--k", "3", "--artifacts", folder], capsys)
    finally:
        if folder.is_dir():
            folder.chmod(0o755)
    assert code == 2 and str(folder) in err and len(err.strip().splitlines()) == 1, err
    assert "previous model is unchanged" in err


@pytest.mark.parametrize("edit", ["segments-list", "null", "deep", "profile-null"])
def test_malformed_model_json_is_one_line(tmp_path, trained, sample_csv, capsys, edit):
    import json
    import shutil

    folder, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    from segkit.pipeline.artifacts import current_version_dir

    card_path = current_version_dir(copy) / "model.json"
    card = json.loads(card_path.read_text())
    if edit == "segments-list":
        card["segments"] = list(card["segments"].values())
        text = json.dumps(card)
    elif edit == "null":
        text = "null"
    elif edit == "deep":
        text = "[" * 100_000 + "]" * 100_000
    else:
        card["profile"] = None
        text = json.dumps(card)
    card_path.write_text(text)
    code, _, err = run(["score", "--data", sample_csv, "--artifacts", copy, "--out", tmp_path / "x.csv"], capsys)
    # Every edit is refused before scoring (a hand-edited card fails its card_sha256 too).
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "unexpected" not in err and "model.json'" in err and "retrain" in err, err
    assert not (tmp_path / "x.csv").exists()


def test_dayfirst_and_monthfirst_flags(tmp_path, sample_log, capsys):
    log = sample_log.head(3000)
    early = log[log["InvoiceDate"].dt.day <= 12]
    early.assign(InvoiceDate=early["InvoiceDate"].dt.strftime("%d/%m/%Y %H:%M")).to_csv(tmp_path / "uk.csv", index=False)
    code, _, err = run(["features", "--data", tmp_path / "uk.csv", "--out", tmp_path / "f.csv"], capsys)
    assert code == 2 and "--dayfirst" in err
    code, _, err = run(["features", "--data", tmp_path / "uk.csv", "--dayfirst", "--out", tmp_path / "f.csv"], capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "f.csv", parse_dates=["LastPurchase"])
    assert table["LastPurchase"].max().normalize() == early["InvoiceDate"].max().normalize()
    with pytest.raises(SystemExit):
        run(["features", "--data", tmp_path / "uk.csv", "--dayfirst", "--monthfirst", "--out", tmp_path / "f.csv"],
            capsys)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_new_lines_are_scored_on_the_customers_whole_history(tmp_path, sample_log, trained):
    """December's lines scored alone made every customer "New" (7 VIPs among them on the
    real data). With --history each customer is scored on history + new lines, exactly as
    the whole log scores them, and the output says who moved."""
    from segkit.pipeline.workflow import customers_for_scoring

    folder, _ = trained
    december = sample_log["InvoiceDate"] >= "2011-12-01"
    history, new, whole = tmp_path / "to-november.csv", tmp_path / "december.csv", tmp_path / "whole.csv"
    sample_log[~december].to_csv(history, index=False)
    sample_log[december].to_csv(new, index=False)
    sample_log.to_csv(whole, index=False)
    out = tmp_path / "scored.csv"
    result = segkit("score", "--data", new, "--history", history, "--artifacts", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(out, dtype={"CustomerID": str, "SegmentBefore": str}).set_index("CustomerID")
    model = load_artifacts(folder)
    expected = model.segment(customers_for_scoring(whole, model))["Segment"]
    december_ids = set(sample_log.loc[december, "CustomerID"].dropna().astype("int64").astype(str))
    assert set(scored.index) == december_ids
    assert (scored["Segment"] == expected.reindex(scored.index)).all()
    long_known = scored["SegmentBefore"].notna() & (scored["Tenure"] + scored["Recency"] > 60)
    assert long_known.sum() > 50 and not (scored.loc[long_known, "Segment"] == "New").any()
    assert (scored["Moved"] == (scored["SegmentBefore"].notna() & (scored["SegmentBefore"] != scored["Segment"]))).all()
    assert f"known to the history, {int(scored['Moved'].sum()):,} of them moved segment" in result.stdout
    assert "are in the history 'to-november.csv'" in result.stderr
    # Scored alone, the same file calls long-known customers New: what --history prevents.
    alone = tmp_path / "alone.csv"
    assert segkit("score", "--data", new, "--artifacts", folder, "--out", alone,
                  "--allow-short-window").returncode == 0
    alone_scored = pd.read_csv(alone, dtype={"CustomerID": str}).set_index("CustomerID")
    alone_segments = alone_scored["Segment"].reindex(long_known[long_known].index).dropna()
    assert len(alone_segments) > 50 and (alone_segments == "New").mean() > 0.9


def test_score_csv_says_each_segments_evidence(tmp_path, sample_csv, trained, capsys):
    """The scored customers' CSV carries, beside each recommendation, what customers
    like these did next at the backtest's earlier dates (saved by segkit train)."""
    from segkit.pipeline.backtest import evidence_sentences

    folder, _ = trained
    out = tmp_path / "scored.csv"
    code, _, err = run(["score", "--data", sample_csv, "--artifacts", folder, "--out", out], capsys)
    assert code == 0, err
    scored = pd.read_csv(out, dtype={"CustomerID": str})
    said = evidence_sentences(load_artifacts(folder).evidence_)
    assert list(scored.columns).index("Evidence") == list(scored.columns).index("Recommendation") + 1
    assert scored["Evidence"].notna().all() and (scored["Evidence"] == scored["Segment"].map(said)).all()
