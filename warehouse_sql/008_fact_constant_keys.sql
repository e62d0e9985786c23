-- Foreign keys that cost a lookup per fact row but guard values the load sets once per batch.
--
-- record_type_key, department_key and batch_id are the same for every row of a batch and come from
-- the dimension and audit rows the load itself reads; decision_date_key is checked against
-- dw.dim_date set-based, once per batch, before the insert (etl/load). Checking each of them again
-- per row through a trigger was more than half of the fact insert's time. The subject key, which
-- differs per row and comes from the SCD2 step, keeps its foreign key.

ALTER TABLE dw.fact_credit_record
    DROP CONSTRAINT fact_credit_record_record_type_key_fkey,
    DROP CONSTRAINT fact_credit_record_department_key_fkey,
    DROP CONSTRAINT fact_credit_record_decision_date_key_fkey,
    DROP CONSTRAINT fact_credit_record_batch_id_fkey;

COMMENT ON COLUMN dw.fact_credit_record.decision_date_key IS
    '决定（认定）日期（dw.dim_date 键，入库时按批次校验）/ Decision date (dw.dim_date key, checked per batch by the load)';
