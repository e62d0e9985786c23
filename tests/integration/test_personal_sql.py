"""The masking functions of schema pii (compiled from catalog/personal_data.yml) answer exactly as
etl.personal: a text masked differently in a mart view than in a feedback workbook would be a leak waiting
for the case nobody tried. Compared on generated texts built around real number formats, one SQL round trip
per Hypothesis example, on both servers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from etl.codes import id_check_char
from etl.personal import mask_id, mask_text

pytestmark = pytest.mark.integration

COMPARE = text("""
    SELECT pii.mask_text(t.x), pii.mask_id(t.x), pii.mask_id(t.x, :label)
      FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS t (x, i)
     ORDER BY t.i
""")
LABELS = [None, "身份证", "护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证", "其他"]


def resident(digits: str) -> str:
    return digits + id_check_char(digits)


ids = st.builds(lambda p, y, m, d, s: resident(f"{p}0523{y:04d}{m:02d}{d:02d}{s:03d}"),
                st.sampled_from(["11", "41", "44", "81", "82", "83", "99", "00"]), st.integers(1890, 2030),
                st.integers(0, 13), st.integers(0, 32), st.integers(0, 999))
old_ids = st.builds(lambda y, m, d, s: f"410523{y:02d}{m:02d}{d:02d}{s:03d}", st.integers(0, 99),
                    st.integers(0, 13), st.integers(0, 32), st.integers(0, 999))
documents = st.one_of(
    st.from_regex(r"[EeGgDdSsPpHhMm][A-Z]?[0-9]{7,10}", fullmatch=True),
    st.from_regex(r"[A-Z]{3}[0-9]{12}", fullmatch=True),
    st.builds(lambda n: resident("9" + n), st.from_regex(r"[0-9]{16}", fullmatch=True)),
    st.from_regex(r"[0-9]{8,10}", fullmatch=True),
)
number = st.one_of(ids, old_ids, documents)


def written(value: str, how: int) -> str:
    """A number as departments write it: plain, full-width, spaced, hyphenated, lower-case x."""
    if how == 1:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)
    if how == 2 and len(value) >= 15:
        return f"{value[:6]} {value[6:14]} {value[14:]}"
    if how == 3 and len(value) >= 15:
        return f"{value[:6]}-{value[6:]}"
    if how == 4:
        return value.lower()
    if how == 5 and len(value) >= 15:
        # no-break spaces, a line break, dashes and dots between the groups (a tester's finding)
        first, second = ["\u00a0", "\n", "—", ".", "  ", "\u00a0\u00a0", "\u200b", "\u2009", "/", "\u00ad"][
            len(value) % 10], "\r\n"
        return f"{value[:6]}{first}{value[6:14]}{second}{value[14:]}"
    return value


pieces = st.one_of(
    st.builds(written, number, st.integers(0, 5)),
    st.sampled_from(["身份证号", "护照", "台胞证号码：", "通行证号", "永居证", "，", "（", "）", " ", "-", "x", "X",
                     "A", "2026-03-05", "罚款2000元", "\u3000", "ｅ", "号"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
    st.from_regex(r"[0-9 -]{1,20}", fullmatch=True),
)
texts = st.lists(pieces, max_size=6).map("".join)


def both(engine: Engine, values: list[str | None], label: str | None) -> None:
    with engine.connect() as conn:
        rows = conn.execute(COMPARE, {"values": values, "label": label}).all()
    for value, (sql_text, sql_id, sql_labelled) in zip(values, rows, strict=True):
        assert sql_text == mask_text(value), f"mask_text disagrees on {value!r}"
        assert sql_id == mask_id(value), f"mask_id disagrees on {value!r}"
        assert sql_labelled == mask_id(value, label), f"mask_id({label!r}) disagrees on {value!r}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(texts, number, st.none()), min_size=1, max_size=20),
       label=st.sampled_from(LABELS))
def test_sql_masks_exactly_as_python(warehouse: Engine, values: list[str | None], label: str | None) -> None:
    both(warehouse, values, label)


def test_chosen_cases_agree(warehouse: Engine) -> None:
    person = resident("41052319900101123")
    both(warehouse, [f"身份证号{person}，护照E12345678", f"{person[:6]} {person[6:14]} {person[14:]}",
                     "台胞证号码：12345678", "USA123456789012", "", person, "E123*5678", f"1{person}",
                     f"{person[:6]}\u00a0{person[6:14]}\u00a0{person[14:]}",
                     f"{person[:6]}\n{person[6:14]}\n{person[14:]}",
                     f"{person[:6]}—{person[6:14]}—{person[14:]}", f"{person[:6]}  {person[6:14]}  {person[14:]}",
                     "".join(chr(ord(c) + 0xFEE0) for c in person), f"{person[:6]}\u200b{person[6:]}",
                     f"{person[:6]}\u2009{person[6:14]}\u00ad{person[14:]}", f"{person[:6]}/{person[6:]}",
                     "4105\u20092319\u20099001\u20090112\u200938"], "护照")


def test_the_pre_check_is_inlined(warehouse: Engine) -> None:
    """What keeps mart views fast: pii.mask_text is inlined into the query, so a text without a long digit run
    costs one regular-expression test and never calls the function that searches every pattern."""
    with warehouse.connect() as conn:
        plan = " ".join(r[0] for r in conn.execute(text(
            "EXPLAIN (VERBOSE) SELECT pii.mask_text(x) FROM (SELECT md5(random()::text) AS x) AS v")))
    assert "CASE WHEN" in plan and "mask_text_found" in plan
