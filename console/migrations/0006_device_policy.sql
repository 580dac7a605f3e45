-- Per-device policy, set by admins. A device without a row has the defaults: no unattended
-- remote sessions. Every change is also an audit entry (who, device, old and new values).

CREATE TABLE device_policies (
    device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices (id),
    -- Whether a remote session may start without a prompt while nobody is signed in.
    unattended_sessions INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
