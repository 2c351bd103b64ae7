"""Masking personal data before it reaches a log line, an error or the terminal."""

from __future__ import annotations

import hashlib
import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def mask_email(email: str) -> str:
    """'maria.silva@example.com' -> 'm***@e***.com': enough to tell people apart in a log."""
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    name, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{(name or tld)[:1]}***" + (f".{tld}" if name else "")


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return "***" + digits[-2:] if len(digits) > 2 else "***"


def mask_text(text: str) -> str:
    """Mask every e-mail address and phone-like number inside free text."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


PERSONAL_CUSTOMER_FIELDS: tuple[str, ...] = (
    "email", "phone", "first_name", "last_name", "birth_date", "city", "region", "attributes",
    "tags",
)
"""What erasing a customer blanks: the id stays, so their orders still count in the KPIs."""

FORGET_REQUESTS_TABLE = "forget_requests"
"""Where erasure requests are recorded (by digest), see clientela.destinations.forget."""


def email_digest(email: str) -> str:
    """SHA-256 of the normalised address: proves what was erased without keeping it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()
