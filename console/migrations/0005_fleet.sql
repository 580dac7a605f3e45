-- Device tags and groups, and deployments that name devices by them.
--
-- Tag and group names are checked by the console (a-z, 0-9 and '-', at most 32 characters)
-- before they reach these tables.

CREATE TABLE device_tags (
    device_id TEXT NOT NULL REFERENCES devices (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (device_id, tag)
);
CREATE INDEX device_tags_tag ON device_tags (tag);

-- A group and its optional maintenance window: it opens at window_start_minute (minutes
-- past midnight, wall-clock time in window_zone) on the days in window_days (a bit set,
-- Monday is 1, Sunday 64) and stays open window_length_secs seconds. window_zone is 'utc',
-- 'local' (each device's own zone, from its inventory) or an IANA zone name. The window
-- columns are all set or all NULL.
CREATE TABLE device_groups (
    name TEXT PRIMARY KEY NOT NULL,
    window_start_minute BIGINT,
    window_length_secs BIGINT,
    window_days BIGINT,
    window_zone TEXT,
    created_at BIGINT NOT NULL
);

-- A device is in at most one group.
CREATE TABLE device_group_members (
    device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices (id),
    group_name TEXT NOT NULL REFERENCES device_groups (name)
);
CREATE INDEX device_group_members_group ON device_group_members (group_name);

-- How a deployment named its targets (JSON: devices, tags, groups, all), resolved to the
-- rows of deployment_devices when it was created; and whether each device installs only
-- inside its group's window.
ALTER TABLE deployments ADD COLUMN targets TEXT;
ALTER TABLE deployments ADD COLUMN group_windows INTEGER NOT NULL DEFAULT 0;
