//! The e2e harness, shared by the test binaries of the desktop app: the app under
//! tauri-driver (WebDriver), a data dir and daemon per test, the X helpers, Docker clean-up.
//! Each test binary uses part of it.
#![allow(dead_code)]

use berth::client::{Autostart, Client as Berth};
use berth::engine::Engine;
use berth::model::{PortRange, QuitBehavior, Settings};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const APP: &str = env!("CARGO_BIN_EXE_berth-desktop");
pub const IMAGE: &str = "berth-test:latest";

/// The `berth` CLI beside the app: the app starts its daemon from it, as an installed Berth
/// does. `scripts/test` builds it first.
pub fn berth_bin() -> PathBuf {
    let bin = Path::new(APP).with_file_name("berth");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --bin berth)",
        bin.display()
    );
    bin
}

/// Runs the `berth` CLI on `data`; panics on failure; returns stdout.
pub fn cli(data: &Path, args: &[&str]) -> String {
    cli_at(&berth_bin(), data, args)
}

/// Runs the CLI at `program` (the build under test, or an installed one) on `data`.
pub fn cli_at(program: &Path, data: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(program);
    cmd.env("BERTH_DATA_DIR", data).args(args);
    stdout_of(cmd, &format!("berth {args:?}"))
}

pub struct Session {
    pub client: Client,
    pub driver: Child,
    pub shots: PathBuf,
    pub lang: &'static str,
    /// The app's own HOME (empty at launch): nothing may appear in it unasked.
    pub home: PathBuf,
    /// Every URL the app handed to the system browser (`xdg-open` on PATH is a recorder).
    pub opened: PathBuf,
}

/// A HOME of its own for the app, and an `xdg-open` first on its PATH that only records what
/// it was asked to open: no real browser starts, and a test sees every attempt.
pub fn desktop_sandbox(data_dir: &Path) -> (PathBuf, PathBuf, std::ffi::OsString) {
    let root = data_dir.parent().unwrap().join("desktop");
    let home = root.join("home");
    let bin = root.join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let opened = root.join("opened.log");
    let shim = bin.join("xdg-open");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    (home, opened, path)
}

/// The files under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

impl Drop for Session {
    /// tauri-driver runs in its own process group with WebKitWebDriver and the app: end them
    /// all, so the next test's app is not taken for a second instance of this one.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.wait();
        // Give the rest of the group (WebKitWebDriver, the app) a moment to go on TERM.
        let deadline = Instant::now() + Duration::from_secs(3);
        let alive = || {
            Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}

pub fn tauri_driver() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let local = Path::new(&home).join(".cargo/bin/tauri-driver");
    if local.exists() {
        local
    } else {
        PathBuf::from("tauri-driver")
    }
}

/// Two distinct free ports (both held while the second is picked, so they differ).
pub fn free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().unwrap().port();
    (port(&a), port(&b))
}

pub async fn launch(data_dir: &Path, lang: &'static str) -> Session {
    launch_app(Path::new(APP), data_dir, lang).await
}

/// The app at `app` (the build under test, or an installed one) under tauri-driver.
pub async fn launch_app(app: &Path, data_dir: &Path, lang: &'static str) -> Session {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "the e2e test needs a display: run it under xvfb-run (scripts/test does)"
    );
    let (port, native) = free_ports();
    let (home, opened, path) = desktop_sandbox(data_dir);
    let driver = Command::new(tauri_driver())
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .process_group(0)
        .env("BERTH_DATA_DIR", data_dir)
        .env("HOME", &home)
        .env("PATH", path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tauri-driver (cargo install tauri-driver --locked)");
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": app }));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let shots = target.join("e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    Session {
        client,
        driver,
        shots,
        lang,
        home,
        opened,
    }
}

impl Session {
    pub fn css(sel: &str) -> Locator<'_> {
        Locator::Css(sel)
    }

    pub async fn el(&self, testid: &str) -> fantoccini::elements::Element {
        let sel = format!("[data-testid=\"{testid}\"]");
        self.wait_for(
            &format!("element {testid}"),
            Duration::from_secs(15),
            || async { self.client.find(Self::css(&sel)).await.ok() },
        )
        .await
    }

    pub async fn click(&self, testid: &str) {
        self.el(testid).await.click().await.unwrap();
    }

    pub async fn typ(&self, testid: &str, text: &str) {
        let e = self.el(testid).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Types a folder path into the create form and presses Add.
    pub async fn add_project(&self, path: &str) {
        self.typ("project-path", path).await;
        self.click("project-add").await;
    }

    pub async fn text(&self, testid: &str) -> String {
        self.el(testid).await.text().await.unwrap()
    }

    /// Polls `f` until it yields `Some`, or fails the test after `timeout`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, f: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        match poll(timeout, f).await {
            Some(found) => found,
            None => {
                // What the page said, in the failure itself: CI keeps the output, not the picture.
                let page = self
                    .client
                    .execute("return document.body.innerText", vec![])
                    .await
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                fail_with_screen(
                    self,
                    &what.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
                    &format!(
                        "timed out after {timeout:?} waiting for {what}; the page read:\n{page}"
                    ),
                )
            }
        }
    }

    /// Waits until `testid` shows no text (an error line cleared).
    pub async fn wait_empty(&self, testid: &str) {
        self.wait_for(
            &format!("{testid} to be empty"),
            Duration::from_secs(15),
            || async { self.text_of(testid).await?.trim().is_empty().then_some(()) },
        )
        .await
    }

    /// The text of `testid` now, if it is on the page.
    pub async fn text_of(&self, testid: &str) -> Option<String> {
        let sel = format!("[data-testid=\"{testid}\"]");
        self.client
            .find(Self::css(&sel))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    /// Scrolls `testid` into view (for a screenshot of it).
    pub async fn scroll_to(&self, testid: &str) {
        self.client
            .execute(
                &format!("document.querySelector('[data-testid=\"{testid}\"]').scrollIntoView()"),
                vec![],
            )
            .await
            .unwrap();
    }

    pub async fn wait_text(&self, testid: &str, needle: &str) -> String {
        self.wait_for(
            &format!("{testid} to contain {needle:?}"),
            Duration::from_secs(15),
            || async {
                let text = self.text_of(testid).await?;
                text.contains(needle).then_some(text)
            },
        )
        .await
    }

    pub async fn wait_status(&self, name: &str, status: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        let sel = format!("[data-testid=\"ws-status-{name}\"]");
        self.wait_for(&format!("{name} to be {status}"), timeout, || async {
            let attr = self
                .client
                .find(Self::css(&sel))
                .await
                .ok()?
                .attr("data-status")
                .await
                .ok()??;
            (attr == status).then_some(())
        })
        .await;
        started.elapsed()
    }

    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{}-{name}.png", self.lang)), png).unwrap();
    }

    /// The app's view of the IDE window of `name` (`url`, `loaded`), once it answers.
    pub async fn ide_window(&self, name: &str) -> Option<Value> {
        self.invoke("ide_window", json!({ "name": name }))
            .await
            .ok()
    }

    /// Calls an app command from the current window's page, as its own code would.
    pub async fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let script = r#"
            const [cmd, args, done] = arguments;
            const ipc = window.__TAURI_INTERNALS__;
            if (!ipc) { done({ err: "no Tauri IPC in this window" }); return; }
            ipc.invoke(cmd, args).then((ok) => done({ ok }), (err) => done({ err }));
        "#;
        let out = self
            .client
            .execute_async(script, vec![json!(cmd), args])
            .await
            .unwrap();
        match out.get("ok") {
            Some(ok) => Ok(ok.clone()),
            None => Err(out.get("err").cloned().unwrap_or(Value::Null)),
        }
    }

    /// What the tray menu shows now (its entries' titles).
    pub async fn tray(&self) -> Vec<String> {
        let v = self.invoke("tray_menu", json!({})).await.unwrap();
        serde_json::from_value(v).unwrap()
    }

    pub async fn wait_tray(&self, want: &str, timeout: Duration) {
        self.wait_for(&format!("the tray to show {want:?}"), timeout, || async {
            self.tray().await.iter().any(|t| t == want).then_some(())
        })
        .await;
    }

    pub async fn go(&self, hash: &str) {
        self.client
            .execute(&format!("location.hash = '{hash}'"), vec![])
            .await
            .unwrap();
    }
}

/// Polls `f` every 50 ms until it yields `Some`; `None` once `timeout` has passed.
pub async fn poll<T, F, Fut>(timeout: Duration, f: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A picture of the X window titled `title` (an IDE window: WebDriver sees only the main
/// window), taken once it has drawn its page and settled: more than a handful of colours, and
/// the same pixels in three pictures in a row (polled, with a deadline).
pub async fn x_window_shot(title: &str, path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last: Option<Vec<u8>> = None;
    let mut same = 0;
    loop {
        if let Some(pixels) = x_window_pixels(title, path) {
            same = if last.as_ref() == Some(&pixels) {
                same + 1
            } else {
                0
            };
            last = Some(pixels);
            if same == 2 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the window {title:?} never drew and settled"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Screenshots the window titled `title` into `path`; its raw pixels if it has drawn a page.
pub fn x_window_pixels(title: &str, path: &Path) -> Option<Vec<u8>> {
    let id = x_window_id(&format!("\"{title}\""))?;
    Command::new("/usr/bin/import")
        .args(["-window", &id])
        .arg(path)
        .status()
        .ok()?;
    let colours = Command::new("/usr/bin/convert")
        .arg(path)
        .args(["-format", "%k", "info:"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        })?;
    if colours <= 8 {
        return None;
    }
    let raw = Command::new("/usr/bin/convert")
        .arg(path)
        .arg("rgba:-")
        .output()
        .ok()?;
    Some(raw.stdout)
}

/// The X window whose line in `xwininfo -tree` contains `needle` (its quoted title).
pub fn x_window_id(needle: &str) -> Option<String> {
    let tree = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .output()
        .expect("xwininfo (x11-utils)");
    String::from_utf8_lossy(&tree.stdout)
        .lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
}

/// Waits for a window whose title starts with `title` (a native dialog: WebDriver cannot
/// see it); its X id.
pub async fn x_window_named(title: &str, timeout: Duration) -> String {
    let needle = format!("\"{title}");
    if let Some(id) = poll(timeout, || async { x_window_id(&needle) }).await {
        return id;
    }
    let tree = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .output()
        .unwrap();
    panic!(
        "no window {title:?} appeared; windows:\n{}",
        String::from_utf8_lossy(&tree.stdout)
    );
}

/// Presses `key` in X window `id`, as a user's keyboard does (XTEST, after focusing it).
pub fn x_key(id: &str, key: &str) {
    x_keys(id, &[key]);
}

pub fn x_keys(id: &str, keys: &[&str]) {
    let status = Command::new("xdotool")
        .args(["windowfocus", "--sync", id, "key", "--delay", "100"])
        .args(keys)
        .status()
        .expect("xdotool");
    assert!(status.success(), "xdotool could not press {keys:?}");
}

/// Fails the test with a picture of the whole screen, to see what the user would have seen.
pub fn fail_with_screen(s: &Session, what: &str, message: &str) -> ! {
    let shot = s.shots.join(format!("failed-{what}.png"));
    let _ = Command::new("/usr/bin/import")
        .args(["-window", "root"])
        .arg(&shot)
        .status();
    panic!("{message} (screen: {})", shot.display());
}

/// Drags `file` (written first) from another program's window onto point `at` of X window
/// `id`, with the mouse, as a user does.
pub async fn drop_file_on(id: &str, at: (i32, i32), file: &Path) {
    std::fs::write(file, "dropped from outside\n").unwrap();
    let target = window_point(id, at);
    let (sx, sy) = (1350, 650);
    let mut source = Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drag_source.py"))
        .arg(file)
        .args([sx.to_string(), sy.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with GTK (python3-gi)");
    x_window_named("berth-drag-source", Duration::from_secs(10)).await;
    x_drag((sx + 100, sy + 100), target);
    // The source says when GTK has ended the drag (dropped or not); then it goes.
    let out = source.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
        let _ = tx.send(line);
    });
    let ended = rx.recv_timeout(Duration::from_secs(15));
    let _ = source.kill();
    let _ = source.wait();
    assert_eq!(
        ended.as_deref().map(str::trim),
        Ok("drag-end"),
        "the drag never ended"
    );
}

/// Point `at` of X window `id`, on the screen.
pub fn window_point(id: &str, at: (i32, i32)) -> (i32, i32) {
    let geometry = Command::new("xdotool")
        .args(["getwindowgeometry", "--shell", id])
        .output()
        .expect("xdotool");
    let field = |name: &str| -> i32 {
        String::from_utf8_lossy(&geometry.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the geometry of window {id}"))
    };
    (field("X") + at.0, field("Y") + at.1)
}

/// A mouse drag from `from` to `to` on the screen, as a hand does it: press, move in steps
/// (GTK starts a drag after some motion and XDND needs each step delivered: the pauses pace
/// the hand, they wait for nothing), linger, release.
pub fn x_drag(from: (i32, i32), to: (i32, i32)) {
    let mut args: Vec<String> = vec!["mousemove".into(), from.0.to_string(), from.1.to_string()];
    args.extend(["mousedown", "1"].map(String::from));
    for step in 1..=20 {
        let x = from.0 + (to.0 - from.0) * step / 20;
        let y = from.1 + (to.1 - from.1) * step / 20;
        args.extend(["sleep", "0.08", "mousemove"].map(String::from));
        args.extend([x.to_string(), y.to_string()]);
    }
    for wiggle in [2, 4, 2, 0] {
        args.extend(["sleep", "0.15", "mousemove"].map(String::from));
        args.extend([(to.0 + wiggle).to_string(), to.1.to_string()]);
    }
    args.extend(["sleep", "0.3", "mouseup", "1"].map(String::from));
    let status = Command::new("xdotool")
        .args(&args)
        .status()
        .expect("xdotool");
    assert!(status.success(), "xdotool could not drag");
}

/// Types `text` into X window `id` (`\n` is Return).
pub fn x_type(id: &str, text: &str) {
    let status = Command::new("xdotool")
        .args(["windowfocus", "--sync", id, "type", "--delay", "30", text])
        .status()
        .expect("xdotool");
    assert!(status.success(), "xdotool could not type {text:?}");
}

pub fn docker(args: &[&str]) -> String {
    ok("docker", args)
}

/// Runs `program`; panics with its output on failure; returns stdout.
pub fn ok(program: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    stdout_of(cmd, &format!("{program} {args:?}"))
}

/// Runs `cmd`; panics with `what` and its output on failure; returns stdout.
fn stdout_of(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn containers_of(install: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=dev.berth.install={install}"),
    ])
    .lines()
    .map(String::from)
    .collect()
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub install: String,
}

impl Setup {
    pub fn new(range_first: u16) -> Setup {
        Self::with(range_first, QuitBehavior::LeaveRunning)
    }

    /// Settings go straight into the new data dir: no daemon runs for it yet.
    pub fn with(range_first: u16, on_quit: QuitBehavior) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("data")).unwrap();
        engine
            .save_settings(&Settings {
                port_range: PortRange::new(range_first, range_first + 9).unwrap(),
                on_quit,
                ..Settings::default()
            })
            .unwrap();
        let install = engine.install_id().to_string();
        Setup { dir, install }
    }

    /// A client of this test's daemon, as the app has one.
    pub async fn client(&self) -> Berth {
        Berth::connect(&self.data(), Autostart::Program(berth_bin()))
            .await
            .unwrap()
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli(&self.data(), args)
    }

    /// `berth create NAME` on `project` with the test image, as a user at a terminal would.
    pub fn create(&self, name: &str, project: &str) {
        self.create_at(&berth_bin(), name, project, &[]);
    }

    /// `create` through the CLI at `program` (an installed one, say), with `extra` arguments.
    pub fn create_at(&self, program: &Path, name: &str, project: &str, extra: &[&str]) {
        let mut args = vec![
            "create",
            name,
            "--image",
            IMAGE,
            "--project",
            project,
            "--memory",
            "64m",
        ];
        args.extend_from_slice(extra);
        cli_at(program, &self.data(), &args);
    }

    pub fn show(&self, name: &str) -> Value {
        serde_json::from_str(&self.cli(&["show", name, "--json"])).unwrap()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn project(&self, name: &str) -> String {
        let p = self.dir.path().join("projects").join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("main.rs"), "fn main() {}\n").unwrap();
        p.display().to_string()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // The daemon the app started for this test goes with the test.
        let _ = Command::new(berth_bin())
            .env("BERTH_DATA_DIR", self.data())
            .env("BERTH_NO_AUTOSTART", "1")
            .args(["daemon", "stop"])
            .output();
        for id in containers_of(&self.install) {
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        }
        // Its networks, then its home and preview volumes.
        for object in ["network", "volume"] {
            let listed = Command::new("docker")
                .args([object, "ls", "-q", "--filter"])
                .arg(format!("label=dev.berth.install={}", self.install))
                .output()
                .unwrap();
            for id in String::from_utf8_lossy(&listed.stdout).lines() {
                let _ = Command::new("docker").args([object, "rm", id]).output();
            }
        }
        // The install's master key, if its daemon made one.
        if let Ok(install) = self.install.parse() {
            use berth::secrets::KeyStore;
            let _ = berth::secrets::OsKeyStore::new(berth::secrets::KEYCHAIN_SERVICE)
                .delete(&berth::secrets::master_key_account(install));
        }
    }
}

/// Fills and submits the create form for `name` on `project`.
pub async fn create_through_form(s: &Session, name: &str, project: &str) {
    s.click("nav-create").await;
    s.typ("create-name", name).await;
    // The name check answers after a pause in typing and clears an earlier error, which moves
    // everything below it: wait for that before clicking further down.
    s.wait_empty("create-name-error").await;
    s.el("create-image")
        .await
        .select_by_value(IMAGE)
        .await
        .unwrap();
    s.add_project(project).await;
    s.wait_text("create-projects", name).await;
    s.click("create-submit").await;
}
