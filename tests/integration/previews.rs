//! Previews on the real engine: the snapshot, the Dockerfile path, lifetimes and the reaper
//! (also across a daemon that was not running), extend, delete, the cap, the hardening, the
//! cookies a preview gets, and a LAN share seen from a network namespace this test makes.

use crate::env::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// busybox httpd serving the first project's folder (the command's working directory).
const SERVE: &str = "httpd -f -p 3000 -h .";

fn create_preview(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = vec!["preview", "create"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&env.ok(&all)).unwrap()
}

fn previews(env: &TestEnv) -> Vec<Value> {
    serde_json::from_str::<Value>(&env.ok(&["preview", "ls", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn url(p: &Value) -> String {
    p["url"].as_str().unwrap().to_string()
}

fn id(p: &Value) -> String {
    p["id"].as_str().unwrap().to_string()
}

/// Docker objects of this install that are previews: containers, volumes, networks, images.
/// Fails, saying `why`, if any object of this install's previews is left.
fn assert_no_preview_objects(env: &TestEnv, why: &str) {
    assert_eq!(preview_objects(env), Vec::<String>::new(), "{why}");
}

fn preview_objects(env: &TestEnv) -> Vec<String> {
    let filter = [
        "--filter".to_string(),
        format!("label=dev.berth.install={}", env.install),
        "--filter".to_string(),
        "label=dev.berth.kind=preview".to_string(),
    ];
    let mut found = Vec::new();
    for what in [
        &["ps", "-aq"][..],
        &["volume", "ls", "-q"],
        &["network", "ls", "-q"],
        &["images", "-q"],
    ] {
        let mut args: Vec<&str> = what.to_vec();
        args.extend(filter.iter().map(String::as_str));
        found.extend(
            docker(&args)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{} {l}", what[0])),
        );
    }
    found
}

fn site(env: &TestEnv, name: &str, index: &str) -> PathBuf {
    let project = env.project(name);
    std::fs::write(project.join("index.html"), index).unwrap();
    project
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn refused(url: &str) -> bool {
    http_status(url).is_none()
}

#[test]
fn a_preview_serves_the_snapshot_of_its_moment() {
    let env = TestEnv::new();
    let project = site(&env, "site", "v1\n");
    std::fs::write(project.join(".gitignore"), "secret.txt\n").unwrap();
    std::fs::write(project.join("secret.txt"), "ignored\n").unwrap();
    std::fs::create_dir_all(project.join("node_modules/dep")).unwrap();
    std::fs::write(project.join("node_modules/dep/index.js"), "churn\n").unwrap();
    let lib = site(&env, "lib", "the second project\n");
    let project_arg = project.to_str().unwrap();
    env.ok(&[
        "create",
        "web",
        "--image",
        IMAGE,
        "--project",
        project_arg,
        "--project",
        lib.to_str().unwrap(),
    ]);
    env.create("other", &site(&env, "other", "x\n"));
    let first = create_preview(
        &env,
        &["web", "--image", IMAGE, "--cmd", SERVE, "--port", "3000"],
    );
    assert_eq!(first["status"], "running");
    let left = first["remaining_secs"].as_u64().unwrap();
    assert!(
        (86_000..=86_400).contains(&left),
        "24 h unless chosen: {left}"
    );
    let at = url(&first);
    assert_eq!(http(&format!("{at}index.html"), &[]).body, "v1\n");

    std::fs::write(project.join("index.html"), "v2\n").unwrap();
    assert_eq!(
        http(&format!("{at}index.html"), &[]).body,
        "v1\n",
        "later edits in the workspace do not reach a preview"
    );
    assert_eq!(
        http(&format!("{at}secret.txt"), &[]).status,
        404,
        ".gitignore"
    );
    assert_eq!(
        http(&format!("{at}node_modules/dep/index.js"), &[]).status,
        404,
        "dependency churn is left out"
    );

    // The next preview needs nothing said again (the image, command and port are remembered)
    // and serves the project as it is now, at its own port.
    let second = create_preview(&env, &["web"]);
    assert_ne!(second["port"], first["port"]);
    assert_eq!(
        http(&format!("{}index.html", url(&second)), &[]).body,
        "v2\n"
    );
    assert_eq!(http(&format!("{at}index.html"), &[]).body, "v1\n");
    // The Host check of every Berth port.
    let host = format!("rebind.example:{}", first["port"]);
    assert_eq!(
        http(&format!("{at}index.html"), &[("Host", &host)]).status,
        421
    );

    // The command ran in the first project's folder, the second project beside it, at the
    // workspace's own paths.
    let container = lines(&docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dev.berth.install={}", env.install),
        "--filter",
        "label=dev.berth.kind=preview",
    ]));
    let c = inspect(&container[0]);
    assert_eq!(c["Config"]["WorkingDir"], "/workspace/site");
    let second_project = docker(&["exec", &container[0], "cat", "/workspace/lib/index.html"]);
    assert_eq!(second_project, "the second project\n");

    // Asked for, dependency folders come along.
    let deps = create_preview(&env, &["web", "--with-deps"]);
    assert_eq!(
        http(&format!("{}node_modules/dep/index.js", url(&deps)), &[]).body,
        "churn\n"
    );

    let listed = previews(&env);
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|p| p["workspace"] == "web"));
    let of_other: Value =
        serde_json::from_str(&env.ok(&["preview", "ls", "other", "--json"])).unwrap();
    assert_eq!(
        of_other,
        serde_json::json!([]),
        "ls NAME lists that workspace's only"
    );
    let table = env.ok(&["preview", "ls", "web"]);
    assert!(
        table.contains("LEFT") && table.contains(&id(&first)),
        "{table}"
    );
    let log = env.ok(&["log", "web"]);
    assert_eq!(log.matches("preview-create").count(), 3, "{log}");
}

#[test]
fn a_project_with_a_dockerfile_is_built_and_served() {
    let env = TestEnv::new();
    let project = site(&env, "built", "from the Dockerfile\n");
    std::fs::write(
        project.join("Dockerfile"),
        format!(
            "FROM {IMAGE}\nRUN cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes\nCOPY . /site\nEXPOSE 4000\nCMD [\"httpd\", \"-f\", \"-p\", \"4000\", \"-h\", \"/site\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(project.join(".gitignore"), "secret.txt\n").unwrap();
    std::fs::write(project.join("secret.txt"), "not in the context\n").unwrap();
    env.create("df", &project);
    let out = env
        .cmd()
        .args(["preview", "create", "df", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Step 1/"),
        "the build's progress is streamed: {stderr}"
    );
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["source"]["kind"], "dockerfile");
    assert_eq!(p["app_port"], 4000, "the port from EXPOSE");
    assert_eq!(
        http(&format!("{}index.html", url(&p)), &[]).body,
        "from the Dockerfile\n"
    );
    // The build context is the snapshot: what .gitignore leaves out is not in the image.
    assert_eq!(http(&format!("{}secret.txt", url(&p)), &[]).status, 404);
    // Its RUN steps had the preview's memory limit (1 GiB).
    assert!(stderr.contains("1073741824"), "{stderr}");
    let objects = preview_objects(&env);
    assert!(
        objects.iter().any(|o| o.starts_with("images ")),
        "{objects:?}"
    );
    env.ok(&["preview", "rm", &id(&p)]);
    assert_no_preview_objects(&env, "the built image goes too");
}

#[test]
fn an_expired_preview_leaves_nothing_behind() {
    let env = TestEnv::new();
    env.create("short", &site(&env, "short", "x\n"));
    let p = create_preview(
        &env,
        &[
            "short", "--image", IMAGE, "--cmd", SERVE, "--port", "3000", "--ttl", "15s",
        ],
    );
    let at = url(&p);
    assert_eq!(http_status(&at), Some(200));
    let objects = preview_objects(&env);
    assert_eq!(objects.len(), 3, "container, volume, network: {objects:?}");
    // The reaper removes it on time: well within a few seconds of its expiry.
    poll_until(
        "the expired preview is gone",
        30,
        Duration::from_millis(100),
        || preview_objects(&env).is_empty(),
    );
    assert!(
        now_secs() >= p["expires_at"].as_i64().unwrap(),
        "not before its time"
    );
    assert!(refused(&at), "its port is free");
    assert!(previews(&env).is_empty());
    assert!(env.ok(&["log", "short"]).contains("preview-expire"));
}

#[test]
fn a_preview_that_expired_while_no_daemon_ran_is_reaped_at_the_next_start() {
    let env = TestEnv::new();
    env.create("late", &site(&env, "late", "x\n"));
    let p = create_preview(
        &env,
        &[
            "late", "--image", IMAGE, "--cmd", SERVE, "--port", "3000", "--ttl", "10s",
        ],
    );
    env.stop_daemon();
    let expires = p["expires_at"].as_i64().unwrap();
    poll_until(
        "the preview's time is up",
        30,
        Duration::from_millis(100),
        || now_secs() > expires + 6,
    );
    assert_eq!(
        preview_objects(&env).len(),
        3,
        "no daemon ran, so nothing removed it yet"
    );
    // Any client starts the daemon; its reaper's first pass takes the expired preview.
    env.ok(&["ls"]);
    poll_until(
        "the preview is reaped at the next start",
        30,
        Duration::from_millis(100),
        || preview_objects(&env).is_empty(),
    );
    let log = env.ok(&["log", "late"]);
    assert!(log.contains("Berth was not running"), "{log}");
}

#[test]
fn extend_pushes_the_expiry_delete_cleans_up_and_the_cap_refuses_one_more() {
    let env = TestEnv::new();
    env.update_settings(|s| {
        s.max_previews = 1;
        s.preview_ttl_secs = 600;
    });
    env.create("capped", &site(&env, "capped", "x\n"));
    let p = create_preview(
        &env,
        &[
            "capped", "--image", IMAGE, "--cmd", SERVE, "--port", "3000", "--ttl", "1h",
        ],
    );
    let before = p["expires_at"].as_i64().unwrap();
    env.ok(&["preview", "extend", &id(&p), "2h"]);
    let after = previews(&env)[0]["expires_at"].as_i64().unwrap();
    assert_eq!(after, before + 7200);
    assert!(
        env.fails(&["preview", "extend", &id(&p), "40d"])
            .contains("30 days")
    );

    let refused_one = env.fails(&["preview", "create", "capped"]);
    assert!(refused_one.contains("the limit is 1"), "{refused_one}");
    assert_eq!(
        preview_objects(&env).len(),
        3,
        "the refused one made nothing"
    );

    env.ok(&["preview", "rm", &id(&p)]);
    assert_no_preview_objects(&env, "removed at once");
    assert!(refused(&url(&p)));
    let log = env.ok(&["log", "capped"]);
    assert!(
        log.contains("preview-extend") && log.contains("preview-delete"),
        "{log}"
    );
    // Its place under the cap is free again; the lifetime from the settings.
    let q = create_preview(&env, &["capped", "--ttl", "8s"]);
    env.ok(&["preview", "extend", &id(&q), "1h"]);
    // The label still says 8 s; the reaper goes by the record.
    let label_end = q["expires_at"].as_i64().unwrap();
    poll_until(
        "the first end passes",
        20,
        Duration::from_millis(100),
        || now_secs() > label_end + 2,
    );
    assert_eq!(previews(&env).len(), 1, "extended, so still here");
    assert_eq!(http_status(&format!("{}index.html", url(&q))), Some(200));
    env.ok(&["preview", "rm", &id(&q)]);
    let r = create_preview(&env, &["capped"]);
    let left = r["remaining_secs"].as_u64().unwrap();
    assert!(
        (590..=600).contains(&left),
        "the settings' lifetime: {left}"
    );
    assert!(
        env.fails(&["preview", "rm", "ffffffff"])
            .contains("no preview")
    );
}

#[test]
fn a_preview_runs_read_only_without_capabilities_keys_or_host_folders() {
    let env = TestEnv::new();
    env.create("hard", &site(&env, "hard", "x\n"));
    let p = create_preview(
        &env,
        &["hard", "--image", IMAGE, "--cmd", SERVE, "--port", "3000"],
    );
    let container = lines(&docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dev.berth.install={}", env.install),
        "--filter",
        "label=dev.berth.kind=preview",
    ]));
    assert_eq!(container.len(), 1);
    let c = inspect(&container[0]);
    let hc = &c["HostConfig"];
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(
        hc["SecurityOpt"],
        serde_json::json!(["no-new-privileges:true"])
    );
    assert!(hc["Tmpfs"]["/tmp"].is_string());
    assert_eq!(hc["Memory"], 1u64 << 30, "tighter than a workspace's 4 GiB");
    assert_eq!(hc["NanoCpus"], 1_000_000_000u64);
    assert_eq!(hc["PidsLimit"], 512);
    assert!(hc["PortBindings"].as_object().is_none_or(|b| b.is_empty()));
    let labels = &c["Config"]["Labels"];
    assert_eq!(labels["dev.berth.kind"], "preview");
    assert_eq!(
        labels["dev.berth.expires-at"],
        p["expires_at"].as_i64().unwrap().to_string()
    );
    let mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(
        mounts[0]["Type"], "volume",
        "no host folder, no secret folder"
    );
    let env_vars = c["Config"]["Env"].to_string();
    assert!(
        !env_vars.contains("KEY") && !env_vars.contains("BASE_URL"),
        "{env_vars}"
    );
    // As an app inside would try it.
    let wrote = std::process::Command::new("docker")
        .args(["exec", &container[0], "sh", "-c", "echo x > /bin/planted"])
        .output()
        .unwrap();
    assert!(!wrote.status.success(), "the root filesystem is read-only");
}

#[test]
fn a_preview_never_receives_an_ide_login_cookie_nor_sets_one() {
    let env = TestEnv::new();
    let project = site(&env, "cookies", "x\n");
    // An app that tries to plant a Berth login cookie (a hostile project).
    cgi(
        &project,
        "plant",
        "#!/bin/sh\necho 'Set-Cookie: berth_00000000000000000000000000000000=fixated; Path=/'\necho 'Set-Cookie: app=1'\necho 'Clear-Site-Data: \"cookies\"'\necho 'Content-Type: text/plain'\necho\necho \"cookie: $HTTP_COOKIE\"\n",
    );
    env.create("ide", &project);
    env.ok(&["start", "ide"]);
    // The IDE is logged in: the browser holds its cookie for 127.0.0.1 (all ports).
    let login = env.login("ide");
    let p = create_preview(
        &env,
        &["ide", "--image", IMAGE, "--cmd", SERVE, "--port", "3000"],
    );
    // Opened the way Berth opens previews: the plain URL on `localhost` — another site than
    // the IDEs' 127.0.0.1, so a browser sends no IDE login there at all — and only there.
    let opened = env.ok(&["preview", "open", "--print", &id(&p)]);
    assert_eq!(opened.trim(), url(&p));
    assert!(url(&p).starts_with("http://localhost:"), "{}", url(&p));
    let same_site = format!("127.0.0.1:{}", p["port"]);
    assert_eq!(
        http(&format!("{}index.html", url(&p)), &[("Host", &same_site)]).status,
        421,
        "a preview never answers on the IDEs' site"
    );
    // Even a request that carries the login (a browser that mixed the two up) loses it.
    let answer = http(
        &format!("{}cgi-bin/plant", url(&p)),
        &[("Cookie", &format!("{login}; theme=dark"))],
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.body.contains("cookie: theme=dark"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("berth_"), "{}", answer.body);
    let set: Vec<&str> = answer
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(set, ["app=1"], "no Berth cookie from an app");
    assert_eq!(
        answer.header("clear-site-data"),
        None,
        "no log-out of every IDE"
    );
    assert_eq!(
        answer.header("content-security-policy"),
        None,
        "the app's own pages"
    );
    // The visit counts as the workspace's activity.
    poll_until(
        "the visit is an activity signal",
        10,
        Duration::from_millis(100),
        || {
            env.show("ide")["activity"]["signals"]
                .to_string()
                .contains("\"preview\"")
        },
    );
}

#[test]
fn a_lan_share_needs_its_token_and_ends_with_the_preview() {
    let env = TestEnv::new();
    let lan = Lan::new();
    let project = site(&env, "shared", "hello LAN\n");
    // An app with a socket that never ends on its own (a WebSocket, say).
    cgi(
        &project,
        "ticks",
        "#!/bin/sh\nprintf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'\nwhile true; do echo tick; sleep 1; done\n",
    );
    env.create("shared", &project);
    let p = create_preview(
        &env,
        &[
            "shared", "--image", IMAGE, "--cmd", SERVE, "--port", "3000", "--ttl", "60s",
        ],
    );
    let port = p["port"].as_u64().unwrap();
    let guest = |path: &str| format!("http://{}:{port}/{path}", lan.host);
    assert_eq!(p["shared"], false);
    assert_eq!(
        lan.curl(&guest("index.html"), None).0,
        "000",
        "off: loopback only"
    );
    assert_eq!(http_status(&format!("{}index.html", url(&p))), Some(200));

    env.ok(&["preview", "share", &id(&p), "on"]);
    let listed = previews(&env).remove(0);
    assert_eq!(listed["shared"], true);
    let link = listed["share_urls"][0].as_str().unwrap().to_string();
    let token = link.split_once("berth_share=").unwrap().1.to_string();
    // Without the token, or with another one: no.
    assert_eq!(lan.curl(&guest("index.html"), None).0, "401");
    assert_eq!(
        lan.curl(&guest("index.html?berth_share=guess"), None).0,
        "401"
    );
    // With it: in, and the token becomes a cookie the app never sees.
    let jar = lan.dir.path().join("jar");
    let (status, body) = lan.curl(
        &guest(&format!("index.html?berth_share={token}")),
        Some(&jar),
    );
    assert_eq!((status.as_str(), body.as_str()), ("200", "hello LAN\n"));
    assert_eq!(lan.curl(&guest("index.html"), Some(&jar)).0, "200");
    // A LAN host holding connections open gets 32 at most: one more is closed at once, and
    // this machine is still served.
    let mut holders: Vec<Guest> = (0..33).map(|_| lan.hold(port)).collect();
    poll_until(
        "a connection over the cap is closed",
        10,
        Duration::from_millis(100),
        || holders.iter_mut().any(Guest::ended),
    );
    assert_eq!(http_status(&format!("{}index.html", url(&p))), Some(200));
    drop(holders);
    poll_until(
        "the guests' places are free again",
        20,
        Duration::from_millis(200),
        || lan.curl(&guest("index.html"), Some(&jar)).0 == "200",
    );
    // A guest's open socket (an upgraded connection, spliced to the app)...
    let cookie = format!("berth_share_{}={token}", id(&p));
    let mut socket = lan.upgrade(port, "/cgi-bin/ticks", &cookie);
    // ...and sharing off: gone from the LAN at once, that socket too; on again: a new token,
    // the old cookie is void.
    env.ok(&["preview", "share", &id(&p), "off"]);
    poll_until(
        "the guest's socket ends with the share",
        10,
        Duration::from_millis(100),
        || socket.ended(),
    );
    assert_eq!(lan.curl(&guest("index.html"), Some(&jar)).0, "000");
    env.ok(&["preview", "share", &id(&p), "on"]);
    assert_eq!(lan.curl(&guest("index.html"), Some(&jar)).0, "401");
    assert!(env.ok(&["log", "shared"]).contains("preview-share"));
    // A guest must name the address: a name (DNS rebinding) is refused, even with the token.
    let named = lan.curl_as(
        &guest(&format!("index.html?berth_share={token}")),
        "rebind.example",
    );
    assert_eq!(named, "421");
    // Shared from its creation (`--lan`): the LAN needs a token from the first moment.
    let born = create_preview(&env, &["shared", "--lan", "--ttl", "45s"]);
    assert_eq!(born["shared"], true);
    let born_at = format!("http://{}:{}/index.html", lan.host, born["port"]);
    assert_eq!(lan.curl(&born_at, None).0, "401");
    // At expiry the share ends with the preview.
    poll_until(
        "the shared preview expires",
        120,
        Duration::from_millis(200),
        || previews(&env).is_empty(),
    );
    assert_eq!(lan.curl(&guest("index.html"), Some(&jar)).0, "000");
}

/// A "LAN guest": a network namespace with a veth pair to this machine, made and removed by
/// the test. Traffic never leaves this machine.
struct Lan {
    ns: String,
    veth: String,
    host: String,
    dir: tempfile::TempDir,
}

impl Lan {
    fn new() -> Lan {
        let n = std::process::id() % 200 + 20;
        let salt = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 50;
        let (ns, veth) = (format!("berthlan{n}{salt}"), format!("bl{n}{salt}"));
        // 198.18.0.0/15 is for benchmarks: never a real LAN, never Docker's pools.
        let net = format!("198.18.{n}.{}", salt * 4);
        let base: Vec<u8> = net.split('.').map(|o| o.parse().unwrap()).collect();
        let host = format!("198.18.{}.{}", base[2], base[3] + 1);
        let guest = format!("198.18.{}.{}", base[2], base[3] + 2);
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["netns", "add", &ns]);
        let lan = Lan {
            ns: ns.clone(),
            veth: veth.clone(),
            host: host.clone(),
            dir: tempfile::tempdir().unwrap(),
        };
        let peer = format!("{veth}p");
        run(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        run(&["link", "set", &peer, "netns", &ns]);
        run(&["addr", "add", &format!("{host}/30"), "dev", &veth]);
        run(&["link", "set", &veth, "up"]);
        run(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("{guest}/30"),
            "dev",
            &peer,
        ]);
        run(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"]);
        run(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        lan
    }

    /// `program args...` run inside the namespace.
    fn inside(&self, program: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]).args(program);
        cmd
    }

    /// GET `url` from inside the namespace (following the share's redirect, with a cookie
    /// jar): the status (`000` when nothing listens there) and the body.
    fn curl(&self, url: &str, jar: Option<&Path>) -> (String, String) {
        let mut cmd = self.inside(&["curl", "-s", "-L", "-m", "5"]);
        if let Some(jar) = jar {
            cmd.arg("-b").arg(jar).arg("-c").arg(jar);
        }
        let out = cmd
            .args(["-w", "\n%{http_code}", url])
            .output()
            .expect("curl in the namespace");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().to_string(), body.to_string())
    }

    /// The status of GET `url` from inside the namespace with `Host: <name>:<port>`.
    fn curl_as(&self, url: &str, name: &str) -> String {
        let port = url.rsplit_once(':').unwrap().1.split('/').next().unwrap();
        let host = format!("Host: {name}:{port}");
        let out = self
            .inside(&["curl", "-s", "-m", "5", "-o", "/dev/null", "-H", &host])
            .args(["-w", "%{http_code}", url])
            .output()
            .expect("curl in the namespace");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A connection to the preview's `port` from inside the namespace (busybox nc): what it
    /// reads arrives on its stdout when `read` is true.
    fn nc(&self, port: u64, read: bool) -> std::process::Child {
        let port = port.to_string();
        self.inside(&["busybox", "nc", &self.host, &port])
            .stdin(std::process::Stdio::piped())
            .stdout(if read {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("busybox nc in the namespace")
    }

    /// A connection that sends nothing and stays open until the other side closes it.
    fn hold(&self, port: u64) -> Guest {
        Guest(self.nc(port, false))
    }

    /// An upgraded connection from inside the namespace, once the app's first bytes came
    /// through the splice; the process ends when the connection does.
    fn upgrade(&self, port: u64, path: &str, cookie: &str) -> Guest {
        use std::io::{BufRead, Write};
        let mut nc = self.nc(port, true);
        write!(
            nc.stdin.as_mut().unwrap(),
            "GET {path} HTTP/1.1\r\nHost: {}:{port}\r\nCookie: {cookie}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            self.host
        )
        .unwrap();
        let mut out = std::io::BufReader::new(nc.stdout.take().unwrap());
        let mut line = String::new();
        while line.trim() != "tick" {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the upgrade was refused"
            );
        }
        // Keep reading (and dropping) so the splice never stalls on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Guest(nc)
    }
}

/// A guest's `nc`, killed when the test ends however it ends (a connection whose veth is gone
/// would otherwise keep it, and the test run's output, open for ever).
struct Guest(std::process::Child);

impl Guest {
    fn ended(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

/// A CGI script of the project's app (busybox httpd runs `cgi-bin/*`).
fn cgi(project: &Path, name: &str, script: &str) {
    std::fs::create_dir_all(project.join("cgi-bin")).unwrap();
    let path = project.join("cgi-bin").join(name);
    std::fs::write(&path, script).unwrap();
    make_executable(&path);
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_stopped_preview_runs_again_when_the_daemon_starts() {
    let env = TestEnv::new();
    env.create("again", &site(&env, "again", "back\n"));
    let p = create_preview(
        &env,
        &["again", "--image", IMAGE, "--cmd", SERVE, "--port", "3000"],
    );
    // The machine restarted, say: the container stopped and no daemon ran.
    env.stop_daemon();
    let filter = format!("label=dev.berth.install={}", env.install);
    let container = lines(&docker(&["ps", "-q", "--filter", &filter]));
    docker(&["stop", &container[0]]);
    env.ok(&["ls"]);
    poll_until(
        "the preview answers again",
        30,
        Duration::from_millis(100),
        || http_status(&format!("{}index.html", url(&p))) == Some(200),
    );
    assert_eq!(http(&format!("{}index.html", url(&p)), &[]).body, "back\n");
    // Removed outside Berth: the preview goes too (nothing is left to serve).
    env.stop_daemon();
    let container = lines(&docker(&["ps", "-q", "--filter", &filter]));
    docker(&["rm", "-f", &container[0]]);
    env.ok(&["ls"]);
    poll_until(
        "the preview without a container is removed",
        30,
        Duration::from_millis(100),
        || preview_objects(&env).is_empty(),
    );
    assert!(previews(&env).is_empty());
}

#[test]
fn an_app_that_exits_says_why_and_leaves_nothing_and_a_workspace_takes_its_previews_along() {
    let env = TestEnv::new();
    env.create("fail", &site(&env, "fail", "x\n"));
    let out = env
        .cmd()
        .args(["preview", "create", "fail", "--image", IMAGE])
        .args(["--cmd", "echo boom; echo bang; exit 3", "--port", "3000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The steps, then the error: one line, the last.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let err = stderr.lines().last().unwrap();
    assert!(err.contains("boom | bang"), "{stderr}");
    assert!(
        err.contains("exited (code 3)") && err.contains("boom"),
        "{err}"
    );
    assert_no_preview_objects(&env, "nothing left");
    assert!(
        previews(&env).is_empty(),
        "the port and the record are free"
    );
    let log = env.ok(&["log", "fail"]);
    assert!(
        log.lines()
            .any(|l| l.contains("preview-create") && l.contains("failed")),
        "{log}"
    );
    // Nor a missing image, said before anything is made.
    let missing = env.fails(&[
        "preview", "create", "fail", "--image", "nope:1", "--port", "1",
    ]);
    assert!(missing.contains("not on this machine"), "{missing}");

    // An app whose `/` is a 404 is still an app (the project has no index.html at its root).
    std::fs::remove_file(env.project("fail").join("index.html")).unwrap();
    let up = create_preview(
        &env,
        &["fail", "--image", IMAGE, "--cmd", SERVE, "--port", "3000"],
    );
    assert_eq!(up["status"], "running");
    assert_eq!(http_status(&url(&up)), Some(404));
    assert_eq!(preview_objects(&env).len(), 3);
    env.ok(&["rm", "fail"]);
    assert_no_preview_objects(&env, "gone with its workspace");
}

#[test]
fn a_preview_keeps_the_daemon_that_reaps_it() {
    let env = TestEnv::new();
    env.create("kept", &site(&env, "kept", "x\n"));
    env.stop_daemon();
    // A daemon with a two-second idle exit.
    let mut quick = env.cmd();
    quick.env("BERTH_DAEMON_IDLE_SECS", "2");
    assert!(quick.args(["daemon", "start"]).status().unwrap().success());
    let p = create_preview(
        &env,
        &["kept", "--image", IMAGE, "--cmd", SERVE, "--port", "3000"],
    );
    let pid = env.daemon_pid().unwrap();
    env.stays("the daemon while a preview exists", 5, || {
        env.daemon_pid() == Some(pid)
    });
    let status: Value = serde_json::from_str(&env.ok(&["daemon", "status", "--json"])).unwrap();
    assert!(status["idle_exit_in_secs"].is_null(), "{status}");
    env.ok(&["preview", "rm", &id(&p)]);
    env.eventually("the idle exit once no preview is left", 20, || {
        env.daemon_pid().is_none()
    });
}
