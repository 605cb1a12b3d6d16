//! The test harness: each test gets its own data dir (so its own install id and its own
//! daemon), its own port range, the real `berth` binary and the real Docker engine; dropping it
//! stops that daemon and removes every Docker object of that install, even when the test
//! failed halfway.

use berth::client::{Autostart, Client};
use berth::engine::Engine;
use berth::model::{PortRange, Settings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU16, Ordering};

pub const IMAGE: &str = "berth-test:latest";
pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Ranges of 20 ports per test, far from the default range, so parallel tests never compete.
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub install: String,
    pub range: PortRange,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        ensure_test_image();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let block = NEXT_RANGE.fetch_add(1, Ordering::SeqCst);
        let first = 21000 + block * 20;
        let range = PortRange::new(first, first + 19).unwrap();
        let mut env = TestEnv {
            install: String::new(),
            range,
            dir,
        };
        // Before any daemon exists, the test's settings go straight into its new database.
        let engine = Engine::open(&env.data_dir()).expect("open engine");
        let settings = Settings {
            port_range: range,
            max_running: 8,
            ..Settings::default()
        };
        engine.save_settings(&settings).unwrap();
        env.install = engine.install_id().to_string();
        env
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A client of this test's daemon (started if none runs), as the app would have one.
    pub async fn client(&self) -> Client {
        Client::connect(&self.data_dir(), Autostart::Program(BERTH.into()))
            .await
            .expect("connect to the daemon")
    }

    /// Changes settings through the daemon, as the app's settings screen does.
    pub fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        block_on(async {
            let client = self.client().await;
            let mut s = client.settings().await.unwrap();
            f(&mut s);
            client.save_settings(&s).await.unwrap();
        })
    }

    /// The pid of this test's daemon, from the file it writes.
    pub fn daemon_pid(&self) -> Option<u32> {
        berth::api::endpoint::read_info(&self.data_dir()).map(|i| i.pid)
    }

    /// Stops this test's daemon (if one runs) and waits until it is gone.
    pub fn stop_daemon(&self) {
        let out = self
            .cmd()
            .env("BERTH_NO_AUTOSTART", "1")
            .args(["daemon", "stop"])
            .output()
            .expect("run berth daemon stop");
        assert!(
            out.status.success(),
            "berth daemon stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Polls `f` every 20 ms until it is true; fails the test after `secs` seconds.
    pub fn eventually(&self, what: &str, secs: u64, f: impl FnMut() -> bool) {
        poll_until(what, secs, std::time::Duration::from_millis(20), f);
    }

    /// Polls `f` every 500 ms for `secs` seconds and fails the test the first time it is false:
    /// for what must go on holding (a workspace that must not stop yet).
    pub fn stays(&self, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < until {
            assert!(f(), "stopped holding before {secs} s: {what}");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// A real project folder (created) under this test's temp dir.
    pub fn project(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("projects").join(name);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("README.md"), "hello\n").unwrap();
        path
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(BERTH);
        cmd.env("BERTH_DATA_DIR", self.data_dir())
            .env_remove("BERTH_FAILPOINT")
            .env_remove("BERTH_NO_AUTOSTART")
            .env_remove("BERTH_DAEMON_IDLE_SECS")
            .env_remove("BERTH_ACTIVITY_SAMPLE_SECS")
            .env_remove("BERTH_TEST_DAEMON_VERSION");
        cmd
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run berth")
    }

    /// Runs berth and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, &[])
    }

    /// [`TestEnv::ok`] with extra environment variables.
    pub fn ok_with(&self, args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> String {
        let out = self
            .cmd()
            .args(args)
            .envs(vars.iter().copied())
            .output()
            .expect("run berth");
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs berth and insists on failure with exactly one stderr line; returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "berth {args:?} succeeded: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
        stderr.trim().to_string()
    }

    pub fn create(&self, name: &str, project: &Path) {
        self.create_in(name, project, &[], &[]);
    }

    /// `berth create NAME` on the test image (64 MiB) with a project folder of its own and
    /// `extra` arguments; `vars` reach the daemon if this command starts it.
    pub fn create_with(&self, name: &str, extra: &[&str], vars: &[(&str, &std::ffi::OsStr)]) {
        self.create_in(name, &self.project(name), extra, vars);
    }

    fn create_in(
        &self,
        name: &str,
        project: &Path,
        extra: &[&str],
        vars: &[(&str, &std::ffi::OsStr)],
    ) {
        let mut args = vec![
            "create",
            name,
            "--image",
            IMAGE,
            "--project",
            project.to_str().unwrap(),
        ];
        // 64 MiB unless the test asks for its own.
        if !extra.contains(&"--memory") {
            args.extend(["--memory", "64m"]);
        }
        args.extend_from_slice(extra);
        self.ok_with(&args, vars);
    }

    /// The first audit entry of workspace `name` with `action`; fails the test without one.
    pub fn audit_entry(&self, name: &str, action: &str) -> Value {
        let log: Value = serde_json::from_str(&self.ok(&["log", name, "--json"])).unwrap();
        log.as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action)
            .cloned()
            .unwrap_or_else(|| panic!("no {action} in the audit log of {name}: {log}"))
    }

    pub fn show(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", name, "--json"])).unwrap()
    }

    /// Containers of this install (optionally of one workspace), straight from Docker.
    pub fn containers(&self, workspace_id: Option<&str>) -> Vec<String> {
        let mut args = vec![
            "ps".to_string(),
            "-aq".into(),
            "--no-trunc".into(),
            "--filter".into(),
            format!("label=dev.berth.install={}", self.install),
        ];
        if let Some(id) = workspace_id {
            args.extend(["--filter".into(), format!("label=dev.berth.id={id}")]);
        }
        lines(&docker(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
    }

    pub fn volumes(&self) -> Vec<String> {
        lines(&docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.berth.install={}", self.install),
        ]))
    }

    /// Logs in to the IDE of `name` the way a browser does: `berth open --print-link`, then
    /// the one-time link; the `Cookie` header value the gateway set.
    pub fn login(&self, name: &str) -> String {
        let out = self.ok(&["open", "--print-link", name]);
        let link = out.lines().last().unwrap().to_string();
        let answer = http(&link, &[]);
        assert_eq!(answer.status, 303, "the login link logs in: {answer:?}");
        answer
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.split(';').next().unwrap().to_string())
            .next()
            .expect("a login cookie")
    }

    /// The status of the IDE's health path through the gateway at `url`, logged in.
    pub fn ide_status(&self, url: &str, name: &str) -> u16 {
        let cookie = self.login(name);
        http(&format!("{url}healthz"), &[("Cookie", &cookie)]).status
    }

    /// The database file, opened as another process would (to look at or damage it).
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir().join("berth.db")).unwrap()
    }

    /// A sealed value opened as someone holding the user's keychain would: the install's
    /// master key from the Secret Service (service "Berth", as the README says), the row's
    /// envelope from the database.
    pub fn unseal(&self, row: &str) -> Option<String> {
        use berth::secrets::KeyStore;
        let envelope: Vec<u8> = self
            .db()
            .query_row("SELECT envelope FROM sealed WHERE id = ?1", [row], |r| {
                r.get(0)
            })
            .ok()?;
        let account = berth::secrets::master_key_account(self.install.parse().unwrap());
        let bytes = berth::secrets::OsKeyStore::new("Berth")
            .get(&account)
            .unwrap()?;
        let key = berth::secrets::MasterKey::from_bytes(bytes.try_into().unwrap());
        let plain = berth::secrets::envelope::open(&key, row, &envelope).ok()?;
        Some(String::from_utf8(plain.expose().clone()).unwrap())
    }

    pub fn networks(&self) -> Vec<String> {
        lines(&docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.berth.install={}", self.install),
        ]))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.install.is_empty() {
            return;
        }
        // The daemon this test started goes first, so it cannot react to the clean-up.
        let _ = self
            .cmd()
            .env("BERTH_NO_AUTOSTART", "1")
            .args(["daemon", "stop"])
            .output();
        for id in self.containers(None) {
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        }
        for id in self.networks() {
            let _ = Command::new("docker").args(["network", "rm", &id]).output();
        }
        // Images this install built (a preview's Dockerfile).
        for image in lines(&docker(&[
            "images",
            "-q",
            "--filter",
            &format!("label=dev.berth.install={}", self.install),
        ])) {
            let _ = Command::new("docker").args(["rmi", "-f", &image]).output();
        }
        for name in self.volumes() {
            let _ = Command::new("docker")
                .args(["volume", "rm", &name])
                .output();
        }
        // The install's master key, if its daemon made one.
        if let Ok(install) = self.install.parse() {
            use berth::secrets::KeyStore;
            let _ = berth::secrets::OsKeyStore::new("Berth")
                .delete(&berth::secrets::master_key_account(install));
        }
    }
}

/// Polls `f` every `every` until it is true; fails the test after `secs` seconds.
pub fn poll_until(what: &str, secs: u64, every: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "never within {secs} s: {what}"
        );
        std::thread::sleep(every);
    }
}

/// Runs a future to completion from a plain `#[test]`.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs the docker CLI; panics on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn inspect(container: &str) -> Value {
    let v: Value = serde_json::from_str(&docker(&["inspect", container])).unwrap();
    v[0].clone()
}

/// The non-empty lines of a command's output.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The HTTP status of GET `url` (http://127.0.0.1:PORT/path), on a fresh connection.
pub fn http_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// An HTTP answer, as a test reads it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GET `url` on a fresh connection with extra `headers` (a `Host` among them replaces the
/// default); the whole answer. Plain std I/O: a test client, not product code.
pub fn http(url: &str, headers: &[(&str, &str)]) -> Answer {
    request("GET", url, headers, "")
}

/// `method` `url` with `headers` and `body` on a fresh connection; the whole answer.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    let mut req = format!("{method} /{path} HTTP/1.1\r\nConnection: close\r\n");
    if !body.is_empty() {
        req += &format!("Content-Length: {}\r\n", body.len());
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req += &format!("Host: {host}\r\n");
    }
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Builds the test image once per test run (a no-op when it is already built).
fn ensure_test_image() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BERTH)
            .args(["image", "build", "test"])
            .env("BERTH_DATA_DIR", dir.path())
            .output()
            .expect("run berth image build");
        let _ = Command::new(BERTH)
            .args(["daemon", "stop"])
            .env("BERTH_DATA_DIR", dir.path())
            .env("BERTH_NO_AUTOSTART", "1")
            .output();
        assert!(
            out.status.success(),
            "building the test image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
