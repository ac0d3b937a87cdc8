-- PostgreSQL twin of hub/migrations/0006_devices.sql (docs/cluster.md): BIGINT for INTEGER, identity
-- columns for AUTOINCREMENT, BOOLEAN for flags, BYTEA for BLOB, and byte-order ("C") collation
-- on text so rows sort as they do in SQLite.
-- Enrolled classroom boxes (web admin, `lectern-admin`): each holds its own device credential, a
-- JWT whose `jti` is kept here so it can be revoked; the hub refuses revoked `jti`s everywhere.
CREATE TABLE admin_devices (
    -- `box-` + 32 hex digits; also the credential's `sub`
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL,
    room_id        TEXT COLLATE "C" NOT NULL,
    credential_jti TEXT COLLATE "C" NOT NULL UNIQUE,
    hostname       TEXT COLLATE "C" NOT NULL DEFAULT '',
    enrolled_at    BIGINT NOT NULL,
    enrolled_by    TEXT COLLATE "C" NOT NULL,
    revoked_at     BIGINT,
    revoked_by     TEXT COLLATE "C",
    -- JSON `lectern_proto::device::Inventory` from the box's last hello
    inventory      TEXT COLLATE "C"
);

-- One box in service per room.
CREATE UNIQUE INDEX admin_devices_room_in_service ON admin_devices(room_id) WHERE revoked_at IS NULL;

-- Every configuration an admin sent a box, newest version last. `state`: `pending` until the box
-- answers, then `applied` or `failed` (with the box's reason; the box kept its last good one).
CREATE TABLE admin_device_configs (
    device_id   TEXT COLLATE "C" NOT NULL REFERENCES admin_devices(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL CHECK (version >= 1),
    config      TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    state       TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'applied', 'failed')),
    error       TEXT COLLATE "C",
    reported_at BIGINT,
    PRIMARY KEY (device_id, version)
);
