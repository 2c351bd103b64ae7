"""Follow-up tasks for salespeople: the post-sale contact a manager can monitor.

A `post_purchase` journey opens one task per order, assigned to the order's
salesperson, due when the journey's message is. The task is closed by the
message (outcome `message_sent`) or by the salesperson logging a call
(`call_logged`, or `no_answer`); both are written as a Touch with the
salesperson, which is what `relationship_activity` counts. The list can be
exported (`clientela messages --tasks`) or pushed to a CRM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from clientela.errors import NotFound
from clientela.journeys.ledger import naive
from clientela.journeys.spec import Journey
from clientela.model.entities import Touch
from clientela.store import Store
from clientela.store.migrations import FOLLOW_UP_TASKS_TABLE, MESSAGES_TABLE

OUTCOMES = ("message_sent", "call_logged", "no_answer")


def open_tasks(store: Store, journeys: Sequence[Journey], now: datetime) -> int:
    """One open task per planned post-sale message of its first step; returns how many new."""
    names = [f"{j.name}/{j.steps[0].name}" for j in journeys if j.trigger == "post_purchase"]
    if not names:
        return 0
    con = store.con
    before = con.execute(f"SELECT count(*) FROM {FOLLOW_UP_TASKS_TABLE}").fetchone()
    con.execute(f"""
        INSERT INTO {FOLLOW_UP_TASKS_TABLE}
        SELECT m.message_key, m.origin, m.salesperson_id, m.customer_id, m.occurrence, m.due_at,
               'open', NULL, m.message_key, ?, NULL
        FROM {MESSAGES_TABLE} m
        WHERE m.origin_kind = 'journey' AND m.origin || '/' || m.step IN (SELECT unnest(?))
          AND m.message_key NOT IN (SELECT task_id FROM {FOLLOW_UP_TASKS_TABLE})""",
        [naive(now), names])
    close_sent(store, now)
    after = con.execute(f"SELECT count(*) FROM {FOLLOW_UP_TASKS_TABLE}").fetchone()
    return int(after[0] if after else 0) - int(before[0] if before else 0)


def close_sent(store: Store, now: datetime) -> int:
    """Tasks whose message went out are done, with outcome `message_sent`."""
    row = store.con.execute(f"""
        UPDATE {FOLLOW_UP_TASKS_TABLE} t SET status = 'done', outcome = 'message_sent',
               closed_at = ?
        FROM {MESSAGES_TABLE} m WHERE m.message_key = t.message_key AND t.status = 'open'
          AND m.status IN ('sent', 'delivered', 'read')""", [naive(now)]).fetchone()
    return int(row[0]) if row else 0


def log_outcome(store: Store, task_id: str, outcome: str, at: datetime,
                channel: str = "call") -> None:
    """The salesperson did the follow-up (a call, say): close the task and record the touch."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    row = store.con.execute(f"SELECT customer_id, salesperson_id FROM {FOLLOW_UP_TASKS_TABLE} "
                            "WHERE task_id = ?", [task_id]).fetchone()
    if row is None:
        raise NotFound(f"no follow-up task {task_id!r}")
    store.con.execute(f"UPDATE {FOLLOW_UP_TASKS_TABLE} SET status = 'done', outcome = ?, "
                      "closed_at = ? WHERE task_id = ?", [outcome, naive(at), task_id])
    store.upsert([Touch(touch_id=f"task:{task_id}", customer_id=str(row[0]),
                        salesperson_id=row[1], channel=channel, occurred_at=at.astimezone(UTC),
                        logged=outcome != "no_answer", source="clientela")])
