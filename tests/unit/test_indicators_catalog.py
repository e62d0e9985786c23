"""Indicator editions load and add up; a broken edition file is named with its field; periods parse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from etl import config
from etl.errors import UserError
from etl.indicators import edition, editions, load_edition, parse_period
from etl.indicators.catalog import check_measure
from etl.indicators.report import (
    Coverage,
    DepartmentGap,
    Gap,
    GapReport,
    IndicatorTree,
    TreeRow,
    format_value,
    render_gaps,
    render_tree,
)

pytestmark = pytest.mark.unit

EDITION_2020 = config.CATALOG_DIR / "indicators" / "2020.yml"
# Leaves the office asked for by name (issue 4 item 6).
REQUIRED_LEAVES = {
    "license_publicity_timeliness", "penalty_publicity_timeliness", "publicity_submission_timeliness",
    "data_completeness", "duplicate_rate", "wrong_code_rate", "correction_rate", "commitments_count",
    "commitment_fulfilment_rate", "repairs", "joint_punishment_cases", "red_list_entries", "blacklist_entries",
    "rating_domains", "rated_subject_share", "department_coverage", "abnormal_operation_entries",
    "platform_rejection_rate", "held_batch_resolution",
}


@pytest.fixture(scope="module")
def ed():
    return edition("2020")


# 城市信用状况监测预警指标（2020年版）as a mirror of it prints levels 1 and 2 (docs/research/indicators_2020.md §2).
PUBLISHED_LEVEL_ONE = {"信用制度和基础建设": 20, "营商环境": 21, "信用监管": 43, "权益保护": 16}
PUBLISHED_LEVEL_TWO = {
    "信用制度落实情况": 5, "信用信息公示情况": 7, "信用信息归集共享情况": 6, "统一社会信用代码情况": 2,
    "信用惠民便企开展情况": 13, "政务诚信情况": 2, "企业守信情况": 3, "诚信建设情况": 3, "事前信用监管": 8,
    "事中信用监管": 4, "事后信用监管": 31, "信用修复情况": 4, "信息异议情况": 4, "信息安全保障": 4,
    "信用应用合法合规情况": 4,
}
# Level 3, names 1–21 as published (the mirror stops at 21; their parents follow the order of the lists).
PUBLISHED_LEVEL_THREE = [
    "国家层面政策文件落实情况", "全国统一的目录、清单、措施落实情况", "“双公示”情况", "城市信用信息共享平台建设情况",
    "城市信用网站建设情况", "重错码率", "纠正率", "信易贷开展情况", "其他“信易+”开展情况", "政府部门和国有企业清欠情况",
    "守信激励主体占比情况", "诚信文化宣传活动情况", "市场主体信用承诺情况", "信用报告应用情况",
    "开展信用分级分类监管情况", "失信惩戒情况", "严重失信事件监测情况", "信用修复流程透明度", "信用修复便利度",
    "信用修复效率", "异议处理占比",
]


@pytest.fixture(scope="module")
def counted(ed):
    return [n for n in ed.nodes if n.in_total]


def test_2020_edition_has_four_level_one_indicators_with_their_points(ed, counted):
    assert {n.name_zh: n.points for n in counted if n.level == 1} == PUBLISHED_LEVEL_ONE
    assert ed.total_points == 100
    assert "2020" in editions()


def test_level_two_is_the_published_fifteen_with_their_points(counted):
    level2 = {n.name_zh: n.points for n in counted if n.level == 2}
    assert level2 == PUBLISHED_LEVEL_TWO
    assert sum(level2.values()) == 100
    assert all(n.basis == "published" and n.source for n in counted if n.level <= 2)


def test_level_three_carries_the_published_names_in_their_order(ed, counted):
    level3 = [n for n in counted if n.level == 3 and n.basis != "local"]
    assert [n.name_zh for n in level3 if n.basis == "published"] == PUBLISHED_LEVEL_THREE
    assert all(n.source for n in level3)
    # 22 is known only from the consultation draft; it says so.
    draft = [n for n in level3 if n.basis == "draft"]
    assert [(n.name_zh, ed.by_code[n.parent_code].name_zh) for n in draft] == [("异议处理效率", "信息异议情况")]


def test_points_of_children_sum_to_their_parent(ed):
    for node in ed.nodes:
        if not node.is_leaf:
            children = [n for n in ed.nodes if n.parent_code == node.code]
            assert sum(c.points for c in children) == node.points, node.code


def test_every_leaf_is_marked_by_who_measures_it_and_the_split_adds_up(ed):
    split = ed.points_by_source()
    assert sum(split.values()) == 100
    assert split == {"warehouse": 62, "office": 23, "national": 15}
    # No level-4 name of the final edition was found: every scored leaf is this office's own measure.
    assert all(leaf.basis == "local" for leaf in ed.leaves)
    assert {leaf.source_of_value for leaf in ed.leaves} == {"warehouse", "office", "national"}


def test_local_indicators_stay_outside_the_hundred_points(ed):
    local = [n for n in ed.nodes if not n.in_total]
    assert local and all(n.number.startswith("L") and n.basis == "local" for n in local)
    assert sum(n.points for n in ed.nodes if n.in_total and n.level == 1) == 100
    assert {"uscc_coverage", "correction_rate", "penalty_revocation_rate"} <= {n.code for n in local}


def test_leaves_are_scored_and_computable_ones_have_a_measure(ed):
    codes = [n.code for n in ed.nodes]
    assert len(codes) == len(set(codes))
    assert len(ed.computable_leaves) >= 20
    assert {n.code for n in ed.computable_leaves} >= REQUIRED_LEAVES
    assert ed.manual_leaves, "some indicators (信易贷, information security) are entered by hand"
    for leaf in ed.leaves:
        assert leaf.unit and leaf.direction and leaf.scoring, leaf.code
        assert (leaf.measure is not None) == leaf.computable, leaf.code
        if leaf.computable:
            assert check_measure(leaf.measure) is None, leaf.code
    assert ed.node("wrong_code_rate").name_zh == "重错码率"
    assert ed.node("license_publicity_timeliness").number == "1.2.1.1"


def _broken(tmp_path: Path, old: str, new: str, name: str = "2020.yml") -> Path:
    text = EDITION_2020.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in 2020.yml"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    points: 21\n", "    points: 22\n", r"2020\.yml: field total_points: .*add up to 101"),
    ("            points: 3\n            basis: published", "            points: 2\n            basis: published",
     r"2020\.yml: field indicators\.0\.children\.0\.points: system_implementation .* children add up to 4"),
    ("- code: duplicate_rate", "- code: data_completeness",
     r"field indicators\.0\.children\.2\.children\.0\.children\.2\.code: code 'data_completeness' is already used"),
    ("scoring: {rule: linear, target: 0.005, floor: 0.05}", "scoring: {rule: linear, target: 0.05, floor: 0.005}",
     r"field indicators\.0\.children\.2\.children\.0\.children\.2\.scoring\.target: .*lower-is-better"),
    ("- code: catalogue_coverage\n", "- code: Catalogue-Coverage\n",
     r"field indicators\.0\.children\.0\.children\.1\.children\.0\.code: String should match pattern"),
    ("scoring: {rule: linear, target: 0.8, floor: 0.3}", "scoring: {rule: linear, target: 80, floor: 30}",
     r"field indicators\.0\.children\.0\.children\.1\.children\.0\.scoring\.target: .*ratio"),
    ("AND f.decision_date_key >= :start_key AND f.decision_date_key < :end_key\n",
     "AND f.decision_date_key >= :start_key::integer AND f.decision_date_key < :end_key\n",
     r"field indicators\.0\.children\.1\.children\.0\.children\.0\.measure: .*CAST\(:name AS type\)"),
    ("o.sent_at >= :start_at AND o.sent_at < :end_at", "o.sent_at >= :month_start AND o.sent_at < :end_at",
     r"\.measure: the measure of platform_rejection_rate uses unknown parameters \['month_start'\]"),
    ("edition: \"2020\"", "edition: \"2021\"", r"2020\.yml: field edition: .*must match the file name"),
    ("        name_zh: 政务诚信情况\n", "        nom: 政务诚信情况\n",
     r"2020\.yml: field indicators\.1\.children\.1\.(name_zh|nom): "),
    # levels 1 and 2 are the edition's: they cannot be made local, and a published name cites its source
    ("        name_en: Government integrity\n        points: 2\n        basis: published",
     "        name_en: Government integrity\n        points: 2\n        basis: local",
     r"field indicators\.1\.children\.1\.basis: government_integrity is a level-2 indicator of the edition"),
    ("            name_zh: 重错码率\n            name_en: Duplicate and wrong codes\n            points: 1\n"
     "            basis: published\n            source:",
     "            name_zh: 重错码率\n            name_en: Duplicate and wrong codes\n            points: 1\n"
     "            basis: published\n            note:",
     r"field indicators\.0\.children\.3\.children\.0\.(source|note)"),
    ("  - code: local_supplementary\n    name_zh: 本地补充指标\n    name_en: Local supplementary indicators\n"
     "    points: 10\n    basis: local",
     "  - code: local_supplementary\n    name_zh: 本地补充指标\n    name_en: Local supplementary indicators\n"
     "    points: 10\n    basis: published\n    source: x",
     r"field local_indicators\.0\.basis: local_supplementary is a local indicator"),
    ("                computable: true\n                unit: count\n                direction: lower",
     "                computable: true\n                measured_by: national\n                unit: count\n"
     "                direction: lower",
     r"\.measured_by: leaf \w+ is computed by the warehouse, so nobody else measures it"),
])
def test_broken_edition_file_names_file_and_field(tmp_path, old, new, expected):
    with pytest.raises(UserError, match=expected):
        load_edition(_broken(tmp_path, old, new))


def test_computable_leaf_without_measure_and_bad_yaml_are_named(tmp_path):
    text = EDITION_2020.read_text(encoding="utf-8")
    start = text.index("                measure: |", text.index("code: red_list_entries"))
    end = text.index("      - code: integrity_culture")
    path = tmp_path / "2020.yml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(UserError, match=r"2020\.yml: field indicators\.1\.children\.2\.children\.0\.children\.0\."
                                        r"measure: computable leaf red_list_entries needs a SQL `measure`"):
        load_edition(path)
    path.write_text("edition: '2020'\nindicators: [\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"2020\.yml is not valid YAML at line"):
        load_edition(path)
    with pytest.raises(UserError, match="There is no indicator edition '1999'"):
        edition("1999")


def test_measure_checks():
    assert check_measure("SELECT d.department_code, 1 AS numerator, 2 AS denominator FROM x "
                         "WHERE a >= :start_key") is None
    assert "one SELECT" in check_measure("SELECT 1 AS department_code, 1 AS numerator, 1 AS denominator; DROP x")
    assert "single SELECT" in check_measure("DELETE FROM x")
    assert "denominator" in check_measure("SELECT d.department_code, 1 AS numerator FROM x")


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-10", dt.date(2026, 10, 1), dt.date(2026, 11, 1)),
    (" 2026-12 ", dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 3, 1)),
])
def test_period_parses_months(text, start, end):
    period = parse_period(text)
    assert (period.start, period.end, period.code) == (start, end, text.strip())
    parameters = period.parameters()
    assert parameters["start_key"] == int(start.strftime("%Y%m%d"))
    assert parameters["start_at"].utcoffset() == dt.timedelta(hours=8)
    assert parameters["year_start"] == end.replace(year=end.year - 1)
    assert period.is_closed(today=end) and not period.is_closed(today=end - dt.timedelta(days=1))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "202610", "2026/10", "October", "", "1999-05",
                                  "2040-01"])
def test_bad_period_is_refused_with_a_clear_message(text):
    with pytest.raises(UserError, match=r"YYYY-MM|outside the warehouse calendar"):
        parse_period(text)


def test_text_tables_show_chinese_names_and_percentages():
    rows = (
        TreeRow("a", "1", 1, "信用制度和基础建设", "Credit system", False, None, None, "rollup", "published", None,
                True, None, None, None, Decimal(20), Decimal("12.5")),
        TreeRow("b", "1.1", 2, "重错码率", "Wrong-code rate", True, "ratio", "lower", "computed", "local", "warehouse",
                True, Decimal("0.0125"), Decimal(5), Decimal(400), Decimal(20), Decimal("12.5")),
        TreeRow("c", "1.2", 2, "信用新闻", "Credit news", True, "count", "higher", "manual", "local", "office", True,
                None, None, None, Decimal(0), None),
        TreeRow("d", "L.1", 1, "本地补充", "Local", True, "count", "higher", "computed", "local", "warehouse", False,
                Decimal(3), Decimal(3), None, Decimal(2), Decimal(2)),
    )
    text = render_tree(IndicatorTree("2020", "2026-10", True, dt.datetime(2026, 11, 2), rows))
    assert "信用制度和基础建设" in text and "重错码率" in text and "1.2%" in text and "待填报" in text
    assert "12.5 / 20" in text, "the local indicator's points stay outside the total"
    assert "本地 local" in text and "Numbers starting with L are local indicators" in text
    coverage = Coverage(Decimal(100), Decimal(62), Decimal(23), Decimal(5), Decimal(15), Decimal(0))
    report = GapReport("2020", "2026-10", (
        Gap("b", "1.1", "重错码率", "Wrong-code rate", "ratio", "lower", "computed", Decimal("0.0125"), Decimal(20),
            Decimal("12.5"), (DepartmentGap("tax", "县税务局", Decimal("0.02"), Decimal(4), Decimal(200), Decimal(4),
                                            Decimal("0.8")),)),), 1, Decimal(3), coverage)
    text = render_gaps(report)
    assert "县税务局 4（80%）" in text and "7.5" in text and "1 项人工指标待填报" in text
    assert "自评覆盖 85/100 分" in text and "The self-estimate covers 85 of 100 points" in text
    assert "国家中心自行监测 15 分" in text
    assert format_value(Decimal(1234), "count") == "1,234"
    assert format_value(None, "ratio") == "无数据 n/a"
