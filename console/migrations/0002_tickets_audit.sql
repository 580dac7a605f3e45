-- Analyst accounts, web sessions, API tokens, tickets, the audit hash chain and the webhook
-- outbox. Times are seconds since the Unix epoch unless the column name ends in _ms.
-- SQL stays portable to PostgreSQL (no SQLite-only types or functions).

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    -- An argon2 PHC string; the password itself is never stored.
    password_hash TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 1,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT
);

-- An account may hold several roles: viewer, analyst, deployer, admin.
CREATE TABLE account_roles (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    PRIMARY KEY (account_id, role)
);

-- Web login sessions. Only a SHA-256 of the cookie value is kept, so a copy of the database
-- does not let anyone log in.
CREATE TABLE web_sessions (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);

-- API tokens for scripts: hash only, shown once. A token's rights are its roles intersected
-- with its creator's roles at the time of each request.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);

CREATE TABLE api_token_roles (
    token_id INTEGER NOT NULL REFERENCES api_tokens (id),
    role TEXT NOT NULL,
    PRIMARY KEY (token_id, role)
);

-- Failed and successful logins, for rate limiting per account and per source address.
CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    at BIGINT NOT NULL,
    success INTEGER NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);
CREATE INDEX login_attempts_address ON login_attempts (address, at);

CREATE TABLE tickets (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    caller_contact TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    assignee_id INTEGER REFERENCES accounts (id),
    -- The help desk's own ticket id (GLPI, Zammad, Jira ...), carried in webhook payloads.
    external_ref TEXT,
    resolution TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX tickets_status ON tickets (status, priority);

CREATE TABLE ticket_devices (
    ticket_number INTEGER NOT NULL REFERENCES tickets (number),
    device_id TEXT NOT NULL,
    PRIMARY KEY (ticket_number, device_id)
);
CREATE INDEX ticket_devices_device ON ticket_devices (device_id);

-- A note's text lives here; its audit entry (audit_seq) carries the text's SHA-256, so the
-- chain shows an edited note too.
CREATE TABLE ticket_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_number INTEGER NOT NULL REFERENCES tickets (number),
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_number);

-- The audit hash chain; see console/src/audit/canonical.rs for what `hash` covers.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    params TEXT NOT NULL,
    device_id TEXT,
    ticket_number BIGINT,
    outcome TEXT NOT NULL,
    reason TEXT,
    at_ms BIGINT NOT NULL,
    recorded_at_ms BIGINT NOT NULL
);
CREATE INDEX audit_log_ticket ON audit_log (ticket_number, seq);
CREATE INDEX audit_log_device ON audit_log (device_id, seq);

-- The chain's head, updated in the same transaction as every append. It lets `audit verify`
-- notice rows cut off the end, which the chain alone cannot show.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- The outbound webhook. The signing secret is not stored here but in a file of its own in the
-- data directory (mode 0600); secret_sha256 names which secret was set.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);

-- One row per audit entry per active webhook, written in the append's transaction so that no
-- entry is lost between the commit and the delivery. Delivered strictly in audit_seq order.
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id),
    audit_seq BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    delivered_at_ms BIGINT
);
CREATE INDEX webhook_outbox_pending ON webhook_outbox (state, id);
