-- Dropped files landed before, by file-system signature: landing recognises them without reading them.
--
-- A department's drop folder keeps its old files, and every run listed and hashed all of them again to
-- find the ones already landed: 143 MB for a 1,000,000-record warehouse, and growing with every
-- delivery. A file whose signature (size, modification time, change time, inode) is the one recorded
-- when its bytes were landed has those bytes still: every write sets the change time, which ordinary
-- tools cannot set back (the premise of git's index). As git does for "racy" entries, a signature
-- recorded within 2 s of the file's last change is not trusted (coarse file-system clocks). A file with
-- any other signature is read and hashed as before.

CREATE TABLE audit.drop_file_seen (
    department_code text        NOT NULL REFERENCES dw.dim_department (department_code),
    feed_code       text        NOT NULL,
    file_name       text        NOT NULL,
    byte_count      bigint      NOT NULL CHECK (byte_count >= 0),
    modified_ns     bigint      NOT NULL,
    changed_ns      bigint      NOT NULL,
    inode           numeric(20) NOT NULL,  -- st_ino and st_dev are unsigned 64-bit
    device          numeric(20) NOT NULL,
    sha256          char(64)    NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    landed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (department_code, feed_code, file_name)
);
COMMENT ON TABLE audit.drop_file_seen IS
    '已落地的投放文件：每个部门数据源的每个文件一行，记其文件系统特征，特征未变的文件不再重复读取 / '
    'Dropped files landed before: one row per file of a department''s feed, with its file-system signature; '
    'a file whose signature is unchanged is not read again';
COMMENT ON COLUMN audit.drop_file_seen.department_code IS '报送部门编码 / Department whose drop folder holds the file';
COMMENT ON COLUMN audit.drop_file_seen.feed_code IS '数据源编码 / Feed the file belongs to';
COMMENT ON COLUMN audit.drop_file_seen.file_name IS '文件名 / File name in the drop folder';
COMMENT ON COLUMN audit.drop_file_seen.byte_count IS '落地时的文件大小 / Size when landed';
COMMENT ON COLUMN audit.drop_file_seen.modified_ns IS '落地时的修改时间（纳秒）/ Modification time when landed, ns';
COMMENT ON COLUMN audit.drop_file_seen.changed_ns IS
    '落地时的状态变更时间（纳秒，任何写入都会改变）/ Change time when landed, ns (any write sets it)';
COMMENT ON COLUMN audit.drop_file_seen.inode IS '落地时的 inode / Inode when landed';
COMMENT ON COLUMN audit.drop_file_seen.device IS '落地时所在设备号 / Device holding the file when landed';
COMMENT ON COLUMN audit.drop_file_seen.sha256 IS '该特征下文件字节的 SHA-256 / SHA-256 of the file''s bytes under that signature';
COMMENT ON COLUMN audit.drop_file_seen.landed_at IS '最近一次落地时间 / When the file was last landed';
