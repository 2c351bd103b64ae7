"""Masking personal data before it reaches a log line, an error or the terminal."""

from __future__ import annotations

import hashlib
import re

# \w is Unicode-aware: 'zé_silva@exâmple.com.br' is masked whole, never from its first ASCII
# run on (an ASCII-only class left 'zé_' in the clear); the top-level domain is letters only;
# an apostrophe counts only inside the local part, so a quoted address keeps its quote.
_EMAIL = re.compile(r"[\w.%+-](?:[\w.%+'-]*[\w.%+-])?@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# A phone is told from the other numbers in a message (dates, times, amounts, ids) by its
# shape: a leading +, a parenthesised area code, digit groups split by spaces or hyphens
# whose last group has 4 digits (never a date's 2), or a bare run after a word that says
# "phone". Anything glued to a letter, '#', ':', '/' or a decimal point is left alone.
_EDGE_BEFORE = r"(?<![\w#:/.,$-])"
_EDGE_AFTER = r"(?![\w:/]|[.,]\d)"
_GROUPED = r"\d{2,5}(?:[ -]\d{2,5})*[ -]\d{4}"
_PHONE = re.compile(
    _EDGE_BEFORE + "(?:"
    r"\+\d[\d ().-]{6,}\d"                    # +55 11 98765-4321, +1 (555) 123-4567
    r"|\(\d{2,3}\)\s?\d{4,5}[ -]?\d{4}"          # (11) 98765-4321
    r"|" + _GROUPED +                         # 11 98765-4321, 555-123-4567
    ")" + _EDGE_AFTER
)
_LABELLED_PHONE = re.compile(
    r"(?i)\b(phone|telephone|telefone|tel|celular|mobile|whatsapp|sms|fone)\b"
    r"([^\d\n]{0,12})(\d{8,15})\b"
)
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[/-]\d{2}[/-]\d{2,4}")


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


def mask_cpf(cpf: str) -> str:
    """'529.982.247-25' -> '***.***.***-25': the check digits tell two CPFs apart in a list,
    and they say nothing about the person."""
    digits = re.sub(r"\D", "", cpf)
    return "***.***.***-" + digits[-2:] if len(digits) > 2 else "***"


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    if _DATE_LIKE.fullmatch(found.strip()) or not 8 <= len(digits) <= 15:
        return found
    return mask_phone(found)


def mask_text(text: str) -> str:
    """Mask every e-mail address and phone number inside free text.

    Dates, times, amounts and ids are never masked: an error such as
    `end 2025-01-01 00:00 is not after start ...` must stay readable.
    """
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    text = _LABELLED_PHONE.sub(lambda m: m.group(1) + m.group(2) + mask_phone(m.group(3)), text)
    return _PHONE.sub(_phone, text)


PERSONAL_CUSTOMER_FIELDS: tuple[str, ...] = (
    "email", "phone", "first_name", "last_name", "birth_date", "city", "region", "attributes",
    "tags", "cpf",
)
"""What erasing a customer blanks: the id stays, so their orders still count in the KPIs."""

FORGET_REQUESTS_TABLE = "forget_requests"
"""Where erasure requests are recorded (by digest), see clientela.destinations.forget."""


def email_digest(email: str) -> str:
    """SHA-256 of the normalised address: proves what was erased without keeping it."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()
