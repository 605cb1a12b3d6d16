//! The Linux packages as a user gets them. `scripts/test` builds them with `scripts/package
//! --debug` into `BERTH_TEST_PACKAGES`: `current/` (this version) and `next/` (the same sources
//! one patch version up, with its CHANGELOG section), both signed with a throwaway key that the
//! packaged apps trust instead of Berth's own.
//!
//! - the .deb on a clean Debian 12 container (dependencies, CLI, doctor, libraries, desktop
//!   entry, removal keeps the data);
//! - the .rpm's contents and declared dependencies (no RPM system here to install it on);
//! - on this machine: the installed app refuses an older version, a package signed for another
//!   version, another key's signature, a broken-off download, an endless one and a plain-http
//!   package address, then installs the real next version and restarts as it — with a
//!   workspace running through all of it.

mod harness;

use harness::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The Debian 12 base image Berth already builds (debootstrap; `scripts/test` makes it).
const BASE: &str = "berth-base:bookworm-slim";
const INSTALLED_APP: &str = "/usr/bin/berth-desktop";
const INSTALLED_CLI: &str = "/usr/bin/berth";

/// One built version: its folder, version and files.
struct Release {
    dir: PathBuf,
    version: String,
    manifest: Value,
}

impl Release {
    fn load(which: &str) -> Release {
        let root = std::env::var_os("BERTH_TEST_PACKAGES")
            .map(PathBuf::from)
            .expect("BERTH_TEST_PACKAGES is not set: scripts/test builds the packages and sets it");
        let dir = root.join(which);
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("latest.json")).unwrap_or_else(|e| {
                panic!("{}/latest.json: {e} (run scripts/test)", dir.display())
            }))
            .unwrap();
        let version = manifest["version"].as_str().unwrap().to_string();
        Release {
            dir,
            version,
            manifest,
        }
    }

    fn deb_name(&self) -> String {
        format!("berth_{}_amd64.deb", self.version)
    }

    fn deb(&self) -> PathBuf {
        self.dir.join(self.deb_name())
    }

    fn rpm(&self) -> PathBuf {
        self.dir
            .join(format!("berth-{}-1.x86_64.rpm", self.version))
    }

    /// The minisign signature of the .deb, as `latest.json` carries it.
    fn deb_signature(&self) -> String {
        self.manifest["platforms"]["linux-x86_64-deb"]["signature"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// A clean Debian 12 container with the packages' folder mounted, removed on drop.
struct CleanDebian(String);

impl CleanDebian {
    fn start(packages: &Path) -> CleanDebian {
        let id = docker(&[
            "run",
            "-d",
            "--label",
            "dev.berth.test=packages",
            "-v",
            &format!("{}:/pkgs:ro", packages.display()),
            BASE,
            "sleep",
            "infinity",
        ]);
        CleanDebian(id.trim().to_string())
    }

    fn sh(&self, script: &str) -> Output {
        run("docker", &["exec", &self.0, "sh", "-c", script])
    }

    fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "in the container: {script}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for CleanDebian {
    fn drop(&mut self) {
        let _ = run("docker", &["rm", "-f", &self.0]);
    }
}

#[test]
fn the_deb_installs_on_a_clean_debian_and_removing_it_keeps_the_data() {
    let current = Release::load("current");
    let box_ = CleanDebian::start(&current.dir);
    // apt reaches the Debian mirror over plain http; every dependency comes from there.
    box_.ok("apt-get update -qq");
    let install = box_.ok(&format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         /pkgs/{} desktop-file-utils 2>&1",
        current.deb_name()
    ));
    assert!(install.contains("Setting up berth"), "{install}");

    // The CLI is on PATH and knows its version.
    let version = box_.ok("berth --version");
    assert_eq!(version.trim(), format!("berth {}", current.version));
    // Docker is a recommendation, not a dependency: doctor says what is missing and how.
    let depends = box_.ok("dpkg-query -W -f '${Depends}' berth");
    for dep in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libayatana-appindicator3-1",
        "libxdo3",
    ] {
        assert!(depends.contains(dep), "{dep} not in {depends}");
    }
    let recommends = box_.ok("dpkg-query -W -f '${Recommends}' berth");
    assert!(recommends.contains("docker.io"), "{recommends}");
    assert!(recommends.contains("gnome-keyring"), "{recommends}");
    // It talks https to AI providers: the system's CA certificates came with it.
    box_.ok("dpkg-query -W ca-certificates");
    let doctor = box_.sh("berth doctor");
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "doctor without Docker: {said}");
    assert!(
        said.contains(&format!("berth {}", current.version)),
        "{said}"
    );
    assert!(
        said.contains("install Docker (Debian/Ubuntu: apt-get install docker.io)"),
        "{said}"
    );
    box_.ok("BERTH_NO_AUTOSTART=1 berth daemon stop");

    // Every shared library of both programs resolves.
    for program in [INSTALLED_APP, INSTALLED_CLI] {
        let ldd = box_.ok(&format!("ldd {program}"));
        assert!(!ldd.contains("not found"), "{program}: {ldd}");
        assert!(
            ldd.contains("libwebkit2gtk") || program == INSTALLED_CLI,
            "{ldd}"
        );
    }
    // The desktop entry and its icon.
    let entry = "/usr/share/applications/Berth.desktop";
    let validate = box_.sh(&format!("desktop-file-validate {entry}"));
    assert!(
        validate.status.success() && validate.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    let desktop = box_.ok(&format!("cat {entry}"));
    for line in [
        "Exec=berth-desktop",
        "Name=Berth",
        "Categories=Development;",
    ] {
        assert!(
            desktop.lines().any(|l| l == line),
            "{line} not in {desktop}"
        );
    }
    // Installed as root's, readable and runnable by everyone, writable by root only.
    let modes = box_.ok("stat -c '%a %U' /usr/bin/berth /usr/bin/berth-desktop");
    assert_eq!(modes, "755 root\n755 root\n");
    box_.ok("test -s /usr/share/icons/hicolor/128x128/apps/berth-desktop.png");

    // Removing the package keeps the users' data and says where it is.
    box_.ok("mkdir -p /home/ann/.local/share/berth");
    let removed = box_.ok("apt-get remove -y berth 2>&1");
    assert!(removed.contains("Your Berth data is kept"), "{removed}");
    assert!(removed.contains("/root/.local/share/berth"), "{removed}");
    assert!(
        removed.contains("/home/ann/.local/share/berth"),
        "{removed}"
    );
    box_.ok("test -f /root/.local/share/berth/berth.db");
    box_.ok("! command -v berth && ! test -e /usr/bin/berth-desktop");
}

#[test]
fn the_rpm_holds_the_same_app_and_declares_its_dependencies() {
    let current = Release::load("current");
    let rpm = current.rpm();
    let rpm = rpm.to_str().unwrap();
    let files = ok("rpm", &["-qpl", rpm]);
    for file in [
        INSTALLED_APP,
        INSTALLED_CLI,
        "/usr/share/applications/Berth.desktop",
    ] {
        assert!(files.lines().any(|l| l == file), "{file} not in:\n{files}");
    }
    let version = ok("rpm", &["-qp", "--qf", "%{VERSION}", rpm]);
    assert_eq!(version, current.version);
    let requires = ok("rpm", &["-qpR", rpm]);
    for dep in [
        "libwebkit2gtk-4.1.so.0",
        "libgtk-3.so.0",
        "libayatana-appindicator-gtk3",
        "libxdo",
        "dbus-libs",
        "ca-certificates",
    ] {
        assert!(requires.contains(dep), "{dep} not required:\n{requires}");
    }
    let recommends = ok("rpm", &["-qp", "--recommends", rpm]);
    assert!(recommends.contains("moby-engine"), "{recommends}");
    assert!(recommends.contains("gnome-keyring"), "{recommends}");
    let scripts = ok("rpm", &["-qp", "--scripts", rpm]);
    assert!(scripts.contains("Your Berth data is kept"), "{scripts}");
}

#[test]
fn whats_new_comes_from_the_versions_changelog_section_and_a_release_needs_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/changelog.py");
    let changelog = root.join("CHANGELOG.md");
    let notes = |version: &str| {
        Command::new("python3")
            .arg(&script)
            .arg(version)
            .arg(&changelog)
            .output()
            .unwrap()
    };
    let this = notes(env!("CARGO_PKG_VERSION"));
    assert!(
        this.status.success(),
        "{}",
        String::from_utf8_lossy(&this.stderr)
    );
    assert!(!this.stdout.is_empty());
    let missing = notes("9.9.9");
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("no section `## 9.9.9`"), "{said}");
    // The next version's notes are what build_test_packages wrote in its CHANGELOG section.
    let next = Release::load("next");
    assert_eq!(
        next.manifest["notes"],
        format!(
            "- The package tests' next version: it installs over {}.",
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// Serves update manifests and packages on loopback, as Berth's release server would — and
/// as an attacker's would.
mod server {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::Response;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    #[derive(Clone)]
    pub enum File {
        Whole(Vec<u8>),
        /// Announces the whole length, sends half, then drops the connection.
        BrokenOff(Vec<u8>),
        /// Announces 2 GiB and sends zeros for as long as anyone reads.
        Endless,
    }

    #[derive(Clone, Default)]
    pub struct Files(Arc<Mutex<HashMap<String, File>>>);

    impl Files {
        pub fn put(&self, path: &str, file: File) {
            self.0.lock().unwrap().insert(path.to_string(), file);
        }
    }

    pub async fn serve(files: Files) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let files = files.clone();
            async move {
                let file = files.0.lock().unwrap().get(uri.path()).cloned();
                match file {
                    None => Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .body(Body::empty())
                        .unwrap(),
                    Some(File::Whole(bytes)) => Response::new(Body::from(bytes)),
                    Some(File::Endless) => {
                        let zeros = futures_util::stream::repeat_with(|| {
                            Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 64 << 10]))
                        });
                        let mut res = Response::new(Body::from_stream(zeros));
                        res.headers_mut()
                            .insert(header::CONTENT_LENGTH, HeaderValue::from(2u64 << 30));
                        res
                    }
                    Some(File::BrokenOff(bytes)) => {
                        let len = bytes.len();
                        let half = Bytes::from(bytes[..len / 2].to_vec());
                        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                            Ok(half),
                            Err(std::io::Error::other("the connection broke off")),
                        ];
                        let mut res =
                            Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
                        res.headers_mut()
                            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                        res
                    }
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    }
}

/// The host's installed Berth version, if any (`dpkg-query`).
fn installed_version() -> Option<String> {
    let out = run("dpkg-query", &["-W", "-f", "${Status} ${Version}", "berth"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.strip_prefix("install ok installed ")
        .map(str::to_string)
}

/// Runs on drop: the machine loses the package this test installed (purged: no dpkg record
/// is left behind either).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("apt-get", &["purge", "-y", "berth"]);
    }
}

/// The pids of programs running `/usr/bin/berth-desktop` as it is on disk now.
fn installed_app_pids() -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A replaced binary reads "/usr/bin/berth-desktop (deleted)".
        if std::fs::read_link(entry.path().join("exe")).is_ok_and(|p| p == Path::new(INSTALLED_APP))
        {
            pids.push(pid);
        }
    }
    pids
}

fn daemon_version(data: &Path) -> Option<String> {
    let out = Command::new(INSTALLED_CLI)
        .env("BERTH_DATA_DIR", data)
        .args(["daemon", "status", "--json"])
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["version"].as_str().map(str::to_string)
}

/// A minisign key of an attacker's, and `file` signed with it (through Tauri's signer).
fn signed_by_another_key(dir: &Path, file: &Path) -> String {
    let tauri = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/node_modules/.bin/tauri");
    let key = dir.join("attacker.key");
    let key_arg = key.to_str().unwrap();
    let tauri = tauri.to_str().unwrap();
    ok(
        tauri,
        &["signer", "generate", "--ci", "-p", "", "-w", key_arg],
    );
    let file_arg = file.to_str().unwrap();
    ok(
        tauri,
        &["signer", "sign", "-f", key_arg, "-p", "", file_arg],
    );
    let sig = file.with_file_name(format!(
        "{}.sig",
        file.file_name().unwrap().to_string_lossy()
    ));
    std::fs::read_to_string(sig).unwrap().trim().to_string()
}

fn manifest(version: &str, url: &str, signature: &str, notes: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": version,
        "notes": notes,
        "pub_date": "2026-11-26T12:00:00Z",
        "platforms": { "linux-x86_64-deb": { "url": url, "signature": signature } }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_app_refuses_bad_updates_and_updates_itself_to_the_next_version() {
    let current = Release::load("current");
    let next = Release::load("next");
    assert!(
        installed_app_pids().is_empty(),
        "an installed Berth app already runs on this machine"
    );
    let install = run(
        "apt-get",
        &[
            "install",
            "-y",
            "--allow-downgrades",
            current.deb().to_str().unwrap(),
        ],
    );
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let _installed = Installed;
    assert_eq!(
        installed_version().as_deref(),
        Some(current.version.as_str())
    );

    // The release server, and the test's data dir with a workspace running before the update.
    let files = server::Files::default();
    let port = server::serve(files.clone()).await;
    let base = format!("http://127.0.0.1:{port}");
    let setup = Setup::new(22300);
    let data = setup.data();
    let project = setup.project("site");
    let cli = |args: &[&str]| cli_at(Path::new(INSTALLED_CLI), &data, args);
    setup.create_at(Path::new(INSTALLED_CLI), "site", &project, &[]);
    cli(&["start", "site"]);
    let container = docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=dev.berth.install={}", setup.install),
    ]);
    let container = container.trim().to_string();
    let started_at = |id: &str| docker(&["inspect", "-f", "{{.State.StartedAt}}", id]);
    let first_start = started_at(&container);
    assert_eq!(
        daemon_version(&data).as_deref(),
        Some(current.version.as_str())
    );

    let client = setup.client().await;
    // The daemon refuses an update address off this machine over plain http, and keeps what
    // it had.
    let mut refused = client.settings().await.unwrap();
    refused.updates.endpoint = Some("http://192.168.1.5/latest.json".into());
    let e = client.save_settings(&refused).await.unwrap_err();
    assert!(e.message.contains("plain http only on this machine"), "{e}");
    assert_eq!(client.settings().await.unwrap().updates.endpoint, None);
    let point_at = |path: &str| {
        let client = &client;
        let url = format!("{base}{path}");
        async move {
            let mut s = client.settings().await.unwrap();
            s.updates.endpoint = Some(url);
            client.save_settings(&s).await.unwrap();
        }
    };

    // 1. An older version, found by the daily check the app makes when it starts: refused
    //    before anything is downloaded.
    files.put(
        "/older/latest.json",
        server::File::Whole(manifest(
            "0.0.1",
            &format!("{base}/current.deb"),
            &current.deb_signature(),
            "",
        )),
    );
    files.put(
        "/current.deb",
        server::File::Whole(std::fs::read(current.deb()).unwrap()),
    );
    point_at("/older/latest.json").await;
    let s = launch_app(Path::new(INSTALLED_APP), &data, "en").await;
    s.go("#/settings").await;
    s.wait_text("update-version", &format!("Berth {}", current.version))
        .await;
    let said = s.wait_text("update-state", "offers Berth 0.0.1").await;
    assert!(said.contains("never goes back"), "{said}");
    // Each check ends with a new `data-checked` time: wait for that, then for the state.
    let check = |want: &'static str| {
        let s = &s;
        async move {
            let attr = |name: &'static str| async move {
                s.el("update-state").await.attr(name).await.ok().flatten()
            };
            let before = attr("data-checked").await;
            s.click("update-check").await;
            s.wait_for(
                &format!("the update state {want}"),
                Duration::from_secs(120),
                || async {
                    let checked = attr("data-checked").await;
                    let state = attr("data-state").await?;
                    (checked != before && state == want).then_some(())
                },
            )
            .await;
            s.text("update-state").await
        }
    };
    let still_current = || {
        assert_eq!(
            installed_version().as_deref(),
            Some(current.version.as_str())
        );
        assert!(!installed_app_pids().is_empty(), "the app is gone");
    };

    still_current();

    // Offers a release through a manifest of its own and checks: what the update state says.
    let offer = |name: &'static str, url: String, signature: String, want: &'static str| {
        let (files, point_at, check, next) = (&files, &point_at, &check, &next);
        async move {
            let path = format!("/{name}/latest.json");
            let (version, notes) = (&next.version, next.manifest["notes"].as_str().unwrap());
            let body = manifest(version, &url, &signature, notes);
            files.put(&path, server::File::Whole(body));
            point_at(&path).await;
            check(want).await
        }
    };
    let next_deb = std::fs::read(next.deb()).unwrap();
    files.put("/next.deb", server::File::Whole(next_deb.clone()));

    // 2. A genuine older package passed off as the next version: its signature is Berth's,
    //    but for another version.
    let said = offer(
        "inflated",
        format!("{base}/current.deb"),
        current.deb_signature(),
        "failed",
    )
    .await;
    assert!(
        said.contains("signature is not Berth's or not for the version offered"),
        "{said}"
    );
    still_current();

    // 3. The next version's package signed by another key.
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join(next.deb_name());
    std::fs::copy(next.deb(), &copy).unwrap();
    let forged = signed_by_another_key(work.path(), &copy);
    let said = offer("forged", format!("{base}/next.deb"), forged, "failed").await;
    assert!(said.contains("signature is not Berth's"), "{said}");
    still_current();

    // 4. The real next version, but the download breaks off half way.
    files.put("/broken/next.deb", server::File::BrokenOff(next_deb));
    let said = offer(
        "broken",
        format!("{base}/broken/next.deb"),
        next.deb_signature(),
        "failed",
    )
    .await;
    assert!(said.contains("download broke off"), "{said}");
    still_current();

    // 5. A package far larger than any of Berth's: given up on at its first bytes.
    files.put("/endless/next.deb", server::File::Endless);
    let said = offer(
        "endless",
        format!("{base}/endless/next.deb"),
        next.deb_signature(),
        "failed",
    )
    .await;
    assert!(said.contains("larger than 1024 MiB"), "{said}");
    still_current();

    // 6. A package named at a plain-http address off this machine: never fetched.
    let said = offer(
        "plain",
        "http://192.0.2.1/next.deb".into(),
        next.deb_signature(),
        "failed",
    )
    .await;
    assert!(
        said.contains("not https") && said.contains("192.0.2.1"),
        "{said}"
    );
    still_current();
    s.shot("updates-refused").await;

    // 7. The real next version: offered with what's new, verified, installed, restarted.
    let notes = next.manifest["notes"].as_str().unwrap().to_string();
    assert!(!notes.is_empty());
    let said = offer(
        "good",
        format!("{base}/next.deb"),
        next.deb_signature(),
        "ready",
    )
    .await;
    assert!(
        said.contains(&format!("Berth {} is downloaded", next.version)),
        "{said}"
    );
    let first_note = notes
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("- ")
        .to_string();
    s.wait_text("update-notes", &first_note).await;
    s.wait_tray(
        &format!("Restart to update to Berth {}", next.version),
        Duration::from_secs(5),
    )
    .await;
    // Ready is not installed: that waits for the user.
    still_current();
    s.scroll_to("updates").await;
    s.shot("update-ready").await;
    let before = installed_app_pids();
    assert_eq!(before.len(), 1, "one installed app runs: {before:?}");
    // What asks for administrator rights, as the app's PATH finds it: pkexec (its dialog
    // dismissed here), then sudo (root needs no password).
    let asked = s.home.with_file_name("asked.log");
    let shim = |name: &str, then: &str| {
        let path = s.home.with_file_name("bin").join(name);
        let script = format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{then}\n",
            asked.display()
        );
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    shim("pkexec", "exit 126");
    shim("sudo", "exec /usr/bin/sudo \"$@\"");
    s.click("update-install").await;

    // The package tool replaced the app; the app restarted as the new version...
    let restarted = poll(Duration::from_secs(120), || async {
        let now = installed_app_pids();
        let fresh: Vec<u32> = now.into_iter().filter(|p| !before.contains(p)).collect();
        (installed_version().as_deref() == Some(next.version.as_str()) && !fresh.is_empty())
            .then_some(fresh)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no restarted app of version {}: installed {:?}, running {:?}",
            next.version,
            installed_version(),
            installed_app_pids()
        )
    });
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    let asked = std::fs::read_to_string(&asked).unwrap();
    let lines: Vec<&str> = asked.lines().collect();
    assert_eq!(lines.len(), 2, "{asked}");
    assert!(
        lines[0].starts_with("pkexec dpkg -i /") && lines[0].ends_with("package.deb"),
        "{asked}"
    );
    assert_eq!(lines[1], lines[0].replacen("pkexec", "sudo", 1), "{asked}");
    // ...its window is up...
    x_window_named("Berth", Duration::from_secs(60)).await;
    // ...the daemon was handed over to the new version...
    poll(Duration::from_secs(60), || async {
        (daemon_version(&data).as_deref() == Some(next.version.as_str())).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the daemon still reports {:?}", daemon_version(&data)));
    assert_eq!(
        cli(&["--version"]).trim(),
        format!("berth {}", next.version)
    );
    // ...and the workspace ran through it all: the same container, never restarted.
    assert_eq!(started_at(&container), first_start);
    let running = docker(&["inspect", "-f", "{{.State.Running}}", &container]);
    assert_eq!(running.trim(), "true");
    let shown: Value = serde_json::from_str(&cli(&["show", "site", "--json"])).unwrap();
    assert_eq!(shown["status"], "running", "{shown}");
    drop(s);
    // The restarted app was the session's process group's; it is gone with it.
    assert!(
        poll(Duration::from_secs(10), || async {
            installed_app_pids().is_empty().then_some(())
        })
        .await
        .is_some(),
        "the restarted app outlived its session: {:?}",
        installed_app_pids()
    );
    // Removing the package (purged: nothing of it stays on this machine) keeps the workspace
    // and the data dir, and says so.
    let removed = run("apt-get", &["purge", "-y", "berth"]);
    let said = String::from_utf8_lossy(&removed.stdout);
    assert!(
        removed.status.success() && said.contains("Your Berth data is kept"),
        "{said}"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &container]).trim(),
        "true"
    );
    assert!(data.join("berth.db").is_file());
}
