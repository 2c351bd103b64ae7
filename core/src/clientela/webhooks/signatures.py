"""Checking a platform's HMAC-SHA256 signature over the raw body.

The digest is computed over the bytes as received, never over re-serialised
JSON (key order and spacing would change it). Comparison is constant-time
on the decoded digests, so neither timing nor encoding quirks (base64
padding, hex case) leak or reject a valid signature. Several secrets may be
valid at once: a platform may keep the old one valid for a while after rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

Encoding = Literal["base64", "hex"]


def digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def sign(secret: str, body: bytes, encoding: Encoding) -> str:
    """The header value a platform would send; for tests and for documentation."""
    raw = digest(secret, body)
    return base64.b64encode(raw).decode() if encoding == "base64" else raw.hex()


def _decode(given: str, encoding: Encoding) -> bytes | None:
    text = given.strip()
    try:
        if encoding == "base64":
            return base64.b64decode(text, validate=True)
        return bytes.fromhex(text)
    except (binascii.Error, ValueError):
        return None


def verify(secrets: Sequence[str], body: bytes, given: str | None, encoding: Encoding) -> bool:
    """True when `given` is the signature of `body` under any of `secrets`."""
    if not given or not secrets:
        return False
    claimed = _decode(given, encoding)
    if claimed is None:
        return False
    matched = False
    for secret in secrets:  # every secret is tried, so timing does not tell which one matched
        matched |= hmac.compare_digest(digest(secret, body), claimed)
    return matched
