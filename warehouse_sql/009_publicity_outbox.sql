-- 双公示 publicity: windows on the fact, ID-number masking, and the transactional outbox of items
-- for the provincial and national platforms (written in the same transaction as the facts).

ALTER TABLE dw.fact_credit_record
    ADD COLUMN publicity_tier text CHECK (publicity_tier IN ('minor', 'ordinary', 'serious')),
    ADD COLUMN publicity_due  date;
COMMENT ON COLUMN dw.fact_credit_record.publicity_tier IS
    '处罚公示等级（轻微/一般/严重，按公示政策）/ Penalty publicity tier (minor/ordinary/serious) under the policy file';
COMMENT ON COLUMN dw.fact_credit_record.publicity_due IS
    '应公示截止日：决定日后第 7 个工作日 / Publicity due: the 7th Chinese working day after the decision';

-- Repair and expiry end windows without the department sending anything: the status change keeps
-- its own history row like a correction does.
ALTER TABLE dw.fact_credit_record_history ADD COLUMN change_reason text;
COMMENT ON COLUMN dw.fact_credit_record_history.change_reason IS
    '变更原因：部门更正、信用修复、公示期满 / Why the version was superseded: correction, credit repair, window expiry';

-- Personal ID fields of a record masked with dw.mask_id_number (migration 002, twin of etl.codes).
CREATE FUNCTION dw.mask_personal(attributes jsonb, personal_fields text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(jsonb_object_agg(key, CASE WHEN key = ANY (personal_fields)
                                               THEN to_jsonb(dw.mask_id_number(value #>> '{}'))
                                               ELSE value END), '{}'::jsonb)
      FROM jsonb_each(attributes)
$fn$;
COMMENT ON FUNCTION dw.mask_personal(jsonb, text[]) IS
    '对记录中的证件号码字段脱敏 / Mask the personal ID fields of a record''s attributes';

CREATE TABLE outbox.publicity_item (
    item_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform         text        NOT NULL CHECK (platform IN ('provincial', 'national')),
    record_key       bigint      NOT NULL REFERENCES dw.fact_credit_record (record_key),
    record_uid       uuid        NOT NULL,
    department_code  text        NOT NULL,
    record_type_code text        NOT NULL CHECK (record_type_code IN ('license', 'penalty')),
    action           text        NOT NULL CHECK (action IN ('upsert', 'withdraw')),
    payload          jsonb       NOT NULL,
    content_hash     char(64)    NOT NULL,
    cause            text        NOT NULL,
    idempotency_key  text        NOT NULL UNIQUE,
    decision_date    date        NOT NULL,
    due_date         date,
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'accepted', 'rejected', 'superseded')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    sent_at          timestamptz,
    accepted_at      timestamptz,
    receipt_id       text,
    reason_code      text,
    reason           text,
    feedback_path    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The pusher's queue, and "what did we last tell this platform about this record".
CREATE INDEX publicity_item_queue_idx ON outbox.publicity_item (platform, item_id) WHERE status IN ('pending', 'sent');
CREATE INDEX publicity_item_record_idx ON outbox.publicity_item (record_key, platform, item_id);
CREATE INDEX publicity_item_department_idx ON outbox.publicity_item (department_code, decision_date);

COMMENT ON TABLE outbox.publicity_item IS
    '双公示发件箱：每条待上报（或已上报）给一个平台的公示或撤回一行 / Publicity outbox: one row per upsert or withdrawal for one platform';
COMMENT ON COLUMN outbox.publicity_item.item_id IS '发件序号（同一记录按此顺序上报）/ Item id; a record''s items are sent in this order';
COMMENT ON COLUMN outbox.publicity_item.platform IS '目标平台：provincial 省级 / national 国家 / Target platform';
COMMENT ON COLUMN outbox.publicity_item.record_key IS '对应信用记录 / Credit record the item is about';
COMMENT ON COLUMN outbox.publicity_item.record_uid IS '记录稳定标识 / Stable record id sent to the platform';
COMMENT ON COLUMN outbox.publicity_item.department_code IS '报送部门编码 / Department that supplied the record';
COMMENT ON COLUMN outbox.publicity_item.record_type_code IS '类别：license 行政许可 / penalty 行政处罚 / Record type';
COMMENT ON COLUMN outbox.publicity_item.action IS '动作：upsert 公示 / withdraw 撤回 / Publish (upsert) or withdraw';
COMMENT ON COLUMN outbox.publicity_item.payload IS
    '上报内容：标准字段编码（CF_/XK_），证件号码已脱敏 / Payload in standard field codes, ID numbers masked';
COMMENT ON COLUMN outbox.publicity_item.content_hash IS '记录内容哈希 / Content hash of the record version';
COMMENT ON COLUMN outbox.publicity_item.cause IS
    '产生原因：batch:N 入库、expired:日期 期满、repair:日期 修复、requeue 对账重发 / Cause: load batch, expiry, repair or re-queue';
COMMENT ON COLUMN outbox.publicity_item.idempotency_key IS
    '幂等键：平台按此去重，重发不会重复公示 / Idempotency key: the platform deduplicates by it';
COMMENT ON COLUMN outbox.publicity_item.decision_date IS '决定日期 / Decision date';
COMMENT ON COLUMN outbox.publicity_item.due_date IS '应公示截止日（7 个工作日）/ Due date (7 working days after the decision)';
COMMENT ON COLUMN outbox.publicity_item.status IS
    '状态：pending 待发、sent 已发未回执、accepted 已接收、rejected 被拒、superseded 被新版本取代 / Delivery status';
COMMENT ON COLUMN outbox.publicity_item.attempts IS '发送次数 / Send attempts';
COMMENT ON COLUMN outbox.publicity_item.last_error IS '最近一次失败原因 / Last delivery error';
COMMENT ON COLUMN outbox.publicity_item.sent_at IS '最近发送时间 / Last sent at';
COMMENT ON COLUMN outbox.publicity_item.accepted_at IS '平台接收时间 / Accepted by the platform at';
COMMENT ON COLUMN outbox.publicity_item.receipt_id IS '平台回执号 / Platform receipt id';
COMMENT ON COLUMN outbox.publicity_item.reason_code IS '平台拒收代码 / Platform rejection code';
COMMENT ON COLUMN outbox.publicity_item.reason IS '平台拒收原因 / Platform rejection reason';
COMMENT ON COLUMN outbox.publicity_item.feedback_path IS
    '退回部门的反馈文件 / Feedback workbook the rejection was returned to the department in';
COMMENT ON COLUMN outbox.publicity_item.created_at IS '写入时间 / Written at';
COMMENT ON COLUMN outbox.publicity_item.updated_at IS '最近更新时间 / Last updated at';

CREATE TABLE outbox.reconciliation (
    reconciliation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform          text        NOT NULL CHECK (platform IN ('provincial', 'national')),
    run_at            timestamptz NOT NULL DEFAULT now(),
    groups_compared   integer     NOT NULL,
    groups_different  integer     NOT NULL,
    sampled           integer     NOT NULL,
    sample_missing    integer     NOT NULL,
    requeued          integer     NOT NULL,
    differences       jsonb       NOT NULL
);
COMMENT ON TABLE outbox.reconciliation IS
    '对账记录：每次与平台核对一行 / Reconciliation: one row per comparison with a platform';
COMMENT ON COLUMN outbox.reconciliation.reconciliation_id IS '对账序号 / Reconciliation id';
COMMENT ON COLUMN outbox.reconciliation.platform IS '平台 / Platform';
COMMENT ON COLUMN outbox.reconciliation.run_at IS '对账时间 / Run at';
COMMENT ON COLUMN outbox.reconciliation.groups_compared IS '核对的部门×日期组数 / Department-day groups compared';
COMMENT ON COLUMN outbox.reconciliation.groups_different IS '数量不一致的组数 / Groups whose counts differ';
COMMENT ON COLUMN outbox.reconciliation.sampled IS '抽查记录数 / Records sampled by id';
COMMENT ON COLUMN outbox.reconciliation.sample_missing IS '抽查中平台缺失的记录数 / Sampled records the platform lacks';
COMMENT ON COLUMN outbox.reconciliation.requeued IS '重新排队上报的记录数 / Records re-queued for delivery';
COMMENT ON COLUMN outbox.reconciliation.differences IS '差异明细（最多 100 组）/ Differences (up to 100 groups)';
