"""The clusters segmenter on a hand-built store of three kinds of buyer.

Fifteen customers in three groups of five, far apart on every feature:
loyal big spenders (8 orders of ~500, last a few days ago), mid buyers
(3 orders of ~120, last ~4 months ago) and one-time small buyers (1 order of
~30, ~18 months ago). Every expectation below is counted from the records
by hand, or computed here with numpy from the textbook formulas (silhouette,
Davies-Bouldin), independently of scikit-learn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from clientela_clusters.model import Settings, cluster, plain_label

from clientela import plugins
from clientela.cli.app import main
from clientela.model import Customer, Order
from clientela.segments.registered import score, summarize
from clientela.store import Store

AS_OF = datetime(2025, 7, 1)
GROUPS = {
    # name: (customers' ids, orders each, amount of customer i's orders, last order)
    "loyal": ([f"L{i}" for i in range(5)], 8, lambda i: 500 + 10 * i,
              lambda i: AS_OF - timedelta(days=10 + i)),
    "mid": ([f"M{i}" for i in range(5)], 3, lambda i: 120 + 5 * i,
            lambda i: AS_OF - timedelta(days=120 + i)),
    "once": ([f"O{i}" for i in range(5)], 1, lambda i: 30 + i,
             lambda i: AS_OF - timedelta(days=540 + i)),
}


def records() -> tuple[list[Customer], list[Order]]:
    customers, orders = [], []
    for ids, count, amount, last in GROUPS.values():
        for i, cid in enumerate(ids):
            customers.append(Customer(source="t", customer_id=cid, email=f"{cid.lower()}@x.com",
                                      consent_email="subscribed"))
            for n in range(count):  # one order every 20 days, the last at `last(i)`
                placed = (last(i) - timedelta(days=20 * n)).replace(tzinfo=UTC)
                total = Decimal(amount(i))
                orders.append(Order(source="t", order_id=f"{cid}-{n}", customer_id=cid,
                                    placed_at=placed, total=total, subtotal=total,
                                    status="paid", channel="online"))
    return customers, orders


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "clusters.duckdb"
    customers, orders = records()
    with Store(path) as store:
        store.upsert(customers)
        store.upsert(orders)
    return path


@pytest.fixture(autouse=True)
def only_this_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-clusters")
    plugins.reset(forget_local=True)


def expected_features() -> np.ndarray:
    """recency_days, frequency, monetary, aov per customer, in customer_id order (L, M, O)."""
    rows = {}
    for ids, count, amount, last in GROUPS.values():
        for i, cid in enumerate(ids):
            rows[cid] = [(AS_OF - last(i)).days, count, count * amount(i), amount(i)]
    return np.array([rows[cid] for cid in sorted(rows)], dtype=float)


def reference_silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    distances = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    scores = []
    for i in range(len(x)):
        own = labels == labels[i]
        a = distances[i, own].sum() / (own.sum() - 1)
        b = min(distances[i, labels == other].mean() for other in set(labels) - {labels[i]})
        scores.append((b - a) / max(a, b))
    return float(np.mean(scores))


def reference_davies_bouldin(x: np.ndarray, labels: np.ndarray) -> float:
    groups = sorted(set(labels))
    centres = {g: x[labels == g].mean(axis=0) for g in groups}
    spread = {g: np.sqrt(((x[labels == g] - centres[g]) ** 2).sum(axis=1)).mean()
              for g in groups}
    worst = [max((spread[g] + spread[h]) / np.linalg.norm(centres[g] - centres[h])
                 for h in groups if h != g) for g in groups]
    return float(np.mean(worst))


def test_three_groups_are_found_numbered_by_revenue_and_labelled(store_file: Path) -> None:
    with Store(store_file) as store:
        scored = score(store, "clusters", AS_OF, "UTC", "BRL")
    ids = scored["customer_id"].to_pylist()
    assert ids == sorted(ids) and len(ids) == 15
    by_customer = dict(zip(ids, scored["cluster"].to_pylist(), strict=True))
    # revenue: loyal 8 x (500..540) = 20,800; mid 3 x (120..140) = 1,950; once 30..34 = 160
    assert {cid: by_customer[cid] for cid in ids} == {
        cid: {"L": 1, "M": 2, "O": 3}[cid[0]] for cid in ids}
    labels = dict(zip(ids, scored["segment"].to_pylist(), strict=True))
    assert {labels["L0"], labels["M0"], labels["O0"]} == {
        "recent, frequent, high spend", "cooling, occasional, mid spend",
        "lapsed, one-time, low spend"}
    assert labels["L0"] == "recent, frequent, high spend"
    assert labels["O4"] == "lapsed, one-time, low spend"
    features = np.column_stack([scored[n].to_numpy().astype(float)
                                for n in ("recency_days", "frequency", "monetary", "aov")])
    assert features.tolist() == expected_features().tolist()
    assert "clv" not in scored.column_names  # no clv_scores table in this store

    # k = 3 on both criteria, and the reported figures are the textbook ones
    logged = np.log1p(expected_features())
    x = (logged - logged.mean(axis=0)) / logged.std(axis=0)
    groups = np.array([by_customer[cid] for cid in ids])
    first = scored.slice(0, 1).to_pylist()[0]
    assert first["model_k"] == 3
    assert first["model_silhouette"] == pytest.approx(reference_silhouette(x, groups), abs=1e-9)
    assert first["model_davies_bouldin"] == pytest.approx(
        reference_davies_bouldin(x, groups), abs=1e-9)
    assert (first["model_stability_mean"], first["model_stability_min"]) == (1.0, 1.0)


def test_summary_describes_each_cluster(store_file: Path) -> None:
    with Store(store_file) as store:
        summary = summarize("clusters", score(store, "clusters", AS_OF, "UTC", "BRL"))
    assert summary.columns == ("segment", "cluster", "customers", "share", "median R (days)",
                               "median F", "median M", "revenue share")
    # medians of the middle customer (i = 2) of each group; revenue shares of 22,910
    assert list(summary.rows) == [
        ("recent, frequent, high spend", "1", "5", "33.3%", "12", "8.0", "4,160.00", "90.8%"),
        ("cooling, occasional, mid spend", "2", "5", "33.3%", "122", "3.0", "390.00", "8.5%"),
        ("lapsed, one-time, low spend", "3", "5", "33.3%", "542", "1.0", "32.00", "0.7%"),
    ]
    assert summary.notes[1] == ("stability across seeds (adjusted Rand index): mean 1.000, "
                                "min 1.000")


def test_segments_command_prints_and_saves_the_clusters(
        store_file: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(store_file.parent)
    assert main(["--store", str(store_file), "segments", "clusters", "--as-of",
                 "2025-07-01"]) == 0
    output = capsys.readouterr().out
    assert "Customer clusters as of 2025-07-01" in output
    assert "recent, frequent, high spend" in output and "k = 3" in output
    with Store(store_file) as store:
        assert store.con.execute("SELECT cluster, count(*) FROM clusters_scores GROUP BY 1 "
                                 "ORDER BY 1").fetchall() == [(1, 5), (2, 5), (3, 5)]


def test_push_contacts_carry_the_cluster_labels(store_file: Path) -> None:
    from clientela.destinations.contacts import (
        Segmentation,
        build_contacts,
        choose_fields,
        rfm_features,
    )

    with Store(store_file) as store:
        features = rfm_features(store, AS_OF, "UTC", "BRL", segmenter="clusters")
        build_contacts(store.con, features, Segmentation(name="clusters"),
                       choose_fields(["orders"], store.con), as_of=AS_OF, timezone="UTC")
        rows = store.con.execute("SELECT customer_id, segment, orders FROM _push_contacts "
                                 "ORDER BY 1").fetchall()
    words = {"L": "recent, frequent, high spend", "M": "cooling, occasional, mid spend",
             "O": "lapsed, one-time, low spend"}
    assert rows == [(cid, words[cid[0]], {"L": 8, "M": 3, "O": 1}[cid[0]])
                    for cid in sorted(f"{g}{i}" for g in "LMO" for i in range(5))]


def test_too_few_customers_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 4 customers"):
        cluster(np.array([[1.0, 1, 10], [2, 2, 20], [3, 3, 30]]), Settings())


def test_labels_follow_everyones_terciles() -> None:
    cuts = ((10.0, 100.0), (50.0, 500.0), 2.0)
    assert plain_label(5, 1, 40, cuts) == "recent, one-time, low spend"
    assert plain_label(50, 2, 100, cuts) == "cooling, occasional, mid spend"
    assert plain_label(101, 3, 501, cuts) == "lapsed, frequent, high spend"
