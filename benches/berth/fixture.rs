//! One bench's world: its own data dir (so its own install), a port range, the release
//! `berth` binary, the docker CLI, the health poll both sides share, and cleanup.

use berth::engine::Engine;
use berth::model::{PortRange, Settings};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const TEST_IMAGE: &str = "berth-test:latest";
pub const IDE_IMAGE: &str = "berth-workspace-offline:4.99.4";
const BERTH: &str = env!("CARGO_BIN_EXE_berth");
/// The engine's own poll interval, used for the baseline too.
const POLL: Duration = Duration::from_millis(50);

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub install: String,
    /// Baseline containers and networks carry this label, for cleanup.
    pub tag: String,
}

/// The hardening every Berth container gets (`plan::hardened()`), as `docker` flags.
pub const HARDENING: [&str; 5] = [
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges:true",
    "--init",
];

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("data")).unwrap();
        engine
            .save_settings(&Settings {
                port_range: PortRange::new(23000, 23999).unwrap(),
                max_running: 50,
                ..Settings::default()
            })
            .unwrap();
        let install = engine.install_id().to_string();
        let tag = format!("berth-bench-{}", &install[..8]);
        Fixture { dir, install, tag }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn project(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("projects").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn berth(&self, args: &[&str]) -> String {
        let out = Command::new(BERTH)
            .args(args)
            .env("BERTH_DATA_DIR", self.data())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The engine itself, in this process: what the CLI was before the daemon (the baseline
    /// of the daemon's own cost). Only while no daemon runs on this data dir.
    pub fn engine(&self) -> Engine {
        Engine::open(&self.data()).unwrap()
    }

    /// A client of this fixture's daemon, started if none runs.
    pub async fn client(&self) -> berth::client::Client {
        berth::client::Client::connect(
            &self.data(),
            berth::client::Autostart::Program(BERTH.into()),
        )
        .await
        .unwrap()
    }

    pub fn stop_daemon(&self) {
        let _ = Command::new(BERTH)
            .env("BERTH_DATA_DIR", self.data())
            .env("BERTH_NO_AUTOSTART", "1")
            .args(["daemon", "stop"])
            .output();
    }

    /// `docker run`/`create` flags equal to what Berth's plan sets.
    pub fn hardened_flags(&self, name: &str, port: u16, memory: &str) -> Vec<String> {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut flags: Vec<String> = HARDENING.iter().map(|s| s.to_string()).collect();
        flags.extend(
            [
                "--name",
                name,
                "--network",
                name,
                "--hostname",
                name,
                "--label",
                &format!("{}=1", self.tag),
                "-p",
                &format!("127.0.0.1:{port}:8080"),
                "--memory",
                memory,
                "--memory-swap",
                memory,
                "--cpus",
                "2",
                "--pids-limit",
                "1024",
                "--log-driver",
                "json-file",
                "--log-opt",
                "max-size=10m",
                "--log-opt",
                "max-file=3",
                "--restart",
                "no",
                "--user",
                &format!("{uid}:{gid}"),
                "-e",
                "BERTH_OPEN=/workspace",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        flags
    }

    pub fn network(&self, name: &str) {
        docker(&[
            "network",
            "create",
            "--label",
            &format!("{}=1", self.tag),
            name,
        ]);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop_daemon();
        let filters = [
            format!("label=dev.berth.install={}", self.install),
            format!("label={}", self.tag),
        ];
        for f in &filters {
            let ids = docker_lines(&["ps", "-aq", "--filter", f]);
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(String::as_str));
                let _ = Command::new("docker").args(&args).output();
            }
            for net in docker_lines(&["network", "ls", "-q", "--filter", f]) {
                let _ = Command::new("docker")
                    .args(["network", "rm", &net])
                    .output();
            }
        }
    }
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn docker_lines(args: &[&str]) -> Vec<String> {
    docker(args)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The same poll the engine does: GET /healthz on a fresh connection every 50 ms, until 2xx.
pub fn wait_healthy(port: u16) {
    wait_for(port, "/healthz", |status| status == b'2');
}

/// The poll a preview's start does: any HTTP answer at `/`.
pub fn wait_answer(port: u16) {
    wait_for(port, "/", |_| true);
}

/// Polls GET `path` every 50 ms until an answer's status class (its first digit) passes.
fn wait_for(port: u16, path: &str, accept: fn(u8) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if probe(port, path).is_some_and(accept) {
            return;
        }
        std::thread::sleep(POLL);
    }
    panic!("port {port} never answered {path}");
}

fn probe(port: u16, path: &str) -> Option<u8> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut head = [0u8; 16];
    match s.read(&mut head) {
        Ok(n) if n >= 12 => Some(head[9]),
        _ => None,
    }
}

pub fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
