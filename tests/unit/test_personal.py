"""Identity numbers found and masked by the rules of catalog/personal_data.yml, in ID fields and in free text.

Cases are built from the document formats with their sources (docs/research/id_formats.md): resident ID
numbers of GB 11643-1999 and the 15-digit GB 11643-1989 ones, residence permits of Hong Kong, Macao and
Taiwan residents, passports, travel permits, permanent residence cards, written the ways real decisions
write them (inside Chinese sentences, full-width, spaced, next to dates and amounts).
"""

from __future__ import annotations

import logging

import pytest

from etl.codes import id_check_char
from etl.personal import MaskPersonalData, find_numbers, load_rules, mask_id, mask_json, mask_text

pytestmark = pytest.mark.unit


def resident(first17: str) -> str:
    return first17 + id_check_char(first17)


PERSON = resident("41052319900101123")  # 410523199001011238
HK_PERMIT_RESIDENT = resident("81000019850615002")  # 国办发〔2018〕81号: 810000 for Hong Kong residents
FOREIGNER_2023 = resident("91561120000115001")  # 9, and the GB 11643 check character
FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in PERSON)


@pytest.mark.parametrize(("text", "expected"), [
    (f"当事人张三，身份证号{PERSON}，于2026年3月5日", "当事人张三，身份证号4105**********1238，于2026年3月5日"),
    (f"身份证：{PERSON[:6]} {PERSON[6:14]} {PERSON[14:]}", "身份证：4105** ******** 1238"),
    (f"{PERSON[:6]}-{PERSON[6:14]}-{PERSON[14:]}", "4105**-********-1238"),
    # what a hostile tester wrote between the groups: no-break spaces, two spaces, line breaks, a dash, dots
    (f"{PERSON[:6]}\u00a0{PERSON[6:14]}\u00a0{PERSON[14:]}", "4105**\u00a0********\u00a01238"),
    (f"{PERSON[:6]}  {PERSON[6:14]}  {PERSON[14:]}", "4105**  ********  1238"),
    (f"违法事实：{PERSON[:6]}\n{PERSON[6:14]}\r\n{PERSON[14:]}", "违法事实：4105**\n********\r\n1238"),
    (f"{PERSON[:6]}—{PERSON[6:14]}—{PERSON[14:]}", "4105**—********—1238"),
    (f"{PERSON[:6]}.{PERSON[6:14]}.{PERSON[14:]}", "4105**.********.1238"),
    # a reviewer's finding: separators people do not see (zero-width space, soft hyphen), a thin space, slashes
    (f"罚款5000元。{PERSON[:6]}\u200b{PERSON[6:]}", "罚款5000元。4105**\u200b********1238"),
    (f"{PERSON[:6]}\u00ad{PERSON[6:]}", "4105**\u00ad********1238"),
    (f"{PERSON[:6]}\u2009{PERSON[6:14]}\u2009{PERSON[14:]}", "4105**\u2009********\u20091238"),
    (f"{PERSON[:6]}/{PERSON[6:14]}/{PERSON[14:]}", "4105**/********/1238"),
    # groups shorter than six digits, separated by what the short-cut test must also know
    (f"{PERSON[:4]}\u2009{PERSON[4:8]}\u2009{PERSON[8:12]}\u2009{PERSON[12:16]}\u2009{PERSON[16:]}",
     "4105\u2009****\u2009****\u2009**12\u200938"),
    (f"ID{PERSON}", "ID4105**********1238"),  # a letter before it: still a person's number
    (f"（{PERSON}）", "（4105**********1238）"),
    (FULL_WIDTH, "４１０５**********１２３８"),
    ("11010519491231002x", "1101**********002x"),  # a lower-case check character is still the number
    (f"A:{PERSON};B:{resident('11010519491231002')}", "A:4105**********1238;B:1101**********002X"),
    (f"居住证号码{HK_PERMIT_RESIDENT}", "居住证号码8100**********" + HK_PERMIT_RESIDENT[-4:]),
    ("身份证号410523900101123（旧证）", "身份证号4105********123（旧证）"),  # 15 digits: 7 of 15 shown at most
    ("护照号码E12345678，G87654321", "护照号码E******78，G******21"),
    ("护照EA1234567", "护照E******67"),  # E, a letter, 7 digits (from 2017)
    ("回乡证H12345678，旧证M1234567801", "回乡证H******78，旧证M********01"),
    ("回乡证HA1234567", "回乡证H******67"),
    ("台胞证号码：12345678", "台胞证号码：******78"),
    ("台湾居民来往大陆通行证 1234567801", "台湾居民来往大陆通行证 ********01"),
    ("永居证USA123456789012", "永居证USA**********12"),
    (f"永居证号码{FOREIGNER_2023}", "永居证号码915*************" + FOREIGNER_2023[-2:]),
])
def test_identity_numbers_in_text_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected
    assert not find_numbers(mask_text(text))  # nothing recognisable is left


@pytest.mark.parametrize("text", [
    "罚款2000元，没收违法所得3.5万元",
    "2026-03-05 处罚决定书 示罚〔2025〕73471-1号",
    "统一社会信用代码914403001922038216",  # a company's code is not personal data
    f"{PERSON[:17]}{'0' if PERSON[17] != '0' else '1'}",  # a wrong check character: not an ID number
    "41052319901301123X",  # month 13
    "电话13800138000，邮编450000",
    "12345678",  # eight digits without the permit's name: a number like any other
    f"1{PERSON}",  # part of a longer run of digits
    "",
])
def test_texts_without_identity_numbers_are_unchanged(text: str) -> None:
    assert mask_text(text) == text


def test_none_stays_none() -> None:
    assert mask_text(None) is None and mask_id(None) is None


@pytest.mark.parametrize(("value", "label", "expected"), [
    (PERSON, "身份证", "4105**********1238"),
    (PERSON, None, "4105**********1238"),
    ("E12345678", "护照", "E******78"),  # the passport of the issue: never 8 of its 9 characters
    ("E12345678", None, "E******78"),
    ("X1234567", "护照", "X*****67"),  # a foreign passport: the type's rule, whatever its shape
    ("H12345678", "港澳居民来往内地通行证", "H******78"),
    ("12345678", "台湾居民来往大陆通行证", "******78"),
    ("USA123456789012", "外国人永久居留身份证", "USA**********12"),
    ("AB12", None, "A**2"),  # unrecognised: the catch-all rule, at least half hidden
    ("X", None, "*"),
    (f" {PERSON} ", "身份证", " 4105**********1238 "),
])
def test_id_fields_are_masked_by_their_document_type(value: str, label: str | None, expected: str) -> None:
    assert mask_id(value, label) == expected


def test_at_least_half_of_every_number_is_hidden_whatever_the_rule_says(tmp_path) -> None:
    rules = load_rules()
    generous = rules.model_copy(update={"unrecognised": rules.unrecognised.model_copy(
        update={"keep_head": 9, "keep_tail": 9})})
    assert mask_id("ABCDEFGHIJ", None, generous) == "ABCDE*****"
    for value in ("E12345678", PERSON, "USA123456789012", "1234"):
        masked = mask_id(value, None)
        assert masked.count("*") * 2 >= len(value), value


def test_documents_and_logs_are_masked() -> None:
    document = {"CF_SY": f"身份证号{PERSON}", "rows": [{PERSON: "x"}], "n": 1}
    assert mask_json(document) == {"CF_SY": "身份证号4105**********1238", "rows": [{"4105**********1238": "x"}],
                                   "n": 1}
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "row %s: %s", ("7", PERSON), None)
    MaskPersonalData().filter(record)
    assert record.getMessage() == "row 7: 4105**********1238"
    try:
        raise ValueError(f"duplicate key ({PERSON})")
    except ValueError:
        import sys

        failed = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    MaskPersonalData().filter(failed)
    assert PERSON not in failed.exc_text and "4105**********1238" in failed.exc_text
