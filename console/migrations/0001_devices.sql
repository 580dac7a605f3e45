-- Enrolled devices, enrollment tokens, revocations and link events.
-- Times are seconds since the Unix epoch. SQL stays portable to PostgreSQL.

CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    cert_sha256 TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    revoked_at BIGINT,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen BIGINT,
    last_address TEXT,
    agent_version TEXT,
    inventory TEXT
);

-- Only a hash of each token is kept: the token itself is shown once, to the admin.
CREATE TABLE enrollment_tokens (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    uses_left INTEGER NOT NULL
);

-- A running console polls this table to disconnect revoked devices at once, also when the
-- revocation came from another process (the CLI).
CREATE TABLE revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices (id),
    at BIGINT NOT NULL
);

-- Every refusal on the agent link, with its reason.
CREATE TABLE link_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    device_id TEXT,
    peer TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX link_events_device ON link_events (device_id, at);

CREATE TABLE console_state (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
