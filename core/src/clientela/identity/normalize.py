"""Match keys from what a source gave: a CPF, an e-mail address, a phone number.

Each key is written once, as a SQL expression over DuckDB, because resolution normalises a
million records at a time and a per-value Python call would cost more than the whole graph.
`normalize_cpf`, `normalize_email` and `normalize_phone` evaluate the very same expressions
for one value (the CLI's `identity show`, the tests), so there is one definition of each.

A value that cannot be normalised gives NULL (None): it never matches anything.
"""

from __future__ import annotations

import threading
from functools import cache

import duckdb

CPF_LENGTH = 11


Levels = list[list[tuple[str, str]]]
"""A normaliser as successive projections: each level's columns may use the previous
levels' (DuckDB evaluates a column once per row; a correlated subquery per value would be
ten times slower at a million rows)."""


def _digit(number: str, position: int) -> str:
    """SQL: the digit at `position` (1 = leftmost) of an 11-digit number held as BIGINT."""
    return f"(({number} // {10 ** (CPF_LENGTH - position)}) % 10)"


def _check_digit(text: str, count: int) -> str:
    """The CPF check digit over the first `count` digits: weights count+1 .. 2, then
    (sum * 10 mod 11) mod 10 (a remainder of 10 is written 0)."""
    weighted = " + ".join(f"{_digit(text, i)} * {count + 2 - i}" for i in range(1, count + 1))
    return f"((({weighted}) * 10) % 11) % 10"


def cpf_levels(column: str, out: str) -> Levels:
    """`out`: the CPF's 11 digits, or NULL when it is not a valid CPF.

    Dots, hyphens, slashes and spaces are dropped; a CPF that lost its leading zero in a
    spreadsheet (10 digits) is padded back; anything else (letters, too few or too many
    digits) is invalid, as are the eleven-same-digit numbers (000.000.000-00, ...) whose check
    digits happen to pass, and any number whose two check digits do not.
    """
    raw, padded, number = f"_{out}_raw", f"_{out}_padded", f"_{out}_number"
    return [
        [(raw, f"regexp_replace(trim(CAST({column} AS VARCHAR)), '[\\s./-]+', '', 'g')")],
        [(padded, f"CASE WHEN regexp_full_match({raw}, '[0-9]{{10,11}}') "
                  f"THEN lpad({raw}, {CPF_LENGTH}, '0') END")],
        [(number, f"CAST({padded} AS BIGINT)")],
        [(out, f"CASE WHEN {padded} <> repeat(substr({padded}, 1, 1), {CPF_LENGTH}) "
               f"AND {_check_digit(number, 9)} = {_digit(number, 10)} "
               f"AND {_check_digit(number, 10)} = {_digit(number, 11)} THEN {padded} END")],
    ]


def email_levels(column: str, out: str, *, strip_plus: bool = False) -> Levels:
    """`out`: the address trimmed and case-folded, or NULL when it is not an address.

    With `strip_plus`, 'ana+promo@example.com' is 'ana@example.com' (plus-addressing:
    one mailbox under many addresses); a local part that is only '+tag' is left as it is.
    """
    folded = f"_{out}_folded"
    value = (f"regexp_replace({folded}, '^([^@+]+)\\+[^@]*@', '\\1@')" if strip_plus
             else folded)
    return [
        [(folded, f"lower(trim(CAST({column} AS VARCHAR)))")],
        [(out, f"CASE WHEN regexp_full_match({folded}, '[^@\\s]+@[^@\\s]+\\.[^@\\s.]+') "
               f"THEN {value} END")],
    ]


def _brazilian(national: str) -> str:
    """SQL over the digits after +55 (area code and subscriber): the E.164 number, with the
    ninth digit added to an eight-digit mobile (6-9 first digit); NULL when not Brazilian."""
    area = "[1-9][1-9]"
    # a landline of 8 (2-5 first) or a mobile of 9 (9 first) is kept as it is: one pattern,
    # so a typical number costs one match (the three shapes are mutually exclusive)
    return (
        f"CASE WHEN regexp_full_match({national}, '{area}([2-5][0-9]{{7}}|9[0-9]{{8}})')"
        f" THEN '+55' || {national}"
        f" WHEN regexp_full_match({national}, '{area}[6-9][0-9]{{7}}')"
        f" THEN '+55' || substr({national}, 1, 2) || '9' || substr({national}, 3)"
        " END"
    )


def phone_levels(column: str, out: str, *, calling_code: str = "55",
                 area_code: str | None = None) -> Levels:
    """`out`: the number in E.164 ('+5511987654321'), or NULL when it cannot be one.

    A number with '+' or '00' in front carries its country; any other is read in the default
    country (`calling_code`). Brazilian numbers are checked in full: a two-digit area code
    without zeros, a landline of 8 digits (2-5 first) or a mobile of 9 (9 first); an old
    8-digit mobile gets its ninth digit; the long-distance prefix (0, or 0 and a carrier code:
    '0 21 11 ...') is dropped, and a bare 8- or 9-digit number takes the default area code
    when one is configured. Other countries' numbers are kept as their digits (8 to 15, the
    E.164 limit), with a national number's leading trunk 0 dropped.
    """
    if not calling_code.isdigit():
        raise ValueError(f"calling code {calling_code!r}: expected digits such as 55")
    if area_code is not None and not area_code.isdigit():
        raise ValueError(f"area code {area_code!r}: expected digits such as 11")
    t, d, n, f = (f"_{out}_{name}" for name in ("text", "digits", "national", "full"))
    if calling_code == "55":
        trunk = (f"CASE WHEN {d} LIKE '0%' AND length({d}) IN (13, 14) THEN substr({d}, 4)"
                 f" WHEN {d} LIKE '0%' THEN substr({d}, 2) ELSE {d} END")
        local = f"'{calling_code}{area_code}' || {n}" if area_code else "NULL"
        national = (f"CASE WHEN length({n}) IN (12, 13) AND {n} LIKE '55%' THEN {n}"
                    f" WHEN length({n}) IN (10, 11) THEN '55' || {n}"
                    f" WHEN length({n}) IN (8, 9) THEN {local} END")
    else:
        trunk = f"CASE WHEN {d} LIKE '0%' THEN substr({d}, 2) ELSE {d} END"
        national = f"'{calling_code}' || {n}"
    return [
        [(t, f"trim(CAST({column} AS VARCHAR))")],
        [(d, f"regexp_replace({t}, '[^0-9]+', '', 'g')")],
        [(n, trunk)],
        [(f, f"CASE WHEN regexp_matches({t}, '[A-Za-z]') THEN NULL WHEN {t} LIKE '+%' THEN {d}"
             f" WHEN {d} LIKE '00%' THEN substr({d}, 3) ELSE {national} END")],
        [(out, f"CASE WHEN {f} LIKE '55%' THEN ({_brazilian(f'substr({f}, 3)')})"
               f" WHEN length({f}) BETWEEN 8 AND 15 AND {f} NOT LIKE '0%' THEN '+' || {f} END")],
    ]


def staged_select(relation: str, *normalisers: Levels, keep: str = "*") -> str:
    """SELECT `keep` and the normalisers' outputs from `relation`, the intermediate columns
    computed once each, level by level, and left out of the result."""
    depth = max((len(levels) for levels in normalisers), default=0)
    sql, temporary = f"SELECT * FROM {relation}", []
    outputs = [levels[-1][-1][0] for levels in normalisers]
    for level in range(depth):
        columns = [c for levels in normalisers if level < len(levels) for c in levels[level]]
        temporary += [name for name, _ in columns if name not in outputs]
        sql = f"SELECT *, {', '.join(f'{expr} AS {name}' for name, expr in columns)} FROM ({sql})"
    exclude = f" EXCLUDE ({', '.join(temporary)})" if temporary and keep == "*" else ""
    return f"SELECT {keep}{exclude} FROM ({sql})"


@cache
def calling_code_for(country: str) -> str:
    """The international calling code of an ISO 3166 country ('BR' -> '55')."""
    import phonenumbers

    code = phonenumbers.country_code_for_region(country.upper())
    if not code:
        raise ValueError(f"{country!r}: expected an ISO 3166 country code such as BR")
    return str(code)


_local = threading.local()


def _evaluate(levels: Levels, value: object) -> str | None:
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    query = staged_select("(SELECT ?::VARCHAR AS v)", levels, keep=levels[-1][-1][0])
    row = con.execute(query, [value]).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def normalize_cpf(value: str | None) -> str | None:
    """'529.982.247-25' -> '52998224725'; None when it is not a valid CPF."""
    return None if value is None else _evaluate(cpf_levels("v", "cpf_key"), value)


def normalize_email(value: str | None, *, strip_plus: bool = False) -> str | None:
    """' Ana@Example.COM ' -> 'ana@example.com'; None when it is not an address."""
    return None if value is None else _evaluate(email_levels("v", "email_key", strip_plus=strip_plus), value)


def normalize_phone(value: str | None, *, country: str = "BR",
                    area_code: str | None = None) -> str | None:
    """'(11) 8765-4321' -> '+5511987654321' (E.164); None when it cannot be a number."""
    if value is None:
        return None
    return _evaluate(phone_levels("v", "phone_key", calling_code=calling_code_for(country),
                                  area_code=area_code), value)
