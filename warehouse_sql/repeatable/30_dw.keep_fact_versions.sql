-- Every change of a fact keeps the version it replaces in dw.fact_credit_record_history, written here and nowhere
-- else. A statement trigger with a transition table: only the rows a statement actually updated are copied (the
-- load's upsert updates only facts whose content changed), with no probe of the facts for the rows that did not,
-- and the old rows are already collected for dw.mark_subject_profile_stale's trigger on the same statement.
-- Why the version changed is the writer's to say (etl.sqltext.fact_change_reason sets creditwh.fact_change_reason
-- for its statements); a change no writer explains is a department's correction.
CREATE OR REPLACE FUNCTION dw.keep_fact_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dw.fact_credit_record_history
           (record_key, status, publicity_start, publicity_end, attributes, extra, content_hash, batch_id,
            valid_from, change_reason)
    SELECT o.record_key, o.status, o.publicity_start, o.publicity_end, o.attributes, o.extra, o.content_hash,
           o.batch_id, o.updated_at,
           coalesce(nullif(current_setting('creditwh.fact_change_reason', true), ''), 'correction')
      FROM old_facts o;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS fact_versions_kept ON dw.fact_credit_record;
CREATE TRIGGER fact_versions_kept AFTER UPDATE ON dw.fact_credit_record
    REFERENCING OLD TABLE AS old_facts FOR EACH STATEMENT EXECUTE FUNCTION dw.keep_fact_versions();

COMMENT ON FUNCTION dw.keep_fact_versions() IS
    '事实每次变更前的版本写入历史表 / Keeps the version each change of a fact replaces in the history table';
