"""Cursor paging over GraphQL connections (`pageInfo { hasNextPage endCursor }`).

The resume token saved with each batch is the page's `endCursor`: an
opaque string without credentials, good for as long as the query that
made it (same filter, same sort) is asked again, which a restarted sync
does since the window's lower bound is saved with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from clientela.http import ConnectorError
from clientela.sources.toolkit import Page
from clientela_shopify.graphql import ShopifyGraphQL
from clientela_shopify.queries import ORDER_LINES, Operation


def _connection(data: Mapping[str, Any], root: str) -> Mapping[str, Any]:
    found = data.get(root)
    if not isinstance(found, Mapping) or not isinstance(found.get("edges"), list):
        raise ConnectorError(f"Shopify: the answer has no '{root}' connection")
    return found


def nodes(connection: Mapping[str, Any]) -> list[Any]:
    return [edge.get("node") if isinstance(edge, Mapping) else edge
            for edge in connection.get("edges") or []]


def next_cursor(connection: Mapping[str, Any]) -> str | None:
    info = connection.get("pageInfo")
    if isinstance(info, Mapping) and info.get("hasNextPage") and info.get("endCursor"):
        return str(info["endCursor"])
    return None


def connection_pages(graphql: ShopifyGraphQL, operation: Operation, root: str,
                     variables: Mapping[str, Any], resume: str | None) -> Iterator[Page]:
    after = resume
    price = f"{operation.name}:{variables.get('first')}:{variables.get('lines', '')}"
    while True:
        data, response = graphql.run(operation, {**variables, "after": after},
                                     price_key=price)
        connection = _connection(data, root)
        following = next_cursor(connection)
        yield Page(nodes(connection), following, response)
        if following is None:
            return
        after = following


def flatten_lines(graphql: ShopifyGraphQL, order: Any, per_page: int) -> Any:
    """An order's `lineItems` connection as a plain list, fetching the pages beyond the first.

    Orders whose shape is unexpected are left alone: the mapper quarantines them.
    """
    if not isinstance(order, dict) or not isinstance(order.get("lineItems"), Mapping):
        return order
    connection = order["lineItems"]
    lines = nodes(connection)
    after = next_cursor(connection)
    while after is not None and order.get("id"):
        data, _ = graphql.run(ORDER_LINES, {"id": order["id"], "first": per_page,
                                            "after": after},
                              price_key=f"{ORDER_LINES.name}:{per_page}")
        more = (data.get("order") or {}).get("lineItems")
        if not isinstance(more, Mapping):
            break
        lines.extend(nodes(more))
        after = next_cursor(more)
    order["lineItems"] = lines
    return order
