"""Reading list bodies that are not entirely valid JSON.

One bad record (a stray control character, a PHP notice, a broken number)
makes a whole page invalid JSON. Splitting the top-level array by hand
keeps every good record and isolates the bad one, which then goes to
quarantine with its text instead of failing the sync. A body whose
brackets do not even balance (a truncated transfer) cannot be split and is
reported as such, so the caller can ask again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_ID = re.compile(r'"id"\s*:\s*"?([A-Za-z0-9_-]{1,64})')
_RAW_LIMIT = 2_000


@dataclass(frozen=True)
class BadRecord:
    """A list element that could not be parsed: its text (cut short) and why."""

    text: str
    error: str

    @property
    def key_hint(self) -> str | None:
        """The record's id if one can still be read from the text."""
        found = _ID.search(self.text)
        return found.group(1) if found else None


class UnsplittableBody(ValueError):
    """The body is not a JSON array whose elements can be told apart."""


def split_array(text: str) -> list[str]:
    """The raw text of each top-level element of a JSON array, strings and nesting respected."""
    body = text.strip()
    if not body.startswith("["):
        raise UnsplittableBody("the body is not a JSON array")
    elements: list[str] = []
    depth, start, in_string, escaped = 0, 1, False, False
    for index, char in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                if body[index + 1:].strip():
                    raise UnsplittableBody("text after the end of the array")
                last = body[start:index].strip()
                if last:
                    elements.append(last)
                return elements
        elif char == "," and depth == 1:
            elements.append(body[start:index].strip())
            start = index + 1
    raise UnsplittableBody("the array is cut short (unbalanced brackets or an open string)")


def salvage_array(text: str) -> list[Any]:
    """Parse each element on its own; a bad one becomes a `BadRecord`."""
    items: list[Any] = []
    for element in split_array(text):
        try:
            items.append(json.loads(element))
        except json.JSONDecodeError as error:
            items.append(BadRecord(element[:_RAW_LIMIT], f"not valid JSON ({error.msg})"))
    return items
