-- The package repository and deployments.
--
-- Package files are kept on disk under repository/blobs/<sha256>, once per content; these
-- rows name them. Metadata is the publisher's signed TUF files, stored as published: the
-- console cannot sign them and does not try.

CREATE TABLE repo_metadata (
    name TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    published_at BIGINT NOT NULL
);

CREATE TABLE repo_targets (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    length BIGINT NOT NULL,
    -- For a package: its manifest's name and version, as the signed target named them.
    package TEXT,
    version TEXT,
    -- For a package: the SHA-256 of the tar inside, which a patch rebuilds.
    unpacked_sha256 TEXT,
    -- For a delta patch: the SHA-256 of the tar it applies to and of the tar it makes.
    patch_from TEXT,
    patch_to TEXT,
    published_at BIGINT NOT NULL
);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_number BIGINT NOT NULL REFERENCES tickets (number),
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    target TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    length BIGINT NOT NULL,
    -- active, paused, cancelled, finished
    status TEXT NOT NULL,
    status_reason TEXT,
    canary_percent BIGINT NOT NULL,
    failure_percent BIGINT NOT NULL,
    not_before BIGINT NOT NULL,
    deadline BIGINT,
    -- A maintenance window: it opens at window_start (Unix seconds, UTC) and every
    -- window_every seconds after, and stays open window_length seconds.
    window_start BIGINT,
    window_length BIGINT,
    window_every BIGINT,
    -- Failures an operator accepted by resuming after the gate paused the rollout; the
    -- gate counts only those beyond.
    gate_ack BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE deployment_devices (
    deployment_id BIGINT NOT NULL REFERENCES deployments (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    wave BIGINT NOT NULL,
    -- pending, sending, done
    state TEXT NOT NULL,
    -- The device's last outcome (installed, failed, ...), set when state is done or when
    -- a retry is waiting.
    outcome TEXT,
    detail TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    retry_at BIGINT NOT NULL DEFAULT 0,
    chunks_sent BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, device_id)
);

-- Every nonce the console has signed, so that it never signs the same one twice.
CREATE TABLE assignment_nonces (
    nonce TEXT PRIMARY KEY,
    deployment_id BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
