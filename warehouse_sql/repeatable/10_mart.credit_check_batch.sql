-- The credit check for many codes at once (a subsidy review's 500 firms, or 100,000 of them): one set-based
-- query, for the role credit_checker (dw.grant_credit_check). codes[i] (and names[i], when given) describe
-- input row i; the result has one row per input row. A code is normalised (dw.normalize_code), classified and
-- looked up among current subjects; a row without a usable code is looked up by its name (names[i], or the
-- code cell itself when it holds Chinese text) among organisations, and only a unique exact match counts.
-- Never returns an unmasked ID number: `code` is shown in full only when it is a USCC (dw.mask_code).
--
-- Every call is logged in audit.credit_query (信用查询日志): who (session user, declared operator, application,
-- client address), when, the purpose, how many codes and ID numbers, what was found, or why it was refused.
-- A call is refused, every row with verdict 'refused' and the reason in `refusal`, when it gives no purpose;
-- when it runs inside a transaction block (a rollback would erase its log entry: call in autocommit mode);
-- or when it exceeds the limits of dw.credit_query_limit (etl/catalog/measures.yml: query_limits): codes or
-- ID numbers per call, ID numbers per user and day (kept in a sequence per user, which neither a rollback
-- nor a dropped connection undoes), or more ID numbers of one masked form per user and day than a person
-- could have reason to ask about (the candidates of an enumeration share the masked form they come from).
-- (No percent sign and no colon directly followed by a word character: see 002.)
DROP FUNCTION IF EXISTS mart.credit_check(text, text, date);
DROP FUNCTION IF EXISTS mart.credit_check_batch(text[], text[], text, date);
CREATE FUNCTION mart.credit_check_batch(codes text[], names text[] DEFAULT NULL, purpose text DEFAULT NULL,
                                        as_of date DEFAULT NULL)
RETURNS TABLE (
    ordinal                       integer,
    code                          text,
    code_kind                     text,
    is_valid                      boolean,
    lookup_status                 text,
    is_found                      boolean,
    subject_name                  text,
    subject_type                  text,
    is_on_serious_dishonesty_list boolean,
    is_dishonest_debtor           boolean,
    active_penalty_count          integer,
    is_on_abnormal_operation_list boolean,
    has_low_rating                boolean,
    is_on_red_list                boolean,
    latest_rating                 jsonb,
    verdict                       text,
    reasons                       jsonb,
    measures                      jsonb,
    checked_on                    date,
    data_as_of                    timestamptz,
    refusal                       text
)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    check_day  date := coalesce(as_of, (now() AT TIME ZONE 'Asia/Shanghai')::date);
    today      date := (now() AT TIME ZONE 'Asia/Shanghai')::date;
    day_number bigint := (now() AT TIME ZONE 'Asia/Shanghai')::date - DATE '2000-01-01';
    lookback   integer;
    max_codes  integer;
    max_ids    integer;
    max_daily  integer;
    max_alike  integer;
    id_inputs  text[];
    masked     text[];
    digests    text[];
    alike      integer;
    quota      text;
    used       bigint;
    used_today bigint := 0;
    why        text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dw.dim_measure m WHERE m.is_active) THEN
        RAISE EXCEPTION 'the measures list is empty: run creditwh init to seed dw.dim_measure'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT max(l.value) FILTER (WHERE l.limit_code = 'max_codes_per_call'),
           max(l.value) FILTER (WHERE l.limit_code = 'max_id_numbers_per_call'),
           max(l.value) FILTER (WHERE l.limit_code = 'max_id_numbers_per_day'),
           max(l.value) FILTER (WHERE l.limit_code = 'max_same_masked_per_day')
      INTO max_codes, max_ids, max_daily, max_alike
      FROM dw.credit_query_limit AS l;
    IF max_codes IS NULL OR max_ids IS NULL OR max_daily IS NULL OR max_alike IS NULL THEN
        RAISE EXCEPTION 'the credit-query limits are not set: run creditwh init to seed dw.credit_query_limit'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT c.lookback_months INTO lookback FROM dw.dim_check_condition c WHERE c.condition_code = 'active_penalty';

    -- The citizen ID numbers asked about, and their masked forms.
    SELECT coalesce(array_agg(x.n), '{}'), coalesce(array_agg(dw.mask_code(x.n, 'id_number')), '{}'),
           coalesce(array_agg(encode(sha256(convert_to(x.n, 'UTF8')), 'hex')), '{}')
      INTO id_inputs, masked, digests
      FROM (SELECT dw.normalize_code(c.raw) AS n FROM unnest(codes) AS c (raw)) AS x
     WHERE dw.is_valid_id_number(x.n);

    IF cardinality(id_inputs) > 0 THEN
        quota := 'audit.credit_quota_' || (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = session_user)::text;
        IF to_regclass(quota) IS NOT NULL THEN  -- made by dw.grant_credit_check (creditwh init)
            PERFORM pg_advisory_xact_lock(hashtext(quota));
            EXECUTE 'SELECT last_value FROM ' || quota INTO used;
            IF used / 10000000 = day_number THEN
                used_today := mod(used, 10000000);
            END IF;
        END IF;
        -- Different people whose numbers look the same once masked: one person asked about again is one.
        SELECT coalesce(max(n.people), 0)::integer INTO alike
          FROM (SELECT m.form, count(DISTINCT m.digest) AS people
                  FROM (SELECT u.form, u.digest FROM unnest(masked, digests) AS u (form, digest)
                        UNION ALL
                        SELECT u.form, u.digest
                          FROM audit.credit_query AS q
                         CROSS JOIN LATERAL unnest(q.masked_ids, q.id_digests) AS u (form, digest)
                         WHERE q.db_user = session_user AND NOT q.refused
                           AND q.queried_at >= (today::timestamp AT TIME ZONE 'Asia/Shanghai')) AS m
                 WHERE m.form = ANY (masked)
                 GROUP BY m.form) AS n;
    END IF;

    why := CASE
        WHEN purpose IS NULL OR btrim(purpose) = '' THEN
            '未说明查询事由 / no purpose given: every credit query states why it is made'
        WHEN cardinality(id_inputs) > 0 AND to_regclass(quota) IS NULL THEN
            '该数据库用户尚未登记查询限额，请管理员运行 creditwh init / this database user has no query count yet: '
            || 'an administrator runs creditwh init after granting credit_checker'
        WHEN transaction_timestamp() <> statement_timestamp() THEN
            '须在自动提交模式下调用，不得置于显式事务中（否则查询日志可被回滚）/ call in autocommit mode, not inside a '
            || 'transaction block: the query log must not be rolled back'
        WHEN coalesce(cardinality(codes), 0) > max_codes THEN
            '单次查询 ' || cardinality(codes) || ' 个代码，超过上限 ' || max_codes || ' / ' || cardinality(codes)
            || ' codes in one call, above the limit of ' || max_codes
        WHEN cardinality(id_inputs) > max_ids THEN
            '单次查询 ' || cardinality(id_inputs) || ' 个身份证号，超过上限 ' || max_ids || ' / ' || cardinality(id_inputs)
            || ' ID numbers in one call, above the limit of ' || max_ids
        WHEN cardinality(id_inputs) > 0 AND used_today + cardinality(id_inputs) > max_daily THEN
            '今日已查询 ' || used_today || ' 个身份证号，本次 ' || cardinality(id_inputs) || ' 个将超过每日上限 '
            || max_daily || ' / ' || used_today || ' ID numbers asked today; ' || cardinality(id_inputs)
            || ' more would exceed the daily limit of ' || max_daily
        WHEN cardinality(id_inputs) > 0 AND alike > max_alike THEN
            '今日所查身份证号中有 ' || alike || ' 个不同号码脱敏后相同，疑似枚举，已拒绝 / ' || alike || ' different ID '
            || 'numbers asked about today look the same once masked: refused as an enumeration'
    END;
    IF why IS NULL AND cardinality(id_inputs) > 0 THEN
        -- setval is not undone by a rollback: the day's count stands whatever the caller does next.
        PERFORM setval(quota, day_number * 10000000 + used_today + cardinality(id_inputs));
    END IF;

    IF why IS NOT NULL THEN
        INSERT INTO audit.credit_query (operator, application, client_addr, purpose, codes_in, id_numbers_in,
                                        refused, refusal, masked_ids, id_digests)
        VALUES (nullif(current_setting('creditwh.operator', true), ''), current_setting('application_name', true),
                inet_client_addr(), purpose, coalesce(cardinality(codes), 0), cardinality(id_inputs), true, why,
                masked, digests);
        RETURN QUERY
        SELECT c.ordinal::integer, NULL::text, NULL::text, NULL::boolean, 'refused', false, NULL::text, NULL::text,
               NULL::boolean, NULL::boolean, NULL::integer, NULL::boolean, NULL::boolean, NULL::boolean, NULL::jsonb,
               'refused', '[]'::jsonb, '[]'::jsonb, check_day, NULL::timestamptz, why
          FROM generate_subscripts(coalesce(codes, '{}'::text[]), 1) AS c (ordinal)
         ORDER BY c.ordinal;
        RETURN;
    END IF;

    RETURN QUERY
    -- MATERIALIZED: the normalised code is computed once per row, not once per reference below
    WITH input AS MATERIALIZED (
        SELECT c.ordinal::integer AS ordinal,
               nullif(dw.normalize_code(c.raw), '') AS ncode,
               nullif(btrim(c.raw, E' \t\r\n\u3000'), '') AS raw_code,
               nullif(btrim(n.raw, E' \t\r\n\u3000'), '') AS given_name
          FROM unnest(codes) WITH ORDINALITY AS c (raw, ordinal)
          LEFT JOIN unnest(names) WITH ORDINALITY AS n (raw, ordinal) ON n.ordinal = c.ordinal
    ),

    classified AS (
        SELECT i.*,
               CASE WHEN i.ncode IS NULL THEN 'none'
                    WHEN dw.is_valid_id_number(i.ncode) THEN 'id_number'
                    -- passes the checksum or is on the reviewed allow-list (dw.is_accepted_uscc, set-based)
                    WHEN dw.is_valid_uscc(i.ncode) OR a.code IS NOT NULL THEN 'uscc'
                    ELSE 'unknown' END AS input_kind,
               -- Chinese text in the code cell: a name typed where the code belongs
               coalesce(octet_length(i.raw_code) > char_length(i.raw_code), false) AS looks_like_name
          FROM input AS i
          LEFT JOIN dw.uscc_allow_list AS a ON a.code = i.ncode
    ),

    by_code AS (
        SELECT c.ordinal, s.subject_code
          FROM classified AS c
          JOIN dw.dim_subject AS s ON s.subject_code = c.ncode AND s.is_current
    ),

    -- names compare with brackets of either width
    name_wanted AS (
        SELECT c.ordinal,
               translate(coalesce(c.given_name, CASE WHEN c.looks_like_name THEN c.raw_code END), '（）', '()')
                   AS wanted
          FROM classified AS c
         WHERE c.input_kind IN ('none', 'unknown')
           AND (c.given_name IS NOT NULL OR c.looks_like_name)
           AND NOT EXISTS (SELECT 1 FROM by_code AS b WHERE b.ordinal = c.ordinal)
    ),

    organisations AS (
        SELECT s.subject_code, translate(s.name, '（）', '()') AS name_key
          FROM dw.dim_subject AS s
         WHERE s.is_current AND s.code_kind = 'uscc'
           AND EXISTS (SELECT 1 FROM name_wanted)
    ),

    by_name AS (
        SELECT w.ordinal, min(o.subject_code) AS subject_code, count(*) AS matches
          FROM name_wanted AS w
          JOIN organisations AS o ON o.name_key = w.wanted
         GROUP BY w.ordinal
    ),

    resolved AS (
        SELECT c.ordinal, c.ncode, c.input_kind,
               coalesce(b.subject_code, CASE WHEN n.matches = 1 THEN n.subject_code END) AS subject_code,
               CASE WHEN b.subject_code IS NOT NULL THEN 'found'
                    WHEN n.matches = 1 THEN 'found_by_name'
                    WHEN n.matches > 1 THEN 'name_ambiguous'
                    WHEN c.ncode IS NULL AND c.given_name IS NULL THEN 'empty'
                    WHEN c.input_kind IN ('uscc', 'id_number') THEN 'not_found'
                    WHEN c.input_kind = 'unknown' AND NOT c.looks_like_name THEN 'invalid'
                    ELSE 'name_not_found' END AS lookup_status
          FROM classified AS c
          LEFT JOIN by_code AS b ON b.ordinal = c.ordinal
          LEFT JOIN by_name AS n ON n.ordinal = c.ordinal
    ),

    subjects AS (
        SELECT DISTINCT r.subject_code FROM resolved AS r WHERE r.subject_code IS NOT NULL
    ),

    -- every version of the subject: facts keep the subject version they were loaded with
    facts AS (
        SELECT x.subject_code, t.record_type_code, f.attributes,
               to_date(f.decision_date_key::text, 'YYYYMMDD') AS decision_date
          FROM subjects AS x
          JOIN dw.dim_subject AS v ON v.subject_code = x.subject_code
          JOIN dw.fact_credit_record AS f ON f.subject_key = v.subject_key
          JOIN dw.dim_record_type AS t ON t.record_type_key = f.record_type_key
         WHERE t.record_type_code IN ('serious_dishonesty', 'dishonest_debtor', 'penalty', 'abnormal_operation',
                                      'red_list', 'credit_rating')
           AND dw.is_record_in_force(t.record_type_code, f.status, f.attributes,
                                     to_date(f.decision_date_key::text, 'YYYYMMDD'), f.publicity_start,
                                     f.publicity_end, f.publicity_tier, lookback, check_day)
    ),

    latest_ratings AS (
        SELECT DISTINCT ON (f.subject_code, f.attributes ->> 'PJ_PJLY')
               f.subject_code, f.attributes ->> 'PJ_PJLY' AS area, f.attributes ->> 'PJ_PJDJ' AS grade,
               f.attributes ->> 'PJ_PJND' AS rating_year, f.decision_date
          FROM facts AS f
         WHERE f.record_type_code = 'credit_rating'
         ORDER BY f.subject_code, f.attributes ->> 'PJ_PJLY', f.decision_date DESC,
                  (f.attributes ->> 'PJ_PJND') COLLATE "C" DESC, (f.attributes ->> 'PJ_WSH') COLLATE "C" DESC
    ),

    hits AS (
        SELECT f.subject_code, m.condition_code, f.decision_date, NULL::text AS detail
          FROM facts AS f
          JOIN (VALUES ('serious_dishonesty', 'serious_dishonesty'), ('dishonest_debtor', 'dishonest_debtor'),
                       ('penalty', 'active_penalty'), ('abnormal_operation', 'abnormal_operation'),
                       ('red_list', 'red_list')) AS m (record_type_code, condition_code)
            ON m.record_type_code = f.record_type_code
        UNION ALL
        SELECT r.subject_code, 'low_rating', r.decision_date, r.area || ' ' || r.grade
          FROM latest_ratings AS r
          JOIN dw.dim_check_condition AS c ON c.condition_code = 'low_rating'
         WHERE r.grade = ANY (c.grades)
    ),

    condition_hits AS (
        SELECT h.subject_code, h.condition_code, count(*)::integer AS records,
               min(h.decision_date) AS first_date, max(h.decision_date) AS last_date,
               string_agg(h.detail, '、' ORDER BY h.detail) AS detail
          FROM hits AS h
         GROUP BY h.subject_code, h.condition_code
    ),

    per_subject AS (
        SELECT h.subject_code,
               array_agg(h.condition_code) AS conditions,
               coalesce(sum(h.records) FILTER (WHERE h.condition_code = 'active_penalty'), 0)::integer AS penalties,
               jsonb_agg(jsonb_build_object(
                   'condition', h.condition_code, 'polarity', c.polarity, 'name_zh', c.name_zh, 'name_en', c.name_en,
                   'records', h.records, 'first_date', h.first_date, 'last_date', h.last_date, 'detail', h.detail)
                   ORDER BY c.sort_order) AS reasons
          FROM condition_hits AS h
          JOIN dw.dim_check_condition AS c ON c.condition_code = h.condition_code
         GROUP BY h.subject_code
    ),

    applicable AS (
        SELECT p.subject_code,
               bool_or(m.verdict = 'veto') AS vetoed,
               bool_or(m.verdict = 'review') AS reviewed,
               jsonb_agg(jsonb_build_object(
                   'measure', m.measure_code, 'condition', m.condition_code, 'kind', m.kind, 'verdict', m.verdict,
                   'name_zh', m.name_zh, 'name_en', m.name_en, 'legal_basis', m.legal_basis)
                   ORDER BY c.sort_order, m.sort_order) AS measures
          FROM per_subject AS p
          JOIN dw.dim_measure AS m
            ON m.is_active AND m.condition_code = ANY (p.conditions) AND NOT (m.unless_conditions && p.conditions)
          JOIN dw.dim_check_condition AS c ON c.condition_code = m.condition_code
         GROUP BY p.subject_code
    ),

    latest_rating AS (
        SELECT DISTINCT ON (r.subject_code) r.subject_code,
               jsonb_build_object('area', r.area, 'grade', r.grade, 'year', r.rating_year, 'rated_on', r.decision_date)
                   AS rating
          FROM latest_ratings AS r
         ORDER BY r.subject_code, r.decision_date DESC, r.area
    ),

    loaded AS (
        SELECT max(b.updated_at) AS loaded_at FROM audit.batch AS b WHERE b.status = 'loaded'
    ),

    result (ordinal, code, code_kind, is_valid, lookup_status, is_found, subject_name, subject_type,
            is_on_serious_dishonesty_list, is_dishonest_debtor, active_penalty_count, is_on_abnormal_operation_list,
            has_low_rating, is_on_red_list, latest_rating, verdict, reasons, measures, checked_on, data_as_of,
            subject_key) AS MATERIALIZED (
        SELECT r.ordinal,
               dw.mask_code(shown.code, shown.kind),  -- as the marts show codes: only a USCC in full
               shown.kind,
               r.input_kind IN ('uscc', 'id_number'),
               r.lookup_status,
               r.subject_code IS NOT NULL,
               s.name,
               s.subject_type,
               CASE WHEN checked THEN coalesce('serious_dishonesty' = ANY (p.conditions), false) END,
               CASE WHEN checked THEN coalesce('dishonest_debtor' = ANY (p.conditions), false) END,
               CASE WHEN checked THEN coalesce(p.penalties, 0) END,
               CASE WHEN checked THEN coalesce('abnormal_operation' = ANY (p.conditions), false) END,
               CASE WHEN checked THEN coalesce('low_rating' = ANY (p.conditions), false) END,
               CASE WHEN checked THEN coalesce('red_list' = ANY (p.conditions), false) END,
               lr.rating,
               CASE WHEN NOT checked THEN 'unchecked'
                    WHEN a.vetoed THEN 'veto'
                    WHEN a.reviewed THEN 'review'
                    ELSE 'pass' END,
               coalesce(p.reasons, '[]'::jsonb),
               coalesce(a.measures, '[]'::jsonb),
               check_day,
               loaded.loaded_at,
               s.subject_key
          FROM resolved AS r
          LEFT JOIN dw.dim_subject AS s ON s.subject_code = r.subject_code AND s.is_current
          LEFT JOIN per_subject AS p ON p.subject_code = r.subject_code
          LEFT JOIN applicable AS a ON a.subject_code = r.subject_code
          LEFT JOIN latest_rating AS lr ON lr.subject_code = r.subject_code
         CROSS JOIN loaded
         CROSS JOIN LATERAL (
             SELECT r.subject_code IS NOT NULL OR r.lookup_status = 'not_found' AS checked
         ) AS c1 (checked)
         CROSS JOIN LATERAL (
             -- a subject found by name shows its own code; otherwise the code as given, classified above
             SELECT r.subject_code,
                    CASE WHEN dw.is_valid_id_number(r.subject_code) THEN 'id_number'
                         WHEN dw.is_accepted_uscc(r.subject_code) THEN 'uscc'  -- migration 014
                         ELSE 'unknown' END
              WHERE r.lookup_status = 'found_by_name'
             UNION ALL
             SELECT r.ncode, r.input_kind
              WHERE r.lookup_status IN ('found', 'not_found', 'invalid')
             UNION ALL
             SELECT NULL, NULL
              WHERE r.lookup_status NOT IN ('found_by_name', 'found', 'not_found', 'invalid')
         ) AS shown (code, kind)
    ),

    logged AS (
        INSERT INTO audit.credit_query (operator, application, client_addr, purpose, codes_in, id_numbers_in,
                                        found, vetoed, refused, masked_ids, id_digests, subject_keys)
        SELECT nullif(current_setting('creditwh.operator', true), ''), current_setting('application_name', true),
               inet_client_addr(), purpose, coalesce(cardinality(codes), 0), cardinality(id_inputs),
               count(*) FILTER (WHERE x.is_found), count(*) FILTER (WHERE x.verdict = 'veto'), false, masked, digests,
               coalesce(array_agg(DISTINCT x.subject_key) FILTER (WHERE x.subject_key IS NOT NULL), '{}')
          FROM result AS x
        RETURNING 1
    )

    SELECT x.ordinal, x.code, x.code_kind, x.is_valid, x.lookup_status, x.is_found, x.subject_name, x.subject_type,
           x.is_on_serious_dishonesty_list, x.is_dishonest_debtor, x.active_penalty_count,
           x.is_on_abnormal_operation_list, x.has_low_rating, x.is_on_red_list, x.latest_rating, x.verdict,
           x.reasons, x.measures, x.checked_on, x.data_as_of, NULL::text
      FROM result AS x
     WHERE (SELECT count(*) FROM logged) = 1
     ORDER BY x.ordinal;
END
$fn$;
COMMENT ON FUNCTION mart.credit_check_batch(text[], text[], text, date) IS
    '联合奖惩批量核查：每个输入代码（或名称）一行，含结论、原因和适用措施；身份证号脱敏；每次调用记入信用查询日志，'
    '超出限额或未说明事由的查询被拒绝 / Credit check for many codes (or names) at once: one row per input with '
    'verdict, reasons and measures; ID numbers masked; every call logged, calls over the limits or without a '
    'purpose refused';
SELECT dw.grant_credit_check();
