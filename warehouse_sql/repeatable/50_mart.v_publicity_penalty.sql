DROP VIEW IF EXISTS mart.v_publicity_penalty;
CREATE VIEW mart.v_publicity_penalty WITH (security_barrier) AS
SELECT f.record_uid,
       d.department_code,
       d.name_zh AS department_name,
       pii.mask_text(f.attributes ->> 'CF_XDR_MC') AS subject_name,
       f.attributes ->> 'CF_XDR_LB' AS subject_category,
       dw.mask_code(f.attributes ->> 'CF_XDR_SHXYM') AS uscc,
       pii.mask_text(f.attributes ->> 'CF_FRDB') AS legal_representative,
       f.attributes ->> 'CF_FR_ZJLX' AS legal_representative_id_type,
       pii.mask_id(f.attributes ->> 'CF_FR_ZJHM', f.attributes ->> 'CF_FR_ZJLX') AS legal_representative_id_number,
       f.attributes ->> 'CF_XDR_ZJLX' AS id_type,
       pii.mask_id(f.attributes ->> 'CF_XDR_ZJHM', f.attributes ->> 'CF_XDR_ZJLX') AS id_number,
       pii.mask_text(f.document_number) AS document_number,
       pii.mask_text(f.attributes ->> 'CF_WFXW') AS violation_type,
       pii.mask_text(f.attributes ->> 'CF_SY') AS violation_facts,
       pii.mask_text(f.attributes ->> 'CF_YJ') AS legal_basis,
       f.attributes ->> 'CF_CFLB' AS penalty_types,
       pii.mask_text(f.attributes ->> 'CF_NR') AS penalty_content,
       f.fine_amount,
       (f.attributes ->> 'CF_NR_WFFF')::numeric AS confiscated_amount,
       pii.mask_text(f.attributes ->> 'CF_NR_ZKDX') AS licence_suspended_or_revoked,
       dd.date AS decision_date,
       dd.year_month AS decision_month,
       (f.attributes ->> 'CF_YXQ')::date AS valid_until,
       f.publicity_tier,
       pii.mask_text(f.attributes ->> 'CF_CFJG') AS authority,
       dw.mask_code(f.attributes ->> 'CF_CFJGDM') AS authority_uscc,
       pii.mask_text(f.attributes ->> 'CF_SJLY') AS source_agency,
       dw.mask_code(f.attributes ->> 'CF_SJLYDM') AS source_agency_uscc,
       f.publicity_start,
       f.publicity_end,
       f.publicity_due,
       f.updated_at
  FROM dw.fact_credit_record AS f
  JOIN dw.dim_record_type AS r ON r.record_type_key = f.record_type_key
  JOIN dw.dim_department AS d ON d.department_key = f.department_key
  JOIN dw.dim_date AS dd ON dd.date_key = f.decision_date_key
 WHERE r.record_type_code = 'penalty'
   AND f.status = 'active'
   AND f.publicity_start <= (now() AT TIME ZONE 'Asia/Shanghai')::date
   AND f.publicity_end >= (now() AT TIME ZONE 'Asia/Shanghai')::date;

COMMENT ON VIEW mart.v_publicity_penalty IS
    '行政处罚公示（当前）：每条今天（北京时间）处于公示期内的有效行政处罚一行（已修复、已撤销、期满及不予公示的除外），证件号码已脱敏 / '
    'Penalties public now: one row per active penalty whose publicity window covers today (Asia/Shanghai); '
    'repaired, revoked, expired and unpublished ones are left out; ID numbers masked';
COMMENT ON COLUMN mart.v_publicity_penalty.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_publicity_penalty.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_publicity_penalty.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_publicity_penalty.subject_name IS '行政相对人名称（CF_XDR_MC）/ Subject name';
COMMENT ON COLUMN mart.v_publicity_penalty.subject_category IS
    '行政相对人类别（CF_XDR_LB）：法人及非法人组织、自然人、个体工商户 / Subject category';
COMMENT ON COLUMN mart.v_publicity_penalty.uscc IS '统一社会信用代码（CF_XDR_SHXYM）/ Unified social credit code (USCC)';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_representative IS '法定代表人（CF_FRDB）/ Legal representative';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_representative_id_type IS
    '法定代表人证件类型（CF_FR_ZJLX）/ Legal representative''s ID type';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_representative_id_number IS
    '法定代表人证件号码（CF_FR_ZJHM，已脱敏）/ Legal representative''s ID number, masked';
COMMENT ON COLUMN mart.v_publicity_penalty.id_type IS '证件类型（CF_XDR_ZJLX，自然人）/ ID type (natural persons)';
COMMENT ON COLUMN mart.v_publicity_penalty.id_number IS '证件号码（CF_XDR_ZJHM，已脱敏）/ ID number, masked';
COMMENT ON COLUMN mart.v_publicity_penalty.document_number IS '行政处罚决定书文号（CF_WSH）/ Penalty decision document number';
COMMENT ON COLUMN mart.v_publicity_penalty.violation_type IS '违法行为类型（CF_WFXW）/ Type of violation';
COMMENT ON COLUMN mart.v_publicity_penalty.violation_facts IS '违法事实（CF_SY）/ Facts of the violation';
COMMENT ON COLUMN mart.v_publicity_penalty.legal_basis IS '处罚依据（CF_YJ）/ Legal basis';
COMMENT ON COLUMN mart.v_publicity_penalty.penalty_types IS '处罚类别（CF_CFLB，多个以分号分隔）/ Penalty types, separated by semicolons';
COMMENT ON COLUMN mart.v_publicity_penalty.penalty_content IS '处罚内容（CF_NR）/ Penalty content';
COMMENT ON COLUMN mart.v_publicity_penalty.fine_amount IS '罚款金额（CF_NR_FK，万元）/ Fine in 万元 (10,000 yuan)';
COMMENT ON COLUMN mart.v_publicity_penalty.confiscated_amount IS
    '没收违法所得、没收非法财物的金额（CF_NR_WFFF，万元）/ Confiscated amount in 万元';
COMMENT ON COLUMN mart.v_publicity_penalty.licence_suspended_or_revoked IS
    '暂扣或吊销证照名称及编号（CF_NR_ZKDX）/ Licence suspended or revoked';
COMMENT ON COLUMN mart.v_publicity_penalty.decision_date IS '处罚决定日期（CF_JDRQ）/ Decision date';
COMMENT ON COLUMN mart.v_publicity_penalty.decision_month IS '决定年月（YYYY-MM），按月筛选 / Decision month (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_publicity_penalty.valid_until IS '处罚有效期（CF_YXQ）/ Penalty valid until';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_tier IS
    '公示等级：ordinary 一般、serious 严重 / Publicity tier: ordinary or serious';
COMMENT ON COLUMN mart.v_publicity_penalty.authority IS '处罚机关（CF_CFJG）/ Penalising authority';
COMMENT ON COLUMN mart.v_publicity_penalty.authority_uscc IS '处罚机关统一社会信用代码（CF_CFJGDM）/ Penalising authority USCC';
COMMENT ON COLUMN mart.v_publicity_penalty.source_agency IS '数据来源单位（CF_SJLY）/ Source agency';
COMMENT ON COLUMN mart.v_publicity_penalty.source_agency_uscc IS '数据来源单位统一社会信用代码（CF_SJLYDM）/ Source agency USCC';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_start IS '公示开始日期 / First day of publicity';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_end IS '公示截止日期 / Last day of publicity';
COMMENT ON COLUMN mart.v_publicity_penalty.publicity_due IS
    '应公示截止日（决定日后第 7 个工作日）/ Publicity due: the 7th working day after the decision';
COMMENT ON COLUMN mart.v_publicity_penalty.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';
