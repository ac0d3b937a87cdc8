-- The whiteboard and the shared notes of each lesson (issue 22): the CRDT document as the hub
-- holds it (a Yjs update, v1, from the empty state) and, for the notes, their text. Saved while
-- the lesson goes on (at most every 30 s of changes) and when it ends or the room empties. Keyed
-- by the lesson id (`{room}.{started_ms}`, 0010), which may be written after these rows.
CREATE TABLE lesson_boards (
    lesson_id  TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    -- board | notes
    doc        TEXT NOT NULL CHECK (doc IN ('board', 'notes')),
    state      BLOB NOT NULL,
    -- the notes as plain text (Markdown); NULL for the whiteboard
    text       TEXT,
    saved_at   INTEGER NOT NULL,
    PRIMARY KEY (lesson_id, doc)
);
