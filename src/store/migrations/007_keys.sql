-- API keys and other secrets (issue 13). Values are sealed (AES-256-GCM envelope, bound to
-- their row id) with the install's master key, which lives in the OS keychain.
CREATE TABLE sealed (
    -- 'key-check', 'key:<name>', 'ide:<workspace id>'
    id TEXT PRIMARY KEY NOT NULL,
    envelope BLOB NOT NULL
);

CREATE TABLE api_keys (
    name TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    last4 TEXT NOT NULL,
    base_url TEXT,
    created_at INTEGER NOT NULL,
    tested_at INTEGER,
    test_result TEXT
);

CREATE TABLE workspace_keys (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key_name TEXT NOT NULL REFERENCES api_keys (name),
    mode TEXT NOT NULL,
    requests_per_day INTEGER,
    tokens_per_day INTEGER,
    PRIMARY KEY (workspace_id, key_name)
);

-- What each workspace used through the proxy, per key and UTC day.
CREATE TABLE key_usage (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key_name TEXT NOT NULL,
    day TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, key_name, day)
);

-- The proxy token of a running workspace: its SHA-256 only (the token is 256 random bits),
-- so a daemon restart keeps serving a running container. Removed on stop and delete.
CREATE TABLE proxy_tokens (
    workspace_id TEXT PRIMARY KEY NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_sha256 TEXT NOT NULL,
    issued_at INTEGER NOT NULL
);
