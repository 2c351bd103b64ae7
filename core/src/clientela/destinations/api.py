"""What a destination plugin registers: an email tool or CRM that receives segments.

Provisional until the push engine lands: a destination upserts contacts in
batches and forgets a person on request. The push engine in core owns
diffing, consent and batching; the destination owns the API calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel


class Destination(Protocol):
    def upsert_contacts(self, contacts: Sequence[Mapping[str, Any]]) -> Any: ...

    def forget(self, email: str) -> Any: ...


@dataclass(frozen=True)
class DestinationSpec:
    name: str
    description: str
    config: type[BaseModel]
    """Its settings, read from `[destinations.<name>]` in clientela.toml."""
    open: Callable[[Any], Destination]
