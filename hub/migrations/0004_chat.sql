-- Every chat message of every lesson, as sent (private ones included, with their recipient).
-- Deleting a message in class marks it here; the record stays for the school.
CREATE TABLE chat_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    from_name   TEXT NOT NULL,
    from_role   TEXT NOT NULL,
    to_participant INTEGER,
    text        TEXT NOT NULL,
    deleted_at  INTEGER,
    UNIQUE (room_id, message_id, sent_at)
);
