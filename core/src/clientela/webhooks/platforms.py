"""What each platform's webhook deliveries look like: headers, encoding, topics.

| Platform | Signature | Encoding | Delivery id | Topic |
|---|---|---|---|---|
| Shopify | X-Shopify-Hmac-Sha256 | base64 | X-Shopify-Webhook-Id | X-Shopify-Topic |
| WooCommerce | X-WC-Webhook-Signature | base64 | X-WC-Webhook-Delivery-ID | X-WC-Webhook-Topic |
| Nuvemshop | X-Linkedstore-HMAC-SHA256 | hex | none | body `event` |

Topics: `orders/updated` (Shopify), `order.updated` (WooCommerce), `order/paid` (Nuvemshop).

Nuvemshop sends no delivery id, so its deliveries are not deduplicated:
each is only a pointer to refetch, and refetching twice is harmless.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from clientela.webhooks.signatures import Encoding

Kind = Literal["order", "customer"]
_PING = re.compile(rb"^webhook_id=\d+$")


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    signature_header: str
    encoding: Encoding
    id_header: str | None
    topic_header: str | None

    def topic(self, headers: Mapping[str, str], body: bytes) -> str:
        if self.topic_header is not None:
            return headers.get(self.topic_header.lower(), "").strip() or "unknown"
        try:
            parsed = json.loads(body)
        except ValueError:
            return "unknown"
        event = parsed.get("event") if isinstance(parsed, dict) else None
        return str(event) if event else "unknown"

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        if self.id_header is None:
            return None
        value = headers.get(self.id_header.lower(), "").strip()
        return value[:200] or None

    def is_unsigned_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        """WooCommerce checks a new webhook's URL with an unsigned `webhook_id=N` form post;
        refusing it would stop the shop from saving the webhook. It carries no data."""
        return self.name == "woocommerce" and _PING.match(body.strip()) is not None


SHOPIFY = PlatformSpec("shopify", "X-Shopify-Hmac-Sha256", "base64", "X-Shopify-Webhook-Id",
                       "X-Shopify-Topic")
WOOCOMMERCE = PlatformSpec("woocommerce", "X-WC-Webhook-Signature", "base64",
                           "X-WC-Webhook-Delivery-ID", "X-WC-Webhook-Topic")
NUVEMSHOP = PlatformSpec("nuvemshop", "X-Linkedstore-HMAC-SHA256", "hex", None, None)
PLATFORMS: dict[str, PlatformSpec] = {p.name: p for p in (SHOPIFY, WOOCOMMERCE, NUVEMSHOP)}


def kind_of(topic: str) -> tuple[Kind | None, str]:
    """('order' | 'customer' | None, action) for `orders/updated`, `order.updated`, `order/paid`."""
    resource, action = topic.lower(), ""
    for separator in ("/", "."):
        if separator in topic:
            head, _, tail = topic.lower().partition(separator)
            resource, action = head, tail
            break
    if resource in ("order", "orders"):
        return "order", action
    if resource in ("customer", "customers"):
        return "customer", action
    return None, action
