-- How the IDE of a workspace authenticates (from the image's dev.berth.ide.auth label):
-- NULL for none, 'code-server-password' for code-server's password login.
ALTER TABLE workspaces ADD COLUMN ide_auth TEXT
    CHECK (ide_auth IS NULL OR ide_auth IN ('code-server-password'));
