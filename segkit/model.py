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

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits
from sklearn.cluster import BisectingKMeans, KMeans, MiniBatchKMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from .config import currency
from .errors import SegkitDataError
from .label import (
    LifecycleRules,
    lifecycle_stage,
    name_segments,
    recommendation_for,
    segment_definitions,
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
]


@dataclass(frozen=True)
class FeaturePreset:
    features: tuple[str, ...]
    log_transform: bool
    lifecycle: LifecycleRules | None = None
    max_k: int = 8


FEATURE_PRESETS: dict[str, FeaturePreset] = {
    # Lifecycle stage from the calendar x value tiers of the active customers; at most
    # 4 tiers, so at most 7 segments (see README, "How segments are named").
    "default": FeaturePreset(("NumPurchases", "TotalSpend"), True, LifecycleRules(), max_k=4),
    # Every customer clustered on log recency, purchases and spend (segkit's first default).
    "clusters": FeaturePreset(("Recency", "NumPurchases", "TotalSpend"), True),
    # The original dashboard: raw values, standard-scaled.
    "seed": FeaturePreset(("NumPurchases", "TotalQuantity", "TotalSpend"), False),
}
#: Segment codes after the K value tiers (0 = highest tier): K + position in this tuple.
STAGE_SEGMENTS = ("New", "At risk", "Lost")

#: Above this many customers KMeans gives way to MiniBatchKMeans. benchmarks/bench_scale.py,
#: K=5, default features, n_init=10 both, medians of 3 on the shared 2-core machine: from
#: 500k customers up KMeans is faster and better - 937k: 9.8 s vs 28.2 s, inertia 0.6%
#: lower; 2M and 4M (resampled, one run): 20.7 s vs 53.8 s and 31.7 s vs 78.6 s, inertia 4.3% and
#: 1.0% lower. Up to 200k MiniBatchKMeans is 1.3-3.2x faster, but KMeans takes at most
#: 5.4 s there and MiniBatch costs 0.6-3.7% more inertia with labels that differ (ARI
#: 0.52-0.89). So KMeans throughout; above 5M (not measured) MiniBatch bounds the time.
MINIBATCH_ABOVE = 5_000_000
#: Below this many customers one thread is faster: OpenMP start-up and contention on a
#: shared 2-core machine cost more than the work (KMeans on 4,300 customers: ~0.2 s on one
#: thread, 0.5-2 s on two under load).
SINGLE_THREAD_BELOW = 50_000


def _threads_for(n_rows: int):
    return threadpool_limits(1) if n_rows < SINGLE_THREAD_BELOW else threadpool_limits(None)
SILHOUETTE_SAMPLE = 10_000


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
    steps.append(("kmeans", _kmeans(n_clusters, random_state, n_customers, n_init, bisecting)))
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


class SegmentationModel(BaseEstimator):
    """Customer segmentation with named, defined segments.

    Parameters
    ----------
    features : customer feature columns used for clustering.
    log_transform : apply log1p before scaling (skewed counts and spend).
    n_clusters : K, the number of clusters (value tiers when ``lifecycle`` is set).
    random_state : seed for the clustering, stored as given.
    n_init : K-Means restarts.
    lifecycle : ``LifecycleRules`` to stage customers by the calendar first and cluster
        only the active ones into value tiers (``None``: cluster everyone, name clusters
        by their profile, as the original dashboard did).

    Attributes after ``fit``: ``pipeline_``, ``labels_`` (segment code per customer),
    ``segment_names_`` (code -> name; with ``lifecycle``, codes 0..K-1 are the value
    tiers from the highest, then New, At risk, Lost), ``tier_of_cluster_`` (cluster ->
    tier rank), ``profile_`` (one row per segment in original units), ``definitions_``
    (plain words and members' numbers per segment) and ``metrics_``.
    """

    def __init__(self, features: Sequence[str] = FEATURE_PRESETS["default"].features,
                 log_transform: bool = True, n_clusters: int = 4, random_state: int | None = 42,
                 n_init: int = 10, lifecycle: LifecycleRules | None = LifecycleRules()):
        self.features = features
        self.log_transform = log_transform
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.n_init = n_init
        self.lifecycle = lifecycle

    @classmethod
    def from_preset(cls, preset: str = "default", **kwargs) -> "SegmentationModel":
        spec = FEATURE_PRESETS[preset]
        return cls(features=spec.features, log_transform=spec.log_transform, lifecycle=spec.lifecycle, **kwargs)

    def _matrix(self, customers: pd.DataFrame) -> pd.DataFrame:
        needed = list(self.features) + (["Recency", "Tenure", "NumPurchases"] if self.lifecycle is not None else [])
        missing = [f for f in dict.fromkeys(needed) if f not in customers.columns]
        if missing:
            raise SegkitDataError(
                f"The customer table has no column {', '.join(missing)} that the model needs "
                f"(it uses {', '.join(dict.fromkeys(needed))}; found: {', '.join(map(str, customers.columns))}); "
                "compute features with segkit.features.customer_features first."
            )
        X = customers[list(self.features)].astype("float64")
        if X.isna().any().any():
            bad = X.columns[X.isna().any()].tolist()
            raise SegkitDataError(f"The customer table has missing values in {', '.join(bad)}; fill or drop those customers.")
        return X

    def _clustered_rows(self, customers: pd.DataFrame) -> np.ndarray:
        """Which customers the clustering is fitted on: the active ones under lifecycle
        rules; every customer when fewer than K active customers have distinct values
        (a log of a few weeks, where everyone is still New)."""
        everyone = np.ones(len(customers), dtype=bool)
        if self.lifecycle is None:
            return everyone
        active = lifecycle_stage(customers, self.lifecycle) == "Active"
        distinct = len(customers.loc[active, list(self.features)].drop_duplicates())
        return active if distinct >= self.n_clusters else everyone

    def fit(self, customers: pd.DataFrame, y=None) -> "SegmentationModel":
        X_all = self._matrix(customers)
        rows = self._clustered_rows(customers)
        X = X_all[rows]
        self.clustered_customers_ = int(rows.sum())
        if len(X) < self.n_clusters:
            raise SegkitDataError(
                f"There {'is 1 customer' if len(X) == 1 else f'are {len(X)} customers'} but K is {self.n_clusters}; "
                f"choose K of at most {len(X)} or load more data."
            )
        distinct = len(X.drop_duplicates())
        if distinct < self.n_clusters:
            raise SegkitDataError(
                f"Only {distinct} customers have distinct feature values, fewer than K={self.n_clusters}; "
                "choose a smaller K or load more data."
            )
        self.pipeline_ = _build_pipeline(self.log_transform, self.n_clusters, self.random_state, len(X), self.n_init,
                                         bisecting=self.lifecycle is not None)
        with _threads_for(len(X)):
            self.pipeline_.fit(X)
            clusterer = self.pipeline_.named_steps["kmeans"]
            if self.lifecycle is not None:
                # Tier 0 is the cluster of highest value: largest sum of scaled log purchases and spend.
                order = np.argsort(-np.asarray(clusterer.cluster_centers_).sum(axis=1), kind="stable")
                self.tier_of_cluster_ = np.empty(self.n_clusters, dtype=int)
                self.tier_of_cluster_[order] = np.arange(self.n_clusters)
                centres = np.asarray(clusterer.cluster_centers_)[order]
                self.segment_names_ = dict(enumerate(tier_names(centres, tuple(self.features))))
                self.segment_names_.update({self.n_clusters + i: n for i, n in enumerate(STAGE_SEGMENTS)})
                self.labels_ = self._codes(customers, self.pipeline_.predict(X_all).astype(int))
            else:
                self.tier_of_cluster_ = np.arange(self.n_clusters)
                self.labels_ = clusterer.labels_.astype(int)
                self.segment_names_ = name_segments(customers, self.labels_)
            self._describe(customers, X, clusterer, rows)
        return self

    def _codes(self, customers: pd.DataFrame, clusters: np.ndarray) -> np.ndarray:
        """Segment code of each customer from its cluster and, with lifecycle rules, its stage."""
        if self.lifecycle is None:
            return clusters
        tiers = self.tier_of_cluster_[clusters]
        stage = lifecycle_stage(customers, self.lifecycle)
        codes = tiers.copy()
        for i, name in enumerate(STAGE_SEGMENTS):
            codes[stage == name] = self.n_clusters + i
        return codes

    def _describe(self, customers: pd.DataFrame, X: pd.DataFrame, clusterer, rows: np.ndarray) -> None:
        self.profile_ = segment_profile(customers, self.labels_, self.segment_names_)
        X_scaled = self.transform_scaled(X)
        cluster_labels = np.asarray(clusterer.labels_) if self.lifecycle is None else \
            self.tier_of_cluster_[np.asarray(clusterer.labels_)]
        self.metrics_ = clustering_metrics(X_scaled, cluster_labels, clusterer.inertia_, random_state=0)
        segmented = customers.assign(Segment=pd.Series(self.labels_, index=customers.index).map(self.segment_names_))
        self.definitions_ = segment_definitions(segmented, self.lifecycle, list(self.segment_names_.values()),
                                                currency=currency())

    def transform_scaled(self, customers: pd.DataFrame) -> np.ndarray:
        """The feature matrix as the clustering step sees it (after log and scaling)."""
        X = customers if list(customers.columns) == list(self.features) else self._matrix(customers)
        return np.asarray(self.pipeline_[:-1].transform(X))

    def predict(self, customers: pd.DataFrame) -> np.ndarray:
        """Segment code of each customer (``segment_names_`` maps codes to names)."""
        clusters = self.pipeline_.predict(self._matrix(customers)).astype(int)
        return self._codes(customers, clusters)

    def segment(self, customers: pd.DataFrame) -> pd.DataFrame:
        """``customers`` with ``Cluster`` (segment code), ``Segment`` and ``Recommendation``
        added; with lifecycle rules also ``Stage`` and ``ValueTier`` (the tier their
        purchases and spend fall in, whatever their stage)."""
        X = self._matrix(customers)
        clusters = self.pipeline_.predict(X).astype(int)
        codes = self._codes(customers, clusters)
        out = customers.copy()
        out["Cluster"] = codes
        out["Segment"] = pd.Series(codes, index=out.index).map(self.segment_names_).astype("string")
        out["Recommendation"] = out["Segment"].map(recommendation_for).astype("string")
        if self.lifecycle is not None:
            tiers = self.tier_of_cluster_[clusters]
            stage = np.where(codes < self.n_clusters, "Active", out["Segment"].to_numpy(dtype=object))
            out["Stage"] = pd.array(stage, dtype="string")
            out["ValueTier"] = pd.Series(tiers, index=out.index).map(self.segment_names_).astype("string")
        return out

    @property
    def centroids_(self) -> pd.DataFrame:
        """Cluster centres in the scaled space the model clusters in (rows: cluster, or
        value tier with lifecycle rules)."""
        centres = np.asarray(self.pipeline_.named_steps["kmeans"].cluster_centers_)
        frame = pd.DataFrame(centres, columns=list(self.features))
        if self.lifecycle is not None:
            frame.index = self.tier_of_cluster_
            frame = frame.sort_index()
        return frame


def segment_profile(customers: pd.DataFrame, labels: np.ndarray, names: dict[int, str]) -> pd.DataFrame:
    """One row per cluster: size, share, means of the RFM features, spend totals, name."""
    frame = customers.assign(Cluster=np.asarray(labels))
    grouped = frame.groupby("Cluster")
    profile = pd.DataFrame({
        "Segment": pd.Series(names),
        "Customers": grouped.size(),
    })
    profile["Customers"] = profile["Customers"].fillna(0).astype("int64")
    profile["Share"] = profile["Customers"] / profile["Customers"].sum()
    for col in ("NumPurchases", "TotalQuantity", "TotalSpend", "Recency", "Tenure", "AvgOrderValue"):
        if col in frame:
            profile[f"Avg{col}" if not col.startswith("Avg") else col] = grouped[col].mean()
    if "TotalSpend" in frame:
        profile["SumTotalSpend"] = grouped["TotalSpend"].sum()
    profile["Recommendation"] = profile["Segment"].map(recommendation_for)
    profile.index.name = "Cluster"
    return profile


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
    bisecting = lifecycle is not None
    prep = _build_pipeline(log_transform, 2, random_state, len(X), 1)[:-1]
    X_scaled = np.asarray(prep.fit_transform(X))
    rng = np.random.default_rng(random_state)
    boot_indices = [rng.integers(0, len(X_scaled), len(X_scaled)) for _ in range(n_bootstrap)]

    iterator = k_values
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(k_values, desc="evaluating K")
    with _threads_for(len(X_scaled)):
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
