-- Reviewed exceptions to the USCC checksum: early pilot codes that fail GB 32100-2015 yet are legal.
-- Seeded from etl/catalog/uscc_allow_list.yml by `creditwh init`; validation and the Great
-- Expectations suites both ask dw.is_accepted_uscc, so they cannot disagree about an allowed code.

CREATE TABLE dw.uscc_allow_list (
    code        text        PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{18}$'),
    name_zh     text        NOT NULL,
    reviewed_by text        NOT NULL,
    reviewed_on date        NOT NULL,
    reason      text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dw.uscc_allow_list IS
    '统一社会信用代码白名单：校验位不符但经核实合法的早期试点代码，每个代码一行 / '
    'USCC allow-list: one row per reviewed pilot code that fails the checksum yet is legal';
COMMENT ON COLUMN dw.uscc_allow_list.code IS '统一社会信用代码 / The code as issued';
COMMENT ON COLUMN dw.uscc_allow_list.name_zh IS '主体名称 / Registered name of the subject';
COMMENT ON COLUMN dw.uscc_allow_list.reviewed_by IS '核实人及核实机关 / Who reviewed it, with which authority';
COMMENT ON COLUMN dw.uscc_allow_list.reviewed_on IS '核实日期 / Reviewed on';
COMMENT ON COLUMN dw.uscc_allow_list.reason IS '准予使用的理由 / Why it is accepted';
COMMENT ON COLUMN dw.uscc_allow_list.updated_at IS '最近更新时间 / Last updated at';

CREATE FUNCTION dw.is_accepted_uscc(code text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT dw.is_valid_uscc(code) OR EXISTS (SELECT 1 FROM dw.uscc_allow_list a WHERE a.code = $1)
$fn$;
COMMENT ON FUNCTION dw.is_accepted_uscc(text) IS
    '统一社会信用代码可接受：校验通过或在白名单中 / A USCC is accepted: it passes the checksum or is on the allow-list';
