"""Shopify: SIGKILL mid bulk read then resume equals one clean sync (the paged case is in the
shared contract, test_shopify.TestShopifyContract); the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fakes.data import StoreData
from .fakes.shopify import FakeShopify
from .helpers import expected_orders, rows, snapshot, stored_orders, sync

KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from clientela.store import Store
    from clientela.sync import run_sync
    from clientela_shopify import ShopifyConfig, build_source

    config = ShopifyConfig.model_validate(json.loads(sys.argv[1]))
    seen = 0

    def die(stream, batch):
        global seen
        if batch.stream.name == "orders" and batch.state is not None and batch.rows:
            seen += 1
            if seen == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    with Store(sys.argv[2]) as store:
        run_sync(store, "shopify", build_source(config, sleep=lambda s: None),
                 context={"timezone": "UTC", "reporting_currency": "BRL"}, on_batch=die)
""")


@pytest.fixture
def roomy(store_data: StoreData) -> Iterator[FakeShopify]:
    """A bucket the killed process (on its own clock) can never empty."""
    with FakeShopify(store_data, bucket_size=10**9, restore_rate=10**6,
                     max_query_cost=10**9) as fake:
        yield fake


def settings(fake: FakeShopify, **options: object) -> dict[str, object]:
    return {"base_url": fake.origin, "access_token": fake.token, "bulk": "never",
            "batch_rows": 500, "bulk_poll_seconds": 0.01, **options}


def kill_mid_sync(fake: FakeShopify, store: Path, tmp_path: Path, **options: object) -> None:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), json.dumps(settings(fake, **options)),
                           str(store)], env=env, check=False, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    committed = rows(store, "SELECT count(*) FROM orders")[0][0]
    assert 0 < committed < len(fake.data.orders)


def resume_source(fake: FakeShopify, **options: object) -> object:
    from clientela_shopify import ShopifyConfig, build_source
    return build_source(ShopifyConfig.model_validate(settings(fake, **options)),
                        sleep=lambda s: None)


def test_sigkill_mid_bulk_read_then_resume_equals_one_clean_sync(
        roomy: FakeShopify, tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"
    kill_mid_sync(roomy, killed, tmp_path, bulk="always")
    assert roomy.bulk_runs == {"customers": 1, "orders": 1}
    sync(killed, "shopify", resume_source(roomy, bulk="always"))
    assert roomy.bulk_runs == {"customers": 1, "orders": 1}  # the same operation, read on
    sync(clean, "shopify", resume_source(roomy))
    assert snapshot(killed) == snapshot(clean)


def test_clientela_sync_shopify_from_the_command_line(
        roomy: FakeShopify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins
    from clientela.cli.app import main

    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-shopify")
    monkeypatch.setenv("SHOPIFY_TOKEN", roomy.token)
    monkeypatch.chdir(tmp_path)
    plugins.reset(forget_local=True)
    (tmp_path / "clientela.toml").write_text(textwrap.dedent(f"""
        [workspace]
        timezone = "UTC"
        currency = "BRL"

        [sources.shopify]
        base_url = "{roomy.origin}"
        access_token = "${{SHOPIFY_TOKEN}}"
    """))
    assert main(["sync", "shopify"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "customers" in out and roomy.token not in out
    assert stored_orders(tmp_path / "clientela.duckdb") == expected_orders(roomy.data)
