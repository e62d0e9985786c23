"""Reviewed pilot codes that fail the USCC checksum are accepted; every other failing code is still quarantined."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
import sqlalchemy as sa
import yaml

from etl import config
from etl.catalog import load_catalog
from etl.codes import is_valid_uscc
from etl.errors import UserError
from etl.migrate import migrate
from etl.reference import seed_reference_data
from tests.integration.test_publish import RECENT, firm_code, load, penalty

pytestmark = pytest.mark.integration


def failing(code: str) -> str:
    """The same code with a wrong check character."""
    wrong = next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != code[-1])
    assert not is_valid_uscc(code[:-1] + wrong)
    return code[:-1] + wrong


def catalog_with(tmp_path, codes: list[dict]):
    directory = tmp_path / "catalog"
    shutil.copytree(config.settings().catalog_dir, directory)
    (directory / "uscc_allow_list.yml").write_text(yaml.safe_dump({"codes": codes}, allow_unicode=True),
                                                   encoding="utf-8")
    return load_catalog(directory)


def test_allow_listed_pilot_code_loads_and_others_are_quarantined(empty_database, tmp_path):
    pilot, other = failing(firm_code(900_001)), failing(firm_code(900_002))
    entry = {"code": pilot, "name_zh": "试点企业", "reviewed_by": "县市场监管局 王某",
             "reviewed_on": dt.date(2026, 11, 2), "reason": "2015 年试点赋码，经登记机关核实"}
    reviewed = catalog_with(tmp_path, [entry])
    migrate(empty_database)
    seed_reference_data(empty_database, reviewed)
    outcome = load(empty_database, tmp_path / "drop", "penalty",
                   [dict(penalty(RECENT), CF_XDR_SHXYM=pilot), dict(penalty(RECENT), CF_XDR_SHXYM=other)],
                   clean=False)
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 1)
    with empty_database.connect() as conn:
        quarantined = conn.execute(sa.text("SELECT field, rule FROM audit.quarantine")).all()
        loaded = conn.scalar(sa.text("SELECT count(*) FROM dw.dim_subject WHERE subject_code = :c"), {"c": pilot})
    assert [tuple(q) for q in quarantined] == [("CF_XDR_SHXYM", "uscc_checksum")]
    assert loaded == 1


def test_a_valid_code_on_the_allow_list_is_a_catalog_error(tmp_path):
    with pytest.raises(UserError, match=r"uscc_allow_list.yml: field uscc_allow_list.0.code: .*passes the checksum"):
        catalog_with(tmp_path, [{"code": firm_code(5), "name_zh": "x", "reviewed_by": "y",
                                 "reviewed_on": "2026-11-02", "reason": "z"}])
