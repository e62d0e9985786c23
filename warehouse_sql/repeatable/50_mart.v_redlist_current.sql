DROP VIEW IF EXISTS mart.v_redlist_current;
CREATE VIEW mart.v_redlist_current WITH (security_barrier) AS
SELECT f.record_uid,
       d.department_code,
       d.name_zh AS department_name,
       dw.mask_code(s.subject_code, s.code_kind) AS subject_code,
       s.code_kind,
       s.subject_type,
       pii.mask_text(c.name) AS subject_name,
       pii.mask_text(f.attributes ->> 'RY_RYMC') AS honour,
       f.attributes ->> 'RY_RYJB' AS honour_level,
       pii.mask_text(f.document_number) AS document_number,
       dd.date AS award_date,
       dd.year_month AS award_month,
       (f.attributes ->> 'RY_YXQZ')::date AS valid_to,
       pii.mask_text(f.attributes ->> 'RY_RDJG') AS authority,
       dw.mask_code(f.attributes ->> 'RY_RDJGDM') AS authority_uscc,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
  JOIN dw.dim_subject AS s ON s.subject_key = f.subject_key
  JOIN dw.dim_subject AS c ON c.subject_code = s.subject_code AND c.is_current
 WHERE r.record_type_code = 'red_list'
   AND f.status = 'active'
   AND (r.record_type_code <> 'red_list'
        OR coalesce((f.attributes ->> 'RY_YXQZ')::date >= (now() AT TIME ZONE 'Asia/Shanghai')::date, true));

COMMENT ON VIEW mart.v_redlist_current IS
    '红名单（当前）：每条今天仍有效的诚实守信荣誉记录一行，主体标识已脱敏 / '
    'Red list now: one row per honour still valid today, subject codes masked';
COMMENT ON COLUMN mart.v_redlist_current.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_redlist_current.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_redlist_current.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_redlist_current.subject_code IS
    '主体标识：统一社会信用代码原样，身份证号等证件号码脱敏 / Subject code: USCC as is, ID numbers masked';
COMMENT ON COLUMN mart.v_redlist_current.code_kind IS '标识类型：uscc、id_number、other / Kind of subject code';
COMMENT ON COLUMN mart.v_redlist_current.subject_type IS '行政相对人类别 / Subject category';
COMMENT ON COLUMN mart.v_redlist_current.subject_name IS '主体当前名称 / Subject''s current name';
COMMENT ON COLUMN mart.v_redlist_current.honour IS '荣誉名称（RY_RYMC）/ Honour';
COMMENT ON COLUMN mart.v_redlist_current.honour_level IS '荣誉级别（RY_RYJB）：国家级、省级、市级、县级 / Level';
COMMENT ON COLUMN mart.v_redlist_current.document_number IS '认定文号（RY_WSH）/ Award document number';
COMMENT ON COLUMN mart.v_redlist_current.award_date IS '认定日期（RY_RDRQ）/ Award date';
COMMENT ON COLUMN mart.v_redlist_current.award_month IS '认定年月（YYYY-MM），按月筛选 / Award month (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_redlist_current.valid_to IS '有效期至（RY_YXQZ，空为长期）/ Valid to (NULL = no end date)';
COMMENT ON COLUMN mart.v_redlist_current.authority IS '认定机关（RY_RDJG）/ Awarding authority';
COMMENT ON COLUMN mart.v_redlist_current.authority_uscc IS '认定机关统一社会信用代码（RY_RDJGDM）/ Awarding authority USCC';
COMMENT ON COLUMN mart.v_redlist_current.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';
