-- Breakout groups (issue 22): each group's chat, whiteboard and notes, kept with the parent lesson
-- when its round closes (and, for a round still on, when the lesson ends or the room empties).
-- Keyed by the parent lesson (`{room}.{started_ms}`, 0010), the round within it (from 1) and the
-- group within the round (from 1). Time per group is in the lesson's attendance JSON.
CREATE TABLE breakout_spaces (
    lesson_id   TEXT NOT NULL,
    round       INTEGER NOT NULL,
    group_no    INTEGER NOT NULL,
    room_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- the group's chat, every message (private ones included), as a JSON array
    chat        TEXT NOT NULL,
    -- the whiteboard and the notes, each the whole Yjs document (v1)
    board       BLOB NOT NULL,
    notes       BLOB NOT NULL,
    notes_text  TEXT NOT NULL,
    saved_at    INTEGER NOT NULL,
    PRIMARY KEY (lesson_id, round, group_no)
);
