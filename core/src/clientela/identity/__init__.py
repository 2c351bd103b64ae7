"""One person across every source: the identity graph.

The contract every other part of clientela reads is one table, `identity_links`: a row maps a
customer record (`customer_id`) to the person it belongs to (`person_id`). A customer with no
row is a person of its own, so a store without identity resolution (or with
`[identity] enabled = false`) behaves exactly as before. `person_id_sql` is the one way to
read that mapping in SQL.
"""

from __future__ import annotations

IDENTITY_LINKS_TABLE = "identity_links"


def person_id_sql(customer_column: str = "customer_id", links_alias: str = "il") -> str:
    """The person of a customer column, given a LEFT JOIN of `identity_links` as `links_alias`."""
    return f"COALESCE({links_alias}.person_id, {customer_column})"


__all__ = ["IDENTITY_LINKS_TABLE", "person_id_sql"]
