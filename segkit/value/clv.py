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

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.special import expit, gammaln, hyp2f1

from segkit.config import CACHE_DIR
from segkit.errors import SegkitDataError, SegkitError
from segkit.schema import snapshot_date_for

__all__ = [
    "VALUE_COLUMNS",
    "customer_value",
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
    "holdout_comparison",
    "holdout_summary",
]

RFM_COLUMNS = ["frequency", "recency", "T", "monetary"]
PREDICTION_COLUMNS = RFM_COLUMNS + ["p_alive", "expected_purchases_90d", "clv"]
#: A month of the CLV horizon, in days (pymc-marketing's ``customer_lifetime_value`` uses 30).
DAYS_PER_MONTH = 30
#: The purchase models ``fit_clv`` knows, by the key that names them in the parameters.
PURCHASE_MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD"}
DEFAULT_PURCHASE_MODEL = "bgnbd"
_PARAM_NAMES = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"), "gamma_gamma": ("p", "q", "v")}


def rfm_frame(lines: pd.DataFrame, until: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer (see the module docstring).

    ``lines``: clean lines with ``CustomerID``, ``InvoiceDate`` and ``TotalPrice`` (or
    ``Quantity`` and ``UnitPrice``). ``until``: the last day of the observation (lines on
    later days are ignored; recency and T are counted to it); default: the day of the last
    purchase. Returns one row per customer who bought by then, indexed by ``CustomerID``
    (string), columns ``RFM_COLUMNS`` (float days; monetary in currency).
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
            from pymc_extras.prior import Prior
            from pymc_marketing.clv import (
                BetaGeoModel,
                GammaGammaModel,
                ModifiedBetaGeoModel,
            )
    except ImportError as exc:
        raise SegkitError(
            f"Lifetime value needs pymc-marketing, which is not installed ({exc.name} missing); "
            "install it with: pip install 'segkit[clv]'."
        ) from None
    return Prior, {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel}, GammaGammaModel


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
    import logging

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
    (2007), where the second term (dropout after the last purchase day) holds for x = 0 too.
    """
    model, r, alpha, a, b = _purchase_params(params)
    x, t_x, T = _arrays(rfm)
    shift = 1.0 if model == "mbgnbd" else 0.0  # MBG/NBD: one more dropout chance, at the first purchase
    common = (gammaln(r + x) - gammaln(r) + r * np.log(alpha)
              + gammaln(a + b) + gammaln(b + x + shift) - gammaln(b) - gammaln(a + b + x + shift))
    stays = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        leaves = np.log(a) - np.log(b + x + shift - 1) - (r + x) * np.log(alpha + t_x)
    if model == "bgnbd":
        leaves = np.where(x > 0, leaves, -np.inf)
    return pd.Series(common + np.logaddexp(stays, leaves), index=rfm.index, name="log_likelihood")


def _dropout_odds_log(model: str, r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
                      T: np.ndarray) -> np.ndarray:
    """log of ``a / (b + x - 1)`` (BG/NBD; ``b + x`` for MBG/NBD) ``* ((alpha + T) / (alpha + t_x)) ** (r + x)``."""
    denominator = b + x if model == "mbgnbd" else b + np.maximum(x, 1) - 1
    return (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / denominator)


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
                discount: float = 0.01) -> pd.DataFrame:
    """The ``rfm`` table with ``p_alive``, ``expected_purchases_90d`` and ``clv`` added.

    One row per customer, columns ``PREDICTION_COLUMNS`` (what ``segkit clv`` writes);
    no pymc needed. For the page: ``predict_clv(rfm_frame(lines), load_params(path))``.
    """
    params = check_params(params)
    out = rfm.reindex(columns=RFM_COLUMNS).fillna({"monetary": 0.0})
    out["p_alive"] = p_alive(rfm, params)
    out["expected_purchases_90d"] = expected_purchases(rfm, params, 90)
    out["clv"] = customer_lifetime_value(rfm, params, horizon_months, discount)
    return out


#: Columns ``customer_value`` adds to a customer table.
VALUE_COLUMNS = ["PAlive", "ExpectedPurchases90d", "CLV"]


def customer_value(lines: pd.DataFrame, params: Mapping[str, Any], horizon_months: int = 12,
                   discount: float = 0.01) -> pd.DataFrame:
    """Per customer (index CustomerID): ``PAlive`` (0-1), ``ExpectedPurchases90d``
    (purchase days) and ``CLV`` (currency, over ``horizon_months``), from clean lines and
    stored parameters; numpy and scipy only, no pymc."""
    predicted = predict_clv(rfm_frame(lines), params, horizon_months, discount)
    return pd.DataFrame({"PAlive": predicted["p_alive"].round(4),
                         "ExpectedPurchases90d": predicted["expected_purchases_90d"].round(3),
                         "CLV": predicted["clv"].round(2)})


def clv_available() -> bool:
    """True when pymc-marketing (the ``clv`` extra) is installed, so parameters can be fitted."""
    import importlib.util

    return importlib.util.find_spec("pymc_marketing") is not None


def value_by_segment(predicted: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    """Lifetime value per segment from ``predict_clv`` output (for summaries and the page).

    ``segments``: segment names indexed by ``CustomerID`` (customers without one are left
    out). Rows in the fixed segment order; columns ``Customers``, ``TotalCLV`` and
    ``MeanCLV`` (currency), ``CLVShare`` (0-1 of the total), ``MeanPAlive`` (0-1),
    ``ExpectedPurchases90d`` (sum of purchase days expected in the next 90 days).
    """
    from segkit.modeling.label import segment_order

    names = segments.astype("string").reindex(predicted.index.astype("string"))
    frame = predicted.assign(Segment=names.to_numpy()).dropna(subset=["Segment"])
    table = frame.groupby("Segment", observed=True).agg(
        Customers=("clv", "size"), TotalCLV=("clv", "sum"), MeanCLV=("clv", "mean"),
        MeanPAlive=("p_alive", "mean"), ExpectedPurchases90d=("expected_purchases_90d", "sum"))
    table.index = table.index.astype(str)
    table.insert(3, "CLVShare", table["TotalCLV"] / table["TotalCLV"].sum())
    return table.loc[segment_order(table.index)]


# --- validation on a holdout period ------------------------------------------------------

def _purchase_days_and_spend(lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Purchase days and spend per customer for lines with ``start <= InvoiceDate < end``."""
    part = lines[(lines["InvoiceDate"] >= start) & (lines["InvoiceDate"] < end)]
    ids = part["CustomerID"].astype("string")
    grouped = part.assign(CustomerID=ids, Day=part["InvoiceDate"].dt.normalize()).groupby("CustomerID", observed=True)
    return pd.DataFrame({"purchases": grouped["Day"].nunique().astype("float64"), "spend": grouped["TotalPrice"].sum()})


def holdout_comparison(lines: pd.DataFrame, cutoff: pd.Timestamp | str,
                       params: Mapping[str, Any] | None = None, model: str = DEFAULT_PURCHASE_MODEL) -> pd.DataFrame:
    """Fit on the lines before ``cutoff``, predict the rest, and set both beside the actuals.

    ``lines``: clean lines (``CustomerID``, ``InvoiceDate``, ``TotalPrice``). The holdout
    runs from ``cutoff`` to the last purchase day (``attrs["holdout_days"]`` days, both
    ends included). One row per customer who bought before the cut-off, with:

    - ``actual_purchases`` / ``actual_spend``: purchase days and spend in the holdout;
    - ``predicted_purchases``: the purchase model's expected purchase days over the holdout;
      ``predicted_spend``: that times the Gamma-Gamma expected spend per purchase day;
    - ``naive_purchases`` / ``naive_spend``: the same customer's figures in the period of
      equal length just before the cut-off ("same as last period").

    - ``p_alive``: P(alive) at the cut-off (to compare with who bought again).

    ``params`` default: ``fit_clv(..., model)`` on the calibration lines (needs pymc-marketing).
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
    holdout_days = (end - cutoff).days
    rfm = rfm_frame(lines[lines["InvoiceDate"] < cutoff], until=cutoff - pd.Timedelta(days=1))
    params = fit_clv(rfm, model) if params is None else check_params(params)
    actual = _purchase_days_and_spend(lines, cutoff, end).reindex(rfm.index, fill_value=0.0)
    naive = _purchase_days_and_spend(lines, cutoff - pd.Timedelta(days=holdout_days), cutoff).reindex(rfm.index, fill_value=0.0)
    predicted = expected_purchases(rfm, params, holdout_days)
    table = pd.DataFrame({
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
        from segkit.modeling.label import segment_order

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
