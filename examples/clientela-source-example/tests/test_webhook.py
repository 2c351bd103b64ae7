"""The example source's webhook, end to end: a signed delivery through `clientela serve`
lands the customer in the store; a wrong signature is refused and lands nothing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import requests

from clientela.testing.webhooks import serving

SECRET = "example-shop-secret-42"
ONLY_THIS_PLUGIN = {"CLIENTELA_LOAD_PLUGINS": "clientela-source-example"}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "clientela.toml").write_text(
        '[workspace]\ntimezone = "UTC"\ncurrency = "BRL"\n\n'
        f'[sources.example_shop]\nwebhook_secret = "{SECRET}"\n')
    monkeypatch.setenv("CLIENTELA_LOAD_PLUGINS", "clientela-source-example")
    from clientela import plugins

    plugins.reset(forget_local=True)
    return tmp_path


def test_a_signed_delivery_lands_the_customer(folder: Path) -> None:
    body = json.dumps({"id": 77, "email": "ana@example.com", "name": "Ana",
                       "updated": "2025-03-01T10:00:00Z"}).encode()
    headers = {"Content-Type": "application/json", "X-Example-Topic": "customer.updated",
               "X-Example-Delivery": "delivery-1"}
    with serving(folder, env=ONLY_THIS_PLUGIN) as server:
        first = server.deliver("example_shop", body, headers, secret=SECRET)
        again = server.deliver("example_shop", body, headers, secret=SECRET)
        forged = server.deliver("example_shop", body, {**headers, "X-Example-Delivery": "d-2"},
                                secret="not-the-secret")
        served = requests.get(f"{server.url}/healthz", timeout=10).json()
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert forged.status_code == 401
    assert served == {"status": "ok", "platforms": ["example_shop"]}
    con = duckdb.connect(str(folder / "clientela.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT source, customer_id, email, first_name, updated_at "
                           "FROM customers").fetchall() == [
            ("example_shop", "77", "ana@example.com", "Ana",
             datetime(2025, 3, 1, 10, 0))]
    finally:
        con.close()
