"""Read a report page back into data, with the standard library's HTML parser only.

The tests check what a reader sees: the text of each cell, parsed back as a
number in the page's language, and the exact number each cell carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser

from babel.numbers import parse_decimal

from clientela.formatting import locale_of


@dataclass
class PageRow:
    metric: str
    item: str | None
    missing: bool
    note: str = ""
    cells: dict[str, tuple[str, str]] = field(default_factory=dict)
    """period or side -> (data-value, shown text)."""
    changes: list[str] = field(default_factory=list)


@dataclass
class Page:
    rows: list[PageRow] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    """Text of the header's elements with an id (store, period, ...)."""
    notes: dict[str, str] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    scripts: int = 0
    external: list[str] = field(default_factory=list)
    """src/href attributes that point outside the page."""

    def row(self, metric: str, item: str | None = None) -> PageRow:
        found = [r for r in self.rows if r.metric == metric and r.item == item]
        assert len(found) == 1, f"{len(found)} rows for {metric}/{item}"
        return found[0]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._cell: tuple[str, str] | None = None
        self._cell_class = ""
        self._text: list[str] = []
        self._id: str | None = None
        self._note: str | None = None
        self._row: PageRow | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.page.scripts += 1
        for key in ("src", "href"):
            if key in a and not a[key].startswith(("#", "data:")):
                self.page.external.append(a[key])
        if tag == "tr" and "data-metric" in a:
            self._row = PageRow(a["data-metric"], a.get("data-item"), "data-missing" in a)
            self.page.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            key = a.get("data-period") or a.get("data-side")
            if key:
                self._cell = (key, a.get("data-value", ""))
            self._cell_class = a.get("class", "")
            self._text = []
        elif tag in ("dd", "time") and "id" in a:
            self._id, self._text = a["id"], []
        elif tag == "li" and a.get("id", "").startswith("note-"):
            self._note, self._text = a["id"][5:], []
        elif tag == "figure":
            self.page.figures.append(a.get("id", ""))

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text).strip()
        if tag == "td" and self._row is not None:
            if self._cell is not None:
                self._row.cells[self._cell[0]] = (self._cell[1], text)
                self._cell = None
            elif "note" in self._cell_class:
                self._row.note = text
            elif "change" in self._cell_class:
                self._row.changes.append(text)
        elif tag == "tr":
            self._row = None
        elif tag in ("dd", "time") and self._id is not None:
            self.page.ids.setdefault(self._id, text)
            self._id = None
        elif tag == "li" and self._note is not None:
            self.page.notes[self._note] = re.sub(r"\s+", " ", text)
            self._note = None


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    return reader.page


def shown_number(text: str, lang: str) -> Decimal:
    """The number a cell shows ('R$ 1.234,56', '12,3%', '1,234'), as written."""
    cleaned = re.sub(r"[^\d,.\-\u2212]", "", text).replace("\u2212", "-")
    return parse_decimal(cleaned, locale=locale_of(lang), strict=False)
