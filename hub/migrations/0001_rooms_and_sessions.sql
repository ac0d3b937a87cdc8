-- Rooms seen by the hub and every participant session in them (join/leave times).
CREATE TABLE rooms (
    id          TEXT PRIMARY KEY NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    -- how the participant connected: 'browser', 'whip' or 'whep'
    transport   TEXT NOT NULL,
    joined_at   INTEGER NOT NULL,
    left_at     INTEGER
);

CREATE INDEX sessions_room ON sessions(room_id, joined_at);
