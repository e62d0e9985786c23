DROP VIEW IF EXISTS mart.v_publicity_license;
CREATE VIEW mart.v_publicity_license WITH (security_barrier) AS
SELECT f.record_uid,
       d.department_code,
       d.name_zh AS department_name,
       pii.mask_text(f.attributes ->> 'XK_XDR_MC') AS subject_name,
       f.attributes ->> 'XK_XDR_LB' AS subject_category,
       dw.mask_code(f.attributes ->> 'XK_XDR_SHXYM') AS uscc,
       pii.mask_text(f.attributes ->> 'XK_FRDB') AS legal_representative,
       f.attributes ->> 'XK_FR_ZJLX' AS legal_representative_id_type,
       pii.mask_id(f.attributes ->> 'XK_FR_ZJHM', f.attributes ->> 'XK_FR_ZJLX') AS legal_representative_id_number,
       f.attributes ->> 'XK_XDR_ZJLX' AS id_type,
       pii.mask_id(f.attributes ->> 'XK_XDR_ZJHM', f.attributes ->> 'XK_XDR_ZJLX') AS id_number,
       pii.mask_text(f.attributes ->> 'XK_XKWS') AS document_title,
       pii.mask_text(f.document_number) AS document_number,
       f.attributes ->> 'XK_XKLB' AS licence_category,
       pii.mask_text(f.attributes ->> 'XK_XKZS') AS certificate_name,
       pii.mask_text(f.attributes ->> 'XK_XKBH') AS licence_number,
       pii.mask_text(f.attributes ->> 'XK_NR') AS licence_content,
       dd.date AS decision_date,
       dd.year_month AS decision_month,
       (f.attributes ->> 'XK_YXQZ')::date AS valid_from,
       (f.attributes ->> 'XK_YXQZI')::date AS valid_to,
       pii.mask_text(f.attributes ->> 'XK_XKJG') AS authority,
       dw.mask_code(f.attributes ->> 'XK_XKJGDM') AS authority_uscc,
       pii.mask_text(f.attributes ->> 'XK_LYDW') AS source_agency,
       dw.mask_code(f.attributes ->> 'XK_LYDWDM') AS source_agency_uscc,
       f.publicity_start,
       f.publicity_end,
       f.publicity_due,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
 WHERE r.record_type_code = 'license'
   AND f.status = 'active'
   AND f.publicity_start <= (now() AT TIME ZONE 'Asia/Shanghai')::date
   AND f.publicity_end >= (now() AT TIME ZONE 'Asia/Shanghai')::date;

COMMENT ON VIEW mart.v_publicity_license IS
    '行政许可公示（当前）：每条今天（北京时间）处于公示期内的有效行政许可一行，字段同平台公示，证件号码已脱敏 / '
    'Licences public now: one row per active licence whose publicity window covers today (Asia/Shanghai), '
    'standard fields as the platforms show them, ID numbers masked';
COMMENT ON COLUMN mart.v_publicity_license.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_publicity_license.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_publicity_license.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_publicity_license.subject_name IS '行政相对人名称（XK_XDR_MC）/ Subject name';
COMMENT ON COLUMN mart.v_publicity_license.subject_category IS
    '行政相对人类别（XK_XDR_LB）：法人及非法人组织、自然人、个体工商户 / Subject category';
COMMENT ON COLUMN mart.v_publicity_license.uscc IS '统一社会信用代码（XK_XDR_SHXYM）/ Unified social credit code (USCC)';
COMMENT ON COLUMN mart.v_publicity_license.legal_representative IS '法定代表人（XK_FRDB）/ Legal representative';
COMMENT ON COLUMN mart.v_publicity_license.legal_representative_id_type IS
    '法定代表人证件类型（XK_FR_ZJLX）/ Legal representative''s ID type';
COMMENT ON COLUMN mart.v_publicity_license.legal_representative_id_number IS
    '法定代表人证件号码（XK_FR_ZJHM，已脱敏）/ Legal representative''s ID number, masked';
COMMENT ON COLUMN mart.v_publicity_license.id_type IS '证件类型（XK_XDR_ZJLX，自然人）/ ID type (natural persons)';
COMMENT ON COLUMN mart.v_publicity_license.id_number IS '证件号码（XK_XDR_ZJHM，已脱敏）/ ID number, masked';
COMMENT ON COLUMN mart.v_publicity_license.document_title IS '许可决定文书名称（XK_XKWS）/ Decision document title';
COMMENT ON COLUMN mart.v_publicity_license.document_number IS '许可决定文书号（XK_WSH）/ Decision document number';
COMMENT ON COLUMN mart.v_publicity_license.licence_category IS
    '许可类别（XK_XKLB）：普通、特许、认可、核准、登记、其他 / Licence category';
COMMENT ON COLUMN mart.v_publicity_license.certificate_name IS '许可证书名称（XK_XKZS）/ Certificate name';
COMMENT ON COLUMN mart.v_publicity_license.licence_number IS '许可编号（XK_XKBH）/ Licence number';
COMMENT ON COLUMN mart.v_publicity_license.licence_content IS '许可内容（XK_NR）/ Licence content';
COMMENT ON COLUMN mart.v_publicity_license.decision_date IS '许可决定日期（XK_JDRQ）/ Decision date';
COMMENT ON COLUMN mart.v_publicity_license.decision_month IS '决定年月（YYYY-MM），按月筛选 / Decision month (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_publicity_license.valid_from IS '有效期自（XK_YXQZ）/ Valid from';
COMMENT ON COLUMN mart.v_publicity_license.valid_to IS '有效期至（XK_YXQZI，2099-12-31 为长期）/ Valid to (2099-12-31 = long-term)';
COMMENT ON COLUMN mart.v_publicity_license.authority IS '许可机关（XK_XKJG）/ Licensing authority';
COMMENT ON COLUMN mart.v_publicity_license.authority_uscc IS '许可机关统一社会信用代码（XK_XKJGDM）/ Licensing authority USCC';
COMMENT ON COLUMN mart.v_publicity_license.source_agency IS '数据来源单位（XK_LYDW）/ Source agency';
COMMENT ON COLUMN mart.v_publicity_license.source_agency_uscc IS '数据来源单位统一社会信用代码（XK_LYDWDM）/ Source agency USCC';
COMMENT ON COLUMN mart.v_publicity_license.publicity_start IS '公示开始日期 / First day of publicity';
COMMENT ON COLUMN mart.v_publicity_license.publicity_end IS '公示截止日期 / Last day of publicity';
COMMENT ON COLUMN mart.v_publicity_license.publicity_due IS
    '应公示截止日（决定日后第 7 个工作日）/ Publicity due: the 7th working day after the decision';
COMMENT ON COLUMN mart.v_publicity_license.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';
