use crate::env::TestEnv;
use berth::model::PortRange;
use std::net::TcpListener;

#[test]
fn an_exhausted_port_range_is_a_clear_error_and_creates_nothing() {
    let env = TestEnv::new();
    let first = env.range.first;
    env.update_settings(|s| s.port_range = PortRange::new(first, first + 2).unwrap());
    let _held: Vec<TcpListener> = (first..=first + 2)
        .map(|p| TcpListener::bind(("127.0.0.1", p)).unwrap())
        .collect();

    let project = env.project("full");
    let err = env.fails(&[
        "create",
        "full",
        "--image",
        crate::env::IMAGE,
        "--project",
        project.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!("no free port in the range {first}-{}", first + 2)),
        "{err}"
    );
    assert_eq!(env.ok(&["ls", "--json"]).trim(), "[]");
    assert!(env.containers(None).is_empty());
    assert!(env.networks().is_empty());
}

#[test]
fn a_port_taken_at_start_moves_the_workspace_and_says_so() {
    let env = TestEnv::new();
    env.create("mover", &env.project("mover"));
    let old = env.show("mover")["port"].as_u64().unwrap() as u16;
    let _squatter = TcpListener::bind(("127.0.0.1", old)).unwrap();
    // A client following events (as the app does) hears the new URL while the start goes on.
    let (tx, rx) = std::sync::mpsc::channel();
    let follower = std::thread::spawn({
        let data = env.data_dir();
        move || {
            crate::env::block_on(async move {
                use futures_util::StreamExt;
                let client = berth::client::Client::connect(
                    &data,
                    berth::client::Autostart::Program(crate::env::BERTH.into()),
                )
                .await
                .unwrap();
                let mut events = Box::pin(client.events().await.unwrap());
                tx.send(None).unwrap();
                while let Some(Ok(e)) = events.next().await {
                    if let berth::client::ClientEvent::Engine(
                        berth::engine::EngineEvent::Updated { workspace },
                    ) = e
                    {
                        tx.send(workspace.url).unwrap();
                        return;
                    }
                }
            })
        }
    });
    assert_eq!(rx.recv().unwrap(), None, "the follower is subscribed");

    let out = env.berth(&["start", "mover"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("port {old} is in use by another program")),
        "{stderr}"
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let new = env.show("mover")["port"].as_u64().unwrap() as u16;
    assert_ne!(new, old);
    assert!(env.range.contains(new));
    assert_eq!(url, format!("http://127.0.0.1:{new}/"));
    assert_eq!(env.ide_status(&url, "mover"), 200);
    let heard = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(
        heard.as_deref(),
        Some(url.as_str()),
        "the new URL reached the follower"
    );
    follower.join().unwrap();
    assert!(env.ok(&["log", "mover"]).contains("port-changed"));
    env.ok(&["rm", "mover"]);
}

#[test]
fn starting_beyond_the_cap_names_the_running_workspaces() {
    let env = TestEnv::new();
    env.update_settings(|s| s.max_running = 1);
    env.create("first", &env.project("first"));
    env.create("second", &env.project("second"));
    env.ok(&["start", "first"]);
    let err = env.fails(&["start", "second"]);
    assert!(
        err.contains("already running (first)") && err.contains("limit is 1"),
        "{err}"
    );
    assert_eq!(env.show("second")["status"], "stopped");
    env.ok(&["stop", "first"]);
    env.ok(&["start", "second"]);
    env.ok(&["rm", "first"]);
    env.ok(&["rm", "second"]);
}

/// A port is a web origin; a browser keeps a service worker a workspace's page registered there
/// and lets it answer every later page of that origin. A port a browser was sent to is never
/// given to another workspace, even after its own is deleted; a port only the app's window
/// (a store of its own, deleted with the workspace) showed is.
#[test]
fn a_port_a_browser_visited_never_serves_another_workspace() {
    let env = TestEnv::new();
    let first = env.range.first;
    env.update_settings(|s| s.port_range = PortRange::new(first, first + 1).unwrap());
    let port_of = |name: &str| env.show(name)["port"].as_u64().unwrap() as u16;

    env.create("seen", &env.project("seen"));
    assert_eq!(port_of("seen"), first);
    env.ok(&["open", "--print-link", "seen"]);
    env.ok(&["rm", "seen"]);

    env.create("unseen", &env.project("unseen"));
    assert_eq!(port_of("unseen"), first + 1);
    env.ok(&["start", "unseen"]);
    env.ok(&["rm", "unseen"]);

    // Next-fit wraps to the start of the range: the browser's port is passed over, the one
    // nobody opened in a browser is taken again.
    env.create("third", &env.project("third"));
    assert_eq!(port_of("third"), first + 1);
    let err = env.fails(&[
        "create",
        "fourth",
        "--image",
        crate::env::IMAGE,
        "--project",
        env.project("fourth").to_str().unwrap(),
    ]);
    assert!(
        err.contains("kept back because a browser visited them"),
        "{err}"
    );
    env.ok(&["rm", "third"]);
}
