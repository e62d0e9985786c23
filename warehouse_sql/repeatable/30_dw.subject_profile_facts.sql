-- A subject code's profile computed from its facts: the one definition of what mart.v_subject_profile shows.
-- dw.refresh_subject_profile() stores it in dw.subject_profile; the mart view reads it from here for the codes
-- not yet refreshed. Facts point at the subject version current when they were loaded, so a profile gathers
-- the facts of every version of the code. Counts leave out revoked records (the decision no longer stands).
-- A list's "until" is the latest end among the active records on it (infinity when one has none), so
-- "on the list today" is one comparison with today's date wherever the profile is read.
DROP VIEW IF EXISTS dw.subject_profile_facts CASCADE;
CREATE VIEW dw.subject_profile_facts AS
SELECT v.subject_code,
       count(*) FILTER (WHERE f.status <> 'revoked') AS records,
       count(*) FILTER (WHERE r.record_type_code = 'red_list' AND f.status <> 'revoked') AS red_list_records,
       count(*) FILTER (WHERE r.record_type_code = 'credit_rating' AND f.status <> 'revoked'
                          AND f.attributes ->> 'PJ_PJDJ' IN ('A', '优秀', '良好')) AS good_rating_records,
       count(*) FILTER (WHERE r.record_type_code = 'penalty' AND f.status <> 'revoked') AS penalty_records,
       count(*) FILTER (WHERE r.record_type_code = 'serious_dishonesty' AND f.status <> 'revoked')
           AS serious_dishonesty_records,
       count(*) FILTER (WHERE r.record_type_code = 'dishonest_debtor' AND f.status <> 'revoked')
           AS dishonest_debtor_records,
       count(*) FILTER (WHERE r.record_type_code = 'abnormal_operation' AND f.status <> 'revoked')
           AS abnormal_operation_records,
       max(coalesce((f.attributes ->> 'RY_YXQZ')::date, 'infinity'))
           FILTER (WHERE r.record_type_code = 'red_list' AND f.status = 'active') AS red_list_until,
       max(coalesce((f.attributes ->> 'SX_YCRQ')::date, 'infinity'))
           FILTER (WHERE r.record_type_code = 'serious_dishonesty' AND f.status = 'active')
           AS serious_dishonesty_until,
       coalesce(bool_or(r.record_type_code = 'dishonest_debtor' AND f.status = 'active'), false)
           AS is_dishonest_debtor,
       max(coalesce((f.attributes ->> 'YC_YCRQ')::date, 'infinity'))
           FILTER (WHERE r.record_type_code = 'abnormal_operation' AND f.status = 'active')
           AS abnormal_operation_until,
       (array_agg(f.attributes ->> 'PJ_PJDJ' ORDER BY f.decision_date_key DESC, f.record_key DESC)
           FILTER (WHERE r.record_type_code = 'credit_rating' AND f.status = 'active'))[1] AS latest_rating,
       (array_agg(f.attributes ->> 'PJ_PJLY' ORDER BY f.decision_date_key DESC, f.record_key DESC)
           FILTER (WHERE r.record_type_code = 'credit_rating' AND f.status = 'active'))[1] AS latest_rating_area,
       to_date(max(f.decision_date_key) FILTER (WHERE r.record_type_code = 'credit_rating'
                                                  AND f.status = 'active')::text, 'YYYYMMDD') AS latest_rating_date,
       to_date(max(f.decision_date_key) FILTER (WHERE f.status <> 'revoked')::text, 'YYYYMMDD') AS latest_record_date
  FROM dw.dim_subject AS v
  JOIN dw.fact_credit_record AS f ON f.subject_key = v.subject_key
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
 GROUP BY v.subject_code;

-- The mart view reads this view and dw.subject_profile side by side (UNION ALL, by position): they must agree.
DO $$
BEGIN
    IF (SELECT array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
          FROM pg_attribute WHERE attrelid = 'dw.subject_profile_facts'::regclass AND attnum > 0)
       IS DISTINCT FROM
       (SELECT array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
          FROM pg_attribute WHERE attrelid = 'dw.subject_profile'::regclass AND attnum > 0 AND NOT attisdropped)
    THEN
        RAISE EXCEPTION 'dw.subject_profile_facts and dw.subject_profile must have the same columns in the same order';
    END IF;
END
$$;

-- A changed definition makes every stored profile out of date: all codes are marked (the mart view computes
-- them from the facts until the next refresh recomputes them).
INSERT INTO dw.subject_profile_stale (subject_code) SELECT DISTINCT subject_code FROM dw.dim_subject;

COMMENT ON VIEW dw.subject_profile_facts IS
    '由事实计算的主体画像，每个主体代码一行，dw.subject_profile 保存其结果 / '
    'Subject profile computed from the facts, one row per subject code; dw.subject_profile keeps its result';
COMMENT ON COLUMN dw.subject_profile_facts.subject_code IS '主体代码（统一社会信用代码或证件号码，未脱敏） / Subject code (USCC or ID number, unmasked)';
COMMENT ON COLUMN dw.subject_profile_facts.records IS '信用记录总数（不含已撤销） / Credit records, revoked ones excluded';
COMMENT ON COLUMN dw.subject_profile_facts.red_list_records IS '诚实守信荣誉记录数 / Honour (red list) records';
COMMENT ON COLUMN dw.subject_profile_facts.good_rating_records IS '良好信用评价记录数（等级 A、优秀、良好） / Good credit ratings (grade A, 优秀 or 良好)';
COMMENT ON COLUMN dw.subject_profile_facts.penalty_records IS '行政处罚记录数 / Administrative penalty records';
COMMENT ON COLUMN dw.subject_profile_facts.serious_dishonesty_records IS '严重失信主体名单记录数 / Serious dishonesty list records';
COMMENT ON COLUMN dw.subject_profile_facts.dishonest_debtor_records IS '失信被执行人记录数 / Dishonest judgment debtor records';
COMMENT ON COLUMN dw.subject_profile_facts.abnormal_operation_records IS '经营异常名录记录数 / Abnormal operation list records';
COMMENT ON COLUMN dw.subject_profile_facts.red_list_until IS '有效荣誉记录的最晚有效期（无有效期为 infinity） / Latest end of an active honour (infinity when open-ended)';
COMMENT ON COLUMN dw.subject_profile_facts.serious_dishonesty_until IS '有效严重失信记录的最晚移出日期（未定为 infinity） / Latest removal date of an active serious-dishonesty record (infinity when none is set)';
COMMENT ON COLUMN dw.subject_profile_facts.is_dishonest_debtor IS '是否有有效的失信被执行人记录 / Whether an active dishonest-debtor record exists';
COMMENT ON COLUMN dw.subject_profile_facts.abnormal_operation_until IS '有效经营异常记录的最晚移出日期（未定为 infinity） / Latest removal date of an active abnormal-operation record (infinity when none is set)';
COMMENT ON COLUMN dw.subject_profile_facts.latest_rating IS '最新评价等级（PJ_PJDJ） / Latest grade';
COMMENT ON COLUMN dw.subject_profile_facts.latest_rating_area IS '最新评价的领域（PJ_PJLY） / Area of the latest rating';
COMMENT ON COLUMN dw.subject_profile_facts.latest_rating_date IS '最新评价日期 / Date of the latest rating';
COMMENT ON COLUMN dw.subject_profile_facts.latest_record_date IS '最近一条记录的决定日期 / Decision date of the most recent record';
