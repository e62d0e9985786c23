-- Monthly indicator submissions to the national monitoring platform, with their receipts.

CREATE TABLE outbox.indicator_submission (
    submission_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period          text        NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    edition         text        NOT NULL,
    idempotency_key text        NOT NULL UNIQUE,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'accepted', 'rejected')),
    attempts        integer     NOT NULL DEFAULT 1,
    last_error      text,
    receipt_id      text,
    reason          text,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    accepted_at     timestamptz
);
COMMENT ON TABLE outbox.indicator_submission IS
    '指标上报：每次向国家监测平台报送一期指标一行（同样的数值同一幂等键）/ '
    'Indicator submission: one row per period and set of values sent to the national monitoring platform';
COMMENT ON COLUMN outbox.indicator_submission.submission_id IS '上报序号 / Submission id';
COMMENT ON COLUMN outbox.indicator_submission.period IS '指标期（YYYY-MM）/ Period (YYYY-MM)';
COMMENT ON COLUMN outbox.indicator_submission.edition IS '指标体系版本 / Indicator edition';
COMMENT ON COLUMN outbox.indicator_submission.idempotency_key IS '幂等键（城市、版本、期、数值）/ Idempotency key';
COMMENT ON COLUMN outbox.indicator_submission.payload IS '上报内容 / Payload sent';
COMMENT ON COLUMN outbox.indicator_submission.status IS '状态：sent 已发、accepted 已接收、rejected 被拒 / Status';
COMMENT ON COLUMN outbox.indicator_submission.attempts IS '发送次数 / Send attempts';
COMMENT ON COLUMN outbox.indicator_submission.last_error IS '最近一次失败原因 / Last delivery error';
COMMENT ON COLUMN outbox.indicator_submission.receipt_id IS '平台回执号 / Platform receipt id';
COMMENT ON COLUMN outbox.indicator_submission.reason IS '平台拒收原因 / Platform rejection reason';
COMMENT ON COLUMN outbox.indicator_submission.sent_at IS '最近发送时间 / Last sent at';
COMMENT ON COLUMN outbox.indicator_submission.accepted_at IS '平台接收时间 / Accepted at';
