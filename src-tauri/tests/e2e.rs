//! End-to-end: the real Berth app under Xvfb, driven over WebDriver (tauri-driver +
//! WebKitWebDriver), against the real Docker engine and the test image — as a user would.
//! Screenshots of every screen, in English and German, land in
//! `$CARGO_TARGET_DIR/e2e-screenshots/` (look at them).
//!
//! Needs: a display (`scripts/test` runs this under xvfb-run + dbus-run-session), tauri-driver
//! on PATH or in ~/.cargo/bin, WebKitWebDriver, dockerd and `berth-test:latest`.

mod harness;

use berth::model::QuitBehavior;
use fantoccini::Locator;
use harness::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_creates_runs_opens_stops_and_deletes_a_workspace() {
    let setup = Setup::new(22100);
    let s = launch(&setup.data(), "en").await;

    // Empty state explains what to do.
    s.wait_text("empty-state", "No workspaces yet").await;
    s.shot("list-empty").await;

    // Validation errors come from the engine and show next to their field.
    s.click("nav-create").await;
    s.typ("create-name", "Bad_Name").await;
    s.wait_text("create-name-error", "may not contain").await;
    s.add_project("/etc").await;
    s.wait_text("create-project-error", "inside the system folder /etc")
        .await;
    let missing = setup.dir.path().join("nope").display().to_string();
    s.add_project(&missing).await;
    s.wait_text("create-project-error", "does not exist").await;
    s.shot("create-errors").await;

    // Create from a real folder; the form starts it, the list shows it go Running.
    let project = setup.project("e2e");
    create_through_form(&s, "e2e", &project).await;
    s.wait_status("e2e", "running", Duration::from_secs(60))
        .await;
    s.shot("list-running").await;
    let ws = setup.show("e2e");
    let url = ws["url"].as_str().unwrap().to_string();

    // A service on the host's loopback, right beside the workspace's port: the IDE page will
    // try to reach it.
    let port = ws["port"].as_u64().unwrap() as u16;
    let neighbour = std::net::TcpListener::bind(("127.0.0.1", port + 1)).unwrap();
    neighbour.set_nonblocking(true).unwrap();

    // The IDE window opens on the workspace URL (logged in by Berth's one-time link) and
    // loads it.
    s.click("ws-open-e2e").await;
    let view = s
        .wait_for(
            "the IDE window to load",
            Duration::from_secs(20),
            || async {
                let v = s.ide_window("e2e").await?;
                (v["loaded"] == true).then_some(v)
            },
        )
        .await;
    assert_eq!(
        view["url"].as_str().unwrap(),
        url,
        "IDE window on the workspace URL"
    );
    // The page inside the IDE window (the test image's) tries to delete its own workspace,
    // to list workspaces and to navigate away, then reports at /healthz?ipc=..&nav=..
    let ide_url_with = |needle: &'static str| {
        let s = &s;
        async move {
            s.wait_for(
                &format!("the IDE page to reach {needle}"),
                Duration::from_secs(20),
                || async {
                    let v = s.ide_window("e2e").await?;
                    let url = v["url"].as_str()?.to_string();
                    url.contains(needle).then_some(url)
                },
            )
            .await
        }
    };
    // Its last step waits for a drag inside the page (orange box onto blue box): the page's
    // own uri-list names a host file, and the page must get no file from it.
    ide_url_with("drag.html").await;
    // Its download waits in Berth's private folder behind a save dialog; cancelled, it is
    // gone, and no file ever appeared in the user's home.
    let dialog = x_window_named("Save File", Duration::from_secs(20)).await;
    let staged = setup
        .data()
        .join("downloads")
        .join(ws["id"].as_str().unwrap());
    assert_eq!(
        files_under(&staged).len(),
        1,
        "the download waits for the user"
    );
    x_key(&dialog, "Escape");
    s.wait_for(
        "the cancelled download to go",
        Duration::from_secs(10),
        || async { files_under(&staged).is_empty().then_some(()) },
    )
    .await;
    let ide = x_window_id("\"e2e\"").expect("the IDE window");
    x_drag(
        window_point(&ide, (150, 75)),
        window_point(&ide, (300, 450)),
    );
    let report = ide_url_with("nav=stayed").await;
    assert!(
        report.contains("ipc=refused"),
        "the IDE page could call Berth commands: {report}"
    );
    // It also tried to leave for another origin and was kept on its own.
    assert!(
        report.starts_with(&url) && report.ends_with("nav=stayed"),
        "{report}"
    );
    // Its fetch, image and frame never reached the loopback service beside it; nor did the
    // fetch, image, frame, worker and WebSocket of the page its service worker made up (no
    // CSP there: WebKit's content rules for the window hold instead).
    assert!(report.contains("fetch=blocked"), "{report}");
    assert!(
        report.contains("sw=ran"),
        "the service worker's page ran: {report}"
    );
    assert!(
        report.contains("drag=none"),
        "the page's own drag: {report}"
    );
    match neighbour.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the IDE page reached a loopback service: {other:?}"),
    }
    // Nothing went to the system browser: not the outside frame, not the popup it opened
    // without a click, not the navigations it tried.
    assert!(
        !s.opened.exists(),
        "the app opened {:?}",
        std::fs::read_to_string(&s.opened)
    );
    let in_home = files_under(&s.home);
    assert!(
        in_home
            .iter()
            .all(|f| !f.to_string_lossy().contains("unasked")),
        "a download landed in the user's home: {in_home:?}"
    );
    assert!(
        setup.show("e2e")["name"] == "e2e",
        "delete_workspace ran for the IDE page"
    );
    assert_eq!(containers_of(&setup.install).len(), 1);
    // The IDE window has loaded the page's own report; its picture once it has drawn it.
    x_window_shot("e2e", &s.shots.join("en-ide-window.png")).await;

    // A stop outside the app shows up within a second (Docker events, no polling).
    let container = ws["container_name"].as_str().unwrap().to_string();
    docker(&["stop", &container]);
    let took = s
        .wait_status("e2e", "stopped", Duration::from_secs(1))
        .await;
    eprintln!("outside stop → list: {took:?}");

    // Start and stop from the UI.
    s.click("ws-start-e2e").await;
    s.wait_status("e2e", "running", Duration::from_secs(30))
        .await;
    s.click("ws-stop-e2e").await;
    s.wait_status("e2e", "stopped", Duration::from_secs(30))
        .await;

    // Detail, then delete with a confirmation naming what goes.
    s.click("ws-details-e2e").await;
    s.wait_text("detail-audit", "start").await;
    s.shot("detail").await;
    s.click("detail-delete").await;
    let confirm = s.text("confirm-dialog").await;
    assert!(
        confirm.contains(&container) && confirm.contains("not touched"),
        "{confirm}"
    );
    s.shot("delete-confirm").await;
    s.click("confirm-delete").await;
    s.wait_text("empty-state", "No workspaces yet").await;
    assert!(containers_of(&setup.install).is_empty(), "container gone");
    assert_eq!(
        setup.cli(&["ls", "--json"]).trim(),
        "[]",
        "workspace and port gone"
    );
    assert!(
        Path::new(&project).join("main.rs").exists(),
        "project folder kept"
    );

    s.click("nav-settings").await;
    s.el("settings-save").await;
    s.shot("settings").await;
    // A build run from the sources says it updates with them, and never checks by itself.
    s.wait_text(
        "update-version",
        &format!("Berth {}", env!("CARGO_PKG_VERSION")),
    )
    .await;
    s.wait_text("update-state", "not from an installed package")
        .await;
    assert_eq!(
        s.el("update-check").await.attr("disabled").await.unwrap(),
        Some("true".into())
    );
    let status = s.invoke("update_status", json!({})).await.unwrap();
    assert_eq!(status["state"]["kind"], "idle", "{status}");
    assert_eq!(status["checked_at_ms"], Value::Null, "{status}");
    assert_eq!(status["packaged"], false, "{status}");
    s.scroll_to("updates").await;
    s.shot("settings-updates").await;
    s.client.clone().close().await.unwrap();
}

/// Every screen in German, switched in the settings without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_reads_in_german() {
    let setup = Setup::new(22120);
    let s = launch(&setup.data(), "de").await;
    s.click("nav-settings").await;
    s.el("settings-language")
        .await
        .select_by_value("de")
        .await
        .unwrap();
    s.click("settings-save").await;
    s.wait_text("nav-list", "Arbeitsumgebungen").await;
    s.wait_text("settings-saved", "gespeichert").await;
    s.wait_text("settings-keys", "Noch keine Schlüssel").await;
    s.shot("settings").await;
    s.wait_text("update-state", "nicht aus einem installierten Paket")
        .await;
    s.scroll_to("updates").await;
    s.shot("settings-updates").await;
    s.scroll_to("settings-keys").await;
    s.shot("settings-keys").await;

    s.go("#/").await;
    s.wait_text("empty-state", "Noch keine Arbeitsumgebungen")
        .await;
    s.shot("list-empty").await;

    s.click("nav-create").await;
    s.typ("create-name", "Falsch").await;
    s.wait_text("create-name-error", "darf").await;
    s.add_project("/usr").await;
    s.wait_text("create-project-error", "Systemordner").await;
    s.shot("create-errors").await;

    let project = setup.project("de-demo");
    create_through_form(&s, "de-demo", &project).await;
    s.wait_status("de-demo", "running", Duration::from_secs(60))
        .await;
    assert_eq!(s.text("ws-status-de-demo").await, "Läuft");
    s.shot("list-running").await;

    s.click("ws-details-de-demo").await;
    s.wait_text("detail-audit", "start").await;
    s.shot("detail").await;
    setup.cli(&[
        "preview",
        "create",
        "de-demo",
        "--image",
        IMAGE,
        "--cmd",
        "httpd -f -p 3000 -h .",
        "--port",
        "3000",
    ]);
    s.wait_text("preview-left", "endet in").await;
    s.scroll_to("previews").await;
    s.shot("detail-previews").await;
    s.click("detail-delete").await;
    s.wait_text("confirm-dialog", "bleiben unberührt").await;
    s.shot("delete-confirm").await;
    s.click("confirm-delete").await;
    s.wait_text("empty-state", "Noch keine").await;
    assert!(containers_of(&setup.install).is_empty());
    s.client.clone().close().await.unwrap();
}

/// The `backend` project with a README that shows an image, the image not read since 2000.
fn readme_project(setup: &Setup) -> String {
    let dir = setup.project("backend");
    let dir_path = Path::new(&dir);
    std::fs::write(
        dir_path.join("README.md"),
        "# Backend\n\n![pixel](pixel.png)\n",
    )
    .unwrap();
    // A 1×1 PNG.
    const PIXEL: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let pixel = dir_path.join("pixel.png");
    std::fs::write(&pixel, PIXEL).unwrap();
    let status = Command::new("touch")
        .args(["-a", "-d", "2000-01-01"])
        .arg(&pixel)
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// VS Code in a Berth window behind Berth's gateway and its Content-Security-Policy, logged in
/// without a password prompt: the window ends on the workbench (not /login) of a code-server
/// workspace with two projects, Berth's extension runs in the extension host, a terminal
/// typed into by the keyboard runs a command, a Markdown preview (a webview) loads the
/// README's image (`en-ide-code-server.png` shows all of it), and a file dragged in from
/// another program is uploaded where it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ide_window_opens_vs_code_logged_in() {
    let setup = Setup::new(22140);
    setup
        .client()
        .await
        .create(&berth::api::NewWorkspace {
            name: "vscode".into(),
            image: "berth-workspace-offline:4.99.4".into(),
            projects: vec![readme_project(&setup), setup.project("frontend")],
            ..Default::default()
        })
        .await
        .expect("the offline code-server image is built (scripts/test builds it)");
    let s = launch(&setup.data(), "en").await;
    s.wait_status("vscode", "stopped", Duration::from_secs(15))
        .await;
    s.click("ws-open-vscode").await;
    let url = s
        .wait_for(
            "the IDE window to load the workbench",
            Duration::from_secs(90),
            || async {
                let v = s.ide_window("vscode").await?;
                let url = v["url"].as_str()?.to_string();
                (v["loaded"] == true && !url.contains("healthz")).then_some(url)
            },
        )
        .await;
    assert!(
        !url.contains("login"),
        "the window landed on the login page: {url}"
    );
    s.wait_status("vscode", "running", Duration::from_secs(5))
        .await;
    // The workbench has started once VS Code activates Berth's built-in extension (it waits
    // for `onStartupFinished`), and the extension logs when its status bar item is up. Then
    // the picture: both projects in the Explorer, the workspace's name in the status bar.
    let container = setup.show("vscode")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    s.wait_for(
        "VS Code to activate Berth's extension",
        Duration::from_secs(90),
        || async {
            let out = Command::new("docker")
                .args(["exec", &container, "sh", "-c"])
                .arg("grep -rh 'status bar shows workspace vscode' \"$HOME/.local/share/code-server/logs\"")
                .output()
                .ok()?;
            out.status.success().then_some(())
        },
    )
    .await;

    // The keyboard, as a user: a terminal (a WebSocket to the pty host) runs a command.
    let window = x_window_id("\"vscode\"").expect("the IDE window");
    let backend = PathBuf::from(setup.project("backend"));
    x_keys(&window, &["ctrl+grave"]);
    // Typed only once the terminal's shell runs (it takes the keyboard focus as it opens).
    s.wait_for("the terminal's shell", Duration::from_secs(30), || async {
        let out = Command::new("docker")
            .args(["exec", &container, "pgrep", "-x", "bash"])
            .output()
            .ok()?;
        out.status.success().then_some(())
    })
    .await;
    x_type(
        &window,
        "echo terminal-ok > /workspace/backend/terminal-ok.txt\n",
    );
    s.wait_for(
        "the terminal's command",
        Duration::from_secs(60),
        || async {
            std::fs::read_to_string(backend.join("terminal-ok.txt"))
                .ok()
                .filter(|t| t.trim() == "terminal-ok")
        },
    )
    .await;
    // A webview: the README's preview shows its image, which the webview loads through
    // its service worker from the IDE's origin (the file is read: its access time moves).
    let atime = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(backend.join("pixel.png"))
            .unwrap()
            .atime()
    };
    let before = atime();
    // code-server's CLI in the IDE's own terminal opens the file in this window.
    x_type(&window, "code-server -r /workspace/backend/README.md\n");
    // Then the preview; pressed again until it shows (the editor opens asynchronously, and
    // in a terminal the keys only paste an empty clipboard).
    let deadline = Instant::now() + Duration::from_secs(60);
    while atime() == before {
        if Instant::now() >= deadline {
            let log =
                std::fs::read_to_string(setup.data().join("logs/daemon.log")).unwrap_or_default();
            let blocked: Vec<&str> = log.lines().filter(|l| l.contains("blocked")).collect();
            fail_with_screen(
                &s,
                "markdown-preview",
                &format!(
                    "the Markdown preview never loaded its image; the policy blocked: {blocked:#?}"
                ),
            );
        }
        x_keys(&window, &["ctrl+shift+v"]);
        poll(Duration::from_secs(3), || async {
            (atime() != before).then_some(())
        })
        .await;
    }
    x_window_shot("vscode", &s.shots.join("en-ide-code-server.png")).await;
    // A file dragged in from another program (a file manager: a GTK window offering it as
    // text/uri-list) and dropped on the Explorer's "backend" folder is uploaded there.
    drop_file_on(&window, (110, 102), &setup.dir.path().join("dropped.txt")).await;
    s.wait_for(
        "the dropped file to be uploaded",
        Duration::from_secs(30),
        || async {
            std::fs::read_to_string(backend.join("dropped.txt"))
                .ok()
                .filter(|t| t == "dropped from outside\n")
        },
    )
    .await;
    // Still logged in after the workbench has talked to the server for a while.
    let v = s.ide_window("vscode").await.unwrap();
    assert!(!v["url"].as_str().unwrap().contains("login"), "{v}");
    s.client.clone().close().await.unwrap();
}

/// The CLI changes what the app shows: each `berth` command's effect is in the list and in the
/// tray within a second of the command returning (events from the daemon, no polling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_with_the_cli_show_in_the_app_within_a_second() {
    let setup = Setup::new(22160);
    let project = setup.project("cli");
    let s = launch(&setup.data(), "en").await;
    s.wait_text("empty-state", "No workspaces yet").await;
    let second = Duration::from_secs(1);
    setup.create("cli", &project);
    s.wait_status("cli", "stopped", second).await;
    s.wait_tray("cli — Stopped", second).await;
    setup.cli(&["start", "cli"]);
    let took = s.wait_status("cli", "running", second).await;
    s.wait_tray("cli — Running", second).await;
    s.shot("list-after-cli-start").await;
    eprintln!("CLI start → list: {took:?}");
    setup.cli(&["stop", "cli"]);
    s.wait_status("cli", "stopped", second).await;
    s.wait_tray("cli — Stopped", second).await;
    setup.cli(&["rm", "cli"]);
    s.wait_for("the list to be empty", second, || async {
        s.client
            .find(Session::css("[data-testid=\"empty-state\"]"))
            .await
            .ok()
    })
    .await;
    s.wait_tray("No workspaces", second).await;
    s.client.clone().close().await.unwrap();
}

/// SIGTERM to the app (logout, `kill`) is a quit: with "stop workspaces when Berth quits" on,
/// the daemon stops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_to_the_app_stops_workspaces_when_the_settings_say_so() {
    let setup = Setup::with(22180, QuitBehavior::StopWorkspaces);
    let project = setup.project("bye");
    let s = launch(&setup.data(), "en").await;
    s.wait_text("empty-state", "No workspaces yet").await;
    setup.create("bye", &project);
    setup.cli(&["start", "bye"]);
    s.wait_status("bye", "running", Duration::from_secs(5))
        .await;
    let container = setup.show("bye")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    let killed = Command::new("pkill")
        .args(["-TERM", "-f", &format!("^{APP}")])
        .status()
        .unwrap();
    assert!(killed.success(), "no app process to signal");
    let running = || docker(&["inspect", "-f", "{{.State.Running}}", &container]).trim() == "true";
    s.wait_for(
        "the workspace to stop after the app quit",
        Duration::from_secs(30),
        || async { (!running()).then_some(()) },
    )
    .await;
    assert_eq!(setup.show("bye")["status"], "stopped");
    setup.cli(&["rm", "bye"]);
    drop(s);
}

/// A workspace about to stop for idleness: the main window's banner counts down, the tray
/// names it with "Keep running", and pressing the banner's button keeps it running (the
/// detail view then says so). In English and German.
async fn keep_running_from_the_banner(lang: &'static str, range_first: u16) {
    let setup = Setup::new(range_first);
    let project = setup.project("nap");
    setup.create_at(&berth_bin(), "nap", &project, &["--idle-timeout", "20s"]);
    let client = setup.client().await;
    let mut settings = client.settings().await.unwrap();
    settings.language = Some(lang.to_string());
    client.save_settings(&settings).await.unwrap();
    let s = launch(&setup.data(), lang).await;
    setup.cli(&["start", "nap"]);
    // The warning comes 10 s before the stop (half of 20 s).
    let banner = s
        .wait_for(
            "the idle warning's banner",
            Duration::from_secs(30),
            || async {
                let el = s
                    .client
                    .find(Session::css("[data-testid=\"idle-banner-nap\"]"))
                    .await
                    .ok()?;
                let text = el.text().await.ok()?;
                text.chars().any(|c| c.is_ascii_digit()).then_some(text)
            },
        )
        .await;
    assert!(banner.contains("nap"), "{banner}");
    s.wait_for("the tray's countdown", Duration::from_secs(5), || async {
        let tray = s.tray().await;
        tray.iter()
            .any(|t| {
                t.starts_with("nap — ")
                    && t.contains(if lang == "de" {
                        "stoppt in"
                    } else {
                        "stops in"
                    })
            })
            .then_some(())
    })
    .await;
    assert!(
        s.text("ws-countdown-nap")
            .await
            .chars()
            .any(|c| c.is_ascii_digit())
    );
    s.shot("idle-warning").await;
    s.click("idle-keep-nap").await;
    s.wait_for("the banner to go", Duration::from_secs(5), || async {
        s.client
            .find(Session::css("[data-testid=\"idle-banner-nap\"]"))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let activity = &setup.show("nap")["activity"];
    assert_eq!(activity["state"], "active", "{activity}");
    let snoozed = activity["snoozed_until_ms"].as_i64().expect("snoozed");
    assert!(
        snoozed - activity["now_ms"].as_i64().unwrap() > 29 * 60 * 1000,
        "{activity}"
    );
    s.wait_tray(
        if lang == "de" {
            "nap — Läuft"
        } else {
            "nap — Running"
        },
        Duration::from_secs(5),
    )
    .await;
    // The detail view explains it: the snooze is the latest signal.
    s.go("#/w/nap").await;
    s.wait_for("the activity block", Duration::from_secs(10), || async {
        let el = s
            .client
            .find(Session::css(
                "[data-testid=\"detail-signals\"] li[data-signal=\"snooze\"]",
            ))
            .await
            .ok()?;
        el.text().await.ok()
    })
    .await;
    s.shot("detail-activity").await;
    assert!(matches!(
        setup.show("nap")["status"].as_str(),
        Some("running")
    ));
    s.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_running_in_the_banner_postpones_the_idle_stop() {
    keep_running_from_the_banner("en", 22200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_running_reads_in_german() {
    keep_running_from_the_banner("de", 22220).await;
}

/// The real IDE in the app's window: typing in an editor every few seconds holds the workspace
/// past its idle timeout; left untouched, it stops; reloading the window then shows Berth's
/// stopped page and starts nothing, and only the page's Start button (pressed with the
/// keyboard) starts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ide_window_left_alone_stops_typing_holds_and_a_reload_wakes_nothing() {
    let setup = Setup::new(22240);
    let project = setup.project("app");
    setup.cli(&[
        "create",
        "ide",
        "--image",
        "berth-workspace-offline:4.99.4",
        "--project",
        &project,
        "--idle-timeout",
        "20s",
    ]);
    let s = launch(&setup.data(), "en").await;
    s.wait_status("ide", "stopped", Duration::from_secs(15))
        .await;
    s.click("ws-open-ide").await;
    let container = setup.show("ide")["container_name"]
        .as_str()
        .unwrap()
        .to_string();
    let activations = || {
        let out = Command::new("docker")
            .args(["exec", &container, "sh", "-c"])
            .arg("grep -rh 'reporting input to /run/berth-activity' \"$HOME/.local/share/code-server/logs\" | wc -l")
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    };
    s.wait_for(
        "Berth's extension to report input",
        Duration::from_secs(90),
        || async { activations().filter(|n| *n >= 1) },
    )
    .await;
    let window = x_window_id("\"ide\"").expect("the IDE window");
    // Open main.rs from the Explorer (a double click), once VS Code has reported the editor
    // (its own "editor" input), then type in it every 4 s for 32 s (timeout: 20 s).
    let at = window_point(&window, (112, 124));
    let editor_reported = || async {
        let a = setup.show("ide")["activity"].clone();
        a["signals"]
            .as_array()?
            .iter()
            .any(|s| s["signal"] == "input" && s["detail"] == "editor")
            .then_some(())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clicked = Command::new("xdotool")
            .args(["mousemove", &at.0.to_string(), &at.1.to_string()])
            .args(["click", "--repeat", "2", "1"])
            .status()
            .expect("xdotool");
        assert!(clicked.success());
        if poll(Duration::from_secs(3), editor_reported)
            .await
            .is_some()
        {
            break;
        }
        if Instant::now() > deadline {
            fail_with_screen(&s, "open-main-rs", "main.rs never opened in an editor");
        }
    }
    let typing = Instant::now();
    while typing.elapsed() < Duration::from_secs(32) {
        x_type(&window, "x");
        let stopped = poll(Duration::from_secs(4), || async {
            (setup.show("ide")["status"] != "running").then_some(())
        })
        .await;
        if stopped.is_some() {
            fail_with_screen(
                &s,
                "typing",
                "the workspace stopped while someone typed in it",
            );
        }
    }
    let activity = setup.show("ide")["activity"].clone();
    assert_eq!(activity["signals"][0]["signal"], "input", "{activity}");
    assert_eq!(activity["signals"][0]["detail"], "editor", "{activity}");

    // Hands off: the warning shows in the IDE too (for browser users), then it stops within
    // the timeout (plus the extension's 2 s throttle).
    let left = Instant::now();
    s.wait_for(
        "the idle warning in the IDE",
        Duration::from_secs(30),
        || async {
            let out = Command::new("docker")
                .args(["exec", &container, "sh", "-c"])
                .arg("grep -rh 'showed the idle warning' \"$HOME/.local/share/code-server/logs\"")
                .output()
                .ok()?;
            out.status.success().then_some(())
        },
    )
    .await;
    s.wait_status("ide", "stopped", Duration::from_secs(45))
        .await;
    assert!(
        left.elapsed() >= Duration::from_secs(15),
        "{:?}",
        left.elapsed()
    );
    s.wait_text("ws-status-ide", "Stopped (idle)").await;
    assert_eq!(setup.show("ide")["activity"]["state"], "stopped_idle");

    // A reload (VS Code's own "Reload Window"): Berth's stopped page; nothing starts.
    x_keys(&window, &["F1"]);
    x_type(&window, "Reload Window");
    x_keys(&window, &["Return"]);
    s.wait_for(
        "the stopped page in the IDE window",
        Duration::from_secs(30),
        || async {
            let v = s.ide_window("ide").await?;
            (v["loaded"] == true).then_some(())
        },
    )
    .await;
    x_window_shot("ide", &s.shots.join("en-ide-stopped-page.png")).await;
    let still = poll(Duration::from_secs(5), || async {
        (setup.show("ide")["status"] != "stopped").then_some(())
    })
    .await;
    assert!(still.is_none(), "a reload started the workspace");

    // Start, pressed with the keyboard (a user activation): it starts and the IDE comes back.
    x_keys(&window, &["Tab", "Return"]);
    if poll(Duration::from_secs(90), || async {
        (setup.show("ide")["status"] == "running").then_some(())
    })
    .await
    .is_none()
    {
        let log = std::fs::read_to_string(setup.data().join("logs/daemon.log")).unwrap_or_default();
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Start refused"))
            .collect();
        fail_with_screen(
            &s,
            "start-button",
            &format!("Start did not start it: {refused:#?}"),
        );
    }
    s.wait_for("the IDE to load again", Duration::from_secs(90), || async {
        activations().filter(|n| *n >= 2)
    })
    .await;
    assert!(setup.cli(&["log", "ide"]).contains("Start pressed"));
    s.client.clone().close().await.unwrap();
}

/// A provider's model list on 127.0.0.1 that accepts exactly `key` (what `Test` asks).
fn fake_models_endpoint(key: &'static str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut accepted = false;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                accepted |= line.eq_ignore_ascii_case(&format!("x-api-key: {key}\r\n"));
                line.clear();
            }
            let status = if accepted {
                "200 OK"
            } else {
                "401 Unauthorized"
            };
            let _ = write!(
                &stream,
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
        }
    });
    url
}

/// Settings → API keys: a key typed into the hidden field is stored (only its last four
/// shown), tested against the provider, chosen in the create form, its use shown in the
/// workspace's detail, and removed once no workspace uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_stores_tests_uses_and_removes_an_api_key() {
    const KEY: &str = "sk-ant-e2e-0123456789-secretWXYZ";
    let provider = fake_models_endpoint(KEY);
    let setup = Setup::new(22260);
    let s = launch(&setup.data(), "en").await;
    s.click("nav-settings").await;
    s.wait_text("settings-keys", "No keys stored yet").await;
    assert_eq!(
        s.el("key-value")
            .await
            .attr("type")
            .await
            .unwrap()
            .as_deref(),
        Some("password"),
        "the key is typed into a hidden field"
    );
    s.typ("key-value", KEY).await;
    s.typ("key-base-url", &provider).await;
    s.click("key-save").await;
    s.wait_text("key-row-anthropic", "…WXYZ").await;
    assert_eq!(
        s.el("key-value")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("")
    );
    let page = s
        .client
        .execute("return document.body.innerText", vec![])
        .await
        .unwrap();
    assert!(!page.to_string().contains(KEY), "the key never shows");
    s.click("key-test-anthropic").await;
    s.wait_text("key-result-anthropic", "accepted").await;
    // A provider that is not there is said so, next to its key.
    s.el("key-name-select")
        .await
        .select_by_value("openai")
        .await
        .unwrap();
    s.typ("key-value", "sk-openai-e2e-0000000000").await;
    s.typ("key-base-url", "http://127.0.0.1:1").await;
    s.click("key-save").await;
    s.click("key-test-openai").await;
    s.wait_text("key-result-openai", "cannot reach http://127.0.0.1:1")
        .await;
    s.scroll_to("settings-keys").await;
    s.shot("settings-keys").await;
    s.click("key-remove-openai").await;
    s.wait_for("openai removed", Duration::from_secs(15), || async {
        s.text_of("key-row-openai").await.is_none().then_some(())
    })
    .await;

    let project = setup.project("keyed");
    s.click("nav-create").await;
    s.click("create-key-anthropic").await;
    // Env mode is said to hand the key over; proxy mode is not.
    let warning = "create-key-env-warning-anthropic";
    assert!(!s.el(warning).await.is_displayed().await.unwrap());
    let mode = s.el("create-key-mode-anthropic").await;
    mode.clone().select_by_value("env").await.unwrap();
    assert!(s.el(warning).await.is_displayed().await.unwrap());
    mode.select_by_value("proxy").await.unwrap();
    assert!(!s.el(warning).await.is_displayed().await.unwrap());
    s.typ("create-key-requests-anthropic", "100").await;
    s.scroll_to("create-keys").await;
    s.shot("create-keys").await;
    create_through_form(&s, "keyed", &project).await;
    s.wait_status("keyed", "running", Duration::from_secs(60))
        .await;
    s.click("ws-details-keyed").await;
    s.wait_text("detail-usage", "0 of 100 requests").await;
    s.shot("detail-keys").await;
    let shown: Value = serde_json::from_str(&setup.cli(&["show", "keyed", "--json"])).unwrap();
    assert_eq!(shown["keys"][0]["mode"], "proxy");
    assert_eq!(shown["keys"][0]["budget"]["requests_per_day"], 100);

    // Used: refused with the reason; free again once the workspace is gone.
    s.click("nav-settings").await;
    s.click("key-remove-anthropic").await;
    s.wait_text("key-row-anthropic", "used by keyed").await;
    setup.cli(&["rm", "keyed"]);
    s.go("#/").await;
    s.click("nav-settings").await;
    s.click("key-remove-anthropic").await;
    s.wait_text("keys-empty", "No keys stored yet").await;
    s.client.clone().close().await.unwrap();
}

/// A project whose page, opened in the preview window, tries Berth's IPC and then records
/// what reached the app (its cookies) in the container's /tmp, where the test reads it.
fn recording_site(setup: &Setup, name: &str) -> String {
    let dir = PathBuf::from(setup.project(name));
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>preview page</title><h1>Hello from the preview</h1><script>\n\
         const record = (q) => fetch('/cgi-bin/record?' + q);\n\
         record('stage=loaded');\n\
         const i = window.__TAURI_INTERNALS__;\n\
         const late = new Promise((r) => setTimeout(() => r('no-answer'), 3000));\n\
         const tried = i && i.invoke\n\
           ? Promise.race([i.invoke('list_workspaces').then(() => 'allowed', () => 'refused'), late])\n\
           : Promise.resolve('absent');\n\
         tried.then((r) => record('ipc=' + r));\n\
         const ide = 'http://127.0.0.1:' + (Number(location.port) - 1) + '/';\n\
         fetch(ide, { mode: 'no-cors' }).then(() => 'reached', () => 'blocked').then((r) => record('fetch=' + r));\n\
         </script>\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("cgi-bin")).unwrap();
    let cgi = dir.join("cgi-bin/record");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho \"query: $QUERY_STRING cookie: $HTTP_COOKIE\" >> /tmp/record\necho 'Content-Type: text/plain'\necho\necho ok\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.display().to_string()
}

/// The preview container of this install (there is one).
fn preview_container(install: &str) -> String {
    docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dev.berth.install={install}"),
        "--filter",
        "label=dev.berth.kind=preview",
    ])
    .trim()
    .to_string()
}

/// The Previews section as a user meets it: made from the workspace's detail with the form,
/// counting down, opened in a Berth window of its own (no IPC, and none of the IDE window's
/// login reaches it), extended, shared, deleted — its window closes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_previews_a_workspace_in_its_own_window() {
    let setup = Setup::new(22280);
    let project = recording_site(&setup, "site");
    setup.create("site", &project);
    let s = launch(&setup.data(), "en").await;
    // The IDE window logged in first: its cookie must not be the preview's.
    s.wait_status("site", "stopped", Duration::from_secs(20))
        .await;
    s.click("ws-open-site").await;
    s.wait_for(
        "the IDE window to load",
        Duration::from_secs(60),
        || async {
            let v = s.ide_window("site").await?;
            (v["loaded"] == true).then_some(())
        },
    )
    .await;

    s.click("ws-details-site").await;
    s.wait_text("previews-empty", "No previews yet").await;
    assert_eq!(
        s.el("preview-image")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(IMAGE),
        "the workspace's image is the first guess"
    );
    s.typ("preview-command", "httpd -f -p 3000 -h .").await;
    s.typ("preview-port", "3000").await;
    s.el("preview-ttl")
        .await
        .select_by_value("3600")
        .await
        .unwrap();
    s.click("preview-create").await;
    let row = s
        .wait_for("the preview to run", Duration::from_secs(60), || async {
            let row = s
                .client
                .find(Locator::Css(
                    "[data-testid=\"preview-row\"][data-status=\"running\"]",
                ))
                .await
                .ok()?;
            row.attr("data-id").await.ok().flatten()
        })
        .await;
    s.wait_text("preview-left", "ends in 59:").await;
    // The countdown counts.
    let shown = s.text("preview-left").await;
    s.wait_for("the countdown to tick", Duration::from_secs(5), || async {
        (s.text("preview-left").await != shown).then_some(())
    })
    .await;
    s.scroll_to("previews").await;
    s.shot("detail-previews").await;

    // Its own window: the page finds no Berth IPC, and no Berth cookie reaches the app.
    s.click("preview-open").await;
    let container = preview_container(&setup.install);
    let record = s
        .wait_for(
            "the preview page to report",
            Duration::from_secs(30),
            || async {
                let out = Command::new("docker")
                    .args(["exec", &container, "cat", "/tmp/record"])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                (text.contains("ipc=") && text.contains("fetch=")).then_some(text)
            },
        )
        .await;
    eprintln!("what the preview page reported: {record}");
    assert!(record.contains("ipc=refused"), "{record}");
    // Its loads stay on its origin: the IDE's port beside it is not reached.
    assert!(record.contains("fetch=blocked"), "{record}");
    assert!(
        !record.contains("berth_"),
        "an IDE login reached the preview: {record}"
    );
    let store = setup.data().join("webviews").join(format!("preview-{row}"));
    assert!(
        store.exists(),
        "the preview window's own cookie and storage folder"
    );
    let title = format!("site · preview {row}");
    x_window_shot(&title, &s.shots.join("en-preview-window.png")).await;

    // +1 h pushes the countdown; sharing turns the button into "Stop sharing".
    s.click("preview-extend-hour").await;
    s.wait_text("preview-left", "ends in 1 h 59 min").await;
    s.click("preview-extend-day").await;
    s.wait_text("preview-left", "ends in 1 d 1 h").await;
    s.click("preview-share").await;
    s.wait_text("preview-share", "Stop sharing").await;
    s.wait_text("previews", "Anyone on your network with this link")
        .await;
    let listed: Value = serde_json::from_str(&setup.cli(&["preview", "ls", "--json"])).unwrap();
    assert_eq!(listed[0]["shared"], true);
    let links = listed[0]["share_urls"].as_array().unwrap().len();
    let shown_links = s
        .client
        .find_all(Locator::Css("[data-testid=\"preview-share-url\"]"))
        .await
        .unwrap()
        .len();
    assert_eq!(shown_links, links, "every LAN link is shown");
    s.click("preview-share").await;
    s.wait_text("preview-share", "Share on LAN").await;

    s.click("preview-delete").await;
    s.click("confirm-delete").await;
    s.wait_text("previews-empty", "No previews yet").await;
    s.wait_for(
        "the preview window to close",
        Duration::from_secs(10),
        || async { x_window_id(&format!("\"{title}\"")).is_none().then_some(()) },
    )
    .await;
    assert!(preview_container(&setup.install).is_empty());
    assert!(!store.exists(), "its cookies and storage go with it");
    s.client.clone().close().await.unwrap();
}
