"""Erasing a person from the message ledger.

The ledger keeps who was contacted, when, through which channel and why a
message was suppressed (which an auditor may ask for), but after `forget`
no longer holds how to reach them or what they were told: the address, the
subject, the body and the template variables are blanked, inbound replies
lose their link to the customer, and the customer is marked forgotten so
that no journey or campaign plans anything for them again (reason
`forgotten`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from clientela.store import Store
from clientela.store.ledger_erasure import erase_in

__all__ = ["erase_in", "forget_messages"]


def forget_messages(store: Store, customer_ids: Iterable[str],
                    now: datetime | None = None) -> int:
    """Blank the personal columns of these customers' messages, in one transaction; returns
    messages touched. Pending messages are suppressed with reason `forgotten`."""
    with store.transaction() as con:
        return erase_in(con, customer_ids, now)
