-- The fact table: one row per credit record, keyed by a stable record_uid so replays change nothing.

ALTER TABLE dw.dim_subject
    ADD CONSTRAINT dim_subject_batch_fk FOREIGN KEY (batch_id) REFERENCES audit.batch (batch_id);

CREATE TABLE dw.fact_credit_record (
    record_key        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_uid        uuid          NOT NULL UNIQUE,
    subject_key       bigint        NOT NULL REFERENCES dw.dim_subject (subject_key),
    record_type_key   integer       NOT NULL REFERENCES dw.dim_record_type (record_type_key),
    department_key    integer       NOT NULL REFERENCES dw.dim_department (department_key),
    decision_date_key integer       NOT NULL REFERENCES dw.dim_date (date_key),
    document_number   text          NOT NULL,
    status            text          NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'corrected', 'revoked', 'repaired', 'expired')),
    publicity_start   date,
    publicity_end     date,
    fine_amount       numeric(18, 6) CHECK (fine_amount >= 0),
    attributes        jsonb         NOT NULL,
    content_hash      char(64)      NOT NULL,
    batch_id          bigint        NOT NULL REFERENCES audit.batch (batch_id),
    source_row_no     integer       NOT NULL,
    first_loaded_at   timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now(),
    CHECK (publicity_end IS NULL OR publicity_start IS NULL OR publicity_end >= publicity_start)
);
-- BI filters by department or record type and a date range; the publish step by open windows.
CREATE INDEX fact_department_date_idx ON dw.fact_credit_record (department_key, decision_date_key);
CREATE INDEX fact_record_type_date_idx ON dw.fact_credit_record (record_type_key, decision_date_key);
CREATE INDEX fact_subject_idx ON dw.fact_credit_record (subject_key);
CREATE INDEX fact_batch_idx ON dw.fact_credit_record (batch_id);
CREATE INDEX fact_publicity_end_idx ON dw.fact_credit_record (publicity_end) WHERE status = 'active';

COMMENT ON TABLE dw.fact_credit_record IS
    '信用记录事实：每条信用记录一行（按 record_uid 唯一）/ Credit record fact: one row per credit record (unique record_uid)';
COMMENT ON COLUMN dw.fact_credit_record.record_key IS '记录代理键 / Surrogate key';
COMMENT ON COLUMN dw.fact_credit_record.record_uid IS
    '稳定记录标识：部门、类别与决定文书号的 UUIDv5 / Stable id: UUIDv5 of department, record type and document number';
COMMENT ON COLUMN dw.fact_credit_record.subject_key IS '信用主体（版本）/ Subject version the record belongs to';
COMMENT ON COLUMN dw.fact_credit_record.record_type_key IS '信息类别 / Record type';
COMMENT ON COLUMN dw.fact_credit_record.department_key IS '报送部门 / Supplying department';
COMMENT ON COLUMN dw.fact_credit_record.decision_date_key IS '决定（认定）日期 / Decision date';
COMMENT ON COLUMN dw.fact_credit_record.document_number IS '决定文书号 / Decision document number';
COMMENT ON COLUMN dw.fact_credit_record.status IS
    '状态：active 有效、corrected 已更正、revoked 已撤销、repaired 已信用修复、expired 公示期满 / Record status';
COMMENT ON COLUMN dw.fact_credit_record.publicity_start IS '公示开始日期 / First day of publicity';
COMMENT ON COLUMN dw.fact_credit_record.publicity_end IS '公示截止日期 / Last day of publicity';
COMMENT ON COLUMN dw.fact_credit_record.fine_amount IS '罚款金额（万元）/ Fine in units of 10,000 yuan (万元)';
COMMENT ON COLUMN dw.fact_credit_record.attributes IS '标准字段（代码为键，如 CF_WSH）/ Standard fields keyed by field code (e.g. CF_WSH)';
COMMENT ON COLUMN dw.fact_credit_record.content_hash IS '标准字段的 SHA-256，用于识别未变更行 / SHA-256 of the standard fields, to spot unchanged rows';
COMMENT ON COLUMN dw.fact_credit_record.batch_id IS '最近一次写入的批次 / Batch that last wrote the record';
COMMENT ON COLUMN dw.fact_credit_record.source_row_no IS '该批次中的源行号 / Row number in that batch''s source';
COMMENT ON COLUMN dw.fact_credit_record.first_loaded_at IS '首次入库时间（UTC）/ First loaded (UTC)';
COMMENT ON COLUMN dw.fact_credit_record.updated_at IS '最近变更时间（UTC）/ Last changed (UTC)';
