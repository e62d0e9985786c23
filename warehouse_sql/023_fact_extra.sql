-- Columns a department sends outside the 双公示 standard that a data engineer has reviewed and declared for
-- the feed (`extra_columns` in departments.yml): the platform's bookkeeping (ID, RESOURCE_ID, CHECK_FLAG,
-- CREATE_DATE …). Kept with the fact for tracing a record back to the source system; never published, and
-- not part of the content hash (a changed bookkeeping value is not a changed record).
ALTER TABLE dw.fact_credit_record ADD COLUMN extra jsonb;
ALTER TABLE dw.fact_credit_record_history ADD COLUMN extra jsonb;
COMMENT ON COLUMN dw.fact_credit_record.extra IS
    '数据源声明的附加列（源系统记账字段，如 RESOURCE_ID、CREATE_DATE），不上报、不计入内容哈希 / '
    'Extra columns the feed declares (source bookkeeping such as RESOURCE_ID, CREATE_DATE); never published, '
    'not in the content hash';
COMMENT ON COLUMN dw.fact_credit_record_history.extra IS
    '该版本的附加列 / The extra columns of this version';
