-- The money amounts a text writes in 元, as numbers of yuan: 处罚内容 says "罚款人民币2000元", "罚款2,000.00元",
-- "罚款1.5万元", "罚款贰仟元整", "没收违法所得五千元" or "罚款5千元" (Arabic and Chinese numerals, 万 and 亿 as units,
-- full-width digits). Used by the fine-unit rule: CF_NR_FK and CF_NR_WFFF are in 万元, and a department that
-- sends the yuan figure (2000 for 贰仟元) is told so. NULL when the text names no amount in 元; never an error.
CREATE OR REPLACE FUNCTION dw.yuan_amounts(value text) RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
    v       text := dw.halfwidth(value);
    amounts numeric[] := '{}';
    found   text[];
    token   text;
    piece   text;
    digit   numeric;
    total   numeric;
    section numeric;
    number  numeric;
BEGIN
    IF v IS NULL OR v !~ '[元圆]' THEN
        RETURN NULL;
    END IF;
    FOR found IN SELECT regexp_matches(v, '([0-9.,零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖十拾百佰千仟万萬亿億]+)\s*[元圆]', 'g')
    LOOP
        token := btrim(found[1], '.,');  -- punctuation before the number is the sentence's
        total := 0; section := 0; number := NULL;
        -- pieces: a run of Arabic digits (with , and .), or one Chinese numeral or unit
        FOR piece IN SELECT m[1] FROM regexp_matches(token, '([0-9][0-9,]*(?:\.[0-9]+)?|.)', 'g') AS m
        LOOP
            IF piece ~ '^[0-9]' OR piece IN ('.', ',') THEN
                IF number IS NOT NULL OR piece IN ('.', ',') THEN
                    total := NULL;  -- "1.2.3", two numbers with no unit between: not an amount
                    EXIT;
                END IF;
                number := replace(piece, ',', '')::numeric;
                CONTINUE;
            END IF;
            IF piece IN ('零', '〇') THEN
                CONTINUE;  -- 一千零五十: a zero only marks a gap
            END IF;
            digit := strpos('零一二三四五六七八九', piece) - 1;
            IF digit < 0 THEN digit := strpos('〇壹贰叁肆伍陆柒捌玖', piece) - 1; END IF;
            IF piece = '两' THEN digit := 2; END IF;
            IF digit >= 0 THEN
                number := digit;
            ELSIF piece IN ('十', '拾') THEN
                section := section + coalesce(number, 1) * 10; number := NULL;
            ELSIF piece IN ('百', '佰') THEN
                section := section + coalesce(number, 0) * 100; number := NULL;
            ELSIF piece IN ('千', '仟') THEN
                section := section + coalesce(number, 0) * 1000; number := NULL;
            ELSIF piece IN ('万', '萬') THEN
                total := total + (section + coalesce(number, 0)) * 10000; section := 0; number := NULL;
            ELSIF piece IN ('亿', '億') THEN
                total := (total + section + coalesce(number, 0)) * 100000000; section := 0; number := NULL;
            END IF;
        END LOOP;
        IF total IS NOT NULL THEN
            total := total + section + coalesce(number, 0);
            IF total > 0 THEN
                amounts := amounts || total;
            END IF;
        END IF;
    END LOOP;
    RETURN NULLIF(amounts, '{}');
EXCEPTION WHEN numeric_value_out_of_range OR invalid_text_representation THEN
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION dw.yuan_amounts(text) IS
    '文本中以“元”写明的金额（元）：阿拉伯数字或中文大小写数字，含万、亿 / The amounts a text writes in 元 (yuan), '
    'in Arabic or Chinese numerals with 万 and 亿';
