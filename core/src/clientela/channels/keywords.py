"""Replies that mean "stop messaging me".

The words Brazilian and English-speaking customers send (SAIR, PARE,
CANCELAR, STOP, ...), matched on the whole reply after trimming, case and
accents, so "Pare." and "  stop " count and "não pare" does not.
"""

from __future__ import annotations

import unicodedata

OPT_OUT_KEYWORDS: frozenset[str] = frozenset({
    "sair", "pare", "parar", "cancelar", "descadastrar", "stop", "stopall", "unsubscribe",
    "cancel", "end", "quit",
})


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.strip().strip(".!").strip().lower()


def is_opt_out(text: str | None) -> bool:
    """True when the whole reply is an opt-out keyword."""
    return bool(text) and _plain(text or "") in OPT_OUT_KEYWORDS
