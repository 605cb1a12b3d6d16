-- The token a container is created with (label dev.berth.token), recorded before the create so
-- that a container made by a process killed before it could record the container id can be
-- adopted. Cleared once the id is recorded: a copy of the container (docker commit + run)
-- inherits the label and must never be mistaken for Berth's.
ALTER TABLE workspaces ADD COLUMN pending_token TEXT;
