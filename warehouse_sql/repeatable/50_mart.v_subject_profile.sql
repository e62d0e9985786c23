DROP VIEW IF EXISTS mart.v_subject_profile;
-- One row per current subject with its profile: dw.subject_profile as the last refresh stored it, or, for a
-- code whose facts changed since (marked in dw.subject_profile_stale), computed from its facts by
-- dw.subject_profile_facts, so a reader never sees a stale profile. The lateral lookup is one index probe
-- per subject (the computation runs only for marked codes), fast both for one subject and for the whole view.
-- "On the list today" compares the stored end of the list's active records with today's date in China.
-- Not a security barrier: its only row filter is the current version (older names are no secret).
CREATE VIEW mart.v_subject_profile AS
SELECT dw.mask_code(s.subject_code, s.code_kind) AS subject_code,
       s.code_kind,
       s.subject_type,
       pii.mask_text(s.name) AS subject_name,
       pii.mask_text(s.legal_representative) AS legal_representative,
       s.valid_from AS version_valid_from,
       coalesce(p.records, 0) AS records,
       coalesce(p.red_list_records, 0) AS red_list_records,
       coalesce(p.good_rating_records, 0) AS good_rating_records,
       coalesce(p.red_list_records + p.good_rating_records, 0) AS positive_records,
       coalesce(p.penalty_records, 0) AS penalty_records,
       coalesce(p.serious_dishonesty_records, 0) AS serious_dishonesty_records,
       coalesce(p.dishonest_debtor_records, 0) AS dishonest_debtor_records,
       coalesce(p.abnormal_operation_records, 0) AS abnormal_operation_records,
       coalesce(p.penalty_records + p.serious_dishonesty_records + p.dishonest_debtor_records
                + p.abnormal_operation_records, 0) AS negative_records,
       coalesce(p.red_list_until >= (now() AT TIME ZONE 'Asia/Shanghai')::date, false) AS is_on_red_list,
       coalesce(p.serious_dishonesty_until > (now() AT TIME ZONE 'Asia/Shanghai')::date, false)
           AS is_serious_dishonesty,
       coalesce(p.is_dishonest_debtor, false) AS is_dishonest_debtor,
       coalesce(p.abnormal_operation_until > (now() AT TIME ZONE 'Asia/Shanghai')::date, false)
           AS is_abnormal_operation,
       p.latest_rating,
       p.latest_rating_area,
       p.latest_rating_date,
       p.latest_record_date
  FROM dw.dim_subject AS s
  LEFT JOIN LATERAL (
       SELECT kept.* FROM dw.subject_profile AS kept
        WHERE kept.subject_code = s.subject_code
          AND NOT EXISTS (SELECT 1 FROM dw.subject_profile_stale x WHERE x.subject_code = s.subject_code)
       UNION ALL
       SELECT live.* FROM dw.subject_profile_facts AS live
        WHERE live.subject_code = s.subject_code
          AND EXISTS (SELECT 1 FROM dw.subject_profile_stale x WHERE x.subject_code = s.subject_code)
       ) AS p ON true
 WHERE s.is_current;

COMMENT ON VIEW mart.v_subject_profile IS
    '信用主体画像：每个当前主体一行（主体维度当前版本），正负面记录数、是否在红黑名单、最新评价等级；身份证号脱敏。'
    '适合按主体标识或名称查询；整表统计名单请用 v_redlist_current、v_blacklist_current / '
    'Subject profile: one row per current subject (current dim_subject version) with counts of positive and '
    'negative records, whether it is on the red or black lists now, and its latest rating; ID numbers masked. '
    'Made for lookups by code or name; for whole-list questions use v_redlist_current and v_blacklist_current';
COMMENT ON COLUMN mart.v_subject_profile.subject_code IS
    '主体标识：统一社会信用代码原样，身份证号等证件号码脱敏（如 4101**********1234）/ '
    'Subject code: the USCC as is, ID and other document numbers masked (e.g. 4101**********1234)';
COMMENT ON COLUMN mart.v_subject_profile.code_kind IS '标识类型：uscc、id_number（身份证）、other（其他证件）/ Kind of subject code';
COMMENT ON COLUMN mart.v_subject_profile.subject_type IS
    '行政相对人类别：法人及非法人组织、自然人、个体工商户 / Subject category';
COMMENT ON COLUMN mart.v_subject_profile.subject_name IS '主体名称（当前版本）/ Subject name (current version)';
COMMENT ON COLUMN mart.v_subject_profile.legal_representative IS '法定代表人 / Legal representative';
COMMENT ON COLUMN mart.v_subject_profile.version_valid_from IS '当前版本生效时间（UTC）/ Current version valid from (UTC)';
COMMENT ON COLUMN mart.v_subject_profile.records IS '信用记录总数（不含已撤销）/ Credit records on file, revoked ones excluded';
COMMENT ON COLUMN mart.v_subject_profile.red_list_records IS '诚实守信荣誉记录数 / Honour (red list) records';
COMMENT ON COLUMN mart.v_subject_profile.good_rating_records IS
    '良好信用评价记录数（等级 A、优秀、良好）/ Good credit ratings (grade A, 优秀 or 良好)';
COMMENT ON COLUMN mart.v_subject_profile.positive_records IS '正面记录数（荣誉 + 良好评价）/ Positive records: honours plus good ratings';
COMMENT ON COLUMN mart.v_subject_profile.penalty_records IS '行政处罚记录数 / Administrative penalty records';
COMMENT ON COLUMN mart.v_subject_profile.serious_dishonesty_records IS '严重失信主体名单记录数 / Serious dishonesty list records';
COMMENT ON COLUMN mart.v_subject_profile.dishonest_debtor_records IS '失信被执行人记录数 / Dishonest judgment debtor records';
COMMENT ON COLUMN mart.v_subject_profile.abnormal_operation_records IS '经营异常名录记录数 / Abnormal operation list records';
COMMENT ON COLUMN mart.v_subject_profile.negative_records IS
    '负面记录数（处罚、严重失信、失信被执行人、经营异常）/ Negative records: penalties, serious dishonesty, dishonest debtor, abnormal operation';
COMMENT ON COLUMN mart.v_subject_profile.is_on_red_list IS '今天是否在红名单（荣誉有效）/ On the red list today (an honour still valid)';
COMMENT ON COLUMN mart.v_subject_profile.is_serious_dishonesty IS
    '今天是否在严重失信主体名单（未移出）/ On the serious dishonesty list today (not removed)';
COMMENT ON COLUMN mart.v_subject_profile.is_dishonest_debtor IS '今天是否为失信被执行人 / A dishonest judgment debtor today';
COMMENT ON COLUMN mart.v_subject_profile.is_abnormal_operation IS
    '今天是否在经营异常名录（未移出）/ On the abnormal operation list today (not removed)';
COMMENT ON COLUMN mart.v_subject_profile.latest_rating IS '最新评价等级（PJ_PJDJ，按评价日期最新）/ Latest grade, by rating date';
COMMENT ON COLUMN mart.v_subject_profile.latest_rating_area IS '最新评价的领域（PJ_PJLY）/ Area of the latest rating';
COMMENT ON COLUMN mart.v_subject_profile.latest_rating_date IS '最新评价日期（PJ_PJRQ）/ Date of the latest rating';
COMMENT ON COLUMN mart.v_subject_profile.latest_record_date IS '最近一条记录的决定日期 / Decision date of the most recent record';
