"""JSON Schema export, so other tools (and other languages) can produce valid records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clientela.model.entities import ENTITIES


def json_schemas() -> dict[str, dict[str, Any]]:
    """Schema per table name, in validation mode (what a source may send)."""
    return {model.table: model.model_json_schema(mode="validation") for model in ENTITIES}


def write_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table, schema in json_schemas().items():
        path = directory / f"{table}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
