-- Enrolled classroom boxes (web admin, `lectern-admin`): each holds its own device credential, a
-- JWT whose `jti` is kept here so it can be revoked; the hub refuses revoked `jti`s everywhere.
CREATE TABLE admin_devices (
    -- `box-` + 32 hex digits; also the credential's `sub`
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    credential_jti TEXT NOT NULL UNIQUE,
    hostname       TEXT NOT NULL DEFAULT '',
    enrolled_at    INTEGER NOT NULL,
    enrolled_by    TEXT NOT NULL,
    revoked_at     INTEGER,
    revoked_by     TEXT,
    -- JSON `lectern_proto::device::Inventory` from the box's last hello
    inventory      TEXT
);

-- One box in service per room.
CREATE UNIQUE INDEX admin_devices_room_in_service ON admin_devices(room_id) WHERE revoked_at IS NULL;

-- Every configuration an admin sent a box, newest version last. `state`: `pending` until the box
-- answers, then `applied` or `failed` (with the box's reason; the box kept its last good one).
CREATE TABLE admin_device_configs (
    device_id   TEXT NOT NULL REFERENCES admin_devices(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 1),
    config      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'failed')),
    error       TEXT,
    reported_at INTEGER,
    PRIMARY KEY (device_id, version)
);
