"""K-means over customers' buying behaviour, with k chosen and checked, not guessed.

The features are recency (days since the last order), frequency (orders),
monetary (revenue) and average order value, plus predicted CLV when the
store has it (`clv_scores`, written by `clientela clv`). Each is put on a
log scale (`log1p`, money clipped at zero: the distributions are long-tailed
and a few big buyers would otherwise decide every centre) and standardised.

k is tried from `k_min` to `k_max`. Each k is scored by the silhouette
(computed on a random sample of at most `sample_size` customers, so it stays
cheap on a large store) and by the Davies-Bouldin index on everyone; the k
with the best sum of the two ranks wins (ties: the higher silhouette, then
the smaller k). The chosen k is refitted with `stability_seeds` other seeds
and compared with the adjusted Rand index: near 1 means the clusters are a
property of the data, not of the starting points.

Clusters are numbered by revenue share, largest first, and described by
their medians; a plain label says where each sits among all customers
(recent, cooling or lapsed; one-time, occasional or frequent; low, mid or
high spend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Settings:
    k_min: int = 3
    k_max: int = 8
    seed: int = 0
    n_init: int = 10
    sample_size: int = 10_000
    stability_seeds: int = 5


@dataclass(frozen=True)
class Candidate:
    k: int
    silhouette: float
    davies_bouldin: float


@dataclass(frozen=True)
class ClusterDescription:
    cluster: int
    """1 = the largest revenue share."""
    label: str
    customers: int
    share: float
    median_recency_days: float
    median_frequency: float
    median_monetary: float
    revenue_share: float


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray
    """Cluster number (1..k) per customer, in the input order."""
    k: int
    candidates: tuple[Candidate, ...]
    stability: tuple[float, ...]
    """Adjusted Rand index of each other seed's clustering against the chosen one."""
    clusters: tuple[ClusterDescription, ...]

    @property
    def chosen(self) -> Candidate:
        return next(c for c in self.candidates if c.k == self.k)


def transform(features: np.ndarray) -> np.ndarray:
    """log1p of each column (negative values clipped to 0), then standardised."""
    logged = np.log1p(np.clip(features.astype(float), 0, None))
    scaled: np.ndarray = StandardScaler().fit_transform(logged)
    return scaled


def _fit(x: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    labels: np.ndarray = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    return labels


def _rank(values: Sequence[float], *, descending: bool) -> list[float]:
    """Average ranks (1 = best), ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: -values[i] if descending else values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for position in range(i, j + 1):
            ranks[order[position]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def choose_k(candidates: Sequence[Candidate]) -> int:
    """Best sum of silhouette and Davies-Bouldin ranks; ties: higher silhouette, smaller k."""
    sil = _rank([c.silhouette for c in candidates], descending=True)
    dbi = _rank([c.davies_bouldin for c in candidates], descending=False)
    best = min(range(len(candidates)),
               key=lambda i: (sil[i] + dbi[i], -candidates[i].silhouette, candidates[i].k))
    return candidates[best].k


Cuts = tuple[tuple[float, float], tuple[float, float], float]
"""Everyone's recency terciles, monetary terciles and median frequency."""


def overall_cuts(raw: np.ndarray) -> Cuts:
    r33, r67 = (float(v) for v in np.quantile(raw[:, 0], [1 / 3, 2 / 3]))
    m33, m67 = (float(v) for v in np.quantile(raw[:, 2], [1 / 3, 2 / 3]))
    return (r33, r67), (m33, m67), float(np.median(raw[:, 1]))


def plain_label(recency: float, frequency: float, monetary: float, cuts: Cuts) -> str:
    """How a cluster's medians sit among everyone's: three words a person can act on.

    Recency by everyone's terciles (recent, cooling, lapsed); frequency: one order
    (one-time), up to everyone's median (occasional), above it (frequent); spend by
    everyone's terciles (low, mid, high spend)."""
    (r33, r67), (m33, m67), f50 = cuts
    return ", ".join((
        "recent" if recency <= r33 else "cooling" if recency <= r67 else "lapsed",
        "one-time" if frequency <= 1 else "occasional" if frequency <= f50 else "frequent",
        "low spend" if monetary <= m33 else "mid spend" if monetary <= m67 else "high spend",
    ))


def describe(raw: np.ndarray, labels: np.ndarray) -> tuple[ClusterDescription, ...]:
    """`raw` columns: recency_days, frequency, monetary (the first three features). Two
    clusters with the same words are told apart by their number."""
    cuts = overall_cuts(raw)
    revenue = float(raw[:, 2].sum())
    found = []
    for cluster in sorted(set(labels.tolist())):
        part = raw[labels == cluster]
        medians = (float(np.median(part[:, 0])), float(np.median(part[:, 1])),
                   float(np.median(part[:, 2])))
        found.append(ClusterDescription(
            cluster=int(cluster), label=plain_label(*medians, cuts), customers=len(part),
            share=len(part) / len(raw), median_recency_days=medians[0],
            median_frequency=medians[1], median_monetary=medians[2],
            revenue_share=float(part[:, 2].sum()) / revenue if revenue else 0.0))
    counts: dict[str, int] = {}
    for description in found:
        counts[description.label] = counts.get(description.label, 0) + 1
    return tuple(
        d if counts[d.label] == 1 else ClusterDescription(
            d.cluster, f"{d.label} ({d.cluster})", d.customers, d.share, d.median_recency_days,
            d.median_frequency, d.median_monetary, d.revenue_share)
        for d in found)


def _by_revenue(raw: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 1..k by revenue share, largest first (ties: larger, then first seen)."""
    found = sorted(set(labels.tolist()))
    order = sorted(found, key=lambda c: (-float(raw[labels == c, 2].sum()),
                                         -int((labels == c).sum()), c))
    mapping = {old: new for new, old in enumerate(order, start=1)}
    renumbered: np.ndarray = np.array([mapping[c] for c in labels.tolist()], dtype=np.int64)
    return renumbered


def cluster(raw: np.ndarray, settings: Settings = Settings()) -> Clustering:
    """Cluster customers; `raw` has one row per customer: recency_days, frequency, monetary,
    then any further features (AOV, CLV)."""
    n = len(raw)
    k_max = min(settings.k_max, n - 1)
    if n < settings.k_min + 1 or k_max < settings.k_min:
        raise ValueError(f"clustering into at least {settings.k_min} groups needs at least "
                         f"{settings.k_min + 1} customers with orders; the store has {n}")
    x = transform(raw)
    candidates, fits = [], {}
    for k in range(settings.k_min, k_max + 1):
        labels = _fit(x, k, settings.seed, settings.n_init)
        fits[k] = labels
        if len(set(labels.tolist())) < 2:
            continue
        candidates.append(Candidate(
            k=k,
            silhouette=float(silhouette_score(x, labels, sample_size=min(n, settings.sample_size),
                                              random_state=settings.seed)),
            davies_bouldin=float(davies_bouldin_score(x, labels))))
    if not candidates:
        raise ValueError("the customers cannot be told apart: every k put them in one group")
    k = choose_k(candidates)
    chosen = fits[k]
    stability = tuple(
        float(adjusted_rand_score(chosen, _fit(x, k, settings.seed + 1 + i, settings.n_init)))
        for i in range(settings.stability_seeds))
    labels = _by_revenue(raw, chosen)
    return Clustering(labels, k, tuple(candidates), stability, describe(raw, labels))
