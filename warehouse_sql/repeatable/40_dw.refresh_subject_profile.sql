-- Recomputes the profiles of the marked subject codes and takes their marks; returns how many codes.
-- Called once the loads of an ingest (a run, a department, an Airflow load task) have committed, and by the
-- maintenance run; concurrent calls wait for each other. Marks committed by another load meanwhile stay for
-- the next call: the mart view computes those from the facts. Each code's profile is computed by a lookup of
-- its own facts (LATERAL: a join to the codes would aggregate every fact of the warehouse, the grouped view
-- does not take a join condition inside), so the cost follows the codes marked, not the warehouse.
CREATE OR REPLACE FUNCTION dw.refresh_subject_profile() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    refreshed integer;
BEGIN
    PERFORM pg_advisory_xact_lock(1936749167);  -- 'spro'
    CREATE TEMP TABLE IF NOT EXISTS refreshed_subject_codes (subject_code text) ON COMMIT DELETE ROWS;
    TRUNCATE refreshed_subject_codes;
    WITH taken AS (DELETE FROM dw.subject_profile_stale RETURNING subject_code)
    INSERT INTO refreshed_subject_codes SELECT DISTINCT subject_code FROM taken;
    GET DIAGNOSTICS refreshed = ROW_COUNT;
    IF refreshed = 0 THEN
        RETURN 0;
    END IF;
    ANALYZE refreshed_subject_codes;
    DELETE FROM dw.subject_profile p USING refreshed_subject_codes c WHERE p.subject_code = c.subject_code;
    INSERT INTO dw.subject_profile
    SELECT pf.* FROM refreshed_subject_codes c
     CROSS JOIN LATERAL (SELECT * FROM dw.subject_profile_facts f WHERE f.subject_code = c.subject_code) pf;
    RETURN refreshed;
END
$$;

COMMENT ON FUNCTION dw.refresh_subject_profile() IS
    '重算待更新主体的画像汇总，返回主体数 / Recomputes the marked subjects'' profiles; returns how many';
