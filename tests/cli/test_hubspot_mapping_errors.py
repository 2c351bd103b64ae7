"""A wrong HubSpot subscription-type mapping is the user's to fix: exit 2, the field named,
no traceback, no token printed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from destinations.fakes.hubspot import FakeHubSpot

TOKEN = "pat-na1-0123456789abcdef"


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN) as fake:
        fake.add_subscription_type("101", "Marketing Information")
        yield fake


def configure(tmp_path: Path, store: Path, fake: FakeHubSpot, mapping: str) -> None:
    (tmp_path / "clientela.toml").write_text(
        f'[workspace]\nstore = "{store}"\n[destinations.hubspot]\naccess_token = "{TOKEN}"\n'
        f'base_url = "{fake.url}"\nmax_attempts = 1\n'
        f"[destinations.hubspot.subscription_types]\n{mapping}\n", encoding="utf-8")


@pytest.mark.parametrize(("mapping", "said"), [
    ('101 = "promotions"', "subscription type 101: purpose 'promotions', expected one of "
                           "marketing, relationship"),
    ('news = "marketing"', "subscription type id 'news': expected HubSpot's numeric id"),
    ('999 = "marketing"', "[destinations.hubspot] subscription_types: 999 is not a "
                          "subscription type of this HubSpot account; it has: 101 (Marketing "
                          "Information)"),
])
def test_a_wrong_mapping_exits_2_naming_the_field(run, connectors, demo_store: Path,
                                                  tmp_path: Path, hubspot: FakeHubSpot,
                                                  mapping: str, said: str) -> None:
    configure(tmp_path, demo_store, hubspot, mapping)

    ran = run("push", "hubspot", "--dry-run")

    err = " ".join(ran.err.split())
    assert ran.exit_code == 2, ran.output
    assert "subscription_types" in err and said in err
    assert "Traceback" not in ran.output and "bug" not in ran.err
    assert TOKEN not in ran.output
    assert hubspot.write_count() == 0 and hubspot.searches() == []


def test_a_dry_run_counts_the_relationship_opt_outs_it_would_hand_over(
        run, connectors, demo_store: Path, tmp_path: Path, hubspot: FakeHubSpot) -> None:
    from clientela.consent import ConsentEvent, current, record
    from clientela.store import Store

    configure(tmp_path, demo_store, hubspot, '101 = "marketing"\n7400003 = "relationship"')
    with Store(demo_store) as store:
        consenting = {row["customer_id"] for row in current(store).to_pylist()
                      if row["purpose"] == "marketing" and row["status"] == "opted_in"}
        who, address = next(row for row in store.con.execute(  # a customer who buys: a contact
            "SELECT customer_id, lower(email) FROM customers WHERE customer_id IN "
            "(SELECT customer_id FROM orders) ORDER BY 1").fetchall() if row[0] in consenting)
        record(store, [ConsentEvent(customer_id=who, channel="email", purpose="relationship",
                                    status="opted_out", address=address,
                                    occurred_at=datetime(2030, 1, 1), source="pos")])

    ran = run("push", "hubspot", "--dry-run")

    assert ran.exit_code == 0, ran.output + ran.err
    row = next(line for line in ran.output.splitlines() if "handed a new opt-out of" in line)
    assert row.split("│")[2].strip() == "1"
    beyond = next(line for line in ran.output.splitlines() if "written an opt-out" in line)
    assert beyond.split("│")[2].strip() == "0"  # never sent before: nothing beyond its change
    assert address not in ran.output  # masked in the sample
    assert hubspot.write_count() == 0 and hubspot.unsubscribe_calls() == []
