-- City credit monitoring indicators (城市信用状况监测预警指标): the indicator tree of each edition, the
-- scoring rule every leaf uses, and the monthly values, city-wide and per department.
--
-- The tree and the measures live in etl/catalog/indicators/<edition>.yml; `etl.indicators` copies the
-- tree into dw.dim_indicator before each run, so the scoring happens in SQL beside the values.
-- (No percent sign and no colon directly followed by a word character: see 002.)

CREATE TABLE dw.dim_indicator (
    edition        text        NOT NULL CHECK (edition ~ '^[0-9]{4}[a-z0-9_]*$'),
    indicator_code text        NOT NULL CHECK (indicator_code ~ '^[a-z][a-z0-9_]*$'),
    number         text        NOT NULL,
    parent_code    text,
    level          smallint    NOT NULL CHECK (level BETWEEN 1 AND 6),
    sort_order     integer     NOT NULL,
    name_zh        text        NOT NULL,
    name_en        text        NOT NULL,
    points         numeric     NOT NULL CHECK (points > 0),
    is_leaf        boolean     NOT NULL,
    is_computable  boolean     NOT NULL,
    unit           text        CHECK (unit IN ('ratio', 'count')),
    direction      text        CHECK (direction IN ('higher', 'lower')),
    scoring_rule   text        CHECK (scoring_rule IN ('linear', 'step')),
    target         numeric,
    floor          numeric,
    when_empty     text        CHECK (when_empty IN ('full', 'zero', 'none')),
    description    text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (edition, indicator_code),
    UNIQUE (edition, number),
    FOREIGN KEY (edition, parent_code) REFERENCES dw.dim_indicator (edition, indicator_code),
    CHECK ((level = 1) = (parent_code IS NULL)),
    CHECK (is_leaf OR NOT is_computable),
    -- Every leaf carries a complete scoring rule; inner nodes only sum their children.
    CHECK (NOT is_leaf OR (unit IS NOT NULL AND direction IS NOT NULL AND scoring_rule IS NOT NULL
                           AND target IS NOT NULL AND when_empty IS NOT NULL)),
    CHECK (scoring_rule IS DISTINCT FROM 'linear' OR (floor IS NOT NULL AND floor <> target))
);
COMMENT ON TABLE dw.dim_indicator IS
    '监测指标维度：每个版本的每个指标（各级）一行 / Indicator dimension: one row per indicator (any level) of an edition';
COMMENT ON COLUMN dw.dim_indicator.edition IS '指标体系版本（如 2020）/ Edition of the indicator system (e.g. 2020)';
COMMENT ON COLUMN dw.dim_indicator.indicator_code IS '指标编码（版本内唯一）/ Indicator code, unique within the edition';
COMMENT ON COLUMN dw.dim_indicator.number IS '指标序号（如 1.2.1）/ Position in the tree, e.g. 1.2.1';
COMMENT ON COLUMN dw.dim_indicator.parent_code IS '上级指标编码，一级指标为空 / Parent indicator; NULL for level 1';
COMMENT ON COLUMN dw.dim_indicator.level IS '指标层级（1 为一级）/ Level in the tree (1 = top)';
COMMENT ON COLUMN dw.dim_indicator.sort_order IS '目录文件中的顺序 / Order in the edition file';
COMMENT ON COLUMN dw.dim_indicator.name_zh IS '指标中文名称 / Indicator name in Chinese';
COMMENT ON COLUMN dw.dim_indicator.name_en IS '指标英文名称 / Indicator name in English';
COMMENT ON COLUMN dw.dim_indicator.points IS '分值（下级分值之和）/ Points; equal to the sum of its children''s';
COMMENT ON COLUMN dw.dim_indicator.is_leaf IS '是否末级指标 / Whether it is a leaf (scored directly)';
COMMENT ON COLUMN dw.dim_indicator.is_computable IS
    '能否由仓库数据计算（否则人工填报）/ Computable from the warehouse (otherwise entered by hand)';
COMMENT ON COLUMN dw.dim_indicator.unit IS '取值类型：ratio 比率、count 计数 / Value kind: ratio or count';
COMMENT ON COLUMN dw.dim_indicator.direction IS
    '方向：higher 越高越好、lower 越低越好 / Direction: higher or lower is better';
COMMENT ON COLUMN dw.dim_indicator.scoring_rule IS
    '计分规则：linear 线性（底线零分、目标满分）、step 达标满分 / Scoring: linear from floor to target, or step at target';
COMMENT ON COLUMN dw.dim_indicator.target IS '满分目标值 / Value at or beyond which the leaf scores full points';
COMMENT ON COLUMN dw.dim_indicator.floor IS '零分底线值（线性规则）/ Value at or beyond which it scores zero (linear rule)';
COMMENT ON COLUMN dw.dim_indicator.when_empty IS
    '无数据（分母为零）时得分：full 满分、zero 零分、none 不计 / Points when there is nothing to measure';
COMMENT ON COLUMN dw.dim_indicator.description IS '口径说明 / How the value is measured';
COMMENT ON COLUMN dw.dim_indicator.updated_at IS '最近一次从目录同步的时间（UTC）/ Last synchronised from the edition file (UTC)';

CREATE TABLE dw.fact_indicator_value (
    edition          text        NOT NULL,
    period           char(7)     NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    period_start     date        NOT NULL,
    indicator_code   text        NOT NULL,
    department_code  text        NOT NULL DEFAULT ''
        CHECK (department_code = '' OR department_code ~ '^[a-z][a-z0-9_]*$'),
    value            numeric,
    numerator        numeric,
    denominator      numeric,
    points_possible  numeric     NOT NULL CHECK (points_possible > 0),
    points_awarded   numeric     CHECK (points_awarded >= 0 AND points_awarded <= points_possible),
    source           text        NOT NULL CHECK (source IN ('measure', 'manual', 'rollup')),
    computed_at      timestamptz NOT NULL DEFAULT now(),
    is_closed_period boolean     NOT NULL,
    PRIMARY KEY (edition, period, indicator_code, department_code),
    FOREIGN KEY (edition, indicator_code) REFERENCES dw.dim_indicator (edition, indicator_code),
    CHECK (to_char(period_start, 'YYYY-MM') = period AND extract(day FROM period_start) = 1),
    CHECK (source = 'measure' OR department_code = '')
);
CREATE INDEX fact_indicator_value_department_idx ON dw.fact_indicator_value (department_code, period)
    WHERE department_code <> '';
COMMENT ON TABLE dw.fact_indicator_value IS
    '监测指标值：每个版本、月份、指标、部门一行（部门为空串表示全市）/ '
    'Indicator value: one row per edition, month, indicator and department ('''' = city-wide)';
COMMENT ON COLUMN dw.fact_indicator_value.edition IS '指标体系版本 / Edition';
COMMENT ON COLUMN dw.fact_indicator_value.period IS '统计月份（YYYY-MM）/ Month measured (YYYY-MM)';
COMMENT ON COLUMN dw.fact_indicator_value.period_start IS '统计月份第一天，便于按日期筛选 / First day of the month, for date filters';
COMMENT ON COLUMN dw.fact_indicator_value.indicator_code IS '指标编码 / Indicator code';
COMMENT ON COLUMN dw.fact_indicator_value.department_code IS
    '部门编码；空串为全市合计 / Department code; the empty string is the city-wide value';
COMMENT ON COLUMN dw.fact_indicator_value.value IS
    '指标值（比率为 0–1，计数为条数）；人工指标未填报或无数据时为空 / Value (ratio 0–1 or count); NULL when manual and not entered, or nothing to measure';
COMMENT ON COLUMN dw.fact_indicator_value.numerator IS '分子（计数指标即计数）/ Numerator (the count for count indicators)';
COMMENT ON COLUMN dw.fact_indicator_value.denominator IS '分母（计数指标为空）/ Denominator (NULL for count indicators)';
COMMENT ON COLUMN dw.fact_indicator_value.points_possible IS '满分 / Points possible';
COMMENT ON COLUMN dw.fact_indicator_value.points_awarded IS
    '得分（上级指标为下级得分之和；人工指标未填报为空）/ Points awarded (sum of children for inner nodes; NULL while manual input is missing)';
COMMENT ON COLUMN dw.fact_indicator_value.source IS
    '来源：measure 仓库计算、manual 人工填报、rollup 下级汇总 / Source: warehouse measure, manual input or roll-up';
COMMENT ON COLUMN dw.fact_indicator_value.computed_at IS '计算（或填报）时间（UTC）/ When computed or entered (UTC)';
COMMENT ON COLUMN dw.fact_indicator_value.is_closed_period IS
    '计算时该月是否已结束（已结束的月份为定稿值）/ Whether the month had ended when computed (final values)';

-- Points for a value under a leaf's rule. Linear: zero at `floor`, full at `target`, straight in
-- between; the same formula serves both directions because a lower-is-better leaf has target < floor.
CREATE FUNCTION dw.indicator_points(
    value numeric, points numeric, scoring_rule text, direction text, target numeric, floor numeric,
    when_empty text
) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE
               WHEN value IS NULL THEN CASE when_empty WHEN 'full' THEN points WHEN 'zero' THEN 0 END
               WHEN scoring_rule = 'step' THEN
                   CASE WHEN (direction = 'higher' AND value >= target) OR (direction = 'lower' AND value <= target)
                        THEN points ELSE 0 END
               ELSE round(points * least(1, greatest(0, (value - floor) / (target - floor))), 4)
           END
$fn$;
COMMENT ON FUNCTION dw.indicator_points(numeric, numeric, text, text, numeric, numeric, text) IS
    '按末级指标计分规则计算得分 / Points a leaf indicator earns for a value under its scoring rule';
