"""A connector as a declaration of its streams; the reading loop is written once, here.

A connector lists `StreamDeclaration`s: the canonical stream, how to fetch
pages from a window's lower bound and resume token, how to map one record,
its key and change time. `DeclaredSource` turns that into the core's
`Source` protocol: it opens or resumes the window, drops re-read records,
maps, quarantines what cannot be mapped, and hands each page to the core
with the state that resumes after it.

Children (order lines) are handed over *before* their parents' batch, and
without state: the sync engine lands them in the parents' transaction,
where the cursor moves, so a page's orders and lines commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clientela.http.client import ApiClient
from clientela.http.jsonbody import BadRecord
from clientela.model.validation import Rejection
from clientela.sources.api import SourceBatch, Stream
from clientela.sources.toolkit.cursor import DEFAULT_LOOKBACK, Now, StreamCursor, utc_now
from clientela.sources.toolkit.mapping import Mapped, reject_bad_record, reject_error, rejection
from clientela.sources.toolkit.pagination import Page

PageFetcher = Callable[[datetime | None, Any], Iterator[Page]]
"""(since, resume) -> pages: since is None for a first or full sync, resume None from the start."""

_MAPPING_FAILURES = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError)


@dataclass(frozen=True)
class StreamDeclaration:
    stream: Stream
    pages: PageFetcher
    map: Callable[[Mapping[str, Any]], Mapped]
    key: Callable[[Mapping[str, Any]], Any]
    """The record's id in the platform; a record without one is quarantined."""
    changed_at: Callable[[Mapping[str, Any]], datetime | None] | None = None
    """The record's change time; declaring it makes the stream incremental."""
    children: Sequence[Stream] = ()

    @property
    def incremental(self) -> bool:
        return self.changed_at is not None


class DeclaredSource:
    """The `Source` of a connector whose streams are declared."""

    def __init__(
        self,
        source_name: str,
        declarations: Sequence[StreamDeclaration],
        *,
        lookback: timedelta = DEFAULT_LOOKBACK,
        now: Now = utc_now,
        client: ApiClient | None = None,
        batch_rows: int = 5_000,
    ) -> None:
        self.batch_rows = batch_rows
        self.source_name = source_name
        self.client = client
        """The connector's client, for request counts (benchmarks, tests) and closing."""
        self.declarations = {d.stream.name: d for d in declarations}
        self.lookback = lookback
        self.now = now

    def streams(self) -> Sequence[Stream]:
        return [d.stream for d in self.declarations.values()]

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]:
        """Pages are grouped into batches of about `batch_rows` rows: one transaction per
        batch, not per page, while memory stays bounded."""
        declaration = self.declarations[stream.name]
        cursor = StreamCursor(state, incremental=declaration.incremental,
                              lookback=self.lookback, now=self.now)
        window = cursor.window()
        rows: list[dict[str, Any]] = []
        children: dict[str, list[dict[str, Any]]] = {}
        rejections: list[Rejection] = []
        for page in declaration.pages(window.since, window.resume):
            cursor.observe(page.server_time())
            self._map_page(declaration, cursor, page, rows, children, rejections)
            size = len(rows) + len(rejections) + sum(len(c) for c in children.values())
            if size < self.batch_rows and not page.last:
                continue
            for child in declaration.children:
                if children.get(child.name):
                    yield SourceBatch(stream=child, rows=children[child.name])
            yield SourceBatch(stream=stream, rows=rows, state=cursor.after_page(page.resume),
                              rejections=rejections)
            rows, children, rejections = [], {}, []

    def _map_page(
        self,
        declaration: StreamDeclaration,
        cursor: StreamCursor,
        page: Page,
        rows: list[dict[str, Any]],
        children: dict[str, list[dict[str, Any]]],
        rejections: list[Rejection],
    ) -> None:
        entity = declaration.stream.entity.entity
        for raw in page.items:
            if isinstance(raw, BadRecord):
                rejections.append(reject_bad_record(entity, raw))
                continue
            if not isinstance(raw, Mapping):
                rejections.append(rejection(entity, None, raw, "(record)",
                                            "expected a JSON object"))
                continue
            key = declaration.key(raw)
            if key is None or key == "":
                rejections.append(rejection(entity, None, raw, "(record)",
                                            "the record has no id"))
                continue
            key = str(key)
            try:
                changed = declaration.changed_at(raw) if declaration.changed_at else None
                if not cursor.dedup.fresh(key, raw, changed):
                    continue
                mapped: Mapped = declaration.map(raw)
            except _MAPPING_FAILURES as error:
                rejections.append(reject_error(entity, key, raw, error))
                continue
            rows.append({**mapped.row, "source": self.source_name})
            for name, child_rows in mapped.children.items():
                children.setdefault(name, []).extend(
                    {**row, "source": self.source_name} for row in child_rows)
