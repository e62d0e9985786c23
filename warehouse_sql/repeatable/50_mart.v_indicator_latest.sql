DROP VIEW IF EXISTS mart.v_indicator_latest;
CREATE VIEW mart.v_indicator_latest WITH (security_barrier) AS
SELECT DISTINCT ON (v.edition, v.indicator_code, v.department_code)
       v.edition,
       v.indicator_code,
       i.number AS indicator_number,
       i.level AS indicator_level,
       i.parent_code,
       i.name_zh AS indicator_name_zh,
       i.name_en AS indicator_name_en,
       i.unit,
       i.direction,
       i.basis,
       i.measured_by,
       i.in_total,
       v.department_code,
       d.name_zh AS department_name,
       v.period,
       v.period_start,
       v.value,
       v.numerator,
       v.denominator,
       v.points_possible,
       v.points_awarded,
       round(v.points_awarded / v.points_possible, 4) AS score_rate,
       v.source,
       v.is_closed_period,
       v.computed_at
  FROM dw.fact_indicator_value AS v
  JOIN dw.dim_indicator AS i ON i.edition = v.edition AND i.indicator_code = v.indicator_code
  LEFT JOIN dw.dim_department AS d ON d.department_code = v.department_code
 ORDER BY v.edition, v.indicator_code, v.department_code, v.period DESC;

COMMENT ON VIEW mart.v_indicator_latest IS
    '监测指标最新值：每个版本、指标、部门（空串为全市）一行，取已计算的最近月份 / '
    'Latest indicator values: one row per edition, indicator and department ('''' = city-wide), '
    'from the most recent month computed';
COMMENT ON COLUMN mart.v_indicator_latest.edition IS '指标体系版本 / Edition';
COMMENT ON COLUMN mart.v_indicator_latest.indicator_code IS '指标编码 / Indicator code';
COMMENT ON COLUMN mart.v_indicator_latest.indicator_number IS '指标序号（如 1.2.1）/ Position in the tree, e.g. 1.2.1';
COMMENT ON COLUMN mart.v_indicator_latest.indicator_level IS '指标层级（1 为一级）/ Level in the tree (1 = top)';
COMMENT ON COLUMN mart.v_indicator_latest.parent_code IS '上级指标编码 / Parent indicator code';
COMMENT ON COLUMN mart.v_indicator_latest.basis IS
    '依据：published 指标体系公布、draft 仅见于征求意见稿、local 本办口径 / Published, draft-only or local';
COMMENT ON COLUMN mart.v_indicator_latest.measured_by IS
    '末级指标数值来源：warehouse 仓库计算、office 信用办填报、national 国家中心监测 / Who gives a leaf''s value';
COMMENT ON COLUMN mart.v_indicator_latest.in_total IS '是否计入 100 分 / Counted in the 100 points';
COMMENT ON COLUMN mart.v_indicator_latest.indicator_name_zh IS '指标中文名称 / Indicator name in Chinese';
COMMENT ON COLUMN mart.v_indicator_latest.indicator_name_en IS '指标英文名称 / Indicator name in English';
COMMENT ON COLUMN mart.v_indicator_latest.unit IS '取值类型：ratio 比率、count 计数（末级指标）/ Value kind: ratio or count (leaves)';
COMMENT ON COLUMN mart.v_indicator_latest.direction IS '方向：higher 越高越好、lower 越低越好 / Direction: higher or lower is better';
COMMENT ON COLUMN mart.v_indicator_latest.department_code IS '部门编码；空串为全市 / Department code; the empty string is city-wide';
COMMENT ON COLUMN mart.v_indicator_latest.department_name IS '部门名称（全市为空）/ Department name (NULL city-wide)';
COMMENT ON COLUMN mart.v_indicator_latest.period IS '统计月份（YYYY-MM）/ Month measured (YYYY-MM)';
COMMENT ON COLUMN mart.v_indicator_latest.period_start IS '统计月份第一天 / First day of the month';
COMMENT ON COLUMN mart.v_indicator_latest.value IS '指标值（比率 0–1 或计数）/ Value (ratio 0–1 or count)';
COMMENT ON COLUMN mart.v_indicator_latest.numerator IS '分子 / Numerator';
COMMENT ON COLUMN mart.v_indicator_latest.denominator IS '分母（计数指标为空）/ Denominator (NULL for counts)';
COMMENT ON COLUMN mart.v_indicator_latest.points_possible IS '满分 / Points possible';
COMMENT ON COLUMN mart.v_indicator_latest.points_awarded IS '得分 / Points awarded';
COMMENT ON COLUMN mart.v_indicator_latest.score_rate IS '得分率（得分 / 满分）/ Points awarded over points possible';
COMMENT ON COLUMN mart.v_indicator_latest.source IS '来源：measure 仓库计算、manual 人工填报、rollup 下级汇总 / Source';
COMMENT ON COLUMN mart.v_indicator_latest.is_closed_period IS '该月是否已结束（定稿值）/ Whether the month had ended (final value)';
COMMENT ON COLUMN mart.v_indicator_latest.computed_at IS '计算时间（UTC）/ When computed (UTC)';
