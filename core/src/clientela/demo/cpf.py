"""Brazilian CPF numbers for the demo's point-of-sale export: valid ones, and typos that are not.

A CPF is nine digits and two check digits (mod 11). The demo draws valid,
distinct numbers, writes them the ways a till does (`123.456.789-09` or
`12345678909`), and makes a few invalid ones (a wrong last check digit, the
typo a cashier makes) that an identity resolver must refuse to match on.
"""

from __future__ import annotations

import numpy as np

from clientela.demo.calendar import IntArray

FORMATTED, DIGITS = 0, 1
"""How a CPF is written: 123.456.789-09, or the eleven digits alone."""


def check_digits(base: IntArray) -> IntArray:
    """The two check digits of each row of nine digits (shape (n, 9) -> (n, 2))."""
    base = np.asarray(base, dtype=np.int64)
    first = _digit(base @ np.arange(10, 1, -1))
    second = _digit(base @ np.arange(11, 2, -1) + 2 * first)
    return np.column_stack([first, second])


def _digit(total: IntArray) -> IntArray:
    rest = total % 11
    return np.where(rest < 2, 0, 11 - rest)


def draw_valid(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct valid CPFs as eleven digits; never one digit repeated (000..., 111...),
    which passes the check-digit arithmetic but no CPF uses."""
    chosen: np.ndarray = np.empty(0, dtype=np.int64)
    while len(chosen) < n:
        more = rng.integers(1, 10**9 - 1, n - len(chosen) + 8)
        repeated = (more % 111_111_111 == 0)
        chosen = np.unique(np.concatenate([chosen, more[~repeated]]))
    # np.unique sorts; keep a random order so CPFs say nothing of who came first
    chosen = rng.permutation(chosen)[:n]
    base = (chosen[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    digits = np.column_stack([base, check_digits(base)])
    return ["".join(map(str, row)) for row in digits.tolist()]


def mistyped(cpf: str) -> str:
    """The same number with its last check digit wrong: invalid by construction."""
    return cpf[:10] + str((int(cpf[10]) + 1) % 10)


def is_valid(cpf: str) -> bool:
    """Eleven digits (punctuation ignored), not all alike, check digits right."""
    digits = [int(ch) for ch in cpf if ch.isdigit()]
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    return bool(check_digits(np.array([digits[:9]]))[0].tolist() == digits[9:])


def written(cpf: str, style: int) -> str:
    """A CPF as the till writes it."""
    if style == FORMATTED:
        return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    return cpf
