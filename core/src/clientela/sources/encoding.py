"""Telling a UTF-8 file from a Latin-1 one before anything is written.

A Brazilian ERP export is often Latin-1 (or Windows-1252): read as UTF-8, it
fails at the first 'ã', possibly thousands of rows in. The whole file is
checked first (a fast byte scan): a file where more than 1% of the lines are
not UTF-8 is refused with the encoding to use; a few broken lines in a UTF-8
file are read with their bad bytes kept visible, and those rows are
quarantined with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 8 << 20
REFUSE_SHARE = 0.01
"""Above this share of non-UTF-8 lines, the file is in another encoding, not damaged."""
UTF8_NAMES = frozenset({"utf-8", "utf8", "utf-8-sig", "utf_8", "utf_8_sig"})


class EncodingMismatch(ValueError):
    """The file is not in the encoding it is read with (a user mistake: exit 2)."""


@dataclass(frozen=True)
class Utf8Scan:
    lines: int
    bad_lines: int
    sample: bytes
    """The first line that is not UTF-8 (to guess what it is)."""


def scan_utf8(path: Path) -> Utf8Scan:
    lines = bad = 0
    sample = b""
    carry = b""
    with path.open("rb") as handle:
        while True:
            block = handle.read(CHUNK_BYTES)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            chunk, carry = data[:cut], data[cut:]
            lines += chunk.count(b"\n")
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                for line in chunk.split(b"\n"):
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        bad += 1
                        sample = sample or line
    if carry:
        lines += 1
        try:
            carry.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
            sample = sample or carry
    return Utf8Scan(lines, bad, sample)


def _guess(sample: bytes) -> str:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")) or sample.count(b"\x00") > len(sample) // 4:
        return "it looks like UTF-16: add --encoding utf-16"
    text = sample.decode("cp1252", errors="replace")
    if any("\u00c0" <= char <= "\u00ff" for char in text):
        return "it looks like Latin-1: add --encoding latin-1"
    return "add --encoding with the file's encoding (e.g. latin-1, cp1252, utf-16)"


def check_utf8(path: Path, encoding: str) -> None:
    """Refuse a file that is mostly not in UTF-8 when it is about to be read as UTF-8."""
    if encoding.lower().replace("_", "-") not in UTF8_NAMES:
        return
    scan = scan_utf8(path)
    if scan.bad_lines and scan.bad_lines > scan.lines * REFUSE_SHARE:
        raise EncodingMismatch(
            f"{path.name} is not UTF-8 ({scan.bad_lines:,} of {scan.lines:,} lines are not); "
            f"{_guess(scan.sample)}")
