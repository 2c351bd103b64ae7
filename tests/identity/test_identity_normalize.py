"""CPF, e-mail and phone normalisation: tables of cases, the CPF check digits against an
independent implementation of the textbook algorithm, and Brazilian numbers against the
phonenumbers library."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientela.identity.normalize import normalize_cpf, normalize_email, normalize_phone


def textbook_check_digits(base: str) -> str:
    """The Receita Federal's algorithm, written out: weights 10..2 (then 11..2), remainder of
    the sum by 11; a remainder below 2 gives 0, any other r gives 11 - r."""
    digits = [int(c) for c in base]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits[9:]))


CPF_CASES = [
    ("529.982.247-25", "52998224725"),
    ("52998224725", "52998224725"),
    (" 111.444.777-35 ", "11144477735"),
    ("123.456.789-09", "12345678909"),
    ("390 533 447/05", "39053344705"),
    ("00000000191", "00000000191"),
    ("0000000191", "00000000191"),       # a spreadsheet ate the leading zero
    ("529.982.247-24", None),            # second check digit wrong
    ("529.982.247-35", None),            # first check digit wrong
    ("123.456.789-00", None),
    ("111.111.111-11", None),            # same digit eleven times: passes the digits, invalid
    ("000.000.000-00", None),
    ("999.999.999-99", None),
    ("5299822472", None),                # ten digits that are not a padded CPF
    ("529982247250", None),              # twelve digits
    ("529.982.247-2X", None),            # a letter
    ("CPF 529.982.247-25", None),
    ("", None),
]


@pytest.mark.parametrize(("raw", "expected"), CPF_CASES)
def test_cpf_table(raw: str, expected: str | None) -> None:
    assert normalize_cpf(raw) == expected


def test_the_textbook_algorithm_agrees_with_the_known_cpfs() -> None:
    assert textbook_check_digits("529982247") == "25"
    assert textbook_check_digits("111444777") == "35"
    assert textbook_check_digits("123456789") == "09"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_cpf_check_digits_match_the_textbook_algorithm(base: str) -> None:
    right = base + textbook_check_digits(base)
    same_digit = len(set(right)) == 1
    assert normalize_cpf(right) == (None if same_digit else right)
    wrong_last = right[:10] + str((int(right[10]) + 1) % 10)
    assert normalize_cpf(wrong_last) is None


EMAIL_CASES = [
    (" Ana.Silva@Example.COM ", False, "ana.silva@example.com"),
    ("ana+promo@example.com", False, "ana+promo@example.com"),
    ("ana+promo@example.com", True, "ana@example.com"),
    ("Ana+a+b@Example.com", True, "ana@example.com"),
    ("+promo@example.com", True, "+promo@example.com"),
    ("ana@example", False, None),
    ("ana example.com", False, None),
    ("ana@@example.com", False, None),
    ("@example.com", False, None),
    ("ana@example.", False, None),
    ("", False, None),
]


@pytest.mark.parametrize(("raw", "plus", "expected"), EMAIL_CASES)
def test_email_table(raw: str, plus: bool, expected: str | None) -> None:
    assert normalize_email(raw, strip_plus=plus) == expected


PHONE_CASES = [
    ("(11) 98765-4321", None, "+5511987654321"),
    ("11 98765 4321", None, "+5511987654321"),
    ("+55 (11) 98765-4321", None, "+5511987654321"),
    ("5511987654321", None, "+5511987654321"),
    ("0055 11 98765-4321", None, "+5511987654321"),
    ("011 98765-4321", None, "+5511987654321"),          # long-distance 0
    ("0 21 11 98765-4321", None, "+5511987654321"),      # 0 + carrier 21
    ("(11) 8765-4321", None, "+5511987654321"),          # old mobile: the ninth digit
    ("+55 21 7654-3210", None, "+5521976543210"),
    ("(11) 3333-4444", None, "+551133334444"),           # landline keeps 8 digits
    ("(55) 98765-4321", None, "+5555987654321"),         # area 55 is Santa Maria, RS
    ("98765-4321", "21", "+5521987654321"),              # default area code
    ("3333-4444", "21", "+552133334444"),
    ("98765-4321", None, None),                          # no area code known
    ("(01) 3333-4444", None, None),                      # no area code has a 0
    ("(11) 1333-4444", None, None),                      # no subscriber starts with 1
    ("(11) 88765-4321", None, None),                     # nine digits must start with 9
    ("+1 (415) 555-2671", None, "+14155552671"),
    ("+44 20 7946 0958", None, "+442079460958"),
    ("0044 20 7946 0958", None, "+442079460958"),
    ("+1 23", None, None),                               # too short for E.164
    ("tel 11 98765-4321", None, None),                   # letters
    ("", None, None),
]


@pytest.mark.parametrize(("raw", "area", "expected"), PHONE_CASES)
def test_phone_table(raw: str, area: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, area_code=area) == expected


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("020 7946 0958", "GB", "+442079460958"),
    ("(415) 555-2671", "US", "+14155552671"),
    ("+55 11 98765-4321", "PT", "+5511987654321"),
])
def test_a_national_number_takes_the_default_country(raw: str, country: str,
                                                      expected: str) -> None:
    assert normalize_phone(raw, country=country) == expected


_formats = st.sampled_from(["+55 {a} {s}", "({a}) {s1}-{s2}", "{a}{s}", "0{a} {s1} {s2}",
                            "55{a}{s}", "+55 ({a}) {s1}-{s2}"])


@settings(max_examples=150, deadline=None)
@given(area=st.integers(11, 99).filter(lambda a: a % 10 != 0),
       mobile=st.booleans(), rest=st.text(alphabet="0123456789", min_size=7, max_size=7),
       first=st.sampled_from("6789"), landline_first=st.sampled_from("2345"),
       pattern=_formats)
def test_brazilian_numbers_agree_with_phonenumbers(area: int, mobile: bool, rest: str,
                                                   first: str, landline_first: str,
                                                   pattern: str) -> None:
    subscriber = ("9" + first + rest) if mobile else (landline_first + rest)
    raw = pattern.format(a=area, s=subscriber, s1=subscriber[:-4], s2=subscriber[-4:])
    parsed = phonenumbers.parse(f"+55{area}{subscriber}")
    assert normalize_phone(raw) == phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.E164)
