//! End-to-end: the Resources screen with two running workspaces, in English and German — live
//! numbers, sorting, the sparkline, the limits edited in place (and refused by the engine),
//! Clean up of a leftover after showing it, and Force stop. Screenshots land beside the
//! other e2e ones.

mod harness;

use harness::*;
use serde_json::Value;
use std::time::Duration;

const LIVE: Duration = Duration::from_secs(30);

/// The needles each language's screen shows.
struct Words {
    running: &'static str,
    cores: &'static str,
    refused: &'static str,
    saved: &'static str,
    clean_title: &'static str,
    cleaned: &'static str,
    force_body: &'static str,
}

const EN: Words = Words {
    running: "2 of 4 workspaces",
    cores: "of 0.5 cores",
    refused: "running",
    saved: "saved",
    clean_title: "leftovers",
    cleaned: "Removed 1",
    force_body: "killed",
};

const DE: Words = Words {
    running: "2 von 4 Arbeitsumgebungen",
    cores: "von 0.5 Kernen",
    refused: "running",
    saved: "gespeichert",
    clean_title: "Überreste",
    cleaned: "1 entfernt",
    force_body: "abgebrochen",
};

impl Session {
    /// The `name` attribute of `testid`, if it is on the page.
    async fn attr_of(&self, testid: &str, name: &str) -> Option<String> {
        let sel = format!("[data-testid=\"{testid}\"]");
        self.client
            .find(Self::css(&sel))
            .await
            .ok()?
            .attr(name)
            .await
            .ok()?
    }

    /// The rows' test ids, top to bottom.
    async fn row_order(&self) -> Vec<String> {
        let rows = self
            .client
            .find_all(Self::css("tr[data-testid^=\"res-row-\"]"))
            .await
            .unwrap_or_default();
        let mut out = Vec::new();
        for r in rows {
            if let Ok(Some(id)) = r.attr("data-testid").await {
                out.push(id);
            }
        }
        out
    }

    /// Waits until the numeric `data-value` of `testid` satisfies `ok`.
    async fn wait_value(&self, testid: &str, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
        self.wait_for(what, LIVE, || async {
            let v: f64 = self.attr_of(testid, "data-value").await?.parse().ok()?;
            ok(v).then_some(v)
        })
        .await
    }
}

/// The home volume of workspace `name`, deleted while another container held it: the delete
/// goes through and keeps the volume, a leftover of this install.
fn leftover_home(setup: &Setup, name: &str) -> String {
    let project = setup.project(name);
    setup.create(name, &project);
    setup.cli(&["start", name]);
    let id = setup.show(name)["id"].as_str().unwrap().to_string();
    let volume = ok(
        "docker",
        &[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=dev.berth.id={id}"),
        ],
    )
    .trim()
    .to_string();
    let holder = ok(
        "docker",
        &["create", "-v", &format!("{volume}:/held"), IMAGE],
    )
    .trim()
    .to_string();
    setup.cli(&["rm", name]);
    docker(&["rm", &holder]);
    volume
}

async fn resources_screen(lang: &'static str, range_first: u16, w: Words) {
    let setup = Setup::new(range_first);
    let (busy, calm) = (format!("busy-{lang}"), format!("calm-{lang}"));
    for name in [&busy, &calm] {
        let project = setup.project(name);
        setup.create_at(&berth_bin(), name, &project, &["--cpus", "0.5"]);
        setup.cli(&["start", name]);
    }
    let container = |name: &str| {
        setup.show(name)["container_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    docker(&[
        "exec",
        "-d",
        &container(&busy),
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    // A leftover Clean up may remove: the home of a workspace deleted while in use.
    let leftover = leftover_home(&setup, &format!("gone-{lang}"));

    // The language is a setting, as a user would have chosen it.
    let client = setup.client().await;
    let mut settings = client.settings().await.unwrap();
    settings.language = Some(lang.to_string());
    client.save_settings(&settings).await.unwrap();
    let s = launch(&setup.data(), lang).await;
    s.click("nav-resources").await;
    s.wait_text("res-running", w.running).await;
    // Live: the loop shows at its limit, the calm one near nothing, both with a sparkline.
    s.wait_value(
        &format!("res-cpu-{busy}"),
        "the loop at its CPU limit",
        |v| v > 60.0,
    )
    .await;
    s.wait_value(
        &format!("res-cpu-{calm}"),
        "the calm workspace's CPU",
        |v| v < 20.0,
    )
    .await;
    s.wait_text(&format!("res-cpu-{busy}"), w.cores).await;
    s.wait_value(&format!("res-mem-{calm}"), "memory figures", |v| v > 0.0)
        .await;
    s.wait_for("sparklines with a few points", LIVE, || async {
        let n: usize = s
            .attr_of(&format!("res-spark-{busy}"), "data-points")
            .await?
            .parse()
            .ok()?;
        (n >= 3).then_some(())
    })
    .await;
    // Busiest CPU first; by memory, the calm one that holds 40 MiB in its /tmp comes first.
    assert_eq!(
        s.row_order().await,
        vec![format!("res-row-{busy}"), format!("res-row-{calm}")]
    );
    docker(&[
        "exec",
        &container(&calm),
        "dd",
        "if=/dev/zero",
        "of=/tmp/fill",
        "bs=1M",
        "count=40",
    ]);
    s.click("res-sort-memory").await;
    s.wait_value(&format!("res-mem-{calm}"), "the 40 MiB", |v| v > 40e6)
        .await;
    s.wait_for("the calm one first by memory", LIVE, || async {
        (s.row_order().await.first()? == &format!("res-row-{calm}")).then_some(())
    })
    .await;
    s.click("res-sort-cpu").await;
    s.wait_for("the busy one first by CPU", LIVE, || async {
        (s.row_order().await.first()? == &format!("res-row-{busy}")).then_some(())
    })
    .await;
    s.shot("resources").await;

    // The limits in place: the engine refuses a cap of 0 and takes 3.
    let max = s.el("res-max-running").await;
    max.clear().await.unwrap();
    max.send_keys("0").await.unwrap();
    s.click("res-limits-save").await;
    s.wait_text("res-limits-error", w.refused).await;
    max.clear().await.unwrap();
    max.send_keys("3").await.unwrap();
    s.click("res-limits-save").await;
    s.wait_text("res-limits-saved", w.saved).await;
    let settings: Value = serde_json::from_str(&setup.cli(&["top", "--json"])).unwrap();
    assert_eq!(settings["totals"]["max_running"], 3);

    // Disk: the leftover is listed, shown again before it goes, and removed alone.
    s.wait_for("the leftover volume listed", LIVE, || async {
        let id = s.attr_of("leftover-volume", "data-id").await?;
        (id == leftover).then_some(())
    })
    .await;
    s.scroll_to("disk").await;
    s.shot("resources-disk").await;
    s.click("disk-clean").await;
    s.wait_text("confirm-dialog", w.clean_title).await;
    s.wait_text("confirm-dialog", &leftover).await;
    s.shot("resources-clean").await;
    // One that turns up while the dialog is open was not shown: it stays for the next look.
    let later = leftover_home(&setup, &format!("later-{lang}"));
    s.click("confirm-delete").await;
    s.wait_text("disk-result", w.cleaned).await;
    let volumes = ok("docker", &["volume", "ls", "-q"]);
    assert!(!volumes.contains(&leftover), "the leftover is gone");
    assert!(volumes.contains(&later), "the one not shown stays");
    s.wait_for("the later leftover listed", LIVE, || async {
        let id = s.attr_of("leftover-volume", "data-id").await?;
        (id == later).then_some(())
    })
    .await;

    // Force stop: asked first, then the row goes and the audit log says forced.
    s.scroll_to("res-table").await;
    s.click(&format!("res-force-{busy}")).await;
    s.wait_text("confirm-dialog", w.force_body).await;
    s.shot("resources-force").await;
    s.click("confirm-delete").await;
    s.wait_for("the stopped workspace's row to go", LIVE, || async {
        (!s.row_order().await.contains(&format!("res-row-{busy}"))).then_some(())
    })
    .await;
    // The row goes as the stop begins; the stop itself ends after the short wait.
    s.wait_for("the workspace to be stopped", LIVE, || async {
        (setup.show(&busy)["status"] == "stopped").then_some(())
    })
    .await;
    let log: Value = serde_json::from_str(&setup.cli(&["log", &busy, "--json"])).unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "force-stop"),
        "{log}"
    );
    s.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resources_screen_shows_two_running_workspaces_live() {
    resources_screen("en", 22320, EN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resources_screen_reads_in_german() {
    resources_screen("de", 22340, DE).await;
}
