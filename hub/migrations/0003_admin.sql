-- The web admin (crate lectern-admin, mounted at /admin): IT staff accounts and their sessions, the
-- one-time first-run setup code, the rooms IT has configured, and the audit trail of every change.
-- Secrets (session ids, setup codes) are stored as SHA-256 hashes so a copy of this file logs nobody in.

CREATE TABLE admin_accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- lower-cased at creation, so logins are case-insensitive
    username      TEXT NOT NULL UNIQUE,
    -- Argon2id PHC string
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE admin_sessions (
    -- SHA-256 (hex) of the cookie value
    id_hash       TEXT PRIMARY KEY NOT NULL,
    account_id    INTEGER NOT NULL REFERENCES admin_accounts(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);

CREATE INDEX admin_sessions_account ON admin_sessions(account_id);

CREATE TABLE admin_setup_codes (
    -- SHA-256 (hex) of the code printed at start-up
    code_hash     TEXT PRIMARY KEY NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);

-- Rooms configured by IT. Kept apart from `rooms`, which lists every room the hub has seen on the
-- wire (created on first join): a configured room may never have been used, and vice versa.
CREATE TABLE admin_rooms (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    building       TEXT NOT NULL,
    capacity       INTEGER NOT NULL,
    everyone_waits INTEGER NOT NULL,
    recording      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE admin_audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    -- username, or a system actor such as 'setup' or 'cli'
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    ip       TEXT NOT NULL,
    -- JSON object
    details  TEXT NOT NULL
);

CREATE INDEX admin_audit_at ON admin_audit(at);
-- login throttling counts recent `login.failed` rows by IP and by username
CREATE INDEX admin_audit_action ON admin_audit(action, at);
