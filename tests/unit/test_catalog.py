"""The catalog loads, has the county's 26 departments with a realistic mix, and bad YAML is named."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from etl import config
from etl.catalog import Role, header_index, load_catalog, parse_yaml
from etl.codes import is_valid_uscc
from etl.errors import UserError

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_26_departments_with_valid_agency_codes(cat):
    assert len(cat.departments) == 26
    assert all(is_valid_uscc(d.agency_uscc) for d in cat.departments)
    assert len({d.agency_uscc for d in cat.departments}) == 26


def test_transport_mix_has_at_least_four_of_each(cat):
    kinds = Counter(f.file.format if f.transport == "file" else f.transport for _, f in cat.feeds())
    assert kinds["csv"] >= 4 and kinds["xlsx"] >= 4 and kinds["api"] >= 4 and kinds["sql"] >= 4
    encodings = {f.file.encoding for _, f in cat.feeds() if f.transport == "file" and f.file.format == "csv"}
    assert encodings == {"utf-8", "utf-8-sig", "gb18030"}


def test_record_types_cover_the_national_catalog_items(cat):
    assert {"license", "penalty", "commitment", "red_list", "serious_dishonesty", "dishonest_debtor",
            "abnormal_operation", "credit_rating", "registration"} <= set(cat.record_type_by_code)
    shares = {r.code: r.share for r in cat.record_types}
    assert shares["commitment"] > shares["registration"] > shares["license"] > shares["penalty"]
    assert sum(shares.values()) == pytest.approx(1.0)


def test_penalty_fields_follow_the_standard_codes(cat):
    penalty = cat.record_type_by_code["penalty"]
    required = {f.code for f in penalty.fields if f.required}
    assert {"CF_XDR_MC", "CF_XDR_LB", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB", "CF_NR", "CF_JDRQ",
            "CF_YXQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM"} == required
    assert penalty.role(Role.DOCUMENT_NUMBER).code == "CF_WSH"
    assert penalty.role(Role.FINE_AMOUNT).code == "CF_NR_FK"
    assert {r.id for r in penalty.rules} >= {"legal_person_identity", "natural_person_identity",
                                             "individual_business_code_prefix"}


def test_every_feed_header_maps_to_a_field(cat):
    for dept, feed in cat.feeds():
        index = header_index(cat.record_type_by_code[feed.record_type], feed)
        assert set(feed.columns.values()) <= set(index.values()), (dept.code, feed.code)
    # Standard names, codes in any case and aliases all resolve.
    tax_rating = next(f for d, f in cat.feeds() if d.code == "tax" and f.code == "credit_rating")
    index = header_index(cat.record_type_by_code["credit_rating"], tax_rating)
    assert index["纳税人识别号"] == "PJ_XDR_SHXYM"
    assert index["PJ_PJDJ"] == "PJ_PJDJ"
    assert index["评价等级"] == "PJ_PJDJ"


def _broken_catalog(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(config.CATALOG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (target / file).read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {file}"
    (target / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    ("departments.yml", 'agency_uscc: "11410523051234018J"', 'agency_uscc: "11410523051234018K"',
     r"departments\.yml: field departments\.0\.agency_uscc: .*not a valid unified social credit code"),
    ("departments.yml", "record_type: registration", "record_type: registrations",
     r"departments\.yml: .*unknown record_type 'registrations'"),
    ("departments.yml", 'schedule: "0 1 * * *"', 'schedule: "every night"',
     r"departments\.yml: field departments\.0\.feeds\.0\.schedule: .*not a cron expression"),
    ("departments.yml", "transport: sql", "transport: ftp",
     r"departments\.yml: field departments\.0\.feeds\.0\.transport"),
    ("departments.yml", "    name_zh: 县市场监督管理局\n", "    name_zh: [unclosed\n",
     r"departments\.yml is not valid YAML at line \d+"),
    ("record_types.yml", "allowed: [普通, 特许, 认可, 核准, 登记, 其他]", "",
     r"record_types\.yml: field record_types\.0\.fields\.\d+: .*enum field needs `allowed`"),
    ("record_types.yml", "{start: XK_YXQZ, end: XK_YXQZI}", "{start: XK_YXQZ, end: XK_NOPE}",
     r"record_types\.yml: .*date_order refers to XK_NOPE"),
    ("rules.yml", "  duplicate_in_batch:", "  duplicate_rows:",
     r"rules\.yml: no reason is given for rules \[.duplicate_in_batch.\]"),
])
def test_malformed_catalog_names_file_and_field(tmp_path, file, old, new, expected):
    directory = _broken_catalog(tmp_path, file, old, new)
    with pytest.raises(UserError, match=expected):
        load_catalog(directory)


@pytest.mark.parametrize("path", sorted(config.CATALOG_DIR.rglob("*.yml")), ids=lambda p: p.name)
def test_the_fast_yaml_reader_reads_each_catalog_file_as_the_python_one_does(path):
    # Catalogs are read with libyaml's loader (each ingest worker reads them): same data, to the type.
    text = path.read_text(encoding="utf-8")
    assert yaml.__with_libyaml__, "PyYAML without libyaml: catalogs are read by the slower pure-Python loader"
    fast, reference = parse_yaml(text), yaml.safe_load(text)
    assert fast == reference
    assert repr(fast) == repr(reference)


def test_missing_catalog_file_is_a_clear_error(tmp_path):
    directory = tmp_path / "catalog"
    shutil.copytree(config.CATALOG_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (directory / "rules.yml").unlink()
    with pytest.raises(UserError, match="rules.yml is missing"):
        load_catalog(directory)
