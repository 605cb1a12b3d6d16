//! Files only the user may read: Berth's data dir holds the database, secrets, logs and the
//! daemon's socket, so every folder it makes is 0700 and every file 0600 — also those a client
//! makes before any daemon runs (the daemon itself runs with umask 077).

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::path::Path;

/// `mkdir -p` with mode 0700 for each folder it makes.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Open options that create a file with mode 0600.
pub fn file_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn folders_and_files_are_the_users_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b");
        super::create_dir(&deep).unwrap();
        let f = deep.join("f");
        super::file_options()
            .write(true)
            .create(true)
            .open(&f)
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        use std::path::Path;
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        assert_eq!(mode(&f), 0o600);
    }
}
