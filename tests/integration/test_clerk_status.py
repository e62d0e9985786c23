"""What `creditwh status` shows a credit-office clerk: departments by their Chinese names, and with `--due
--details` the 双公示 records themselves that are about to miss (or missed) their upload deadline."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from etl.config import CHINA
from etl.publicity.due import describe_due
from etl.summary import department_status
from tests.integration.test_bad_input import penalty_row, run, write_csv

pytestmark = pytest.mark.integration


def test_departments_are_named_in_chinese_with_beijing_time(warehouse):
    with warehouse.connect() as conn:
        text = department_status(conn)
    assert "县卫生健康委员会" in text and "health" in text and "北京时间" in text


def test_due_details_list_each_record_not_yet_accepted(warehouse, tmp_path):
    decided = (dt.datetime.now(CHINA).date() - dt.timedelta(days=1)).isoformat()
    number = f"示卫罚〔2026〕{uuid.uuid4().int % 10**8}号"
    outcome = run(warehouse, write_csv(tmp_path / "due.csv", [penalty_row(
        行政处罚决定书文号=number, 处罚决定日期=decided, 处罚有效期="2099-12-31")]))
    assert outcome.rows_loaded == 1
    with warehouse.connect() as conn:
        counts, details = describe_due(conn, 10), describe_due(conn, 10, details=True)
    assert number not in counts and "--details" in counts
    assert number in details and "示范县康宁大药房有限公司" in details and decided in details
    assert details.count(number) == 2  # once per platform it has not reached
