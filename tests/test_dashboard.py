"""The dashboard without a browser: the pure views (``segkit.views``), the widget app
driven from Python (``segkit.dashboard``) and the serve command line (``segkit.serve``).
"""
from __future__ import annotations

import base64
import io
import os
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segkit import views
from segkit.errors import SegkitDataError
from segkit.views import ALL, Filters
from segkit.workflow import train_model


@pytest.fixture(scope="module")
def sample_model(sample_data):
    model, _ = train_model(sample_data, 5)
    return model


@pytest.fixture(scope="module")
def sample_segmented(sample_data, sample_model):
    return views.segment_customers(sample_model, sample_data.customers)


def _decode(href: str) -> pd.DataFrame:
    prefix = "data:text/csv;charset=utf-8;base64,"
    assert href.startswith(prefix)
    return pd.read_csv(io.StringIO(base64.b64decode(href[len(prefix):]).decode("utf-8")), dtype={"CustomerID": str})


# ------------------------------------------------------------------ filters

def test_default_filters_keep_everyone(sample_segmented):
    assert len(views.filter_customers(sample_segmented, Filters())) == len(sample_segmented)


def test_each_filter_narrows_the_customers(sample_segmented):
    everyone = len(sample_segmented)
    segment = sample_segmented["Segment"].iloc[0]
    by_segment = views.filter_customers(sample_segmented, Filters(segments=(segment,)))
    assert 0 < len(by_segment) < everyone and set(by_segment["Segment"]) == {segment}

    by_country = views.filter_customers(sample_segmented, Filters(country="Germany"))
    assert 0 < len(by_country) < everyone and set(by_country["Country"]) == {"Germany"}

    by_spend = views.filter_customers(sample_segmented, Filters(spend_min=500, spend_max=2000))
    assert 0 < len(by_spend) < everyone
    assert by_spend["TotalSpend"].between(500, 2000).all()

    assert views.filter_customers(sample_segmented, Filters(segments=())).empty


def test_line_categories_cover_every_line(sample_data):
    categories = views.line_categories(sample_data.lines)
    assert len(categories) == len(sample_data.lines) and categories.notna().all()
    assert {"Christmas", "Bags", "Kitchen"} <= set(categories.cat.categories)


def test_whole_window_returns_the_training_table(sample_data):
    start, end = (ts.date() for ts in sample_data.period)
    same = views.customers_in_window(sample_data.lines, sample_data.customers, None, start, end, ALL)
    assert same is sample_data.customers


def test_date_window_recomputes_features(sample_data):
    lines = sample_data.lines
    window = views.customers_in_window(lines, sample_data.customers, None, date(2011, 6, 1), date(2011, 8, 31))
    inside = lines[(lines["InvoiceDate"] >= "2011-06-01") & (lines["InvoiceDate"] < "2011-09-01")]
    assert set(window.index) == set(inside["CustomerID"].astype(str))
    spend = inside.groupby("CustomerID")["TotalPrice"].sum().round(2)
    spend.index = spend.index.astype(str)
    pd.testing.assert_series_equal(window["TotalSpend"].sort_index(), spend.sort_index(), check_names=False,
                                   check_index_type=False)
    # Recency counts to the day after the window's end.
    last = inside.groupby("CustomerID")["InvoiceDate"].max()
    expected = (pd.Timestamp("2011-09-01") - last).dt.days
    expected.index = expected.index.astype(str)
    assert (window["Recency"].sort_index().to_numpy() == expected.sort_index().to_numpy()).all()


def test_category_window_only_counts_that_category(sample_data):
    categories = views.line_categories(sample_data.lines)
    window = views.customers_in_window(sample_data.lines, sample_data.customers, categories, category="Christmas")
    bags = sample_data.lines[categories.to_numpy() == "Christmas"]
    assert len(window) == bags["CustomerID"].nunique() < len(sample_data.customers)
    assert window["TotalSpend"].sum() == pytest.approx(bags["TotalPrice"].sum(), rel=1e-9, abs=0.01 * len(window))


def test_empty_window_gives_an_empty_view(sample_data, sample_model):
    window = views.customers_in_window(sample_data.lines, sample_data.customers, None, date(2009, 1, 1), date(2009, 2, 1))
    segmented = views.segment_customers(sample_model, window)
    assert segmented.empty and "Segment" in segmented
    assert views.segment_summary(segmented).empty
    assert "No customers" in views.summary_html(views.segment_summary(segmented))
    assert views.kpis(segmented, (pd.Timestamp("2009-01-01"), pd.Timestamp("2009-02-01")))["Customers"] == 0


# ------------------------------------------------------------------ numbers

def test_kpis(sample_data):
    numbers = views.kpis(sample_data.customers, sample_data.period)
    customers = sample_data.customers
    assert numbers["Customers"] == len(customers)
    assert numbers["AvgPurchases"] == pytest.approx(customers["NumPurchases"].mean())
    assert numbers["TotalSpend"] == pytest.approx(customers["TotalSpend"].sum())
    assert numbers["AvgOrderValue"] == pytest.approx(customers["TotalSpend"].sum() / customers["NumPurchases"].sum())
    text = views.kpi_html(numbers)
    assert f"{len(customers):,}" in text and "Data period" in text


def test_summary_matches_the_model_profile_on_all_customers(sample_segmented, sample_model):
    summary = views.segment_summary(sample_segmented)
    assert list(summary.columns) == views.SUMMARY_COLUMNS
    assert summary["Customers"].sum() == len(sample_segmented)
    assert summary["Share"].sum() == pytest.approx(1.0)
    profile = sample_model.profile_.loc[summary.index]
    np.testing.assert_allclose(summary["AvgTotalSpend"], profile["AvgTotalSpend"])
    np.testing.assert_allclose(summary["SumTotalSpend"], profile["SumTotalSpend"])
    assert summary["SumTotalSpend"].is_monotonic_decreasing


def test_summary_of_a_filtered_view_has_only_those_segments(sample_segmented):
    names = sorted(sample_segmented["Segment"].unique())[:2]
    summary = views.segment_summary(views.filter_customers(sample_segmented, Filters(segments=tuple(names))))
    assert sorted(summary["Segment"]) == names


def test_segment_centres_keep_the_scale_of_the_window(sample_segmented):
    all_centres = views.segment_centres(sample_segmented, sample_segmented)
    one = sample_segmented[sample_segmented["Cluster"] == all_centres.index[0]]
    only = views.segment_centres(sample_segmented, one)
    assert list(only.index) == [all_centres.index[0]]
    np.testing.assert_allclose(only.iloc[0], all_centres.iloc[0])


def test_compare_segments(sample_segmented):
    a, b = sorted(sample_segmented["Segment"].unique())[:2]
    table = views.compare_segments(sample_segmented, a, b)
    assert list(table.columns) == [f"A: {a}", f"B: {b}", "Difference", "Difference %"]
    sa, sb = (sample_segmented[sample_segmented["Segment"] == n] for n in (a, b))
    assert table.loc["Customers", f"A: {a}"] == len(sa)
    assert table.loc["Avg spend", "Difference"] == pytest.approx(sb["TotalSpend"].mean() - sa["TotalSpend"].mean())
    html = views.comparison_html(table)
    assert a in html and b in html and "Difference" in html


def test_compare_a_segment_missing_from_the_view(sample_segmented):
    a = sample_segmented["Segment"].iloc[0]
    table = views.compare_segments(sample_segmented[sample_segmented["Segment"] == a], a, "Nobody")
    assert table.loc["Customers", "B: Nobody"] == 0
    assert np.isnan(table.loc["Avg spend", "B: Nobody"])


# ------------------------------------------------------------------ table and CSV

def test_customer_table_sorts_and_pages(sample_segmented):
    table = views.customer_table(sample_segmented, "TotalSpend", ascending=False)
    assert list(table.columns) == views.TABLE_COLUMNS
    assert table["TotalSpend"].is_monotonic_decreasing and len(table) == len(sample_segmented)
    rows, page, n_pages = views.table_page(table, 3, 25)
    assert page == 3 and n_pages == -(-len(table) // 25)
    pd.testing.assert_frame_equal(rows, table.iloc[50:75])
    assert views.table_page(table, 10_000, 25)[1] == n_pages
    assert views.table_page(table, -1, 25)[1] == 1
    ascending = views.customer_table(sample_segmented, "CustomerID", ascending=True)
    assert ascending["CustomerID"].is_monotonic_increasing


def test_download_is_exactly_the_filtered_table(sample_segmented):
    shown = views.filter_customers(sample_segmented, Filters(country="Germany"))
    table = views.customer_table(shown, "Recency", ascending=True)
    link = views.download_link_html(table)
    href = link.split('href="', 1)[1].split('"', 1)[0]
    downloaded = _decode(href)
    assert list(downloaded.columns) == list(table.columns)
    assert downloaded["CustomerID"].tolist() == table["CustomerID"].astype(str).tolist()
    np.testing.assert_allclose(downloaded["TotalSpend"], table["TotalSpend"])
    assert f'data-rows="{len(table)}"' in link


def test_download_neutralises_formulas():
    frame = pd.DataFrame({"CustomerID": ["=1+1"], "Segment": ["VIP"], "TotalSpend": [-5.0]})
    downloaded = _decode(views.csv_data_uri(frame))
    assert downloaded.loc[0, "CustomerID"] == "'=1+1" and downloaded.loc[0, "TotalSpend"] == -5.0


def test_table_html_shows_the_rows(sample_segmented):
    rows = views.customer_table(sample_segmented).head(3)
    text = views.table_html(rows)
    assert text.count("<tr>") == 4 and all(cid in text for cid in rows["CustomerID"])


# ------------------------------------------------------------------ theme

def test_theme_css_switches_colours():
    light, dark = views.theme_css("light"), views.theme_css("dark")
    assert light.startswith("<style") and dark.startswith("<style")
    assert "--jp-layout-color0: #ffffff" in light and "--jp-layout-color0: #111111" in dark
    assert views.plotly_template("dark") == "plotly_dark" and views.plotly_template("light") == "plotly_white"
    with pytest.raises(ValueError):
        views.theme_css("purple")


# ------------------------------------------------------------------ model card, scoring

def test_model_card_html(sample_data, sample_model):
    card = views.provisional_card(sample_model, sample_data.training_info())
    text = views.model_card_html(card, "status here")
    assert "K = 5" in text and "silhouette" in text and "status here" in text
    assert "1,997 customers" in text or f"{len(sample_data.customers):,} customers" in text


def test_score_upload_of_transactions(sample_csv, sample_model, sample_data):
    scored = views.score_upload(Path(sample_csv).read_bytes(), "new.csv", sample_model)
    assert len(scored) == len(sample_data.customers)
    assert set(scored["Segment"]) <= set(sample_model.segment_names_.values())


def test_score_upload_of_customers(sample_data, sample_model):
    table = sample_data.customers.head(20).reset_index()
    scored = views.score_upload(table.to_csv(index=False).encode(), "customers.csv", sample_model)
    assert len(scored) == 20 and scored["Segment"].notna().all()


@pytest.mark.parametrize("name, content, words", [
    ("notes.txt", b"hello", "not a CSV or XLSX"),
    ("empty.csv", b"", "empty"),
    ("garbage.csv", b"a,b\n1,2\n", "garbage.csv"),
    ("broken.xlsx", b"PK\x03\x04 this is no workbook", "broken.xlsx"),
])
def test_score_upload_bad_files_give_one_sentence(sample_model, name, content, words):
    with pytest.raises(SegkitDataError) as info:
        views.score_upload(content, name, sample_model)
    message = str(info.value)
    assert words in message and "Traceback" not in message and "\n" not in message


# ------------------------------------------------------------------ the widget app, driven from Python

@pytest.fixture()
def dashboard(sample_data, tmp_path):
    from segkit.dashboard import Dashboard

    return Dashboard(sample_data, artifacts=tmp_path / "artifacts")


def _summary_rows(dash) -> int:
    return dash.summary.value.count("<tr>") - 1


def test_dashboard_trains_on_the_fly_and_saves(dashboard, tmp_path, sample_data):
    from segkit.artifacts import read_model_card
    from segkit.workflow import model_fits_data

    assert not dashboard.saved and "Not saved" in dashboard.card_html.value
    assert dashboard.save_button.layout.display != "none"
    assert "Recommended K" in dashboard.k_view.value
    dashboard.save_button.click()
    card = read_model_card(tmp_path / "artifacts")
    assert model_fits_data(card, sample_data)
    assert dashboard.saved and dashboard.save_button.layout.display == "none"

    from segkit.dashboard import Dashboard

    again = Dashboard(sample_data, artifacts=tmp_path / "artifacts")
    assert again.saved and "Using the saved model" in again.card_html.value


def test_dashboard_filters_drive_every_view(dashboard):
    before = (dashboard.summary.value, dashboard.kpis.value, dashboard.download.value,
              sum(len(t.x) for t in dashboard.scatter2d.data))
    dashboard.segment_filter.value = dashboard.segment_filter.options[:1]
    after = (dashboard.summary.value, dashboard.kpis.value, dashboard.download.value,
             sum(len(t.x) for t in dashboard.scatter2d.data))
    assert all(b != a for b, a in zip(before, after))
    assert _summary_rows(dashboard) == 1
    # Traces of hidden segments stay in the chart, emptied, so showing them again is one update.
    assert sum(len(t.x) > 0 for t in dashboard.scatter2d.data) == 1
    dashboard.segment_filter.value = dashboard.segment_filter.options
    assert sum(len(t.x) > 0 for t in dashboard.scatter2d.data) == len(dashboard.segment_filter.options)

    for change in (lambda d: setattr(d.country_filter, "value", "Germany"),
                   lambda d: setattr(d.spend_min, "value", "1000"),
                   lambda d: setattr(d.date_start, "value", date(2011, 9, 1)),
                   lambda d: setattr(d.category_filter, "value", "Christmas")):
        dashboard._reset_filters()
        before = dashboard.summary.value
        change(dashboard)
        assert dashboard.message.value == ""
        assert dashboard.summary.value != before


def test_dashboard_bad_input_gives_a_message(dashboard):
    dashboard.spend_min.value = "lots"
    assert "not an amount" in dashboard.message.value
    dashboard.spend_min.value = ""
    dashboard.date_start.value = date(2011, 12, 1)
    dashboard.date_end.value = date(2011, 1, 1)
    assert "start date is after the end date" in dashboard.message.value


def test_dashboard_download_matches_the_table(dashboard):
    dashboard.country_filter.value = "France"
    dashboard.sort_by.value = "Recency"
    dashboard.sort_order.value = "Ascending"
    href = dashboard.download.value.split('href="', 1)[1].split('"', 1)[0]
    downloaded = _decode(href)
    shown = views.customer_table(dashboard.shown, "Recency", ascending=True)
    assert downloaded["CustomerID"].tolist() == shown["CustomerID"].astype(str).tolist()
    assert (downloaded["Country"] == "France").all()


def test_dashboard_theme_switch(dashboard):
    dashboard.theme_switch.value = "Dark"
    assert 'data-seg-theme="dark"' in dashboard.style.value
    assert all(fig.layout.template.layout.paper_bgcolor == "rgb(17,17,17)" for fig in dashboard.figures.values())
    dashboard.theme_switch.value = "Light"
    assert dashboard.scatter2d.layout.template.layout.paper_bgcolor == "white"


def test_dashboard_compare_and_pages(dashboard):
    a, b = dashboard.segment_names[:2]
    dashboard.compare_a.value, dashboard.compare_b.value = a, b
    assert f"A: {a}" in dashboard.compare_table.value and f"B: {b}" in dashboard.compare_table.value
    assert {t.name for t in dashboard.compare_chart.data} == {a, b}
    first = dashboard.table.value
    dashboard.next_page.click()
    assert dashboard.page == 2 and dashboard.table.value != first
    dashboard.prev_page.click()
    assert dashboard.page == 1 and dashboard.table.value == first


def test_dashboard_upload_good_and_bad(dashboard, sample_csv):
    content = Path(sample_csv).read_bytes()
    dashboard.upload.value = ({"name": "new.csv", "type": "text/csv", "size": len(content),
                               "content": memoryview(content), "last_modified": datetime(2024, 1, 1)},)
    assert "Scored" in dashboard.upload_result.value and "seg-download-link" in dashboard.upload_result.value
    dashboard.upload.value = ({"name": "bad.csv", "type": "text/csv", "size": 8,
                               "content": memoryview(b"x,y\n1,2\n"), "last_modified": datetime(2024, 1, 1)},)
    assert "seg-error" in dashboard.upload_result.value and "bad.csv" in dashboard.upload_result.value
    dashboard.country_filter.value = "Germany"  # the session keeps working
    assert dashboard.message.value == "" and "Germany" in dashboard.table.value


def test_dashboard_retrain(dashboard):
    dashboard.evaluate_button.click()
    assert "Recommended K" in dashboard.retrain_status.value
    dashboard.k_choice.value = 3
    dashboard.retrain_button.click()
    assert dashboard.model.n_clusters == 3 and "Retrained with K = 3" in dashboard.retrain_status.value
    assert len(dashboard.segment_filter.options) == 3 and _summary_rows(dashboard) == 3


def test_build_app_reports_a_bad_file(tmp_path):
    from segkit.dashboard import build_app

    bad = tmp_path / "sales.csv"
    bad.write_text("Date,Amount\n2011-01-01,3\n")
    page = build_app(bad, artifacts=tmp_path)
    assert "seg-error" in page.value and "sales.csv" in page.value


def test_figure_widget_class_loads_the_served_bundle():
    import plotly.graph_objects as go

    from segkit.dashboard import figure_widget_class

    assert figure_widget_class("") is go.FigureWidget
    served = figure_widget_class("templates/segkit/static/plotly-widget.js")
    assert issubclass(served, go.FigureWidget)
    widget = served()
    assert len(widget._esm) < 1000 and "templates/segkit/static/plotly-widget.js" in widget._esm


# ------------------------------------------------------------------ serving

def test_voila_command_and_environment(tmp_path):
    from segkit import serve

    command = serve.voila_command(9999, open_browser=False)
    assert command[1:3] == ["-m", "voila"] and command[3].endswith("dashboard.ipynb")
    for option in ("--port=9999", "--Voila.ip=127.0.0.1", "--preheat_kernel=True", "--show_tracebacks=False",
                   "--no-browser", "--template=segkit"):
        assert option in command
    env = serve.voila_environment({"SEGKIT_CACHE": str(tmp_path), "JUPYTER_PATH": "/elsewhere"})
    paths = env["JUPYTER_PATH"].split(":")
    assert paths[0] == str(serve.TEMPLATE_ROOT) and paths[-1] == "/elsewhere"
    bundle = Path(paths[1]) / "voila" / env[serve.PLOTLY_BUNDLE_ENV]
    assert bundle.is_file() and bundle.stat().st_size > 1_000_000
    assert (serve.TEMPLATE_ROOT / "voila" / "templates" / "segkit" / "index.html.j2").is_file()


def test_serve_rejects_a_bad_port(capsys):
    from segkit import serve

    with pytest.raises(SystemExit):
        serve.main(["--port", "eighty"])
    assert "not a port number" in capsys.readouterr().err


# ------------------------------------------------------------------ real data

@pytest.mark.real_data
def test_real_data_views(real_data):
    model, _ = train_model(real_data, 4)
    segmented = views.segment_customers(model, real_data.customers)
    summary = views.segment_summary(segmented)
    assert summary["Customers"].sum() == len(real_data.customers) and len(summary) == 4
    uk = views.filter_customers(segmented, Filters(country="United Kingdom"))
    assert 0.8 < len(uk) / len(segmented) < 0.95
    categories = views.line_categories(real_data.lines)
    christmas = views.customers_in_window(real_data.lines, real_data.customers, categories, category="Christmas")
    assert 0 < len(christmas) < len(real_data.customers)
    december = views.customers_in_window(real_data.lines, real_data.customers, categories,
                                         date(2011, 12, 1), date(2011, 12, 9))
    assert december["Recency"].max() <= 9
    table = views.customer_table(uk)
    assert len(_decode(views.csv_data_uri(table))) == len(uk)


@pytest.mark.real_data
def test_real_data_dashboard(real_data, tmp_path):
    from segkit.dashboard import Dashboard

    dash = Dashboard(real_data, artifacts=tmp_path)
    assert not dash.saved and "Online Retail" not in dash.banner.value and dash.banner.value == ""
    before = dash.summary.value
    dash.category_filter.value = "Bags"
    assert dash.message.value == "" and dash.summary.value != before


def test_segment_centres_from_cached_z_scores(sample_segmented):
    mask = (sample_segmented["Country"] == "Germany").to_numpy()
    shown = sample_segmented[mask]
    z = views.window_z_scores(sample_segmented)
    pd.testing.assert_frame_equal(views.segment_centres(sample_segmented, shown, mask, z),
                                  views.segment_centres(sample_segmented, shown), check_names=False, atol=1e-12)


def test_compare_histograms_are_shares_per_segment(sample_segmented):
    from segkit import plots

    a, b = sorted(sample_segmented["Segment"].unique())[:2]
    figure = plots.compare_histograms(sample_segmented, (a, b), "TotalSpend")
    assert [t.name for t in figure.data] == [a, b]
    for trace in figure.data:
        assert sum(trace.y) == pytest.approx(100.0) and len(trace.y) == 40


def test_voila_command_limits_uploads_and_culls_idle_kernels():
    import json as _json

    from segkit import serve

    command = serve.voila_command(9999, open_browser=False, env={"SEGKIT_MAX_UPLOAD_MB": "3",
                                                                  "SEGKIT_CULL_IDLE_SECONDS": "900"})
    settings = [c for c in command if c.startswith("--Voila.tornado_settings=")]
    assert len(settings) == 1
    limit = _json.loads(settings[0].split("=", 1)[1])["websocket_max_message_size"]
    assert limit == 2 * 3 * 2**20 + 2**20 and isinstance(limit, int)
    for option in ("--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=60",
                   "--MappingKernelManager.cull_connected=False", "--VoilaExecutor.iopub_timeout=120",
                   "--VoilaConfiguration.file_allowlist=(?!)"):
        assert option in command
    assert serve.max_upload_bytes({}) == 50 * 2**20
    with pytest.raises(ValueError, match="SEGKIT_MAX_UPLOAD_MB"):
        serve.max_upload_bytes({"SEGKIT_MAX_UPLOAD_MB": "lots"})


def test_dashboard_refuses_an_upload_above_the_limit(sample_data, tmp_path, monkeypatch):
    from segkit.dashboard import Dashboard

    monkeypatch.setenv("SEGKIT_MAX_UPLOAD_MB", "0.001")  # 1,048 bytes
    dash = Dashboard(sample_data, artifacts=tmp_path / "artifacts")
    content = b"x" * 1100
    dash.upload.value = ({"name": "big.csv", "type": "text/csv", "size": len(content), "content": memoryview(content),
                          "last_modified": datetime(2024, 1, 1)},)
    assert "seg-upload-too-large" in dash.upload_result.value and "big.csv" in dash.upload_result.value
    assert dash.upload.value == ()


def test_large_parquet_logs_are_aggregated_out_of_core(tmp_path, monkeypatch):
    from segkit.dashboard import Dashboard, OutOfCoreData, load_dashboard_data
    from segkit.sample import write_large_log

    log = write_large_log(tmp_path / "log.parquet", 60_000, seed=3)
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_LARGE_LOG_LINES", "50000")
    data = load_dashboard_data(log)
    assert isinstance(data, OutOfCoreData) and data.n_lines == 60_000
    assert list((tmp_path / "cache").glob("customers-log-*.parquet"))
    from segkit.workflow import load_customer_data

    in_memory = load_customer_data(log).customers
    assert len(data.customers) == len(in_memory) and data.period[1] == in_memory["LastPurchase"].max()
    dash = Dashboard(data, artifacts=tmp_path / "artifacts")
    assert dash.date_start.disabled and dash.category_filter.disabled
    before = dash.summary.value
    dash.country_filter.value = dash.country_filter.options[1]
    assert dash.message.value == "" and dash.summary.value != before
    import segkit.dashboard

    monkeypatch.setattr(segkit.dashboard, "EAGER_DOWNLOAD_ROWS", 100)  # the "Prepare CSV" path
    dash.country_filter.value = "All"
    assert dash.download.value == "" and dash.prepare_download.layout.display == "" and not dash.big_download.content
    dash.prepare_download.click()
    downloaded = pd.read_csv(io.BytesIO(dash.big_download.content), dtype={"CustomerID": str})
    assert dash.big_download.rows == len(downloaded) == len(data.customers)
    assert downloaded["CustomerID"].tolist() == dash.customer_rows["CustomerID"].astype(str).tolist()


def test_serve_with_a_token_turns_away_visitors_without_it(tmp_path):
    """`python -m segkit.serve --token=...`: the page needs ?token=, a wrong one is refused."""
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from segkit import serve

    port = serve.free_port()
    env = {**os.environ, "SEGKIT_ARTIFACTS": str(tmp_path), "SEGKIT_DATA": ""}
    process = subprocess.Popen([sys.executable, "-m", "segkit.serve", f"--port={port}", "--no-browser",
                                "--token=s3cret-token"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=serve.PROJECT_ROOT)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def status(query: str) -> int:
        try:
            return opener.open(f"http://127.0.0.1:{port}/{query}", timeout=60).status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                code = status("?token=s3cret-token")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(1)
        assert code == 200
        assert status("") in (302, 403)
        assert status("?token=wrong") in (302, 403)
    finally:
        process.terminate()
        process.wait(timeout=30)
