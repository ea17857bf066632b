"""segkit: customer segmentation for retail transaction logs.

The main API is here, one name per task; each lives in the module of its stage
(``segkit.ingest`` reads, ``segkit.clean``, ``segkit.features``, ``segkit.modeling``,
``segkit.pipeline`` trains, saves and backtests, ``segkit.value`` is lifetime value) and
is imported only when first used, so ``import segkit`` stays light.

>>> import segkit
>>> log = segkit.generate_sample_transactions(n_customers=300, seed=1)  # the built-in sample
>>> lines, report = segkit.clean_transactions(log)
>>> customers = segkit.customer_features(lines)
>>> len(customers) > 250
True
>>> model = segkit.SegmentationModel(n_clusters=4).fit(customers)
>>> segmented = model.segment(customers)
>>> sorted(set(segmented["Segment"]) - {"New", "At risk", "Lost"})
['Budget', 'Loyal', 'Occasional', 'VIP']

A file of your own: ``segkit.load_transactions("orders.xlsx")`` in place of the sample
(``columns={...}`` for other layouts). ``segkit.load_customer_data(path)`` does read,
clean and features at once, ``segkit.train_with_lifecycle(data)`` chooses K, fits the
lifecycle thresholds to the log (as ``segkit train`` does; ``segkit.train_model(data)`` keeps
the fixed 30/120/180 days) and names the segments, ``segkit.save_artifacts(model, "artifacts")`` / ``segkit.load_artifacts(...)``
keep it, ``segkit.backtest_segments(lines)`` checks each segment against what such
customers did next, and ``segkit.rfm_frame`` / ``segkit.fit_clv`` give lifetime value.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from segkit.errors import SegkitArtifactError, SegkitDataError, SegkitError

if TYPE_CHECKING:  # the names below, for editors and type checkers; imported lazily at run time
    from segkit.clean import clean_transactions  # noqa: F401
    from segkit.features.customers import customer_features  # noqa: F401
    from segkit.ingest.load import load_transactions  # noqa: F401
    from segkit.ingest.sample import generate_sample_transactions  # noqa: F401
    from segkit.modeling.model import SegmentationModel  # noqa: F401
    from segkit.pipeline.artifacts import load_artifacts, save_artifacts  # noqa: F401
    from segkit.pipeline.backtest import backtest_segments  # noqa: F401
    from segkit.pipeline.thresholds import train_with_lifecycle  # noqa: F401
    from segkit.pipeline.workflow import (  # noqa: F401
        customers_for_scoring,
        load_customer_data,
        train_model,
    )
    from segkit.rules.registry import register_feature  # noqa: F401
    from segkit.value.clv import customer_value, fit_clv, rfm_frame  # noqa: F401

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "load_transactions": "segkit.ingest.load",
    "generate_sample_transactions": "segkit.ingest.sample",
    "clean_transactions": "segkit.clean",
    "customer_features": "segkit.features.customers",
    "register_feature": "segkit.rules.registry",
    "SegmentationModel": "segkit.modeling.model",
    "load_customer_data": "segkit.pipeline.workflow",
    "train_model": "segkit.pipeline.workflow",
    "train_with_lifecycle": "segkit.pipeline.thresholds",
    "customers_for_scoring": "segkit.pipeline.workflow",
    "save_artifacts": "segkit.pipeline.artifacts",
    "load_artifacts": "segkit.pipeline.artifacts",
    "backtest_segments": "segkit.pipeline.backtest",
    "rfm_frame": "segkit.value.clv",
    "fit_clv": "segkit.value.clv",
    "customer_value": "segkit.value.clv",
}

__all__ = ["SegkitError", "SegkitDataError", "SegkitArtifactError", "__version__", *_API]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'segkit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
