"""Unit tests of etl.codes: real codes pass, every typo a check character is designed to catch fails."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.codes import (
    ID_PROVINCES,
    USCC_ALPHABET,
    WHITESPACE,
    _today_in_china,
    classify_code,
    id_check_char,
    is_valid_id_number,
    is_valid_uscc,
    normalize_code,
    org_code_check_char,
    uscc_check_char,
)

pytestmark = pytest.mark.unit

AS_OF = datetime.date(2024, 6, 30)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PROVINCES = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
    "61", "62", "63", "64", "65", "71", "81", "82", "83",
]  # fmt: skip

# Real Unified Social Credit Codes (Shenzhen enterprises).
REAL_USCCS = ["914403001922038216", "91440300708461136T"]


def make_id(body17: str) -> str:
    return body17 + id_check_char(body17)


def make_uscc(first8: str, org_body: str) -> str:
    first17 = first8 + org_body + org_code_check_char(org_body)
    return first17 + uscc_check_char(first17)


# The example of GB 11643-1999 itself, plus numbers completed with our own check character.
VALID_IDS = [
    "11010519491231002X",
    make_id("41052319900101123"),
    make_id("44030420000229001"),  # leap day
    make_id("65010119000101000"),  # earliest accepted birth date
    make_id("83000020240630999"),  # born on AS_OF
]
SYNTHETIC_USCCS = [make_uscc("12100000", "MB0A2J4X"), make_uscc("Y1330100", "00000000")]
VALID_USCCS = REAL_USCCS + SYNTHETIC_USCCS

# Characters to substitute: the whole USCC alphabet plus look-alikes and things typed by mistake.
SUBSTITUTES = USCC_ALPHABET + "IOSVZxt -*" + "\u3000０Ｘ"


# --- USCC ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REAL_USCCS)
def test_real_uscc_examples_pass(code: str) -> None:
    assert is_valid_uscc(code)


@pytest.mark.parametrize("code", REAL_USCCS)
def test_real_uscc_examples_carry_a_valid_organisation_code(code: str) -> None:
    assert org_code_check_char(code[8:16]) == code[16]
    assert uscc_check_char(code[:17]) == code[17]


def test_uscc_with_wrong_organisation_check_fails_even_with_recomputed_final_char() -> None:
    code = REAL_USCCS[0]
    for wrong in "0123456789X":
        if wrong == code[16]:
            continue
        first17 = code[:16] + wrong
        forged = first17 + uscc_check_char(first17)
        assert not is_valid_uscc(forged), forged


@pytest.mark.parametrize("authority", list("0BCDEFGHJKLMPQRTUWX"))
def test_uscc_unknown_registration_authority_fails(authority: str) -> None:
    first17 = authority + REAL_USCCS[0][1:17]
    assert not is_valid_uscc(first17 + uscc_check_char(first17))


@pytest.mark.parametrize("authority", list("123456789ANY"))
def test_uscc_every_registration_authority_is_accepted(authority: str) -> None:
    first17 = authority + REAL_USCCS[0][1:17]
    assert is_valid_uscc(first17 + uscc_check_char(first17))


def test_uscc_letter_in_division_code_fails() -> None:
    first17 = "9144A300" + REAL_USCCS[0][8:17]
    assert not is_valid_uscc(first17 + uscc_check_char(first17))


@pytest.mark.parametrize("code", VALID_USCCS)
def test_uscc_every_single_substitution_fails(code: str) -> None:
    assert is_valid_uscc(code)
    for i, original in enumerate(code):
        for c in SUBSTITUTES:
            if c != original:
                mutated = code[:i] + c + code[i + 1 :]
                assert not is_valid_uscc(mutated), mutated


@pytest.mark.parametrize("code", VALID_USCCS)
def test_uscc_adjacent_transposition_fails(code: str) -> None:
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert not is_valid_uscc(swapped), swapped


@pytest.mark.parametrize("code", [REAL_USCCS[0][:17], REAL_USCCS[0] + "0", REAL_USCCS[1][1:], ""])
def test_uscc_wrong_length_fails(code: str) -> None:
    assert not is_valid_uscc(code)


def test_uscc_is_strict_about_case_and_width() -> None:
    assert not is_valid_uscc("91440300708461136t")
    assert not is_valid_uscc("９１４４０３００１９２２０３８２１６")
    assert not is_valid_uscc(" 914403001922038216")


@pytest.mark.parametrize("value", [None, 914403001922038216, b"914403001922038216", ["9"], 1.5])
def test_non_strings_are_invalid_not_errors(value: object) -> None:
    assert is_valid_uscc(value) is False  # type: ignore[arg-type]
    assert is_valid_id_number(value) is False  # type: ignore[arg-type]
    assert classify_code(value) == "unknown"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("func", "bad"),
    [
        (uscc_check_char, "9144030019220382"),  # 16 chars
        (uscc_check_char, "914403001922038216"),  # 18 chars
        (uscc_check_char, "9144030019220382i"),  # lower case
        (uscc_check_char, "9144030019220382O"),  # letter O is not in the alphabet
        (org_code_check_char, "1922038"),
        (org_code_check_char, "1922038a"),
        (org_code_check_char, "1922038-"),
        (id_check_char, "4105231990010112"),
        (id_check_char, "4105231990010112X"),
        (id_check_char, "4105231990010112３"),
        (id_check_char, None),
    ],
)
def test_check_char_helpers_reject_bad_input(func, bad) -> None:
    with pytest.raises(ValueError):
        func(bad)


def test_org_code_check_char_maps_10_to_x_and_11_to_0() -> None:
    results = {org_code_check_char(f"{n:08d}") for n in range(0, 2000)}
    assert "X" in results and "0" in results
    assert results <= set("0123456789X")


# --- identity numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", VALID_IDS)
def test_valid_id_numbers_pass(code: str) -> None:
    assert is_valid_id_number(code, as_of=AS_OF)


def test_standard_example_has_x_check_character() -> None:
    assert id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("code", VALID_IDS)
def test_id_every_single_substitution_fails(code: str) -> None:
    for i, original in enumerate(code):
        for c in "0123456789Xx ０":
            if c != original:
                mutated = code[:i] + c + code[i + 1 :]
                assert not is_valid_id_number(mutated, as_of=AS_OF), mutated


@pytest.mark.parametrize("code", VALID_IDS)
def test_id_adjacent_transposition_fails(code: str) -> None:
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert not is_valid_id_number(swapped, as_of=AS_OF), swapped


@pytest.mark.parametrize(
    "birth",
    [
        "20230230",  # no 30 February
        "20230229",  # 2023 is no leap year
        "19000229",  # 1900 is no leap year (century rule)
        "20230431",  # April has 30 days
        "20231300",
        "20230001",
        "20230100",
        "20230132",
        "18991231",  # before 1900
        "00000000",
    ],
)
def test_id_impossible_birth_dates_fail(birth: str) -> None:
    code = make_id("410523" + birth + "123")
    assert not is_valid_id_number(code, as_of=AS_OF)


def test_id_leap_day_of_2000_passes() -> None:
    assert is_valid_id_number(make_id("41052320000229123"), as_of=AS_OF)


def test_id_birth_date_after_as_of_fails() -> None:
    on_the_day = make_id("410523" + AS_OF.strftime("%Y%m%d") + "123")
    next_day = make_id("410523" + (AS_OF + datetime.timedelta(days=1)).strftime("%Y%m%d") + "123")
    assert is_valid_id_number(on_the_day, as_of=AS_OF)
    assert not is_valid_id_number(next_day, as_of=AS_OF)
    assert not is_valid_id_number(make_id("41052399991231123"), as_of=AS_OF)


def test_id_as_of_defaults_to_today_in_china() -> None:
    today = _today_in_china()
    tomorrow = today + datetime.timedelta(days=1)
    assert is_valid_id_number(make_id("410523" + today.strftime("%Y%m%d") + "123"))
    assert not is_valid_id_number(make_id("410523" + tomorrow.strftime("%Y%m%d") + "123"))


def test_id_as_of_may_be_a_datetime() -> None:
    code = make_id("410523" + AS_OF.strftime("%Y%m%d") + "123")
    assert is_valid_id_number(code, as_of=datetime.datetime(2024, 6, 30, 23, 59))
    assert not is_valid_id_number(code, as_of=datetime.datetime(2024, 6, 29, 23, 59))


def test_province_set_is_the_documented_one() -> None:
    assert set(PROVINCES) == ID_PROVINCES and len(PROVINCES) == 35


@pytest.mark.parametrize("province", ["00", "10", "16", "20", "47", "55", "66", "70", "80", "84", "91", "99"])
def test_id_unknown_province_fails(province: str) -> None:
    assert not is_valid_id_number(make_id(province + "0523199001011234"[:15]), as_of=AS_OF)


def test_id_wrong_length_fails() -> None:
    code = VALID_IDS[1]
    assert not is_valid_id_number(code[:17], as_of=AS_OF)
    assert not is_valid_id_number(code + "0", as_of=AS_OF)
    assert not is_valid_id_number("0" + code, as_of=AS_OF)
    # a 15-digit first-generation number is not accepted either
    assert not is_valid_id_number("410523900101123", as_of=AS_OF)


def test_id_is_strict_about_lower_case_x_and_width() -> None:
    assert not is_valid_id_number("11010519491231002x", as_of=AS_OF)
    assert not is_valid_id_number("１１０１０５１９４９１２３１００２Ｘ", as_of=AS_OF)
    assert is_valid_id_number(normalize_code("１１０１０５１９４９１２３１００２ｘ"), as_of=AS_OF)


def test_id_non_ascii_digits_fail() -> None:
    arabic_indic = "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X"  # str.isdigit() would accept these
    assert not is_valid_id_number(arabic_indic, as_of=AS_OF)


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("９１４４０３００１９２２０３８２１６", "914403001922038216"),
        ("91440300708461136t", "91440300708461136T"),
        ("\u3000914403001922038216\u3000", "914403001922038216"),
        (" \t\n\r\x0b\x0c\xa0９１４４０３００７０８４６１１３６ｔ\u3000 ", "91440300708461136T"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("", ""),
        ("\u3000 \t", ""),
    ],
)
def test_normalize_code(raw: str, expected: str) -> None:
    assert normalize_code(raw) == expected


def test_normalize_code_none_stays_none() -> None:
    assert normalize_code(None) is None


def test_normalize_code_fixes_nothing_else() -> None:
    assert normalize_code("9144 0300-1922") == "9144 0300-1922"  # inner spaces and dashes stay
    assert normalize_code("O1Z") == "O1Z"  # no look-alike repair
    assert normalize_code("\u2003abc\ufeff") == "\u2003ABC\ufeff"  # other spaces are not whitespace here
    assert normalize_code("ßéıﬀ") == "ßéıﬀ"  # non-ASCII untouched (str.upper() would give 'SSÉIFF')
    assert normalize_code("！～") == "!~"  # the ends of the full-width block
    assert normalize_code("\uff00\uff5f") == "\uff00\uff5f"  # just outside it


def test_normalize_code_is_idempotent_on_examples() -> None:
    for raw in ["９１４４ｔ", "\u3000\u3000a\u3000", "\xa0\u3000\xa0x"]:
        once = normalize_code(raw)
        assert normalize_code(once) == once


def test_whitespace_set_is_the_documented_one() -> None:
    assert WHITESPACE == " \t\n\r\x0b\x0c\xa0"


# --- masking ---------------------------------------------------------------------------------------


# --- classification --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("914403001922038216", "uscc"),
        ("\u3000９１４４０３００７０８４６１１３６ｔ ", "uscc"),
        ("11010519491231002x", "id_number"),
        (VALID_IDS[1], "id_number"),
        ("914403001922038217", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_classify_code(raw: str | None, kind: str) -> None:
    assert classify_code(raw) == kind


def test_classify_prefers_id_number_when_a_code_is_both() -> None:
    both = next(code for code in (make_id(f"11010519800101{n:03d}") for n in range(1000)) if is_valid_uscc(code))
    assert is_valid_id_number(both)
    assert classify_code(both) == "id_number"


# --- generated codes -------------------------------------------------------------------------------

uscc_bodies = st.tuples(
    st.sampled_from("123456789ANY"),
    st.sampled_from(USCC_ALPHABET),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=8, max_size=8),
)
id_bodies = st.tuples(
    st.sampled_from(PROVINCES),
    st.text("0123456789", min_size=4, max_size=4),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=AS_OF),
    st.text("0123456789", min_size=3, max_size=3),
)


@given(uscc_bodies, st.data())
def test_generated_usccs_pass_and_substitutions_fail(body: tuple[str, str, str, str], data: st.DataObject) -> None:
    authority, category, division, org_body = body
    code = make_uscc(authority + category + division, org_body)
    assert is_valid_uscc(code)
    assert classify_code(code.lower()) in {"uscc", "id_number"}
    i = data.draw(st.integers(0, 17), label="position")
    c = data.draw(st.sampled_from(SUBSTITUTES).filter(lambda c: c != code[i]), label="substitute")
    assert not is_valid_uscc(code[:i] + c + code[i + 1 :])


@given(id_bodies, st.data())
def test_generated_id_numbers_pass_and_substitutions_fail(
    body: tuple[str, str, datetime.date, str], data: st.DataObject
) -> None:
    province, district, birth, seq = body
    code = make_id(province + district + birth.strftime("%Y%m%d") + seq)
    assert is_valid_id_number(code, as_of=AS_OF)
    assert classify_code(code) == "id_number"
    i = data.draw(st.integers(0, 17), label="position")
    c = data.draw(st.sampled_from("0123456789X").filter(lambda c: c != code[i]), label="substitute")
    assert not is_valid_id_number(code[:i] + c + code[i + 1 :], as_of=AS_OF)


USCC_WEIGHTS_WITH_CHECK = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28, 1)


@given(st.text(USCC_ALPHABET, min_size=17, max_size=17))
def test_uscc_check_char_completes_any_body(first17: str) -> None:
    # the final check holds for any body; full validity also needs authority, division and org check
    code = first17 + uscc_check_char(first17)
    total = sum(w * USCC_ALPHABET.index(c) for w, c in zip(USCC_WEIGHTS_WITH_CHECK, code, strict=True))
    assert total % 31 == 0


@given(st.text("0123456789", min_size=17, max_size=17))
def test_id_check_char_completes_any_body(first17: str) -> None:
    # Σ weight × digit + check value ≡ 1 (mod 11), with X standing for 10
    check = id_check_char(first17)
    total = sum(w * int(c) for w, c in zip(ID_WEIGHTS, first17, strict=True))
    assert (total + (10 if check == "X" else int(check))) % 11 == 1
