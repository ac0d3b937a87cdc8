-- PostgreSQL twin of hub/migrations/0013_device_move.sql (docs/cluster.md): BIGINT for INTEGER, identity
-- columns for AUTOINCREMENT, BOOLEAN for flags, BYTEA for BLOB, and byte-order ("C") collation
-- on text so rows sort as they do in SQLite.
-- Moving an enrolled box to another room (web admin, `lectern_admin::device_move`). The box gets a
-- new credential for the new room; its old one (`handover_jti`) stays good for one thing only, to
-- fetch the new one on `/device/ws` when the box was offline or missed the push, and is retired
-- the first time the box connects with the new one.
ALTER TABLE admin_devices ADD COLUMN handover_jti TEXT COLLATE "C";

-- Credentials a box held before a move: refused everywhere, from start-up on.
CREATE TABLE admin_retired_credentials (
    jti        TEXT COLLATE "C" PRIMARY KEY,
    device_id  TEXT COLLATE "C" NOT NULL REFERENCES admin_devices(id) ON DELETE CASCADE,
    retired_at BIGINT NOT NULL
);
