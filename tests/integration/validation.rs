use crate::env::{IMAGE, TestEnv};

/// Every bad input is refused before any Docker call: DOCKER_HOST points nowhere, so a
/// message about Docker would mean validation came too late.
#[test]
fn bad_names_images_and_paths_are_rejected_before_docker() {
    let env = TestEnv::new();
    let good = env.project("good");
    let good = good.to_str().unwrap();
    let link_to_root = env.dir.path().join("to-root");
    std::os::unix::fs::symlink("/", &link_to_root).unwrap();
    let link_to_sock = env.dir.path().join("to-sock");
    std::os::unix::fs::symlink("/var/run/docker.sock", &link_to_sock).unwrap();
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let missing = env.dir.path().join("missing");

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["create", "Bad_Name", "--image", IMAGE, "--project", good],
            "invalid workspace name",
        ),
        (
            vec!["create", "--image", IMAGE, "--project", good, "--", "-lead"],
            "invalid workspace name",
        ),
        (
            vec!["create", "ok", "--image=--privileged", "--project", good],
            "invalid image reference",
        ),
        (
            vec!["create", "ok", "--image", "Upper/Case", "--project", good],
            "invalid image reference",
        ),
        (
            vec!["create", "ok", "--image", "has space", "--project", good],
            "invalid image reference",
        ),
        (
            vec!["create", "ok", "--image", "a\nb", "--project", good],
            "invalid image reference",
        ),
        (
            vec!["create", "ok", "--image", IMAGE, "--project", "/"],
            "root of the file system",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                link_to_root.to_str().unwrap(),
            ],
            "resolves to \"/\"",
        ),
        (
            vec!["create", "ok", "--image", IMAGE, "--project", "/etc"],
            "system folder /etc",
        ),
        (
            vec!["create", "ok", "--image", IMAGE, "--project", "/usr/lib"],
            "system folder /usr",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                link_to_sock.to_str().unwrap(),
            ],
            "socket",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                missing.to_str().unwrap(),
            ],
            "does not exist",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                home.to_str().unwrap(),
            ],
            "home folder",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                good,
                "--project",
                good,
            ],
            "listed twice",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                good,
                "--memory",
                "lots",
            ],
            "invalid memory limit",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                good,
                "--cpus",
                "0",
            ],
            "invalid CPU limit",
        ),
        (
            vec![
                "create",
                "ok",
                "--image",
                IMAGE,
                "--project",
                good,
                "--idle-timeout",
                "soon",
            ],
            "invalid idle timeout",
        ),
    ];
    let long_tag = format!("img:{}", "t".repeat(300));
    let mut cases = cases;
    cases.push((
        vec!["create", "ok", "--image", &long_tag, "--project", good],
        "invalid image reference",
    ));

    for (args, expected) in cases {
        let out = env
            .cmd()
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("HOME", &home)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?}, got {stderr:?}"
        );
        assert!(
            !stderr.contains("Docker engine"),
            "{args:?} reached Docker: {stderr}"
        );
    }
    assert_eq!(env.ok(&["ls", "--json"]).trim(), "[]");
}

#[test]
fn usage_errors_are_one_line_too() {
    let env = TestEnv::new();
    for args in [vec!["create", "-x"], vec!["frobnicate"], vec!["start"]] {
        let line = env.fails(&args);
        assert!(line.starts_with("berth: "), "{line}");
    }
    assert!(env.ok(&["--help"]).contains("Usage"));
}

#[test]
fn a_taken_name_is_refused_and_a_missing_image_is_explained() {
    let env = TestEnv::new();
    let p = env.project("dup");
    env.create("dup", &p);
    let err = env.fails(&[
        "create",
        "dup",
        "--image",
        IMAGE,
        "--project",
        p.to_str().unwrap(),
    ]);
    assert!(err.contains("already exists"), "{err}");
    let err = env.fails(&[
        "create",
        "other",
        "--image",
        "no-such-image:1",
        "--project",
        p.to_str().unwrap(),
    ]);
    assert!(err.contains("not available locally"), "{err}");
    env.ok(&["rm", "dup"]);
}
