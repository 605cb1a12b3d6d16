-- Berth schema v1. Forward-only: never edit a released migration, add a new file.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE workspaces (
    id                TEXT PRIMARY KEY,
    -- Names are lowercase by grammar; NOCASE makes uniqueness hold even if that ever loosens.
    name              TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description       TEXT NOT NULL DEFAULT '',
    image             TEXT NOT NULL,
    cpus              REAL,
    memory_bytes      INTEGER,
    pids              INTEGER,
    idle_timeout_secs INTEGER,
    ide_port          INTEGER NOT NULL,
    health_path       TEXT NOT NULL,
    container_id      TEXT,
    status            TEXT NOT NULL
        CHECK (status IN ('stopped', 'starting', 'running', 'stopping', 'missing')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE projects (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    host_path    TEXT NOT NULL,
    PRIMARY KEY (workspace_id, position)
) STRICT;

-- One host port per workspace; the primary key makes a double allocation impossible even
-- when two Berth processes allocate at once.
CREATE TABLE port_allocations (
    port         INTEGER PRIMARY KEY CHECK (port BETWEEN 1 AND 65535),
    workspace_id TEXT NOT NULL UNIQUE REFERENCES workspaces(id) ON DELETE CASCADE,
    allocated_at INTEGER NOT NULL
) STRICT;

-- No foreign key: the audit trail of a workspace outlives the workspace.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms          INTEGER NOT NULL,
    workspace_id   TEXT,
    workspace_name TEXT,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'repaired', 'info')),
    detail         TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_log_by_name ON audit_log (workspace_name, id);
