"""What a source plugin registers: a store platform, files, anything with records.

A source reads streams in batches of rows already mapped to canonical field
names, each batch with the state that resumes *after* it. The core validates
the rows, lands them, quarantines the rejects and stores that state in one
transaction; a source never writes to the store itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from clientela.model.base import Record
from clientela.model.validation import Rejection


@dataclass(frozen=True)
class Stream:
    name: str
    entity: type[Record]


@dataclass
class SourceBatch:
    stream: Stream
    rows: Sequence[Mapping[str, Any]]
    """Rows with canonical field names, to be validated by the core."""
    state: Mapping[str, Any] | None = None
    """State to resume after this batch; committed together with it."""
    rejections: Sequence[Rejection] = field(default_factory=tuple)
    """Records the source could not even map (bad JSON, missing ids), with the reason."""


class Source(Protocol):
    def streams(self) -> Sequence[Stream]: ...

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]: ...


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    config: type[BaseModel]
    """Its settings, read from `[sources.<name>]` in clientela.toml."""
    open: Callable[[Any], Source]
    """Builds the source from a validated config instance."""
