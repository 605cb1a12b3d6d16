//! API keys against a real Secret Service (gnome-keyring under `scripts/with-keyring`): stored
//! from stdin and never echoed, read back after a restart, tested against a fake provider,
//! tampered with, and refused clearly without a keychain. The raw key must never be found
//! where it must not be.

use crate::env::TestEnv;
use crate::provider::{FakeProvider, KEY, create_ide, files_containing, piped, set_key, with_key};
use serde_json::Value;
use std::process::Command;

/// Runs `berth ARGS` on a terminal (a pty), types `input` once its prompt shows, and returns
/// everything the terminal showed.
fn at_terminal(env: &TestEnv, args: &[&str], input: &str) -> String {
    const DRIVER: &str = r#"
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:-1])
out = b""
while b"input hidden" not in out:
    out += os.read(fd, 1024)
# Type only once the terminal stopped echoing (the prompt is printed just before), as a
# person does: a paste within microseconds of the prompt would race the switch.
deadline = time.monotonic() + 10
while termios.tcgetattr(fd)[3] & termios.ECHO:
    if time.monotonic() > deadline:
        sys.exit("the terminal never stopped echoing")
    time.sleep(0.01)
os.write(fd, sys.argv[-1].encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
"#;
    let berth = env.cmd();
    let mut cmd = Command::new("python3");
    for (k, v) in berth.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd
        .args(["-c", DRIVER, crate::env::BERTH])
        .args(args)
        .arg(input)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_key_lives_in_the_keychain_sealed_store_survives_a_restart_and_goes() {
    let (env, provider) = with_key();
    assert!(env.ok(&["key", "ls"]).contains("WXYZ"));

    // At a terminal the key is not echoed: typed after the prompt shows, it never comes back.
    let typed = at_terminal(
        &env,
        &["key", "set", "anthropic", "--base-url", &provider.url],
        KEY,
    );
    assert!(
        typed.contains("input hidden") && typed.contains("stored anthropic"),
        "{typed}"
    );
    assert!(!typed.contains(KEY), "echoed: {typed}");
    let table = env.ok(&["key", "ls"]);
    assert!(
        table.lines().any(|l| l.starts_with("anthropic ")
            && l.contains(" anthropic ")
            && l.contains("WXYZ")),
        "{table}"
    );

    // A restarted daemon opens it again with the master key from the keychain: the provider
    // gets the very key.
    env.stop_daemon();
    let ls: Value = serde_json::from_str(&env.ok(&["key", "ls", "--json"])).unwrap();
    assert_eq!(ls[0]["name"], "anthropic");
    assert_eq!(ls[0]["last4"], "WXYZ");
    assert!(!ls.to_string().contains(KEY));
    assert!(env.ok(&["key", "test", "anthropic"]).contains("accepted"));
    let (path, key, version) = provider.requests().pop().unwrap();
    assert_eq!((path.as_str(), key.as_str()), ("/v1/models", KEY));
    assert_eq!(version, "2023-06-01");
    let ls: Value = serde_json::from_str(&env.ok(&["key", "ls", "--json"])).unwrap();
    assert_eq!(ls[0]["test_result"], "ok");

    // A provider that is not there, or does not answer, is said so.
    let out = set_key(
        &env,
        "openai",
        "sk-openai-0000000000000000",
        "http://127.0.0.1:1",
    );
    assert!(out.status.success());
    let unreachable = env.fails(&["key", "test", "openai"]);
    assert!(
        unreachable.contains("cannot reach http://127.0.0.1:1") && unreachable.contains("refused"),
        "{unreachable}"
    );
    let slow = format!("{}/slow", provider.url);
    assert!(
        set_key(&env, "openai", "sk-openai-0000000000000000", &slow)
            .status
            .success()
    );
    let timeout = env.fails(&["key", "test", "openai"]);
    assert!(timeout.contains("did not answer within 15 s"), "{timeout}");
    env.ok(&["key", "rm", "openai"]);

    // A wrong key is refused by the provider and said so, exit non-zero.
    let out = set_key(
        &env,
        "anthropic",
        "sk-ant-wrong-key-0000000000",
        &provider.url,
    );
    assert!(out.status.success());
    let refused = env.fails(&["key", "test", "anthropic"]);
    assert!(refused.contains("refused the key (401"), "{refused}");
    assert!(
        !refused.contains("sk-ant-wrong"),
        "an error never quotes the key"
    );
    let out = set_key(&env, "anthropic", KEY, &provider.url);
    assert!(out.status.success());

    // Nowhere on disk in plaintext: not the database, its journal, the log, any file.
    env.stop_daemon();
    assert_eq!(files_containing(&env.data_dir(), KEY), Vec::<String>::new());
    assert_eq!(
        files_containing(&env.data_dir(), &KEY[..20]),
        Vec::<String>::new()
    );
    let log = env.ok(&["key", "log"]);
    assert!(log.contains("key set") && log.contains("key test"), "{log}");
    assert!(!log.contains(KEY));

    // Bad input loses nothing: an empty key, a key name that is none.
    let out = set_key(&env, "anthropic", "  \n", &provider.url);
    assert!(!out.status.success());
    let out = set_key(&env, "Not A Name", KEY, &provider.url);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a key name"));
    assert!(env.ok(&["key", "test", "anthropic"]).contains("accepted"));

    env.ok(&["key", "rm", "anthropic"]);
    assert!(env.ok(&["key", "ls"]).contains("no keys stored"));
    assert!(env.ok(&["key", "log"]).contains("key rm"));
    // A key is never an argument.
    assert!(
        !env.berth(&["key", "set", "anthropic", KEY])
            .status
            .success()
    );
    assert!(
        env.fails(&["key", "test", "anthropic"])
            .contains("no key named")
    );
    assert_eq!(
        env.db()
            .query_row(
                "SELECT count(*) FROM sealed WHERE id = 'key:anthropic'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap(),
        0
    );
}

#[test]
fn a_tampered_or_swapped_value_fails_alone_and_clearly() {
    let env = TestEnv::new();
    let provider = FakeProvider::start();
    for (name, value) in [
        ("anthropic", KEY),
        ("openai", "sk-openai-0000000000000000"),
        ("github-token", "ghp_000000000000000000000"),
    ] {
        assert!(set_key(&env, name, value, &provider.url).status.success());
    }
    env.stop_daemon();
    let db = env.db();
    // openai's ciphertext swapped into github-token's row: AAD binds each to its row.
    db.execute(
        "UPDATE sealed SET envelope = (SELECT envelope FROM sealed WHERE id = 'key:openai')
         WHERE id = 'key:github-token'",
        [],
    )
    .unwrap();
    // One byte of anthropic's ciphertext flipped.
    let mut env_bytes: Vec<u8> = db
        .query_row(
            "SELECT envelope FROM sealed WHERE id = 'key:anthropic'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let last = env_bytes.len() - 1;
    env_bytes[last] ^= 1;
    db.execute(
        "UPDATE sealed SET envelope = ?1 WHERE id = 'key:anthropic'",
        [env_bytes],
    )
    .unwrap();
    drop(db);

    let tampered = env.fails(&["key", "test", "anthropic"]);
    assert!(!tampered.contains(KEY) && !tampered.contains(&KEY[..20]));
    assert!(
        tampered.contains("the stored key anthropic cannot be read")
            && tampered.contains("was changed, belongs to another entry"),
        "{tampered}"
    );
    assert!(
        env.fails(&["key", "test", "github-token"])
            .contains("cannot be read")
    );
    // The untouched one still opens (its test fails only at the provider: a fake one).
    let openai = env.fails(&["key", "test", "openai"]);
    assert!(openai.contains("OpenAI"), "{openai}");
}

#[test]
fn without_a_keychain_keys_fail_clearly_write_nothing_and_workspaces_still_run() {
    let env = TestEnv::new();
    // The daemon this command starts has no session bus: no Secret Service.
    let no_bus = [
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
        ("DISPLAY", ""),
    ];
    let mut cmd = env.cmd();
    cmd.envs(no_bus).args(["key", "set", "anthropic"]);
    let out = piped(cmd, KEY);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("OS keychain unavailable or locked"),
        "{stderr}"
    );
    let count = |table: &str| -> i64 {
        env.db()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((count("api_keys"), count("sealed")), (0, 0));
    assert_eq!(files_containing(&env.data_dir(), KEY), Vec::<String>::new());
    assert!(env.ok(&["key", "ls"]).contains("no keys stored"));

    // Everything else works.
    env.create("plain", &env.project("plain"));
    env.ok(&["start", "plain"]);
    assert_eq!(env.show("plain")["status"], "running");
    env.ok(&["rm", "plain"]);
}

/// Without a keychain the IDE still logs in (its password in the daemon's memory only), and
/// nothing is sealed or written as a secret file.
#[test]
fn without_a_keychain_the_ide_still_logs_in() {
    let env = TestEnv::new();
    crate::code_server::ensure_image(&env);
    // The build may have started a daemon (with a session bus): the next one has none.
    env.stop_daemon();
    let no_bus = [
        (
            "DBUS_SESSION_BUS_ADDRESS",
            std::ffi::OsStr::new("unix:path=/nonexistent/bus"),
        ),
        ("DISPLAY", std::ffi::OsStr::new("")),
    ];
    create_ide(&env, "ide", &[], &no_bus);
    env.ok(&["start", "ide"]);
    let url = env.show("ide")["url"].as_str().unwrap().to_string();
    assert_eq!(env.ide_status(&url, "ide"), 200);
    let sealed: i64 = env
        .db()
        .query_row("SELECT count(*) FROM sealed", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sealed, 0);
    assert!(!env.data_dir().join("secrets").exists());
    env.ok(&["rm", "ide"]);
}
