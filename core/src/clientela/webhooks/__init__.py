"""The webhook receiver: store platforms push orders and customers as they change.

Deliveries are verified (HMAC-SHA256 over the raw body, constant-time),
deduplicated by the platform's delivery id and committed to a durable
spool before the 200 answer; a background applier maps them with the
platform connector's own mapper and lands them in the store in batches,
each stream's batch with its own cursor, so each delivery is applied
exactly once even across crashes. See `spool`, `applier` and `receiver`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clientela.webhooks.applier import Applier, ApplyStats
from clientela.webhooks.mappers import EventMapper, EventResult, build_mappers
from clientela.webhooks.platforms import PLATFORMS, PlatformSpec
from clientela.webhooks.receiver import Receiver, create_app
from clientela.webhooks.signatures import sign, verify
from clientela.webhooks.spool import Spool, SpooledEvent

__all__ = [
    "PLATFORMS",
    "Applier",
    "ApplyStats",
    "EventMapper",
    "EventResult",
    "PlatformSpec",
    "Receiver",
    "Spool",
    "SpooledEvent",
    "build_mappers",
    "create_app",
    "default_spool_path",
    "secrets_from",
    "sign",
    "verify",
]


def default_spool_path(store_path: Path) -> Path:
    """Beside the store: `clientela.duckdb` -> `clientela.webhooks.sqlite`."""
    return store_path.with_name(store_path.stem + ".webhooks.sqlite")


def secrets_from(sources: Mapping[str, Mapping[str, Any]]) -> dict[str, Sequence[str]]:
    """`[sources.<platform>] webhook_secret`: one string, or a list during a rotation."""
    found: dict[str, Sequence[str]] = {}
    for platform in PLATFORMS:
        value = (sources.get(platform) or {}).get("webhook_secret")
        if isinstance(value, str) and value.strip():
            found[platform] = (value.strip(),)
        elif isinstance(value, list | tuple):
            kept = tuple(str(v).strip() for v in value if str(v).strip())
            if kept:
                found[platform] = kept
    return found
