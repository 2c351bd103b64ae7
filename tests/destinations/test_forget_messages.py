"""`forget` erases the person from the message ledger too: who was contacted stays, how to
reach them and what they were told does not."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from clientela.destinations.forget import forget
from clientela.journeys.ledger import Planned, plan
from clientela.store import Store

from .helpers import build_store, email

DUE = datetime(2026, 12, 10, 12, 0)


def message(key: str, customer_id: str, address: str, status: str = "planned") -> Planned:
    return Planned(message_key=key, origin_kind="journey", origin="welcome", step="hello",
                   customer_id=customer_id, occurrence="1", purpose="marketing", due_at=DUE,
                   status=status, medium="email", channel="sendgrid_mail", address=address,
                   subject="Olá", body="Oi, N1", variables={"first_name": "N1"})


def test_forget_blanks_the_persons_messages_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    build_store(path, 3)
    with Store(path) as store:
        plan(store.con, [message("m1", "c00001", email(1)),
                         message("m2", "c00001", email(1), status="sent"),
                         message("m3", "c00002", email(2))])
        report = forget(store, email(1), {})
        rows = store.con.execute(
            "SELECT message_key, status, reason, address, subject, body, variables "
            "FROM messages ORDER BY message_key").fetchall()
        personal = store.con.execute(
            "SELECT count(*) FROM messages WHERE contains(lower(coalesce(address, '') || "
            "coalesce(body, '') || coalesce(variables, '')), ?)", [email(1)]).fetchone()
    assert report.customers == 1
    assert rows == [("m1", "suppressed", "forgotten", None, None, None, None),
                    ("m2", "sent", None, None, None, None, None),
                    ("m3", "planned", None, email(2), "Olá", "Oi, N1",
                     '{"first_name": "N1"}')]
    assert personal == (0,)
