from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from clientela.model import Customer, Order, validate_rows
from clientela.store import Store, StoreError
from clientela.store.migrations import SCHEMA_VERSION, SchemaTooNewError


def order(order_id: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "source": "shop", "order_id": order_id, "customer_id": "c1", "status": "paid",
        "placed_at": "2024-01-10T12:00:00Z", "updated_at": "2024-01-10T12:00:00Z",
        "subtotal": "100.00", "total": "100.00", "channel": "online",
    }
    row.update(changes)
    return row


def orders(*rows: dict[str, object]) -> list[Order]:
    good, bad = validate_rows(Order, rows)
    assert not bad
    return good  # type: ignore[return-value]


def table(store: Store, sql: str) -> list[tuple[object, ...]]:
    return store.con.execute(sql).fetchall()


def test_new_store_is_migrated_to_the_current_version(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        version = table(store, "SELECT value FROM _clientela_meta WHERE key = 'schema_version'")
        assert version == [(str(SCHEMA_VERSION),)]
        assert store.counts()["orders"] == 0


def test_a_store_from_a_newer_clientela_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE _clientela_meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaTooNewError, match="schema version 999"):
        Store(path)


def test_upsert_inserts_then_reports_unchanged(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        first = store.upsert(orders(order("1"), order("2")))
        again = store.upsert(orders(order("1"), order("2")))
        assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
        assert store.count("orders") == 2


def test_a_refund_on_an_old_order_replaces_its_revenue(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(orders(order("1")))
        counts = store.upsert(orders(order("1", refunded_amount="30", status="partially_refunded",
                                           updated_at="2025-02-01T00:00:00Z")))
        assert (counts.inserted, counts.updated) == (0, 1)
        assert table(store, "SELECT total - refunded_amount, status FROM orders") == [
            (Decimal("70.00"), "partially_refunded")
        ]


def test_an_older_version_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(orders(order("1", refunded_amount="30", updated_at="2025-02-01T00:00:00Z")))
        counts = store.upsert(orders(order("1", updated_at="2024-06-01T00:00:00Z")))
        assert (counts.updated, counts.stale) == (0, 1)
        assert table(store, "SELECT refunded_amount FROM orders") == [(Decimal("30.00"),)]


def test_the_last_version_of_a_key_inside_a_batch_wins(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        counts = store.upsert(orders(order("1", total="10", subtotal="10", updated_at=None),
                                     order("1", total="20", subtotal="20", updated_at=None)))
        assert counts.inserted == 1
        assert table(store, "SELECT total FROM orders") == [(Decimal("20.00"),)]


def test_same_key_in_two_sources_is_two_records(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(orders(order("1"), order("1", source="other")))
        assert store.count("orders") == 2


def test_a_failed_batch_lands_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import clientela.store.store as store_module

    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(orders(order("1")))

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(store_module, "quarantine_rejections", broken)
        good, bad = validate_rows(Order, [order("2"), {"source": "shop", "order_id": "x"}])
        with pytest.raises(RuntimeError, match="disk full"):
            store.write_batch(Order, good, rejections=bad, state=("shop", "orders", {"c": 2}))
        assert table(store, "SELECT order_id FROM orders") == [("1",)]
        assert store.get_state("shop", "orders") == {}


def test_quarantine_keeps_reason_and_payload_once(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        bad_row = {"source": "shop", "customer_id": "9", "email": "nope"}
        for _ in range(2):
            good, bad = validate_rows(Customer, [bad_row])
            result = store.write_batch(Customer, good, rejections=bad, source="shop")
        assert (result.rejected, result.quarantined) == (1, 0)
        rows = table(store, "SELECT source, entity, record_key, reason, payload FROM quarantine")
        assert rows == [(
            "shop", "Customer", "9",
            "Customer '9': field 'email': value 'nope' - expected an e-mail address like "
            "name@example.com",
            '{"customer_id": "9", "email": "nope", "source": "shop"}',
        )]


def test_cursor_commits_with_its_batch(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.write_batch(Order, orders(order("1")), state=("shop", "orders", {"after": "x"}))
        assert store.get_state("shop", "orders") == {"after": "x"}
        assert store.get_state("shop", "customers") == {}


def test_json_and_list_columns_round_trip(tmp_path: Path) -> None:
    good, _ = validate_rows(Customer, [{"source": "s", "customer_id": "1", "tags": ["a", "b"],
                                        "attributes": {"size": "M", "kids": 2}}])
    with Store(tmp_path / "s.duckdb") as store:
        store.upsert(good)
        assert table(store, "SELECT tags, attributes FROM customers") == [
            (["a", "b"], '{"kids": 2, "size": "M"}')
        ]


def test_run_log(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        run_id = store.start_run("import", "file")
        store.finish_run(run_id, "ok", {"read": 3})
        assert table(store, "SELECT kind, target, status, stats FROM runs") == [
            ("import", "file", "ok", '{"read": 3}')
        ]


def test_memory_limit_is_applied_and_a_bad_one_is_named(tmp_path: Path) -> None:
    with Store(tmp_path / "m.duckdb", memory_limit="256MB") as store:
        limit = store.con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert limit is not None and limit[0] in ("244.1 MiB", "256.0 MB", "244.1MiB")
    with pytest.raises(StoreError, match="memory_limit 'lots'"):
        Store(tmp_path / "m.duckdb", memory_limit="lots")
    with pytest.raises(StoreError, match="memory_limit"):
        Store(tmp_path / "m.duckdb", memory_limit="1GB'; DROP TABLE orders; --")
