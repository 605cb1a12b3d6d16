-- Berth schema v8: previews (issue 14), the second kind of container. A preview belongs to a
-- workspace and goes with it; its port comes from the same range as the workspaces' ports.
CREATE TABLE previews (
    id           TEXT PRIMARY KEY NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- 'dockerfile' or 'image'
    source       TEXT NOT NULL CHECK (source IN ('dockerfile', 'image')),
    image        TEXT NOT NULL,
    command      TEXT,
    app_port     INTEGER NOT NULL CHECK (app_port BETWEEN 1 AND 65535),
    port         INTEGER NOT NULL UNIQUE CHECK (port BETWEEN 1 AND 65535),
    container_id TEXT,
    -- The creation token (label dev.berth.token) until the container id is recorded.
    pending_token TEXT,
    status       TEXT NOT NULL CHECK (status IN ('creating', 'running')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- The access token of a LAN share (a link the user hands out; NULL: loopback only).
    share_token  TEXT
) STRICT;

-- What the last preview from an image ran, per workspace: the next one's default.
CREATE TABLE preview_defaults (
    workspace_id TEXT PRIMARY KEY NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    image        TEXT NOT NULL,
    command      TEXT,
    app_port     INTEGER NOT NULL
) STRICT;
