"""The push engine with an in-memory destination: commits, reporting, rules, fields, batching."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from clientela.destinations import Change, ForgetResult, Outcome, PushContext, plan_by_existence
from clientela.destinations.api import Done
from clientela.destinations.batching import BatchRejected, isolate
from clientela.destinations.contacts import ContactsError, Segmentation
from clientela.destinations.push import push
from clientela.destinations.rules import RuleError, compile_rule
from clientela.store import Store

from .conftest import N
from .helpers import AS_OF, add_points


class Memory:
    """The smallest correct destination: a dict, batches of 100, optional crash."""

    def __init__(self, crash_after: int | None = None, forget_some: bool = False) -> None:
        self.people: dict[str, dict[str, object]] = {}
        self.batches = 0
        self.crash_after = crash_after
        self.forget_some = forget_some

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        return plan_by_existence(changes, lambda c: c.contact.email in self.people,
                                 double_opt_in=False)

    def prepare(self, push: PushContext) -> None:
        return None

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        for start in range(0, len(changes), 100):
            if self.crash_after is not None and self.batches == self.crash_after:
                raise RuntimeError("the process died here")
            batch = changes[start:start + 100]
            for change in batch:
                self.people[change.contact.email] = {"segment": change.contact.segment,
                                                     **change.contact.fields}
            self.batches += 1
            reported = batch[:-1] if self.forget_some else batch
            done([Outcome(change.customer_id, True) for change in reported])

    def forget(self, email: str) -> ForgetResult:
        return ForgetResult("deleted" if self.people.pop(email, None) else "absent")

    def close(self) -> None:
        return None


def _push(path: Path, destination: Memory, **options: object) -> object:
    with Store(path) as store:
        return push(store, "memory", destination, Segmentation.rfm(), as_of=AS_OF, **options)  # type: ignore[arg-type]


def test_each_reported_batch_is_committed_so_a_crash_resends_only_the_rest(store_path: Path) -> None:
    crashing = Memory(crash_after=3)
    with pytest.raises(RuntimeError):
        _push(store_path, crashing)
    with Store(store_path) as store:
        kept = store.con.execute("SELECT count(*) FROM push_state").fetchone()
        runs = store.con.execute("SELECT status FROM runs WHERE kind = 'push'").fetchall()
    assert kept == (300,) and runs == [("failed",)]

    resumed = Memory()
    resumed.people = dict(crashing.people)
    report = _push(store_path, resumed)

    assert report.outcomes["created"] == N - 300  # type: ignore[attr-defined]
    assert report.unchanged == 300  # type: ignore[attr-defined]
    assert resumed.batches == (N - 300 + 99) // 100


def test_a_contact_the_destination_never_reports_is_failed_and_retried(store_path: Path) -> None:
    sloppy = Memory(forget_some=True)
    report = _push(store_path, sloppy)
    batches = (N + 99) // 100
    assert report.failed == batches  # type: ignore[attr-defined]
    assert report.errors[0][1] == "the destination did not report this contact"  # type: ignore[attr-defined]

    again = _push(store_path, Memory())
    assert again.planned == {"create": batches}  # type: ignore[attr-defined]


def test_only_changed_contacts_reach_the_destination(store_path: Path) -> None:
    memory = Memory()
    _push(store_path, memory)
    add_points(store_path, [3, 4])
    memory.batches = 0
    report = _push(store_path, memory)
    assert report.planned == {"update": 2} and memory.batches == 1  # type: ignore[attr-defined]
    assert memory.people["cliente00003@example.com"]["loyalty_points"] == 120


def test_fields_can_be_chosen_and_clv_comes_from_the_store_when_present(store_path: Path) -> None:
    memory = Memory()
    with pytest.raises(ContactsError, match="clv_scores"):
        _push(store_path, memory, fields=["clv"])
    with pytest.raises(ContactsError, match="unknown field 'colour'"):
        _push(store_path, memory, fields=["colour"])
    with Store(store_path) as store:
        store.con.execute("CREATE TABLE clv_scores AS SELECT customer_id, 123.456 AS clv, "
                          "0.87654 AS p_alive FROM customers")
    _push(store_path, memory, fields=["clv", "p_alive", "orders"])
    person = memory.people["cliente00001@example.com"]
    assert (person["clv"], person["p_alive"]) == (123.46, 0.8765)
    assert set(person) == {"segment", "clv", "p_alive", "orders"}


def test_rules_compile_to_safe_sql() -> None:
    columns = ("total_spent", "days_since_last_order", "rfm_segment", "clv")
    assert compile_rule("days_since_last_order >= 120 and total_spent > 500", columns) == \
        'coalesce((("days_since_last_order" >= 120) AND ("total_spent" > 500)), false)'
    assert compile_rule("rfm_segment in ('Lost', \"At Risk\") or not clv is None", columns) == \
        "coalesce(((\"rfm_segment\" IN ('Lost', 'At Risk')) OR (NOT (\"clv\" IS NULL))), false)"
    assert compile_rule("100 < total_spent <= 900.5", columns) == \
        'coalesce((100 < "total_spent" AND "total_spent" <= 900.5), false)'
    assert compile_rule('rfm_segment == "O\'Brien"', columns) == \
        "coalesce((\"rfm_segment\" = 'O''Brien'), false)"
    for bad, message in [("colour == 1", "unknown field 'colour'"),
                         ("__import__('os').system('x')", "not allowed"),
                         ("total_spent > clv + 1", "expected a number"),
                         ("total_spent >", "not a valid expression")]:
        with pytest.raises(RuleError, match=message):
            compile_rule(bad, columns)


def test_isolate_halves_a_refused_batch_down_to_the_bad_rows() -> None:
    sent: list[list[int]] = []

    def send(rows: Sequence[int]) -> int:
        sent.append(list(rows))
        if 5 in rows or 6 in rows:
            raise BatchRejected("bad row")
        return len(rows)

    bad: list[int] = []
    accepted = isolate(list(range(8)), send, lambda row, error: bad.append(row))
    assert sorted(bad) == [5, 6]
    assert sorted(row for rows, _ in accepted for row in rows) == [0, 1, 2, 3, 4, 7]
    # 0-7 refused; 0-3 lands; 4-7 refused; 4-5 refused, 4 lands, 5 alone; 6-7 likewise
    assert sent == [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [4], [5],
                    [6, 7], [6], [7]]
