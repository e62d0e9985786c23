DROP VIEW IF EXISTS mart.v_pipeline_health;
-- A feed is late once its last successful extract is older than its longest scheduled gap plus this margin.
CREATE VIEW mart.v_pipeline_health AS
WITH feeds AS (
    SELECT department_code,
           count(*) AS feeds_reporting,
           count(*) FILTER (WHERE last_extract_at IS NULL
                               OR now() > last_extract_at + expected_interval + interval '30 minutes') AS late_feeds,
           max(greatest(now() - (last_extract_at + expected_interval), interval '0')) AS late_by,
           max(last_extract_at) AS last_extract_at,
           max(last_error_at) AS last_error_at
      FROM audit.feed_status
     GROUP BY department_code
),

batches AS (
    SELECT department_code,
           max(updated_at) FILTER (WHERE status = 'loaded') AS last_loaded_at,
           sum(rows_in) FILTER (WHERE created_at >= now() - interval '7 days') AS rows_in_7d,
           sum(rows_quarantined) FILTER (WHERE created_at >= now() - interval '7 days') AS rows_quarantined_7d,
           sum(rows_in) FILTER (WHERE created_at >= now() - interval '30 days') AS rows_in_30d,
           sum(rows_quarantined) FILTER (WHERE created_at >= now() - interval '30 days') AS rows_quarantined_30d,
           count(*) FILTER (WHERE status = 'held') AS held_batches,
           min(updated_at) FILTER (WHERE status = 'held') AS oldest_held_at,
           count(*) FILTER (WHERE status = 'failed' AND created_at >= now() - interval '30 days') AS failed_batches_30d,
           count(*) FILTER (WHERE status IN ('landed', 'staged', 'validated')) AS unfinished_batches
      FROM audit.batch
     GROUP BY department_code
),

notices AS (
    SELECT department_code, count(*) AS open_drop_notices
      FROM audit.drop_notice
     WHERE resolved_at IS NULL
     GROUP BY department_code
)

SELECT d.department_code,
       d.name_zh AS department_name_zh,
       d.name_en AS department_name_en,
       d.feed_count,
       coalesce(f.feeds_reporting, 0) AS feeds_reporting,
       b.last_loaded_at,
       f.last_extract_at,
       coalesce(f.late_feeds, 0) + greatest(d.feed_count - coalesce(f.feeds_reporting, 0), 0) AS late_feeds,
       f.late_by,
       coalesce(f.late_feeds, 0) + greatest(d.feed_count - coalesce(f.feeds_reporting, 0), 0) > 0 AS is_late,
       coalesce(b.rows_in_7d, 0) AS rows_in_7d,
       coalesce(b.rows_quarantined_7d, 0) AS rows_quarantined_7d,
       round(b.rows_quarantined_7d::numeric / nullif(b.rows_in_7d, 0), 4) AS rejection_rate_7d,
       coalesce(b.rows_in_30d, 0) AS rows_in_30d,
       coalesce(b.rows_quarantined_30d, 0) AS rows_quarantined_30d,
       round(b.rows_quarantined_30d::numeric / nullif(b.rows_in_30d, 0), 4) AS rejection_rate_30d,
       coalesce(b.held_batches, 0) AS held_batches,
       b.oldest_held_at,
       coalesce(b.failed_batches_30d, 0) AS failed_batches_30d,
       coalesce(b.unfinished_batches, 0) AS unfinished_batches,
       f.last_error_at,
       coalesce(n.open_drop_notices, 0) AS open_drop_notices,
       now() AS checked_at
  FROM dw.dim_department AS d
  LEFT JOIN feeds AS f ON f.department_code = d.department_code
  LEFT JOIN batches AS b ON b.department_code = d.department_code
  LEFT JOIN notices AS n ON n.department_code = d.department_code
 WHERE d.is_active;

COMMENT ON VIEW mart.v_pipeline_health IS
    '数据管道健康：每个部门一行，数据时效、退回率与待审批次 / Pipeline health: one row per department, freshness against its schedules, rejection rates and batches awaiting review';
COMMENT ON COLUMN mart.v_pipeline_health.department_code IS '部门编码 / Department code';
COMMENT ON COLUMN mart.v_pipeline_health.department_name_zh IS '部门中文名称 / Department name in Chinese';
COMMENT ON COLUMN mart.v_pipeline_health.department_name_en IS '部门英文名称 / Department name in English';
COMMENT ON COLUMN mart.v_pipeline_health.feed_count IS '目录中的数据源个数 / Number of feeds in the catalog';
COMMENT ON COLUMN mart.v_pipeline_health.feeds_reporting IS '已有采集记录的数据源个数 / Feeds extracted at least once';
COMMENT ON COLUMN mart.v_pipeline_health.last_loaded_at IS
    '最近一个批次成功入库的时间（UTC）/ When a batch of the department was last loaded (UTC)';
COMMENT ON COLUMN mart.v_pipeline_health.last_extract_at IS
    '最近一次成功读取任一数据源的时间（UTC）/ When any of its sources was last read successfully (UTC)';
COMMENT ON COLUMN mart.v_pipeline_health.late_feeds IS
    '逾期数据源个数：超过计划间隔 30 分钟未成功采集，或从未采集 / Feeds late: not read within their scheduled gap plus 30 minutes, or never read';
COMMENT ON COLUMN mart.v_pipeline_health.late_by IS
    '最迟数据源超出计划间隔的时长 / How far the latest feed is past its scheduled gap';
COMMENT ON COLUMN mart.v_pipeline_health.is_late IS '是否有逾期数据源 / Whether any feed is late';
COMMENT ON COLUMN mart.v_pipeline_health.rows_in_7d IS '近 7 天落地批次收到的行数 / Rows received in batches landed in the last 7 days';
COMMENT ON COLUMN mart.v_pipeline_health.rows_quarantined_7d IS '近 7 天被隔离的行数 / Rows quarantined among them (7 days)';
COMMENT ON COLUMN mart.v_pipeline_health.rejection_rate_7d IS
    '近 7 天退回率（隔离行数 / 收到行数）/ Rejection rate over 7 days: quarantined rows over rows received';
COMMENT ON COLUMN mart.v_pipeline_health.rows_in_30d IS '近 30 天落地批次收到的行数 / Rows received in batches landed in the last 30 days';
COMMENT ON COLUMN mart.v_pipeline_health.rows_quarantined_30d IS '近 30 天被隔离的行数 / Rows quarantined among them (30 days)';
COMMENT ON COLUMN mart.v_pipeline_health.rejection_rate_30d IS
    '近 30 天退回率（隔离行数 / 收到行数）/ Rejection rate over 30 days: quarantined rows over rows received';
COMMENT ON COLUMN mart.v_pipeline_health.held_batches IS
    '整批暂扣、待人工审核的批次数 / Batches held whole, awaiting review (creditwh release)';
COMMENT ON COLUMN mart.v_pipeline_health.oldest_held_at IS '最早暂扣批次的暂扣时间（UTC）/ Since when the oldest held batch waits (UTC)';
COMMENT ON COLUMN mart.v_pipeline_health.failed_batches_30d IS '近 30 天无法读取而失败的批次数 / Batches failed (unreadable) in the last 30 days';
COMMENT ON COLUMN mart.v_pipeline_health.unfinished_batches IS
    '已落地但尚未处理完的批次数（下次运行继续）/ Batches landed but not yet through (the next run finishes them)';
COMMENT ON COLUMN mart.v_pipeline_health.last_error_at IS
    '最近一次读取数据源失败的时间（UTC）/ When reading one of its sources last failed (UTC)';
COMMENT ON COLUMN mart.v_pipeline_health.open_drop_notices IS
    '投放文件夹中待处理的条目数（拒绝读取的链接、特殊文件，或不符合任何数据源的文件）/ '
    'Drop-folder entries waiting for a look: refused links and special files, files no feed takes';
COMMENT ON COLUMN mart.v_pipeline_health.checked_at IS '本视图计算时间（UTC）/ When this row was computed (UTC)';
