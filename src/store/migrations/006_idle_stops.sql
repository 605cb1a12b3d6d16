-- Berth schema v6: the last idle stop of a workspace, so "stopped (idle)" and the gateway's
-- stopped page can say why and since when — also after a daemon restart. Cleared by a start.
CREATE TABLE idle_stops (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    stopped_at_ms INTEGER NOT NULL,
    idle_since_ms INTEGER NOT NULL
);
