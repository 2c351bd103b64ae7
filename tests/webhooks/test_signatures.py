"""HMAC checks as each platform signs: base64 (Shopify, WooCommerce) and hex (Nuvemshop)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from clientela.webhooks import sign, verify

BODY = b'{"id":20001,"status":"processing","total":"109.80"}'


def test_signatures_match_an_independent_computation() -> None:
    raw = hmac.new(b"s3cret", BODY, hashlib.sha256).digest()
    assert sign("s3cret", BODY, "base64") == base64.b64encode(raw).decode()
    assert sign("s3cret", BODY, "hex") == raw.hex()


def test_valid_forged_tampered_and_missing() -> None:
    good = sign("s3cret", BODY, "base64")
    assert verify(["s3cret"], BODY, good, "base64")
    assert not verify(["other"], BODY, good, "base64")
    assert not verify(["s3cret"], BODY.replace(b"109.80", b"1.00"), good, "base64")
    assert not verify(["s3cret"], BODY, None, "base64")
    assert not verify(["s3cret"], BODY, "", "base64")
    assert not verify([], BODY, good, "base64")


def test_the_encoding_is_the_platforms() -> None:
    hexed = sign("s3cret", BODY, "hex")
    assert verify(["s3cret"], BODY, hexed.upper(), "hex")  # hex case does not matter
    assert not verify(["s3cret"], BODY, hexed, "base64")
    assert not verify(["s3cret"], BODY, sign("s3cret", BODY, "base64"), "hex")
    assert not verify(["s3cret"], BODY, "not base64 at all!", "base64")


def test_a_rotated_secret_is_accepted_alongside_the_new_one() -> None:
    old = sign("old-secret", BODY, "base64")
    assert verify(["new-secret", "old-secret"], BODY, old, "base64")
    assert not verify(["new-secret"], BODY, old, "base64")
