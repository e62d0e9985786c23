-- The check for one code: what a business system calls before granting a subsidy or an honour. The same
-- check, limits and log as mart.credit_check_batch, for one input.
-- (No percent sign and no colon directly followed by a word character: see 002.)
DROP FUNCTION IF EXISTS mart.credit_check(text, text, date);
CREATE FUNCTION mart.credit_check(given_code text, purpose text DEFAULT NULL, as_of date DEFAULT NULL)
RETURNS TABLE (
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
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT b.code, b.code_kind, b.is_valid, b.lookup_status, b.is_found, b.subject_name, b.subject_type,
           b.is_on_serious_dishonesty_list, b.is_dishonest_debtor, b.active_penalty_count,
           b.is_on_abnormal_operation_list, b.has_low_rating, b.is_on_red_list, b.latest_rating, b.verdict,
           b.reasons, b.measures, b.checked_on, b.data_as_of, b.refusal
      FROM mart.credit_check_batch(ARRAY[given_code], NULL::text[], purpose, as_of) AS b
$fn$;
COMMENT ON FUNCTION mart.credit_check(text, text, date) IS
    '联合奖惩核查：按统一社会信用代码或身份证号返回结论（pass 通过 / veto 一票否决 / review 审慎核查 / unchecked 无法核查 / '
    'refused 拒绝查询）、名单情况与适用措施；身份证号脱敏；须说明查询事由，记入信用查询日志 / Credit check by USCC or ID '
    'number: verdict, list status and the measures that apply; ID numbers masked; a purpose is required and the '
    'query is logged';
SELECT dw.grant_credit_check();
