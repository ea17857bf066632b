"""Customer-level features: one row per customer from clean transaction lines.

``customer_features`` builds the table (in process, or out of core for large logs);
``register_feature`` adds a feature of your own, computed from a customer's lines.
"""
from segkit.features.customers import (
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    add_registered_features,
    customer_features,
    data_fingerprint,
    finish_customers,
)
from segkit.rules.registry import (
    FEATURE_TRANSFORMS,
    PRODUCT_CATEGORIES,
    REGISTERED_FEATURES,
    categories_bought,
    christmas_share,
    product_category,
    register_feature,
)
from segkit.schema import snapshot_date_for, to_utc_naive, window_start

__all__ = [
    "FEATURE_COLUMNS", "NUMERIC_FEATURES", "FEATURE_TRANSFORMS", "PRODUCT_CATEGORIES", "REGISTERED_FEATURES",
    "add_registered_features", "customer_features", "data_fingerprint", "finish_customers",
    "categories_bought", "christmas_share", "product_category", "register_feature",
    "snapshot_date_for", "to_utc_naive", "window_start",
]
