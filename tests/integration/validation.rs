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

    let long_tag = format!("img:{}", "t".repeat(300));
    let root = link_to_root.to_str().unwrap();
    let sock = link_to_sock.to_str().unwrap();
    let missing = missing.to_str().unwrap();
    let home_dir = home.to_str().unwrap();
    // `create NAME --image=IMAGE --project PROJECT EXTRA...` (the `=` form lets an image
    // reference that looks like a flag reach Berth's own check).
    let create = |name: &str, image: &str, project: &str, extra: &[&str]| -> Vec<String> {
        let image = format!("--image={image}");
        let mut args = vec!["create", name, &image, "--project", project];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            create("Bad_Name", IMAGE, good, &[]),
            "invalid workspace name",
        ),
        (
            create("ok", "--privileged", good, &[]),
            "invalid image reference",
        ),
        (
            create("ok", "Upper/Case", good, &[]),
            "invalid image reference",
        ),
        (
            create("ok", "has space", good, &[]),
            "invalid image reference",
        ),
        (create("ok", "a\nb", good, &[]), "invalid image reference"),
        (
            create("ok", &long_tag, good, &[]),
            "invalid image reference",
        ),
        (create("ok", IMAGE, "/", &[]), "root of the file system"),
        (create("ok", IMAGE, root, &[]), "resolves to \"/\""),
        (create("ok", IMAGE, "/etc", &[]), "system folder /etc"),
        (create("ok", IMAGE, "/usr/lib", &[]), "system folder /usr"),
        (create("ok", IMAGE, sock, &[]), "socket"),
        (create("ok", IMAGE, missing, &[]), "does not exist"),
        (create("ok", IMAGE, home_dir, &[]), "home folder"),
        (
            create("ok", IMAGE, good, &["--project", good]),
            "listed twice",
        ),
        (
            create("ok", IMAGE, good, &["--memory", "lots"]),
            "invalid memory limit",
        ),
        (
            create("ok", IMAGE, good, &["--cpus", "0"]),
            "invalid CPU limit",
        ),
        (
            create("ok", IMAGE, good, &["--idle-timeout", "soon"]),
            "invalid idle timeout",
        ),
        (
            vec!["create", "--image", IMAGE, "--project", good, "--", "-lead"]
                .into_iter()
                .map(String::from)
                .collect(),
            "invalid workspace name",
        ),
    ];

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
    // That daemon was started with the bad DOCKER_HOST; a fresh one lists nothing.
    env.stop_daemon();
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
