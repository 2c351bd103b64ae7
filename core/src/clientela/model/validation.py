"""Turning raw rows into canonical records, or into a reason a person can act on.

A rejected row is not an exception for the caller: it comes back as a
`Rejection` with the entity, the record's key, the field, the offending value
and what was expected, so the importer can quarantine it and go on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from clientela.model.base import Record, key_text
from clientela.model.moments import BOUNDS_KEY, compute_time_bounds

_VALUE_PREVIEW = 60
MAX_TEXT_CHARS = 131_072
"""The longest text a field may hold: a longer cell is a broken export (a missing quote
swallowing the rest of the file) or an attachment, and is quarantined, not stored."""
MAX_NESTING = 64
"""Deepest nesting of lists and objects inside one value (a free `attributes` object)."""
_SURROGATES = re.compile("[\ud800-\udfff]")
_PAYLOAD_PREVIEW = 200


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
    "datetime_parsing": "expected a date-time in ISO 8601, e.g. 2025-03-01T10:00:00-03:00 "
                        "(or set --date-format)",
    "datetime_from_date_parsing": "expected a date-time in ISO 8601, e.g. 2025-03-01T10:00:00-03:00",
    "datetime_type": "expected a date-time in ISO 8601, e.g. 2025-03-01T10:00:00-03:00",
    "int_parsing": "expected a whole number",
    "bool_parsing": "expected true or false",
}


def _preview(value: Any) -> str:
    if isinstance(value, str) and len(value) > _VALUE_PREVIEW:
        value = value[:_VALUE_PREVIEW]
    text = _safe_text(repr(value))
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


def _text_problem(value: str) -> str | None:
    if len(value) > MAX_TEXT_CHARS:
        return f"{len(value):,} characters; at most {MAX_TEXT_CHARS:,} are accepted"
    if not value.isascii() and _SURROGATES.search(value):
        return ("not valid Unicode text: bytes that are not UTF-8, or an unpaired surrogate "
                "escape such as \\ud800")
    return None


def _nested_problem(value: Any, depth: int = 0) -> str | None:
    if depth > MAX_NESTING:
        return f"nested more than {MAX_NESTING} levels deep"
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        if isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, dict | list | tuple):
            problem = _nested_problem(item, depth + 1)
        else:
            continue
        if problem:
            return problem
    return None


def cell_problems(raw: Mapping[str, Any]) -> tuple[FieldProblem, ...]:
    """Values no store can hold whatever the field: huge text, broken Unicode, deep nesting.
    Checked before the model, so such a row is quarantined instead of failing the batch.
    The common row (short ASCII text, numbers) costs one pass of two C calls per value."""
    for value in raw.values():
        if type(value) is str:
            if value.isascii() and len(value) <= MAX_TEXT_CHARS:
                continue
        elif not isinstance(value, dict | list | tuple | str):
            continue
        return _cell_problems(raw)
    return ()


def _cell_problems(raw: Mapping[str, Any]) -> tuple[FieldProblem, ...]:
    problems = []
    for name, value in raw.items():
        if isinstance(value, str):
            problem = _text_problem(value)
        elif isinstance(value, dict | list | tuple):
            problem = _nested_problem(value)
        else:
            continue
        if problem:
            problems.append(FieldProblem(str(name), _Shown(value), problem))
    return tuple(problems)


class _Shown:
    """A value shown in a reason by its start only, with broken characters escaped."""

    def __init__(self, value: Any) -> None:
        self.text = _safe_text(repr(value)[:_VALUE_PREVIEW - 3]) + "..."

    def __repr__(self) -> str:
        return self.text


def _safe_text(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_payload(value: Any) -> Any:
    """A rejected row as it can be kept: long text cut to a preview, broken characters escaped
    (so the quarantine itself never fails on the value it is reporting)."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            value = value[:_PAYLOAD_PREVIEW] + f"... ({len(value):,} characters)"
        return _safe_text(value) if not value.isascii() else value
    if isinstance(value, dict):
        return {_safe_text(str(k)): safe_payload(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_payload(v) for v in value]
    return value


def _rejection(model: type[Record], raw: Mapping[str, Any],
               problems: tuple[FieldProblem, ...]) -> Rejection:
    key = _safe_text(key_text(model, dict(raw)))
    if len(key) > _PAYLOAD_PREVIEW:
        key = key[:_PAYLOAD_PREVIEW] + "..."
    return Rejection(entity=model.entity, key=key, problems=problems, raw=raw)


def with_bounds(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The context with its time bounds computed once (not once per field per row)."""
    ctx = dict(context or {})
    if BOUNDS_KEY not in ctx:
        ctx[BOUNDS_KEY] = compute_time_bounds(ctx)
    return ctx


def validate_rows(
    model: type[Record],
    rows: Iterable[Mapping[str, Any]],
    *,
    context: Mapping[str, Any] | None = None,
) -> tuple[list[Record], list[Rejection]]:
    """Validate a batch; good rows and rejections come back separately, order kept."""
    good: list[Record] = []
    bad: list[Rejection] = []
    ctx = with_bounds(context)
    validate = model.model_validate
    for raw in rows:
        unstorable = cell_problems(raw)
        if unstorable:
            bad.append(_rejection(model, raw, unstorable))
            continue
        try:
            good.append(validate(raw, context=ctx))
        except ValidationError as error:
            bad.append(_rejection(model, raw, _problems(error, raw)))
        except (ArithmeticError, RecursionError, TypeError, ValueError) as error:
            # a value that broke a validator itself: the row is quarantined, never the batch
            bad.append(_rejection(model, raw, (FieldProblem(
                "(record)", None, f"cannot be read: {type(error).__name__}: {error}"),)))
    return good, bad


def validate_one(
    model: type[Record], raw: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> Record:
    good, bad = validate_rows(model, [raw], context=context)
    if bad:
        raise RecordValidationError(bad[0])
    return good[0]
