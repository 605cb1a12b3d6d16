-- Berth schema v9: the images this install built from its bundled recipes (issue 16). Only an
-- image recorded here can be an "older build" Clean up removes: labels prove nothing, since an
-- image built FROM a bundled one inherits all of them.
CREATE TABLE bundled_builds (
    image_id TEXT PRIMARY KEY NOT NULL,
    bundle   TEXT NOT NULL,
    built_ms INTEGER NOT NULL
) STRICT;
