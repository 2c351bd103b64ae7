"""The repository stands alone: no code or doc points at reference files kept outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# assembled so that this file does not match itself
OUTSIDE = re.compile(r"\.\./shared|\b(?:" + "|".join(
    ("KPIS", "APIS", "DESIGN", "JOURNEYS", "LOYALTY")) + r")\.md\b")
SKIPPED = {".git", ".venv", "node_modules", "__pycache__", "build", "dist"}
SUFFIXES = {".py", ".md", ".toml", ".txt", ".j2", ".html", ".cfg"}


def _files() -> list[Path]:
    return [path for path in ROOT.rglob("*")
            if path.is_file() and path.suffix in SUFFIXES
            and not SKIPPED.intersection(path.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in path.parts)]


def test_no_file_refers_to_documents_outside_the_repository() -> None:
    found = [f"{path.relative_to(ROOT)}:{number}"
             for path in _files()
             for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                           .splitlines(), 1)
             if OUTSIDE.search(line)]
    assert found == []


def test_the_check_recognises_an_outside_reference() -> None:
    assert OUTSIDE.search("see " + "KPIS" + ".md, Sales")
    assert OUTSIDE.search("read ../" + "shared/DESIGN")
    assert not OUTSIDE.search("see docs/metrics.md")
