"""Records shaped as real departments and platforms send them, built from the public samples and code lists
cited in etl/catalog/code_tables.yml and docs/research/shuanggongshi.md, loaded through the real pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.catalog import catalog
from etl.extract.base import ExtractedSource
from etl.ingest import BatchOutcome, process_batch
from etl.land import land
from etl.publicity.outbox import payloads as outbox_payloads
from tests.corpus.build import (
    PENALTY_CODES,
    PERSON_CODES,
    csv_bytes,
    firm_code,
    licence,
    penalty,
    person_id,
    person_penalty,
    table,
)

pytestmark = pytest.mark.integration

LICENCE_CODES = ["XK_XDR_MC", "XK_XDR_LB", "XK_XDR_SHXYM", "XK_FRDB", "XK_XKWS", "XK_WSH", "XK_XKLB", "XK_NR",
                 "XK_JDRQ", "XK_YXQZ", "XK_YXQZI", "XK_XKJG", "XK_XKJGDM", "XK_ZT", "XK_LYDW", "XK_LYDWDM"]


def load(warehouse, department: str, feed_code: str, path: Path) -> BatchOutcome:
    cat = catalog()
    dept = cat.department_by_code[department]
    feed = cat.find_feed(department, feed_code)
    source = ExtractedSource(source_name=path.name, path=path, format="csv", encoding=None, watermark_kind="file",
                             watermark_to=path.name)
    outcome = process_batch(warehouse, cat, land(warehouse, dept, feed, source))
    if outcome.status == "loaded":
        assert outcome.rows_in == outcome.rows_loaded + outcome.rows_unchanged + outcome.rows_quarantined
    return outcome


def facts(warehouse, batch_id: int, *fields: str) -> dict[int, tuple]:
    """source row -> (fact status, the fields' stored values)."""
    with warehouse.connect() as conn:
        rows = conn.execute(sa.text("SELECT source_row_no, status, attributes FROM dw.fact_credit_record "
                                    "WHERE batch_id = :b ORDER BY 1"), {"b": batch_id})
        return {r.source_row_no: (r.status, *(r.attributes.get(f) for f in fields)) for r in rows}


def quarantine(warehouse, batch_id: int) -> list[tuple]:
    with warehouse.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT row_no, field, rule, message_zh, message_en FROM audit.quarantine WHERE batch_id = :b "
            "ORDER BY row_no, field"), {"b": batch_id})]


def test_coded_values_are_stored_as_their_canonical_labels(warehouse, tmp_path):
    name = "codes_penalty.csv"
    codes = [*PERSON_CODES, "CF_ZT"]
    rows = [
        # 行政相对人类别 02 = 法人 (a department system's 01–04); old 第八条 label split on 、
        penalty("health", name, 1, CF_XDR_LB="02", CF_CFLB="罚款、没收违法所得、没收非法财物"),
        # 自然人 as 01, 证件类型 as GA/T 517 code 111
        person_penalty("health", name, 2, CF_XDR_LB="01", CF_XDR_ZJLX="111"),
        # full-width code, 个体工商户 with a 92 code
        penalty("health", name, 3, CF_XDR_LB="０４", CF_XDR_SHXYM=firm_code(903, category="2")),
        # 证件类型 "其他-<name>", as the 2.0 fill-in note allows
        person_penalty("health", name, 4, CF_XDR_ZJLX="其他-军官证", CF_XDR_ZJHM="军字第2019001号"),
        # 1996 第八条 spelling of one document: 吊销执照 is 吊销许可证件; old status code 1 = 撤销
        penalty("health", name, 5, CF_CFLB="罚款;吊销执照", CF_ZT="1"),
        # two-digit 证件类型 of the same department system
        person_penalty("health", name, 6, CF_XDR_ZJLX="02", CF_XDR_ZJHM="E12345678"),
    ]
    path = tmp_path / name
    path.write_bytes(csv_bytes(table("health", "penalty", rows, codes)))
    outcome = load(warehouse, "health", "penalty", path)
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 6, 0)
    assert facts(warehouse, outcome.batch_id, "CF_XDR_LB", "CF_XDR_ZJLX", "CF_CFLB", "CF_ZT") == {
        1: ("active", "法人及非法人组织", None, "罚款;没收违法所得;没收非法财物", None),
        2: ("active", "自然人", "身份证", "罚款;没收违法所得", None),
        3: ("active", "个体工商户", None, "罚款;没收违法所得", None),
        4: ("active", "自然人", "其他-军官证", "罚款;没收违法所得", None),
        5: ("revoked", "法人及非法人组织", None, "罚款;吊销许可证件", "撤销"),
        6: ("active", "自然人", "护照", "罚款;没收违法所得", None),
    }
    # the raw value stays in the landed bytes
    with warehouse.connect() as conn:
        landed_path = conn.scalar(sa.text("SELECT landed_path FROM audit.batch WHERE batch_id = :b"),
                                  {"b": outcome.batch_id})
    landed = Path(landed_path).read_bytes().decode("utf-8")
    assert ",０４," in landed and ",111," in landed


def test_unknown_codes_and_ambiguous_old_labels_are_quarantined_with_a_reason(warehouse, tmp_path):
    name = "codes_bad.csv"
    rows = [
        penalty("health", name, 1),
        penalty("health", name, 2, CF_XDR_LB="05"),
        person_penalty("health", name, 3, CF_XDR_ZJLX="554"),  # 外国人居留证 (not 永久居留身份证): no mapping
        penalty("health", name, 4, CF_CFLB="暂扣或者吊销许可证、暂扣或者吊销执照"),
        penalty("health", name, 5, CF_CFLB="罚款;暂扣或者吊销执照"),
        person_penalty("health", name, 6, CF_XDR_ZJLX="其他-"),  # the prefix without a document name
    ]
    path = tmp_path / name
    path.write_bytes(csv_bytes(table("health", "penalty", rows, PERSON_CODES)))
    outcome = load(warehouse, "health", "penalty", path)
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 5)
    found = quarantine(warehouse, outcome.batch_id)
    assert [(row, field, rule) for row, field, rule, *_ in found] == [
        (2, "CF_XDR_LB", "allowed_values"), (3, "CF_XDR_ZJLX", "allowed_values"),
        (4, "CF_CFLB", "ambiguous_code"), (5, "CF_CFLB", "ambiguous_code"), (6, "CF_XDR_ZJLX", "allowed_values")]
    by_row = {row: (zh, en) for row, _, _, zh, en in found}
    assert by_row[2] == ("字段“行政相对人类别”（CF_XDR_LB）的值不在允许范围内："
                         "05（代码表 subject_category 未收录此值）",
                         "Field CF_XDR_LB (Subject category) has a value outside the allowed list: 05 "
                         "(not in code table subject_category)")
    assert "554（代码表 id_type 未收录此值）" in by_row[3][0]
    zh, en = by_row[4]
    assert zh.startswith("字段“处罚类别”（CF_CFLB）的值有歧义，不能推断：暂扣或者吊销许可证（代码表 penalty_type）：")
    assert "请写明是暂扣还是吊销" in zh
    assert "joins suspension and revocation" in en and en.startswith("Field CF_CFLB")
    assert "暂扣或者吊销执照" in by_row[5][0]


def test_a_feed_reads_its_own_old_format_numbering(warehouse, tmp_path):
    """The housing bureau's front database sends old-format codes: 处罚类别1 (0 警告 … 6 其他) and 当前状态 0/1,
    where "1" means 撤销 — the opposite of the 2019 platform records, in which a valid licence carries 1."""
    name = "old_format.csv"
    rows = [penalty("housing", name, 1, CF_CFLB="1"), penalty("housing", name, 2, CF_CFLB="1;2"),
            penalty("housing", name, 3, CF_CFLB="4"), penalty("housing", name, 4, CF_CFLB="罚款")]
    path = tmp_path / name
    path.write_bytes(csv_bytes(table("housing", "penalty", rows, PENALTY_CODES)))
    outcome = load(warehouse, "housing", "penalty", path)
    assert facts(warehouse, outcome.batch_id, "CF_CFLB") == {
        1: ("active", "罚款"), 2: ("active", "罚款;没收违法所得;没收非法财物"), 4: ("active", "罚款")}
    [(row, field, rule, zh, _)] = quarantine(warehouse, outcome.batch_id)
    assert (row, field, rule) == (3, "CF_CFLB", "ambiguous_code") and "penalty_type_old_format_codes" in zh

    licences = [licence("housing", name, 1, XK_ZT="0"), licence("housing", name, 2, XK_ZT="1"),
                licence("housing", name, 3, XK_ZT="2")]
    path = tmp_path / "old_format_licences.csv"
    path.write_bytes(csv_bytes(table("housing", "license", licences, LICENCE_CODES)))
    outcome = load(warehouse, "housing", "license", path)
    assert facts(warehouse, outcome.batch_id, "XK_ZT") == {1: ("active", "有效"), 2: ("revoked", "无效")}
    [(row, field, rule, zh, en)] = quarantine(warehouse, outcome.batch_id)
    assert (row, field, rule) == (3, "XK_ZT", "ambiguous_code") and "异议" in zh and "objection" in en

    # The same "1" from a department on the default table is a licence in force (2019 platform record).
    path = tmp_path / "platform_licences.csv"
    path.write_bytes(csv_bytes(table("education", "license", [licence("education", name, 1, XK_ZT="1",
                                                                       XK_XKLB="01")], LICENCE_CODES)))
    outcome = load(warehouse, "education", "license", path)
    assert facts(warehouse, outcome.batch_id, "XK_ZT", "XK_XKLB") == {1: ("active", "有效", "普通")}


def test_person_id_number_in_a_coded_row_is_still_checked(warehouse, tmp_path):
    """A 身份证 given as code 111 gets the ID-number checksum like the label."""
    name = "codes_id_check.csv"
    bad = person_id("19900101", 7)[:-1] + ("0" if person_id("19900101", 7)[-1] != "0" else "1")
    rows = [person_penalty("health", name, 1, CF_XDR_ZJLX="111", CF_XDR_ZJHM=bad)]
    path = tmp_path / name
    path.write_bytes(csv_bytes(table("health", "penalty", rows, PERSON_CODES)))
    outcome = load(warehouse, "health", "penalty", path)
    assert [(r[1], r[2]) for r in quarantine(warehouse, outcome.batch_id)] == [("CF_XDR_ZJHM", "id_number_checksum")]


def platform_penalty(n: int, **overrides) -> dict:
    """A penalty as the 双鸭山 platform's API answered in 2019 (huweidongls/FuseApp CreditList2Bean.java): its field
    set, null for what was not filled, CF_NR_FK as a JSON number, the bookkeeping columns beside the standard
    ones. Names and codes are this county's; the shapes are the sample's."""
    dept = catalog().department_by_code["transport"]
    record = {
        "RESOURCE_ID": "DIR-20180902-164730-458", "CF_XDR_GSZC": None, "CF_JDRQ": "2019-10-10",
        "CF_WSH": f"示交【2019】{n}号", "CF_XDR_SWDJ": None, "CF_SJLYDM": dept.agency_uscc,
        "CF_SY": "违反相关产品准入市场规定", "CF_SJLY": dept.name_zh, "BZ": None, "CF_XDR_SHZZ": None,
        "ID": f"86d5f278038611eaa714fa8d4ae3{n:04d}", "CHECK_FLAG": "1", "CF_XDR_ZZJG": None, "CF_XDR_ZJLX": None,
        "CF_FR_ZJHM": None, "CF_YXQ": "2019-10-17", "CF_XDR_SHXYM": firm_code(5000 + n),
        "CF_XDR_LB": "法人及非法人组织", "CF_NR": "罚款2000元", "CF_WFXW": "违反相关产品准入市场规定",
        "CF_NR_ZKDX": None,
        "CF_CFJG": dept.name_zh, "COMP_NAME": "示范县信用信息平台运维单位", "CF_NR_FK": 0.2,
        "CREATE_DEPT_NAME": "县交通运输局", "CF_FRDB": "王某", "PERSON_ID": "24c1b8fad39911e999b9fa8d4ae32600",
        "CF_FR_ZJLX": None, "CF_GSJZQ": "2020-10-17", "CF_CFJGDM": dept.agency_uscc, "CF_CFLB": "罚款",
        "CF_NR_WFFF": None, "CF_XDR_ZJHM": None, "CF_YJ": "依据《行业准入规定》", "CF_XDR_SYDW": None,
        "CF_XDR_MC": f"示范县智慧物流有限公司{n}", "CREATE_DATE": 1568180781000,
    }
    record.update(overrides)
    return record


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def load_jsonl(warehouse, department: str, feed_code: str, path: Path) -> BatchOutcome:
    cat = catalog()
    source = ExtractedSource(source_name=path.name, path=path, format="jsonl", encoding="utf-8",
                             watermark_kind="file", watermark_to=path.name)
    outcome = process_batch(warehouse, cat, land(warehouse, cat.department_by_code[department],
                                                 cat.find_feed(department, feed_code), source))
    return outcome


def test_declared_bookkeeping_columns_are_kept_with_the_fact_and_never_published(warehouse, tmp_path):
    # still public, and declared as 令第36号 asks (local fields: kept, not published)
    recent = {"CF_JDRQ": "2026-10-10", "CF_YXQ": "2027-10-09", "CF_GSJZQ": "2027-10-09", "CF_SXYZCD": "一般",
              "CF_AJCXLB": "02"}
    records = [platform_penalty(1, **recent), platform_penalty(2, CHECK_FLAG=None, **recent)]
    outcome = load_jsonl(warehouse, "transport", "penalty", write_jsonl(tmp_path / "platform.jsonl", records))
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 2)
    with warehouse.connect() as conn:
        stored = conn.execute(sa.text("SELECT record_key, extra, attributes FROM dw.fact_credit_record "
                                      "WHERE batch_id = :b ORDER BY source_row_no"), {"b": outcome.batch_id}).all()
        queued = conn.scalars(sa.text("SELECT DISTINCT record_key FROM outbox.publicity_item "
                                      "WHERE record_key = ANY(:k)"), {"k": [r.record_key for r in stored]}).all()
        payloads = list(outbox_payloads(conn, queued).values())  # what the push will send
        mapping = conn.scalar(sa.text("SELECT header_map FROM audit.batch WHERE batch_id = :b"),
                              {"b": outcome.batch_id})
    assert stored[0].extra == {"RESOURCE_ID": "DIR-20180902-164730-458", "CHECK_FLAG": "1",
                               "PERSON_ID": "24c1b8fad39911e999b9fa8d4ae32600", "CREATE_DATE": 1568180781000,
                               "CREATE_DEPT_NAME": "县交通运输局", "COMP_NAME": "示范县信用信息平台运维单位"}
    assert "CHECK_FLAG" not in stored[1].extra  # an empty value is not kept
    assert stored[0].attributes["CF_NR_FK"] == 0.2 and stored[0].attributes["CF_WSH"] == "示交〔2019〕1号"
    extras = {"RESOURCE_ID", "CHECK_FLAG", "PERSON_ID", "CREATE_DATE", "CREATE_DEPT_NAME", "COMP_NAME", "ID"}
    assert not extras & {key for r in stored for key in r.attributes}
    assert payloads and not extras & {key for p in payloads for key in p}
    assert stored[0].attributes["CF_AJCXLB"] == "普通程序"  # code 02 of case_procedure
    assert not {"CF_SXYZCD", "CF_AJCXLB"} & {key for p in payloads for key in p}  # local fields stay home
    assert set(mapping["extra"]) == extras - {"ID"} and mapping["unknown"] == []

    # The same records with other bookkeeping values are the same records: nothing changes, nothing is re-sent.
    again = [platform_penalty(1, CHECK_FLAG="2", CREATE_DATE=1568180999000, **recent),
             platform_penalty(2, CHECK_FLAG=None, **recent)]
    outcome = load_jsonl(warehouse, "transport", "penalty", write_jsonl(tmp_path / "platform_again.jsonl", again))
    assert (outcome.status, outcome.rows_loaded, outcome.rows_unchanged) == ("loaded", 0, 2)


def test_undeclared_bookkeeping_columns_still_hold_the_batch(warehouse, tmp_path):
    """The tax bureau's API has not been reviewed for these columns: the surprise holds the batch, naming them."""
    dept = catalog().department_by_code["tax"]
    record = platform_penalty(3, CF_SJLYDM=dept.agency_uscc, CF_CFJGDM=dept.agency_uscc, CF_SJLY=dept.name_zh,
                              CF_CFJG=dept.name_zh)
    outcome = load_jsonl(warehouse, "tax", "penalty", write_jsonl(tmp_path / "tax_platform.jsonl", [record]))
    assert outcome.status == "held"
    for column in ("RESOURCE_ID", "CHECK_FLAG", "PERSON_ID", "CREATE_DATE", "CREATE_DEPT_NAME", "COMP_NAME"):
        assert column in outcome.reason
    assert "headers unknown" in outcome.reason
    with warehouse.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM dw.fact_credit_record WHERE batch_id = :b"),
                           {"b": outcome.batch_id}) == 0


def test_extra_columns_of_a_file_feed_follow_the_header_rules(warehouse, tmp_path):
    """health/penalty declares 序号: kept per row, matched as headers are (surrounding space); an undeclared
    bookkeeping column beside it still holds the batch."""
    name = "extras.csv"
    rows = table("health", "penalty", [penalty("health", name, 1), penalty("health", name, 2)], PENALTY_CODES)
    rows = [[" 序号 ", *rows[0]], ["1", *rows[1]], ["2", *rows[2]]]
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows))
    outcome = load(warehouse, "health", "penalty", path)
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 2)
    with warehouse.connect() as conn:
        assert conn.scalars(sa.text("SELECT extra FROM dw.fact_credit_record WHERE batch_id = :b ORDER BY "
                                    "source_row_no"), {"b": outcome.batch_id}).all() == [{"序号": "1"}, {"序号": "2"}]

    rows = [[*rows[0], "CREATE_DATE"], [*rows[1], "1568180781000"], [*rows[2], ""]]
    path = tmp_path / "extras_and_more.csv"
    path.write_bytes(csv_bytes(rows))
    outcome = load(warehouse, "health", "penalty", path)
    assert outcome.status == "held" and "CREATE_DATE" in outcome.reason and "序号" not in outcome.reason


@pytest.mark.parametrize(("text", "amounts"), [
    ("罚款2000元", [2000]), ("罚款人民币2,000.00元", [2000]), ("罚款1.5万元", [15000]), ("罚款贰仟元整", [2000]),
    ("没收违法所得五千元", [5000]), ("罚款5千元", [5000]), ("罚款人民币壹万伍仟元", [15000]),
    ("罚款一千零五十元", [1050]), ("罚款２０００元", [2000]), ("罚款两千元", [2000]), ("罚款3亿元", [300000000]),
    ("1.罚款2000元；2.没收违法所得500元", [2000, 500]), ("罚款，500元", [500]),
    ("警告", None), ("罚款", None), ("罚款1.2.3元", None), (None, None),
])
def test_amounts_written_in_yuan_are_read_from_the_penalty_text(warehouse, text, amounts):
    with warehouse.connect() as conn:
        found = conn.scalar(sa.text("SELECT dw.yuan_amounts(:t)"), {"t": text})
    assert found == amounts


def test_a_fine_sent_in_yuan_is_quarantined_asking_for_wan_yuan(warehouse, tmp_path):
    name = "fine_units.csv"
    rows = [
        penalty("health", name, 1, CF_NR="罚款二千元", CF_NR_FK="0.2"),                 # right: 0.2 万元
        penalty("health", name, 2, CF_NR="罚款二千元", CF_NR_FK="2000"),                # yuan, as 处罚内容 says
        penalty("health", name, 3, CF_NR="罚款人民币2,000元", CF_NR_FK="2000.00"),       # the same, Arabic
        penalty("health", name, 4, CF_NR="罚款", CF_NR_FK="2000"),                      # above the bound, unstated
        penalty("health", name, 5, CF_NR="罚款人民币150万元", CF_NR_FK="150"),           # large, and stated: right
        penalty("health", name, 6, CF_NR="罚款1500000元", CF_NR_FK="150"),              # stated in yuan: right
        penalty("health", name, 7, CF_NR="罚款50元", CF_NR_FK="50"),                    # small, but the yuan figure
        penalty("health", name, 8, CF_NR="罚款", CF_NR_FK="80"),                        # below the bound: kept
        penalty("health", name, 9, CF_CFLB="罚款;没收违法所得", CF_NR="罚款2000元，没收违法所得5000元",
                CF_NR_FK="0.2", CF_NR_WFFF="5000"),                                     # the confiscation in yuan
        penalty("health", name, 10, CF_NR="罚款2万元", CF_NR_FK="2"),                   # 万元 written: right
        # what a tester sent: a fine 10x what the text says, and commas that do not group thousands
        penalty("health", name, 11, CF_NR="罚款贰仟元", CF_NR_FK="2"),                  # 2 万元 is 20000 元
        penalty("health", name, 12, CF_NR="罚款", CF_NR_FK="0,2"),                      # not 2
        penalty("health", name, 13, CF_NR="罚款", CF_NR_FK="0，2"),                     # full-width: not 2 either
        penalty("health", name, 14, CF_NR="罚款人民币12,345元", CF_NR_FK="1.2345"),     # right
    ]
    path = tmp_path / name
    path.write_bytes(csv_bytes(table("health", "penalty", rows, [*PENALTY_CODES, "CF_NR_WFFF"])))
    outcome = load(warehouse, "health", "penalty", path)
    found = quarantine(warehouse, outcome.batch_id)
    assert [(row, field, rule) for row, field, rule, *_ in found] == [
        (2, "CF_NR_FK", "fine_unit"), (3, "CF_NR_FK", "fine_unit"), (4, "CF_NR_FK", "fine_unit"),
        (7, "CF_NR_FK", "fine_unit"), (9, "CF_NR_WFFF", "fine_unit"), (11, "CF_NR_FK", "fine_unit"),
        (12, "CF_NR_FK", "amount"), (13, "CF_NR_FK", "amount")]
    by_row = {row: (zh, en) for row, _, _, zh, en in found}
    assert by_row[2] == (
        "字段“罚款金额（万元）”（CF_NR_FK）的单位应为万元，所填金额像是以元为单位："
        "2000，而处罚内容写明 2000元，即 0.2 万元",
        "Field CF_NR_FK (Fine (万元)) is in 万元 (ten thousand yuan) and the amount looks like yuan: 2000 while CF_NR "
        "(处罚内容) says 2000 yuan, i.e. 0.2 万元")
    assert "2000 万元超过合理上限 100 万元" in by_row[4][0] and "罚款2000万元" in by_row[4][0]
    assert "above the plausibility bound of 100 万元" in by_row[4][1]
    assert "2 万元（20000 元）与处罚内容写明的金额（2000 元）不符" in by_row[11][0]
    assert "is not an amount CF_NR (处罚内容) states (2000 yuan)" in by_row[11][1]
    assert facts(warehouse, outcome.batch_id, "CF_NR_FK") == {
        1: ("active", 0.2), 5: ("active", 150), 6: ("active", 150), 8: ("active", 80), 10: ("active", 2),
        14: ("active", 1.2345)}
