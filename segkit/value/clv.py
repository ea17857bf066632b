"""Customer lifetime value: BG/NBD (or MBG/NBD) for purchases, Gamma-Gamma for spend.

The path: clean lines -> ``rfm_frame`` (one row per customer) -> ``fit_clv`` (parameters,
a plain dict) -> ``predict_clv`` (P(alive), expected purchases, CLV per customer).

Conventions (those of Fader, Hardie & Lee and of pymc-marketing's ``rfm_summary``), with
the day as the time unit and a purchase day as the unit of purchase:

- ``frequency``: number of repeat purchase days (purchase days after the first);
- ``recency``: days from the first to the last purchase day;
- ``T``: days from the first purchase day to the end of the observation;
- ``monetary``: mean spend (currency) of the repeat purchase days; 0 without repeats.

Two purchase models share the parameters r, alpha (purchase rate) and a, b (dropout):

- ``"bgnbd"`` (the default), BG/NBD of Fader, Hardie & Lee (2005): dropout only just
  after a repeat purchase, so a customer without one has P(alive) = 1 however long silent;
- ``"mbgnbd"``, MBG/NBD of Batislam, Denizel & Filiztekin (2007): dropout possible after
  every purchase day, the first included, so one-time buyers get P(alive) < 1.

On the Online Retail data (one year) maximum likelihood finds almost no dropout with
either model (nor with Pareto/NBD): the mean dropout chance per purchase day is below
0.001, P(alive) is 0.999-1 for 95 % of customers, and forcing a 10 % chance costs 20-65
log-likelihood units; ``benchmarks/bench_purchase_models.py`` measures it and docs/data-science.md
has the figures. P(alive) there does not tell who is leaving; the lifecycle stages do.

``fit_clv`` uses pymc-marketing's ``ModifiedBetaGeoModel`` or ``BetaGeoModel`` and its
``GammaGammaModel`` (the ``clv`` extra: ``pip install 'segkit[clv]'``) with flat priors on
the positive half line and ``fit(method="map")``, so the estimates are maximum likelihood
(pymc's MAP leaves the log-transform's Jacobian out; ``log_likelihood`` gives the closed
form to check it); this reproduces the published CDNOW estimates. pymc is imported only
inside ``fit_clv``.

Everything else works from the parameter dict alone, with numpy and scipy, so a page or
the scoring path needs no pymc::

    {"purchase_model": "bgnbd", "bgnbd": {"r": .., "alpha": .., "a": .., "b": ..},
     "gamma_gamma": {"p": .., "q": .., "v": ..}, "time_unit": "D"}

(``"mbgnbd"`` in place of both ``"bgnbd"`` for MBG/NBD.) A dict without
``purchase_model`` (files written before MBG/NBD) is read as BG/NBD.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1, xlogy

from segkit.config import CACHE_DIR
from segkit.errors import SegkitDataError, SegkitError
from segkit.modeling.label import segment_order
from segkit.schema import snapshot_date_for

__all__ = [
    "VALUE_COLUMNS",
    "customer_value",
    "value_uncertainty",
    "STORED_DRAWS",
    "clv_available",
    "RFM_COLUMNS",
    "PREDICTION_COLUMNS",
    "DAYS_PER_MONTH",
    "PURCHASE_MODELS",
    "DEFAULT_PURCHASE_MODEL",
    "purchase_model",
    "rfm_frame",
    "fit_clv",
    "fit_models",
    "check_params",
    "save_params",
    "load_params",
    "log_likelihood",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "customer_lifetime_value",
    "predict_clv",
    "value_by_segment",
    "customer_value_and_draws",
    "values_under_draws",
    "value_intervals_by_group",
    "total_value_interval",
    "holdout_comparison",
    "refit_clv",
    "holdout_summary",
    "DEFAULT_LEVEL",
    "DEFAULT_DRAWS",
    "INDEPENDENCE_THRESHOLD",
    "gamma_gamma_log_likelihood",
    "parameter_draws",
    "clv_draws",
    "calibration_by_frequency",
    "period_transactions",
    "frequency_recency_matrix",
    "gamma_gamma_independence",
    "spend_ratio_by_segment",
    "clv_diagnostics",
    "write_diagnostics",
    "diagnostics_summary",
]

RFM_COLUMNS = ["frequency", "recency", "T", "monetary"]
PREDICTION_COLUMNS = RFM_COLUMNS + ["p_alive", "expected_purchases_90d", "clv"]
#: A month of the CLV horizon, in days (pymc-marketing's ``customer_lifetime_value`` uses 30).
DAYS_PER_MONTH = 30
#: The purchase models ``fit_clv`` knows, by the key that names them in the parameters.
PURCHASE_MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto": "Pareto/NBD"}
DEFAULT_PURCHASE_MODEL = "bgnbd"
#: Central interval of ``clv_low`` / ``clv_high`` (0.9: from the 5th to the 95th percentile).
DEFAULT_LEVEL = 0.9
#: Bootstrap replicates behind an interval (``parameter_draws``).
DEFAULT_DRAWS = 200
#: Parameter draws ``segkit train`` stores with the model (``value_uncertainty``). On the
#: real Online Retail data 100 draws give the same 90 % intervals as 200 to within 1 % (median
#: per-customer width 8.1 % of CLV either way) in half the time (about 6 s on 2 cores).
STORED_DRAWS = 100
_PARAM_NAMES = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"),
                "pareto": ("r", "alpha", "s", "beta"), "gamma_gamma": ("p", "q", "v")}


def rfm_frame(lines: pd.DataFrame, until: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer (see the module docstring).

    ``lines``: clean lines with ``CustomerID``, ``InvoiceDate`` and ``TotalPrice`` (or
    ``Quantity`` and ``UnitPrice``). ``until``: the last day of the observation (lines on
    later days are ignored; recency and T are counted to it); default: the day of the last
    purchase. Returns one row per customer who bought by then, indexed by ``CustomerID``
    (string), columns ``RFM_COLUMNS`` (float days; monetary in currency).

    >>> import pandas as pd
    >>> lines = pd.DataFrame({"CustomerID": ["a", "a", "a", "b"],
    ...                       "InvoiceDate": pd.to_datetime(["2011-01-03", "2011-01-10", "2011-02-01", "2011-01-20"]),
    ...                       "TotalPrice": [20.0, 30.0, 50.0, 80.0]})
    >>> rfm_frame(lines, until="2011-03-01")
                frequency  recency     T  monetary
    CustomerID
    a                 2.0     29.0  57.0      40.0
    b                 0.0      0.0  40.0       0.0
    """
    if "TotalPrice" not in lines:
        lines = lines.assign(TotalPrice=lines["Quantity"] * lines["UnitPrice"])
    days = lines["InvoiceDate"].dt.normalize()
    end = days.max() if until is None else pd.Timestamp(until).normalize()
    kept = days <= end
    if not kept.any():
        first = days.min()
        raise SegkitDataError(
            f"No purchases on or before {end:%Y-%m-%d}: the data start on {first:%Y-%m-%d}; choose a later --until date."
        )
    per_day = (
        pd.DataFrame({"CustomerID": lines.loc[kept, "CustomerID"].astype("string"), "Day": days[kept],
                      "Spend": lines.loc[kept, "TotalPrice"].astype("float64")})
        .groupby(["CustomerID", "Day"], observed=True, sort=True)["Spend"].sum()
        .reset_index()
    )
    grouped = per_day.groupby("CustomerID", observed=True, sort=True)
    first, last = grouped["Day"].min(), grouped["Day"].max()
    first_spend = grouped["Spend"].first()  # days are sorted: the first day's spend
    n_days = grouped.size()
    frequency = (n_days - 1).astype("float64")
    repeat_spend = grouped["Spend"].sum() - first_spend
    table = pd.DataFrame({
        "frequency": frequency,
        "recency": (last - first).dt.days.astype("float64"),
        "T": (end - first).dt.days.astype("float64"),
        "monetary": (repeat_spend / frequency.where(frequency > 0)).fillna(0.0),
    })
    table.index.name = "CustomerID"
    return table


# --- fitting (pymc-marketing, imported here only) ---------------------------------------

def _prepare_pytensor() -> None:
    """Keep pytensor's compiled C code in the project's cache (a warm cache saves ~20 s a fit).

    Only when the user has not set ``PYTENSOR_FLAGS`` and pytensor is not imported yet.
    Without a C++ compiler pytensor falls back to Python code about 15 times slower.
    """
    if "PYTENSOR_FLAGS" not in os.environ:
        os.environ["PYTENSOR_FLAGS"] = f"base_compiledir={CACHE_DIR / 'pytensor'}"
    if shutil.which("g++") is None and shutil.which("clang++") is None:
        warnings.warn("No C++ compiler (g++) found: the CLV fit runs about 15x slower. "
                      "Install one (apt-get install g++, or conda install cxx-compiler).", stacklevel=3)


def _import_clv():
    _prepare_pytensor()
    try:
        with warnings.catch_warnings():  # arviz announces its refactor on import
            warnings.simplefilter("ignore", FutureWarning)
            # optional: clv
            from pymc_extras.prior import Prior
            from pymc_marketing.clv import (
                BetaGeoModel,
                GammaGammaModel,
                ModifiedBetaGeoModel,
                ParetoNBDModel,
            )
    except ImportError as exc:
        raise SegkitError(
            f"Lifetime value needs pymc-marketing, which is not installed ({exc.name} missing); "
            "install it with: pip install 'segkit[clv]'."
        ) from None
    return Prior, {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel, "pareto": ParetoNBDModel}, GammaGammaModel


def _map_estimates(model: Any, names: tuple[str, ...]) -> dict[str, float]:
    posterior = model.idata.posterior
    return {name: float(posterior[name].values.squeeze()) for name in names}


def _checked_model(model: str) -> str:
    if model not in PURCHASE_MODELS:
        raise SegkitDataError(f"Unknown purchase model {model!r}; choose one of {', '.join(PURCHASE_MODELS)}.")
    return model


def fit_clv(rfm: pd.DataFrame, model: str = DEFAULT_PURCHASE_MODEL) -> dict[str, Any]:
    """Maximum-likelihood purchase-model (``model``: "bgnbd" or "mbgnbd") and Gamma-Gamma
    parameters from an ``rfm_frame`` table.

    The Gamma-Gamma part is fitted on the customers with at least one repeat purchase day
    and a positive ``monetary``. Returns the parameter dict of the module docstring.
    Takes a few seconds once pytensor's compile cache is warm (about 20 s the first time).

    >>> import segkit
    >>> lines, _ = segkit.clean_transactions(segkit.generate_sample_transactions(n_customers=300, seed=1))
    >>> params = fit_clv(rfm_frame(lines))
    >>> sorted(params), sorted(params["bgnbd"]), sorted(params["gamma_gamma"])
    (['bgnbd', 'gamma_gamma', 'purchase_model', 'time_unit'], ['a', 'alpha', 'b', 'r'], ['p', 'q', 'v'])
    """
    purchases, gamma_gamma = fit_models(rfm, model)
    params = {"purchase_model": model, model: _map_estimates(purchases, _PARAM_NAMES[model]),
              "gamma_gamma": _map_estimates(gamma_gamma, _PARAM_NAMES["gamma_gamma"]), "time_unit": "D"}
    return check_params(params)


def fit_models(rfm: pd.DataFrame, model: str = DEFAULT_PURCHASE_MODEL) -> tuple[Any, Any]:
    """The fitted pymc-marketing purchase model (``BetaGeoModel`` or
    ``ModifiedBetaGeoModel``) and ``GammaGammaModel`` behind ``fit_clv``.

    Their ``customer_id`` is the row number of ``rfm`` (of its repeat customers for the
    Gamma-Gamma model). For checks against pymc-marketing's own predictions.
    """
    model = _checked_model(model)
    Prior, purchase_classes, GammaGammaModel = _import_clv()
    rfm = _checked_rfm(rfm)
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary"] > 0)]
    if len(rfm) < 10 or len(repeat) < 5:
        raise SegkitDataError(
            f"Too few customers to fit lifetime value: {len(rfm):,} customers, {len(repeat):,} with repeat "
            "purchases; it needs at least 10 and 5. Use a longer period of data."
        )
    data = pd.DataFrame({"customer_id": np.arange(len(rfm)), "frequency": rfm["frequency"].to_numpy(),
                         "recency": rfm["recency"].to_numpy(), "T": rfm["T"].to_numpy()})
    purchases = purchase_classes[model](model_config={name: Prior("HalfFlat") for name in _PARAM_NAMES[model]})
    _quiet_fit(purchases, data)
    spend = pd.DataFrame({"customer_id": np.arange(len(repeat)), "frequency": repeat["frequency"].to_numpy(),
                          "monetary_value": repeat["monetary"].to_numpy()})
    gamma_gamma = GammaGammaModel(model_config={name: Prior("HalfFlat") for name in _PARAM_NAMES["gamma_gamma"]})
    _quiet_fit(gamma_gamma, spend)
    return purchases, gamma_gamma


def _quiet_fit(model: Any, data: pd.DataFrame) -> None:
    pymc_logger = logging.getLogger("pymc")
    level = pymc_logger.level
    pymc_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, method="map", progressbar=False)
    finally:
        pymc_logger.setLevel(level)


# --- parameters ------------------------------------------------------------------------

def purchase_model(params: Mapping[str, Any]) -> str:
    """The purchase model a parameter dict holds: its ``purchase_model``, else "bgnbd"
    (files written before MBG/NBD)."""
    return str(params.get("purchase_model", "bgnbd"))


def check_params(params: Mapping[str, Any], source: str = "the parameters") -> dict[str, Any]:
    """Validate a parameter dict (the purchase model's four values and Gamma-Gamma's three
    finite and positive, time unit "D"); returns it with ``purchase_model`` always set."""
    try:
        model = purchase_model(params)
    except AttributeError:
        model = "bgnbd"
    if model not in PURCHASE_MODELS:
        raise SegkitDataError(f"{source} name the purchase model {model!r}; segkit knows "
                              f"{', '.join(PURCHASE_MODELS)}: fit again with segkit clv.")
    try:
        clean = {part: {name: float(params[part][name]) for name in _PARAM_NAMES[part]}
                 for part in (model, "gamma_gamma")}
        unit = params.get("time_unit", "D")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SegkitDataError(
            f"{source} must look like {{\"purchase_model\": \"bgnbd\", \"bgnbd\": {{\"r\", \"alpha\", \"a\", \"b\"}}, "
            "\"gamma_gamma\": {\"p\", \"q\", \"v\"}, \"time_unit\": \"D\"} with numbers (\"mbgnbd\" for MBG/NBD); "
            "write them with segkit clv."
        ) from None
    bad = [f"{part}.{name}={value}" for part, values in clean.items() for name, value in values.items()
           if not (np.isfinite(value) and value > 0)]
    if bad:
        raise SegkitDataError(f"{source} hold values that are not positive numbers ({', '.join(bad)}); "
                              "the fit failed or the file was edited: fit again.")
    if unit != "D":
        raise SegkitDataError(f"{source} are in time unit {unit!r}; segkit works in days (\"D\").")
    return {"purchase_model": model, **clean, "time_unit": "D"}


def save_params(params: Mapping[str, Any], path: str | Path) -> Path:
    """Write the parameter dict as JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(check_params(params), indent=2) + "\n", encoding="utf-8")
    return path


def load_params(path: str | Path) -> dict[str, Any]:
    """Read and validate a parameter JSON written by ``save_params`` (or by hand)."""
    path = Path(path)
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SegkitDataError(f"'{path.name}' does not exist; give the parameters file written by segkit clv --params.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SegkitDataError(f"'{path.name}' is not valid JSON; give the parameters file written by segkit clv --params.") from None
    return check_params(params, source=f"'{path.name}'")


# --- closed-form predictions (numpy and scipy only) -------------------------------------

def _checked_rfm(rfm: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in RFM_COLUMNS[:3] if c not in rfm.columns]
    if missing:
        raise SegkitDataError(f"The customer table has no {', '.join(missing)} column; build it with segkit.value.clv.rfm_frame.")
    return rfm


def _arrays(rfm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rfm = _checked_rfm(rfm)
    return (rfm["frequency"].to_numpy(float), rfm["recency"].to_numpy(float), rfm["T"].to_numpy(float))


def _purchase_params(params: Mapping[str, Any]) -> tuple[str, float, float, float, float]:
    model = purchase_model(params)
    r, alpha, a, b = (float(params[model][k]) for k in _PARAM_NAMES[model])
    return model, r, alpha, a, b


def log_likelihood(rfm: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """Log-likelihood of each customer's ``frequency``, ``recency`` and ``T`` under the
    purchase model of ``params`` (its sum is what maximum likelihood maximises).

    BG/NBD: Fader, Hardie & Lee (2005), eq. (6); MBG/NBD: Batislam, Denizel & Filiztekin
    (2007), where the second term (dropout after the last purchase day) holds for x = 0 too;
    Pareto/NBD: Fader, Hardie & Lee (2005), "A note on implementing the Pareto/NBD model",
    with ``s`` and ``beta`` the dropout parameters.
    """
    model, r, alpha, a, b = _purchase_params(params)
    values = _purchase_log_likelihood(model, np.array([r, alpha, a, b]), *_arrays(rfm))
    return pd.Series(values, index=rfm.index, name="log_likelihood")


def _dropout_odds_log(model: str, r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """log of ``a / (b + x - 1)`` (BG/NBD; ``b + x`` for MBG/NBD) ``* ((alpha + T) / (alpha + t_x)) ** (r + x)``."""
    denominator = b + x if model == "mbgnbd" else b + np.maximum(x, 1) - 1
    return (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / denominator)


def _pareto_log_a0(r: float, alpha: float, s: float, beta: float, x: np.ndarray, t_x: np.ndarray,
                   T: np.ndarray) -> np.ndarray:
    """log A0 of Fader, Hardie & Lee (2005), "A note on implementing the Pareto/NBD model"
    (its A0 term), as the difference of its two terms taken in logs (they overflow for large x)."""
    rsx = r + s + x
    big, second = (alpha, s + 1) if alpha >= beta else (beta, r + x)
    gap = abs(alpha - beta)

    def term(t):
        return np.log(hyp2f1(rsx, second, rsx + 1, gap / (big + t))) - rsx * np.log(big + t)

    first, last = term(t_x), term(T)
    with np.errstate(divide="ignore"):
        return first + np.log1p(-np.exp(np.minimum(last - first, 0.0)))


def _pareto_dropout_odds_log(r: float, alpha: float, s: float, beta: float, x: np.ndarray, t_x: np.ndarray,
                             T: np.ndarray) -> np.ndarray:
    """log of ``s / (r + s + x) * (alpha + T) ** (r + x) * (beta + T) ** s * A0`` (P(alive) = 1 / (1 + odds))."""
    return (np.log(s / (r + s + x)) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
            + _pareto_log_a0(r, alpha, s, beta, x, t_x, T))


def p_alive(rfm: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """Probability (0-1) that each customer is still active at the end of the observation.

    ``1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))`` for BG/NBD
    (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model"), and 1 for
    customers without a repeat purchase (in BG/NBD a customer can drop out only just after
    a repeat purchase). MBG/NBD: the same with ``b + x`` for every customer, one-time
    buyers included (Batislam et al. 2007).
    """
    model, r, alpha, a, b = _purchase_params(params)
    x, t_x, T = _arrays(rfm)
    if model == "pareto":
        return pd.Series(expit(-_pareto_dropout_odds_log(r, alpha, a, b, x, t_x, T)), index=rfm.index, name="p_alive")
    alive = expit(-_dropout_odds_log(model, r, alpha, a, b, x, t_x, T))
    if model == "bgnbd":
        alive = np.where(x == 0, 1.0, alive)
    return pd.Series(alive, index=rfm.index, name="p_alive")


def expected_purchases(rfm: pd.DataFrame, params: Mapping[str, Any], days: float | np.ndarray) -> pd.Series:
    """Expected number of purchase days in the next ``days`` days per customer.

    BG/NBD: equation (10) of Fader, Hardie & Lee (2005), "Counting your customers the easy
    way"; MBG/NBD: its analogue in Batislam et al. (2007), with ``b + x + 1`` in the
    hypergeometric term and dropout possible for one-time buyers.
    """
    model, r, alpha, a, b = _purchase_params(params)
    x, t_x, T = _arrays(rfm)
    t = np.asarray(days, dtype=float)
    if model == "pareto":  # Fader, Hardie & Lee (2005), "A note on implementing the Pareto/NBD model"
        s, beta = a, b
        alive = expit(-_pareto_dropout_odds_log(r, alpha, s, beta, x, t_x, T))
        ratio_log = np.log((beta + T) / (beta + T + t))
        growth = -np.expm1((s - 1) * ratio_log) / (s - 1) if s != 1 else -ratio_log
        return pd.Series((r + x) * (beta + T) / (alpha + T) * growth * alive, index=rfm.index,
                         name="expected_purchases")
    shift = 1.0 if model == "mbgnbd" else 0.0
    numerator = (a + b + x - 1 + shift) / (a - 1) * (
        1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
        * hyp2f1(r + x, b + x + shift, a + b + x - 1 + shift, t / (alpha + T + t))
    )
    odds = np.exp(_dropout_odds_log(model, r, alpha, a, b, x, t_x, T))
    if model == "bgnbd":
        odds = np.where(x > 0, odds, 0.0)
    return pd.Series(numerator / (1 + odds), index=rfm.index, name="expected_purchases")


def expected_spend(rfm: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """Gamma-Gamma expected spend (currency) of each customer's future purchase days.

    Fader & Hardie (2013), eq. (5): ``p * (v + x * m) / (p * x + q - 1)`` with ``x`` the
    repeat purchase days and ``m`` their mean spend; for customers without repeats, the
    population mean ``p * v / (q - 1)``.
    """
    p, q, v = (params["gamma_gamma"][k] for k in _PARAM_NAMES["gamma_gamma"])
    x = _checked_rfm(rfm)["frequency"].to_numpy(float)
    m = rfm["monetary"].to_numpy(float) if "monetary" in rfm else np.zeros_like(x)
    m = np.where(x > 0, m, 0.0)
    return pd.Series(p * (v + x * m) / (p * x + q - 1), index=rfm.index, name="expected_spend")


def customer_lifetime_value(rfm: pd.DataFrame, params: Mapping[str, Any], horizon_months: int = 12,
                            discount: float = 0.01) -> pd.Series:
    """Discounted value (currency) of each customer's purchases over the next ``horizon_months``.

    Month ``i`` (of ``DAYS_PER_MONTH`` days) contributes expected spend times the expected
    purchase days in that month, divided by ``(1 + discount) ** i`` (``discount``: monthly
    rate, 0.01 = 1 %); the same rule as pymc-marketing's ``customer_lifetime_value``.
    """
    if horizon_months < 1:
        raise SegkitDataError(f"The CLV horizon must be at least 1 month, not {horizon_months}.")
    if not 0 <= discount < 1:
        raise SegkitDataError(f"The monthly discount rate must be between 0 and 1 (0.01 = 1 %), not {discount}.")
    spend = expected_spend(rfm, params).to_numpy()
    value = np.zeros(len(rfm))
    previous = np.zeros(len(rfm))
    for month in range(1, horizon_months + 1):
        cumulative = expected_purchases(rfm, params, month * DAYS_PER_MONTH).to_numpy()
        value += spend * (cumulative - previous) / (1 + discount) ** month
        previous = cumulative
    return pd.Series(value, index=rfm.index, name="clv")


def predict_clv(rfm: pd.DataFrame, params: Mapping[str, Any], horizon_months: int = 12,
                discount: float = 0.01, level: float | None = None, draws: int | np.ndarray | None = None,
                seed: int = 0) -> pd.DataFrame:
    """The ``rfm`` table with ``p_alive``, ``expected_purchases_90d`` and ``clv`` added.

    One row per customer, columns ``PREDICTION_COLUMNS`` (what ``segkit clv`` writes);
    no pymc needed. For the page: ``predict_clv(rfm_frame(lines), load_params(path))``.

    ``level`` (e.g. 0.9): also ``clv_low`` and ``clv_high``, the central ``level`` interval
    of each customer's CLV over ``draws`` bootstrap parameter draws (``clv_draws``;
    ``rfm`` should then be the data the parameters were fitted on). ``draws`` may also be
    the array ``clv_draws`` returned for the same ``rfm``, horizon and discount (to share
    it with ``value_by_segment``).
    """
    params = check_params(params)
    out = rfm.reindex(columns=RFM_COLUMNS).fillna({"monetary": 0.0})
    out["p_alive"] = p_alive(rfm, params)
    out["expected_purchases_90d"] = expected_purchases(rfm, params, 90)
    out["clv"] = customer_lifetime_value(rfm, params, horizon_months, discount)
    if level is not None:
        if isinstance(draws, np.ndarray):
            values = draws
            if values.ndim != 2 or values.shape[0] != len(rfm):
                raise SegkitDataError(f"draws must hold one row per customer of rfm ({len(rfm):,}), not shape "
                                      f"{values.shape}; make them with clv_draws on the same rfm table.")
        else:
            values = clv_draws(rfm, params, draws or DEFAULT_DRAWS, seed, horizon_months, discount)
        out["clv_low"], out["clv_high"] = _interval(values, level, axis=1)
    return out


#: Columns ``customer_value`` adds to a customer table.
VALUE_COLUMNS = ["PAlive", "ExpectedPurchases90d", "CLV"]


def customer_value(lines: pd.DataFrame, params: Mapping[str, Any], horizon_months: int = 12,
                   discount: float = 0.01, level: float | None = None, draws: int | None = None,
                   samples: Sequence[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Per customer (index CustomerID): ``PAlive`` (0-1), ``ExpectedPurchases90d``
    (purchase days) and ``CLV`` (currency, over ``horizon_months``), from clean lines and
    stored parameters; numpy and scipy only, no pymc. ``level`` (e.g. 0.9): also
    ``CLVLow`` and ``CLVHigh``, the bootstrap interval of ``predict_clv`` (``draws`` refits,
    default ``DEFAULT_DRAWS``). ``samples``: parameter draws made before (the model's
    ``value_uncertainty``), evaluated instead of refitting (``level`` default ``DEFAULT_LEVEL``).

    With parameters stored before (here CDNOW's published ones; ``fit_clv`` gives a shop's own):

    >>> import segkit
    >>> lines, _ = segkit.clean_transactions(segkit.generate_sample_transactions(n_customers=300, seed=1))
    >>> params = {"purchase_model": "bgnbd", "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    ...           "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "D"}
    >>> value = customer_value(lines, params)
    >>> list(value.columns), len(value) == lines["CustomerID"].nunique()
    (['PAlive', 'ExpectedPurchases90d', 'CLV'], True)
    >>> bool(value["PAlive"].between(0, 1).all() and (value["CLV"] >= 0).all())
    True
    """
    if samples:
        return customer_value_and_draws(lines, params, samples, horizon_months, discount, level)[0]
    rfm = rfm_frame(lines)
    predicted = predict_clv(rfm, params, horizon_months, discount, level=level, draws=draws)
    return _value_table(predicted, level is not None)


def _value_table(predicted: pd.DataFrame, interval: bool) -> pd.DataFrame:
    table = pd.DataFrame({"PAlive": predicted["p_alive"].round(4),
                          "ExpectedPurchases90d": predicted["expected_purchases_90d"].round(3),
                          "CLV": predicted["clv"].round(2)})
    if interval:
        table["CLVLow"], table["CLVHigh"] = predicted["clv_low"].round(2), predicted["clv_high"].round(2)
    return table


def values_under_draws(rfm: pd.DataFrame, samples: Sequence[Mapping[str, Any]], horizon_months: int = 12,
                       discount: float = 0.01) -> np.ndarray:
    """CLV (currency) of every customer of ``rfm`` (rows, in its order) under each parameter
    dict of ``samples`` (columns): the matrix every interval is read from."""
    return np.column_stack([customer_lifetime_value(rfm, check_params(sample), horizon_months, discount).to_numpy()
                            for sample in samples])


def customer_value_and_draws(lines: pd.DataFrame, params: Mapping[str, Any], samples: Sequence[Mapping[str, Any]],
                             horizon_months: int = 12, discount: float = 0.01, level: float | None = None
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``customer_value`` with stored parameter draws (``samples``), and the matrix behind
    its intervals: every customer's CLV under every draw (DataFrame indexed by CustomerID
    in the order of the value table, one float column per draw, currency).

    Keep the matrix to give a group of customers an interval (``value_intervals_by_group``,
    ``total_value_interval``): one draw moves every customer at once, so a group's interval
    is read from the draws' sums, never from the sum of its customers' bounds."""
    rfm = rfm_frame(lines)
    values = values_under_draws(rfm, samples, horizon_months, discount)
    predicted = predict_clv(rfm, params, horizon_months, discount, level=level or DEFAULT_LEVEL, draws=values)
    draws = pd.DataFrame(values, index=rfm.index, columns=[f"draw{i}" for i in range(values.shape[1])])
    return _value_table(predicted, True), draws


def total_value_interval(draws: np.ndarray | pd.DataFrame, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The central ``level`` interval (low, high; currency) of the total value of the
    customers in ``draws`` (rows: customers, columns: parameter draws; ``values_under_draws``):
    each draw's sum over the customers, then its quantiles. Customers without a value (NaN)
    count 0, as in the total shown beside it; (NaN, NaN) for no customer."""
    values = np.asarray(draws, dtype="float64")
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        return float("nan"), float("nan")
    low, high = _interval(np.nansum(values, axis=0), level)
    return float(low), float(high)


def value_intervals_by_group(draws: np.ndarray | pd.DataFrame, groups, level: float = DEFAULT_LEVEL
                             ) -> pd.DataFrame:
    """``total_value_interval`` of each group of customers: ``groups`` gives one label per
    row of ``draws`` (rows without a label are left out). Returns one row per group (index:
    the labels, sorted), columns ``Low`` and ``High`` (currency)."""
    values = np.asarray(draws, dtype="float64")
    labels = pd.Series(np.asarray(groups, dtype=object) if not isinstance(groups, pd.Series) else groups.to_numpy())
    if values.ndim != 2 or values.shape[0] != len(labels):
        raise SegkitDataError(f"draws must hold one row per customer labelled ({len(labels):,}), not shape "
                              f"{values.shape}; make them with values_under_draws on the same customers.")
    sums = pd.DataFrame(values, copy=False).groupby(labels.to_numpy(), dropna=True, sort=True).sum()
    if sums.empty:
        return pd.DataFrame(columns=["Low", "High"], dtype="float64")
    low, high = _interval(sums.to_numpy(), level, axis=1)
    return pd.DataFrame({"Low": low, "High": high}, index=sums.index)


def clv_available() -> bool:
    """True when pymc-marketing (the ``clv`` extra) is installed, so parameters can be fitted."""
    return importlib.util.find_spec("pymc_marketing") is not None


def value_by_segment(predicted: pd.DataFrame, segments: pd.Series, draws: np.ndarray | None = None,
                     level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """Lifetime value per segment from ``predict_clv`` output (for summaries and the page).

    ``segments``: segment names indexed by ``CustomerID`` (customers without one are left
    out). Rows in the fixed segment order; columns ``Customers``, ``TotalCLV`` and
    ``MeanCLV`` (currency), ``CLVShare`` (0-1 of the total), ``MeanPAlive`` (0-1),
    ``ExpectedPurchases90d`` (sum of purchase days expected in the next 90 days).

    ``draws``: the ``clv_draws`` of the same customers (rows in the order of ``predicted``);
    then also ``TotalCLVLow`` / ``TotalCLVHigh`` and ``MeanCLVLow`` / ``MeanCLVHigh``, the
    central ``level`` interval of the segment's total and mean over the parameter draws (one
    draw moves every customer together, so the segment's interval is not the sum of its
    customers' intervals).
    """
    names = segments.astype("string").reindex(predicted.index.astype("string"))
    frame = predicted.assign(Segment=names.to_numpy()).dropna(subset=["Segment"])
    table = frame.groupby("Segment", observed=True).agg(
        Customers=("clv", "size"), TotalCLV=("clv", "sum"), MeanCLV=("clv", "mean"),
        MeanPAlive=("p_alive", "mean"), ExpectedPurchases90d=("expected_purchases_90d", "sum"))
    table.index = table.index.astype(str)
    table.insert(3, "CLVShare", table["TotalCLV"] / table["TotalCLV"].sum())
    if draws is not None:
        draws = np.asarray(draws, dtype=float)
        if draws.ndim != 2 or draws.shape[0] != len(predicted):
            raise SegkitDataError(f"draws must hold one row per customer of predicted ({len(predicted):,}), "
                                  f"not shape {draws.shape}; make them with clv_draws on the same rfm table.")
        intervals = value_intervals_by_group(draws, names.to_numpy(), level).reindex(table.index)
        count = table["Customers"]
        table["TotalCLVLow"], table["TotalCLVHigh"] = intervals["Low"], intervals["High"]
        table["MeanCLVLow"], table["MeanCLVHigh"] = intervals["Low"] / count, intervals["High"] / count
        order = ["Customers", "TotalCLV", "TotalCLVLow", "TotalCLVHigh", "MeanCLV", "MeanCLVLow", "MeanCLVHigh"]
        table = table[order + [c for c in table if c not in order]]
    return table.loc[segment_order(table.index)]


# --- validation on a holdout period ------------------------------------------------------

def _purchase_days_and_spend(lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Purchase days and spend per customer for lines with ``start <= InvoiceDate < end``."""
    part = lines[(lines["InvoiceDate"] >= start) & (lines["InvoiceDate"] < end)]
    ids = part["CustomerID"].astype("string")
    grouped = part.assign(CustomerID=ids, Day=part["InvoiceDate"].dt.normalize()).groupby("CustomerID", observed=True)
    return pd.DataFrame({"purchases": grouped["Day"].nunique().astype("float64"), "spend": grouped["TotalPrice"].sum()})


def holdout_comparison(lines: pd.DataFrame, cutoff: pd.Timestamp | str,
                       params: Mapping[str, Any] | None = None, model: str = DEFAULT_PURCHASE_MODEL,
                       horizon_days: int | None = None, start: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Fit on the lines before ``cutoff``, predict the rest, and set both beside the actuals.

    ``lines``: clean lines (``CustomerID``, ``InvoiceDate``, ``TotalPrice``). The holdout
    runs from ``cutoff`` to the last purchase day (``attrs["holdout_days"]`` days, both
    ends included), or for ``horizon_days`` days when given (at most to the last purchase
    day). One row per customer who bought before the cut-off, with:

    - ``actual_purchases`` / ``actual_spend``: purchase days and spend in the holdout;
    - ``predicted_purchases``: the purchase model's expected purchase days over the holdout;
      ``predicted_spend``: that times the Gamma-Gamma expected spend per purchase day;
    - ``naive_purchases`` / ``naive_spend``: the same customer's figures in the period of
      equal length just before the cut-off ("same as last period").

    - ``p_alive``: P(alive) at the cut-off (to compare with who bought again);
    - ``frequency``: repeat purchase days before the cut-off (for ``calibration_by_frequency``).

    ``params`` default: ``fit_clv(..., model)`` on the calibration lines (needs pymc-marketing);
    with ``start`` (e.g. the fit on the whole log), ``refit_clv`` from it instead (scipy, no pymc).
    ``attrs`` also holds ``params``, ``cutoff`` and the customers and spend new in the holdout.
    """
    if "TotalPrice" not in lines:
        lines = lines.assign(TotalPrice=lines["Quantity"] * lines["UnitPrice"])
    cutoff = pd.Timestamp(cutoff).normalize()
    first, last = lines["InvoiceDate"].min(), lines["InvoiceDate"].max()
    if not first < cutoff <= last.normalize():
        raise SegkitDataError(f"The cut-off {cutoff:%Y-%m-%d} must fall after the first purchase ({first:%Y-%m-%d}) "
                              f"and on or before the last ({last:%Y-%m-%d}).")
    end = snapshot_date_for(last)
    if horizon_days is not None:
        end = min(end, cutoff + pd.Timedelta(days=int(horizon_days)))
    holdout_days = (end - cutoff).days
    rfm = rfm_frame(lines[lines["InvoiceDate"] < cutoff], until=cutoff - pd.Timedelta(days=1))
    if params is None:
        params = fit_clv(rfm, model) if start is None else refit_clv(rfm, start)
    params = check_params(params)
    actual = _purchase_days_and_spend(lines, cutoff, end).reindex(rfm.index, fill_value=0.0)
    naive = _purchase_days_and_spend(lines, cutoff - pd.Timedelta(days=holdout_days), cutoff).reindex(rfm.index, fill_value=0.0)
    predicted = expected_purchases(rfm, params, holdout_days)
    table = pd.DataFrame({
        "frequency": rfm["frequency"],
        "actual_purchases": actual["purchases"], "predicted_purchases": predicted,
        "naive_purchases": naive["purchases"],
        "actual_spend": actual["spend"], "predicted_spend": predicted * expected_spend(rfm, params),
        "naive_spend": naive["spend"], "p_alive": p_alive(rfm, params),
    })
    new = _purchase_days_and_spend(lines, cutoff, end)
    new = new[~new.index.isin(rfm.index)]
    table.attrs.update(params=params, cutoff=cutoff, holdout_days=holdout_days,
                       new_customers=len(new), new_customer_spend=float(new["spend"].sum()))
    return table


def _spearman(a: pd.Series, b: pd.Series) -> float:
    """Rank correlation; NaN (without a warning) when either side is constant, e.g. a naive
    forecast of 0 for every customer of a segment that bought nothing before the cut-off."""
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    return float(a.corr(b, method="spearman"))


def holdout_summary(comparison: pd.DataFrame, segments: pd.Series | None = None) -> pd.DataFrame:
    """Totals of ``holdout_comparison`` (all customers, then per segment if given).

    Columns: ``Customers``; actual, predicted and naive purchases and spend (sums); the
    relative error of the totals (``*_error``: predicted or naive over actual, minus 1);
    Spearman rank correlations per customer between actual and predicted or naive values
    (``spearman_*``, NaN where one side is constant); and the mean absolute error per
    customer of purchases (``mae_*``).
    ``segments``: segment names indexed by ``CustomerID`` (customers without one: "(none)").
    """
    groups = {"All customers": comparison}
    if segments is not None:
        names = segments.astype("string").reindex(comparison.index.astype("string")).fillna("(none)")

        for name in segment_order(names.unique()):
            groups[name] = comparison[(names == name).to_numpy()]
    rows = {}
    for name, part in groups.items():
        row: dict[str, float] = {"Customers": len(part)}
        for what in ("purchases", "spend"):
            actual = part[f"actual_{what}"]
            for kind in ("predicted", "naive"):
                guess = part[f"{kind}_{what}"]
                row[f"{kind}_{what}"] = guess.sum()
                row[f"{kind}_{what}_error"] = guess.sum() / actual.sum() - 1 if actual.sum() else np.nan
                row[f"spearman_{kind}_{what}"] = _spearman(actual, guess)
            row[f"actual_{what}"] = actual.sum()
        for kind in ("predicted", "naive"):
            row[f"mae_{kind}_purchases"] = (part[f"{kind}_purchases"] - part["actual_purchases"]).abs().mean()
        rows[name] = row
    order = ["Customers"] + [f"{k}_{w}" for w in ("purchases", "spend") for k in ("actual", "predicted", "naive")] + \
        [f"{k}_{w}_error" for w in ("purchases", "spend") for k in ("predicted", "naive")] + \
        [f"spearman_{k}_{w}" for w in ("purchases", "spend") for k in ("predicted", "naive")] + \
        ["mae_predicted_purchases", "mae_naive_purchases"]
    return pd.DataFrame.from_dict(rows, orient="index")[order]


# --- uncertainty: a bootstrap over customers ----------------

def gamma_gamma_log_likelihood(rfm: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
    """Log-likelihood of each repeat customer's mean spend under Gamma-Gamma (Fader &
    Hardie 2013, eq. 3, with the spend of one purchase day Gamma(p, nu) and nu Gamma(q, v)).

    Only customers with ``frequency > 0`` and ``monetary > 0`` (those ``fit_clv`` fits on).
    """
    values = np.array([float(params["gamma_gamma"][k]) for k in _PARAM_NAMES["gamma_gamma"]])
    rfm = _checked_rfm(rfm)
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary"] > 0)]
    values = _spend_log_likelihood(values, repeat["frequency"].to_numpy(float), repeat["monetary"].to_numpy(float))
    return pd.Series(values, index=repeat.index, name="log_likelihood")


def _purchase_log_likelihood(model: str, values: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                             T: np.ndarray) -> np.ndarray:
    if model == "pareto":
        r, alpha, s, beta = values
        return (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
                + np.logaddexp(-(r + x) * np.log(alpha + T) - s * np.log(beta + T),
                               np.log(s / (r + s + x)) + _pareto_log_a0(r, alpha, s, beta, x, t_x, T)))
    r, alpha, a, b = values
    shift = 1.0 if model == "mbgnbd" else 0.0
    common = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
              + gammaln(a + b) + gammaln(b + x + shift) - gammaln(b) - gammaln(a + b + x + shift))
    stays = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        leaves = np.log(a) - np.log(b + x + shift - 1) - (r + x) * np.log(alpha + t_x)
    if model == "bgnbd":
        leaves = np.where(x > 0, leaves, -np.inf)
    return common + np.logaddexp(stays, leaves)


def _spend_log_likelihood(values: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    p, q, v = values
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(x * m + v))


def _refit(loglik, start: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Maximise ``sum(weights * loglik(values))`` over the log parameters, from ``start``."""
    def negative(u):
        with np.errstate(all="ignore"):
            total = float(np.dot(weights, loglik(np.exp(u))))
        return -total if np.isfinite(total) else 1e300

    origin = np.log(start)
    best = minimize(negative, origin, method="L-BFGS-B", bounds=[(u - 12, u + 12) for u in origin])
    return np.exp(best.x)


def _refit_params(rfm: pd.DataFrame, params: Mapping[str, Any], weights: np.ndarray) -> dict[str, Any]:
    """The maximum-likelihood parameters of ``params``' models on ``rfm`` with each customer
    counted ``weights`` times, found by scipy from ``params``."""
    params = check_params(params)
    model = params["purchase_model"]
    x, t_x, T = _arrays(rfm)
    m = rfm["monetary"].to_numpy(float) if "monetary" in rfm else np.zeros_like(x)
    repeat = (x > 0) & (m > 0)
    purchase_start = np.array([params[model][k] for k in _PARAM_NAMES[model]])
    spend_start = np.array([params["gamma_gamma"][k] for k in _PARAM_NAMES["gamma_gamma"]])
    purchase = _refit(lambda v: _purchase_log_likelihood(model, v, x, t_x, T), purchase_start, weights)
    spend = _refit(lambda v: _spend_log_likelihood(v, x[repeat], m[repeat]), spend_start, weights[repeat])
    return {"purchase_model": model, model: dict(zip(_PARAM_NAMES[model], map(float, purchase))),
            "gamma_gamma": dict(zip(_PARAM_NAMES["gamma_gamma"], map(float, spend))), "time_unit": "D"}


def refit_clv(rfm: pd.DataFrame, start: Mapping[str, Any]) -> dict[str, Any]:
    """``fit_clv`` without pymc: the maximum-likelihood parameters on ``rfm`` (the closed-form
    likelihoods maximised by scipy) from ``start``, a fit of the same models on other
    customers or dates (e.g. the whole log, to refit at an earlier cut-off). About 0.2 s on
    4,300 customers; ``tests/value`` checks it against ``fit_clv``."""
    rfm = _checked_rfm(rfm)
    return check_params(_refit_params(rfm, start, np.ones(len(rfm))))


def parameter_draws(rfm: pd.DataFrame, params: Mapping[str, Any], draws: int = DEFAULT_DRAWS,
                    seed: int = 0) -> list[dict[str, Any]]:
    """``draws`` parameter dicts from a bootstrap over customers: each draws ``len(rfm)``
    customers with replacement and finds the maximum-likelihood purchase-model and
    Gamma-Gamma parameters again (the closed-form likelihoods, ``log_likelihood`` and
    ``gamma_gamma_log_likelihood``, maximised by scipy from ``params``; no pymc).

    ``params`` should be the fit on ``rfm`` (``fit_clv(rfm)``), the centre of the draws.
    """
    params = check_params(params)
    rfm = _checked_rfm(rfm)
    generator = np.random.default_rng(seed)
    return [_refit_params(rfm, params, np.bincount(generator.integers(0, len(rfm), len(rfm)),
                                                   minlength=len(rfm)).astype(float))
            for _ in range(draws)]


def value_uncertainty(rfm: pd.DataFrame, params: Mapping[str, Any], draws: int = STORED_DRAWS,
                      seed: int = 0) -> dict[str, Any]:
    """What a model stores beside its lifetime-value parameters so that scoring and the page
    give intervals without refitting: ``level``, ``draws`` (``parameter_draws``: parameter
    dicts from a bootstrap over customers) and ``independence`` (``gamma_gamma_independence``).

    Evaluating 100 stored draws costs about 1.3 s on the real data's 4,300 customers; the
    refits themselves (about 6 s) happen once, in ``segkit train``."""
    return {"level": DEFAULT_LEVEL, "draws": parameter_draws(rfm, params, draws, seed),
            "independence": gamma_gamma_independence(rfm)}


def clv_draws(rfm: pd.DataFrame, params: Mapping[str, Any], draws: int = DEFAULT_DRAWS, seed: int = 0,
              horizon_months: int = 12, discount: float = 0.01) -> np.ndarray:
    """CLV of every customer (rows, in the order of ``rfm``) under each of ``draws``
    bootstrap parameter draws (columns, ``parameter_draws``).

    Why a bootstrap of the closed-form maximum likelihood and not pymc-marketing's full
    (MCMC) fit or the Laplace approximation of its MAP: sampling takes minutes, and on the
    Online Retail data the likelihood has no curvature to speak of along the dropout
    parameters (a goes to 0 and b grows with the mean dropout chance almost fixed: a ridge,
    where minus the Hessian is not even positive definite), so the Laplace approximation
    has no covariance to give. Refitting four and three parameters with scipy on resampled
    customers costs about 0.15 s a draw on 4,300 customers (200 draws: about 30 s), numpy
    and scipy only; tests use 20 draws.

    What the interval covers: the uncertainty of the parameters (how well the data pin the
    population down), not the customer's own chance of buying more or less than expected;
    a customer's interval is therefore much narrower than the spread of what such a
    customer will actually spend.
    """
    if draws < 2:
        raise SegkitDataError(f"An interval needs at least 2 parameter draws, not {draws}.")
    return values_under_draws(rfm, parameter_draws(rfm, params, draws, seed), horizon_months, discount)


def _interval(values: np.ndarray, level: float, axis: int | None = None) -> tuple[Any, Any]:
    if not 0 < level < 1:
        raise SegkitDataError(f"The interval level must be between 0 and 1 (0.9 = 90 %), not {level}.")
    tail = (1 - level) / 2
    return np.quantile(values, tail, axis=axis), np.quantile(values, 1 - tail, axis=axis)


# --- diagnostics -----------------------------------------------------------------------

#: ``gamma_gamma_independence`` fails when the absolute Spearman correlation of frequency and mean spend among
#: repeat customers exceeds this: Spearman because spend is heavy-tailed (a few large
#: buyers steer Pearson), 0.1 because that is the conventional bound of a negligible
#: correlation (Cohen's "small" effect starts there).
INDEPENDENCE_THRESHOLD = 0.1


def _bucket(values: pd.Series, top: int) -> pd.Series:
    return values.clip(upper=top).astype(int).map(lambda v: f"{top}+" if v >= top else str(v))


def calibration_by_frequency(comparison: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Holdout purchases per customer, predicted against actual, by repeat purchase days
    before the cut-off (``holdout_comparison`` output; the last bucket is ``max_frequency+``).

    Columns: ``Customers``, ``ActualPurchases`` and ``PredictedPurchases`` (means per
    customer of the bucket), ``Ratio`` (predicted / actual: 0.8 = 20 % under-forecast).
    """
    if "frequency" not in comparison:
        raise SegkitDataError("The comparison has no frequency column; make it with holdout_comparison.")
    bucket = _bucket(comparison["frequency"], max_frequency)
    table = comparison.groupby(bucket.to_numpy(), sort=False).agg(
        Customers=("actual_purchases", "size"), ActualPurchases=("actual_purchases", "mean"),
        PredictedPurchases=("predicted_purchases", "mean"))
    table = table.loc[sorted(table.index, key=lambda b: int(b.rstrip("+")))]
    table.index.name = "RepeatPurchasesBefore"
    table["Ratio"] = table["PredictedPurchases"] / table["ActualPurchases"].where(table["ActualPurchases"] > 0)
    return table


def _nb_log(r: float, alpha: float, j: int, t: np.ndarray) -> np.ndarray:
    """log P(j purchases in t) when the purchase rate is Gamma(r, alpha) (negative binomial)."""
    return (gammaln(r + j) - gammaln(r) - gammaln(j + 1) + r * np.log(alpha / (alpha + t))
            + xlogy(j, t / (alpha + t)))


def period_transactions(rfm: pd.DataFrame, params: Mapping[str, Any], max_frequency: int = 7) -> pd.DataFrame:
    """Customers with 0, 1, 2, ... repeat purchase days: observed against the number the
    purchase model expects given each customer's time since the first purchase (``T``).

    The model's probability of x repeat purchases in t is the closed form of Fader, Hardie &
    Lee (2005), eq. (8) for BG/NBD, and its analogue for MBG/NBD (one more dropout chance, at
    the first purchase); summed over customers it is the expected count. Rows ``0`` to
    ``max_frequency - 1`` and ``max_frequency+``; columns ``Observed``, ``Predicted``.

    Pareto/NBD has no closed form as short: its expected counts are simulated from the model
    itself (``pareto_expected_counts``: 400 customers drawn per customer, a fixed seed).
    """
    params = check_params(params)
    model, r, alpha, a, b = _purchase_params(params)
    T = _arrays(rfm)[2]
    labels = [str(x) for x in range(max_frequency)] + [f"{max_frequency}+"]
    observed = _bucket(rfm["frequency"], max_frequency).value_counts().reindex(labels, fill_value=0)
    if model == "pareto":
        expected = pareto_expected_counts(T, r, alpha, a, b, max_frequency)
        table = pd.DataFrame({"Observed": observed.to_numpy(), "Predicted": expected}, index=labels)
        table.index.name = "RepeatPurchases"
        return table
    shift = 1 if model == "mbgnbd" else 0
    below = np.zeros(len(T))  # P(fewer than x purchases by T), were the customer never to drop out
    expected = []
    for x in range(max_frequency):
        negbin = np.exp(_nb_log(r, alpha, x, T))
        probability = np.exp(betaln(a, b + x + shift) - betaln(a, b)) * negbin
        if x > 0 or shift:
            probability += np.exp(betaln(a + 1, b + x + shift - 1) - betaln(a, b)) * (1 - below)
        expected.append(probability.sum())
        below += negbin
    expected.append(len(T) - sum(expected))
    table = pd.DataFrame({"Observed": observed.to_numpy(), "Predicted": expected}, index=labels)
    table.index.name = "RepeatPurchases"
    return table


def pareto_expected_counts(T: np.ndarray, r: float, alpha: float, s: float, beta: float, max_frequency: int,
                           draws: int = 400, seed: int = 0) -> np.ndarray:
    """Expected number of customers with 0, 1, ..., ``max_frequency - 1`` and
    ``max_frequency`` or more repeat purchases by their ``T``, under Pareto/NBD (purchase
    rate Gamma(r, alpha), dropout rate Gamma(s, beta), dropout at an exponential time):
    ``draws`` customers simulated for each observed one, averaged. The Monte Carlo error of a
    bucket holding n expected customers is about sqrt(n / draws)."""
    generator = np.random.default_rng(seed)
    T = np.asarray(T, dtype=float)
    purchase_rate = generator.gamma(r, 1.0 / alpha, (draws, len(T)))
    dropout_rate = generator.gamma(s, 1.0 / beta, (draws, len(T)))
    alive_for = np.minimum(generator.exponential(1.0, (draws, len(T))) / dropout_rate, T)
    counts = np.minimum(generator.poisson(purchase_rate * alive_for), max_frequency)
    return np.bincount(counts.ravel(), minlength=max_frequency + 1) / draws


def frequency_recency_matrix(rfm: pd.DataFrame, params: Mapping[str, Any], days: float = 90,
                             max_frequency: int | None = None, recency_points: int = 13
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """P(alive) and expected purchase days in the next ``days`` for a customer observed for
    the longest ``T`` of ``rfm``, by repeat purchase days (rows, 0 to ``max_frequency``,
    default the 99th percentile) and recency in days (columns, ``recency_points`` steps
    from 0 to ``T``). Cells no customer can have (recency below frequency, since repeat
    purchase days are distinct days after the first) are empty.
    """
    params = check_params(params)
    T = float(_checked_rfm(rfm)["T"].max())
    if max_frequency is None:
        max_frequency = int(max(1, np.ceil(rfm["frequency"].quantile(0.99))))
    frequencies = np.arange(max_frequency + 1, dtype=float)
    recencies = np.unique(np.round(np.linspace(0, T, recency_points)))
    x, t_x = np.meshgrid(frequencies, recencies, indexing="ij")
    grid = pd.DataFrame({"frequency": x.ravel(), "recency": t_x.ravel(), "T": T})
    impossible = (grid["recency"] < grid["frequency"]) | ((grid["frequency"] == 0) & (grid["recency"] > 0))
    shape = x.shape

    def matrix(values: pd.Series) -> pd.DataFrame:
        table = pd.DataFrame(values.mask(impossible).to_numpy().reshape(shape), index=frequencies.astype(int),
                             columns=recencies.astype(int))
        table.index.name, table.columns.name = "frequency", "recency"
        return table

    return matrix(p_alive(grid, params)), matrix(expected_purchases(grid, params, days))


def gamma_gamma_independence(rfm: pd.DataFrame, threshold: float = INDEPENDENCE_THRESHOLD) -> dict[str, Any]:
    """Gamma-Gamma assumes a customer's spend per purchase day does not depend on how often
    they buy. This checks it among the repeat customers (those the model is fitted on).

    Returns ``customers``, ``pearson``, ``spearman``, ``threshold``, ``independent``
    (absolute Spearman correlation at most ``threshold``) and ``message`` (one sentence, a warning when it fails).
    """
    rfm = _checked_rfm(rfm)
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary"] > 0)]
    pearson = float(repeat["frequency"].corr(repeat["monetary"])) if len(repeat) > 2 else float("nan")
    spearman = _spearman(repeat["frequency"], repeat["monetary"])
    independent = bool(np.isnan(spearman) or abs(spearman) <= threshold)
    if independent:
        message = (f"Gamma-Gamma independence holds: among {len(repeat):,} repeat customers, frequency and spend "
                   f"per purchase day correlate {spearman:.2f} (Spearman; {pearson:.2f} Pearson), within ±{threshold}.")
    else:
        direction = "more" if spearman > 0 else "less"
        message = (f"Gamma-Gamma assumes spend per purchase day is independent of frequency, but among "
                   f"{len(repeat):,} repeat customers they correlate {spearman:.2f} (Spearman; {pearson:.2f} Pearson, "
                   f"threshold ±{threshold}): frequent buyers spend {direction} per day, so CLV is biased per "
                   "segment (see the spend ratios of segkit clv --diagnostics).")
    return {"customers": len(repeat), "pearson": pearson, "spearman": spearman, "threshold": threshold,
            "independent": independent, "message": message}


def _percent_words(ratio: float) -> str:
    if not np.isfinite(ratio):
        return "no actual figure to compare with"
    if abs(ratio - 1) < 0.005:
        return "on target"
    return f"{abs(ratio - 1):.0%} " + ("over-forecast" if ratio > 1 else "under-forecast")


def spend_ratio_by_segment(summary: pd.DataFrame) -> pd.DataFrame:
    """Predicted against actual holdout spend per row of ``holdout_summary``, in numbers and words.

    Columns: ``SpendRatio`` (predicted total spend / actual), ``PurchaseRatio`` (the same for
    purchase days), ``SpendPerPurchaseRatio`` (predicted spend per predicted purchase day over
    the actual spend per actual purchase day: the Gamma-Gamma part alone) and ``Reading``.
    """
    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return a / b.where(b > 0)

    table = pd.DataFrame({
        "Customers": summary["Customers"],
        "SpendRatio": ratio(summary["predicted_spend"], summary["actual_spend"]),
        "PurchaseRatio": ratio(summary["predicted_purchases"], summary["actual_purchases"]),
        "SpendPerPurchaseRatio": ratio(ratio(summary["predicted_spend"], summary["predicted_purchases"]),
                                       ratio(summary["actual_spend"], summary["actual_purchases"])),
    }, index=summary.index)
    table["Reading"] = [
        f"{name}: predicted spend {row.SpendRatio:.2f} times the actual ({_percent_words(row.SpendRatio)}); "
        f"purchase days {_percent_words(row.PurchaseRatio)}, spend per purchase day "
        f"{_percent_words(row.SpendPerPurchaseRatio)}."
        for name, row in table.iterrows()]
    return table


def clv_diagnostics(lines: pd.DataFrame, params: Mapping[str, Any], cutoff: pd.Timestamp | str,
                    segments_then: pd.Series | None = None, holdout_params: Mapping[str, Any] | None = None,
                    days: float = 90) -> dict[str, Any]:
    """Every diagnostic in one dict of tables, for ``write_diagnostics`` and notebook 04.

    ``params``: the fit on all of ``lines`` (for the period-transactions check and the
    frequency/recency matrices); ``cutoff``: first day of the holdout, the model fitted again
    on the lines before it (or ``holdout_params``, needing no pymc); ``segments_then``:
    segment names at the cut-off, indexed by CustomerID, for the per-segment rows.
    Keys: ``independence`` (dict), ``calibration``, ``period_transactions``,
    ``p_alive_matrix``, ``expected_purchases_matrix``, ``holdout_summary``, ``spend_ratio``
    (DataFrames; Pareto/NBD's ``period_transactions`` are simulated) and ``comparison`` (per customer).
    """
    rfm = rfm_frame(lines)
    comparison = holdout_comparison(lines, cutoff, params=holdout_params,
                                    model=purchase_model(params))
    summary = holdout_summary(comparison, segments_then)
    alive, purchases = frequency_recency_matrix(rfm, params, days)
    return {"independence": gamma_gamma_independence(rfm), "calibration": calibration_by_frequency(comparison),
            "period_transactions": period_transactions(rfm, params),
            "p_alive_matrix": alive,
            "expected_purchases_matrix": purchases, "holdout_summary": summary,
            "spend_ratio": spend_ratio_by_segment(summary), "comparison": comparison, "days": days}


def diagnostics_summary(diagnostics: Mapping[str, Any]) -> str:
    """The diagnostics in a few plain lines (what ``summary.txt`` holds)."""
    comparison = diagnostics["comparison"]
    a = comparison.attrs
    period = diagnostics["period_transactions"]
    period_words = (
        "Period transactions (customers with 0, 1, 2, ... repeat purchase days, predicted / observed): "
        + ", ".join(f"{b}: {p / o:.2f}" for b, o, p in zip(period.index, period["Observed"], period["Predicted"]) if o)
        + ".")
    lines = [
        (f"Holdout: fitted on the purchases before {a['cutoff']:%Y-%m-%d}, checked on the {a['holdout_days']} days "
         f"from it ({len(comparison):,} customers; {a['new_customers']:,} new customers are outside the forecast)."),
        diagnostics["independence"]["message"],
        "Calibration by repeat purchase days before the cut-off (predicted / actual holdout purchases): "
        + ", ".join(f"{b}: {r:.2f}" for b, r in diagnostics["calibration"]["Ratio"].items() if np.isfinite(r)) + ".",
        period_words,
    ]
    lines += list(diagnostics["spend_ratio"]["Reading"])
    return "\n".join(lines) + "\n"


def write_diagnostics(diagnostics: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write the ``clv_diagnostics`` tables as CSV files and ``summary.txt`` in ``folder``;
    returns the paths written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SegkitDataError(f"Cannot create the diagnostics folder '{folder}' ({exc.strerror}); name a writable "
                              "folder.") from None
    written = []
    independence = {k: v for k, v in diagnostics["independence"].items()}
    tables = {
        "calibration_by_frequency.csv": diagnostics["calibration"],
        "period_transactions.csv": diagnostics["period_transactions"],
        "p_alive_matrix.csv": diagnostics["p_alive_matrix"],
        f"expected_purchases_{int(diagnostics['days'])}d_matrix.csv": diagnostics["expected_purchases_matrix"],
        "gamma_gamma_independence.csv": pd.DataFrame([independence]).set_index("customers"),
        "holdout_summary.csv": diagnostics["holdout_summary"].rename_axis("Segment"),
        "spend_ratio_by_segment.csv": diagnostics["spend_ratio"].rename_axis("Segment"),
    }
    for name, table in tables.items():
        if table is None:
            continue
        path = folder / name
        table.to_csv(path)
        written.append(path)
    path = folder / "summary.txt"
    path.write_text(diagnostics_summary(diagnostics), encoding="utf-8")
    written.append(path)
    return written
