"""Separators are dropped however many of them stand together (the normalisers strip them a
run at a time), and a Brazilian number of each shape keeps its meaning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientela.identity.normalize import normalize_cpf, normalize_phone

_CPF = "52998224725"  # a valid CPF (check digits 2 and 5)


@pytest.mark.parametrize("raw", [
    "529.982.247-25", "529..982//247--25", " 529 .982. 247 -25 ", "529\t982\n247\r25",
    "529 - 982 - 247 - 25",
])
def test_runs_of_cpf_separators_are_dropped(raw: str) -> None:
    assert normalize_cpf(raw) == _CPF


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=" ./-", min_size=0, max_size=3), min_size=12, max_size=12))
def test_any_separators_between_cpf_digits(gaps: list[str]) -> None:
    raw = "".join(gap + digit for gap, digit in zip(gaps, _CPF, strict=False)) + gaps[-1]
    assert normalize_cpf(raw) == _CPF


@pytest.mark.parametrize(("raw", "expected"), [
    ("(11)  98765 -- 4321", "+5511987654321"),      # mobile of nine, 9 first
    ("(11) 3333 .. 4444", "+551133334444"),          # landline of eight, 2-5 first
    ("((11)) 8765 -  4321", "+5511987654321"),       # old mobile of eight: the ninth digit
    ("(11) 6765-4321", "+5511967654321"),            # 6 first is a mobile too
    ("(11) 58765-4321", None),                       # nine digits not starting with 9
    ("(11) 1765-4321", None),                        # eight digits starting with 1
    ("(11) 98765-432", "+5511998765432"),            # eight digits, 9 first: an old mobile
    ("(11) 98765-43", None),                         # too short for any shape
])
def test_brazilian_shapes(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected
