"""Turning a platform record into canonical rows, or into a reason it could not be.

A mapper raises `MappingError` (or trips on a missing key or a wrong type)
for a record it cannot map; the reader turns that into a `Rejection` so the
record is quarantined with its reason and the sync goes on. Rows that map
but break the model's rules are left to the core's validation, which
quarantines them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from clientela.http.jsonbody import BadRecord
from clientela.model.validation import FieldProblem, Rejection
from clientela.sources.toolkit.cursor import parse_time

_MISSING_HINT = "a value is required"


class MappingError(ValueError):
    """A record that cannot become a canonical row, with the field to blame."""

    def __init__(self, field: str, expected: str, value: Any = None) -> None:
        super().__init__(f"{field}: {expected}")
        self.field = field
        self.expected = expected
        self.value = value


@dataclass(frozen=True)
class Mapped:
    """One platform record as canonical rows: its own, and its children's by stream name."""

    row: dict[str, Any]
    children: Mapping[str, Sequence[dict[str, Any]]] = field(default_factory=dict)


def rejection(entity: str, key: str | None, raw: Any, field: str, expected: str,
              value: Any = None) -> Rejection:
    payload = raw if isinstance(raw, Mapping) else {"__raw__": str(raw)[:2_000]}
    return Rejection(entity=entity, key=key or "?",
                     problems=(FieldProblem(field, value, expected),), raw=payload)


def reject_bad_record(entity: str, bad: BadRecord) -> Rejection:
    return rejection(entity, bad.key_hint, {"__raw__": bad.text}, "(record)", bad.error)


def reject_error(entity: str, key: str | None, raw: Any, error: Exception) -> Rejection:
    """A mapper's failure as a rejection; unexpected shapes are described, not raised."""
    if isinstance(error, MappingError):
        return rejection(entity, key, raw, error.field, error.expected, error.value)
    if isinstance(error, KeyError):
        return rejection(entity, key, raw, "(record)",
                         f"field {error.args[0]!r} is missing from the payload")
    return rejection(entity, key, raw, "(record)",
                     f"unexpected payload shape ({type(error).__name__}: {error})")


# -- value helpers for mappers ---------------------------------------------------------

def required(raw: Mapping[str, Any], name: str) -> Any:
    value = raw.get(name)
    if value is None or value == "":
        raise MappingError(name, _MISSING_HINT)
    return value


def money(value: Any, name: str = "amount") -> Decimal:
    """Platforms send money as strings ('10.00'), numbers or null (zero)."""
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool):
        raise MappingError(name, "expected an amount", value)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MappingError(name, "expected an amount such as 10.00", value) from None


def timestamp(value: Any, name: str) -> datetime:
    when = parse_time(value)
    if when is None:
        raise MappingError(name, "expected an ISO 8601 date-time", value)
    return when


def optional_timestamp(value: Any) -> datetime | None:
    return parse_time(value)


def text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def id_or_none(value: Any) -> str | None:
    """Platform ids where 0 or '' mean 'none' (a guest, a deleted product)."""
    if value in (None, "", 0, "0"):
        return None
    return str(value)
