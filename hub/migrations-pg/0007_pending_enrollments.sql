-- PostgreSQL twin of hub/migrations/0007_pending_enrollments.sql (docs/cluster.md): BIGINT for INTEGER, identity
-- columns for AUTOINCREMENT, BOOLEAN for flags, BYTEA for BLOB, and byte-order ("C") collation
-- on text so rows sort as they do in SQLite.
-- Boxes waiting to be enrolled (`hub/src/enroll.rs`): kept across a hub restart, so a box that
-- reconnects shows the same claim code while someone is typing it. The whole table is rewritten
-- from the hub's memory whenever it changes (at most 2000 rows).
CREATE TABLE pending_enrollments (
    code       TEXT COLLATE "C" PRIMARY KEY,
    -- SHA-256 of the box's secret key, hex
    box_key    TEXT COLLATE "C" NOT NULL UNIQUE,
    hostname   TEXT COLLATE "C" NOT NULL,
    version    TEXT COLLATE "C" NOT NULL,
    ip         TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
