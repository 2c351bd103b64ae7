"""The webhook receiver: sources push orders and customers as they change.

Which sources can, and how their deliveries are signed, identified and
mapped, is what each source plugin declares in `SourceSpec.webhook`; the
core knows no platform. Deliveries are verified (HMAC-SHA256 over the raw
body, constant-time), deduplicated by the source's delivery id and
committed to a durable spool before the 200 answer; a background applier
maps them with the source's own mapper and lands them in the store in batches,
each stream's batch with its own cursor, so each delivery is applied
exactly once even across crashes. See `spool`, `applier` and `receiver`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clientela.sources.api import WebhookSpec
from clientela.webhooks.applier import Applier, ApplyStats
from clientela.webhooks.declared import declared_webhooks
from clientela.webhooks.mappers import EventMapper, EventResult, PrivacyRequest, build_mappers
from clientela.webhooks.receiver import Receiver, create_app
from clientela.webhooks.signatures import sign, verify
from clientela.webhooks.spool import Spool, SpooledEvent

__all__ = [
    "Applier",
    "ApplyStats",
    "EventMapper",
    "EventResult",
    "PrivacyRequest",
    "Receiver",
    "Spool",
    "SpooledEvent",
    "WebhookSpec",
    "build_mappers",
    "create_app",
    "declared_webhooks",
    "default_exports_path",
    "default_spool_path",
    "secrets_from",
    "sign",
    "verify",
]


def default_spool_path(store_path: Path) -> Path:
    """Beside the store: `clientela.duckdb` -> `clientela.webhooks.sqlite`."""
    return store_path.with_name(store_path.stem + ".webhooks.sqlite")


def default_exports_path(store_path: Path) -> Path:
    """Beside the store: `clientela.duckdb` -> `clientela.exports/` (privacy data exports)."""
    return store_path.with_name(store_path.stem + ".exports")


def secrets_from(sources: Mapping[str, Mapping[str, Any]],
                 webhooks: Mapping[str, WebhookSpec] | None = None) -> dict[str, Sequence[str]]:
    """`[sources.<name>] webhook_secret` of each source that declares a webhook: one string,
    or a list during a rotation."""
    found: dict[str, Sequence[str]] = {}
    for platform in (declared_webhooks() if webhooks is None else webhooks):
        value = (sources.get(platform) or {}).get("webhook_secret")
        if isinstance(value, str) and value.strip():
            found[platform] = (value.strip(),)
        elif isinstance(value, list | tuple):
            kept = tuple(str(v).strip() for v in value if str(v).strip())
            if kept:
                found[platform] = kept
    return found
