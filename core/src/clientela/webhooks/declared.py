"""Which sources declare a webhook, and what a topic is about.

Nothing here knows a platform: every source that can push changes says
how in its `SourceSpec.webhook` (`clientela.sources.api.WebhookSpec`), and
the receiver serves exactly the sources the registry holds with one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from clientela.sources.api import WebhookSpec

Kind = Literal["order", "customer"]


def declared_webhooks() -> dict[str, WebhookSpec]:
    """source name -> its webhook declaration, for every installed source that has one."""
    from clientela.plugins import registry

    return {name: spec.webhook for name, spec in sorted(registry().sources.items())
            if spec.webhook is not None}


def kind_of(topic: str) -> tuple[Kind | None, str]:
    """('order' | 'customer' | None, action) for `orders/updated`, `order.updated`, `order/paid`:
    the resource before the first `/` or `.`, singular or plural, and the rest."""
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


def only_declared(webhooks: Mapping[str, WebhookSpec],
                  wanted: Mapping[str, object]) -> dict[str, WebhookSpec]:
    """The declarations of the sources in `wanted` (those with a secret configured)."""
    return {name: spec for name, spec in webhooks.items() if wanted.get(name)}
