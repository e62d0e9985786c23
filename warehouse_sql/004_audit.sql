-- Audit trail of every batch: what came in, what became of each row, and how far each feed has read.

CREATE TABLE audit.batch (
    batch_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department_code  text        NOT NULL REFERENCES dw.dim_department (department_code),
    feed_code        text        NOT NULL,
    record_type_code text        NOT NULL REFERENCES dw.dim_record_type (record_type_code),
    source_name      text        NOT NULL,
    sha256           char(64)    NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    byte_count       bigint      NOT NULL CHECK (byte_count >= 0),
    landed_path      text,
    rows_in          integer     NOT NULL DEFAULT 0 CHECK (rows_in >= 0),
    rows_loaded      integer     NOT NULL DEFAULT 0 CHECK (rows_loaded >= 0),
    rows_unchanged   integer     NOT NULL DEFAULT 0 CHECK (rows_unchanged >= 0),
    rows_quarantined integer     NOT NULL DEFAULT 0 CHECK (rows_quarantined >= 0),
    status           text        NOT NULL DEFAULT 'landed'
        CHECK (status IN ('landed', 'staged', 'validated', 'held', 'loaded', 'failed')),
    status_reason    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- The same bytes from the same feed are one batch, however often they arrive.
    UNIQUE (department_code, feed_code, sha256),
    -- The accounting identity: a loaded batch accounts for every row it received.
    CONSTRAINT batch_rows_accounted CHECK (
        status <> 'loaded' OR rows_in = rows_loaded + rows_unchanged + rows_quarantined
    ),
    CONSTRAINT batch_held_has_reason CHECK (status NOT IN ('held', 'failed') OR status_reason IS NOT NULL)
);
CREATE INDEX batch_department_created_idx ON audit.batch (department_code, created_at);
CREATE INDEX batch_status_idx ON audit.batch (status) WHERE status NOT IN ('loaded');
COMMENT ON TABLE audit.batch IS '批次：每个落地的源数据批次一行 / Batch: one row per landed batch of source data';
COMMENT ON COLUMN audit.batch.batch_id IS '批次号 / Batch id';
COMMENT ON COLUMN audit.batch.department_code IS '报送部门编码 / Department that supplied the batch';
COMMENT ON COLUMN audit.batch.feed_code IS '数据源编码（部门内唯一）/ Feed code, unique within the department';
COMMENT ON COLUMN audit.batch.record_type_code IS '信息类别编码 / Record type the feed carries';
COMMENT ON COLUMN audit.batch.source_name IS
    '来源标识：文件名、接口游标区间或前置库时间窗 / Source: file name, API cursor range or SQL time window';
COMMENT ON COLUMN audit.batch.sha256 IS '落地原始字节的 SHA-256 / SHA-256 of the landed bytes';
COMMENT ON COLUMN audit.batch.byte_count IS '落地字节数 / Size of the landed bytes';
COMMENT ON COLUMN audit.batch.landed_path IS '落地文件路径（var/landing 下）/ Path of the landed file under var/landing';
COMMENT ON COLUMN audit.batch.rows_in IS '收到的行数 / Rows received';
COMMENT ON COLUMN audit.batch.rows_loaded IS '新增或更新入库的行数 / Rows inserted or changed in the warehouse';
COMMENT ON COLUMN audit.batch.rows_unchanged IS '与仓库一致、无需变更的行数 / Rows identical to what the warehouse holds';
COMMENT ON COLUMN audit.batch.rows_quarantined IS
    '被隔离的行数（一行多条规则只计一次）/ Rows quarantined (a row failing several rules counts once)';
COMMENT ON COLUMN audit.batch.status IS
    '状态：landed、staged、validated、held（整批暂扣）、loaded、failed / Status; held means the whole batch awaits review';
COMMENT ON COLUMN audit.batch.status_reason IS '暂扣或失败原因（中英文）/ Why the batch is held or failed (Chinese and English)';
COMMENT ON COLUMN audit.batch.created_at IS '落地时间（UTC）/ When the batch landed (UTC)';
COMMENT ON COLUMN audit.batch.updated_at IS '状态最近变更时间（UTC）/ Last status change (UTC)';

CREATE TABLE audit.quarantine (
    quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id      bigint      NOT NULL REFERENCES audit.batch (batch_id),
    row_no        integer     NOT NULL CHECK (row_no >= 1),
    field         text        NOT NULL,
    rule          text        NOT NULL,
    message_zh    text        NOT NULL,
    message_en    text        NOT NULL,
    message       text        GENERATED ALWAYS AS (message_zh || ' / ' || message_en) STORED,
    raw           jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Re-validating a batch records each finding once.
    UNIQUE (batch_id, row_no, field, rule)
);
COMMENT ON TABLE audit.quarantine IS
    '隔离区：每个被拒绝的行与规则一行（原始行含个人信息，受限）/ Quarantine: one row per rejected row and rule (raw rows hold personal data: restricted)';
COMMENT ON COLUMN audit.quarantine.quarantine_id IS '隔离记录号 / Quarantine entry id';
COMMENT ON COLUMN audit.quarantine.batch_id IS '所属批次 / Batch the row came in';
COMMENT ON COLUMN audit.quarantine.row_no IS '源数据中的行号（从 1 起）/ Row number in the source (from 1)';
COMMENT ON COLUMN audit.quarantine.field IS '出错字段的标准代码（整行问题为 *）/ Standard code of the failing field (* for the whole row)';
COMMENT ON COLUMN audit.quarantine.rule IS '违反的规则编码 / Code of the rule the row failed';
COMMENT ON COLUMN audit.quarantine.message_zh IS '中文说明，可直接反馈部门 / Reason in Chinese, fit to send back to the department';
COMMENT ON COLUMN audit.quarantine.message_en IS '英文说明 / Reason in English';
COMMENT ON COLUMN audit.quarantine.message IS '中英文说明 / Reason in Chinese and English';
COMMENT ON COLUMN audit.quarantine.raw IS '原始行（按源表头）/ The raw row as received, keyed by the source headers';
COMMENT ON COLUMN audit.quarantine.created_at IS '隔离时间（UTC）/ When it was quarantined (UTC)';

CREATE TABLE audit.watermark (
    department_code text        NOT NULL REFERENCES dw.dim_department (department_code),
    feed_code       text        NOT NULL,
    watermark_kind  text        NOT NULL CHECK (watermark_kind IN ('file', 'cursor', 'updated_at')),
    watermark_value text        NOT NULL,
    batch_id        bigint      REFERENCES audit.batch (batch_id),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department_code, feed_code)
);
COMMENT ON TABLE audit.watermark IS
    '水位线：每个数据源一行，记录已入库的增量位置 / Watermark: one row per feed, how far its loaded data reaches';
COMMENT ON COLUMN audit.watermark.department_code IS '部门编码 / Department code';
COMMENT ON COLUMN audit.watermark.feed_code IS '数据源编码 / Feed code';
COMMENT ON COLUMN audit.watermark.watermark_kind IS
    '水位类型：file（文件名+时间）、cursor（接口游标）、updated_at（前置库更新时间）/ Kind of watermark';
COMMENT ON COLUMN audit.watermark.watermark_value IS '水位值 / Watermark value';
COMMENT ON COLUMN audit.watermark.batch_id IS '推进水位的批次（入库提交后才推进）/ Batch whose committed load advanced it';
COMMENT ON COLUMN audit.watermark.updated_at IS '推进时间（UTC）/ When it advanced (UTC)';
