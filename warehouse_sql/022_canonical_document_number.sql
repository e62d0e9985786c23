-- One decision is one record: a document number is compared, and kept, in one form (etl/keys.py): half-width,
-- without spaces, letters upper-case, every bracket pair written as the record type's pair (〔〕, or （） for
-- court case numbers). 县林罚〔２０２６〕Ｅ７０１号 and 县林罚[2026]e701号 are the same decision.
--
-- Facts loaded before keep their record_uid (the platforms know them by it): where the uid of the canonical
-- number differs, dw.record_uid_alias points it at the existing one. Two facts that turn out to be one
-- decision are merged by the migration runner (etl.migrate, "canonical document numbers"): the one changed
-- last stays, the other becomes status 'merged' and is withdrawn from the platforms that had it.
-- (No percent sign and no colon directly followed by a word character: see 002.)

-- The twin of etl.keys.normalise_document_number; the translate() lists line up character for character.
CREATE FUNCTION dw.canonical_document_number(value text, brackets text DEFAULT '〔〕') RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT nullif(
        translate(
            translate(
                dw.halfwidth(value),
                'abcdefghijklmnopqrstuvwxyz ' || chr(9) || chr(10) || chr(13) || chr(11) || chr(12) || chr(160)
                    || chr(12288) || chr(8203) || chr(65279),
                'ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
            '([{【〔﹝〖)]}】〕﹞〗',
            repeat(left(brackets, 1), 7) || repeat(right(brackets, 1), 7)),
        '')
$fn$;
COMMENT ON FUNCTION dw.canonical_document_number(text, text) IS
    '决定文书号规范化：全角转半角、去空白、字母大写、各式括号统一 / Document number in the one form the warehouse '
    'keeps: half-width, no spaces, upper-case letters, one bracket pair';

CREATE TABLE dw.record_uid_alias (
    alias_uid  uuid        PRIMARY KEY,
    record_uid uuid        NOT NULL REFERENCES dw.fact_credit_record (record_uid),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dw.record_uid_alias IS
    '记录标识别名：每个规范化文书号的标识一行，指向以旧写法首次入库的记录 / Record id alias: one row per id of a '
    'canonical document number that points at the record first loaded under another spelling';
COMMENT ON COLUMN dw.record_uid_alias.alias_uid IS '规范化文书号的标识 / Id of the canonical document number';
COMMENT ON COLUMN dw.record_uid_alias.record_uid IS '记录的标识（平台已知）/ The record''s id, as the platforms know it';
COMMENT ON COLUMN dw.record_uid_alias.created_at IS '建立时间（UTC）/ When made (UTC)';

ALTER TABLE dw.fact_credit_record DROP CONSTRAINT fact_credit_record_status_check;
ALTER TABLE dw.fact_credit_record ADD CONSTRAINT fact_credit_record_status_check
    CHECK (status IN ('active', 'corrected', 'revoked', 'repaired', 'expired', 'merged'));
COMMENT ON COLUMN dw.fact_credit_record.status IS
    '状态：active 有效、corrected 已更正、revoked 已撤销、repaired 已信用修复、expired 公示期满、merged 已并入同一决定的记录 / '
    'Record status (merged: the same decision under another spelling of its number, folded into that record)';
COMMENT ON COLUMN dw.fact_credit_record.document_number IS
    '决定文书号（规范化写法，见 dw.canonical_document_number）/ Decision document number, in its canonical form';
