-- What Great Expectations said about each batch, beside what the quarantine recorded.
ALTER TABLE audit.batch
    ADD COLUMN gx_success   boolean,
    ADD COLUMN gx_ms        integer,
    ADD COLUMN gx_data_docs text;
COMMENT ON COLUMN audit.batch.gx_success IS
    'Great Expectations 校验是否全部通过（有隔离行即为否）/ Whether every GX expectation passed (false when rows were quarantined)';
COMMENT ON COLUMN audit.batch.gx_ms IS 'Great Expectations 校验耗时（毫秒）/ GX validation time in milliseconds';
COMMENT ON COLUMN audit.batch.gx_data_docs IS 'GX Data Docs 页面路径 / Path of the batch''s GX Data Docs page';
