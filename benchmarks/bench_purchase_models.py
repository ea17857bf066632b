"""BG/NBD, MBG/NBD and Pareto/NBD on the real data: which P(alive) tells who is still buying?

For the whole log and for a calibration period (purchases before the cut-off, the rest as
holdout) each purchase model is fitted by maximum likelihood (pymc-marketing,
``fit(method="map")`` with flat priors) and, for BG/NBD and MBG/NBD, checked against
scipy's optimiser on the closed-form log-likelihood (``segkit.value.clv.log_likelihood``), with
the log-likelihood lost when the mean dropout chance per purchase day is held at 10 %.
Reported per model: parameters (days), log-likelihood, P(alive) quantiles and the share
below 0.5; on the holdout: ROC AUC of P(alive) at the cut-off for "bought again in the
holdout", expected against actual purchase days (total) and Spearman per customer.

Usage (about 1.5 minutes on 2 cores with a warm pytensor cache):
    python benchmarks/bench_purchase_models.py [--data PATH] [--cutoff 2011-09-01] [--no-pareto] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.metrics import roc_auc_score

from segkit.pipeline.workflow import load_customer_data
from segkit.value import clv

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "online_retail.parquet"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def scipy_ml(rfm: pd.DataFrame, model: str, start: dict[str, float]) -> tuple[dict[str, float], float]:
    """Maximum likelihood by scipy (log-parameters, Nelder-Mead then L-BFGS-B) from ``start``."""
    names = ("r", "alpha", "a", "b")

    def negative(log_values: np.ndarray) -> float:
        params = {"purchase_model": model, model: dict(zip(names, np.exp(log_values)))}
        value = -clv.log_likelihood(rfm, params).sum()
        return value if np.isfinite(value) else 1e300

    x0 = np.log([start[n] for n in names])
    first = minimize(negative, x0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-8})
    best = minimize(negative, first.x, method="L-BFGS-B")
    if best.fun > first.fun:
        best = first
    return dict(zip(names, map(float, np.exp(best.x)))), float(-best.fun)


def cost_of_dropout(rfm: pd.DataFrame, model: str, best: float, share: float = 0.1) -> float:
    """Log-likelihood lost when the mean dropout chance per purchase day, a / (a + b), is
    held at ``share`` (r, alpha and a + b free): how firmly the data reject dropout."""
    def negative(log_values: np.ndarray) -> float:
        r, alpha, kappa = np.exp(log_values)
        values = {"r": r, "alpha": alpha, "a": share * kappa, "b": (1 - share) * kappa}
        value = -clv.log_likelihood(rfm, {"purchase_model": model, model: values}).sum()
        return value if np.isfinite(value) else 1e300

    held = max(-minimize(negative, np.log([0.8, 70.0, k]), method="Nelder-Mead",
                         options={"maxiter": 3000, "xatol": 1e-7, "fatol": 1e-6}).fun for k in (0.1, 1.0, 10.0))
    return best - held


def pareto_fit(rfm: pd.DataFrame):
    """Pareto/NBD by pymc-marketing's MAP with flat priors (its ML)."""
    clv._prepare_pytensor()
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import ParetoNBDModel

    data = pd.DataFrame({"customer_id": np.arange(len(rfm)), "frequency": rfm["frequency"].to_numpy(),
                         "recency": rfm["recency"].to_numpy(), "T": rfm["T"].to_numpy()})
    model = ParetoNBDModel(model_config={n: Prior("HalfFlat") for n in ("r", "alpha", "s", "beta")})
    clv._quiet_fit(model, data)
    params = clv._map_estimates(model, ("r", "alpha", "s", "beta"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alive = model.expected_probability_alive(data).values.squeeze()
        # flat priors: the log density without the transforms' Jacobian is the log-likelihood
        point = {f"{n}_log__": np.log(model.idata.posterior[n].values.squeeze()) for n in ("r", "alpha", "s", "beta")}
        ll = float(model.model.compile_logp(jacobian=False)(point))
    return model, data, params, pd.Series(alive, index=rfm.index), ll


def describe(alive: pd.Series, rfm: pd.DataFrame) -> dict:
    one_time_silent = (rfm["frequency"] == 0) & (rfm["T"] > 180)
    recent_repeat = (rfm["frequency"] > 0) & (rfm["T"] - rfm["recency"] <= 30)
    return {"p_alive_quantiles": {f"{int(q * 100)}%": round(float(alive.quantile(q)), 4) for q in QUANTILES},
            "share_below_0.5": round(float((alive < 0.5).mean()), 4),
            "mean_p_alive_one_time_silent_180d": round(float(alive[one_time_silent].mean()), 4),
            "mean_p_alive_recent_repeat_30d": round(float(alive[recent_repeat].mean()), 4)}


def holdout_scores(table: pd.DataFrame, alive: pd.Series, predicted: pd.Series) -> dict:
    bought = (table["actual_purchases"] > 0).astype(int)
    return {"auc_p_alive_bought_again": round(float(roc_auc_score(bought, alive.reindex(table.index))), 4),
            "auc_expected_purchases_bought_again": round(float(roc_auc_score(bought, predicted.reindex(table.index))), 4),
            "expected_purchases": round(float(predicted.sum()), 1),
            "actual_purchases": float(table["actual_purchases"].sum()),
            "total_error": round(float(predicted.sum() / table["actual_purchases"].sum() - 1), 4),
            "spearman_purchases": round(float(predicted.corr(table["actual_purchases"], method="spearman")), 4)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cutoff", default="2011-09-01")
    parser.add_argument("--no-pareto", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    lines = load_customer_data(args.data).lines
    cutoff = pd.Timestamp(args.cutoff)
    periods = {"full": clv.rfm_frame(lines),
               "calibration": clv.rfm_frame(lines[lines["InvoiceDate"] < cutoff], until=cutoff - pd.Timedelta(days=1))}
    report: dict = {"data": Path(args.data).name, "cutoff": args.cutoff, "customers": {k: len(v) for k, v in periods.items()},
                    "one_time_share": {k: round(float((v["frequency"] == 0).mean()), 4) for k, v in periods.items()},
                    "models": {}}
    for period, rfm in periods.items():
        holdout = None
        if period == "calibration":
            holdout = clv.holdout_comparison(lines, cutoff, params=clv.fit_clv(periods["calibration"], "bgnbd"))
            silence = rfm["T"] - rfm["recency"]
            bought = (holdout["actual_purchases"] > 0).astype(int)
            report["auc_days_since_last_purchase"] = round(float(roc_auc_score(bought, -silence.reindex(holdout.index))), 4)
            report["holdout_bought_again_share"] = round(float(bought.mean()), 4)
            report["holdout_days"] = holdout.attrs["holdout_days"]
        for model in ("bgnbd", "mbgnbd"):
            started = time.perf_counter()
            params = clv.fit_clv(rfm, model)
            seconds = time.perf_counter() - started
            found = params[model]
            ll = float(clv.log_likelihood(rfm, params).sum())
            ref, ref_ll = max((scipy_ml(rfm, model, start) for start in (
                {"r": 0.5, "alpha": 10.0, "a": 0.5, "b": 2.0}, found)), key=lambda pair: pair[1])
            alive = clv.p_alive(rfm, params)
            entry = {"params": {k: round(v, 6) for k, v in found.items()}, "log_likelihood": round(ll, 3),
                     "mean_dropout_per_purchase_day": float(f"{found['a'] / (found['a'] + found['b']):.3g}"),
                     "fit_seconds": round(seconds, 1),
                     "scipy_params": {k: float(f"{v:.6g}") for k, v in ref.items()},
                     "scipy_log_likelihood": round(ref_ll, 3),
                     # a and b are not identified when the maximum is at "no dropout": compare likelihoods
                     "log_likelihood_gap_to_scipy": round(ll - ref_ll, 4),
                     "log_likelihood_lost_at_10pct_dropout": round(cost_of_dropout(rfm, model, max(ll, ref_ll)), 1),
                     **describe(alive, rfm)}
            if holdout is not None:
                predicted = clv.expected_purchases(rfm, params, holdout.attrs["holdout_days"])
                entry.update(holdout_scores(holdout, alive, predicted))
            report["models"].setdefault(model, {})[period] = entry
            print(period, model, json.dumps(entry), flush=True)
        if not args.no_pareto:
            started = time.perf_counter()
            fitted, data, params, alive, ll = pareto_fit(rfm)
            entry = {"params": {k: float(f"{v:.6g}") for k, v in params.items()}, "log_likelihood": round(ll, 3),
                     "fit_seconds": round(time.perf_counter() - started, 1), **describe(alive, rfm)}
            if holdout is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    predicted = pd.Series(fitted.expected_purchases(data, future_t=holdout.attrs["holdout_days"])
                                          .values.squeeze(), index=rfm.index)
                entry.update(holdout_scores(holdout, alive, predicted))
            report["models"].setdefault("paretonbd", {})[period] = entry
            print(period, "paretonbd", json.dumps(entry), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "models"}))
    return report


if __name__ == "__main__":
    main()
