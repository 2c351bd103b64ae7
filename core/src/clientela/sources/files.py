"""The file source: CSV, JSONL and Parquet into any entity, with a column mapping.

Files are read in batches so memory stays flat, whatever their size. CSV
cells are read as text and left to the model to parse (ids like '00123'
stay ids); an empty cell means "not given", so the field's default applies.

Reading never aborts on one record: a line that is not JSON, is nested too
deep, has more cells than the header or bytes that are not UTF-8 becomes a
rejection with its line number, and the rest of the file goes on. What can
be checked before writing is checked before writing: the encoding, the
delimiter, and that every column the mapping names exists.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clientela.errors import NotFound
from clientela.model.entities import entity_for
from clientela.model.validation import FieldProblem, Rejection
from clientela.sources.api import Source, SourceBatch, SourceSpec, Stream
from clientela.sources.encoding import UTF8_NAMES, check_utf8

FileFormat = Literal["csv", "jsonl", "parquet"]
SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
}
DELIMITERS = (",", ";", "\t", "|")
"""What a CSV export uses, in the order a tie is broken."""
COLUMN_SCAN_LINES = 1_000
"""JSONL lines read to learn its columns (objects need not all carry every key)."""
ERROR_KEY = "__error__"


class FileSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    entity: str = Field(description="Target entity: customers, orders, order_lines, ...")
    format: FileFormat | None = Field(default=None, description="Guessed from the suffix if unset.")
    mapping: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> column name in the file"
    )
    defaults: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> value for rows that lack it"
    )
    status_map: dict[str, str] = Field(
        default_factory=dict,
        description="the file's order status -> a canonical one (Paid -> paid); case-blind",
    )
    source_name: str = Field(default="file", description="The `source` recorded on every row.")
    delimiter: str | None = Field(default=None, min_length=1, max_length=1,
                                  description="CSV delimiter; detected from the header if unset.")
    encoding: str = "utf-8-sig"
    batch_size: int = Field(default=20_000, ge=1)

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        try:
            return entity_for(value).table
        except NotFound as error:
            raise ValueError(str(error)) from None

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; expected e.g. utf-8, latin-1, "
                             "cp1252") from None
        return value

    def resolved_format(self) -> FileFormat:
        if self.format is not None:
            return self.format
        found = SUFFIXES.get(self.path.suffix.lower())
        if found is None:
            known = ", ".join(sorted(SUFFIXES))
            raise ValueError(
                f"cannot tell the format of {self.path.name}: expected a suffix among {known}, "
                "or --format csv|jsonl|parquet"
            )
        return found


def _batched(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _error_row(message: str, line: str = "") -> dict[str, Any]:
    return {ERROR_KEY: message, "__line__": line}


def _column_name(header_cell: str) -> str:
    """A header cell as a column name: blanks and a byte-order mark around it dropped."""
    return header_cell.strip().lstrip("\ufeff").strip()


def detect_delimiter(header_line: str) -> str:
    counts = {candidate: header_line.count(candidate) for candidate in DELIMITERS}
    best = max(DELIMITERS, key=lambda c: counts[c])
    return best if counts[best] else ","


class FileSource:
    """One file, one stream named after the target entity."""

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self.format = config.resolved_format()
        self.model = entity_for(config.entity)
        self.stream = Stream(self.model.table, self.model)
        if not config.path.is_file():
            raise FileNotFoundError(f"no such file: {config.path}")
        self.bytes_total = config.path.stat().st_size
        self._bytes_done = 0
        self._handle: IO[bytes] | None = None
        self.rows_seen = 0
        self.status_map = {k.strip().lower(): v for k, v in config.status_map.items()}
        self.errors = "surrogateescape" if config.encoding.lower().replace(
            "_", "-") in UTF8_NAMES else "strict"
        if self.format != "parquet":
            check_utf8(config.path, config.encoding)
        self.delimiter = config.delimiter or ","
        self.columns = self._columns()
        self._check_mapping()

    def streams(self) -> Sequence[Stream]:
        return [self.stream]

    # -- what the file holds ---------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return self.columns is None

    def describe_nothing(self) -> str:
        """Why an import read no rows: an empty file, or a header alone."""
        if self.columns is None:
            return f"{self.config.path.name} is empty: nothing to import"
        if self.format == "csv":
            return f"{self.config.path.name} has a header but no rows: nothing to import"
        return f"{self.config.path.name} has no rows: nothing to import"

    def bytes_done(self) -> int:
        """How far reading has come, in bytes of the file (for a progress bar)."""
        if self._handle is not None and not self._handle.closed:
            return min(self._handle.tell(), self.bytes_total)
        return self._bytes_done

    def _text(self, raw: IO[bytes]) -> io.TextIOWrapper:
        return io.TextIOWrapper(raw, encoding=self.config.encoding, errors=self.errors,
                                newline="" if self.format == "csv" else None)

    def _columns(self) -> list[str] | None:
        """The file's columns (None for an empty file); detects the CSV delimiter."""
        if self.format == "parquet":
            import pyarrow.parquet as pq

            try:
                return list(pq.ParquetFile(self.config.path).schema_arrow.names)
            except Exception as error:  # pyarrow raises several types for a non-Parquet file
                raise ValueError(f"{self.config.path.name} is not a readable Parquet file: "
                                 f"{error}") from None
        with self.config.path.open("rb") as raw, self._text(raw) as text:
            if self.format == "jsonl":
                seen: dict[str, None] = {}
                for line in islice(text, COLUMN_SCAN_LINES):
                    try:
                        value = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if isinstance(value, dict):
                        seen.update(dict.fromkeys(value))
                return list(seen) if seen else None
            first = text.readline()
        if not first.strip():
            return None
        if self.config.delimiter is None:
            self.delimiter = detect_delimiter(first)
        header = next(csv.reader([first], delimiter=self.delimiter), [])
        if len(header) == 1 and self.config.delimiter is not None:
            other = detect_delimiter(first)
            if other != self.delimiter and other in first:
                raise ValueError(
                    f"{self.config.path.name}: the whole header is one column ({first.strip()!r}); "
                    f"the delimiter looks like {other!r}: use --delimiter '{other}'")
        return [_column_name(name) for name in header]

    def _check_mapping(self) -> None:
        """Refuse, before writing anything, a mapping that names a column the file lacks,
        and (CSV, Parquet) a required field that no column or default provides."""
        if self.columns is None:
            return
        present = set(self.columns)
        name = self.config.path.name
        listed = ", ".join(repr(c) for c in self.columns[:20])
        for field_name, column in self.config.mapping.items():
            if column not in present:
                raise ValueError(f"--map {field_name}={column}: {name} has no column "
                                 f"{column!r}; its columns are {listed}")
        if self.format == "jsonl":
            return
        mapped_from = set(self.config.mapping.values())
        provided = {*self.config.mapping, *self.config.defaults,
                    *(c for c in self.columns if c not in mapped_from)}
        for field_name, info in self.model.model_fields.items():
            if info.is_required() and field_name != "source" and field_name not in provided:
                raise ValueError(
                    f"{name} has no column for the required field {field_name!r}: add "
                    f"--map {field_name}=COLUMN or --default {field_name}=VALUE "
                    f"(its columns are {listed})")

    # -- reading --------------------------------------------------------------------

    def _csv_plan(self, header: list[str]) -> list[tuple[int, str]]:
        """(cell index, canonical field) pairs: mapped columns under their field's name,
        the others under their own (one column may feed two fields)."""
        names = [_column_name(name) for name in header]
        index = {name: i for i, name in enumerate(names)}
        plan = [(index[column], field_name) for field_name, column in self.config.mapping.items()
                if column in index]
        mapped_from = set(self.config.mapping.values())
        taken = {field_name for _, field_name in plan}
        plan += [(i, name) for i, name in enumerate(names)
                 if name not in mapped_from and name not in taken]
        return plan

    def _csv_rows(self) -> Iterator[dict[str, Any]]:
        csv.field_size_limit(sys.maxsize)  # long cells are judged by the model, with a reason
        with self.config.path.open("rb") as raw, self._text(raw) as text:
            self._handle = raw
            reader = csv.reader(text, delimiter=self.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                return
            width = len(header)
            plan = self._csv_plan(header)
            finish = self._finish
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    yield _error_row(f"line {reader.line_num}: {error}")
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) != width:
                    if len(cells) > width and any(c.strip() for c in cells[width:]):
                        yield _error_row(
                            f"line {reader.line_num}: {len(cells)} cells but the header has "
                            f"{width} (an unquoted {self.delimiter!r} inside a value?)",
                            self.delimiter.join(cells)[:1000])
                        continue
                    cells = (cells + [""] * width)[:width]
                yield finish({name: value for i, name in plan
                              if (value := cells[i]) and not value.isspace()})
            self._bytes_done = self.bytes_total

    def _jsonl_rows(self) -> Iterator[dict[str, Any]]:
        with self.config.path.open("rb") as raw, self._text(raw) as text:
            self._handle = raw
            for number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as error:
                    message = getattr(error, "msg", str(error))
                    yield _error_row(f"line {number}: not valid JSON ({message})", line.rstrip("\n"))
                    continue
                except RecursionError:
                    yield _error_row(f"line {number}: nested too deeply to read",
                                     line.rstrip("\n"))
                    continue
                if not isinstance(value, dict):
                    yield _error_row(f"line {number}: expected a JSON object", line.rstrip("\n"))
                    continue
                yield self._map(value)
            self._bytes_done = self.bytes_total

    def _parquet_rows(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.config.path)
        total = max(parquet.metadata.num_rows, 1)
        done = 0
        for record_batch in parquet.iter_batches(batch_size=self.config.batch_size):
            try:
                rows = record_batch.to_pylist()
            except Exception:  # one bad value (invalid UTF-8): find it row by row
                rows = []
                for offset in range(record_batch.num_rows):
                    try:
                        rows.extend(record_batch.slice(offset, 1).to_pylist())
                    except Exception as error:
                        rows.append(_error_row(f"row {done + offset + 1}: {error}"))
            for row in rows:
                yield row if ERROR_KEY in row else self._map(row)
            done += record_batch.num_rows
            self._bytes_done = self.bytes_total * done // total

    def _raw_rows(self) -> Iterator[dict[str, Any]]:
        reader = {"csv": self._csv_rows, "jsonl": self._jsonl_rows, "parquet": self._parquet_rows}
        return reader[self.format]()

    # -- mapping --------------------------------------------------------------------

    def _finish(self, row: dict[str, Any]) -> dict[str, Any]:
        """Defaults, the status map and the source, on a row already under field names."""
        for field_name, value in self.config.defaults.items():
            row.setdefault(field_name, value)
        if self.status_map:
            status = row.get("status")
            if isinstance(status, str):
                row["status"] = self.status_map.get(status.strip().lower(), status)
        row["source"] = self.config.source_name
        return row

    def _map(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """File columns to canonical fields; unmapped columns keep their name."""
        mapped_columns = set(self.config.mapping.values())
        row: dict[str, Any] = {}
        for field_name, column in self.config.mapping.items():
            if column in raw:
                row[field_name] = raw[column]
        for column, value in raw.items():
            if column not in mapped_columns and column not in row:
                row[column] = value
        row = {k: v for k, v in row.items() if not (isinstance(v, str) and v.strip() == "")
               and v is not None}
        return self._finish(row)

    def map_payload(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A quarantined payload under the current mapping (for `quarantine retry`)."""
        return self._map(payload)

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]:
        try:
            for chunk in _batched(self._raw_rows(), self.config.batch_size):
                rows: list[dict[str, Any]] = []
                rejections: list[Rejection] = []
                for raw in chunk:
                    if ERROR_KEY in raw:
                        rejections.append(Rejection(
                            entity=self.model.entity, key="?",
                            problems=(FieldProblem("(record)", None, str(raw[ERROR_KEY])),),
                            raw=raw,
                        ))
                    else:
                        rows.append(raw)
                self.rows_seen += len(chunk)
                yield SourceBatch(stream=stream, rows=rows, rejections=rejections)
        finally:
            self._handle = None


def open_file_source(config: FileSourceConfig) -> Source:
    return FileSource(config)


FILE_SOURCE = SourceSpec(
    name="file",
    description="CSV, JSONL or Parquet files mapped onto any entity",
    config=FileSourceConfig,
    open=open_file_source,
)
