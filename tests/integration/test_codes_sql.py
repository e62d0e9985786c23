"""The SQL twins in warehouse_sql/002_code_functions.sql must answer exactly like etl.codes.

A code judged valid while loading (Python) and invalid in the warehouse (SQL), or masked differently in
a mart, would be a silent inconsistency, so the two are compared on random text and on valid codes
with typical typos applied. Values are checked in batches, one SQL round trip per Hypothesis example.
"""

from __future__ import annotations

import datetime
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from etl.codes import (
    USCC_ALPHABET,
    WHITESPACE,
    _today_in_china,
    id_check_char,
    is_valid_id_number,
    is_valid_uscc,
    normalize_code,
    org_code_check_char,
    uscc_check_char,
)
from etl.config import SQL_DIR
from etl.personal import mask_id

pytestmark = pytest.mark.integration

MIGRATION = SQL_DIR / "002_code_functions.sql"

COMPARE = text(
    """
    SELECT dw.normalize_code(t.x),
           dw.is_valid_uscc(t.x),
           dw.is_valid_id_number(t.x, :as_of),
           pii.mask_id(t.x),
           dw.is_valid_uscc(dw.normalize_code(t.x)),
           dw.is_valid_id_number(dw.normalize_code(t.x), :as_of)
    FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS t(x, i)
    ORDER BY t.i
    """
)


def python_answers(value: str | None, as_of: datetime.date) -> tuple[object, ...]:
    normalized = normalize_code(value)
    return (
        normalized,
        is_valid_uscc(value),  # type: ignore[arg-type]
        is_valid_id_number(value, as_of),  # type: ignore[arg-type]
        mask_id(value),
        is_valid_uscc(normalized),  # type: ignore[arg-type]
        is_valid_id_number(normalized, as_of),  # type: ignore[arg-type]
    )


def sql_answers(engine: Engine, values: list[str | None], as_of: datetime.date) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(COMPARE, {"values": values, "as_of": as_of})]


def assert_agree(engine: Engine, values: list[str | None], as_of: datetime.date) -> None:
    got = sql_answers(engine, values, as_of)
    assert len(got) == len(values)
    for value, sql_row in zip(values, got, strict=True):
        assert sql_row == python_answers(value, as_of), f"disagreement on {value!r} (as_of {as_of})"


# --- strategies ------------------------------------------------------------------------------------

PROVINCES = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
    "61", "62", "63", "64", "65", "71", "81", "82", "83",
]  # fmt: skip
NOT_PROVINCES = ["00", "10", "16", "47", "66", "70", "84", "99"]

# Fixed reference dates passed to both sides: a leap day, a century, the first accepted birth day ...
AS_OF_DATES = [
    datetime.date(2024, 2, 29),
    datetime.date(2000, 1, 1),
    datetime.date(1900, 1, 1),
    datetime.date(1999, 12, 31),
    datetime.date(2031, 7, 15),
    datetime.date(2000, 3, 1),  # so that birth dates "near as_of" include 2000-02-29
    datetime.date(1900, 3, 1),
]

FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}
EDGE_SPACES = WHITESPACE + "\u3000\u2003\u200b\ufeff\u2028\x85"  # the last five are not stripped
INTERESTING = (
    USCC_ALPHABET
    + "IOSVZ"
    + string.ascii_lowercase
    + "".join(FULLWIDTH.values())
    + EDGE_SPACES
    + "\uff00\uff5f"  # just outside the full-width block
    + "%'\\:_-*?"
    + "ßıéﬀΣǅ٣²"  # case and digit oddities that str.upper()/isdigit() would treat differently
)

interesting_chars = st.sampled_from(INTERESTING)
any_chars = st.one_of(
    interesting_chars,
    interesting_chars,
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
)

random_strings = st.one_of(
    st.text(any_chars, max_size=24),
    st.text(st.sampled_from(USCC_ALPHABET), min_size=17, max_size=19),
    st.text(st.sampled_from("0123456789X"), min_size=17, max_size=19),
)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    """A code with correct check characters, usually (not always) valid in every other respect."""
    authority = draw(st.sampled_from("123456789ANY" if draw(st.integers(0, 9)) else "0BCXZa"))
    category = draw(st.sampled_from(USCC_ALPHABET))
    division_chars = "0123456789" if draw(st.integers(0, 9)) else USCC_ALPHABET
    division = draw(st.text(st.sampled_from(division_chars), min_size=6, max_size=6))
    org_body = draw(st.text(st.sampled_from(USCC_ALPHABET), min_size=8, max_size=8))
    first17 = authority + category + division + org_body + org_code_check_char(org_body)
    if first17[0] not in USCC_ALPHABET:
        return first17 + "0"
    return first17 + uscc_check_char(first17)


# leap days (2000 yes, 1900 and 2100 no), month ends, and months or days out of range
EDGE_MONTH_DAYS = st.sampled_from(
    [(2, 28), (2, 29), (2, 30), (3, 1), (4, 30), (4, 31), (12, 31), (1, 1), (0, 1), (13, 1), (1, 0), (1, 32)]
)


@st.composite
def birth_dates(draw: st.DrawFn, as_of: datetime.date) -> str:
    """YYYYMMDD: real dates near as_of or anywhere, and impossible ones (30 February, month 13 ...)."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        day = as_of + datetime.timedelta(days=draw(st.integers(-2, 2)))
        return day.strftime("%Y%m%d")
    if kind == 1:
        day = draw(st.dates(min_value=datetime.date(1890, 1, 1), max_value=datetime.date(2100, 12, 31)))
        return day.strftime("%Y%m%d")
    if kind == 2:
        day = draw(st.dates(min_value=datetime.date(1900, 1, 1), max_value=as_of))
        return day.strftime("%Y%m%d")
    if kind == 3:
        year = draw(st.sampled_from([1899, 1900, 1904, 1999, 2000, 2023, 2024, 2100, 9999, 0]))
        any_month_day = st.tuples(st.integers(0, 99), st.integers(0, 99))
        month, day = draw(st.one_of(EDGE_MONTH_DAYS, EDGE_MONTH_DAYS, any_month_day))
        return f"{year:04d}{month:02d}{day:02d}"
    return draw(st.text(st.sampled_from("0123456789"), min_size=8, max_size=8))


@st.composite
def id_numbers(draw: st.DrawFn, as_of: datetime.date) -> str:
    """An identity number with the right check character, usually with a real province and date."""
    province = draw(st.sampled_from(PROVINCES if draw(st.integers(0, 9)) else NOT_PROVINCES))
    district = draw(st.text(st.sampled_from("0123456789"), min_size=4, max_size=4))
    seq = draw(st.text(st.sampled_from("0123456789"), min_size=3, max_size=3))
    first17 = province + district + draw(birth_dates(as_of)) + seq
    return first17 + id_check_char(first17)


@st.composite
def mutated(draw: st.DrawFn, codes: st.SearchStrategy[str]) -> str:
    """A code with 0-3 typical accidents: typo, swap, extra or missing char, case, width, padding."""
    s = draw(codes)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["substitute", "swap", "insert", "delete", "lower", "fullwidth", "pad"]))
        if kind == "substitute" and s:
            i = draw(st.integers(0, len(s) - 1))
            s = s[:i] + draw(any_chars) + s[i + 1 :]
        elif kind == "swap" and len(s) >= 2:
            i = draw(st.integers(0, len(s) - 2))
            s = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
        elif kind == "insert":
            i = draw(st.integers(0, len(s)))
            s = s[:i] + draw(any_chars) + s[i:]
        elif kind == "delete" and s:
            i = draw(st.integers(0, len(s) - 1))
            s = s[:i] + s[i + 1 :]
        elif kind == "lower":
            s = s.lower() if draw(st.booleans()) else s[:-1] + s[-1:].lower()
        elif kind == "fullwidth":
            if draw(st.booleans()):
                s = "".join(FULLWIDTH.get(c, c) for c in s)
            elif s:
                i = draw(st.integers(0, len(s) - 1))
                s = s[:i] + FULLWIDTH.get(s[i], s[i]) + s[i + 1 :]
        elif kind == "pad":
            pad = st.text(st.sampled_from(EDGE_SPACES), min_size=1, max_size=3)
            s = draw(pad) + s + draw(pad) if draw(st.booleans()) else draw(pad) + s
    return s


@st.composite
def batches(draw: st.DrawFn) -> tuple[datetime.date, list[str | None]]:
    as_of = draw(st.sampled_from(AS_OF_DATES))
    value = st.one_of(
        random_strings,
        mutated(usccs()),
        mutated(id_numbers(as_of)),
        mutated(id_numbers(as_of)),  # twice: identity numbers have more rules to get wrong
        st.sampled_from(["914403001922038216", "91440300708461136T"]).flatmap(lambda c: mutated(st.just(c))),
        st.none(),
    )
    return as_of, draw(st.lists(value, min_size=10, max_size=60))


# --- tests -----------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches())
def test_python_and_sql_agree_on_random_and_mutated_codes(
    warehouse: Engine, batch: tuple[datetime.date, list[str | None]]
) -> None:
    as_of, values = batch
    assert_agree(warehouse, values, as_of)


def make_id(first17: str) -> str:
    return first17 + id_check_char(first17)


KNOWN = [
    "914403001922038216",
    "91440300708461136T",
    "91440300708461136t",
    "\u3000９１４４０３００１９２２０３８２１６\u3000",
    "914403001922038217",
    "11010519491231002X",
    "11010519491231002x",
    "410523202302301234",  # 30 February: false, not an error
    make_id("410523" + "20230230" + "123"),
    make_id("410523" + "19000229" + "123"),
    make_id("410523" + "20000229" + "123"),
    make_id("410523" + "20240301" + "123"),  # the day after AS_OF_DATES[0]
    "12345678",
    "123456789",
    "",
    None,
    *(make_id(p + "0101" + "19800229" + "001") for p in PROVINCES + NOT_PROVINCES),
]


def test_known_values_agree(warehouse: Engine) -> None:
    for as_of in AS_OF_DATES:
        assert_agree(warehouse, KNOWN, as_of)


def test_known_values_have_the_expected_answers(warehouse: Engine) -> None:
    rows = sql_answers(warehouse, KNOWN, datetime.date(2024, 2, 29))
    assert rows[0][1] is True and rows[1][1] is True  # real codes
    assert rows[2][1] is False and rows[2][4] is True  # lower-case t: only after normalisation
    assert rows[3][0] == "914403001922038216"
    assert rows[5][2] is True and rows[6][2] is False and rows[6][5] is True
    assert rows[7][2] is False and rows[8][2] is False and rows[9][2] is False
    assert rows[10][2] is True and rows[11][2] is False
    assert rows[15] == (None, False, False, None, False, False)
    by_province = [row[2] for row in rows[16:]]
    assert by_province == [True] * len(PROVINCES) + [False] * len(NOT_PROVINCES)


def test_null_and_default_as_of_mean_today_in_china(warehouse: Engine) -> None:
    before = _today_in_china()
    codes = []
    for delta in (-1, 0, 1):
        body = "410523" + (before + datetime.timedelta(days=delta)).strftime("%Y%m%d") + "123"
        codes.append(body + id_check_char(body))
    with warehouse.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT dw.is_valid_id_number(x), dw.is_valid_id_number(x, NULL) "
                "FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS t(x, i) ORDER BY i"
            ),
            {"codes": codes},
        ).all()
    if _today_in_china() != before:
        pytest.skip("the date in China changed during the test")
    expected = [is_valid_id_number(code) for code in codes]
    assert expected == [True, True, False]
    assert [row[0] for row in rows] == expected
    assert [row[1] for row in rows] == expected


def test_function_properties(warehouse: Engine) -> None:
    with warehouse.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT p.proname, p.provolatile, p.proparallel, obj_description(p.oid, 'pg_proc')
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'dw'
                  AND p.proname IN ('normalize_code', 'is_valid_uscc', 'is_valid_id_number')
                """
            )
        ).all()
    props = {name: (volatility, parallel) for name, volatility, parallel, _ in rows}
    assert props == {
        "normalize_code": ("i", "s"),
        "is_valid_uscc": ("i", "s"),
        "is_valid_id_number": ("s", "s"),
    }
    for name, _, _, comment in rows:
        chinese, _, english = (comment or "").partition("/ ")
        assert any("\u4e00" <= c <= "\u9fff" for c in chinese) and english.isascii(), name


def test_migration_has_no_percent_sign() -> None:
    # the migration runner may pass the file through a DB-API driver that treats % as a placeholder
    assert "%" not in MIGRATION.read_text(encoding="utf-8")
