-- What a drop folder held that was not taken: entries refused without being read (symbolic links,
-- hard links, FIFOs and other special files, folders named like data, names matching two feeds) and
-- files whose name matches no feed. Recorded by each scan of the folder; an entry that is gone, or has
-- become a file a feed takes, is marked resolved, so `creditwh status` shows what needs a look now and
-- the table keeps what was refused for the record.

CREATE TABLE audit.drop_notice (
    department_code text        NOT NULL REFERENCES dw.dim_department (department_code),
    entry_name      text        NOT NULL,
    feed_code       text,
    kind            text        NOT NULL CHECK (kind IN ('refused', 'unmatched')),
    reason_zh       text        NOT NULL,
    reason_en       text        NOT NULL,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    PRIMARY KEY (department_code, entry_name)
);
CREATE INDEX drop_notice_open_idx ON audit.drop_notice (department_code) WHERE resolved_at IS NULL;
COMMENT ON TABLE audit.drop_notice IS
    '投放文件夹中未读取的条目：每个部门文件夹的每个条目一行（拒绝读取的链接、特殊文件，或不符合任何数据源的文件名）/ '
    'Drop-folder entries not taken: one row per entry of a department''s folder that was refused unread '
    '(links, special files) or matches no feed';
COMMENT ON COLUMN audit.drop_notice.department_code IS '部门编码 / Department whose folder holds the entry';
COMMENT ON COLUMN audit.drop_notice.entry_name IS '条目名称 / Name of the entry in the folder';
COMMENT ON COLUMN audit.drop_notice.feed_code IS '文件名对应的数据源（无则为空）/ Feed the name matches, if one';
COMMENT ON COLUMN audit.drop_notice.kind IS
    '类别：refused 拒绝读取、unmatched 不符合任何数据源 / refused (never read) or unmatched (no feed takes the name)';
COMMENT ON COLUMN audit.drop_notice.reason_zh IS '原因（中文）/ Reason in Chinese';
COMMENT ON COLUMN audit.drop_notice.reason_en IS '原因（英文）/ Reason in English';
COMMENT ON COLUMN audit.drop_notice.first_seen_at IS '首次发现时间（UTC）/ First seen (UTC)';
COMMENT ON COLUMN audit.drop_notice.last_seen_at IS '最近一次发现时间（UTC）/ Last seen (UTC)';
COMMENT ON COLUMN audit.drop_notice.resolved_at IS
    '条目消失或变为可读取文件的时间（UTC）；为空表示仍待处理 / When the entry went away or became a file a feed takes (UTC); NULL while open';
