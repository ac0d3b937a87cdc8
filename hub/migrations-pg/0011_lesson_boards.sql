-- PostgreSQL twin of hub/migrations/0011_lesson_boards.sql (docs/cluster.md): BIGINT for INTEGER, identity
-- columns for AUTOINCREMENT, BOOLEAN for flags, BYTEA for BLOB, and byte-order ("C") collation
-- on text so rows sort as they do in SQLite.
-- The whiteboard and the shared notes of each lesson (issue 22): the CRDT document as the hub
-- holds it (a Yjs update, v1, from the empty state) and, for the notes, their text. Saved while
-- the lesson goes on (at most every 30 s of changes) and when it ends or the room empties. Keyed
-- by the lesson id (`{room}.{started_ms}`, 0010), which may be written after these rows.
CREATE TABLE lesson_boards (
    lesson_id  TEXT COLLATE "C" NOT NULL,
    room_id    TEXT COLLATE "C" NOT NULL,
    -- board | notes
    doc        TEXT COLLATE "C" NOT NULL CHECK (doc IN ('board', 'notes')),
    state      BYTEA NOT NULL,
    -- the notes as plain text (Markdown); NULL for the whiteboard
    text       TEXT COLLATE "C",
    saved_at   BIGINT NOT NULL,
    PRIMARY KEY (lesson_id, doc)
);
