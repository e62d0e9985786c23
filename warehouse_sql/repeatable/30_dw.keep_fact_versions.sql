-- Every change of a fact keeps the version it replaces in dw.fact_credit_record_history, written here and nowhere
-- else. A statement trigger with transition tables (the profile trigger collects the same old and new rows for
-- the statement): only the rows a statement changed are copied (the load's upsert updates only facts whose
-- content changed), with no probe of the facts for the rows that did not. An UPDATE that rewrites a fact as it
-- was (bookkeeping columns aside) is no new version. Why the version changed is the writer's to say
-- (etl.sqltext.fact_change_reason sets creditwh.fact_change_reason for its statements: the load's 'correction',
-- 'repair', 'expired', a document-number merge or rewrite); a change no writer explains is recorded as 'unstated',
-- which the correction-rate indicator does not count as a department's correction.
CREATE OR REPLACE FUNCTION dw.keep_fact_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dw.fact_credit_record_history
           (record_key, status, publicity_start, publicity_end, attributes, extra, content_hash, batch_id,
            valid_from, change_reason)
    SELECT o.record_key, o.status, o.publicity_start, o.publicity_end, o.attributes, o.extra, o.content_hash,
           o.batch_id, o.updated_at,
           coalesce(nullif(current_setting('creditwh.fact_change_reason', true), ''), 'unstated')
      FROM old_facts o
      JOIN new_facts n ON n.record_key = o.record_key
     WHERE to_jsonb(o) - ARRAY['updated_at', 'batch_id', 'source_row_no']
           IS DISTINCT FROM to_jsonb(n) - ARRAY['updated_at', 'batch_id', 'source_row_no'];
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS fact_versions_kept ON dw.fact_credit_record;
CREATE TRIGGER fact_versions_kept AFTER UPDATE ON dw.fact_credit_record
    REFERENCING OLD TABLE AS old_facts NEW TABLE AS new_facts
    FOR EACH STATEMENT EXECUTE FUNCTION dw.keep_fact_versions();

COMMENT ON FUNCTION dw.keep_fact_versions() IS
    '事实每次变更前的版本写入历史表 / Keeps the version each change of a fact replaces in the history table';
COMMENT ON COLUMN dw.fact_credit_record_history.change_reason IS
    '变更原因：correction 部门更正、repair 信用修复、expired 公示期满、merged: … 同一决定的另一写法合并、'
    'document number in its canonical form 文书号规范化、unstated 未说明 / Why the version was superseded: a '
    'department''s correction, credit repair, the end of the publicity window, a merge or rewrite of the '
    'document number, or unstated (a change no writer explained)';
