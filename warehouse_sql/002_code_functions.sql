-- Identifier-code functions: the SQL twins of etl/codes.py.
--
-- They must give exactly the same answers as the Python functions, so a row judged valid while loading
-- is judged valid by the warehouse too (tests/integration/test_codes_sql.py compares them on random
-- and mutated codes). Hence every character set is spelt out instead of relying on upper(), btrim()
-- defaults, regex classes or casts, whose behaviour depends on locale, collation or encoding.
--
-- This file is run inside a transaction by the migration runner, possibly through a DB-API driver,
-- so it contains no percent sign (chr(37) is used where one is needed) and no colon directly
-- followed by a word character.

-- normalize_code ------------------------------------------------------------------------------------
-- Full-width ASCII U+FF01..U+FF5E -> U+0021..U+007E and ideographic space U+3000 -> ' ', then strip
-- ' ', TAB, LF, CR, VT, FF and NO-BREAK SPACE from both ends, then upper-case ASCII a-z only.
-- The three pieces of each translate() list line up character for character.
CREATE OR REPLACE FUNCTION dw.normalize_code(s text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
SELECT translate(
           btrim(
               translate(
                   s,
                   '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠'
                   || 'ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀'
                   || 'ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～　',
                   '!"#$' || chr(37) || '&''()*+,-./0123456789:;<=>?@'
                   || 'ABCDEFGHIJKLMNOPQRSTUVWXYZ[' || chr(92) || ']^_`'
                   || 'abcdefghijklmnopqrstuvwxyz{|}~ '
               ),
               ' ' || chr(9) || chr(10) || chr(13) || chr(11) || chr(12) || chr(160)
           ),
           'abcdefghijklmnopqrstuvwxyz',
           'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
       )
$fn$;

COMMENT ON FUNCTION dw.normalize_code(text) IS
    '代码规范化：全角转半角、去除首尾空白、ASCII 小写转大写，其他一概不改 / '
    'Code normalisation: full-width to ASCII, trim surrounding whitespace, upper-case ASCII a-z, nothing else';


-- is_valid_uscc -------------------------------------------------------------------------------------
-- GB 32100-2015, strict on the text as given (normalise first). Returns false, never NULL.
CREATE OR REPLACE FUNCTION dw.is_valid_uscc(s text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
    alphabet  CONSTANT text := '0123456789ABCDEFGHJKLMNPQRTUWXY';  -- value = position - 1
    org_chars CONSTANT text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';  -- GB 11714 value = position - 1
    uscc_w    CONSTANT integer[] := ARRAY[1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    org_w     CONSTANT integer[] := ARRAY[3, 7, 9, 10, 5, 8, 4, 2];
    total     integer := 0;
    org_total integer := 0;
    org_check integer;
    org_check_char text;
    pos       integer;
BEGIN
    IF s IS NULL OR char_length(s) <> 18 THEN
        RETURN false;
    END IF;
    -- registration authority
    IF strpos('123456789ANY', substr(s, 1, 1)) = 0 THEN
        RETURN false;
    END IF;
    FOR i IN 1..18 LOOP
        pos := strpos(alphabet, substr(s, i, 1));
        IF pos = 0 THEN
            RETURN false;
        END IF;
        -- chars 3-8 are the administrative division code
        IF i BETWEEN 3 AND 8 AND pos > 10 THEN
            RETURN false;
        END IF;
        IF i <= 17 THEN
            total := total + uscc_w[i] * (pos - 1);
        END IF;
        -- chars 9-16 are the body of the embedded organisation code
        IF i BETWEEN 9 AND 16 THEN
            org_total := org_total + org_w[i - 8] * (strpos(org_chars, substr(s, i, 1)) - 1);
        END IF;
    END LOOP;
    org_check := 11 - mod(org_total, 11);
    -- (computed before the IF because PL/pgSQL would read the CASE's first THEN as the IF's)
    org_check_char := CASE org_check WHEN 10 THEN 'X' WHEN 11 THEN '0' ELSE org_check::text END;
    IF substr(s, 17, 1) <> org_check_char THEN
        RETURN false;
    END IF;
    RETURN substr(s, 18, 1) = substr(alphabet, mod(31 - mod(total, 31), 31) + 1, 1);
END
$fn$;

COMMENT ON FUNCTION dw.is_valid_uscc(text) IS
    '统一社会信用代码校验（GB 32100-2015，含组织机构代码校验位）/ '
    'USCC check per GB 32100-2015 incl. the embedded organisation-code check';


-- is_valid_id_number --------------------------------------------------------------------------------
-- GB 11643-1999, strict on the text as given. The birth date is validated arithmetically (an impossible
-- date such as 20230230 gives false instead of a cast error) and must lie between 1900-01-01 and as_of.
-- as_of NULL means today in Asia/Shanghai, like as_of=None in Python. Returns false, never NULL.
CREATE OR REPLACE FUNCTION dw.is_valid_id_number(
    s text,
    as_of date DEFAULT (now() AT TIME ZONE 'Asia/Shanghai')::date
)
RETURNS boolean
LANGUAGE plpgsql
STABLE PARALLEL SAFE
AS $fn$
DECLARE
    digits CONSTANT text := '0123456789';
    w      CONSTANT integer[] := ARRAY[7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    total  integer := 0;
    pos    integer;
    y      integer;
    m      integer;
    d      integer;
    month_days integer;
BEGIN
    IF s IS NULL OR char_length(s) <> 18 THEN
        RETURN false;
    END IF;
    FOR i IN 1..17 LOOP
        pos := strpos(digits, substr(s, i, 1));
        IF pos = 0 THEN
            RETURN false;
        END IF;
        total := total + w[i] * (pos - 1);
    END LOOP;
    IF strpos('0123456789X', substr(s, 18, 1)) = 0 THEN
        RETURN false;
    END IF;
    IF NOT substr(s, 1, 2) = ANY (ARRAY[
            '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37',
            '41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62', '63', '64', '65',
            '71', '81', '82', '83']) THEN
        RETURN false;
    END IF;
    -- only ASCII digits are left, so these casts cannot fail
    y := substr(s, 7, 4)::integer;
    m := substr(s, 11, 2)::integer;
    d := substr(s, 13, 2)::integer;
    IF y < 1900 OR m < 1 OR m > 12 OR d < 1 THEN
        RETURN false;
    END IF;
    month_days := CASE
        WHEN m = 2 THEN
            CASE WHEN (mod(y, 4) = 0 AND mod(y, 100) <> 0) OR mod(y, 400) = 0 THEN 29 ELSE 28 END
        WHEN m IN (4, 6, 9, 11) THEN 30
        ELSE 31
    END;
    IF d > month_days THEN
        RETURN false;
    END IF;
    -- the date is known to exist now, so make_date cannot raise
    IF make_date(y, m, d) > coalesce(as_of, (now() AT TIME ZONE 'Asia/Shanghai')::date) THEN
        RETURN false;
    END IF;
    RETURN substr(s, 18, 1) = substr('10X98765432', mod(total, 11) + 1, 1);
END
$fn$;

COMMENT ON FUNCTION dw.is_valid_id_number(text, date) IS
    '公民身份号码校验（GB 11643-1999）：省级代码、出生日期（1900 年起且不晚于 as_of，默认北京时间今天）、校验位 / '
    'Citizen ID number check per GB 11643-1999: province code, birth date (from 1900, not after as_of, '
    'default today in Asia/Shanghai) and check character';


-- mask_id_number ------------------------------------------------------------------------------------
-- Keep the first 4 and last 4 characters; strings shorter than 9 characters are masked completely.
CREATE OR REPLACE FUNCTION dw.mask_id_number(s text)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
SELECT CASE
           WHEN char_length(s) < 9 THEN repeat('*', char_length(s))
           ELSE left(s, 4) || repeat('*', char_length(s) - 8) || right(s, 4)
       END
$fn$;

COMMENT ON FUNCTION dw.mask_id_number(text) IS
    '身份证号脱敏：保留前 4 位和后 4 位，其余替换为 *；不足 9 位全部替换 / '
    'ID number masking: keep the first 4 and last 4 characters, star the rest; shorter than 9 all stars';
