"""The demo never mixes with real data or with another seed, and an interrupted one says so."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

import clientela.demo
from clientela.cli.app import main
from clientela.store import Store
from clientela.store.store import IncompleteStoreWarning

DEMO = ["demo", "--customers", "30", "--orders", "60", "--years", "1", "--no-report"]


def customers(path: str = "clientela.duckdb") -> list[tuple[object, ...]]:
    with Store(path) as store:
        return store.con.execute(
            "SELECT source, customer_id, email FROM customers ORDER BY ALL").fetchall()


def test_demo_refuses_a_store_with_other_data_unless_forced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("clientes.csv").write_text("customer_id,email\nc1,a@example.com\n")
    assert main(["import", "clientes.csv", "-e", "customers"]) == 0
    assert main(DEMO) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("clientela.duckdb already holds other data (1 customers); the demo would mix with "
            "it. Use another --store, or --force to add it anyway") in err
    assert customers() == [("file", "c1", "a@example.com")]
    assert main([*DEMO, "--force"]) == 0
    assert ("file", "c1", "a@example.com") in customers()
    assert len(customers()) > 1


def test_a_second_demo_replaces_the_first_instead_of_mixing_seeds() -> None:
    assert main(["--store", "other.duckdb", *DEMO, "--seed", "2"]) == 0
    assert main([*DEMO, "--seed", "1"]) == 0
    assert main([*DEMO, "--seed", "2"]) == 0
    assert customers() == customers("other.duckdb")


def test_an_interrupted_demo_marks_the_store_incomplete_until_a_rerun(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = clientela.demo.load

    def interrupted(store: Store, data: Any, progress: Any = None, fresh: bool = False) -> Any:
        store.write_batch(clientela.demo.build_model("customers"),
                          data.tables["customers"].slice(0, 5))
        raise KeyboardInterrupt

    monkeypatch.setattr(clientela.demo, "build_model", _model, raising=False)
    monkeypatch.setattr(clientela.demo, "load", interrupted)
    assert main(DEMO) == 1
    assert "interrupted: the demo store is incomplete" in capsys.readouterr().err
    message = ("this store is incomplete: `clientela demo` was interrupted; the figures cover "
               "only what was loaded. Run it again to finish.")
    with Store("clientela.duckdb") as store:
        assert store.incomplete_load() == message
    capsys.readouterr()
    # only 5 customers landed: the KPI itself fails on the empty orders table
    assert main(["kpi", "orders", "--from", "2024-01", "--to", "2030-01"]) in (1, 2)
    err = capsys.readouterr().err
    assert f"warning: {message}" in " ".join(err.split())
    assert "IncompleteStoreWarning" not in err
    monkeypatch.setattr(clientela.demo, "load", real)
    assert main(DEMO) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteStoreWarning)
        with Store("clientela.duckdb", read_only=True) as store:
            assert store.incomplete_load() is None


def _model(table: str) -> Any:
    from clientela.model import entity_for

    return entity_for(table)
