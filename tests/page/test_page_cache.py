"""Light, shared dashboard kernels: a page opens from the saved model's card and the
segmented customers every kernel shares, without scikit-learn, SciPy, ibis or the lines."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from segkit.dashboard import Dashboard
from segkit.errors import SegkitArtifactError
from segkit.page.page_cache import CardModel, page_cache_path
from segkit.pipeline.artifacts import load_artifacts, save_artifacts
from segkit.pipeline.workflow import CachedCustomerData, load_customer_data, train_model
from segkit.views.tables import Filters

HEAVY = ("sklearn", "scipy", "ibis", "duckdb")

OPEN_PAGE = """
import json, sys
from segkit.dashboard import Dashboard
page = Dashboard(sys.argv[1], sys.argv[2])
state = page.state
summary = state.selection.summary
print(json.dumps({
    "heavy": [m for m in %r if m in sys.modules],
    "lines_read": state.data._lines is not None,
    "data": type(state.data).__name__, "model": type(state.model).__name__,
    "segments": state.everyone["Segment"].astype(str).value_counts().to_dict(),
    "categories": state.category_names, "saved": state.saved,
}))
""" % (HEAVY,)


@pytest.fixture()
def saved_page(tmp_path, sample_log, monkeypatch):
    """A CSV log, the model trained on it saved, and a cache folder of its own."""
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    log = tmp_path / "log.csv"
    sample_log.to_csv(log, index=False)
    data = load_customer_data(log)
    model, _ = train_model(data, 4)
    save_artifacts(model, tmp_path / "artifacts", data.training_info())
    return log, tmp_path / "artifacts", data, model


def _open_in_new_kernel(log: Path, artifacts: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", OPEN_PAGE, str(log), str(artifacts)], capture_output=True,
                            text=True, env=dict(os.environ), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_kernel_opens_from_the_page_cache_without_heavy_libraries_or_lines(saved_page):
    log, artifacts, data, model = saved_page
    expected = model.segment(data.customers)["Segment"].astype(str).value_counts().to_dict()
    first = _open_in_new_kernel(log, artifacts)  # computes and writes the page cache
    second = _open_in_new_kernel(log, artifacts)
    assert first["segments"] == expected == second["segments"]
    assert second["saved"] and second["model"] == "CardModel" and second["data"] == "CachedCustomerData"
    assert second["heavy"] == [], f"a page opened from the page cache imported {second['heavy']}"
    assert not second["lines_read"], "the page read the lines before any date or category filter"
    # The category filter is offered from the page cache, with the categories the lines have.
    assert second["categories"] == first["categories"] and len(second["categories"]) >= 3


def test_page_cache_equals_a_fresh_computation_and_filters_still_work(saved_page):
    log, artifacts, data, model = saved_page
    fresh = Dashboard(data, artifacts)  # lines in memory: computes (and writes) the page cache
    cached = load_customer_data(log)
    assert isinstance(cached, CachedCustomerData)
    page = Dashboard(cached, artifacts)
    pd.testing.assert_frame_equal(fresh.state.everyone, page.state.everyone, check_exact=True)
    assert cached._lines is None
    # A date filter reads the lines on first use and selects what the in-memory page selects.
    start, end = date(2011, 3, 1), date(2011, 5, 31)
    for state in (fresh.state, page.state):
        state.filters = Filters(start=start, end=end)
    assert cached._lines is not None
    assert list(fresh.state.selection.shown.index) == list(page.state.selection.shown.index)
    assert len(page.state.selection) < len(data.customers)


@pytest.mark.slow  # computes the page data three times (16 s)
def test_a_new_saved_model_gets_its_own_page_cache_and_a_damaged_one_is_recomputed(saved_page):
    log, artifacts, data, model = saved_page
    first = _open_in_new_kernel(log, artifacts)
    other, _ = train_model(data, 3)
    save_artifacts(other, artifacts, data.training_info())
    second = _open_in_new_kernel(log, artifacts)
    assert second["segments"] == other.segment(data.customers)["Segment"].astype(str).value_counts().to_dict()
    assert second["segments"] != first["segments"]
    path = page_cache_path(data.fingerprint, load_artifacts(artifacts).card_)
    assert path is not None and path.is_file()
    path.write_bytes(b"damaged")
    third = _open_in_new_kernel(log, artifacts)
    assert third["segments"] == second["segments"]


def test_card_model_states_the_saved_model_and_loads_it_only_to_compute(saved_page):
    log, artifacts, data, model = saved_page
    loaded = load_artifacts(artifacts)
    card_model = CardModel(artifacts, loaded.card_)
    assert card_model.segment_names_ == loaded.segment_names_ and card_model.n_clusters == loaded.n_clusters
    assert card_model.lifecycle_rules_ == loaded.lifecycle_rules_ and card_model.metrics_ == loaded.metrics_
    pd.testing.assert_frame_equal(card_model.definitions_, loaded.definitions_)
    assert card_model._loaded is None
    pd.testing.assert_frame_equal(card_model.segment(data.customers), loaded.segment(data.customers))
    # The saved model replaced while a page is open: computing says so in one sentence.
    stale = CardModel(artifacts, loaded.card_)
    other, _ = train_model(data, 3)
    save_artifacts(other, artifacts, data.training_info())
    with pytest.raises(SegkitArtifactError, match="reload the page"):
        stale.segment(data.customers)


@pytest.mark.slow
def test_segkit_train_prepares_the_first_page(tmp_path, sample_log, monkeypatch):
    """`segkit train` writes the page cache the first page opens from."""
    from segkit import cli

    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_CLV", "0")
    log = tmp_path / "log.csv"
    sample_log.to_csv(log, index=False)
    assert cli.main(["train", "--data", str(log), "--k", "4", "--artifacts", str(tmp_path / "artifacts")]) == 0
    data = load_customer_data(log)
    model = load_artifacts(tmp_path / "artifacts")
    path = page_cache_path(data.fingerprint, model.card_)
    assert path is not None and path.is_file()
    page = _open_in_new_kernel(log, tmp_path / "artifacts")
    assert page["heavy"] == [] and not page["lines_read"]
    assert page["segments"] == model.segment(data.customers)["Segment"].astype(str).value_counts().to_dict()


def test_the_built_in_sample_is_cached_like_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_DATA", "")
    fresh = load_customer_data()
    again = load_customer_data()
    assert isinstance(again, CachedCustomerData) and again.is_sample and again.source == fresh.source
    pd.testing.assert_frame_equal(fresh.customers, again.customers, check_exact=True)
    pd.testing.assert_frame_equal(fresh.lines, again.lines)


@pytest.mark.slow
def test_kernels_started_together_compute_the_page_cache_once(saved_page):
    """Voilà fills its pool at once: one kernel computes the page cache, the others wait for it."""
    log, artifacts, data, model = saved_page
    kernels = [subprocess.Popen([sys.executable, "-c", OPEN_PAGE, str(log), str(artifacts)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ)) for _ in range(3)]
    pages = []
    for kernel in kernels:
        out, err = kernel.communicate(timeout=300)
        assert kernel.returncode == 0, err[-2000:]
        pages.append(json.loads(out.strip().splitlines()[-1]))
    computed = [page for page in pages if "sklearn" in page["heavy"]]
    assert len(computed) == 1, [page["heavy"] for page in pages]
    assert all(page["segments"] == pages[0]["segments"] for page in pages)


@pytest.mark.slow  # over 3.5 s on an idle machine: out of make test-fast
def test_a_model_saved_from_the_page_is_opened_by_the_next_kernel_without_computing(saved_page):
    """An analyst's save writes the page cache as ``segkit train`` does: the next visitor's
    kernel reads the new model's segments instead of loading the lines and scikit-learn."""
    from segkit.config import Settings

    log, artifacts, data, model = saved_page
    page = Dashboard(load_customer_data(log), artifacts, settings=Settings(currency="£", analyst=True), query="")
    page.model.k_choice.value = 3
    page.model.retrain_button.click()
    retrained = page.state.model
    page.model.save_button.click()
    page.model.confirm_save.click()
    card = load_artifacts(artifacts).card_
    path = page_cache_path(data.fingerprint, card)
    assert card["k"] == 3 and path is not None and path.is_file(), "saving from the page wrote no page cache"
    opened = _open_in_new_kernel(log, artifacts)
    assert opened["segments"] == retrained.segment(data.customers)["Segment"].astype(str).value_counts().to_dict()
    assert opened["heavy"] == [] and not opened["lines_read"], "the next kernel computed instead of reading"


@pytest.mark.slow
def test_serving_prepares_the_page_before_any_kernel_and_survives_a_bad_log(saved_page, tmp_path):
    """``segkit.server.serve`` opens the page once before Voilà starts: the page cache every kernel
    reads is on disk first (else the first kernel computes it and keeps ~700 MB); a log
    that cannot be read is left to the page, which states the reason."""
    from segkit.server.serve import prepare_page

    log, artifacts, data, model = saved_page
    env = dict(os.environ, SEGKIT_DATA=str(log), SEGKIT_ARTIFACTS=str(artifacts))
    path = page_cache_path(data.fingerprint, load_artifacts(artifacts).card_)
    assert path is not None and not path.exists()
    prepare_page(env)
    assert path.is_file(), "the page was not prepared before serving"
    opened = _open_in_new_kernel(log, artifacts)
    assert opened["heavy"] == [] and not opened["lines_read"]
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,transaction,log\n1,2,3,4\n")
    before = sorted(path.parent.iterdir())
    prepare_page(dict(env, SEGKIT_DATA=str(bad)))  # a file it cannot read: no exception, nothing written
    assert sorted(path.parent.iterdir()) == before


def test_page_caches_are_pruned_per_model_and_a_removed_one_is_computed_again(tmp_path, monkeypatch, sample_data):
    """A live page writes a page cache per refresh: only the newest few of a model stay;
    another model's stay; a kernel whose page cache was removed computes it again."""
    from segkit.page.page_cache import KEEP_PAGE_CACHES, segmented_customers

    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    card, other = {"card_sha256": "a" * 64}, {"card_sha256": "b" * 64}
    frame = pd.DataFrame({"Segment": ["VIP"]}, index=pd.Index(["1"], dtype="string"))
    computed = []

    def compute(n):
        return lambda: (computed.append(n), (frame.assign(N=n), ["Home"]))[1]

    segmented_customers("other-data", other, compute(-1))
    paths = []
    for n in range(KEEP_PAGE_CACHES + 3):
        segmented_customers(f"data-{n}", card, compute(n))
        paths.append(page_cache_path(f"data-{n}", card))
        os.utime(paths[-1], (1_000_000 + n, 1_000_000 + n))  # distinct ages, newest last
    pages = tmp_path / "cache" / "pages"
    mine = sorted(pages.glob("a" * 16 + "-*.parquet"))
    assert len(mine) == KEEP_PAGE_CACHES and set(mine) == set(paths[-KEEP_PAGE_CACHES:])
    assert page_cache_path("other-data", other).is_file()  # another model's page cache stays
    assert not list(pages.glob("a" * 16 + "-*.lock"))[KEEP_PAGE_CACHES:]  # locks go with their page caches
    # A kernel still on the oldest data finds its page cache gone: it computes it again, no error.
    everyone, categories = segmented_customers("data-0", card, compute(0))
    assert computed.count(0) == 2 and int(everyone["N"].iloc[0]) == 0 and categories == ["Home"]
    # A kept one is read, not computed.
    everyone, _ = segmented_customers(f"data-{KEEP_PAGE_CACHES + 2}", card, compute(99))
    assert 99 not in computed and int(everyone["N"].iloc[0]) == KEEP_PAGE_CACHES + 2


def test_a_live_pages_refreshes_never_prune_another_pages_page_cache(tmp_path, monkeypatch):
    """A live page writes a page cache per refresh; a page on other data with the same
    saved model keeps its own (it is read, not computed again), and the live page's are
    pruned among themselves, per log."""
    from segkit.page.page_cache import KEEP_PAGE_CACHES, segmented_customers

    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    card = {"card_sha256": "a" * 64}
    frame = pd.DataFrame({"Segment": ["VIP"]}, index=pd.Index(["1"], dtype="string"))
    computed = []

    def compute(n):
        return lambda: (computed.append(n), (frame.assign(N=n), ["Home"]))[1]

    segmented_customers("one-file", card, compute("page"))
    os.utime(page_cache_path("one-file", card), (1_000_000, 1_000_000))  # the oldest of all
    for log in ("folder-a", "folder-b"):
        for n in range(KEEP_PAGE_CACHES + 3):
            segmented_customers(f"{log}-{n}", card, compute(n), log)
            os.utime(page_cache_path(f"{log}-{n}", card, log), (1_000_100 + n, 1_000_100 + n))
        kept = [n for n in range(KEEP_PAGE_CACHES + 3) if page_cache_path(f"{log}-{n}", card, log).is_file()]
        assert kept == list(range(3, KEEP_PAGE_CACHES + 3))  # the newest of this log
    everyone, _ = segmented_customers("one-file", card, compute("again"))
    assert "again" not in computed and everyone["N"].iloc[0] == "page"
    assert len(list((tmp_path / "cache" / "pages").glob("*.parquet"))) == 2 * KEEP_PAGE_CACHES + 1


def test_the_value_draws_travel_in_the_page_cache_and_give_the_same_ranges(saved_page):
    """Every customer's value under each stored draw is in the page cache, so a page
    opened from it gives each segment the same range without the lines or the pickled model."""
    import numpy as np

    log, artifacts, data, model = saved_page
    params = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
              "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
    generator = np.random.default_rng(5)
    draws = [{"bgnbd": {k: v * generator.uniform(0.9, 1.1) for k, v in params["bgnbd"].items()},
              "gamma_gamma": params["gamma_gamma"], "time_unit": "D"} for _ in range(8)]
    model.clv_params_, model.clv_uncertainty_ = params, {"level": 0.9, "draws": draws, "independence": {}}
    save_artifacts(model, artifacts, data.training_info())
    fresh = Dashboard(data, artifacts)  # lines in memory: computes (and writes) the page cache
    cached = load_customer_data(log)
    page = Dashboard(cached, artifacts)
    assert page.state.value_draws.shape == (len(data.customers), 8)
    np.testing.assert_array_equal(fresh.state.value_draws, page.state.value_draws)
    assert not any(str(c).startswith("CLVDraw") for c in page.state.everyone.columns)
    pd.testing.assert_frame_equal(fresh.state.selection.summary, page.state.selection.summary)
    assert {"SumCLVLow", "SumCLVHigh"} <= set(page.state.selection.summary.columns)
    assert cached._lines is None and page.state.model._loaded is None  # no lines, no pickle read
    assert "(low\u2013high)" in page.segments.range_note.value
