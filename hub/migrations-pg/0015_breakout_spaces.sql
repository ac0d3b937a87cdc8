-- PostgreSQL twin of hub/migrations/0015_breakout_spaces.sql (docs/cluster.md): BIGINT for INTEGER,
-- BYTEA for BLOB, and byte-order ("C") collation on text so rows sort as they do in SQLite.
-- Breakout groups (issue 22): each group's chat, whiteboard and notes, kept with the parent lesson
-- when its round closes (and, for a round still on, when the lesson ends or the room empties).
-- Keyed by the parent lesson (`{room}.{started_ms}`, 0010), the round within it (from 1) and the
-- group within the round (from 1). Time per group is in the lesson's attendance JSON.
CREATE TABLE breakout_spaces (
    lesson_id   TEXT COLLATE "C" NOT NULL,
    round       BIGINT NOT NULL,
    group_no    BIGINT NOT NULL,
    room_id     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    -- the group's chat, every message (private ones included), as a JSON array
    chat        TEXT COLLATE "C" NOT NULL,
    -- the whiteboard and the notes, each the whole Yjs document (v1)
    board       BYTEA NOT NULL,
    notes       BYTEA NOT NULL,
    notes_text  TEXT COLLATE "C" NOT NULL,
    saved_at    BIGINT NOT NULL,
    PRIMARY KEY (lesson_id, round, group_no)
);
