"""segkit.engines.registered: registered features out of memory, in chunks of whole customers
(DuckDB streams them to this process, Spark runs them on its executors)."""
from __future__ import annotations

import pandas as pd
import pytest

from segkit.engines.duckdb import DuckDBEngine
from segkit.engines.registered import features_on_engine
from segkit.errors import SegkitDataError
from segkit.ingest.load import standardise_columns
from segkit.ingest.sample import generate_sample_transactions
from segkit.rules.registry import compute_features, lines_as_in_memory


@pytest.fixture(scope="module")
def duck():
    engine = DuckDBEngine(threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def lines_frame(sample_log):
    return standardise_columns(sample_log.head(8_000)).dropna(subset=["CustomerID"])


def spend(lines: pd.DataFrame) -> pd.Series:
    return (lines["Quantity"] * lines["UnitPrice"]).groupby(lines["CustomerID"]).sum()


def first_quantity(lines: pd.DataFrame) -> pd.Series:
    """The quantity of each customer's first line in the file: wrong if the lines reach it out of file order."""
    return lines.groupby("CustomerID")["Quantity"].first()


def line_count(lines: pd.DataFrame) -> pd.Series:
    return lines.groupby("CustomerID").size()


@pytest.mark.parametrize("chunk_lines", [50, 997, 1_000_000])
def test_any_chunk_size_gives_the_in_memory_features_and_never_splits_a_customer(duck, lines_frame, chunk_lines):
    seen: list[str] = []

    def counted(lines):
        seen.extend(lines["CustomerID"].unique())
        return line_count(lines)

    functions = {"Spend": spend, "FirstQuantity": first_quantity, "Lines": counted}
    got = features_on_engine(duck, duck.lines(lines_frame), functions, chunk_lines=chunk_lines).sort_index()
    in_memory = lines_as_in_memory(lines_frame.assign(line_no=range(len(lines_frame))))
    expected = compute_features(in_memory, {"Spend": spend, "FirstQuantity": first_quantity, "Lines": line_count})
    pd.testing.assert_frame_equal(got, expected.sort_index(), check_exact=False, rtol=1e-12)
    assert len(seen) == len(set(seen)) == lines_frame["CustomerID"].nunique()  # each customer in one chunk


def test_since_keeps_only_the_lines_of_the_window(duck, lines_frame):
    since = lines_frame["InvoiceDate"].quantile(0.7)
    got = features_on_engine(duck, duck.lines(lines_frame), {"Lines": line_count}, since=since)
    inside = lines_frame[lines_frame["InvoiceDate"] >= since]
    assert 0 < len(got) < lines_frame["CustomerID"].nunique()  # customers silent in the window: no row
    expected = line_count(inside).astype("float64")
    pd.testing.assert_series_equal(got["Lines"].sort_index(), expected.sort_index(), check_names=False,
                                   check_index_type=False)


def test_no_clean_lines_give_an_empty_table(duck, lines_frame):
    got = features_on_engine(duck, duck.lines(lines_frame.iloc[:0]), {"Lines": line_count})
    assert got.empty and got.index.name == "CustomerID"


def test_chunks_never_split_a_customer_even_one_longer_than_a_chunk():
    from segkit.engines.registered import features_by_customer_chunks
    from segkit.rules.registry import compute_features

    lines = pd.DataFrame({"CustomerID": list("aaaaaaabbc"), "line_no": range(10),
                          "Quantity": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], "UnitPrice": 1.0,
                          "InvoiceDate": pd.Timestamp("2011-05-01")})
    batches = [lines.iloc[i:i + 2] for i in range(0, 10, 2)]  # customer 'a' spans four batches
    seen = []

    def total_and_lines(frame):
        seen.append(sorted(frame["CustomerID"].unique()))
        return frame.groupby("CustomerID")["Quantity"].sum()

    got = pd.concat(features_by_customer_chunks(batches, {"Total": total_and_lines}, chunk_lines=3))
    assert seen == [["a"], ["b"], ["c"]] and got.loc["a", "Total"] == 28.0
    pd.testing.assert_frame_equal(got, compute_features(lines, {"Total": total_and_lines}))


@pytest.mark.slow
def test_a_feature_failing_on_spark_executors_is_named_in_one_sentence(spark_engine, monkeypatch):
    from segkit.engines.registered import features_on_engine

    def broken(lines):
        raise ValueError("no budget column")

    lines = spark_engine.lines(generate_sample_transactions(n_customers=20, seed=1).dropna(subset=["CustomerID"]))
    with pytest.raises(SegkitDataError) as caught:
        features_on_engine(spark_engine, lines, {"Broken": broken})
    assert str(caught.value) == ("The registered feature 'Broken' failed on the clean lines (ValueError: no budget "
                                 "column); fix the function or leave out --feature Broken.")
