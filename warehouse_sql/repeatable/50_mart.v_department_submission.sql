DROP VIEW IF EXISTS mart.v_department_submission;
-- Two kinds of rows meet per department and day (Asia/Shanghai): the batches that landed that day, and
-- the 双公示 facts first loaded that day. A UNION ALL under one GROUP BY (rather than a full join of two
-- aggregates) lets a filter on department and day reach both base tables' indexes.
CREATE VIEW mart.v_department_submission WITH (security_barrier) AS
SELECT u.department_code,
       d.name_zh AS department_name,
       u.submission_date,
       sum(u.batches)::integer AS batches,
       sum(u.held_batches)::integer AS held_batches,
       sum(u.failed_batches)::integer AS failed_batches,
       sum(u.rows_received)::bigint AS rows_received,
       sum(u.rows_loaded)::bigint AS rows_loaded,
       sum(u.rows_unchanged)::bigint AS rows_unchanged,
       sum(u.rows_quarantined)::bigint AS rows_quarantined,
       round(sum(u.rows_quarantined)::numeric / nullif(sum(u.rows_received), 0), 4) AS rejection_rate,
       sum(u.publicity_records)::integer AS publicity_records,
       sum(u.publicity_loaded_on_time)::integer AS publicity_loaded_on_time,
       round(sum(u.publicity_loaded_on_time)::numeric / nullif(sum(u.publicity_records), 0), 4)
           AS publicity_loaded_on_time_rate,
       sum(u.provincial_accepted_on_time)::integer AS provincial_accepted_on_time,
       round(sum(u.provincial_accepted_on_time)::numeric / nullif(sum(u.publicity_records), 0), 4)
           AS provincial_accepted_on_time_rate,
       sum(u.national_accepted_on_time)::integer AS national_accepted_on_time,
       round(sum(u.national_accepted_on_time)::numeric / nullif(sum(u.publicity_records), 0), 4)
           AS national_accepted_on_time_rate
  FROM (
        SELECT b.department_code,
               (b.created_at AT TIME ZONE 'Asia/Shanghai')::date AS submission_date,
               1 AS batches,
               (b.status = 'held')::integer AS held_batches,
               (b.status = 'failed')::integer AS failed_batches,
               b.rows_in AS rows_received,
               b.rows_loaded,
               b.rows_unchanged,
               b.rows_quarantined,
               0 AS publicity_records,
               0 AS publicity_loaded_on_time,
               0 AS provincial_accepted_on_time,
               0 AS national_accepted_on_time
          FROM audit.batch AS b
        UNION ALL
        SELECT fd.department_code,
               (f.first_loaded_at AT TIME ZONE 'Asia/Shanghai')::date,
               0, 0, 0, 0, 0, 0, 0,
               1,
               ((f.first_loaded_at AT TIME ZONE 'Asia/Shanghai')::date <= f.publicity_due)::integer,
               EXISTS (SELECT 1 FROM outbox.publicity_item AS i
                        WHERE i.record_key = f.record_key AND i.platform = 'provincial' AND i.action = 'upsert'
                          AND i.status = 'accepted'
                          AND (i.accepted_at AT TIME ZONE 'Asia/Shanghai')::date <= f.publicity_due)::integer,
               EXISTS (SELECT 1 FROM outbox.publicity_item AS i
                        WHERE i.record_key = f.record_key AND i.platform = 'national' AND i.action = 'upsert'
                          AND i.status = 'accepted'
                          AND (i.accepted_at AT TIME ZONE 'Asia/Shanghai')::date <= f.publicity_due)::integer
          FROM dw.fact_credit_record AS f
          JOIN dw.dim_department AS fd ON fd.department_key = f.department_key
         WHERE f.publicity_due IS NOT NULL
       ) AS u
  LEFT JOIN dw.dim_department AS d ON d.department_code = u.department_code
 GROUP BY u.department_code, d.name_zh, u.submission_date;

COMMENT ON VIEW mart.v_department_submission IS
    '部门报送情况：每个部门每天（北京时间）一行，当天落地批次的收到、入库、未变、隔离行数与退回率，以及当天首次入库的双公示记录的及时率 / '
    'Department submissions: one row per department and day (Asia/Shanghai): rows received, loaded, unchanged '
    'and quarantined in the batches landed that day, the rejection rate, and the timeliness of the 双公示 '
    'records first loaded that day';
COMMENT ON COLUMN mart.v_department_submission.department_code IS '部门编码 / Department code';
COMMENT ON COLUMN mart.v_department_submission.department_name IS '部门名称 / Department name';
COMMENT ON COLUMN mart.v_department_submission.submission_date IS
    '报送日期（北京时间，批次落地或记录首次入库之日）/ Day (Asia/Shanghai) the batches landed or the records were first loaded';
COMMENT ON COLUMN mart.v_department_submission.batches IS '当天落地的批次数 / Batches landed that day';
COMMENT ON COLUMN mart.v_department_submission.held_batches IS '其中整批暂扣待审的批次数 / Of which held whole for review';
COMMENT ON COLUMN mart.v_department_submission.failed_batches IS '其中无法读取而失败的批次数 / Of which failed (unreadable)';
COMMENT ON COLUMN mart.v_department_submission.rows_received IS '收到的行数 / Rows received';
COMMENT ON COLUMN mart.v_department_submission.rows_loaded IS '新增或更新入库的行数 / Rows inserted or changed in the warehouse';
COMMENT ON COLUMN mart.v_department_submission.rows_unchanged IS '与仓库一致、无需变更的行数 / Rows identical to what the warehouse held';
COMMENT ON COLUMN mart.v_department_submission.rows_quarantined IS '被隔离（退回部门）的行数 / Rows quarantined (returned to the department)';
COMMENT ON COLUMN mart.v_department_submission.rejection_rate IS
    '退回率：隔离行数 / 收到行数 / Rejection rate: rows quarantined over rows received';
COMMENT ON COLUMN mart.v_department_submission.publicity_records IS
    '当天首次入库、应公示的双公示记录数 / 双公示 records (with a publicity due date) first loaded that day';
COMMENT ON COLUMN mart.v_department_submission.publicity_loaded_on_time IS
    '其中在应公示截止日当天或之前入库的记录数 / Of which loaded on or before their publicity due date';
COMMENT ON COLUMN mart.v_department_submission.publicity_loaded_on_time_rate IS
    '按时入库率 / Share loaded on or before the publicity due date';
COMMENT ON COLUMN mart.v_department_submission.provincial_accepted_on_time IS
    '其中省级平台在应公示截止日前接收的记录数 / Of which accepted by the provincial platform by the due date';
COMMENT ON COLUMN mart.v_department_submission.provincial_accepted_on_time_rate IS
    '省级平台按时接收率 / Share accepted by the provincial platform by the due date';
COMMENT ON COLUMN mart.v_department_submission.national_accepted_on_time IS
    '其中国家平台（信用中国）在应公示截止日前接收的记录数 / Of which accepted by the national platform by the due date';
COMMENT ON COLUMN mart.v_department_submission.national_accepted_on_time_rate IS
    '国家平台按时接收率 / Share accepted by the national platform by the due date';
