-- The 2020 indicator edition as published: which names and points are the edition's and which are this
-- office's, who measures each leaf, and the local indicators kept outside the 100 points.
ALTER TABLE dw.dim_indicator
    ADD COLUMN basis text NOT NULL DEFAULT 'local' CHECK (basis IN ('published', 'draft', 'local')),
    ADD COLUMN source text,
    ADD COLUMN measured_by text CHECK (measured_by IN ('warehouse', 'office', 'national')),
    ADD COLUMN in_total boolean NOT NULL DEFAULT true;
-- Rows an earlier version stored: computable leaves were the warehouse's, the others the office's.
UPDATE dw.dim_indicator
   SET measured_by = CASE WHEN is_computable THEN 'warehouse' ELSE 'office' END
 WHERE is_leaf;
ALTER TABLE dw.dim_indicator
    ADD CONSTRAINT dim_indicator_measured_by_leaf CHECK ((measured_by IS NOT NULL) = is_leaf),
    ADD CONSTRAINT dim_indicator_computable_by_warehouse CHECK (is_computable = (measured_by IS NOT DISTINCT FROM 'warehouse'));
COMMENT ON COLUMN dw.dim_indicator.basis IS
    '依据：published 指标体系公布、draft 仅见于征求意见稿、local 本办口径 / '
    'Basis: published in the edition, named only by the consultation draft, or this office''s own';
COMMENT ON COLUMN dw.dim_indicator.source IS '名称或分值的出处 / Where the name or the points were read';
COMMENT ON COLUMN dw.dim_indicator.measured_by IS
    '末级指标由谁给出数值：warehouse 仓库计算、office 信用办填报、national 国家中心监测（按平台反馈填报）/ '
    'Who gives a leaf''s value: the warehouse, the credit office, or the national centre (its figure entered)';
COMMENT ON COLUMN dw.dim_indicator.in_total IS
    '是否计入 100 分（本地补充指标不计入、不上报）/ Counted in the 100 points (local indicators are not, nor sent)';

-- The items the city reports to the national monitoring platform besides the monthly figures: credit
-- policy documents, credit news, risk alerts, tiered-supervision rating results, joint-punishment cases.
-- The warehouse produces those it holds (rating results); the credit office drops the others as a file.
CREATE TABLE dw.indicator_item (
    item_id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_key        text        NOT NULL UNIQUE,
    item_type       text        NOT NULL CHECK (item_type IN ('policy_document', 'credit_news', 'risk_alert',
                                                              'rating_result', 'joint_punishment_case')),
    item_date       date        NOT NULL,
    department_code text        NOT NULL CHECK (department_code ~ '^[a-z][a-z0-9_]*$'),
    title           text        NOT NULL CHECK (btrim(title) <> ''),
    content         text        NOT NULL,
    link            text,
    origin          text        NOT NULL CHECK (origin IN ('office', 'warehouse')),
    record_key      bigint      REFERENCES dw.fact_credit_record (record_key),
    source_name     text        NOT NULL,
    content_hash    char(64)    NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((origin = 'warehouse') = (record_key IS NOT NULL))
);
CREATE INDEX indicator_item_date_idx ON dw.indicator_item (item_type, item_date);
COMMENT ON TABLE dw.indicator_item IS
    '监测平台报送条目：每条政策文件、信用新闻、风险提示、分级分类监管结果、联合奖惩案例一行（含未脱敏正文，限内部）/ '
    'Monitoring items: one row per policy document, news item, risk alert, rating result or joint-punishment '
    'case reported to the national monitoring platform (unmasked content: restricted)';
COMMENT ON COLUMN dw.indicator_item.item_id IS '条目序号 / Item id';
COMMENT ON COLUMN dw.indicator_item.item_key IS
    '条目标识：信用办条目为 类型、部门、日期、标题 的摘要，仓库条目为 来源记录 / '
    'Identity: for the office''s items a digest of type, department, date and title; for the warehouse''s the record';
COMMENT ON COLUMN dw.indicator_item.item_type IS '条目类型（见 indicator_items.yml）/ Item type (indicator_items.yml)';
COMMENT ON COLUMN dw.indicator_item.item_date IS '发布或认定日期 / Date issued or decided';
COMMENT ON COLUMN dw.indicator_item.department_code IS '责任部门编码（信用办条目为其所在部门）/ Department (the office''s items: the department hosting it)';
COMMENT ON COLUMN dw.indicator_item.title IS '标题 / Title';
COMMENT ON COLUMN dw.indicator_item.content IS '正文或摘要（报送时脱敏）/ Content or summary (masked when sent)';
COMMENT ON COLUMN dw.indicator_item.link IS '原文链接 / Link to the original';
COMMENT ON COLUMN dw.indicator_item.origin IS '来源：office 信用办投放文件、warehouse 仓库生成 / From the office''s file or made by the warehouse';
COMMENT ON COLUMN dw.indicator_item.record_key IS '仓库生成条目的来源记录 / The record a warehouse item was made from';
COMMENT ON COLUMN dw.indicator_item.source_name IS '来源文件名或记录类别 / Source file or record type';
COMMENT ON COLUMN dw.indicator_item.content_hash IS '报送内容摘要（变化则重新报送）/ Digest of what is sent (a change is sent again)';
COMMENT ON COLUMN dw.indicator_item.created_at IS '首次入库时间 / First stored';
COMMENT ON COLUMN dw.indicator_item.updated_at IS '最近变更时间 / Last changed';

-- One file the credit office dropped, and what became of its rows (rows_in = loaded + unchanged + rejected).
CREATE TABLE audit.indicator_item_file (
    file_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name      text        NOT NULL,
    sha256         char(64)    NOT NULL UNIQUE,
    status         text        NOT NULL CHECK (status IN ('loaded', 'refused')),
    rows_in        integer     NOT NULL,
    rows_loaded    integer     NOT NULL,
    rows_unchanged integer     NOT NULL,
    rows_rejected  integer     NOT NULL,
    reasons        jsonb       NOT NULL DEFAULT '[]',
    taken_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (rows_in = rows_loaded + rows_unchanged + rows_rejected)
);
COMMENT ON TABLE audit.indicator_item_file IS
    '信用办投放的监测条目文件：每个文件（按内容）一行，含行数核算与拒收原因 / '
    'Monitoring-item files the credit office dropped: one row per file content, with its row accounting';
COMMENT ON COLUMN audit.indicator_item_file.file_id IS '文件序号 / File id';
COMMENT ON COLUMN audit.indicator_item_file.file_name IS '文件名 / File name';
COMMENT ON COLUMN audit.indicator_item_file.sha256 IS '文件内容摘要 / Digest of the file''s bytes';
COMMENT ON COLUMN audit.indicator_item_file.status IS
    'loaded 已入库、refused 有错行整份未入库 / Loaded, or refused whole because a row was wrong';
COMMENT ON COLUMN audit.indicator_item_file.rows_in IS '数据行数 / Rows in the file';
COMMENT ON COLUMN audit.indicator_item_file.rows_loaded IS '新增或变更的条目数 / Items new or changed';
COMMENT ON COLUMN audit.indicator_item_file.rows_unchanged IS '与已入库条目相同的行数 / Rows equal to an item stored';
COMMENT ON COLUMN audit.indicator_item_file.rows_rejected IS '未入库的行数（有错行时为全部）/ Rows not stored (all of them when one is wrong)';
COMMENT ON COLUMN audit.indicator_item_file.reasons IS '错行及原因（中英文）/ The wrong rows and why, in Chinese and English';
COMMENT ON COLUMN audit.indicator_item_file.taken_at IS '读取时间 / Read at';

-- Delivery of each version of an item to the national monitoring platform, exactly once: the key depends
-- on the item and its content, so a replay after a crash is recognised upstream.
CREATE TABLE outbox.indicator_item_delivery (
    delivery_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id         bigint      NOT NULL REFERENCES dw.indicator_item (item_id),
    content_hash    char(64)    NOT NULL,
    idempotency_key text        NOT NULL UNIQUE,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'accepted', 'rejected')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    receipt_id      text,
    reason          text,
    sent_at         timestamptz,
    accepted_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (item_id, content_hash)
);
CREATE INDEX indicator_item_delivery_queue_idx ON outbox.indicator_item_delivery (delivery_id)
    WHERE status IN ('pending', 'sent');
COMMENT ON TABLE outbox.indicator_item_delivery IS
    '监测条目上报：每个条目的每个内容版本一行（脱敏后的报文与回执）/ '
    'Monitoring item deliveries: one row per version of an item (masked payload and receipt)';
COMMENT ON COLUMN outbox.indicator_item_delivery.delivery_id IS '上报序号 / Delivery id';
COMMENT ON COLUMN outbox.indicator_item_delivery.item_id IS '条目 / Item';
COMMENT ON COLUMN outbox.indicator_item_delivery.content_hash IS '内容摘要 / Digest of the content sent';
COMMENT ON COLUMN outbox.indicator_item_delivery.idempotency_key IS '幂等键（城市、条目、内容）/ Idempotency key (city, item, content)';
COMMENT ON COLUMN outbox.indicator_item_delivery.payload IS '报文（已脱敏）/ Payload (masked)';
COMMENT ON COLUMN outbox.indicator_item_delivery.status IS '状态 / pending, sent, accepted or rejected';
COMMENT ON COLUMN outbox.indicator_item_delivery.attempts IS '发送次数 / Attempts';
COMMENT ON COLUMN outbox.indicator_item_delivery.last_error IS '最近一次发送错误 / Last transport error';
COMMENT ON COLUMN outbox.indicator_item_delivery.receipt_id IS '平台回执号 / Platform receipt';
COMMENT ON COLUMN outbox.indicator_item_delivery.reason IS '拒收原因 / Why the platform rejected it';
COMMENT ON COLUMN outbox.indicator_item_delivery.sent_at IS '最近发送时间 / Last sent';
COMMENT ON COLUMN outbox.indicator_item_delivery.accepted_at IS '接收时间 / Accepted at';
COMMENT ON COLUMN outbox.indicator_item_delivery.created_at IS '排队时间 / Queued at';
