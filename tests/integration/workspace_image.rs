//! Berth's workspace image keeps its promises: every tool the README lists answers from a login
//! shell (what the IDE's terminal runs) as the workspace's user; one copy of Claude Code; the
//! size bound; Berth's settings and built-in extension; and `berth image check` gives our image
//! and any other the same, item-by-item answer.

use crate::code_server::{IMAGE, ensure_image};
use crate::env::{TestEnv, docker};
use serde_json::Value;

/// The promised tools and the start of the version line each must print.
const TOOLS: &[(&str, &str)] = &[
    ("claude", "2.1.331 (Claude Code)"),
    ("node", "v20."),
    ("npm", "10.9.4"),
    ("python3", "Python 3.11."),
    ("pip", "pip 23."),
    ("git", "git version 2.39."),
    ("psql", "psql (PostgreSQL) 15."),
    ("mariadb", "mariadb  Ver 15.1 Distrib 10.11."),
    ("php", "PHP 8.2."),
    ("code-server", "4.99.4 "),
];

#[test]
fn every_promised_tool_answers_in_the_ides_login_shell() {
    let env = TestEnv::new();
    ensure_image(&env);
    env.ok(&[
        "create",
        "tools",
        "--image",
        IMAGE,
        "--memory",
        "1g",
        "--project",
        env.project("tools").to_str().unwrap(),
    ]);
    env.ok(&["start", "tools"]);
    let container = env.show("tools")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    // The IDE's terminals are `bash -l` (Berth's machine settings) as the container's user.
    let settings = docker(&[
        "exec",
        &container,
        "bash",
        "-lc",
        "cat \"$HOME/.local/share/code-server/Machine/settings.json\"",
    ]);
    let settings: Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(settings["terminal.integrated.defaultProfile.linux"], "bash");
    assert_eq!(
        settings["terminal.integrated.profiles.linux"]["bash"]["args"][0],
        "-l"
    );
    assert_eq!(settings["telemetry.telemetryLevel"], "off");
    for (tool, want) in TOOLS {
        let line = docker(&[
            "exec",
            &container,
            "bash",
            "-lc",
            &format!("{tool} --version"),
        ]);
        let first = line.lines().next().unwrap_or("");
        assert!(
            first.starts_with(want),
            "{tool}: {first:?} (want {want:?}…)"
        );
    }
    // What users install for themselves lands in their home, and runs from the same shell.
    let user_pkg = docker(&[
        "exec",
        &container,
        "bash",
        "-lc",
        "python3 -m venv /tmp/v && /tmp/v/bin/python -c 'import sys; print(sys.prefix)'",
    ]);
    assert_eq!(user_pkg.trim(), "/tmp/v");
    assert!(
        docker(&["exec", &container, "bash", "-lc", "npm config get prefix"])
            .trim()
            .ends_with("/.local")
    );
    // Berth's own extension is built in, from the repository, at image build.
    let ext = docker(&[
        "exec",
        &container,
        "cat",
        "/usr/lib/code-server/node_modules/code-server/lib/vscode/extensions/berth-workspace/package.json",
    ]);
    assert!(ext.contains("\"name\": \"berth-workspace\""));
    env.ok(&["rm", "tools"]);
}

#[test]
fn one_copy_of_claude_code_and_the_image_within_900_mb() {
    let env = TestEnv::new();
    ensure_image(&env);
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", IMAGE])
        .trim()
        .parse()
        .unwrap();
    assert!(size <= 900_000_000, "{IMAGE} is {} MB", size / 1_000_000);
    // The Claude Code binary is ~400 MB: exactly one file of that size in the image.
    let big = docker(&[
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "find",
        IMAGE,
        "/",
        "-xdev",
        "-type",
        "f",
        "-size",
        "+300M",
    ]);
    assert_eq!(
        big.lines().collect::<Vec<_>>(),
        ["/usr/local/bin/claude"],
        "{big}"
    );
}

fn check(env: &TestEnv, image: &str) -> (bool, Value) {
    let out = env.berth(&["image", "check", image, "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "berth image check {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

fn item<'a>(report: &'a Value, what: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == what)
        .unwrap_or_else(|| panic!("no {what} in {report}"))
}

#[test]
fn image_check_passes_our_image_and_tells_what_the_test_image_lacks() {
    let env = TestEnv::new();
    ensure_image(&env);
    let (ok, ours) = check(&env, IMAGE);
    assert!(ok && ours["passed"] == true, "{ours:#}");
    for what in ["ide-port", "health", "login", "user"] {
        assert_eq!(item(&ours, what)["ok"], true, "{what}: {ours:#}");
    }
    for (tool, want) in TOOLS {
        let t = item(&ours, &format!("tool:{tool}"));
        assert_eq!(
            (t["ok"].as_bool(), t["required"].as_bool()),
            (Some(true), Some(true)),
            "{t}"
        );
        assert!(t["detail"].as_str().unwrap().starts_with(want), "{t}");
    }

    // The test image promises no tools: the contract holds and the answer says what is absent.
    let (ok, test) = check(&env, crate::env::IMAGE);
    assert!(ok && test["passed"] == true, "{test:#}");
    assert_eq!(item(&test, "login")["required"], false);
    let claude = item(&test, "tool:claude");
    assert_eq!(
        (claude["ok"].as_bool(), claude["detail"].as_str()),
        (Some(false), Some("absent"))
    );
    assert_eq!(claude["required"], false);
    // Nothing of either check is left behind.
    assert!(env.containers(None).is_empty() && env.networks().is_empty());
}
