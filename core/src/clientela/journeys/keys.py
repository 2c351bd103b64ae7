"""Deterministic identities: a message's key and a campaign's control group.

A message is identified by what makes it happen, never by when a run found
it: (journey or campaign, step, customer, occurrence), where the occurrence
is what makes it happen again (the order for a post-sale message, the month
for a monthly reminder, the expiry date for a warning, the year for a
birthday). Planning the same thing twice yields the same key, and the
ledger keeps one row per key, so a re-run, a re-entry or two workers can
never schedule a message twice.
"""

from __future__ import annotations

import hashlib

KEY_LENGTH = 32
"""Hex characters kept of the SHA-256 (128 bits: collisions are not a practical concern)."""


def message_key(origin: str, step: str, customer_id: str, occurrence: str) -> str:
    """`origin` is `journey:<name>` or `campaign:<name>`. The parts are joined with a byte
    that cannot appear in a TOML name, so ('a', 'b|c') and ('a|b', 'c') differ."""
    text = "\x1f".join((origin, step, customer_id, occurrence))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def control_draw(campaign: str, customer_id: str) -> float:
    """A number in [0, 1) fixed by (campaign, customer): the customer is held out when it is
    below the control share, so every run of the campaign holds out the same people, and
    different campaigns hold out independent groups."""
    digest = hashlib.sha256(f"control\x1f{campaign}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_control(campaign: str, customer_id: str, share: float) -> bool:
    return share > 0 and control_draw(campaign, customer_id) < share
