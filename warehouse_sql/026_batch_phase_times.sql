-- Every phase of a batch's time is recorded with the batch (stage_ms, validate_ms, gx_ms, load_ms were):
-- landing its bytes, and, within the load, writing its outbox items.
ALTER TABLE audit.batch
    ADD COLUMN land_ms   integer,
    ADD COLUMN outbox_ms integer;

COMMENT ON COLUMN audit.batch.land_ms IS '落地耗时（读取、校验和复制源字节，毫秒）/ Landing time: reading, hashing and copying the source bytes, ms';
COMMENT ON COLUMN audit.batch.outbox_ms IS '写入发件箱耗时（入库的一部分，毫秒）/ Outbox time: writing the publicity items, part of the load, ms';
