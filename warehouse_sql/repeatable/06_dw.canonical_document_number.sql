-- One decision is one record: a document number is compared, and kept, in one form (the twin of
-- etl.keys.normalise_document_number; the translate() lists line up character for character): half-width,
-- without spaces, letters upper-case, every bracket pair written as the record type's pair (〔〕, or （） for
-- court case numbers). 县林罚〔２０２６〕Ｅ７０１号 and 县林罚[2026]e701号 are the same decision (migration 022).
--
-- The three translates cost ~12 µs a number (measured, 15 characters); most numbers arrive in the one form
-- already, and one regular expression over the characters the translates would change answers them unchanged:
-- full-width forms, lower-case letters, the whitespace removed, and the brackets other than the record type's.
-- (No percent sign and no colon directly followed by a word character: see 002.)
CREATE OR REPLACE FUNCTION dw.canonical_document_number(value text, brackets text DEFAULT '〔〕') RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE
        WHEN value !~ ('[　！-～a-z ' || chr(9) || '-' || chr(13) || chr(160) || chr(8203) || chr(65279)
                       || replace(replace(translate('([{【〔﹝〖)]}】〕﹞〗', brackets, ''), '[', '\['), ']', '\]')
                       || ']')
            THEN nullif(value, '')
        ELSE nullif(
            translate(
                translate(
                    dw.halfwidth(value),
                    'abcdefghijklmnopqrstuvwxyz ' || chr(9) || chr(10) || chr(13) || chr(11) || chr(12) || chr(160)
                        || chr(12288) || chr(8203) || chr(65279),
                    'ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
                '([{【〔﹝〖)]}】〕﹞〗',
                repeat(left(brackets, 1), 7) || repeat(right(brackets, 1), 7)),
            '')
        END
$fn$;
COMMENT ON FUNCTION dw.canonical_document_number(text, text) IS
    '决定文书号规范化：全角转半角、去空白、字母大写、各式括号统一 / Document number in the one form the warehouse '
    'keeps: half-width, no spaces, upper-case letters, one bracket pair';
