-- Personal data anywhere: schema pii holds the functions that mask identity numbers, in ID fields and in
-- free text, by the rules of etl/catalog/personal_data.yml. Their real bodies are compiled from that file
-- by the migration runner right after the numbered migrations (etl.personal.install_sql); the ones below
-- only stand in until then, and mask every digit, so that nothing is ever shown whole.
--
-- Views and functions that change with the code live one per file under warehouse_sql/repeatable/ and are
-- re-applied whenever their file changes (audit.schema_repeatable records which version is in place).
-- (No percent sign and no colon directly followed by a word character: see 002.)

CREATE SCHEMA pii;
COMMENT ON SCHEMA pii IS '个人信息脱敏函数 / Personal-data masking functions';
-- Masking is for everyone: BI reads views that call these functions, and they read no table.
GRANT USAGE ON SCHEMA pii TO PUBLIC;

CREATE FUNCTION pii.mask_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT regexp_replace(t, '[0-9０-９]', '*', 'g')
$fn$;

CREATE FUNCTION pii.mask_id(value text, label text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT repeat('*', char_length(value))
$fn$;

-- A subject code for display: a USCC as it is (unless it also passes the citizen-ID check: about 1 in 330
-- valid ID numbers passes the USCC check too, and the ambiguous case is treated as personal), anything
-- else masked by its document type's rule (pii.mask_id). Built-ins and pii only: bi_reader, reading a mart
-- view, has no USAGE on schema dw, and the body of an inlined SQL function is resolved with its rights.
CREATE OR REPLACE FUNCTION dw.mask_code(code text, code_kind text DEFAULT 'uscc') RETURNS text
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
           ELSE pii.mask_id(code)
       END
$fn$;
REINDEX INDEX dw.dim_subject_display_code_idx;

-- The masking of migrations 002 and 009 (4 + 4 characters whatever the document, ID fields only) gives way to
-- pii; the two views that used it are dropped here and re-made from warehouse_sql/repeatable/.
DROP VIEW mart.v_publicity_license, mart.v_publicity_penalty;
DROP FUNCTION dw.mask_personal(jsonb, text[]);
DROP FUNCTION dw.mask_id_number(text);

-- Which version of each repeatable definition (warehouse_sql/repeatable/) is in place.
CREATE TABLE audit.schema_repeatable (
    name        text PRIMARY KEY,
    checksum    char(64)    NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL DEFAULT current_user
);
COMMENT ON TABLE audit.schema_repeatable IS
    '可重复执行的定义（视图、函数）：每个文件一行，内容变化时重新执行 / Repeatable definitions (views, '
    'functions): one row per file under warehouse_sql/repeatable, re-applied whenever the file changes';
COMMENT ON COLUMN audit.schema_repeatable.name IS '文件名 / File name';
COMMENT ON COLUMN audit.schema_repeatable.checksum IS '已执行内容的 SHA-256 / SHA-256 of the version in place';
COMMENT ON COLUMN audit.schema_repeatable.applied_at IS '执行时间（UTC）/ When it was applied (UTC)';
COMMENT ON COLUMN audit.schema_repeatable.applied_by IS '执行的数据库用户 / Database role that applied it';
