"""Turning raw rows into canonical records, or into a reason a person can act on.

A rejected row is not an exception for the caller: it comes back as a
`Rejection` with the entity, the record's key, the field, the offending value
and what was expected, so the importer can quarantine it and go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from clientela.model.base import Record, key_text

_VALUE_PREVIEW = 60


@dataclass(frozen=True)
class FieldProblem:
    field: str
    value: Any
    expected: str

    def describe(self) -> str:
        if self.field == "(record)":
            return self.expected
        if self.value is _MISSING:
            return f"field '{self.field}': missing; {self.expected}"
        return f"field '{self.field}': value {_preview(self.value)} - {self.expected}"


@dataclass(frozen=True)
class Rejection:
    """Why one raw row could not become a record."""

    entity: str
    key: str
    problems: tuple[FieldProblem, ...]
    raw: Mapping[str, Any]

    @property
    def reason(self) -> str:
        details = "; ".join(problem.describe() for problem in self.problems)
        return f"{self.entity} '{self.key}': {details}"


class RecordValidationError(ValueError):
    """Raised by `validate_one` for callers that want an exception, with the same message."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


_MISSING = object()

_EXPECTED_BY_TYPE = {
    "date_parsing": "expected a date as YYYY-MM-DD",
    "date_from_datetime_parsing": "expected a date as YYYY-MM-DD",
    "date_type": "expected a date as YYYY-MM-DD",
    "datetime_parsing": "expected a date-time in ISO 8601, e.g. 2025-03-01T10:00:00-03:00",
    "datetime_from_date_parsing": "expected a date-time in ISO 8601, e.g. 2025-03-01T10:00:00-03:00",
    "datetime_type": "expected a date-time in ISO 8601, e.g. 2025-03-01T10:00:00-03:00",
    "int_parsing": "expected a whole number",
    "bool_parsing": "expected true or false",
}


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_PREVIEW else text[: _VALUE_PREVIEW - 3] + "..."


def _problems(error: ValidationError, raw: Mapping[str, Any]) -> tuple[FieldProblem, ...]:
    problems = []
    for detail in error.errors(include_url=False):
        loc = [str(part) for part in detail["loc"]]
        field = ".".join(loc) if loc else "(record)"
        expected = str(detail["msg"])
        if expected.startswith("Value error, "):
            expected = expected.removeprefix("Value error, ")
        if detail["type"] == "missing":
            value: Any = _MISSING
            expected = "a value is required"
        elif detail["type"] == "extra_forbidden":
            value = detail.get("input")
            expected = "not a field of this entity (map it to a field or drop it)"
        else:
            expected = _EXPECTED_BY_TYPE.get(detail["type"], expected)
            value = detail.get("input") if loc else None
            if not loc:
                field = "(record)"
        problems.append(FieldProblem(field=field, value=value, expected=expected))
    return tuple(problems)


def validate_rows(
    model: type[Record],
    rows: Iterable[Mapping[str, Any]],
    *,
    context: Mapping[str, Any] | None = None,
) -> tuple[list[Record], list[Rejection]]:
    """Validate a batch; good rows and rejections come back separately, order kept."""
    good: list[Record] = []
    bad: list[Rejection] = []
    ctx = dict(context or {})
    for raw in rows:
        try:
            good.append(model.model_validate(raw, context=ctx))
        except ValidationError as error:
            bad.append(
                Rejection(
                    entity=model.entity,
                    key=key_text(model, dict(raw)),
                    problems=_problems(error, raw),
                    raw=raw,
                )
            )
    return good, bad


def validate_one(
    model: type[Record], raw: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> Record:
    good, bad = validate_rows(model, [raw], context=context)
    if bad:
        raise RecordValidationError(bad[0])
    return good[0]
