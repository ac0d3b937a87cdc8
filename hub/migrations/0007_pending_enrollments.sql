-- Boxes waiting to be enrolled (`hub/src/enroll.rs`): kept across a hub restart, so a box that
-- reconnects shows the same claim code while someone is typing it. The whole table is rewritten
-- from the hub's memory whenever it changes (at most 2000 rows).
CREATE TABLE pending_enrollments (
    code       TEXT PRIMARY KEY,
    -- SHA-256 of the box's secret key, hex
    box_key    TEXT NOT NULL UNIQUE,
    hostname   TEXT NOT NULL,
    version    TEXT NOT NULL,
    ip         TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
