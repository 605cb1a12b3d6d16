//! The set-up scripts' own promises: build caches are per user, private, and refused when
//! someone else made the folder first.

use std::process::Command;

/// Sources `scripts/setup.sh` with `home` as HOME (and no cache overrides); its output.
fn source_setup(home: &std::path::Path) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(". scripts/setup.sh && echo \"$CARGO_TARGET_DIR|$BERTH_CACHE_DIR\"")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("BERTH_CACHE_DIR")
        .output()
        .unwrap()
}

#[test]
fn build_caches_are_per_user_private_and_ours() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let out = source_setup(home.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cache = home.path().join(".cache/berth");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "{}|{}",
            cache.join("target").display(),
            cache.join("images").display()
        )
    );
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);

    // A cache folder someone else made first is refused (needs root to make one: the test
    // suite runs as root, as scripts/test does).
    // SAFETY: getuid has no preconditions.
    assert_eq!(
        unsafe { libc::getuid() },
        0,
        "this test makes a folder for another user"
    );
    let other = tempfile::tempdir().unwrap();
    let theirs = other.path().join(".cache/berth");
    std::fs::create_dir_all(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = source_setup(other.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not owned by"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
