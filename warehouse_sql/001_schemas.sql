-- The five layers of the warehouse, left to right in the data flow.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS dw;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS outbox;
CREATE SCHEMA IF NOT EXISTS mart;

COMMENT ON SCHEMA staging IS '暂存层：每批源数据按原文本装入，带批次号和行号 / Staging: each landed batch as text, with batch_id and row_no';
COMMENT ON SCHEMA dw IS '数据仓库层：星型模型（维度与信用记录事实）/ Warehouse: the star schema (dimensions and credit-record facts)';
COMMENT ON SCHEMA audit IS '审计层：批次、隔离行、水位线、迁移记录 / Audit: batches, quarantined rows, watermarks, migrations';
COMMENT ON SCHEMA outbox IS '发件箱：待上报省级和国家平台的数据 / Outbox: items waiting to be pushed to the provincial and national platforms';
COMMENT ON SCHEMA mart IS '集市层：供 BI 工具查询的视图（身份证号已脱敏）/ Marts: views for BI tools (ID numbers masked)';
