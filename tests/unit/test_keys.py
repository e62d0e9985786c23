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
