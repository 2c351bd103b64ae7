"""The file source: CSV, JSONL and Parquet into any entity, with a column mapping.

Files are read in batches so memory stays flat, whatever their size. CSV
cells are read as text and left to the model to parse (ids like '00123'
stay ids); an empty cell means "not given", so the field's default applies.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from clientela.model.entities import entity_for
from clientela.model.validation import FieldProblem, Rejection
from clientela.sources.api import Source, SourceBatch, SourceSpec, Stream

FileFormat = Literal["csv", "jsonl", "parquet"]
SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
}


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
    source_name: str = Field(default="file", description="The `source` recorded on every row.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    batch_size: int = Field(default=5_000, ge=1)

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        try:
            return entity_for(value).table
        except KeyError as error:
            raise ValueError(str(error.args[0])) from None

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


class FileSource:
    """One file, one stream named after the target entity."""

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self.format = config.resolved_format()
        self.model = entity_for(config.entity)
        self.stream = Stream(self.model.table, self.model)
        if not config.path.is_file():
            raise FileNotFoundError(f"no such file: {config.path}")

    def streams(self) -> Sequence[Stream]:
        return [self.stream]

    # -- reading --------------------------------------------------------------------

    def _csv_rows(self) -> Iterator[dict[str, Any]]:
        with self.config.path.open(newline="", encoding=self.config.encoding) as handle:
            yield from csv.DictReader(handle, delimiter=self.config.delimiter)

    def _jsonl_rows(self) -> Iterator[dict[str, Any]]:
        with self.config.path.open(encoding=self.config.encoding) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    value = {"__error__": f"line {number}: not valid JSON ({error.msg})",
                             "__line__": line.rstrip("\n")}
                if not isinstance(value, dict):
                    value = {"__error__": f"line {number}: expected a JSON object",
                             "__line__": line.rstrip("\n")}
                yield value

    def _parquet_rows(self) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.config.path)
        for record_batch in parquet.iter_batches(batch_size=self.config.batch_size):
            yield from record_batch.to_pylist()

    def _raw_rows(self) -> Iterator[dict[str, Any]]:
        reader = {"csv": self._csv_rows, "jsonl": self._jsonl_rows, "parquet": self._parquet_rows}
        return reader[self.format]()

    # -- mapping --------------------------------------------------------------------

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
        for field_name, value in self.config.defaults.items():
            row.setdefault(field_name, value)
        row["source"] = self.config.source_name
        return row

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]:
        for chunk in _batched(self._raw_rows(), self.config.batch_size):
            rows: list[dict[str, Any]] = []
            rejections: list[Rejection] = []
            for raw in chunk:
                if "__error__" in raw:
                    rejections.append(Rejection(
                        entity=self.model.entity, key="?",
                        problems=(FieldProblem("(record)", None, str(raw["__error__"])),),
                        raw=raw,
                    ))
                else:
                    rows.append(self._map(raw))
            yield SourceBatch(stream=stream, rows=rows, rejections=rejections)


def open_file_source(config: FileSourceConfig) -> Source:
    return FileSource(config)


FILE_SOURCE = SourceSpec(
    name="file",
    description="CSV, JSONL or Parquet files mapped onto any entity",
    config=FileSourceConfig,
    open=open_file_source,
)
