DROP VIEW IF EXISTS mart.v_blacklist_current;
-- The listings in force today as BI sees them: dw.blacklist_listing, a security barrier that keeps out every
-- other fact (see there), with the remaining texts masked here, outside the barrier, and computed for the rows
-- a reader's conditions keep. Not a barrier itself: it filters no row of its own, and a reader's function is
-- given the barrier view's rows and these masked values, never the facts behind them.
CREATE VIEW mart.v_blacklist_current AS
SELECT b.record_uid,
       b.list_type,
       b.list_name,
       b.department_code,
       b.department_name,
       b.subject_code,
       b.code_kind,
       b.subject_type,
       b.subject_name,
       pii.mask_text(b.document_number) AS document_number,
       b.listed_date,
       b.listed_month,
       b.removal_date,
       b.attributes ->> 'SX_MDLX' AS list_area,
       pii.mask_text(coalesce(b.attributes ->> 'SX_LRYY', b.attributes ->> 'YC_LRYY', b.attributes ->> 'ZX_SXQX'))
           AS reason,
       pii.mask_text(coalesce(b.attributes ->> 'SX_RDJG', b.attributes ->> 'YC_ZCJG', b.attributes ->> 'ZX_ZXFY'))
           AS authority,
       pii.mask_text(b.attributes ->> 'ZX_LXQK') AS performance,
       b.updated_at
  FROM dw.blacklist_listing AS b;

COMMENT ON VIEW mart.v_blacklist_current IS
    '黑名单（当前）：每条今天仍有效的严重失信主体名单、失信被执行人、经营异常名录记录一行（未移出），主体标识已脱敏 / '
    'Blacklists now: one row per listing still in force today (serious dishonesty, dishonest judgment debtor, '
    'abnormal operation; not removed), subject codes masked';
COMMENT ON COLUMN mart.v_blacklist_current.record_uid IS '记录稳定标识 / Stable record id';
COMMENT ON COLUMN mart.v_blacklist_current.list_type IS
    '名单类型：serious_dishonesty 严重失信、dishonest_debtor 失信被执行人、abnormal_operation 经营异常 / List';
COMMENT ON COLUMN mart.v_blacklist_current.list_name IS '名单中文名称 / List name in Chinese';
COMMENT ON COLUMN mart.v_blacklist_current.department_code IS '报送部门编码 / Department code';
COMMENT ON COLUMN mart.v_blacklist_current.department_name IS '报送部门名称 / Department name';
COMMENT ON COLUMN mart.v_blacklist_current.subject_code IS
    '主体标识：统一社会信用代码原样，身份证号等证件号码脱敏 / Subject code: USCC as is, ID numbers masked';
COMMENT ON COLUMN mart.v_blacklist_current.code_kind IS '标识类型：uscc、id_number、other / Kind of subject code';
COMMENT ON COLUMN mart.v_blacklist_current.subject_type IS '行政相对人类别 / Subject category';
COMMENT ON COLUMN mart.v_blacklist_current.subject_name IS '主体当前名称 / Subject''s current name';
COMMENT ON COLUMN mart.v_blacklist_current.document_number IS '列入决定文书号或案号 / Listing document or case number';
COMMENT ON COLUMN mart.v_blacklist_current.listed_date IS '列入（发布）日期 / Listed (published) on';
COMMENT ON COLUMN mart.v_blacklist_current.listed_month IS '列入年月（YYYY-MM），按月筛选 / Month listed (YYYY-MM), for monthly filters';
COMMENT ON COLUMN mart.v_blacklist_current.removal_date IS
    '已定的移出日期（晚于今天；空为未定）/ Removal date already set (after today); NULL when none';
COMMENT ON COLUMN mart.v_blacklist_current.list_area IS '严重失信名单类别（SX_MDLX）/ Area of a serious dishonesty listing';
COMMENT ON COLUMN mart.v_blacklist_current.reason IS
    '列入原因或失信情形（SX_LRYY、YC_LRYY、ZX_SXQX）/ Reason for listing or dishonest conduct';
COMMENT ON COLUMN mart.v_blacklist_current.authority IS
    '认定机关、作出决定机关或执行法院 / Listing authority, deciding authority or enforcing court';
COMMENT ON COLUMN mart.v_blacklist_current.performance IS
    '被执行人的履行情况（ZX_LXQK，仅失信被执行人）/ Performance of the judgment (dishonest debtors only)';
COMMENT ON COLUMN mart.v_blacklist_current.updated_at IS '记录最近变更时间（UTC）/ Record last changed (UTC)';
