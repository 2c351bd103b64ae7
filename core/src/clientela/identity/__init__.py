"""One person across every source: the identity graph.

The contract every other part of clientela reads is one table, `identity_links`: a row maps a
customer record (`customer_id`) to the person it belongs to (`person_id`). A customer with no
row is a person of its own, so a store without identity resolution (or with
`[identity] enabled = false`) behaves exactly as before. `person_id_sql` is the one way to
read that mapping in SQL.

The modules, each with one job (docs/identity.md says how it behaves):
`normalize` (CPF, e-mail and phone keys as SQL), `keys` (a customer's match keys), `graph`
(components rule by rule, conflicts, on arrays), `resolve` (full and incremental resolution
in the store, the `[identity]` settings a store follows), `decisions` (merge and split by
hand), `events` (`on_persons_changed`), `overview` (what the CLI shows).
"""

from __future__ import annotations

IDENTITY_LINKS_TABLE = "identity_links"
IDENTITY_KEYS_TABLE = "identity_keys"
"""Each customer's match keys (CPF, e-mail and phone as digests, links as customer ids)."""
IDENTITY_CONFLICTS_TABLE = "identity_conflicts"
"""Keys that were not allowed to merge what they connect, for a person to decide."""
IDENTITY_STATE_TABLE = "identity_state"
"""The `[identity]` settings the graph was built with, and whether it is complete."""
IDENTITY_DECISIONS_TABLE = "identity_decisions"
"""Merges and splits decided by hand, with their reasons; later resolutions respect them."""


def person_id_sql(customer_column: str = "customer_id", links_alias: str = "il") -> str:
    """The person of a customer column, given a LEFT JOIN of `identity_links` as `links_alias`."""
    return f"COALESCE({links_alias}.person_id, {customer_column})"


__all__ = [
    "IDENTITY_CONFLICTS_TABLE", "IDENTITY_DECISIONS_TABLE", "IDENTITY_KEYS_TABLE",
    "IDENTITY_LINKS_TABLE", "IDENTITY_STATE_TABLE", "person_id_sql",
]
