"""Webhook signatures that several providers share.

Twilio (`X-Twilio-Signature`) and Mailchimp Transactional
(`X-Mandrill-Signature`) sign the same way: base64 of HMAC-SHA1, keyed with
the account's token, over the full URL the provider called followed by each
POST parameter's name and value, sorted by name. Meta signs the raw body
with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`). Comparisons are
constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def url_form_signature(key: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


def body_sha256_hex(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.strip().encode(), expected.encode())
