"""Store opt-outs handed to a destination that keeps consent per kind of message, beyond what
a push's changes carry.

A push's changes reach only the contacts of the segmentation being pushed, and only when
their hash moved. A CRM that keeps a status per subscription type still holds everyone it
was ever sent, by any segmentation; an opt-out must reach all of them, and a type mapped
after someone opted out must be written for her too. So, after its changes, every push
offers the destination (`WritesOptOuts`) each current e-mail opt-out in the ledger of a
customer it was ever sent (its `push_state`, any segmentation, or a written row of its
`push_log`), at her current address, for each target the destination maps that purpose to
and that it was not handed before (`push_opt_outs`). The destination reads what it holds
(read calls only, so a dry run counts them) and writes what is missing; each written or
settled (already opted out there, or not held) target is remembered, committed as each
contact finishes, so a re-run, even after a SIGKILL, offers only what was not settled, and
the destination's read finds what the killed run had written.

Contacts whose change failed in this push are left for the next one: their opt-out is
retried whole with them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from clientela.consent import PURPOSES, current_sql
from clientela.destinations.api import HeldOptOut, WritesOptOuts
from clientela.destinations.state import LOG_TABLE, STATE_TABLE, now
from clientela.privacy import mask_text
from clientela.store import Store
from clientela.store.migrations import PUSH_OPT_OUTS_TABLE as HANDED_TABLE
from clientela.store.push_state import HandedRow

WRITTEN = ("created", "updated", "unsubscribed", "removed", "retagged")
"""`push_log` outcomes after which the destination held the contact."""
COUNTED = "opt_outs_written"
"""The push report's consent key: contacts outside the push's changes written an opt-out."""


@dataclass
class HandOver:
    """What one hand-over did: contacts written an opt-out (or, in a dry run, that would
    be), and the contacts refused, with the masked reason."""

    contacts: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def offered(store: Store, destination: str, writer: WritesOptOuts, *,
            exclude: Collection[str] = ()) -> list[HeldOptOut]:
    """The opt-outs to offer: each current e-mail opt-out of a customer this destination was
    ever sent (not in `exclude`), at her current address, per target not handed before. The
    comparison with what was handed runs in the store's database, so a push with nothing new
    brings no row out of it."""
    pairs = [(purpose, target) for purpose in PURPOSES
             for target in writer.opt_out_targets(purpose)]
    if not pairs:
        return []
    targets = ", ".join("(?, ?)" for _ in pairs)
    rows = store.con.execute(f"""
        SELECT k.customer_id, lower(c.email) AS email, k.purpose, t.target
        FROM ({current_sql()}) k
        JOIN customers c ON c.customer_id = k.customer_id
        JOIN (VALUES {targets}) AS t(purpose, target) ON t.purpose = k.purpose
        WHERE k.channel = 'email' AND k.status = 'opted_out'
          AND c.email IS NOT NULL AND c.email <> ''
          AND k.customer_id IN (
              SELECT customer_id FROM {STATE_TABLE} WHERE destination = ?
              UNION
              SELECT customer_id FROM {LOG_TABLE} WHERE destination = ?
                AND outcome IN ({", ".join("?" for _ in WRITTEN)}))
          AND NOT EXISTS (
              SELECT 1 FROM {HANDED_TABLE} h WHERE h.destination = ?
                AND h.email = lower(c.email) AND h.target = t.target)
        ORDER BY 1, 3, 4""", [*(value for pair in pairs for value in pair), destination,
                               destination, *WRITTEN, destination]).fetchall()
    skip = set(exclude)
    return [HeldOptOut(str(cid), str(email), str(purpose), str(target))
            for cid, email, purpose, target in rows if cid not in skip]


def hand_over(store: Store, destination: str, writer: WritesOptOuts, *, run_id: str | None,
              dry_run: bool, exclude: Collection[str] = ()) -> HandOver:
    """Offer, plan and (unless `dry_run`) write; see the module docstring."""
    result = HandOver()
    offer = offered(store, destination, writer, exclude=exclude)
    if not offer:
        return result
    plan = writer.plan_opt_outs(offer)
    result.contacts = len({item.customer_id for item in plan.to_write})
    if dry_run:
        return result
    _remember(store, destination, plan.settled, run_id)

    def done(written: Sequence[HeldOptOut], refused: Sequence[tuple[HeldOptOut, str]]) -> None:
        _remember(store, destination, written, run_id)
        for item, error in refused:
            if item.customer_id not in result.failed:
                result.failed[item.customer_id] = mask_text(error)

    writer.write_opt_outs(plan.to_write, done)
    result.contacts -= len(result.failed)
    return result


def _remember(store: Store, destination: str, items: Sequence[HeldOptOut],
              run_id: str | None) -> None:
    at = now()
    store.push_state.hand([HandedRow(destination, item.email, item.target, item.customer_id,
                                     item.purpose, at, run_id) for item in items])
