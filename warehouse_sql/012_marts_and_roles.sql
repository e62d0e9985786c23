-- The mart layer for BI tools, and the two roles that separate readers from the pipeline.
--
-- Every mart view is owned by the migrating role: bi_reader reads it with the owner's rights on the base
-- tables (it has none of its own). Views that filter rows (what is public or listed now) are security
-- barriers, so a function of the reader's in a WHERE clause only ever sees rows the view itself returns.
-- No mart column shows a personal ID number in full: ID fields go through dw.mask_id_number, subject
-- codes and USCC fields through dw.mask_code. Indexes for the marts' typical queries come first.
-- "Today" is the calendar day in Asia/Shanghai. (No percent sign and no colon directly followed by a word
-- character: see 002.)

-- mask_code -----------------------------------------------------------------------------------------
-- A USCC is shown as it is unless it also passes the citizen-ID check (about 1 in 330 valid ID numbers
-- passes the USCC check too): like etl.codes.classify_code, the ambiguous case is treated as personal.
-- Anything else (ID numbers, passports and other documents) is masked as dw.mask_id_number does.
--
-- The ID check is dw.is_valid_id_number(code, DATE '2999-12-31') written out with built-ins only (a
-- birth date up to 2999 instead of today, so that the function is immutable and can back an index).
-- Built-ins only because bi_reader, reading a mart view, has no USAGE on schema dw and PostgreSQL
-- resolves the names inside a SQL function's body with the caller's rights; it also lets the planner
-- inline the function, which costs a fraction of a call to the PL/pgSQL check.
-- tests/integration/test_marts.py compares it with the Python twin on valid, invalid and mutated codes.
CREATE FUNCTION dw.mask_code(code text, code_kind text DEFAULT 'uscc') RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE
           WHEN code_kind = 'uscc' AND NOT (
               CASE WHEN char_length(code) = 18
                         AND btrim(left(code, 17), '0123456789') = ''
                         AND strpos('0123456789X', right(code, 1)) > 0
                         AND substr(code, 1, 2) = ANY (ARRAY[
                             '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36',
                             '37', '41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62',
                             '63', '64', '65', '71', '81', '82', '83'])
                    THEN CASE
                             WHEN substr(code, 7, 4)::integer NOT BETWEEN 1900 AND 2999
                                  OR substr(code, 11, 2)::integer NOT BETWEEN 1 AND 12
                                  OR substr(code, 13, 2)::integer < 1 THEN false
                             WHEN substr(code, 13, 2)::integer > CASE
                                      WHEN substr(code, 11, 2)::integer = 2 THEN
                                          CASE WHEN (mod(substr(code, 7, 4)::integer, 4) = 0
                                                     AND mod(substr(code, 7, 4)::integer, 100) <> 0)
                                                    OR mod(substr(code, 7, 4)::integer, 400) = 0 THEN 29 ELSE 28 END
                                      WHEN substr(code, 11, 2)::integer IN (4, 6, 9, 11) THEN 30
                                      ELSE 31 END THEN false
                             ELSE right(code, 1) = substr('10X98765432', mod(
                                    7 * substr(code, 1, 1)::integer + 9 * substr(code, 2, 1)::integer
                                  + 10 * substr(code, 3, 1)::integer + 5 * substr(code, 4, 1)::integer
                                  + 8 * substr(code, 5, 1)::integer + 4 * substr(code, 6, 1)::integer
                                  + 2 * substr(code, 7, 1)::integer + 1 * substr(code, 8, 1)::integer
                                  + 6 * substr(code, 9, 1)::integer + 3 * substr(code, 10, 1)::integer
                                  + 7 * substr(code, 11, 1)::integer + 9 * substr(code, 12, 1)::integer
                                  + 10 * substr(code, 13, 1)::integer + 5 * substr(code, 14, 1)::integer
                                  + 8 * substr(code, 15, 1)::integer + 4 * substr(code, 16, 1)::integer
                                  + 2 * substr(code, 17, 1)::integer, 11) + 1, 1)
                         END
                    ELSE false
               END) THEN code
           WHEN char_length(code) < 9 THEN repeat('*', char_length(code))
           ELSE left(code, 4) || repeat('*', char_length(code) - 8) || right(code, 4)
       END
$fn$;
COMMENT ON FUNCTION dw.mask_code(text, text) IS
    '主体标识脱敏：统一社会信用代码原样显示（兼符合身份证号校验者除外），身份证号及其他证件号脱敏 / '
    'Subject code for display: a USCC as is (unless it also passes the ID-number check), ID and other '
    'document numbers masked';

-- Looking a subject up by its (displayed) code in the marts is an index lookup, on every version.
CREATE INDEX dim_subject_display_code_idx ON dw.dim_subject (dw.mask_code(subject_code, code_kind));
-- Submissions per department and day (Asia/Shanghai), for mart.v_department_submission.
CREATE INDEX batch_department_day_idx ON audit.batch (department_code, ((created_at AT TIME ZONE 'Asia/Shanghai')::date));
CREATE INDEX fact_publicity_loaded_day_idx ON dw.fact_credit_record
    (department_key, ((first_loaded_at AT TIME ZONE 'Asia/Shanghai')::date)) WHERE publicity_due IS NOT NULL;
-- What is public now, per record type and department: the publicity views' filters in one small index
-- (published licences and penalties only), which also answers their per-department counts index-only.
CREATE INDEX fact_public_now_idx ON dw.fact_credit_record
    (record_type_key, department_key, decision_date_key, publicity_end) INCLUDE (publicity_start)
    WHERE status = 'active' AND publicity_start IS NOT NULL;


-- v_publicity_license --------------------------------------------------------------------------------
CREATE VIEW mart.v_publicity_license WITH (security_barrier) AS
SELECT f.record_uid,
       d.department_code,
       d.name_zh AS department_name,
       f.attributes ->> 'XK_XDR_MC' AS subject_name,
       f.attributes ->> 'XK_XDR_LB' AS subject_category,
       dw.mask_code(f.attributes ->> 'XK_XDR_SHXYM') AS uscc,
       f.attributes ->> 'XK_FRDB' AS legal_representative,
       f.attributes ->> 'XK_FR_ZJLX' AS legal_representative_id_type,
       dw.mask_id_number(f.attributes ->> 'XK_FR_ZJHM') AS legal_representative_id_number,
       f.attributes ->> 'XK_XDR_ZJLX' AS id_type,
       dw.mask_id_number(f.attributes ->> 'XK_XDR_ZJHM') AS id_number,
       f.attributes ->> 'XK_XKWS' AS document_title,
       f.document_number,
       f.attributes ->> 'XK_XKLB' AS licence_category,
       f.attributes ->> 'XK_XKZS' AS certificate_name,
       f.attributes ->> 'XK_XKBH' AS licence_number,
       f.attributes ->> 'XK_NR' AS licence_content,
       dd.date AS decision_date,
       dd.year_month AS decision_month,
       (f.attributes ->> 'XK_YXQZ')::date AS valid_from,
       (f.attributes ->> 'XK_YXQZI')::date AS valid_to,
       f.attributes ->> 'XK_XKJG' AS authority,
       dw.mask_code(f.attributes ->> 'XK_XKJGDM') AS authority_uscc,
       f.attributes ->> 'XK_LYDW' AS source_agency,
       dw.mask_code(f.attributes ->> 'XK_LYDWDM') AS source_agency_uscc,
       f.publicity_start,
       f.publicity_end,
       f.publicity_due,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
 WHERE r.record_type_code = 'license'
   AND f.status = 'active'
   AND f.publicity_start <= (now() AT TIME ZONE 'Asia/Shanghai')::date
   AND f.publicity_end >= (now() AT TIME ZONE 'Asia/Shanghai')::date;

COMMENT ON VIEW mart.v_publicity_license IS
    '行政许可公示（当前）：每条今天（北京时间）处于公示期内的有效行政许可一行，字段同平台公示，证件号码已脱敏 / '
    'Licences public now: one row per active licence whose publicity window covers today (Asia/Shanghai), '
    'standard fields as the platforms show them, ID numbers masked';
COMMENT ON COLUMN mart.v_publicity_license.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_publicity_license.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_publicity_license.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_publicity_license.subject_name IS '行政相对人名称（XK_XDR_MC）/ Subject name';
COMMENT ON COLUMN mart.v_publicity_license.subject_category IS
    '行政相对人类别（XK_XDR_LB）：法人及非法人组织、自然人、个体工商户 / Subject category';
COMMENT ON COLUMN mart.v_publicity_license.uscc IS '统一社会信用代码（XK_XDR_SHXYM）/ Unified social credit code (USCC)';
COMMENT ON COLUMN mart.v_publicity_license.legal_representative IS '法定代表人（XK_FRDB）/ Legal representative';
COMMENT ON COLUMN mart.v_publicity_license.legal_representative_id_type IS
    '法定代表人证件类型（XK_FR_ZJLX）/ Legal representative''s ID type';
COMMENT ON COLUMN mart.v_publicity_license.legal_representative_id_number IS
    '法定代表人证件号码（XK_FR_ZJHM，已脱敏）/ Legal representative''s ID number, masked';
COMMENT ON COLUMN mart.v_publicity_license.id_type IS '证件类型（XK_XDR_ZJLX，自然人）/ ID type (natural persons)';
COMMENT ON COLUMN mart.v_publicity_license.id_number IS '证件号码（XK_XDR_ZJHM，已脱敏）/ ID number, masked';
COMMENT ON COLUMN mart.v_publicity_license.document_title IS '许可决定文书名称（XK_XKWS）/ Decision document title';
COMMENT ON COLUMN mart.v_publicity_license.document_number IS '许可决定文书号（XK_WSH）/ Decision document number';
COMMENT ON COLUMN mart.v_publicity_license.licence_category IS
    '许可类别（XK_XKLB）：普通、特许、认可、核准、登记、其他 / Licence category';
COMMENT ON COLUMN mart.v_publicity_license.certificate_name IS '许可证书名称（XK_XKZS）/ Certificate name';
COMMENT ON COLUMN mart.v_publicity_license.licence_number IS '许可编号（XK_XKBH）/ Licence number';
COMMENT ON COLUMN mart.v_publicity_license.licence_content IS '许可内容（XK_NR）/ Licence content';
COMMENT ON COLUMN mart.v_publicity_license.decision_date IS '许可决定日期（XK_JDRQ）/ Decision date';
COMMENT ON COLUMN mart.v_publicity_license.decision_month IS '决定年月（YYYY-MM），按月筛选 / Decision month (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_publicity_license.valid_from IS '有效期自（XK_YXQZ）/ Valid from';
COMMENT ON COLUMN mart.v_publicity_license.valid_to IS '有效期至（XK_YXQZI，2099-12-31 为长期）/ Valid to (2099-12-31 = long-term)';
COMMENT ON COLUMN mart.v_publicity_license.authority IS '许可机关（XK_XKJG）/ Licensing authority';
COMMENT ON COLUMN mart.v_publicity_license.authority_uscc IS '许可机关统一社会信用代码（XK_XKJGDM）/ Licensing authority USCC';
COMMENT ON COLUMN mart.v_publicity_license.source_agency IS '数据来源单位（XK_LYDW）/ Source agency';
COMMENT ON COLUMN mart.v_publicity_license.source_agency_uscc IS '数据来源单位统一社会信用代码（XK_LYDWDM）/ Source agency USCC';
COMMENT ON COLUMN mart.v_publicity_license.publicity_start IS '公示开始日期 / First day of publicity';
COMMENT ON COLUMN mart.v_publicity_license.publicity_end IS '公示截止日期 / Last day of publicity';
COMMENT ON COLUMN mart.v_publicity_license.publicity_due IS
    '应公示截止日（决定日后第 7 个工作日）/ Publicity due: the 7th working day after the decision';
COMMENT ON COLUMN mart.v_publicity_license.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';


-- v_publicity_penalty --------------------------------------------------------------------------------
CREATE VIEW mart.v_publicity_penalty WITH (security_barrier) AS
SELECT f.record_uid,
       d.department_code,
       d.name_zh AS department_name,
       f.attributes ->> 'CF_XDR_MC' AS subject_name,
       f.attributes ->> 'CF_XDR_LB' AS subject_category,
       dw.mask_code(f.attributes ->> 'CF_XDR_SHXYM') AS uscc,
       f.attributes ->> 'CF_FRDB' AS legal_representative,
       f.attributes ->> 'CF_FR_ZJLX' AS legal_representative_id_type,
       dw.mask_id_number(f.attributes ->> 'CF_FR_ZJHM') AS legal_representative_id_number,
       f.attributes ->> 'CF_XDR_ZJLX' AS id_type,
       dw.mask_id_number(f.attributes ->> 'CF_XDR_ZJHM') AS id_number,
       f.document_number,
       f.attributes ->> 'CF_WFXW' AS violation_type,
       f.attributes ->> 'CF_SY' AS violation_facts,
       f.attributes ->> 'CF_YJ' AS legal_basis,
       f.attributes ->> 'CF_CFLB' AS penalty_types,
       f.attributes ->> 'CF_NR' AS penalty_content,
       f.fine_amount,
       (f.attributes ->> 'CF_NR_WFFF')::numeric AS confiscated_amount,
       f.attributes ->> 'CF_NR_ZKDX' AS licence_suspended_or_revoked,
       dd.date AS decision_date,
       dd.year_month AS decision_month,
       (f.attributes ->> 'CF_YXQ')::date AS valid_until,
       f.publicity_tier,
       f.attributes ->> 'CF_CFJG' AS authority,
       dw.mask_code(f.attributes ->> 'CF_CFJGDM') AS authority_uscc,
       f.attributes ->> 'CF_SJLY' AS source_agency,
       dw.mask_code(f.attributes ->> 'CF_SJLYDM') AS source_agency_uscc,
       f.publicity_start,
       f.publicity_end,
       f.publicity_due,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
 WHERE r.record_type_code = 'penalty'
   AND f.status = 'active'
   AND f.publicity_start <= (now() AT TIME ZONE 'Asia/Shanghai')::date
   AND f.publicity_end >= (now() AT TIME ZONE 'Asia/Shanghai')::date;

COMMENT ON VIEW mart.v_publicity_penalty IS
    '行政处罚公示（当前）：每条今天（北京时间）处于公示期内的有效行政处罚一行（已修复、已撤销、期满及不予公示的除外），证件号码已脱敏 / '
    'Penalties public now: one row per active penalty whose publicity window covers today (Asia/Shanghai); '
    'repaired, revoked, expired and unpublished ones are left out; ID numbers masked';
COMMENT ON COLUMN mart.v_publicity_penalty.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_publicity_penalty.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_publicity_penalty.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_publicity_penalty.subject_name IS '行政相对人名称（CF_XDR_MC）/ Subject name';
COMMENT ON COLUMN mart.v_publicity_penalty.subject_category IS
    '行政相对人类别（CF_XDR_LB）：法人及非法人组织、自然人、个体工商户 / Subject category';
COMMENT ON COLUMN mart.v_publicity_penalty.uscc IS '统一社会信用代码（CF_XDR_SHXYM）/ Unified social credit code (USCC)';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_representative IS '法定代表人（CF_FRDB）/ Legal representative';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_representative_id_type IS
    '法定代表人证件类型（CF_FR_ZJLX）/ Legal representative''s ID type';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_representative_id_number IS
    '法定代表人证件号码（CF_FR_ZJHM，已脱敏）/ Legal representative''s ID number, masked';
COMMENT ON COLUMN mart.v_publicity_penalty.id_type IS '证件类型（CF_XDR_ZJLX，自然人）/ ID type (natural persons)';
COMMENT ON COLUMN mart.v_publicity_penalty.id_number IS '证件号码（CF_XDR_ZJHM，已脱敏）/ ID number, masked';
COMMENT ON COLUMN mart.v_publicity_penalty.document_number IS '行政处罚决定书文号（CF_WSH）/ Penalty decision document number';
COMMENT ON COLUMN mart.v_publicity_penalty.violation_type IS '违法行为类型（CF_WFXW）/ Type of violation';
COMMENT ON COLUMN mart.v_publicity_penalty.violation_facts IS '违法事实（CF_SY）/ Facts of the violation';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_basis IS '处罚依据（CF_YJ）/ Legal basis';
COMMENT ON COLUMN mart.v_publicity_penalty.penalty_types IS '处罚类别（CF_CFLB，多个以分号分隔）/ Penalty types, separated by semicolons';
COMMENT ON COLUMN mart.v_publicity_penalty.penalty_content IS '处罚内容（CF_NR）/ Penalty content';
COMMENT ON COLUMN mart.v_publicity_penalty.fine_amount IS '罚款金额（CF_NR_FK，万元）/ Fine in 万元 (10,000 yuan)';
COMMENT ON COLUMN mart.v_publicity_penalty.confiscated_amount IS
    '没收违法所得、没收非法财物的金额（CF_NR_WFFF，万元）/ Confiscated amount in 万元';
COMMENT ON COLUMN mart.v_publicity_penalty.licence_suspended_or_revoked IS
    '暂扣或吊销证照名称及编号（CF_NR_ZKDX）/ Licence suspended or revoked';
COMMENT ON COLUMN mart.v_publicity_penalty.decision_date IS '处罚决定日期（CF_JDRQ）/ Decision date';
COMMENT ON COLUMN mart.v_publicity_penalty.decision_month IS '决定年月（YYYY-MM），按月筛选 / Decision month (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_publicity_penalty.valid_until IS '处罚有效期（CF_YXQ）/ Penalty valid until';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_tier IS
    '公示等级：ordinary 一般、serious 严重 / Publicity tier: ordinary or serious';
COMMENT ON COLUMN mart.v_publicity_penalty.authority IS '处罚机关（CF_CFJG）/ Penalising authority';
COMMENT ON COLUMN mart.v_publicity_penalty.authority_uscc IS '处罚机关统一社会信用代码（CF_CFJGDM）/ Penalising authority USCC';
COMMENT ON COLUMN mart.v_publicity_penalty.source_agency IS '数据来源单位（CF_SJLY）/ Source agency';
COMMENT ON COLUMN mart.v_publicity_penalty.source_agency_uscc IS '数据来源单位统一社会信用代码（CF_SJLYDM）/ Source agency USCC';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_start IS '公示开始日期 / First day of publicity';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_end IS '公示截止日期 / Last day of publicity';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_due IS
    '应公示截止日（决定日后第 7 个工作日）/ Publicity due: the 7th working day after the decision';
COMMENT ON COLUMN mart.v_publicity_penalty.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';


-- v_subject_profile ----------------------------------------------------------------------------------
-- Facts point at the subject version current when they were loaded, so a profile gathers the facts of
-- every version of the subject code. Counts leave out revoked records (the decision no longer stands).
-- Built for looking subjects up (by code or name, or paging through): each row's figures come from an
-- index lookup of that subject's facts. Not a security barrier: its only row filter is the current
-- version (older names are no secret) and a reader's condition cannot reach the facts inside the
-- aggregate, while a barrier would keep a name search (LIKE) from filtering subjects before the lookups.
CREATE VIEW mart.v_subject_profile AS
SELECT dw.mask_code(s.subject_code, s.code_kind) AS subject_code,
       s.code_kind,
       s.subject_type,
       s.name AS subject_name,
       s.legal_representative,
       s.valid_from AS version_valid_from,
       p.records,
       p.red_list_records,
       p.good_rating_records,
       p.red_list_records + p.good_rating_records AS positive_records,
       p.penalty_records,
       p.serious_dishonesty_records,
       p.dishonest_debtor_records,
       p.abnormal_operation_records,
       p.penalty_records + p.serious_dishonesty_records + p.dishonest_debtor_records
           + p.abnormal_operation_records AS negative_records,
       p.is_on_red_list,
       p.is_serious_dishonesty,
       p.is_dishonest_debtor,
       p.is_abnormal_operation,
       p.latest_rating,
       p.latest_rating_area,
       p.latest_rating_date,
       p.latest_record_date
  FROM dw.dim_subject AS s
 CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE f.status <> 'revoked') AS records,
              count(*) FILTER (WHERE r.record_type_code = 'red_list' AND f.status <> 'revoked') AS red_list_records,
              count(*) FILTER (WHERE r.record_type_code = 'credit_rating' AND f.status <> 'revoked'
                                 AND f.attributes ->> 'PJ_PJDJ' IN ('A', '优秀', '良好')) AS good_rating_records,
              count(*) FILTER (WHERE r.record_type_code = 'penalty' AND f.status <> 'revoked') AS penalty_records,
              count(*) FILTER (WHERE r.record_type_code = 'serious_dishonesty'
                                 AND f.status <> 'revoked') AS serious_dishonesty_records,
              count(*) FILTER (WHERE r.record_type_code = 'dishonest_debtor'
                                 AND f.status <> 'revoked') AS dishonest_debtor_records,
              count(*) FILTER (WHERE r.record_type_code = 'abnormal_operation'
                                 AND f.status <> 'revoked') AS abnormal_operation_records,
              coalesce(bool_or(r.record_type_code = 'red_list' AND f.status = 'active'
                               AND coalesce((f.attributes ->> 'RY_YXQZ')::date
                                            >= (now() AT TIME ZONE 'Asia/Shanghai')::date, true)), false)
                  AS is_on_red_list,
              coalesce(bool_or(r.record_type_code = 'serious_dishonesty' AND f.status = 'active'
                               AND coalesce((f.attributes ->> 'SX_YCRQ')::date
                                            > (now() AT TIME ZONE 'Asia/Shanghai')::date, true)), false)
                  AS is_serious_dishonesty,
              coalesce(bool_or(r.record_type_code = 'dishonest_debtor' AND f.status = 'active'), false)
                  AS is_dishonest_debtor,
              coalesce(bool_or(r.record_type_code = 'abnormal_operation' AND f.status = 'active'
                               AND coalesce((f.attributes ->> 'YC_YCRQ')::date
                                            > (now() AT TIME ZONE 'Asia/Shanghai')::date, true)), false)
                  AS is_abnormal_operation,
              (array_agg(f.attributes ->> 'PJ_PJDJ' ORDER BY f.decision_date_key DESC, f.record_key DESC)
                  FILTER (WHERE r.record_type_code = 'credit_rating' AND f.status = 'active'))[1] AS latest_rating,
              (array_agg(f.attributes ->> 'PJ_PJLY' ORDER BY f.decision_date_key DESC, f.record_key DESC)
                  FILTER (WHERE r.record_type_code = 'credit_rating' AND f.status = 'active'))[1]
                  AS latest_rating_area,
              to_date(max(f.decision_date_key) FILTER (WHERE r.record_type_code = 'credit_rating'
                                                         AND f.status = 'active')::text, 'YYYYMMDD')
                  AS latest_rating_date,
              to_date(max(f.decision_date_key) FILTER (WHERE f.status <> 'revoked')::text, 'YYYYMMDD')
                  AS latest_record_date
         FROM dw.dim_subject AS v
         JOIN dw.fact_credit_record AS f ON f.subject_key = v.subject_key
         JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
        WHERE v.subject_code = s.subject_code
       ) AS p
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


-- v_blacklist_current --------------------------------------------------------------------------------
CREATE VIEW mart.v_blacklist_current WITH (security_barrier) AS
SELECT f.record_uid,
       r.record_type_code AS list_type,
       r.name_zh AS list_name,
       d.department_code,
       d.name_zh AS department_name,
       dw.mask_code(s.subject_code, s.code_kind) AS subject_code,
       s.code_kind,
       s.subject_type,
       c.name AS subject_name,
       f.document_number,
       dd.date AS listed_date,
       dd.year_month AS listed_month,
       x.removal_date,
       f.attributes ->> 'SX_MDLX' AS list_area,
       coalesce(f.attributes ->> 'SX_LRYY', f.attributes ->> 'YC_LRYY', f.attributes ->> 'ZX_SXQX') AS reason,
       coalesce(f.attributes ->> 'SX_RDJG', f.attributes ->> 'YC_ZCJG', f.attributes ->> 'ZX_ZXFY') AS authority,
       f.attributes ->> 'ZX_LXQK' AS performance,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
  JOIN dw.dim_subject AS s ON s.subject_key = f.subject_key
  JOIN dw.dim_subject AS c ON c.subject_code = s.subject_code AND c.is_current
 CROSS JOIN LATERAL (SELECT coalesce(f.attributes ->> 'SX_YCRQ', f.attributes ->> 'YC_YCRQ')::date AS removal_date) AS x
 WHERE r.record_type_code IN ('serious_dishonesty', 'dishonest_debtor', 'abnormal_operation')
   AND f.status = 'active'
   -- Written against r as well, so that it is checked on the listings only, not on every active fact.
   AND (r.record_type_code = 'dishonest_debtor' OR x.removal_date IS NULL
        OR x.removal_date > (now() AT TIME ZONE 'Asia/Shanghai')::date);

COMMENT ON VIEW mart.v_blacklist_current IS
    '黑名单（当前）：每条今天仍有效的严重失信主体名单、失信被执行人、经营异常名录记录一行（未移出），主体标识已脱敏 / '
    'Blacklists now: one row per listing still in force today (serious dishonesty, dishonest judgment debtor, '
    'abnormal operation; not removed), subject codes masked';
COMMENT ON COLUMN mart.v_blacklist_current.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_blacklist_current.list_type IS
    '名单类型：serious_dishonesty 严重失信、dishonest_debtor 失信被执行人、abnormal_operation 经营异常 / List';
COMMENT ON COLUMN mart.v_blacklist_current.list_name IS '名单中文名称 / List name in Chinese';
COMMENT ON COLUMN mart.v_blacklist_current.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_blacklist_current.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_blacklist_current.subject_code IS
    '主体标识：统一社会信用代码原样，身份证号等证件号码脱敏 / Subject code: USCC as is, ID numbers masked';
COMMENT ON COLUMN mart.v_blacklist_current.code_kind IS '标识类型：uscc、id_number、other / Kind of subject code';
COMMENT ON COLUMN mart.v_blacklist_current.subject_type IS '行政相对人类别 / Subject category';
COMMENT ON COLUMN mart.v_blacklist_current.subject_name IS '主体当前名称 / Subject''s current name';
COMMENT ON COLUMN mart.v_blacklist_current.document_number IS '列入决定文书号或案号 / Listing document or case number';
COMMENT ON COLUMN mart.v_blacklist_current.listed_date IS '列入（发布）日期 / Listed (published) on';
COMMENT ON COLUMN mart.v_blacklist_current.listed_month IS '列入年月（YYYY-MM），按月筛选 / Month listed (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_blacklist_current.removal_date IS
    '已定的移出日期（晚于今天；空为未定）/ Removal date already set (after today); NULL when none';
COMMENT ON COLUMN mart.v_blacklist_current.list_area IS '严重失信名单类别（SX_MDLX）/ Area of a serious dishonesty listing';
COMMENT ON COLUMN mart.v_blacklist_current.reason IS
    '列入原因或失信情形（SX_LRYY、YC_LRYY、ZX_SXQX）/ Reason for listing or dishonest conduct';
COMMENT ON COLUMN mart.v_blacklist_current.authority IS
    '认定机关、作出决定机关或执行法院 / Listing authority, deciding authority or enforcing court';
COMMENT ON COLUMN mart.v_blacklist_current.performance IS
    '被执行人的履行情况（ZX_LXQK，仅失信被执行人）/ Performance of the judgment (dishonest debtors only)';
COMMENT ON COLUMN mart.v_blacklist_current.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';


-- v_redlist_current ----------------------------------------------------------------------------------
CREATE VIEW mart.v_redlist_current WITH (security_barrier) AS
SELECT f.record_uid,
       d.department_code,
       d.name_zh AS department_name,
       dw.mask_code(s.subject_code, s.code_kind) AS subject_code,
       s.code_kind,
       s.subject_type,
       c.name AS subject_name,
       f.attributes ->> 'RY_RYMC' AS honour,
       f.attributes ->> 'RY_RYJB' AS honour_level,
       f.document_number,
       dd.date AS award_date,
       dd.year_month AS award_month,
       (f.attributes ->> 'RY_YXQZ')::date AS valid_to,
       f.attributes ->> 'RY_RDJG' AS authority,
       dw.mask_code(f.attributes ->> 'RY_RDJGDM') AS authority_uscc,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
  JOIN dw.dim_subject AS s ON s.subject_key = f.subject_key
  JOIN dw.dim_subject AS c ON c.subject_code = s.subject_code AND c.is_current
 WHERE r.record_type_code = 'red_list'
   AND f.status = 'active'
   AND (r.record_type_code <> 'red_list'
        OR coalesce((f.attributes ->> 'RY_YXQZ')::date >= (now() AT TIME ZONE 'Asia/Shanghai')::date, true));

COMMENT ON VIEW mart.v_redlist_current IS
    '红名单（当前）：每条今天仍有效的诚实守信荣誉记录一行，主体标识已脱敏 / '
    'Red list now: one row per honour still valid today, subject codes masked';
COMMENT ON COLUMN mart.v_redlist_current.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_redlist_current.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_redlist_current.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_redlist_current.subject_code IS
    '主体标识：统一社会信用代码原样，身份证号等证件号码脱敏 / Subject code: USCC as is, ID numbers masked';
COMMENT ON COLUMN mart.v_redlist_current.code_kind IS '标识类型：uscc、id_number、other / Kind of subject code';
COMMENT ON COLUMN mart.v_redlist_current.subject_type IS '行政相对人类别 / Subject category';
COMMENT ON COLUMN mart.v_redlist_current.subject_name IS '主体当前名称 / Subject''s current name';
COMMENT ON COLUMN mart.v_redlist_current.honour IS '荣誉名称（RY_RYMC）/ Honour';
COMMENT ON COLUMN mart.v_redlist_current.honour_level IS '荣誉级别（RY_RYJB）：国家级、省级、市级、县级 / Level';
COMMENT ON COLUMN mart.v_redlist_current.document_number IS '认定文号（RY_WSH）/ Award document number';
COMMENT ON COLUMN mart.v_redlist_current.award_date IS '认定日期（RY_RDRQ）/ Award date';
COMMENT ON COLUMN mart.v_redlist_current.award_month IS '认定年月（YYYY-MM），按月筛选 / Award month (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_redlist_current.valid_to IS '有效期至（RY_YXQZ，空为长期）/ Valid to (NULL = no end date)';
COMMENT ON COLUMN mart.v_redlist_current.authority IS '认定机关（RY_RDJG）/ Awarding authority';
COMMENT ON COLUMN mart.v_redlist_current.authority_uscc IS '认定机关统一社会信用代码（RY_RDJGDM）/ Awarding authority USCC';
COMMENT ON COLUMN mart.v_redlist_current.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';


-- v_department_submission ----------------------------------------------------------------------------
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


-- v_indicator_latest ---------------------------------------------------------------------------------
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


-- Roles ----------------------------------------------------------------------------------------------
-- Roles belong to the whole server and may already exist (another warehouse database on the server, or
-- a concurrent migration of one): create them when missing, and comment them only then (a shared
-- catalog row two migrations would otherwise update at once). Privileges belong to this database.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bi_reader') THEN
        CREATE ROLE bi_reader NOLOGIN;
        COMMENT ON ROLE bi_reader IS
            'BI 只读角色：仅可查询 mart 集市层视图（身份证号已脱敏）/ BI reader: SELECT on the mart views only (ID numbers masked)';
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a concurrent migration
END
$roles$;
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'etl_writer') THEN
        CREATE ROLE etl_writer NOLOGIN;
        COMMENT ON ROLE etl_writer IS
            '数据管道角色：读写 staging、dw、audit、outbox，查询 mart / Pipeline: read and write staging, dw, audit, outbox; read mart';
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$roles$;

DO $grants$
BEGIN
    EXECUTE 'GRANT CONNECT ON DATABASE ' || quote_ident(current_database()) || ' TO bi_reader';
    EXECUTE 'GRANT CONNECT, TEMPORARY ON DATABASE ' || quote_ident(current_database()) || ' TO etl_writer';
END
$grants$;

-- Nobody reaches the restricted layers by default; the mart only through these grants.
REVOKE ALL ON SCHEMA staging, dw, audit, outbox, mart FROM PUBLIC;
REVOKE ALL ON SCHEMA staging, dw, audit, outbox FROM bi_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA staging, dw, audit, outbox FROM bi_reader;

GRANT USAGE ON SCHEMA mart TO bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO bi_reader;
-- Mart views added by later migrations (run by the same role) are readable without another GRANT.
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO bi_reader;

GRANT USAGE, CREATE ON SCHEMA staging, dw, audit, outbox, mart TO etl_writer;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON ALL TABLES IN SCHEMA staging, dw, audit, outbox
    TO etl_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO etl_writer;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA staging, dw, audit, outbox TO etl_writer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA staging, dw, audit, outbox, mart TO etl_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, dw, audit, outbox
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON TABLES TO etl_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO etl_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, dw, audit, outbox GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO etl_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, dw, audit, outbox, mart GRANT EXECUTE ON FUNCTIONS TO etl_writer;
