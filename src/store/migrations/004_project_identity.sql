-- Berth schema v4: a project is the same folder at every start as at create. Device and inode
-- of each project folder, recorded at create (or at the first start after this migration).
ALTER TABLE projects ADD COLUMN dev INTEGER;
ALTER TABLE projects ADD COLUMN ino INTEGER;

-- The audit log is read by workspace id: a new workspace that reuses a deleted one's name does
-- not inherit its history.
CREATE INDEX audit_log_by_workspace ON audit_log (workspace_id, id);
