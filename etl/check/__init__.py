"""Joint rewards and punishments (联合奖惩): the credit check for one code or a whole workbook of them.

`seed_measures` copies etl/catalog/measures.yml into the warehouse (`creditwh init` calls it);
`check_code` and `check_rows` ask `mart.credit_check` / `mart.credit_check_batch` (warehouse_sql/repeatable/),
stating a purpose, logged by the warehouse;
`etl.check.batch` reads a workbook of firms and writes the marked-up result.
"""

from etl.check.core import CheckResult, check_code, check_rows
from etl.check.measures import load_measures, measures, seed_measures

__all__ = ["CheckResult", "check_code", "check_rows", "load_measures", "measures", "seed_measures"]
