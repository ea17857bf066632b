"""Registered features give the in-memory numbers on every engine: DuckDB out of core
(parquet, in customer buckets and in chunks of lines) and Spark (on its executors)."""
from __future__ import annotations

import threading

import pandas as pd
import pytest

import segkit.engines.outofcore
import segkit.engines.registered
from segkit import cli
from segkit.errors import SegkitDataError
from segkit.ingest.sample import generate_sample_transactions
from segkit.pipeline.workflow import load_customer_data
from segkit.rules.registry import FEATURE_TRANSFORMS, REGISTERED_FEATURES

BUILT_IN = ["ChristmasShare", "CategoriesBought"]
FEATURES = BUILT_IN + ["WeekendSpendShare"]


def weekend_spend_share(lines: pd.DataFrame) -> pd.Series:
    """A feature of the test's own: quantities, prices, dates and ids, as users write them."""
    spend = lines["Quantity"] * lines["UnitPrice"]
    weekend = spend.where(lines["InvoiceDate"].dt.day_of_week >= 5, 0.0)
    return weekend.groupby(lines["CustomerID"]).sum() / spend.groupby(lines["CustomerID"]).sum()


@pytest.fixture(autouse=True)
def own_feature(monkeypatch):
    monkeypatch.setitem(REGISTERED_FEATURES, "WeekendSpendShare", weekend_spend_share)
    monkeypatch.setitem(FEATURE_TRANSFORMS, "WeekendSpendShare", "identity")


@pytest.fixture(scope="module")
def sample_parquet(tmp_path_factory):
    path = tmp_path_factory.mktemp("extra") / "sample.parquet"
    generate_sample_transactions(n_customers=600, seed=11).to_parquet(path, index=False)
    return path


@pytest.fixture
def counted_chunks(monkeypatch):
    """How many chunks of lines the registered features were run on."""
    calls = []
    original = segkit.engines.registered.compute_features

    def counting(lines, functions):
        calls.append(len(lines))
        return original(lines, functions)

    monkeypatch.setattr(segkit.engines.registered, "compute_features", counting)
    return calls


def in_memory(path, rules="default", window_days=None, names=FEATURES) -> pd.DataFrame:
    return load_customer_data(path, rules=rules, window_days=window_days, extra_features=names,
                              use_cache=False).customers


def assert_same_features(got: pd.DataFrame, expected: pd.DataFrame, names=FEATURES, atol=0.0) -> None:
    assert got.index.equals(expected.index)
    assert (expected[names] > 0).any().all()  # every feature has values to compare
    pd.testing.assert_frame_equal(got[names], expected[names], check_exact=atol == 0, atol=atol, rtol=0)
    # the standard features are untouched by the extra ones
    pd.testing.assert_frame_equal(got.drop(columns=names), expected.drop(columns=names), check_exact=False,
                                  atol=0.01, rtol=0)


@pytest.mark.parametrize("window_days", [None, 90])
@pytest.mark.parametrize("rules", ["default", "seed"])
def test_out_of_core_gives_the_in_memory_features(sample_parquet, rules, window_days):
    got = load_customer_data(sample_parquet, rules=rules, engine="duckdb", window_days=window_days,
                             extra_features=FEATURES)
    assert got.lines is None  # out of core: the lines were never held
    assert_same_features(got.customers, in_memory(sample_parquet, rules, window_days))
    if window_days is not None:  # customers without a line in the window get 0, as in memory
        silent = got.customers["NumPurchases"] == 0
        assert silent.any() and (got.customers.loc[silent, FEATURES] == 0).all().all()


@pytest.mark.parametrize("window_days", [None, 90])
@pytest.mark.slow
def test_customer_buckets_and_small_chunks_give_the_same_features(sample_parquet, window_days, monkeypatch,
                                                                  counted_chunks):
    monkeypatch.setattr(segkit.engines.outofcore, "ROWS_PER_GB", 10_000)  # ~37k lines, 3 GB -> 2 buckets
    monkeypatch.setattr(segkit.engines.registered, "CHUNK_LINES", 2_000)  # chunks cut between customers
    got = load_customer_data(sample_parquet, engine="duckdb", window_days=window_days, extra_features=FEATURES)
    assert len(counted_chunks) > 4 and max(counted_chunks) < 4_000
    # a customer's spend is summed in another order across buckets: shares agree to float rounding
    assert_same_features(got.customers, in_memory(sample_parquet, window_days=window_days), atol=1e-12)


def test_real_data_out_of_core_gives_the_in_memory_features(real_parquet):
    got = load_customer_data(real_parquet, engine="duckdb", extra_features=BUILT_IN).customers
    assert_same_features(got, in_memory(real_parquet, names=BUILT_IN), BUILT_IN, atol=1e-9)


@pytest.mark.slow
def test_spark_gives_the_in_memory_features(spark_engine, sample_parquet):
    got = load_customer_data(sample_parquet, engine="spark", spark_master="local[2]", window_days=90,
                             extra_features=FEATURES)
    assert_same_features(got.customers, in_memory(sample_parquet, window_days=90))


def test_cli_features_out_of_core_with_a_registered_feature(sample_parquet, tmp_path, capsys):
    out = tmp_path / "features.csv"
    assert cli.main(["features", "--data", str(sample_parquet), "--engine", "duckdb", "--feature", "ChristmasShare",
                     "--out", str(out)]) == 0
    written = pd.read_csv(out, dtype={"CustomerID": str}).set_index("CustomerID")
    expected = in_memory(sample_parquet, names=["ChristmasShare"])
    pd.testing.assert_series_equal(written["ChristmasShare"].sort_index(), expected["ChristmasShare"].sort_index(),
                                   check_exact=False, rtol=1e-12, check_index_type=False)


@pytest.mark.slow
def test_cli_train_and_score_out_of_core_with_registered_features(sample_parquet, tmp_path, capsys):
    artifacts = tmp_path / "model"
    assert cli.main(["train", "--data", str(sample_parquet), "--engine", "duckdb", "--k", "3", "--window-days", "365",
                     "--feature", "ChristmasShare", "--feature", "CategoriesBought", "--artifacts", str(artifacts)]) == 0
    scored = {}
    for engine in ("duckdb", "pandas"):
        out = tmp_path / f"{engine}.csv"
        assert cli.main(["score", "--data", str(sample_parquet), "--engine", engine, "--artifacts", str(artifacts),
                         "--out", str(out)]) == 0
        scored[engine] = pd.read_csv(out, dtype={"CustomerID": str})
    assert {"ChristmasShare", "CategoriesBought"} <= set(scored["duckdb"].columns)
    pd.testing.assert_frame_equal(scored["duckdb"], scored["pandas"])


def test_a_failing_feature_is_named_in_one_sentence_out_of_core(sample_parquet, tmp_path, capsys, monkeypatch):
    def broken(lines):
        return lines["NoSuchColumn"].groupby(lines["CustomerID"]).sum()

    monkeypatch.setitem(REGISTERED_FEATURES, "Broken", broken)
    code = cli.main(["features", "--data", str(sample_parquet), "--engine", "duckdb", "--feature", "Broken",
                     "--out", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "The registered feature 'Broken' failed on the clean lines (KeyError: 'NoSuchColumn')" in err


@pytest.mark.slow  # starts Spark
def test_a_feature_spark_cannot_send_to_its_executors_is_named(spark_engine, sample_parquet, monkeypatch):
    lock = threading.Lock()

    def locked(lines):  # holds a lock, which cannot be pickled
        with lock:
            return lines.groupby("CustomerID")["Quantity"].sum()

    monkeypatch.setitem(REGISTERED_FEATURES, "Locked", locked)
    with pytest.raises(SegkitDataError, match=r"^The registered feature 'Locked' cannot be sent to Spark's executors "
                       r"\(.*lock.*\); keep open files, locks and connections out of the function") as caught:
        load_customer_data(sample_parquet, engine="spark", spark_master="local[2]", extra_features=["Locked"])
    assert "\n" not in str(caught.value)


def test_an_unknown_feature_is_refused_before_any_work_on_every_engine(sample_parquet):
    for engine in ("duckdb", "spark"):  # refused before a Spark session starts
        with pytest.raises(SegkitDataError, match="^No feature named Nope; registered features: .*ChristmasShare"):
            load_customer_data(sample_parquet, engine=engine, extra_features=["Nope"])
