-- Who may ask the credit check, how much, and the log of every query (信用查询日志).
--
-- BI reads the mart views only (bi_reader). The check for business systems is its own role, credit_checker:
-- EXECUTE on mart.credit_check and mart.credit_check_batch (warehouse_sql/repeatable/), nothing else. Every
-- call is logged in audit.credit_query, refused ones included; the limits of dw.credit_query_limit (from
-- etl/catalog/measures.yml) refuse bulk enumeration; the daily count of ID numbers is kept in a sequence per
-- database user, which a rollback or a dropped connection cannot undo.
-- (No percent sign and no colon directly followed by a word character: see 002.)

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'credit_checker') THEN
        CREATE ROLE credit_checker NOLOGIN;
        COMMENT ON ROLE credit_checker IS
            '信用核查角色：业务系统调用联合奖惩核查函数，每次查询均记入信用查询日志 / Credit check: business systems '
            'call the credit-check functions; every query is logged';
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a concurrent migration
END
$roles$;

DO $grants$
BEGIN
    EXECUTE 'GRANT CONNECT ON DATABASE ' || quote_ident(current_database()) || ' TO credit_checker';
END
$grants$;
GRANT USAGE ON SCHEMA mart TO credit_checker;

CREATE TABLE dw.credit_query_limit (
    limit_code text        PRIMARY KEY CHECK (limit_code IN ('max_codes_per_call', 'max_id_numbers_per_call',
                                                             'max_id_numbers_per_day', 'max_same_masked_per_day')),
    value      integer     NOT NULL CHECK (value > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dw.credit_query_limit IS
    '信用查询限额：每项限额一行（来自 measures.yml）/ Credit-query limits: one row per limit (from measures.yml)';
COMMENT ON COLUMN dw.credit_query_limit.limit_code IS '限额编码 / Limit';
COMMENT ON COLUMN dw.credit_query_limit.value IS '限额值 / Value';
COMMENT ON COLUMN dw.credit_query_limit.updated_at IS '最近一次从清单同步的时间（UTC）/ Last synchronised (UTC)';

CREATE TABLE audit.credit_query (
    query_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queried_at       timestamptz NOT NULL DEFAULT now(),
    db_user          text        NOT NULL DEFAULT session_user,
    operator         text,
    application      text,
    client_addr      inet,
    purpose          text,
    codes_in         integer     NOT NULL,
    id_numbers_in    integer     NOT NULL,
    found            integer     NOT NULL DEFAULT 0,
    vetoed           integer     NOT NULL DEFAULT 0,
    refused          boolean     NOT NULL,
    refusal          text,
    masked_ids       text[]      NOT NULL DEFAULT '{}',
    id_digests       text[]      NOT NULL DEFAULT '{}',
    subject_keys     bigint[]    NOT NULL DEFAULT '{}'
);
CREATE INDEX credit_query_user_day_idx ON audit.credit_query (db_user, queried_at);
COMMENT ON TABLE audit.credit_query IS
    '信用查询日志：每次调用联合奖惩核查一行（含被拒绝的查询）/ Credit query log: one row per call of the credit '
    'check, refused calls included';
COMMENT ON COLUMN audit.credit_query.query_id IS '查询序号 / Query id';
COMMENT ON COLUMN audit.credit_query.queried_at IS '查询时间（UTC）/ When (UTC)';
COMMENT ON COLUMN audit.credit_query.db_user IS '数据库用户（会话用户）/ Database user of the session';
COMMENT ON COLUMN audit.credit_query.operator IS
    '操作人（调用方声明，如命令行的系统用户）/ Operator as the caller declares it (creditwh: the OS user)';
COMMENT ON COLUMN audit.credit_query.application IS '应用名（application_name）/ Application name of the session';
COMMENT ON COLUMN audit.credit_query.client_addr IS '客户端地址 / Client address';
COMMENT ON COLUMN audit.credit_query.purpose IS '查询事由 / Purpose given';
COMMENT ON COLUMN audit.credit_query.codes_in IS '输入的代码或名称个数 / Codes or names asked about';
COMMENT ON COLUMN audit.credit_query.id_numbers_in IS '其中身份证号个数 / Of which citizen ID numbers';
COMMENT ON COLUMN audit.credit_query.found IS '查到的主体数 / Subjects found';
COMMENT ON COLUMN audit.credit_query.vetoed IS '一票否决的个数 / Of which vetoed';
COMMENT ON COLUMN audit.credit_query.refused IS '是否被拒绝 / Whether the call was refused';
COMMENT ON COLUMN audit.credit_query.refusal IS '拒绝原因 / Why it was refused';
COMMENT ON COLUMN audit.credit_query.masked_ids IS
    '所查身份证号（已脱敏），用于识别枚举 / ID numbers asked about, masked (to recognise enumeration)';
COMMENT ON COLUMN audit.credit_query.id_digests IS
    '所查身份证号的 SHA-256（与 masked_ids 一一对应），用于区分同一人与不同人 / SHA-256 of each ID number asked '
    'about, in the order of masked_ids: tells one person asked twice from two people';
COMMENT ON COLUMN audit.credit_query.subject_keys IS '查到的主体版本 / Subject versions found';

-- The functions change shape (a purpose, a refusal column): the new ones are repeatable definitions.
DROP FUNCTION mart.credit_check(text, date);
DROP FUNCTION mart.credit_check_batch(text[], text[], date);

-- Called by `creditwh init` (seed_measures): the check functions for credit_checker only (a BI reader never
-- had a reason to call them: it could rebuild a masked number by trying candidates), and the day's count of ID
-- numbers for every member of credit_checker and for the caller. The count is a sequence, made here and not in
-- the check: a sequence made inside a call would vanish with a call whose connection is dropped. A login granted
-- credit_checker later is refused until `creditwh init` (or this function) has run again.
CREATE OR REPLACE FUNCTION dw.grant_credit_check() RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
    fn text;
    grantee text;
    counted text[];
BEGIN
    SELECT array_agg(r.rolname ORDER BY r.rolname) INTO counted
      FROM pg_roles AS r
     WHERE r.oid = ANY (ARRAY(
               WITH RECURSIVE members (oid) AS (
                   SELECT m.member FROM pg_auth_members AS m JOIN pg_roles AS c ON c.oid = m.roleid
                    WHERE c.rolname = 'credit_checker'
                   UNION
                   SELECT m.member FROM pg_auth_members AS m JOIN members ON m.roleid = members.oid)
               SELECT oid FROM members))
        OR r.rolname = current_user;
    FOREACH grantee IN ARRAY counted LOOP
        EXECUTE 'CREATE SEQUENCE IF NOT EXISTS audit.credit_quota_'
                || (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = grantee)::text || ' MINVALUE 0 START 0';
    END LOOP;
    FOREACH fn IN ARRAY ARRAY['mart.credit_check(text, text, date)', 'mart.credit_check_batch(text[], text[], text, date)']
    LOOP
        IF to_regprocedure(fn) IS NOT NULL THEN
            EXECUTE 'REVOKE ALL ON FUNCTION ' || fn || ' FROM PUBLIC';
            FOREACH grantee IN ARRAY ARRAY['bi_reader', 'etl_writer'] LOOP
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = grantee) THEN
                    EXECUTE 'REVOKE ALL ON FUNCTION ' || fn || ' FROM ' || quote_ident(grantee);
                END IF;
            END LOOP;
            EXECUTE 'GRANT EXECUTE ON FUNCTION ' || fn || ' TO credit_checker';
        END IF;
    END LOOP;
    RETURN counted;
END
$fn$;
COMMENT ON FUNCTION dw.grant_credit_check() IS
    '联合奖惩核查函数仅授予 credit_checker 角色 / Grant EXECUTE on the credit-check functions to credit_checker only';
