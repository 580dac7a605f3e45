-- Audit entries forwarded by agents, each stored once per (device, seq), with the device's
-- own hash chain kept as sent so that it can be checked against the device's log. Each entry
-- is also appended to the console's chain (audit_log) in the same transaction.

CREATE TABLE agent_audit (
    device_id TEXT NOT NULL REFERENCES devices (id),
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    action TEXT NOT NULL,
    params TEXT NOT NULL,
    ticket_number BIGINT,
    outcome TEXT NOT NULL,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    -- The entry's place in the console's chain.
    console_seq BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
