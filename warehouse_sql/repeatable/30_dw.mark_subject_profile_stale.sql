-- Marks the subject codes of the facts a statement wrote, changed or deleted, for dw.refresh_subject_profile().
-- Statement triggers with transition tables: one insert of the distinct codes per statement, not a trigger
-- call per row. An update marks the codes before and after (a corrected fact may move to another subject);
-- TRUNCATE marks every code. When this file is applied, every code is marked too: facts written before the
-- triggers existed (between migration 027 and this file) are covered.
CREATE OR REPLACE FUNCTION dw.mark_subject_profile_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO dw.subject_profile_stale (subject_code)
        SELECT DISTINCT s.subject_code FROM new_facts n JOIN dw.dim_subject s ON s.subject_key = n.subject_key;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO dw.subject_profile_stale (subject_code)
        SELECT DISTINCT s.subject_code
          FROM (SELECT subject_key FROM new_facts UNION SELECT subject_key FROM old_facts) k
          JOIN dw.dim_subject s ON s.subject_key = k.subject_key;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO dw.subject_profile_stale (subject_code)
        SELECT DISTINCT s.subject_code FROM old_facts o JOIN dw.dim_subject s ON s.subject_key = o.subject_key;
    ELSE  -- TRUNCATE
        INSERT INTO dw.subject_profile_stale (subject_code) SELECT DISTINCT subject_code FROM dw.dim_subject;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS subject_profile_stale_insert ON dw.fact_credit_record;
DROP TRIGGER IF EXISTS subject_profile_stale_update ON dw.fact_credit_record;
DROP TRIGGER IF EXISTS subject_profile_stale_delete ON dw.fact_credit_record;
DROP TRIGGER IF EXISTS subject_profile_stale_truncate ON dw.fact_credit_record;
CREATE TRIGGER subject_profile_stale_insert AFTER INSERT ON dw.fact_credit_record
    REFERENCING NEW TABLE AS new_facts FOR EACH STATEMENT EXECUTE FUNCTION dw.mark_subject_profile_stale();
CREATE TRIGGER subject_profile_stale_update AFTER UPDATE ON dw.fact_credit_record
    REFERENCING OLD TABLE AS old_facts NEW TABLE AS new_facts
    FOR EACH STATEMENT EXECUTE FUNCTION dw.mark_subject_profile_stale();
CREATE TRIGGER subject_profile_stale_delete AFTER DELETE ON dw.fact_credit_record
    REFERENCING OLD TABLE AS old_facts FOR EACH STATEMENT EXECUTE FUNCTION dw.mark_subject_profile_stale();
CREATE TRIGGER subject_profile_stale_truncate AFTER TRUNCATE ON dw.fact_credit_record
    FOR EACH STATEMENT EXECUTE FUNCTION dw.mark_subject_profile_stale();

INSERT INTO dw.subject_profile_stale (subject_code) SELECT DISTINCT subject_code FROM dw.dim_subject;

COMMENT ON FUNCTION dw.mark_subject_profile_stale() IS
    '事实变更时记下涉及的主体代码，待重算画像 / Marks the subject codes of changed facts for the profile refresh';
