"""Record identities: the staging shortcut gives exactly the uuid5 the rest of the warehouse uses."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.keys import RECORD_NAMESPACE, normalise_document_number, record_uid, record_uid_text

pytestmark = pytest.mark.unit


@given(department=st.text(min_size=1, max_size=20), record_type=st.text(min_size=1, max_size=20),
       document=st.one_of(st.none(), st.text(max_size=60)))
def test_text_form_is_the_uuid5_of_department_record_type_and_document(department, record_type, document):
    number = normalise_document_number(document)
    expected = None if number is None else uuid.uuid5(RECORD_NAMESPACE, f"{department}|{record_type}|{number}")
    assert record_uid(department, record_type, document) == expected
    assert record_uid_text(department, record_type, document) == (None if expected is None else str(expected))


def test_surrounding_blanks_do_not_change_the_identity():
    padded = record_uid_text("tax", "penalty", "\u3000税罚〔2026〕1号 ")
    assert padded == record_uid_text("tax", "penalty", "税罚〔2026〕1号")
    assert record_uid_text("tax", "penalty", " \t") is None


@pytest.mark.parametrize(("typed", "kept"), [
    ("县林罚〔２０２６〕Ｅ７０１号", "县林罚〔2026〕E701号"),  # full-width digits and letters
    ("县林罚[2026]e701号", "县林罚〔2026〕E701号"),
    ("县林罚［2026］E701号", "县林罚〔2026〕E701号"),
    ("县林罚【2026】E701号", "县林罚〔2026〕E701号"),
    ("县林罚（2026）E701号", "县林罚〔2026〕E701号"),
    ("县林罚(2026)E701号", "县林罚〔2026〕E701号"),
    ("县林罚﹝2026﹞E701号", "县林罚〔2026〕E701号"),
    ("县林罚 〔2026〕 E701 号", "县林罚〔2026〕E701号"),
    ("\u3000县林罚〔2026〕E701号\t", "县林罚〔2026〕E701号"),
    ("县林罚〔2026〕E701号\u200b", "县林罚〔2026〕E701号"),  # a zero-width space pasted from a web page
])
def test_spellings_of_one_document_number_are_one_number(typed, kept):
    assert normalise_document_number(typed) == kept
    assert record_uid_text("forestry", "penalty", typed) == record_uid_text("forestry", "penalty", kept)


def test_court_case_numbers_keep_round_brackets():
    assert normalise_document_number("〔2025〕豫0523执123号", "（）") == "（2025）豫0523执123号"
    assert normalise_document_number("第１２３号", "（）") == "第123号"  # nothing to bracket: nothing changed


def _three_steps(value: str, brackets: str) -> str | None:
    """The normalisation as written down: half-width, then upper case without spaces, then every bracket pair."""
    from etl.keys import CLOSING, FULLWIDTH, HALFWIDTH, OPENING, SPACES

    text = value.translate(str.maketrans(FULLWIDTH, HALFWIDTH))
    text = text.translate(str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", SPACES))
    text = text.translate(str.maketrans(OPENING + CLOSING, brackets[0] * len(OPENING) + brackets[1] * len(CLOSING)))
    return text or None


TYPED_ALPHABET = ("税罚县第号abcXYZ0123456789 \t\u3000\u00a0\u200b\ufeff([{【〔﹝〖)]}】〕﹞〗"
                  "（）［］｛｝ａｂｚＡＺ０９－\uff5e\uff5f")


@given(value=st.text(alphabet=TYPED_ALPHABET, max_size=40), brackets=st.sampled_from(["〔〕", "（）", "[]"]))
def test_one_translation_table_does_what_the_three_steps_do(value, brackets):
    assert normalise_document_number(value, brackets) == _three_steps(value, brackets)
