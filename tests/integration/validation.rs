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
    for cred in [".ssh", ".config/gh", ".gnupg", ".aws", ".docker", ".kube"] {
        std::fs::create_dir_all(home.join(cred)).unwrap();
    }
    let runtime = env.dir.path().join("run-user");
    std::fs::create_dir_all(runtime.join("keyring")).unwrap();
    let with_socket = env.project("with-socket");
    let _agent = std::os::unix::net::UnixListener::bind(with_socket.join("agent.sock")).unwrap();
    let in_home = |p: &str| home.join(p).to_str().unwrap().to_string();
    let (ssh, gh, gnupg, aws, dockercfg, kube) = (
        in_home(".ssh"),
        in_home(".config/gh"),
        in_home(".gnupg"),
        in_home(".aws"),
        in_home(".docker"),
        in_home(".kube"),
    );
    let keyring = runtime.join("keyring").to_str().unwrap().to_string();
    let data = env.data_dir().to_str().unwrap().to_string();
    let socket_folder = with_socket.to_str().unwrap().to_string();

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
        (create("ok", IMAGE, "/tmp", &[]), "shared temporary folder"),
        (create("ok", IMAGE, &keyring, &[]), "runtime folder"),
        (create("ok", IMAGE, &ssh, &[]), "where credentials live"),
        (create("ok", IMAGE, &gh, &[]), "where credentials live"),
        (create("ok", IMAGE, &gnupg, &[]), "where credentials live"),
        (create("ok", IMAGE, &aws, &[]), "where credentials live"),
        (
            create("ok", IMAGE, &dockercfg, &[]),
            "where credentials live",
        ),
        (create("ok", IMAGE, &kube, &[]), "where credentials live"),
        (create("ok", IMAGE, &data, &[]), "Berth's data folder"),
        (create("ok", IMAGE, &socket_folder, &[]), "holds the socket"),
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
            .env("XDG_RUNTIME_DIR", &runtime)
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
    let fresh = env.project("fresh");
    let err = env.fails(&[
        "create",
        "other",
        "--image",
        "no-such-image:1",
        "--project",
        fresh.to_str().unwrap(),
    ]);
    assert!(err.contains("not available locally"), "{err}");
    env.ok(&["rm", "dup"]);
}

/// The attacker swaps a project folder for a link to somewhere else (or for another folder)
/// between a stop and the next start: Berth refuses to start rather than mount it.
#[test]
fn a_swapped_project_is_never_mounted_and_a_folder_belongs_to_one_workspace() {
    let env = TestEnv::new();
    let project = env.project("swap");
    env.create("swap", &project);
    env.ok(&["start", "swap"]);
    env.ok(&["stop", "swap"]);
    let container = env.show("swap")["container_name"]
        .as_str()
        .unwrap()
        .to_string();

    let secret = env.dir.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("key.txt"), "do not mount").unwrap();
    let kept = env.dir.path().join("kept");
    std::fs::rename(&project, &kept).unwrap();
    std::os::unix::fs::symlink(&secret, &project).unwrap();
    let err = env.fails(&["start", "swap"]);
    assert!(err.contains("symbolic link"), "{err}");
    let state = crate::env::inspect(&container);
    assert_eq!(state["State"]["Running"], false, "the container never ran");
    assert_eq!(env.show("swap")["status"], "stopped");

    // Another folder of the same name in its place.
    std::fs::remove_file(&project).unwrap();
    std::fs::create_dir(&project).unwrap();
    let err = env.fails(&["start", "swap"]);
    assert!(err.contains("not the folder it was"), "{err}");

    // The real folder back: it starts, with the real folder's files.
    std::fs::remove_dir(&project).unwrap();
    std::fs::rename(&kept, &project).unwrap();
    env.ok(&["start", "swap"]);
    let listing = crate::env::docker(&["exec", &container, "ls", "/workspace/swap"]);
    assert_eq!(listing.trim(), "README.md");

    // One folder, one workspace: neither the same folder, nor one inside it or above it.
    let inner = project.join("sub");
    std::fs::create_dir_all(&inner).unwrap();
    for other in [&project, &inner] {
        let err = env.fails(&[
            "create",
            "other",
            "--image",
            IMAGE,
            "--project",
            other.to_str().unwrap(),
        ]);
        assert!(err.contains("a project of workspace swap"), "{err}");
    }
}
