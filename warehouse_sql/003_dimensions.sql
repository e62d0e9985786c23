-- Dimensions of the star schema. Departments and record types are seeded from the catalog
-- (etl/catalog/*.yml) by `creditwh init`; dates from the Chinese working-day calendar.

CREATE TABLE dw.dim_department (
    department_key  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department_code text        NOT NULL UNIQUE CHECK (department_code ~ '^[a-z][a-z0-9_]*$'),
    name_zh         text        NOT NULL,
    name_en         text        NOT NULL,
    agency_uscc     char(18)    NOT NULL UNIQUE CHECK (dw.is_valid_uscc(agency_uscc)),
    feed_count      smallint    NOT NULL CHECK (feed_count > 0),
    is_active       boolean     NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dw.dim_department IS
    '部门维度：每个报送部门一行 / Department dimension: one row per department supplying credit information';
COMMENT ON COLUMN dw.dim_department.department_key IS '部门代理键 / Surrogate key';
COMMENT ON COLUMN dw.dim_department.department_code IS '部门编码（目录中的代码）/ Department code from the catalog';
COMMENT ON COLUMN dw.dim_department.name_zh IS '部门中文名称 / Department name in Chinese';
COMMENT ON COLUMN dw.dim_department.name_en IS '部门英文名称 / Department name in English';
COMMENT ON COLUMN dw.dim_department.agency_uscc IS '部门统一社会信用代码 / Agency''s unified social credit code (USCC)';
COMMENT ON COLUMN dw.dim_department.feed_count IS '该部门的数据源个数 / Number of feeds the department supplies';
COMMENT ON COLUMN dw.dim_department.is_active IS '是否仍在目录中 / Still present in the catalog';
COMMENT ON COLUMN dw.dim_department.updated_at IS '最近一次从目录同步的时间（UTC）/ Last synchronised from the catalog (UTC)';

CREATE TABLE dw.dim_record_type (
    record_type_key  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_type_code text        NOT NULL UNIQUE CHECK (record_type_code ~ '^[a-z][a-z0-9_]*$'),
    name_zh          text        NOT NULL,
    name_en          text        NOT NULL,
    catalog_category text        NOT NULL,
    polarity         text        NOT NULL CHECK (polarity IN ('positive', 'negative', 'neutral')),
    is_publicity     boolean     NOT NULL,
    field_prefix     text        NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dw.dim_record_type IS
    '信息类别维度：每种信用记录类型（公共信用信息目录条目）一行 / Record type dimension: one row per record type (catalog item)';
COMMENT ON COLUMN dw.dim_record_type.record_type_key IS '类别代理键 / Surrogate key';
COMMENT ON COLUMN dw.dim_record_type.record_type_code IS '类别编码 / Record type code from the catalog';
COMMENT ON COLUMN dw.dim_record_type.name_zh IS '类别中文名称 / Record type name in Chinese';
COMMENT ON COLUMN dw.dim_record_type.name_en IS '类别英文名称 / Record type name in English';
COMMENT ON COLUMN dw.dim_record_type.catalog_category IS
    '所属《全国公共信用信息基础目录》条目 / Item of the national public credit information catalog';
COMMENT ON COLUMN dw.dim_record_type.polarity IS '信息性质：正面、负面、中性 / Polarity: positive, negative or neutral';
COMMENT ON COLUMN dw.dim_record_type.is_publicity IS '是否属于“双公示” / Whether it is a 双公示 (licence/penalty publicity) type';
COMMENT ON COLUMN dw.dim_record_type.field_prefix IS '标准字段代码前缀（如 CF、XK）/ Prefix of its standard field codes (e.g. CF, XK)';
COMMENT ON COLUMN dw.dim_record_type.updated_at IS '最近一次从目录同步的时间（UTC）/ Last synchronised from the catalog (UTC)';

CREATE TABLE dw.dim_subject (
    subject_key          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_code         text        NOT NULL,
    code_kind            text        NOT NULL CHECK (code_kind IN ('uscc', 'id_number', 'other')),
    subject_type         text        NOT NULL CHECK (subject_type IN ('法人及非法人组织', '自然人', '个体工商户')),
    name                 text        NOT NULL,
    legal_representative text,
    id_type              text,
    attributes_hash      char(64)    NOT NULL,
    valid_from           timestamptz NOT NULL,
    valid_to             timestamptz NOT NULL DEFAULT 'infinity',
    is_current           boolean     NOT NULL DEFAULT true,
    batch_id             bigint,
    CHECK (valid_to > valid_from),
    CHECK (is_current = (valid_to = 'infinity')),
    UNIQUE (subject_code, valid_from)
);
-- At most one current version per subject: the SCD2 load relies on it.
CREATE UNIQUE INDEX dim_subject_current_uq ON dw.dim_subject (subject_code) WHERE is_current;
CREATE INDEX dim_subject_name_idx ON dw.dim_subject (name) WHERE is_current;
COMMENT ON TABLE dw.dim_subject IS
    '信用主体维度（缓慢变化维 2 型）：每个主体的每个版本一行 / Subject dimension (SCD type 2): one row per version of a subject';
COMMENT ON COLUMN dw.dim_subject.subject_key IS '主体版本代理键 / Surrogate key of this version';
COMMENT ON COLUMN dw.dim_subject.subject_code IS
    '主体标识：统一社会信用代码或身份证号（受限，仅仓库内明文）/ Subject code: USCC or ID number (restricted; masked outside dw)';
COMMENT ON COLUMN dw.dim_subject.code_kind IS '标识类型：uscc、id_number、other / Kind of subject code';
COMMENT ON COLUMN dw.dim_subject.subject_type IS
    '行政相对人类别：法人及非法人组织、自然人、个体工商户 / Subject category: organisation, natural person or individual business';
COMMENT ON COLUMN dw.dim_subject.name IS '主体名称 / Subject name';
COMMENT ON COLUMN dw.dim_subject.legal_representative IS '法定代表人 / Legal representative';
COMMENT ON COLUMN dw.dim_subject.id_type IS '证件类型（自然人）/ ID document type (natural persons)';
COMMENT ON COLUMN dw.dim_subject.attributes_hash IS
    '版本属性的 SHA-256，变化即产生新版本 / SHA-256 of the versioned attributes; a change makes a new version';
COMMENT ON COLUMN dw.dim_subject.valid_from IS '版本生效时间（UTC）/ Version valid from (UTC)';
COMMENT ON COLUMN dw.dim_subject.valid_to IS '版本失效时间，当前版本为 infinity / Version valid until; infinity for the current one';
COMMENT ON COLUMN dw.dim_subject.is_current IS '是否当前版本 / Whether this is the current version';
COMMENT ON COLUMN dw.dim_subject.batch_id IS '产生该版本的批次 / Batch that created this version';

CREATE TABLE dw.dim_date (
    date_key             integer  PRIMARY KEY CHECK (date_key BETWEEN 19000101 AND 21001231),
    date                 date     NOT NULL UNIQUE,
    year                 smallint NOT NULL,
    quarter              smallint NOT NULL CHECK (quarter BETWEEN 1 AND 4),
    month                smallint NOT NULL CHECK (month BETWEEN 1 AND 12),
    day_of_month         smallint NOT NULL CHECK (day_of_month BETWEEN 1 AND 31),
    iso_day_of_week      smallint NOT NULL CHECK (iso_day_of_week BETWEEN 1 AND 7),
    year_month           char(7)  NOT NULL,
    is_weekend           boolean  NOT NULL,
    is_holiday           boolean  NOT NULL,
    holiday_name         text,
    is_workday           boolean  NOT NULL,
    is_workday_estimated boolean  NOT NULL,
    workday_number       integer  NOT NULL,
    CHECK (date_key = to_char(date, 'YYYYMMDD')::integer)
);
-- "The 7th working day after D" becomes an index lookup on workday_number.
CREATE INDEX dim_date_workday_number_idx ON dw.dim_date (workday_number) WHERE is_workday;
COMMENT ON TABLE dw.dim_date IS
    '日期维度：每个日历日一行，含中国法定节假日与调休 / Date dimension: one row per calendar day, with Chinese holidays and make-up working days';
COMMENT ON COLUMN dw.dim_date.date_key IS '日期键（yyyymmdd）/ Date key (yyyymmdd)';
COMMENT ON COLUMN dw.dim_date.date IS '日期 / Calendar date';
COMMENT ON COLUMN dw.dim_date.year IS '年 / Year';
COMMENT ON COLUMN dw.dim_date.quarter IS '季度 / Quarter';
COMMENT ON COLUMN dw.dim_date.month IS '月 / Month';
COMMENT ON COLUMN dw.dim_date.day_of_month IS '日 / Day of month';
COMMENT ON COLUMN dw.dim_date.iso_day_of_week IS '星期（1=周一 … 7=周日）/ ISO day of week (1 = Monday … 7 = Sunday)';
COMMENT ON COLUMN dw.dim_date.year_month IS '年月（YYYY-MM），用于月度统计 / Year and month (YYYY-MM) for monthly reporting';
COMMENT ON COLUMN dw.dim_date.is_weekend IS '是否周六或周日 / Saturday or Sunday';
COMMENT ON COLUMN dw.dim_date.is_holiday IS '是否法定节假日（含调休休息日）/ Statutory holiday (incl. days off moved by 调休)';
COMMENT ON COLUMN dw.dim_date.holiday_name IS '节假日名称 / Holiday name';
COMMENT ON COLUMN dw.dim_date.is_workday IS
    '是否工作日（周末与法定假日休息，调休上班日工作）/ Working day: weekends and holidays off, make-up Saturdays/Sundays on';
COMMENT ON COLUMN dw.dim_date.is_workday_estimated IS
    '该年国务院放假安排尚未收录，工作日为估计值 / The State Council schedule for this year is not in the calendar library: estimated';
COMMENT ON COLUMN dw.dim_date.workday_number IS
    '自 2000-01-01 起累计工作日序号，用于计算“N 个工作日内” / Running count of working days since 2000-01-01, for "within N working days"';
