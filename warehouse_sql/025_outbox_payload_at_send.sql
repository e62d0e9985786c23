-- The load writes an outbox item as a reference to the fact version it is about (record_key + content_hash);
-- the masked payload is built when the item is first sent, and kept: what went out stays on record, and a
-- re-send after a crash sends the same bytes. An item not yet sent has no payload.
ALTER TABLE outbox.publicity_item ALTER COLUMN payload DROP NOT NULL;

COMMENT ON COLUMN outbox.publicity_item.payload IS
    '上报内容（首次发送时由该版本的记录生成并保存）：标准字段编码（CF_/XK_），证件号码已脱敏；未发送为空 / '
    'Payload as sent, built from the record version when first sent and kept: standard field codes (CF_/XK_), '
    'ID numbers masked; empty until sent';
