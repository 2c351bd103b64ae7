"""The base every canonical entity shares.

Every record carries the source it came from and its natural key in that
source; the store upserts on (source, key fields), so a re-read record
replaces its earlier version instead of duplicating it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from clientela.model.types import Label


class Record(BaseModel):
    """A canonical record. Subclasses declare `entity`, `table` and `key_fields`."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        frozen=True,
        use_enum_values=True,
        validate_default=False,
    )

    entity: ClassVar[str]
    """Human name used in messages ('Order')."""
    table: ClassVar[str]
    """Store table and CLI name ('orders')."""
    key_fields: ClassVar[tuple[str, ...]]
    """The natural key inside one source."""
    version_field: ClassVar[str | None] = "updated_at"
    """When both versions carry it, an older incoming version never overwrites a newer one."""

    source: Label = Field(description="Where the record came from: a source plugin's name or 'file'.")

    def natural_key(self) -> str:
        return key_text(type(self), self.model_dump(include=set(self.key_fields)))


def key_text(model: type[Record], data: dict[str, Any]) -> str:
    """The key as one string for messages and quarantine rows; '?' marks a missing part."""
    parts = [data.get(field) for field in model.key_fields]
    return "/".join("?" if part in (None, "") else str(part) for part in parts)
