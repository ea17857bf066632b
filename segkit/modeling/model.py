"""The segmentation model: a scikit-learn Pipeline and an honest choice of K.

Default preset: every customer first gets a lifecycle stage from the calendar
(``label.LifecycleRules``: New, At risk, Lost, else Active); the active customers are
clustered into K value tiers on log purchases and log spend by
``Pipeline([log1p, StandardScaler, BisectingKMeans])``. Bisecting K-Means splits the
largest tier at each step, so tiers nest: K + 1 tiers split one of the K tiers instead of
reshuffling everyone, and another K never changes a lifecycle stage. Tiers are named by
value rank (VIP, Loyal, Regular, Budget for K = 4), so K = 4 gives seven segments.

The ``seed`` preset reproduces the original dashboard (raw features, StandardScaler,
KMeans over every customer, names from cluster profiles). ``SegmentationModel``
profiles and names the segments and scores new customers. ``evaluate_k`` compares K values on inertia,
silhouette, Calinski-Harabasz, Davies-Bouldin and bootstrap stability;
``recommend_k`` picks one by the rule in its docstring.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted
from threadpoolctl import threadpool_limits

from segkit.errors import SegkitDataError
from segkit.ingest.currency import currency_symbol
from segkit.modeling.label import (
    PROFILE_FEATURES,
    SETTLED_DAYS,
    LifecycleRules,
    days_to_stage_change,
    lifecycle_stage,
    name_segments,
    recommendation_for,
    segment_definitions,
    segment_profile,
    tier_names,
)

__all__ = [
    "FeaturePreset",
    "FEATURE_PRESETS",
    "SegmentationModel",
    "evaluate_k",
    "recommend_k",
    "clustering_metrics",
    "log1p_nonnegative",
    "NearestMemberAssignment",
]


@dataclass(frozen=True)
class FeaturePreset:
    features: tuple[str, ...]
    log_transform: bool
    lifecycle: LifecycleRules | None = None
    max_k: int = 8


FEATURE_PRESETS: dict[str, FeaturePreset] = {
    # Lifecycle stage from the calendar x value tiers of the active customers; at most
    # 4 tiers, so at most 7 segments (see docs/data-science.md, "Choosing K").
    "default": FeaturePreset(("NumPurchases", "TotalSpend"), True, LifecycleRules(), max_k=4),
    # Every customer clustered on log recency, purchases and spend (segkit's first default).
    "clusters": FeaturePreset(("Recency", "NumPurchases", "TotalSpend"), True),
    # The original dashboard: raw values, standard-scaled.
    "seed": FeaturePreset(("NumPurchases", "TotalQuantity", "TotalSpend"), False),
}
#: Segment codes after the K value tiers (0 = highest tier): K + position in this tuple.
STAGE_SEGMENTS = ("New", "At risk", "Lost")
#: Columns the lifecycle rules read, after the clustered features in ``feature_names_in_``.
STAGE_COLUMNS = ("Recency", "Tenure", "NumPurchases")

#: Above this many customers KMeans gives way to MiniBatchKMeans: up to 4M customers KMeans
#: was measured both faster and better (docs/benchmarks.md, "Training at a million
#: customers"); above 5M (not measured) MiniBatch bounds the time.
MINIBATCH_ABOVE = 5_000_000
#: Below this many customers one thread is faster: OpenMP start-up and contention on a
#: shared machine cost more than the work (docs/benchmarks.md, "The whole pipeline").
SINGLE_THREAD_BELOW = 50_000


def _threads_for(n_rows: int):
    return threadpool_limits(1) if n_rows < SINGLE_THREAD_BELOW else threadpool_limits(None)
SILHOUETTE_SAMPLE = 10_000


@contextlib.contextmanager
def _quiet_convergence():
    """KMeans warns when it finds fewer distinct clusters than K (ties, bootstrap samples);
    the metrics already show it, so the warning never reaches the user's terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def log1p_nonnegative(values):
    """log(1 + x) of values clipped at 0 (spend and counts are skewed and never negative)."""
    return np.log1p(np.clip(values, 0, None))


def log_step() -> FunctionTransformer:
    """The stateless log1p step of the pipeline."""
    return FunctionTransformer(log1p_nonnegative, feature_names_out="one-to-one")


def _build_pipeline(log_transform: bool, n_clusters: int, random_state, n_customers: int, n_init: int,
                    bisecting: bool = False) -> Pipeline:
    steps = []
    if log_transform:
        steps.append(("log1p", log_step()))
    steps.append(("scaler", StandardScaler()))
    steps.append(("cluster", _kmeans(n_clusters, random_state, n_customers, n_init, bisecting)))
    return Pipeline(steps)


def _kmeans(n_clusters: int, random_state, n_customers: int, n_init: int, bisecting: bool = False):
    if bisecting:
        # Splitting the largest tier each time keeps small top tiers (VIP) intact as K grows.
        return BisectingKMeans(n_clusters=n_clusters, random_state=random_state, n_init=n_init,
                               bisecting_strategy="largest_cluster")
    if n_customers > MINIBATCH_ABOVE:
        return MiniBatchKMeans(n_clusters=n_clusters, random_state=random_state, n_init=n_init,
                               batch_size=4096)
    return KMeans(n_clusters=n_clusters, random_state=random_state, n_init=n_init)


def clustering_metrics(X_scaled: np.ndarray, labels: np.ndarray, inertia: float | None = None,
                       random_state: int = 0) -> dict[str, float]:
    """Silhouette (on at most 10,000 points), Calinski-Harabasz, Davies-Bouldin, cluster shares."""
    labels = np.asarray(labels)
    shares = np.bincount(labels) / len(labels)
    k = len(np.unique(labels))
    out = {
        "inertia": float(inertia) if inertia is not None else float("nan"),
        "silhouette": float("nan"), "calinski_harabasz": float("nan"), "davies_bouldin": float("nan"),
        "min_cluster_share": float(shares.min()), "smallest_cluster": int(np.bincount(labels).min()),
    }
    if 1 < k < len(labels):
        sample = min(SILHOUETTE_SAMPLE, len(labels))
        out["silhouette"] = float(silhouette_score(X_scaled, labels, sample_size=sample, random_state=random_state))
        out["calinski_harabasz"] = float(calinski_harabasz_score(X_scaled, labels))
        out["davies_bouldin"] = float(davies_bouldin_score(X_scaled, labels))
    return out


class SegmentationModel(ClusterMixin, TransformerMixin, BaseEstimator):
    """Customer segmentation with named, defined segments; a scikit-learn clusterer.

    By default (``lifecycle="default"``) every customer first gets a lifecycle stage from
    the calendar (New, At risk, Lost, else Active), and the active customers are
    clustered into K value tiers named after the value prototype they match (VIP, Loyal,
    Regular, Occasional, Budget). ``fit``/``predict`` follow scikit-learn; ``segment``
    adds names, recommendations and confidences to a customer table.

    Parameters
    ----------
    features : sequence of str, optional
        Customer feature columns used for clustering; default NumPurchases and TotalSpend.
        ``None``: every column of the matrix given to ``fit`` (numpy arrays get names
        ``x0``, ``x1``, ...).
    log_transform : bool, default True
        Apply log1p (of values clipped at 0) before scaling.
    n_clusters : int, default 4
        K, the number of clusters (value tiers when ``lifecycle`` is set); passed to the
        clusterer as ``n_clusters`` or ``n_components``, whichever it takes.
    random_state : int or None, default 42
        Seed for the clustering, stored as given.
    n_init : int, default 10
        K-Means restarts (built-in clusterers only).
    lifecycle : LifecycleRules, "default" or None, default "default"
        ``LifecycleRules`` to stage customers by the calendar first and cluster only the
        active ones into value tiers (needs Recency, Tenure and NumPurchases columns);
        ``"default"``: ``LifecycleRules()``; ``None``: cluster everyone and name clusters
        by their profile.
    scaler : scikit-learn transformer, optional
        Any transformer (cloned); ``None``: ``StandardScaler()``.
    clusterer : scikit-learn estimator, optional
        Any clusterer (cloned), e.g. ``KMeans``, ``MiniBatchKMeans``,
        ``GaussianMixture``; ``None``: bisecting K-Means with lifecycle rules, else
        K-Means. A clusterer without ``predict`` (``AgglomerativeClustering``,
        ``DBSCAN``, ``HDBSCAN``) is wrapped in ``NearestMemberAssignment``: new customers
        get the cluster of their nearest training member, and noise points (-1) that of
        their nearest clustered member. It must find exactly ``n_clusters`` clusters.
    transforms : mapping of str to str, optional
        Per-feature transform overriding ``log_transform``, e.g.
        ``{"ChristmasShare": "identity"}``; values ``"log1p"`` or ``"identity"``.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted transforms, scaler and clusterer.
    labels_ : numpy.ndarray
        Segment code per customer of the training table. With lifecycle rules
        ``n_clusters`` is K, the number of value tiers, and the codes run from 0 to K+2:
        0 to K-1 are the tiers (highest first), then New, At risk and Lost. Without
        lifecycle rules they run from 0 to K-1.
    segment_names_ : dict
        Code -> name; with ``lifecycle``, codes 0..K-1 are the value tiers from the
        highest, then New, At risk, Lost.
    tier_of_cluster_ : dict
        Cluster -> tier rank.
    cluster_centres_ : numpy.ndarray
        Mean scaled features per cluster.
    profile_ : pandas.DataFrame
        One row per segment in original units.
    definitions_ : pandas.DataFrame
        Per segment: its definition in plain words and in its members' numbers, and the
        recommendation.
    metrics_ : dict
        Silhouette, Calinski-Harabasz and Davies-Bouldin of the fit.
    feature_names_in_ : numpy.ndarray
        Every column ``predict`` reads, in order: the clustered features, then (with
        lifecycle rules) Recency, Tenure and NumPurchases. A numpy array given to
        ``predict`` must have these columns in this order.
    n_features_in_ : int
        ``len(feature_names_in_)``.
    cluster_features_ : numpy.ndarray
        The features the clusterer sees (``features``, or x0, x1, .. for arrays).

    Notes
    -----
    scikit-learn's ``check_estimator``: with ``features=None, lifecycle=None,
    log_transform=False`` every check passes; the default model fails the generic checks
    that feed bare arrays, each declared with its reason by ``expected_failed_checks()``.

    Examples
    --------
    >>> from segkit.pipeline.workflow import load_customer_data
    >>> from segkit.ingest.sample import generate_sample_transactions
    >>> customers = load_customer_data(generate_sample_transactions(n_customers=300)).customers
    >>> model = SegmentationModel(n_clusters=3).fit(customers)
    >>> segmented = model.segment(customers)
    >>> sorted(set(segmented["Stage"]))
    ['Active', 'At risk', 'Lost', 'New']
    """

    def __init__(self, features: Sequence[str] | None = FEATURE_PRESETS["default"].features,
                 log_transform: bool = True, n_clusters: int = 4, random_state: int | None = 42,
                 n_init: int = 10, lifecycle: LifecycleRules | str | None = "default",
                 scaler=None, clusterer=None, transforms: Mapping[str, str] | None = None):
        self.features = features
        self.log_transform = log_transform
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.n_init = n_init
        self.lifecycle = lifecycle
        self.scaler = scaler
        self.clusterer = clusterer
        self.transforms = transforms

    @classmethod
    def from_preset(cls, preset: str = "default", **kwargs) -> "SegmentationModel":
        spec = FEATURE_PRESETS[preset]
        params = {"features": spec.features, "log_transform": spec.log_transform, "lifecycle": spec.lifecycle}
        params.update(kwargs)
        return cls(**params)

    @property
    def lifecycle_rules_(self) -> LifecycleRules | None:
        """The lifecycle rules in force (``lifecycle`` resolved)."""
        if self.lifecycle is None or isinstance(self.lifecycle, LifecycleRules):
            return self.lifecycle
        if self.lifecycle == "default":
            return LifecycleRules()
        raise SegkitDataError(f"lifecycle must be LifecycleRules, 'default' or None, not {self.lifecycle!r}.")

    @property
    def input_columns_(self) -> list[str]:
        """Every column a customer table needs to be scored: the features, and with
        lifecycle rules Recency, Tenure and NumPurchases."""
        features = list(self.cluster_features_) if hasattr(self, "cluster_features_") else list(self.features or [])
        return self._with_stage_columns(features)

    def _with_stage_columns(self, features: list[str]) -> list[str]:
        staging = list(STAGE_COLUMNS) if self.lifecycle_rules_ is not None else []
        return list(dict.fromkeys(features + staging))

    # -- inputs ---------------------------------------------------------------------
    def _as_frame(self, X, fitting: bool = False) -> pd.DataFrame:
        """A DataFrame of ``X`` (numpy arrays get the fitted or given names, else x0..)."""
        if isinstance(X, pd.DataFrame):
            return X
        # Arrays get scikit-learn's own checks and messages (shape, sparse, NaN, dtype).
        array = check_array(X, dtype="numeric", ensure_min_samples=1)
        # Columns in the order of feature_names_in_: the clustered features, then the
        # stage columns (Recency, Tenure, NumPurchases) the lifecycle rules read.
        names = list(self.feature_names_in_) if not fitting and hasattr(self, "feature_names_in_") else (
            self._with_stage_columns(list(self.features)) if self.features is not None
            else [f"x{i}" for i in range(array.shape[1])])
        if len(names) != array.shape[1]:
            raise SegkitDataError(f"X has {array.shape[1]} features, but SegmentationModel is expecting {len(names)} "
                                  f"features as input ({', '.join(names)}); pass a DataFrame with those columns.")
        return pd.DataFrame(array, columns=names)

    def _feature_list(self, frame: pd.DataFrame) -> list[str]:
        if hasattr(self, "cluster_features_"):
            return list(self.cluster_features_)
        return list(self.features) if self.features is not None else [str(c) for c in frame.columns]

    def _matrix(self, customers) -> pd.DataFrame:
        customers = self._as_frame(customers)
        features = self._feature_list(customers)
        needed = self._with_stage_columns(features)
        missing = [f for f in dict.fromkeys(needed) if f not in customers.columns]
        if missing:
            raise SegkitDataError(
                f"The customer table has no column {', '.join(missing)} that the model needs "
                f"(it uses {', '.join(dict.fromkeys(needed))}; found: {', '.join(map(str, customers.columns))}); "
                "compute features with segkit.features.customers.customer_features first."
            )
        try:
            X = customers[features].astype("float64")
        except (TypeError, ValueError):
            bad = [f for f in features if not pd.api.types.is_numeric_dtype(customers[f])]
            raise SegkitDataError(f"The columns {', '.join(bad)} are not numbers; the model needs numeric features.") from None
        if not np.isfinite(X.to_numpy()).all():
            bad = X.columns[~np.isfinite(X.to_numpy()).all(axis=0)].tolist()
            raise SegkitDataError(f"The customer table has missing or infinite values in {', '.join(bad)}; "
                                  "fill or drop those customers.")
        return X

    def _clustered_rows(self, customers: pd.DataFrame) -> np.ndarray:
        """Which customers the clustering is fitted on: the active ones under lifecycle
        rules; every customer when fewer than K active customers have distinct values
        (a log of a few weeks, where everyone is still New)."""
        everyone = np.ones(len(customers), dtype=bool)
        if self.lifecycle_rules_ is None:
            return everyone
        active = lifecycle_stage(customers, self.lifecycle_rules_) == "Active"
        distinct = len(customers.loc[active, self._feature_list(customers)].drop_duplicates())
        return active if distinct >= self.n_clusters else everyone

    # -- the pipeline ---------------------------------------------------------------
    def _make_pipeline(self, features: list[str], n_rows: int) -> Pipeline:
        steps = []
        transforms = {f: ("log1p" if self.log_transform else "identity") for f in features}
        transforms.update(dict(self.transforms or {}))
        unknown = sorted(set(transforms.values()) - {"log1p", "identity"})
        if unknown:
            raise SegkitDataError(f"Unknown transform {', '.join(unknown)}; use 'log1p' or 'identity'.")
        logged = [f for f in features if transforms[f] == "log1p"]
        if logged and len(logged) == len(features):
            steps.append(("log1p", log_step()))
        elif logged:
            steps.append(("transforms", ColumnTransformer([("log1p", log_step(), logged)], remainder="passthrough",
                                                          verbose_feature_names_out=False)))
        steps.append(("scaler", clone(self.scaler) if self.scaler is not None else StandardScaler()))
        steps.append(("cluster", self._make_clusterer(n_rows)))
        return Pipeline(steps)

    def _make_clusterer(self, n_rows: int):
        if self.clusterer is None:
            return _kmeans(self.n_clusters, self.random_state, n_rows, self.n_init, bisecting=self.lifecycle_rules_ is not None)
        clusterer = clone(self.clusterer)
        params = clusterer.get_params()
        for name in ("n_clusters", "n_components"):
            if name in params:
                clusterer.set_params(**{name: self.n_clusters})
        if "random_state" in params and params["random_state"] is None:
            clusterer.set_params(random_state=self.random_state)
        if not hasattr(clusterer, "predict"):
            return NearestMemberAssignment(clusterer, n_clusters=self.n_clusters)
        return clusterer

    # -- scikit-learn API -----------------------------------------------------------
    def fit(self, X, y=None) -> "SegmentationModel":
        """Fit the model on a customer table (or a numeric matrix).

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            One row per customer with the model's features (and, with lifecycle rules,
            Recency, Tenure and NumPurchases), as ``customer_features`` gives them.
        y : ignored
            For scikit-learn compatibility.

        Returns
        -------
        SegmentationModel
            The fitted model itself.
        """
        customers = self._as_frame(X, fitting=True)
        for attr in ("feature_names_in_", "n_features_in_", "cluster_features_"):
            self.__dict__.pop(attr, None)
        features = self._feature_list(customers)
        X_all = self._matrix(customers)
        rows = self._clustered_rows(customers)
        X_fit = X_all[rows]
        self.clustered_customers_ = int(rows.sum())
        if len(X_fit) < self.n_clusters:
            raise SegkitDataError(
                f"There {'is 1 customer' if len(X_fit) == 1 else f'are {len(X_fit)} customers'} but K is {self.n_clusters}; "
                f"choose K of at most {len(X_fit)} or load more data."
            )
        distinct = len(X_fit.drop_duplicates())
        if distinct < self.n_clusters:
            raise SegkitDataError(
                f"Only {distinct} customers have distinct feature values, fewer than K={self.n_clusters}; "
                "choose a smaller K or load more data."
            )
        self._set_input_names(features)
        self.pipeline_ = self._make_pipeline(features, len(X_fit))
        with _threads_for(len(X_fit)), _quiet_convergence():
            self.pipeline_.fit(X_fit)
            fit_clusters = self.pipeline_.predict(X_fit).astype(int)
            X_scaled = self.transform_scaled(X_fit)
            self.cluster_centres_ = _centres(X_scaled, fit_clusters, self.n_clusters)
            if self.lifecycle_rules_ is not None:
                # Tier 0 is the cluster of highest value: largest sum of scaled features.
                order = np.argsort(-np.nan_to_num(self.cluster_centres_.sum(axis=1), nan=-np.inf), kind="stable")
                self.tier_of_cluster_ = np.empty(self.n_clusters, dtype=int)
                self.tier_of_cluster_[order] = np.arange(self.n_clusters)
                self.segment_names_ = dict(enumerate(tier_names(self.cluster_centres_[order], tuple(features))))
                self.segment_names_.update({self.n_clusters + i: n for i, n in enumerate(STAGE_SEGMENTS)})
                self.labels_ = self._codes(customers, self.pipeline_.predict(X_all).astype(int))
            else:
                self.tier_of_cluster_ = np.arange(self.n_clusters)
                self.labels_ = fit_clusters
                self.segment_names_ = name_segments(customers, self.labels_) if set(PROFILE_FEATURES) <= set(
                    customers.columns) else {c: f"Segment {c + 1}" for c in range(self.n_clusters)}
            self._describe(customers, X_scaled, fit_clusters)
        return self

    def _codes(self, customers: pd.DataFrame, clusters: np.ndarray) -> np.ndarray:
        """Segment code of each customer from its cluster and, with lifecycle rules, its stage."""
        if self.lifecycle_rules_ is None:
            return clusters
        tiers = self.tier_of_cluster_[clusters]
        stage = lifecycle_stage(customers, self.lifecycle_rules_)
        codes = tiers.copy()
        for i, name in enumerate(STAGE_SEGMENTS):
            codes[stage == name] = self.n_clusters + i
        return codes

    def _describe(self, customers: pd.DataFrame, X_scaled: np.ndarray, fit_clusters: np.ndarray) -> None:
        self.profile_ = segment_profile(customers, self.labels_, self.segment_names_, list(self.cluster_features_))
        step = self.pipeline_.steps[-1][1]
        self.metrics_ = clustering_metrics(X_scaled, self.tier_of_cluster_[fit_clusters], getattr(step, "inertia_", None),
                                           random_state=0)
        segmented = customers.assign(Segment=pd.Series(self.labels_, index=customers.index).map(self.segment_names_))
        self.definitions_ = segment_definitions(segmented, self.lifecycle_rules_, list(self.segment_names_.values()),
                                                currency=currency_symbol(customers.attrs.get("currency")))

    def _set_input_names(self, cluster_features: Sequence[str]) -> None:
        """``cluster_features_``: what the clusterer sees; ``feature_names_in_``: every
        column ``predict`` reads (those, then the lifecycle rules' stage columns)."""
        self.cluster_features_ = np.asarray(list(cluster_features), dtype=object)
        self.feature_names_in_ = np.asarray(self._with_stage_columns(list(cluster_features)), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)

    def transform(self, X) -> np.ndarray:
        """Each customer's distance to every cluster centre, in the scaled space the model
        clusters in (columns ``distance_<segment>``), or, for a clusterer with
        ``predict_proba`` (mixtures), the probability of each cluster (``probability_<segment>``).
        With lifecycle rules the columns are the value tiers, from the highest (VIP first).
        ``get_feature_names_out`` names the columns; ``transform_scaled`` gives the scaled
        features themselves."""
        scaled = self.transform_scaled(X)
        step = self.pipeline_.steps[-1][1]
        if hasattr(step, "predict_proba"):
            values = np.asarray(step.predict_proba(scaled), dtype="float64")
        else:
            centres = np.nan_to_num(self.cluster_centres_, nan=np.inf)
            values = np.sqrt(((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
        return values[:, self._clusters_by_code()]

    def _clusters_by_code(self) -> np.ndarray:
        """Cluster index of segment code 0, 1, .. K-1 (value tier order with lifecycle rules)."""
        return np.argsort(np.asarray(self.tier_of_cluster_), kind="stable")

    def transform_scaled(self, X) -> np.ndarray:
        """The feature matrix as the clustering step sees it (after transforms and scaling;
        columns ``cluster_features_``)."""
        check_is_fitted(self, "pipeline_")
        frame = self._as_frame(X)
        features = list(self.cluster_features_)
        matrix = frame if list(frame.columns) == features else frame[features] if set(features) <= set(frame.columns) \
            else self._matrix(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # feature-name checks of inner steps
            return np.asarray(self.pipeline_[:-1].transform(matrix.astype("float64")), dtype="float64")

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of ``transform``'s columns: ``distance_<segment>`` or ``probability_<segment>``."""
        check_is_fitted(self, "pipeline_")
        kind = "probability" if hasattr(self.pipeline_.steps[-1][1], "predict_proba") else "distance"
        return np.asarray([f"{kind}_{self.segment_names_.get(code, code)}" for code in range(self.n_clusters)],
                          dtype=object)

    def predict(self, X) -> np.ndarray:
        """Segment code of each customer (``segment_names_`` maps codes to names)."""
        check_is_fitted(self, "pipeline_")
        customers = self._as_frame(X)
        clusters = self._predict_clusters(self._matrix(customers))
        return self._codes(customers, clusters)

    def _predict_clusters(self, matrix: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(self.pipeline_.predict(matrix), dtype=int)

    def confidence(self, customers) -> np.ndarray:
        """How clearly each customer belongs to its cluster, 0..1: the clusterer's own
        probability where it has one (mixtures); else how far the customer sits from the
        border between its nearest centre c1 and the second-nearest c2, as a share of half
        the distance between them: ``(d2² - d1²) / |c1 - c2|²`` with d1, d2 the distances
        to c1 and c2, clipped to 0..1 (0: on the border; 1: at c1 or beyond it, away from
        c2). A customer far beyond the top tier's centre is as clearly VIP as one at it
        (1 - d1/d2 read such customers as doubtful: 0.33 for the real data's top VIP)."""
        X = self.transform_scaled(self._matrix(self._as_frame(customers)))
        step = self.pipeline_.steps[-1][1]
        if hasattr(step, "predict_proba"):
            return np.asarray(step.predict_proba(X)).max(axis=1)
        centres = np.nan_to_num(self.cluster_centres_, nan=np.inf)
        if centres.shape[0] < 2:
            return np.ones(len(X))
        squared = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        order = np.argsort(squared, axis=1)[:, :2]
        rows = np.arange(len(X))
        d1, d2 = squared[rows, order[:, 0]], squared[rows, order[:, 1]]
        gap = ((centres[order[:, 0]] - centres[order[:, 1]]) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(np.where(gap > 0, (d2 - d1) / gap, 1.0), 0, 1)

    def segment(self, customers: pd.DataFrame) -> pd.DataFrame:
        """Name every customer's segment: the fitted model applied to a customer table.

        Parameters
        ----------
        customers : pandas.DataFrame
            One row per customer with the columns ``input_columns_`` lists.

        Returns
        -------
        pandas.DataFrame
            ``customers`` with ``Cluster`` (segment code), ``Segment``, ``Recommendation``
            and ``Confidence`` (0..1) added; with lifecycle rules also ``Stage``,
            ``ValueTier`` (the tier their purchases and spend fall in, whatever their
            stage) and ``DaysToStageChange`` (days until the calendar alone changes the
            stage; empty for Lost/Lapsed customers, whom only a purchase moves).

        Notes
        -----
        With refits stored (``refits_``, set by ``segkit.modeling.validation.store_refits``
        at ``segkit train``) also ``KeptInRefits``: the share of the refits on resampled
        customers that give the customer the same label (``kept_in_refits``), and
        ``Confidence`` is that share; without, ``Confidence`` is ``confidence`` (how clearly
        the customer sits in its value cluster). Either is capped with lifecycle rules at
        ``DaysToStageChange / SETTLED_DAYS``: a customer a day from the next stage scores
        0.03, never "certain".
        """
        check_is_fitted(self, "pipeline_")
        customers = self._as_frame(customers)
        X = self._matrix(customers)
        clusters = self._predict_clusters(X)
        codes = self._codes(customers, clusters)
        out = customers.copy()
        out["Cluster"] = codes
        out["Segment"] = pd.Series(codes, index=out.index).map(self.segment_names_).astype("string")
        # the advice the segment's evidence supports (backtest.apply_evidence), else the name's own
        own = self.definitions_["Recommendation"].to_dict() if "Recommendation" in getattr(
            self, "definitions_", pd.DataFrame()) else {}
        out["Recommendation"] = out["Segment"].map(lambda n: own.get(n) or recommendation_for(n)).astype("string")
        if self.lifecycle_rules_ is not None:
            tiers = self.tier_of_cluster_[clusters]
            stage = np.where(codes < self.n_clusters, "Active", out["Segment"].to_numpy(dtype=object))
            out["Stage"] = pd.array(stage, dtype="string")
            out["ValueTier"] = pd.Series(tiers, index=out.index).map(self.segment_names_).astype("string")
        kept = self.kept_in_refits(X, clusters, codes)
        confidence = self.confidence(customers) if kept is None else kept
        if kept is not None:
            out["KeptInRefits"] = np.round(kept, 3)
        if self.lifecycle_rules_ is not None:
            days = days_to_stage_change(customers, self.lifecycle_rules_)
            out["DaysToStageChange"] = pd.array(days, dtype="Float64").round(0).astype("Int64")
            # A label the calendar will change within SETTLED_DAYS is not settled.
            confidence = np.where(np.isnan(days), confidence, np.minimum(confidence, days / SETTLED_DAYS))
        out["Confidence"] = np.round(confidence, 3)
        return out

    def kept_in_refits(self, matrix: pd.DataFrame, clusters: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
        """Per customer, the share of the stored refits (``refits_``: each refit's fitted
        pipeline and the name it gives each of its clusters) that keep the customer's
        label; ``None`` without stored refits. No refit is fitted here: each stored
        pipeline scores the customers. With lifecycle rules the refits keep the rules, so a
        stage (New, At risk, Lost or their measured names) is kept in every refit and a
        value tier is compared by name (VIP, Loyal ..); without, the segment names are
        compared."""
        refits = getattr(self, "refits_", None)
        if not refits:
            return None
        names = np.array([self.segment_names_.get(int(t)) for t in self.tier_of_cluster_], dtype=object)
        label = names[clusters]
        staged = codes >= self.n_clusters if self.lifecycle_rules_ is not None else np.zeros(len(codes), dtype=bool)
        same = np.zeros(len(codes))
        for refit in refits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                refit_clusters = np.asarray(refit["pipeline"].predict(matrix), dtype=int)
            same += np.asarray(refit["names"], dtype=object)[refit_clusters] == label
        return np.where(staged, 1.0, same / len(refits))

    @property
    def centroids_(self) -> pd.DataFrame:
        """Cluster centres in the scaled space the model clusters in (rows: cluster, or
        value tier with lifecycle rules)."""
        frame = pd.DataFrame(self.cluster_centres_, columns=list(self.cluster_features_))
        if self.lifecycle_rules_ is not None:
            frame.index = self.tier_of_cluster_
            frame = frame.sort_index()
        return frame

    def expected_failed_checks(self) -> dict[str, str]:
        """scikit-learn ``check_estimator`` checks this configuration fails, with why.

        Pass it on: ``check_estimator(model, expected_failed_checks=model.expected_failed_checks())``.
        The model as built for numeric matrices (``features=None, lifecycle=None,
        log_transform=False``) passes every check: nothing is declared. The default
        model works on a *customer table*: named columns (``features``, plus Recency,
        Tenure and NumPurchases for the lifecycle rules), counts and money that are never
        negative. The generic checks feed bare arrays of 1-10 unnamed columns, so those
        that need a fit are declared here, each with its reason (the model refuses such
        input with a sentence for people, not scikit-learn's wording).
        """
        if self.features is None and self.lifecycle is None and not self.log_transform:
            return {}
        table = ("needs a customer table with the named columns it clusters "
                 f"({', '.join(self._required_columns())}); the check passes bare arrays")
        reasons = {name: table for name in _CHECKS_NEEDING_A_CUSTOMER_TABLE}
        for name in ("check_fit2d_1sample", "check_fit2d_1feature"):
            reasons[name] = "a one-row or one-column table is refused with a sentence for people, in segkit's words"
        return reasons

    def _required_columns(self) -> list[str]:
        columns = list(self.features or ())
        if self.lifecycle is not None:
            columns += [c for c in ("NumPurchases", "Recency", "Tenure") if c not in columns]
        return columns

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


#: Generic ``check_estimator`` checks that fit on bare arrays, which a model of named
#: customer columns refuses (see ``SegmentationModel.expected_failed_checks``).
_CHECKS_NEEDING_A_CUSTOMER_TABLE = (
    "check_clustering", "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self", "check_estimators_nan_inf",
    "check_estimators_overwrite_params", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
    "check_pipeline_consistency", "check_readonly_memmap_input",
    "check_transformer_data_not_an_array", "check_transformer_general",
)


class NearestMemberAssignment(ClusterMixin, BaseEstimator):
    """A clusterer without ``predict`` (``AgglomerativeClustering``, ``DBSCAN``,
    ``HDBSCAN``) made able to score new points: ``fit`` runs ``clusterer.fit_predict``;
    noise points (label -1) join the cluster of their nearest clustered member; ``predict``
    gives each point the cluster of its nearest training member (1-nearest neighbour,
    ``sklearn.neighbors.KNeighborsClassifier``).

    Parameters
    ----------
    clusterer : scikit-learn clusterer
        Cloned before fitting.
    n_clusters : int or None
        How many clusters the fit must find; a clusterer that finds another number (DBSCAN
        chooses its own) is refused with a sentence naming both numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import AgglomerativeClustering
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> assign = NearestMemberAssignment(AgglomerativeClustering(n_clusters=2), n_clusters=2).fit(X)
    >>> assign.predict(np.array([[0.05], [4.9]])).tolist() == [assign.labels_[0], assign.labels_[2]]
    True
    """

    def __init__(self, clusterer=None, n_clusters: int | None = None):
        self.clusterer = clusterer
        self.n_clusters = n_clusters

    def fit(self, X, y=None) -> "NearestMemberAssignment":
        X = check_array(X, dtype="float64")
        self.clusterer_ = clone(self.clusterer)
        labels = np.asarray(self.clusterer_.fit_predict(X), dtype=int)
        name = type(self.clusterer_).__name__
        clustered = labels >= 0
        found = len(np.unique(labels[clustered]))
        if found == 0:
            raise SegkitDataError(f"{name} put every customer in noise (-1) and found no cluster; "
                                  "tune its parameters (eps, min_samples, min_cluster_size).")
        if self.n_clusters is not None and found != self.n_clusters:
            raise SegkitDataError(f"{name} found {found} clusters but n_clusters is {self.n_clusters}; "
                                  f"set n_clusters={found} or tune {name}'s parameters.")
        # Codes 0..found-1 in the order the clusterer numbered them.
        codes = np.full(len(labels), -1)
        codes[clustered] = np.searchsorted(np.unique(labels[clustered]), labels[clustered])
        self.nearest_ = KNeighborsClassifier(n_neighbors=1).fit(X[clustered], codes[clustered])
        if not clustered.all():
            codes[~clustered] = self.nearest_.predict(X[~clustered])
        self.labels_ = codes
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "nearest_")
        return np.asarray(self.nearest_.predict(check_array(X, dtype="float64")), dtype=int)


def _centres(X_scaled: np.ndarray, clusters: np.ndarray, k: int) -> np.ndarray:
    """Mean scaled features per cluster (NaN for a cluster nobody falls in)."""
    centres = np.full((k, X_scaled.shape[1]), np.nan)
    for c in range(k):
        members = X_scaled[clusters == c]
        if len(members):
            centres[c] = members.mean(axis=0)
    return centres


def evaluate_k(
    customers: pd.DataFrame,
    k_values: Iterable[int] = range(2, 11),
    features: Sequence[str] = FEATURE_PRESETS["default"].features,
    log_transform: bool = True,
    n_bootstrap: int = 5,
    sample_size: int = 20_000,
    random_state: int = 42,
    progress: bool = False,
    lifecycle: LifecycleRules | None = None,
) -> pd.DataFrame:
    """Compare K values; one row per K.

    Columns: ``inertia`` (elbow), ``silhouette`` (higher is better),
    ``calinski_harabasz`` (higher), ``davies_bouldin`` (lower), ``stability`` (mean
    adjusted Rand index between the full fit and fits on ``n_bootstrap`` bootstrap
    resamples, 1 = identical), ``min_cluster_share`` and ``smallest_cluster``.
    With more than ``sample_size`` customers the comparison runs on a random sample of
    that size (``table.attrs["sample_size"]`` says how many were used). With
    ``lifecycle`` rules, only the active customers are clustered (into value tiers, by
    bisecting K-Means), as ``SegmentationModel`` does.
    """
    model = SegmentationModel(features=features, log_transform=log_transform, lifecycle=lifecycle)
    X = model._matrix(customers)[model._clustered_rows(customers)]
    if len(X) > sample_size:
        X = X.sample(sample_size, random_state=random_state)
    k_values = [k for k in k_values if 2 <= k < len(X)]
    if not k_values:
        raise SegkitDataError(
            f"There {'is only 1 customer' if len(X) == 1 else f'are only {len(X)} customers'}: too few to compare "
            "K values; load more data or pass a fixed K."
        )
    distinct = len(X.drop_duplicates())
    k_values = [k for k in k_values if k <= distinct]
    if not k_values:
        raise SegkitDataError(
            f"All {len(X):,} customers have the same {', '.join(X.columns)}: there are no segments to find; "
            "check the data (are all lines copies of one customer's?) or load more data."
        )
    bisecting = lifecycle is not None
    prep = _build_pipeline(log_transform, 2, random_state, len(X), 1)[:-1]
    X_scaled = np.asarray(prep.fit_transform(X))
    rng = np.random.default_rng(random_state)
    boot_indices = [rng.integers(0, len(X_scaled), len(X_scaled)) for _ in range(n_bootstrap)]

    iterator = k_values
    if progress:
        # start-up: tqdm.auto (and its notebook check) loads on first use, not on import (0.06 s, measured)
        from tqdm.auto import tqdm
        iterator = tqdm(k_values, desc="evaluating K")
    with _threads_for(len(X_scaled)), _quiet_convergence():
        rows = _evaluate_each_k(X_scaled, iterator, boot_indices, random_state, bisecting)
    table = pd.DataFrame(rows).set_index("k")
    table.attrs["sample_size"] = len(X)
    table.attrs["n_customers"] = len(customers)
    return table


def _evaluate_each_k(X_scaled: np.ndarray, k_values, boot_indices, random_state: int,
                     bisecting: bool = False) -> list[dict]:
    rows = []
    for k in k_values:
        km = _kmeans(k, random_state, len(X_scaled), 10, bisecting).fit(X_scaled)
        row = {"k": k, **clustering_metrics(X_scaled, km.labels_, km.inertia_, random_state)}
        scores = []
        for b, idx in enumerate(boot_indices):
            boot = _kmeans(k, random_state + b + 1, len(idx), 3, bisecting).fit(X_scaled[idx])
            scores.append(adjusted_rand_score(km.labels_, boot.predict(X_scaled)))
        row["stability"] = float(np.mean(scores)) if scores else float("nan")
        rows.append(row)
    return rows


def recommend_k(table: pd.DataFrame, min_share: float = 0.02, min_stability: float = 0.75,
                min_k: int = 3, max_k: int = 8) -> int:
    """Pick K from an ``evaluate_k`` table.

    Rule: only K from ``min_k`` to ``max_k`` are considered (K=2 merely splits active
    from lapsed customers, and silhouette nearly always favours it; more than eight
    segments are more than a marketing team can act on). Of those, only K whose smallest cluster holds at least ``min_share`` of the customers
    (segments too small to act on, and outlier clusters that inflate silhouette, are out)
    and whose bootstrap stability is at least ``min_stability`` are eligible. Among
    those, each K gets its rank on silhouette, Calinski-Harabasz and Davies-Bouldin;
    the best mean rank wins, ties going to the smaller K. If no K is eligible, the K
    with the largest smallest cluster is returned.
    """
    in_range = table[(table.index >= min_k) & (table.index <= max_k)]
    if in_range.empty:
        in_range = table
    eligible = in_range[(in_range["min_cluster_share"] >= min_share) & (in_range["stability"] >= min_stability)]
    if eligible.empty:
        return int(in_range["min_cluster_share"].idxmax())
    ranks = pd.DataFrame({
        "silhouette": eligible["silhouette"].rank(ascending=False),
        "calinski_harabasz": eligible["calinski_harabasz"].rank(ascending=False),
        "davies_bouldin": eligible["davies_bouldin"].rank(ascending=True),
    })
    mean_rank = ranks.mean(axis=1)
    best = mean_rank[mean_rank == mean_rank.min()]
    return int(min(best.index))
