-- What the ingest path needs beyond the contract tables: batch bookkeeping, date parsing that
-- never raises, and the history of facts that departments corrected.

ALTER TABLE audit.batch
    ADD COLUMN source_format   text CHECK (source_format IN ('csv', 'xlsx', 'jsonl')),
    ADD COLUMN source_encoding text,
    ADD COLUMN watermark_kind  text CHECK (watermark_kind IN ('file', 'cursor', 'updated_at')),
    ADD COLUMN watermark_to    text,
    ADD COLUMN stage_ms        integer,
    ADD COLUMN validate_ms     integer,
    ADD COLUMN load_ms         integer,
    ADD COLUMN released_at     timestamptz,
    ADD COLUMN released_by     text,
    ADD COLUMN header_map      jsonb;
COMMENT ON COLUMN audit.batch.source_format IS '源数据格式：csv、xlsx、jsonl / Format of the landed source';
COMMENT ON COLUMN audit.batch.source_encoding IS '检测到的字符编码 / Detected character encoding';
COMMENT ON COLUMN audit.batch.watermark_kind IS '入库提交后推进的水位类型 / Kind of watermark this batch advances';
COMMENT ON COLUMN audit.batch.watermark_to IS '入库提交后水位推进到的值 / Watermark value once this batch is loaded';
COMMENT ON COLUMN audit.batch.stage_ms IS '暂存耗时（毫秒）/ Staging time in milliseconds';
COMMENT ON COLUMN audit.batch.validate_ms IS '校验耗时（毫秒）/ Validation time in milliseconds';
COMMENT ON COLUMN audit.batch.load_ms IS '入库耗时（毫秒）/ Load time in milliseconds';
COMMENT ON COLUMN audit.batch.released_at IS '人工审核放行时间（UTC）/ When a held batch was released after review (UTC)';
COMMENT ON COLUMN audit.batch.released_by IS '放行人 / Who released the held batch';
COMMENT ON COLUMN audit.batch.header_map IS '源表头到标准字段代码的映射 / Source header to standard field code, as mapped when staged';

-- Full-width ASCII (U+FF01..U+FF5E) and the ideographic space to their half-width forms.
CREATE OR REPLACE FUNCTION dw.halfwidth(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT translate(value,
        '　！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～',
        ' !"#$' || chr(37) || '&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~')
$fn$;
COMMENT ON FUNCTION dw.halfwidth(text) IS '全角字符转半角 / Full-width ASCII and ideographic space to half-width';

-- Dates as departments write them: 2022-03-05, 2022/03/05, 20220305, 2022年3月5日, an Excel serial
-- (days since 1899-12-30), optionally with a time. NULL for empty or impossible, never an error,
-- so one bad cell cannot abort a set-based statement over a million rows.
CREATE OR REPLACE FUNCTION dw.parse_cn_date(value text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    v     text := btrim(dw.halfwidth(value), E' \t\r\n');
    parts text[];
    y     integer;
    m     integer;
    d     integer;
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    parts := regexp_match(v, '^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$');
    IF parts IS NULL THEN
        parts := regexp_match(v, '^(\d{4})(\d{2})(\d{2})$');
    END IF;
    IF parts IS NULL THEN
        parts := regexp_match(v, '^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$');
    END IF;
    IF parts IS NULL THEN
        IF v ~ '^\d{1,6}(\.0+)?$' THEN
            d := split_part(v, '.', 1)::integer;
            IF d BETWEEN 1 AND 73415 THEN  -- Excel serials up to 2100-12-31
                RETURN date '1899-12-30' + d;
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    y := parts[1]::integer;
    m := parts[2]::integer;
    d := parts[3]::integer;
    IF y NOT BETWEEN 1900 AND 2100 OR m NOT BETWEEN 1 AND 12 OR d < 1
       OR d > extract(day FROM make_date(y, m, 1) + interval '1 month' - interval '1 day') THEN
        RETURN NULL;
    END IF;
    RETURN make_date(y, m, d);
END
$fn$;
COMMENT ON FUNCTION dw.parse_cn_date(text) IS
    '解析部门常见日期写法（含 Excel 序列号），无效返回 NULL / Parse the date spellings departments use (incl. Excel serials); NULL when impossible';

CREATE TABLE dw.fact_credit_record_history (
    history_key     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key      bigint      NOT NULL REFERENCES dw.fact_credit_record (record_key),
    status          text        NOT NULL,
    publicity_start date,
    publicity_end   date,
    attributes      jsonb       NOT NULL,
    content_hash    char(64)    NOT NULL,
    batch_id        bigint      NOT NULL REFERENCES audit.batch (batch_id),
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fact_history_record_idx ON dw.fact_credit_record_history (record_key);
COMMENT ON TABLE dw.fact_credit_record_history IS
    '信用记录历史：事实被更正、撤销或修复前的每个旧版本一行 / Fact history: one row per superseded version of a credit record';
COMMENT ON COLUMN dw.fact_credit_record_history.history_key IS '历史版本代理键 / Surrogate key';
COMMENT ON COLUMN dw.fact_credit_record_history.record_key IS '所属信用记录 / Credit record this version belongs to';
COMMENT ON COLUMN dw.fact_credit_record_history.status IS '该版本的状态 / Status of this version';
COMMENT ON COLUMN dw.fact_credit_record_history.publicity_start IS '该版本的公示开始日期 / Publicity start of this version';
COMMENT ON COLUMN dw.fact_credit_record_history.publicity_end IS '该版本的公示截止日期 / Publicity end of this version';
COMMENT ON COLUMN dw.fact_credit_record_history.attributes IS '该版本的标准字段 / Standard fields of this version';
COMMENT ON COLUMN dw.fact_credit_record_history.content_hash IS '该版本的内容哈希 / Content hash of this version';
COMMENT ON COLUMN dw.fact_credit_record_history.batch_id IS '写入该版本的批次 / Batch that wrote this version';
COMMENT ON COLUMN dw.fact_credit_record_history.valid_from IS '该版本生效时间（UTC）/ When this version took effect (UTC)';
COMMENT ON COLUMN dw.fact_credit_record_history.valid_to IS '该版本被替代时间（UTC）/ When this version was superseded (UTC)';
