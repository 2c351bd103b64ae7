"""What a source plugin registers: a store platform, files, anything with records.

A source reads streams in batches of rows already mapped to canonical field
names, each batch with the state that resumes *after* it. The core validates
the rows, lands them, quarantines the rejects and stores that state in one
transaction; a source never writes to the store itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from clientela.model.base import Record
from clientela.model.validation import Rejection

if TYPE_CHECKING:
    from clientela.webhooks.mappers import EventMapper


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
class WebhookSpec:
    """How a source's platform pushes changes: `clientela serve` receives them at
    `POST /webhooks/<source name>` with nothing but this declaration.

    The platform signs each delivery with HMAC-SHA256 over the raw body, keyed by the
    `webhook_secret` of `[sources.<name>]`, and sends the digest in `signature_header`,
    `base64` or `hex` encoded. The delivery id (for deduplication) and the topic are read
    from headers, or the topic from a field of the JSON body when the platform puts it there.
    """

    signature_header: str
    encoding: Literal["base64", "hex"]
    mapper: Callable[[Mapping[str, Any]], EventMapper]
    """mapper(section) -> EventMapper: the `[sources.<name>]` section without
    `webhook_secret`; called once when the receiver starts."""
    topics: tuple[str, ...] = ()
    """The topics to subscribe to, as the platform names them (for docs and `serve`'s log)."""
    id_header: str | None = None
    """The delivery id header; None: the platform sends none, deliveries are not deduplicated."""
    topic_header: str | None = None
    topic_field: str | None = None
    """Where the topic is when there is no `topic_header`: a key of the JSON body."""
    unsigned_ping: re.Pattern[bytes] | None = None
    """A body the platform sends unsigned to check the URL (answered 'pong', never stored)."""

    def topic(self, headers: Mapping[str, str], body: bytes) -> str:
        """The delivery's topic; `headers` have lower-case names."""
        if self.topic_header is not None:
            return headers.get(self.topic_header.lower(), "").strip() or "unknown"
        if self.topic_field is None:
            return "unknown"
        try:
            parsed = json.loads(body)
        except ValueError:
            return "unknown"
        value = parsed.get(self.topic_field) if isinstance(parsed, dict) else None
        return str(value) if value else "unknown"

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        if self.id_header is None:
            return None
        value = headers.get(self.id_header.lower(), "").strip()
        return value[:200] or None

    def is_unsigned_ping(self, body: bytes) -> bool:
        return self.unsigned_ping is not None and \
            self.unsigned_ping.match(body.strip()) is not None


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    config: type[BaseModel]
    """Its settings, read from `[sources.<name>]` in clientela.toml."""
    open: Callable[[Any], Source]
    """Builds the source from a validated config instance."""
    webhook: WebhookSpec | None = None
    """Set when the platform can push changes; `clientela serve` then receives them."""
