-- Berth schema v5: ports a web browser has visited. A port is a web origin, and a browser keeps
-- what a workspace left there (a service worker can answer every later page of that origin);
-- such a port never goes to another workspace, even after its own is deleted.
CREATE TABLE browser_ports (
    port INTEGER PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    first_opened_at INTEGER NOT NULL
);

-- Any port held before this table existed may have been opened in a browser: kept back too.
INSERT INTO browser_ports (port, workspace_id, first_opened_at)
    SELECT port, workspace_id, allocated_at FROM port_allocations;
