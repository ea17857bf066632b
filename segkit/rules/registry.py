"""Registered customer features: extra columns a data scientist adds to the customer table
beside the built-in ones of ``segkit.rules.lines.customer_table``.

``register_feature(name, func, transform)`` adds a function of a customer's clean lines (a
pandas DataFrame) that returns one value per customer, and how the model transforms it
before scaling. Two come with segkit: ``ChristmasShare`` (``christmas_share``) and
``CategoriesBought`` (``categories_bought``, by the word lists of ``PRODUCT_CATEGORIES``).
Every engine hands each function the same clean lines, inside the observation window, as the
in-memory path does (``lines_as_in_memory``); ``compute_features`` runs them and
``with_features`` joins their values to the customer table. Functions sent to other
processes (Spark's executors) must pickle (``check_picklable``).
"""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from segkit.errors import SegkitDataError
from segkit.schema import LINE_COLUMNS, LINE_NUMBER, TEXT_COLUMNS, to_utc_naive

__all__ = ["PRODUCT_CATEGORIES", "OTHER_CATEGORY", "product_category", "CustomerFeature", "REGISTERED_FEATURES", "FEATURE_TRANSFORMS", "register_feature", "christmas_share", "categories_bought", "feature_functions", "compute_features", "with_features"]


#: Product category -> words in the description that put a product there (first match wins).
PRODUCT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Christmas": ("CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE"),
    "Bags": ("BAG", "TOTE", "PURSE", "SHOPPER"),
    "Kitchen": ("MUG", "CUP", "PLATE", "BOWL", "TEA", "CAKE", "LUNCH BOX", "JAR", "BAKING", "SPOON", "NAPKIN", "TRAY", "BOTTLE"),
    "Candles & lights": ("CANDLE", "T-LIGHT", "LANTERN", "LIGHT", "HOLDER", "NIGHT LIGHT"),
    "Home decor": ("HEART", "SIGN", "FRAME", "CLOCK", "CUSHION", "DOORMAT", "HANGING", "MIRROR", "VINTAGE", "WALL", "DECORATION", "BUNTING", "ORNAMENT"),
    "Stationery & gifts": ("CARD", "WRAP", "PAPER", "NOTEBOOK", "PEN", "STICKER", "GIFT", "RIBBON", "BOX", "TISSUE"),
    "Toys & kids": ("TOY", "DOLLY", "CHILDREN", "KIDS", "GAME", "PARTY", "BALLOON", "SPACEBOY", "DOLL", "TEDDY"),
    "Garden": ("GARDEN", "PLANT", "FLOWER", "WATERING", "BIRD"),
}


OTHER_CATEGORY = "Other"


def product_category(descriptions: pd.Series) -> pd.Series:
    """Map product descriptions to a coarse category by keyword (``PRODUCT_CATEGORIES``)."""
    text = descriptions.astype("string").str.upper().fillna("")
    result = pd.Series(OTHER_CATEGORY, index=descriptions.index, dtype="string")
    assigned = pd.Series(False, index=descriptions.index)
    for category, words in PRODUCT_CATEGORIES.items():
        pattern = r"\b(?:" + "|".join(re.escape(w) for w in words) + r")S?\b"
        hit = text.str.contains(pattern, regex=True) & ~assigned
        result[hit] = category
        assigned |= hit
    return result


#: A customer feature computed from clean lines: ``func(lines) -> Series`` indexed by
#: CustomerID (customers it leaves out get 0).
CustomerFeature = Callable[[pd.DataFrame], pd.Series]


REGISTERED_FEATURES: dict[str, CustomerFeature] = {}


#: How a registered feature is transformed before scaling: "log1p" (skewed counts and
#: money) or "identity" (shares, scores).
FEATURE_TRANSFORMS: dict[str, str] = {}


def register_feature(name: str, func: CustomerFeature | None = None, transform: str = "log1p"):
    """Register a customer feature by name, so that ``train``, ``score``, the CLI's
    ``--feature NAME`` and the page compute it from the clean lines.

    A feature is a pandas function of clean lines returning one value per customer,
    computed from that customer's lines alone (so every engine can compute it in chunks
    of customers). Define it in a module (a ``.py`` file): a saved model records it as
    ``module:function`` and imports it when loaded (``segkit score --feature-module``).

    Parameters
    ----------
    name : str
        The feature's column name (``--feature NAME``).
    func : callable, optional
        ``func(lines) -> pandas.Series`` indexed by CustomerID. Omit it to use
        ``register_feature`` as a decorator.
    transform : {"log1p", "identity"}, default "log1p"
        How the model transforms the feature before scaling (``identity`` for shares).

    Returns
    -------
    callable
        ``func`` itself, or the decorator.

    Examples
    --------
    >>> @register_feature("WeekendShare", transform="identity")
    ... def weekend_share(lines):
    ...     spend = lines["Quantity"] * lines["UnitPrice"]
    ...     weekend = spend.where(lines["InvoiceDate"].dt.day_of_week >= 5, 0.0)
    ...     return weekend.groupby(lines["CustomerID"]).sum() / spend.groupby(lines["CustomerID"]).sum()
    >>> "WeekendShare" in REGISTERED_FEATURES
    True
    """
    def add(function: CustomerFeature) -> CustomerFeature:
        REGISTERED_FEATURES[name] = function
        FEATURE_TRANSFORMS[name] = transform
        return function

    return add(func) if func is not None else add


@register_feature("ChristmasShare", transform="identity")
def christmas_share(lines: pd.DataFrame) -> pd.Series:
    """Share of the customer's spend on Christmas products (``product_category``), 0..1."""
    spend = lines["Quantity"] * lines["UnitPrice"]
    christmas = spend.where(product_category(lines["Description"]) == "Christmas", 0.0) if "Description" in lines \
        else spend * 0.0
    total = spend.groupby(lines["CustomerID"], observed=True).sum()
    return (christmas.groupby(lines["CustomerID"], observed=True).sum() / total.where(total > 0)).fillna(0.0).clip(0, 1)


@register_feature("CategoriesBought")
def categories_bought(lines: pd.DataFrame) -> pd.Series:
    """Number of product categories (``product_category``) the customer bought from."""
    if "Description" not in lines:
        return pd.Series(1, index=pd.unique(lines["CustomerID"]))
    return product_category(lines["Description"]).groupby(lines["CustomerID"], observed=True).nunique()








def feature_functions(names: Iterable[str], engine=None) -> dict[str, Any]:
    """The registered functions of ``names`` (in order); unknown names refused in one
    sentence, and on Spark (``engine``) a function that cannot be sent to the executors."""
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in REGISTERED_FEATURES]
    if unknown:
        raise SegkitDataError(
            f"No feature named {', '.join(unknown)}; registered features: {', '.join(sorted(REGISTERED_FEATURES))} "
            "(register your own with segkit.rules.registry.register_feature)."
        )
    functions = {name: REGISTERED_FEATURES[name] for name in names}
    if getattr(engine, "name", None) == "spark":
        check_picklable(functions)
    return functions


def compute_features(lines: pd.DataFrame, functions: Mapping[str, Any]) -> pd.DataFrame:
    """The ``functions`` (name -> ``func(lines) -> Series`` by CustomerID) on ``lines``: one
    float column per feature, indexed by CustomerID as text. A function that fails or
    gives no numbers is named in one sentence (``SegkitDataError``)."""
    columns = {}
    for name, function in functions.items():
        try:
            values = function(lines)
            if not isinstance(values, pd.Series):
                raise TypeError(f"it returned {type(values).__name__}, not a pandas Series indexed by CustomerID")
            values = values.astype("float64")
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0][:160]
            raise SegkitDataError(
                f"The registered feature '{name}' failed on the clean lines ({type(exc).__name__}: {reason}); "
                f"fix the function or leave out --feature {name}."
            ) from None
        values.index = pd.Index(values.index, dtype="string", name="CustomerID")
        columns[name] = values
    table = pd.DataFrame(columns, index=None if columns else pd.Index([], dtype="string"))
    table.index.name = "CustomerID"
    return table


def with_features(customers: pd.DataFrame, values: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """``customers`` with the feature columns ``names`` of ``values`` (``compute_features``);
    a customer without a value gets 0."""
    out = customers.copy()
    for name in names:
        column = values[name] if name in values else pd.Series(dtype="float64")
        out[name] = column.reindex(out.index).fillna(0).astype("float64").to_numpy()
    return out


def lines_as_in_memory(frame: pd.DataFrame) -> pd.DataFrame:
    """Clean lines from an engine typed as the in-memory path types them (file order,
    canonical columns and ``TotalPrice``, text ids, nanosecond dates, whole quantities as
    integers)."""
    if LINE_NUMBER in frame:
        frame = frame.sort_values(LINE_NUMBER, kind="stable")
    lines = frame.reindex(columns=LINE_COLUMNS + ["TotalPrice"]).reset_index(drop=True)
    for column in TEXT_COLUMNS:
        lines[column] = lines[column].astype("string")
    lines["InvoiceDate"] = to_utc_naive(pd.to_datetime(lines["InvoiceDate"])).astype("datetime64[ns]")
    quantity = lines["Quantity"].astype("float64")
    if quantity.notna().all() and (quantity % 1 == 0).all():
        lines["Quantity"] = quantity.astype("int64")
    return lines





@contextmanager
def sent_by_value(functions: Mapping[str, Any]) -> Iterator[None]:
    """While Spark pickles ``functions``, the modules that define them (other than segkit's,
    which the executors import) travel by value, so the executors need not have them."""
    # optional: spark
    from pyspark import cloudpickle

    already = set(cloudpickle.list_registry_pickle_by_value())
    modules = {getattr(f, "__module__", None) for f in functions.values()}
    added = [sys.modules[m] for m in modules if m and m in sys.modules and m not in already
             and m != "__main__" and m.split(".")[0] != "segkit"]
    for module in added:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def check_picklable(functions: Mapping[str, Any]) -> None:
    """Refuse, naming it, a feature function Spark cannot send to its executors."""
    # optional: spark
    from pyspark import cloudpickle

    for name, function in functions.items():
        try:
            with sent_by_value({name: function}):
                cloudpickle.dumps(function)
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise SegkitDataError(
                f"The registered feature '{name}' cannot be sent to Spark's executors ({reason}); keep open files, "
                "locks and connections out of the function (create them inside it), or use --engine duckdb."
            ) from None


