-- Dates as departments write them: 2022-03-05, 2022/03/05, 20220305, 2022年3月5日, an Excel serial
-- (days since 1899-12-30), optionally with a time, or epoch milliseconds as platform APIs export a Date
-- (1719561600000: the calendar day in Asia/Shanghai). NULL for empty or impossible, never an error,
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
        IF v ~ '^[0-9]{12,13}$' THEN  -- epoch milliseconds: 2001-09-09 to 2286
            RETURN (to_timestamp(v::bigint / 1000.0) AT TIME ZONE 'Asia/Shanghai')::date;
        END IF;
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
    '解析部门常见日期写法（含 Excel 序列号、毫秒时间戳），无效返回 NULL / Parse the date spellings departments use '
    '(incl. Excel serials and epoch milliseconds); NULL when impossible';
