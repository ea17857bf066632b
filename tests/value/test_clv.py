"""segkit.value.clv: RFM summary, maximum-likelihood fits (published estimates), closed forms, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segkit import cli
from segkit.errors import SegkitDataError
from segkit.value import clv

CDNOW = Path(__file__).parents[1] / "data" / "cdnow_customers_summary.csv"
PARAMS = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
          "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
#: MBG/NBD on the same CDNOW summary (weeks), as BTYDplus estimates it (the reference
#: lifetimes' ModifiedBetaGeoFitter tests against, to 3 decimals).
MBGNBD_CDNOW = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
MBG_PARAMS = {"purchase_model": "mbgnbd", "mbgnbd": MBGNBD_CDNOW, "gamma_gamma": PARAMS["gamma_gamma"],
              "time_unit": "D"}


def _lines(rows):
    frame = pd.DataFrame(rows, columns=["CustomerID", "InvoiceDate", "TotalPrice"])
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    return frame


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    table = pd.read_csv(CDNOW).set_index("ID")
    return table.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary"})


def test_rfm_frame_counts_purchase_days_to_the_end_of_the_observation():
    lines = _lines([
        ("A", "2011-01-01 09:00", 10.0), ("A", "2011-01-01 15:00", 5.0),  # one purchase day: 15
        ("A", "2011-01-11 10:00", 20.0), ("A", "2011-01-21 10:00", 40.0),
        ("B", "2011-01-05 10:00", 7.0),
        ("C", "2011-02-01 10:00", 99.0),  # after --until: ignored
    ])
    rfm = clv.rfm_frame(lines, until="2011-01-31")
    assert list(rfm.index) == ["A", "B"]
    assert rfm.loc["A"].to_dict() == {"frequency": 2.0, "recency": 20.0, "T": 30.0, "monetary": 30.0}
    assert rfm.loc["B"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 26.0, "monetary": 0.0}
    default_end = clv.rfm_frame(lines)  # the last purchase day, 2011-02-01
    assert default_end.loc["C", "T"] == 0 and default_end.loc["A", "T"] == 31


def test_rfm_frame_with_an_end_before_the_data_says_so():
    with pytest.raises(SegkitDataError, match="No purchases on or before 2010-01-01"):
        clv.rfm_frame(_lines([("A", "2011-01-01", 1.0)]), until="2010-01-01")


@pytest.mark.slow
def test_rfm_frame_equals_pymc_marketings_rfm_summary(sample_data):
    from pymc_marketing.clv.utils import rfm_summary

    lines = sample_data.lines.assign(CustomerID=sample_data.lines["CustomerID"].astype(str),
                                     Day=sample_data.lines["InvoiceDate"].dt.normalize())
    theirs = rfm_summary(lines, "CustomerID", "Day", monetary_value_col="TotalPrice").set_index("customer_id")
    ours = clv.rfm_frame(sample_data.lines)
    theirs = theirs.loc[ours.index.astype(str)]
    for ours_col, their_col in [("frequency", "frequency"), ("recency", "recency"), ("T", "T"), ("monetary", "monetary_value")]:
        np.testing.assert_allclose(ours[ours_col].to_numpy(), theirs[their_col].to_numpy(float), rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module", params=["bgnbd", "mbgnbd", "pareto"])
def cdnow_models(cdnow, request):
    return request.param, clv.fit_models(cdnow, request.param)


@pytest.mark.slow
def test_fit_reproduces_the_published_cdnow_estimates_to_one_percent(cdnow):
    params = clv.fit_clv(cdnow)  # the default purchase model
    assert params["purchase_model"] == "bgnbd"
    for part, published in PARAMS.items():
        if part == "time_unit":
            continue
        for name, value in published.items():
            assert params[part][name] == pytest.approx(value, rel=0.01), f"{part}.{name}"


@pytest.mark.slow
def test_mbgnbd_fit_reproduces_the_btydplus_cdnow_estimates_to_one_percent(cdnow):
    params = clv.fit_clv(cdnow, "mbgnbd")
    assert params["purchase_model"] == "mbgnbd"
    for name, value in MBGNBD_CDNOW.items():
        assert params["mbgnbd"][name] == pytest.approx(value, rel=0.01), name


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_map_with_flat_priors_is_the_maximum_of_the_closed_form_likelihood(cdnow, model):
    from scipy.optimize import minimize

    names = ("r", "alpha", "a", "b")

    def negative(log_values):
        return -clv.log_likelihood(cdnow, {"purchase_model": model, model: dict(zip(names, np.exp(log_values)))}).sum()

    best = minimize(negative, np.log([1.0, 1.0, 1.0, 1.0]), method="Nelder-Mead",
                    options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-9})
    fitted = clv.fit_clv(cdnow, model)[model]
    for name, value in zip(names, np.exp(best.x)):
        assert fitted[name] == pytest.approx(value, rel=1e-3), name
    assert -negative(np.log([fitted[n] for n in names])) >= -best.fun - 1e-3


@pytest.mark.slow
def test_closed_forms_equal_pymc_marketings_predictions(cdnow, cdnow_models):
    model, (purchases, gamma_gamma) = cdnow_models
    params = {"purchase_model": model, model: clv._map_estimates(purchases, clv._PARAM_NAMES[model]),
              "gamma_gamma": clv._map_estimates(gamma_gamma, ("p", "q", "v")), "time_unit": "D"}
    bgnbd = purchases
    data = pd.DataFrame({"customer_id": np.arange(len(cdnow)), "frequency": cdnow["frequency"].to_numpy(),
                         "recency": cdnow["recency"].to_numpy(), "T": cdnow["T"].to_numpy(),
                         "monetary_value": cdnow["monetary"].to_numpy()})
    np.testing.assert_allclose(clv.p_alive(cdnow, params).to_numpy(),
                               bgnbd.expected_probability_alive(data).values.squeeze(), rtol=1e-6)
    for days in (10, 90):
        np.testing.assert_allclose(clv.expected_purchases(cdnow, params, days).to_numpy(),
                                   bgnbd.expected_purchases(data, future_t=days).values.squeeze(), rtol=1e-6)
    np.testing.assert_allclose(clv.expected_spend(cdnow, params).to_numpy(),
                               gamma_gamma.expected_customer_spend(data).values.squeeze(), rtol=1e-6)
    theirs = gamma_gamma.expected_customer_lifetime_value(
        transaction_model=bgnbd, data=data, future_t=12, discount_rate=0.01, time_unit="D").values.squeeze()
    ours = clv.customer_lifetime_value(cdnow, params, horizon_months=12, discount=0.01).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_predictions_from_stored_parameters_need_no_pymc(tmp_path):
    code = (
        "import sys, pandas as pd\n"
        "from segkit.value import clv\n"
        f"params = clv.load_params({str(tmp_path / 'p.json')!r})\n"
        "rfm = pd.DataFrame({'frequency': [0., 3.], 'recency': [0., 30.], 'T': [40., 40.], 'monetary': [0., 20.]})\n"
        "out = clv.predict_clv(rfm, params)\n"
        "assert list(out.columns) == clv.PREDICTION_COLUMNS, out.columns\n"
        "assert not any(m.split('.')[0] in ('pymc', 'pytensor', 'pymc_marketing') for m in sys.modules), 'pymc imported'\n"
    )
    clv.save_params(PARAMS, tmp_path / "p.json")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_closed_forms_behave():
    rfm = pd.DataFrame({"frequency": [0.0, 5.0, 5.0], "recency": [0.0, 35.0, 5.0], "T": [38.0, 38.0, 38.0],
                        "monetary": [0.0, 30.0, 30.0]}, index=["one-off", "recent", "quiet"])
    alive = clv.p_alive(rfm, PARAMS)
    assert alive["one-off"] == 1.0 and alive["recent"] > alive["quiet"]
    # MBG/NBD: a one-time buyer can drop out too, and the longer silent the less likely alive
    mbg = clv.p_alive(rfm, MBG_PARAMS)
    assert 0 < mbg["one-off"] < 1 and mbg["recent"] > mbg["quiet"]
    longer = clv.p_alive(rfm.assign(T=rfm["T"] * 3), MBG_PARAMS)
    assert longer["one-off"] < mbg["one-off"]
    purchases = clv.expected_purchases(rfm, PARAMS, 52)
    assert purchases["recent"] > purchases["quiet"] > 0
    spend = clv.expected_spend(rfm, PARAMS)
    assert spend["one-off"] == pytest.approx(6.25 * 15.44 / 2.74)  # the population mean p v / (q - 1)
    undiscounted = clv.customer_lifetime_value(rfm, PARAMS, horizon_months=3, discount=0.0)
    assert undiscounted.to_numpy() == pytest.approx((clv.expected_purchases(rfm, PARAMS, 90) * spend).to_numpy())
    assert (clv.customer_lifetime_value(rfm, PARAMS, 3, 0.05) < undiscounted).all()


def test_bad_parameters_are_refused_with_a_sentence(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"bgnbd": {"r": 1}}))
    with pytest.raises(SegkitDataError, match="'p.json' must look like"):
        clv.load_params(path)
    bad = {**PARAMS, "bgnbd": {**PARAMS["bgnbd"], "a": -1}}
    with pytest.raises(SegkitDataError, match="bgnbd.a=-1"):
        clv.check_params(bad)
    with pytest.raises(SegkitDataError, match="purchase model 'weibull'"):
        clv.check_params({**MBG_PARAMS, "purchase_model": "weibull"})
    with pytest.raises(SegkitDataError, match="must look like"):  # says Pareto/NBD but holds MBG/NBD values
        clv.check_params({**MBG_PARAMS, "purchase_model": "pareto"})
    with pytest.raises(SegkitDataError, match="must look like"):  # says MBG/NBD but holds BG/NBD values
        clv.check_params({**PARAMS, "purchase_model": "mbgnbd"})
    path.write_text("{not json")
    with pytest.raises(SegkitDataError, match="not valid JSON"):
        clv.load_params(path)


def test_parameter_files_without_a_purchase_model_are_bgnbd(tmp_path):
    """Files written before MBG/NBD became the default still load, and predict as BG/NBD."""
    path = tmp_path / "old.json"
    path.write_text(json.dumps(PARAMS))
    loaded = clv.load_params(path)
    assert loaded["purchase_model"] == "bgnbd" and loaded["bgnbd"] == PARAMS["bgnbd"]
    rfm = pd.DataFrame({"frequency": [0.0, 2.0], "recency": [0.0, 10.0], "T": [60.0, 60.0], "monetary": [0.0, 5.0]})
    assert clv.p_alive(rfm, loaded).tolist() == clv.p_alive(rfm, PARAMS).tolist()
    assert clv.p_alive(rfm, loaded)[0] == 1.0
    clv.save_params(MBG_PARAMS, tmp_path / "new.json")
    assert json.loads((tmp_path / "new.json").read_text())["purchase_model"] == "mbgnbd"


def test_cli_clv_with_stored_parameters(tmp_path, sample_csv, capsys):
    params = tmp_path / "params.json"
    clv.save_params(PARAMS, params)
    out = tmp_path / "clv.csv"
    assert cli.main(["clv", "--data", str(sample_csv), "--params", str(params), "--until", "2011-08-31",
                     "--out", str(out), "--horizon-months", "6", "--discount", "0", "--draws", "0"]) == 0
    table = pd.read_csv(out, dtype={"CustomerID": str})
    assert list(table.columns) == ["CustomerID", "frequency", "recency", "T", "monetary", "p_alive",
                                   "expected_purchases_90d", "clv"]
    assert table["T"].max() <= (pd.Timestamp("2011-08-31") - pd.Timestamp("2010-12-01")).days
    assert table["p_alive"].between(0, 1).all() and (table["clv"] >= 0).all()
    said = capsys.readouterr().out
    assert "BG/NBD parameters from" in said and "MBG/NBD" not in said
    code = cli.main(["clv", "--data", str(sample_csv), "--params", str(params), "--model", "mbgnbd", "--out", str(out)])
    assert code == 2 and "holds BG/NBD parameters, not MBG/NBD" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--until", "2011-13-01"], "--until must be a date"),
    (["--until", "1999-01-01"], "No purchases on or before 1999-01-01"),
    (["--horizon-months", "0"], "--horizon-months must be at least 1"),
    (["--draws", "1"], "--draws must be 0 (no intervals) or at least 2"),
    (["--level", "90"], "--level between 0 and 1"),
    (["--params", "{tmp}/broken.json"], "not valid JSON"),
])
def test_cli_clv_bad_input_exits_2_with_one_line(tmp_path, sample_csv, capsys, extra, message):
    (tmp_path / "broken.json").write_text("{")
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    code = cli.main(["clv", "--data", str(sample_csv), "--out", str(tmp_path / "o.csv"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_cli_clv_fits_and_writes_parameters(tmp_path, sample_csv):
    params, out = tmp_path / "params.json", tmp_path / "clv.csv"
    assert cli.main(["clv", "--data", str(sample_csv), "--params", str(params), "--out", str(out), "--draws", "0"]) == 0
    stored = clv.load_params(params)
    assert set(stored) == {"purchase_model", "bgnbd", "gamma_gamma", "time_unit"}
    assert len(pd.read_csv(out)) > 1000
    assert cli.main(["clv", "--data", str(sample_csv), "--model", "mbgnbd", "--params", str(tmp_path / "mbg.json"),
                     "--out", str(out), "--draws", "0"]) == 0
    assert clv.load_params(tmp_path / "mbg.json")["purchase_model"] == "mbgnbd"


@pytest.mark.real_data
@pytest.mark.slow
def test_p_alive_on_the_real_data(real_data):
    rfm = clv.rfm_frame(real_data.lines)
    params = clv.fit_clv(rfm)
    predicted = clv.predict_clv(rfm, params)
    repeat = predicted[predicted["frequency"] > 0]
    print(params)
    print(repeat["p_alive"].describe(percentiles=[0.01, 0.05, 0.25, 0.5]))
    assert np.isfinite(predicted.to_numpy()).all()
    assert repeat["p_alive"].min() < 0.95 and repeat["p_alive"].std() > 0
    # the longer a repeat customer has been silent, the lower P(alive)
    silence = repeat["T"] - repeat["recency"]
    assert silence.corr(repeat["p_alive"], method="spearman") < -0.5
    assert predicted["clv"].sum() > 0


@pytest.mark.real_data
@pytest.mark.slow
def test_on_the_real_data_maximum_likelihood_finds_no_dropout_with_either_model(real_data):
    """Why P(alive) hardly varies on Online Retail: not a failed fit but the data's maximum.

    BG/NBD and MBG/NBD (which lets one-time buyers drop out) both put the mean dropout
    chance per purchase day below 0.001; forcing 10 % costs many log-likelihood units.
    (benchmarks/bench_purchase_models.py has the full comparison; docs/data-science.md its figures.)
    """
    from scipy.optimize import minimize

    rfm = clv.rfm_frame(real_data.lines)
    for model in ("bgnbd", "mbgnbd"):
        params = clv.fit_clv(rfm, model)
        r, alpha, a, b = (params[model][k] for k in ("r", "alpha", "a", "b"))
        assert a / (a + b) < 0.001, model
        best = float(clv.log_likelihood(rfm, params).sum())

        def forced(log_values, model=model):  # mean dropout chance held at 10 %
            r, alpha, kappa = np.exp(log_values)
            values = {"r": r, "alpha": alpha, "a": 0.1 * kappa, "b": 0.9 * kappa}
            return -clv.log_likelihood(rfm, {"purchase_model": model, model: values}).sum()

        with_dropout = max(-minimize(forced, np.log([r, alpha, k]), method="Nelder-Mead").fun for k in (0.01, 1.0))
        assert best > with_dropout + 15, model
        alive = clv.p_alive(rfm, params)
        assert alive.quantile(0.05) > 0.99, model  # so the page says P(alive) does not tell who is leaving
        if model == "mbgnbd":
            assert alive[rfm["frequency"] == 0].lt(1).all()  # below 1 for one-time buyers, if only just


def test_holdout_comparison_sets_predictions_beside_actuals_and_the_naive_forecast():
    lines = _lines([
        ("A", "2011-01-02", 10.0), ("A", "2011-01-08", 30.0),  # naive window: 2011-01-01 .. 2011-01-10
        ("A", "2011-01-12", 5.0), ("A", "2011-01-12", 5.0), ("A", "2011-01-15", 20.0),  # holdout: 2 days, 30
        ("B", "2010-12-01", 50.0),  # bought before the naive window only
        ("C", "2011-01-13", 70.0),  # new in the holdout
        ("B", "2011-01-20", 1.0),  # the last purchase day: holdout 2011-01-11 .. 2011-01-20 = 10 days
    ])
    table = clv.holdout_comparison(lines, "2011-01-11", params=PARAMS)
    assert table.attrs["holdout_days"] == 10 and table.attrs["new_customers"] == 1
    assert table.attrs["new_customer_spend"] == 70.0
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", ["actual_purchases", "actual_spend", "naive_purchases", "naive_spend"]].tolist() == [2, 30, 2, 40]
    assert table.loc["B", ["actual_purchases", "actual_spend", "naive_purchases", "naive_spend"]].tolist() == [1, 1, 0, 0]
    rfm = clv.rfm_frame(lines[lines["InvoiceDate"] < "2011-01-11"], until="2011-01-10")
    assert table["predicted_purchases"].tolist() == pytest.approx(clv.expected_purchases(rfm, PARAMS, 10).tolist())
    summary = clv.holdout_summary(table, pd.Series({"A": "VIP", "B": "Lost"}))
    assert list(summary.index) == ["All customers", "VIP", "Lost"]
    assert summary.loc["All customers", "actual_spend"] == 31 and summary.loc["VIP", "naive_spend"] == 40
    assert summary.loc["All customers", "naive_purchases_error"] == pytest.approx(2 / 3 - 1)
    with pytest.raises(SegkitDataError, match="cut-off 2012-01-01 must fall"):
        clv.holdout_comparison(lines, "2012-01-01", params=PARAMS)


def test_value_by_segment_sums_clv_per_segment():
    predicted = pd.DataFrame({"clv": [10.0, 30.0, 60.0, 5.0], "p_alive": [1.0, 0.5, 0.9, 0.2],
                              "expected_purchases_90d": [1.0, 2.0, 3.0, 4.0]}, index=["1", "2", "3", "4"])
    table = clv.value_by_segment(predicted, pd.Series({"1": "Lost", "2": "Lost", "3": "VIP"}))
    assert list(table.index) == ["VIP", "Lost"]
    assert table.loc["Lost"].to_dict() == pytest.approx({"Customers": 2, "TotalCLV": 40.0, "MeanCLV": 20.0,
                                                         "CLVShare": 0.4, "MeanPAlive": 0.75, "ExpectedPurchases90d": 3.0})
    assert "TotalCLVLow" not in table


def test_holdout_summary_leaves_spearman_empty_for_a_constant_forecast(recwarn):
    comparison = pd.DataFrame({f"{k}_{w}": [1.0, 2.0, 3.0] for k in ("actual", "predicted", "naive") for w in ("purchases", "spend")},
                              index=["1", "2", "3"])
    comparison["naive_purchases"] = 0.0
    summary = clv.holdout_summary(comparison)
    assert np.isnan(summary.loc["All customers", "spearman_naive_purchases"])
    assert summary.loc["All customers", "spearman_predicted_purchases"] == pytest.approx(1.0)
    assert not recwarn.list


PUBLISHED = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
             "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}


@pytest.mark.parametrize("stored", [PUBLISHED, MBG_PARAMS], ids=["bgnbd-without-purchase-model", "mbgnbd"])
def test_value_parameters_travel_in_model_json_and_reach_every_scored_customer(sample_data, sample_csv, tmp_path,
                                                                               capsys, stored):
    from segkit import cli
    from segkit.pipeline.artifacts import load_artifacts, save_artifacts
    from segkit.pipeline.workflow import train_model
    from segkit.value.clv import customer_value

    model, _ = train_model(sample_data, k=3)
    model.clv_params_ = stored
    save_artifacts(model, tmp_path / "model", sample_data.training_info())
    loaded = load_artifacts(tmp_path / "model")
    name = stored.get("purchase_model", "bgnbd")
    assert loaded.card_["clv"][name]["r"] == stored[name]["r"] and loaded.clv_params_["gamma_gamma"]["v"] == 15.44
    assert loaded.clv_params_["purchase_model"] == name
    out = tmp_path / "scored.csv"
    assert cli.main(["score", "--data", str(sample_csv), "--artifacts", str(tmp_path / "model"), "--out", str(out)]) == 0
    scored = pd.read_csv(out, dtype={"CustomerID": str}).set_index("CustomerID")
    expected = customer_value(sample_data.lines, stored)
    assert scored["CLV"].notna().all() and len(scored) == len(sample_data.customers)
    assert np.allclose(scored["PAlive"], expected["PAlive"].reindex(scored.index), atol=1e-4)
    assert np.allclose(scored["CLV"], expected["CLV"].reindex(scored.index), atol=0.01)
    assert {"Segment", "Recommendation", "PAlive", "ExpectedPurchases90d", "CLV"} <= set(scored.columns)


@pytest.mark.slow
def test_segkit_train_fits_value_into_the_model(sample_csv, tmp_path, monkeypatch, capsys):
    from segkit import cli
    from segkit.pipeline.artifacts import load_artifacts
    from segkit.pipeline.workflow import load_customer_data

    monkeypatch.setenv("SEGKIT_CLV", "1")
    assert cli.main(["train", "--data", str(sample_csv), "--k", "3", "--artifacts", str(tmp_path)]) == 0
    said = capsys.readouterr()
    assert "lifetime value (BG/NBD + Gamma-Gamma" in said.out
    assert "segkit: warning: Gamma-Gamma assumes spend per purchase day is independent" in said.err
    params = load_artifacts(tmp_path).clv_params_
    assert load_artifacts(tmp_path).card_["clv"]["purchase_model"] == "bgnbd"
    assert all(v > 0 for v in {**params["bgnbd"], **params["gamma_gamma"]}.values())
    # The bootstrap draws travel with the model, so scoring gives intervals without refitting.
    assert "100 bootstrap parameter draws stored for 90% intervals" in said.out
    uncertainty = load_artifacts(tmp_path).clv_uncertainty_
    assert len(uncertainty["draws"]) == clv.STORED_DRAWS and uncertainty["independence"]["independent"] is False
    out = tmp_path.parent / f"{tmp_path.name}-scored.csv"
    assert cli.main(["score", "--data", str(sample_csv), "--artifacts", str(tmp_path), "--out", str(out)]) == 0
    scored = pd.read_csv(out, dtype={"CustomerID": str}).set_index("CustomerID")
    assert scored[["CLVLow", "CLV", "CLVHigh"]].notna().all().all()
    assert (scored["CLVLow"] <= scored["CLV"] + 0.01).mean() > 0.95 and (scored["CLVHigh"] >= scored["CLV"] - 0.01).mean() > 0.95
    assert (scored["CLVHigh"] > scored["CLVLow"]).mean() > 0.95
    # the same figures as evaluating the stored draws directly
    lines = load_customer_data(str(sample_csv)).lines
    direct = clv.customer_value(lines, params, samples=uncertainty["draws"])
    assert np.allclose(scored["CLVHigh"], direct["CLVHigh"].reindex(scored.index), atol=0.01)
    assert cli.main(["train", "--data", str(sample_csv), "--k", "3", "--artifacts", str(tmp_path / "b"),
                     "--no-clv"]) == 0
    assert load_artifacts(tmp_path / "b").card_["clv"] is None
    assert cli.main(["train", "--data", str(sample_csv), "--k", "3", "--artifacts", str(tmp_path / "m"),
                     "--clv-model", "mbgnbd"]) == 0
    assert "lifetime value (MBG/NBD + Gamma-Gamma" in capsys.readouterr().out
    assert load_artifacts(tmp_path / "m").card_["clv"]["purchase_model"] == "mbgnbd"


# --- intervals and diagnostics ----------------------------------------

def _simulated_rfm(params: dict, customers: int = 1500, T_max: float = 300.0, seed: int = 1) -> pd.DataFrame:
    """Customers drawn from BG/NBD and Gamma-Gamma themselves (continuous time, days)."""
    generator = np.random.default_rng(seed)
    r, alpha, a, b = (params["bgnbd"][k] for k in ("r", "alpha", "a", "b"))
    p, q, v = (params["gamma_gamma"][k] for k in ("p", "q", "v"))
    rows = []
    for _ in range(customers):
        T = generator.uniform(30, T_max)
        rate, drop = generator.gamma(r, 1 / alpha), generator.beta(a, b)
        t, times = 0.0, []
        while True:
            t += generator.exponential(1 / rate)
            if t > T:
                break
            times.append(t)
            if generator.random() < drop:
                break
        nu = generator.gamma(q, 1 / v)
        spend = generator.gamma(p, 1 / nu, size=len(times)).mean() if times else 0.0
        rows.append((float(len(times)), times[-1] if times else 0.0, T, spend))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary"],
                        index=pd.Index([str(i) for i in range(customers)], name="CustomerID"))


SIMULATED = {"purchase_model": "bgnbd", "bgnbd": {"r": 0.8, "alpha": 40.0, "a": 0.8, "b": 3.0},
             "gamma_gamma": {"p": 3.0, "q": 4.0, "v": 200.0}, "time_unit": "D"}


@pytest.fixture(scope="module")
def simulated():
    return _simulated_rfm(SIMULATED)


def test_gamma_gamma_log_likelihood_is_at_its_maximum_for_the_published_cdnow_estimates(cdnow):
    """The closed form the bootstrap refits: Fader & Hardie's CDNOW estimates are its maximum."""
    published = np.array([6.25, 3.74, 15.44])
    repeat = cdnow[(cdnow["frequency"] > 0) & (cdnow["monetary"] > 0)]
    best = clv._refit(lambda v: clv._spend_log_likelihood(v, repeat["frequency"].to_numpy(float),
                                                          repeat["monetary"].to_numpy(float)),
                      np.array([1.0, 1.0, 1.0]), np.ones(len(repeat)))
    assert best == pytest.approx(published, rel=0.01)
    total = clv.gamma_gamma_log_likelihood(cdnow, {"gamma_gamma": dict(zip("pqv", published))})
    assert len(total) == len(repeat) and np.isfinite(total).all()


@pytest.mark.slow
def test_intervals_per_customer_and_segment_contain_the_fit_and_cover_the_truth(simulated):
    fitted = {"purchase_model": "bgnbd", "time_unit": "D",
              **{part: dict(zip(names, clv._refit(loglik, np.ones(len(names)), np.ones(n)))) for part, names, loglik, n in [
                  ("bgnbd", ("r", "alpha", "a", "b"), lambda v: clv._purchase_log_likelihood(
                      "bgnbd", v, *clv._arrays(simulated)), len(simulated)),
                  ("gamma_gamma", ("p", "q", "v"), lambda v: clv._spend_log_likelihood(
                      v, simulated.loc[simulated["frequency"] > 0, "frequency"].to_numpy(),
                      simulated.loc[simulated["frequency"] > 0, "monetary"].to_numpy()),
                   int((simulated["frequency"] > 0).sum()))]}}
    predicted = clv.predict_clv(simulated, fitted, level=0.9, draws=20)
    assert {"clv_low", "clv_high"} <= set(predicted.columns)
    assert (predicted["clv_low"] <= predicted["clv"] * 1.001).mean() > 0.95
    assert (predicted["clv_high"] >= predicted["clv"] * 0.999).mean() > 0.95
    assert (predicted["clv_high"] > predicted["clv_low"]).all()
    # the true parameters' CLV lies within the interval for most customers
    truth = clv.customer_lifetime_value(simulated, SIMULATED)
    inside = (predicted["clv_low"] <= truth) & (truth <= predicted["clv_high"])
    assert inside.mean() > 0.5
    draws = clv.clv_draws(simulated, fitted, draws=20)
    segments = pd.Series(np.where(simulated["frequency"] > 3, "VIP", "Budget"), index=simulated.index)
    table = clv.value_by_segment(predicted, segments, draws=draws)
    for name in ("VIP", "Budget"):
        row = table.loc[name]
        assert row["TotalCLVLow"] < row["TotalCLV"] < row["TotalCLVHigh"]
        assert row["MeanCLVLow"] == pytest.approx(row["TotalCLVLow"] / row["Customers"])
    # a segment's interval is narrower than the sum of its customers' intervals (the draws move together)
    vip = segments == "VIP"
    assert table.loc["VIP", "TotalCLVHigh"] - table.loc["VIP", "TotalCLVLow"] < (
        predicted.loc[vip, "clv_high"] - predicted.loc[vip, "clv_low"]).sum()
    with pytest.raises(SegkitDataError, match="one row per customer"):
        clv.value_by_segment(predicted, segments, draws=draws[:10])
    with pytest.raises(SegkitDataError, match="level must be between 0 and 1"):
        clv.predict_clv(simulated, fitted, level=90, draws=2)


def test_the_page_says_what_the_value_ranges_mean_and_warns_in_plain_words(sample_data):
    from segkit.dashboard.value_panel import value_range_note

    rfm = clv.rfm_frame(sample_data.lines)
    uncertainty = clv.value_uncertainty(rfm, PARAMS, draws=3)
    note = value_range_note(uncertainty)
    assert "Lifetime value ranges (low – high) hold 90% of the values" in note
    assert "not how much a single customer may really spend" in note
    check = uncertainty["independence"]
    assert ("customers who buy more often also spend" in note) is (not check["independent"])
    assert "segkit" not in note and "--" not in note  # nothing a viewer cannot act on
    independent = dict(uncertainty, independence=dict(check, independent=True))
    assert "customers who buy more often" not in value_range_note(independent)
    assert value_range_note(None) == "" and value_range_note({"draws": []}) == ""


def test_customer_value_carries_clv_low_and_high(sample_data):
    table = clv.customer_value(sample_data.lines, PARAMS, level=0.9, draws=3)
    assert {"CLVLow", "CLVHigh"} <= set(table.columns)
    assert (table["CLVLow"] <= table["CLVHigh"]).all()


def test_period_transactions_are_probabilities_that_match_simulated_customers(simulated):
    table = clv.period_transactions(simulated, SIMULATED, max_frequency=7)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["Predicted"].sum() == pytest.approx(len(simulated))
    assert table["Observed"].sum() == len(simulated)
    assert (table["Predicted"] > 0).all()
    # customers drawn from the model itself: each count within 15 % (and 25 customers) of the expectation
    assert np.all(np.abs(table["Observed"] - table["Predicted"]) < np.maximum(25, 0.15 * table["Predicted"]))
    # the probabilities of x purchases in t sum to 1 for MBG/NBD too
    mbg = {**MBG_PARAMS, "gamma_gamma": SIMULATED["gamma_gamma"]}
    assert clv.period_transactions(simulated, mbg, max_frequency=60)["Predicted"].iloc[:-1].sum() == pytest.approx(
        len(simulated), rel=0.02)


def test_frequency_recency_matrix_shows_p_alive_falling_with_silence():
    rfm = pd.DataFrame({"frequency": [0.0, 4.0, 10.0], "recency": [0.0, 100.0, 200.0], "T": [300.0] * 3,
                        "monetary": [0.0, 10.0, 10.0]})
    alive, purchases = clv.frequency_recency_matrix(rfm, PARAMS, days=90, max_frequency=10, recency_points=4)
    assert list(alive.index) == list(range(11)) and list(alive.columns) == [0, 100, 200, 300]
    assert alive.loc[0, 0] == 1.0 and np.isnan(alive.loc[0, 100]) and np.isnan(alive.loc[5, 0])
    assert alive.loc[5, 300] > alive.loc[5, 100]  # bought recently: more likely alive
    assert purchases.loc[10, 300] > purchases.loc[2, 300] > 0


def test_gamma_gamma_independence_fails_when_spend_rises_with_frequency():
    generator = np.random.default_rng(0)
    frequency = generator.integers(1, 30, 3000).astype(float)
    independent = pd.DataFrame({"frequency": frequency, "recency": 100.0, "T": 200.0,
                                "monetary": generator.gamma(2.0, 20.0, 3000)})
    check = clv.gamma_gamma_independence(independent)
    assert check["independent"] and abs(check["spearman"]) <= clv.INDEPENDENCE_THRESHOLD
    dependent = independent.assign(monetary=independent["monetary"] * (1 + frequency / 5))
    check = clv.gamma_gamma_independence(dependent)
    assert not check["independent"] and check["spearman"] > 0.1 and "frequent buyers spend more" in check["message"]
    assert check["message"].endswith(".") and "\n" not in check["message"] and check["customers"] == 3000


def test_calibration_and_spend_ratio_in_plain_words():
    comparison = pd.DataFrame({"frequency": [0.0, 0.0, 1.0, 9.0],
                               "actual_purchases": [1.0, 0.0, 2.0, 10.0], "predicted_purchases": [0.5, 0.5, 1.0, 8.0],
                               "naive_purchases": [0.0, 0.0, 1.0, 9.0],
                               "actual_spend": [10.0, 0.0, 40.0, 400.0], "predicted_spend": [50.0, 5.0, 10.0, 240.0],
                               "naive_spend": [0.0, 0.0, 20.0, 300.0]}, index=["1", "2", "3", "4"])
    calibration = clv.calibration_by_frequency(comparison, max_frequency=7)
    assert list(calibration.index) == ["0", "1", "7+"]
    assert calibration.loc["0"].to_dict() == pytest.approx({"Customers": 2, "ActualPurchases": 0.5,
                                                            "PredictedPurchases": 0.5, "Ratio": 1.0})
    assert calibration.loc["7+", "Ratio"] == pytest.approx(0.8)
    summary = clv.holdout_summary(comparison, pd.Series({"4": "VIP", "1": "Budget", "2": "Budget", "3": "Budget"}))
    ratios = clv.spend_ratio_by_segment(summary)
    assert ratios.loc["VIP", "SpendRatio"] == pytest.approx(0.6)
    assert ratios.loc["VIP", "SpendPerPurchaseRatio"] == pytest.approx(30 / 40)
    assert ratios.loc["VIP", "Reading"] == ("VIP: predicted spend 0.60 times the actual (40% under-forecast); "
                                            "purchase days 20% under-forecast, spend per purchase day 25% under-forecast.")
    assert ratios.loc["Budget", "Reading"] == ("Budget: predicted spend 1.30 times the actual (30% over-forecast); "
                                               "purchase days 33% under-forecast, spend per purchase day 95% "
                                               "over-forecast.")


@pytest.mark.slow
def test_cli_clv_writes_intervals_and_diagnostics_and_warns(tmp_path, sample_csv, capsys):
    out, folder = tmp_path / "clv.csv", tmp_path / "diag"
    assert cli.main(["clv", "--data", str(sample_csv), "--out", str(out), "--draws", "10",
                     "--diagnostics", str(folder), "--holdout-days", "60"]) == 0
    table = pd.read_csv(out, dtype={"CustomerID": str})
    assert list(table.columns)[-3:] == ["clv", "clv_low", "clv_high"]
    assert (table["clv_low"] <= table["clv_high"]).all()
    names = {p.name for p in folder.iterdir()}
    assert names == {"calibration_by_frequency.csv", "period_transactions.csv", "p_alive_matrix.csv",
                     "expected_purchases_90d_matrix.csv", "gamma_gamma_independence.csv", "holdout_summary.csv",
                     "spend_ratio_by_segment.csv", "summary.txt"}
    period = pd.read_csv(folder / "period_transactions.csv")
    assert period["Observed"].sum() == len(table)
    said = capsys.readouterr()
    assert "segkit: warning: Gamma-Gamma assumes spend per purchase day is independent" in said.err
    assert "checked on the 60 days" in said.out and "times the actual" in said.out
    assert cli.main(["clv", "--data", str(sample_csv), "--out", str(out), "--draws", "0", "--until", "2011-10-31",
                     "--diagnostics", str(tmp_path / "until"), "--holdout-days", "60"]) == 0
    assert "fitted on the purchases before 2011-09-02, checked on the 60 days" in capsys.readouterr().out


@pytest.mark.real_data
@pytest.mark.slow
def test_on_the_real_data_gamma_gamma_independence_fails_as_measured(real_data):
    check = clv.gamma_gamma_independence(clv.rfm_frame(real_data.lines))
    assert check["pearson"] == pytest.approx(0.13, abs=0.01) and check["spearman"] == pytest.approx(0.21, abs=0.01)
    assert not check["independent"]


#: Pareto/NBD on CDNOW (weeks): Fader, Hardie & Lee (2005), "A note on implementing the
#: Pareto/NBD model in MATLAB": r = 0.5533, alpha = 10.5776, s = 0.6061, beta = 11.6650,
#: log-likelihood -9594.98.
PARETO_CDNOW = {"r": 0.5533, "alpha": 10.5776, "s": 0.6061, "beta": 11.6650}
PARETO_PARAMS = {"purchase_model": "pareto", "pareto": PARETO_CDNOW, "gamma_gamma": PARAMS["gamma_gamma"],
                 "time_unit": "D"}


def test_pareto_log_likelihood_reproduces_the_published_cdnow_value(cdnow):
    assert clv.log_likelihood(cdnow, PARETO_PARAMS).sum() == pytest.approx(-9594.98, abs=0.02)
    alive = clv.p_alive(cdnow, PARETO_PARAMS)
    assert alive.between(0, 1).all() and alive[cdnow["frequency"] == 0].lt(1).all()  # one-time buyers can leave
    assert (clv.expected_purchases(cdnow, PARETO_PARAMS, 39) > 0).all()
    predicted = clv.predict_clv(cdnow, PARETO_PARAMS)
    assert np.isfinite(predicted["clv"]).all()
    period = clv.period_transactions(cdnow, PARETO_PARAMS)
    assert period["Predicted"].sum() == pytest.approx(len(cdnow))
    # the published fit, checked on its own data: each bucket within 10 % (and 30 customers)
    assert np.all(np.abs(period["Observed"] - period["Predicted"]) < np.maximum(30, 0.10 * period["Observed"]))


def test_pareto_period_transactions_without_dropout_are_the_negative_binomial():
    """With a dropout rate near 0 (s = 1, beta = 1e9), Pareto/NBD's repeat purchases by T are
    the negative binomial of a Gamma(r, alpha) Poisson rate: the simulated counts must match
    that closed form (scipy's nbinom, independent of segkit) within their Monte Carlo error."""
    from scipy.stats import nbinom

    T = np.repeat([30.0, 120.0, 365.0], 400)
    r, alpha = 0.8, 20.0
    expected = clv.pareto_expected_counts(T, r, alpha, 1.0, 1e9, max_frequency=6)
    exact = np.zeros(7)
    for t in (30.0, 120.0, 365.0):
        p = alpha / (alpha + t)
        exact[:6] += 400 * nbinom.pmf(np.arange(6), r, p)
        exact[6] += 400 * nbinom.sf(5, r, p)
    assert expected.sum() == pytest.approx(len(T))
    assert np.all(np.abs(expected - exact) < 4 * np.sqrt(exact / 400) + 1.0)


@pytest.mark.slow
def test_pareto_fit_reproduces_the_published_cdnow_estimates_to_one_percent(cdnow):
    params = clv.fit_clv(cdnow, "pareto")
    assert params["purchase_model"] == "pareto"
    for name, value in PARETO_CDNOW.items():
        assert params["pareto"][name] == pytest.approx(value, rel=0.01), name


@pytest.mark.slow
def test_cli_fits_pareto_and_its_diagnostics_simulate_period_transactions(tmp_path, sample_csv, capsys):
    params, folder = tmp_path / "pareto.json", tmp_path / "diag"
    assert cli.main(["clv", "--data", str(sample_csv), "--model", "pareto", "--params", str(params), "--draws", "3",
                     "--out", str(tmp_path / "clv.csv"), "--diagnostics", str(folder)]) == 0
    assert clv.load_params(params)["purchase_model"] == "pareto"
    assert (folder / "period_transactions.csv").exists() and (folder / "p_alive_matrix.csv").exists()
    assert "Period transactions (customers with 0, 1, 2" in capsys.readouterr().out


@pytest.mark.parametrize("model, published", [("bgnbd", PARAMS["bgnbd"]), ("mbgnbd", MBGNBD_CDNOW)])
def test_refit_without_pymc_finds_the_published_cdnow_estimates_from_a_far_start(cdnow, model, published):
    """``refit_clv`` (what the backtest refits at each cut-off) is the maximum likelihood:
    from a start two to three times off it lands on the published estimates."""
    start = {"purchase_model": model, model: {k: v * (2.0 if i % 2 else 0.4) for i, (k, v) in enumerate(published.items())},
             "gamma_gamma": {"p": 2.0, "q": 9.0, "v": 40.0}, "time_unit": "D"}
    params = clv.refit_clv(cdnow, start)
    for name, value in published.items():
        assert params[model][name] == pytest.approx(value, rel=0.01), name
    for name, value in PARAMS["gamma_gamma"].items():
        assert params["gamma_gamma"][name] == pytest.approx(value, rel=0.01), name


def test_holdout_over_a_horizon_counts_only_the_horizon():
    lines = _lines([("A", "2011-01-01", 10.0), ("A", "2011-01-20", 10.0), ("A", "2011-02-10", 7.0),
                    ("A", "2011-03-20", 100.0), ("B", "2011-01-05", 5.0), ("B", "2011-02-05", 3.0)])
    table = clv.holdout_comparison(lines, "2011-02-01", params=PARAMS, horizon_days=30)
    assert table.attrs["holdout_days"] == 30
    assert table["actual_spend"].to_dict() == {"A": 7.0, "B": 3.0}
    whole = clv.holdout_comparison(lines, "2011-02-01", params=PARAMS)
    assert whole["actual_spend"].to_dict() == {"A": 107.0, "B": 3.0} and whole.attrs["holdout_days"] > 30
    assert (whole["predicted_spend"] > table["predicted_spend"]).all()


# --- intervals of groups of customers -----------------------------------------

def _correlated_draws(customers: int = 40, draws: int = 60, seed: int = 3) -> np.ndarray:
    """Customer values that move together from draw to draw (one draw's parameters move
    every customer), plus a little noise of their own."""
    generator = np.random.default_rng(seed)
    base = generator.gamma(2.0, 50.0, customers)
    shared = generator.normal(1.0, 0.03, draws)
    return base[:, None] * shared[None, :] * generator.normal(1.0, 0.1, (customers, draws))


def test_group_intervals_are_the_quantiles_of_each_draws_group_total():
    draws = _correlated_draws()
    groups = np.array(["VIP", "Lost", "Budget", None] * 10, dtype=object)  # None: no segment, left out
    table = clv.value_intervals_by_group(draws, groups)

    frame = pd.DataFrame(draws)
    frame["group"] = groups
    totals = frame.dropna(subset=["group"]).groupby("group").sum()  # groups x draws, by pandas
    expected = totals.quantile([0.05, 0.95], axis=1).T
    assert list(table.index) == sorted(["VIP", "Lost", "Budget"])
    assert table["Low"].to_numpy() == pytest.approx(expected[0.05].reindex(table.index).to_numpy())
    assert table["High"].to_numpy() == pytest.approx(expected[0.95].reindex(table.index).to_numpy())
    # adding up the customers' own bounds gives a wider range: not what a group gets
    lows = pd.Series(np.quantile(draws, 0.05, axis=1)).groupby(groups).sum().reindex(table.index)
    highs = pd.Series(np.quantile(draws, 0.95, axis=1)).groupby(groups).sum().reindex(table.index)
    assert (table["Low"] > lows * 1.02).all() and (table["High"] < highs / 1.02).all()


def test_total_interval_counts_customers_without_value_as_zero():
    draws = _correlated_draws(customers=5, draws=30)
    low, high = clv.total_value_interval(draws, level=0.8)
    sums = pd.DataFrame(draws).sum()
    assert (low, high) == pytest.approx((sums.quantile(0.1), sums.quantile(0.9)))
    with_missing = np.vstack([draws, np.full((1, 30), np.nan)])
    assert clv.total_value_interval(with_missing, level=0.8) == pytest.approx((low, high))
    assert np.isnan(clv.total_value_interval(np.empty((0, 30)))[0])
    with pytest.raises(SegkitDataError, match="one row per customer"):
        clv.value_intervals_by_group(draws, ["a", "b"])


def test_customer_value_and_draws_keeps_the_matrix_behind_the_customer_intervals():
    lines = _lines([("a", "2011-01-03", 20.0), ("a", "2011-02-10", 30.0), ("a", "2011-05-01", 25.0),
                    ("b", "2011-01-20", 80.0), ("b", "2011-04-02", 60.0), ("c", "2011-03-15", 10.0),
                    ("c", "2011-06-30", 5.0)])
    samples = [{"bgnbd": {k: v * f for k, v in PARAMS["bgnbd"].items()}, "gamma_gamma": PARAMS["gamma_gamma"],
                "time_unit": "D"} for f in (0.8, 0.9, 1.0, 1.1, 1.2)]
    value, draws = clv.customer_value_and_draws(lines, PARAMS, samples)
    pd.testing.assert_frame_equal(value, clv.customer_value(lines, PARAMS, samples=samples))
    rfm = clv.rfm_frame(lines)
    assert list(draws.index) == list(value.index) and draws.shape == (3, 5)
    for column, sample in zip(draws, samples):
        assert draws[column].to_numpy() == pytest.approx(clv.customer_lifetime_value(rfm, sample).to_numpy())
    assert value["CLVLow"].to_numpy() == pytest.approx(np.quantile(draws, 0.05, axis=1), abs=0.01)
