-- Recomputes the profiles of the marked subject codes and takes their marks; returns how many codes.
-- Called once the loads of an ingest (a run, a department, an Airflow load task) have committed, and by the
-- maintenance run; concurrent calls wait for each other. Marks committed by another load meanwhile stay for
-- the next call: the mart view computes those from the facts. The codes are one array compared with the view's
-- grouping column, a condition the planner pushes below the GROUP BY: an index lookup of the codes' subject
-- versions and their facts, so the cost follows the codes marked, not the warehouse. A join to the codes, even
-- LATERAL, is not pushed down: the planner merged it with the view aggregated whole (2,268 codes after a 1%
-- increment into 1M facts: 4.1 s, against 29 ms for the array). Columns are named, not matched by position
-- (30_dw.subject_profile_facts.sql checks that the view and table agree).
CREATE OR REPLACE FUNCTION dw.refresh_subject_profile() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    codes text[];
BEGIN
    PERFORM pg_advisory_xact_lock(1936749167);  -- 'spro'
    WITH taken AS (DELETE FROM dw.subject_profile_stale RETURNING subject_code)
    SELECT array_agg(DISTINCT subject_code) INTO codes FROM taken;
    IF codes IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM dw.subject_profile WHERE subject_code = ANY (codes);
    -- EXECUTE plans with the codes in hand, every call: a session's cached generic plan (taken after five
    -- calls) does not know how few codes there are, and on a small warehouse chose to scan every fact.
    EXECUTE $sql$
    INSERT INTO dw.subject_profile
           (subject_code, records, red_list_records, good_rating_records, penalty_records, serious_dishonesty_records,
            dishonest_debtor_records, abnormal_operation_records, red_list_until, serious_dishonesty_until,
            is_dishonest_debtor, abnormal_operation_until, latest_rating, latest_rating_area, latest_rating_date,
            latest_record_date)
    SELECT pf.subject_code, pf.records, pf.red_list_records, pf.good_rating_records, pf.penalty_records,
           pf.serious_dishonesty_records, pf.dishonest_debtor_records, pf.abnormal_operation_records,
           pf.red_list_until, pf.serious_dishonesty_until, pf.is_dishonest_debtor, pf.abnormal_operation_until,
           pf.latest_rating, pf.latest_rating_area, pf.latest_rating_date, pf.latest_record_date
      FROM dw.subject_profile_facts AS pf
     WHERE pf.subject_code = ANY ($1)
    $sql$ USING codes;
    RETURN cardinality(codes);
END
$$;

COMMENT ON FUNCTION dw.refresh_subject_profile() IS
    '重算待更新主体的画像汇总，返回主体数 / Recomputes the marked subjects'' profiles; returns how many';
