//! The live resources overview. Docker's stats streams are opened only while someone watches
//! (the app's Resources screen, `berth top`): the first watcher starts one sampler, which
//! holds one stream per running workspace or preview container; the last one to leave ends
//! the sampler and with it every stream. Watchers share the sampler's views.

use super::Engine;
use crate::docker;
use crate::error::Result;
use crate::model::{Limits, PreviewStatus, Status};
use crate::resources::{History, Machine, Point, Reading, ResourceRow, ResourcesView, RowKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// How often watchers get a view (Docker reads about once a second).
const TICK: Duration = Duration::from_secs(1);
/// Measuring volumes walks them: at most this often.
const VOLUME_EVERY: Duration = Duration::from_secs(30);
/// Sparklines: a point every 2 s for the last 5 minutes.
const HISTORY_STEP_MS: i64 = 2000;
const HISTORY_LEN: usize = 150;
/// How long a one-off snapshot waits for every row's second reading.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(6);
/// How soon a sampler tries Docker again.
const RETRY: Duration = Duration::from_secs(2);

pub struct Monitor {
    watchers: Mutex<Watchers>,
    views: broadcast::Sender<ResourcesView>,
}

#[derive(Default)]
struct Watchers {
    count: usize,
    sampler: Option<CancellationToken>,
}

impl Monitor {
    pub fn new() -> Monitor {
        Monitor {
            watchers: Mutex::default(),
            views: broadcast::channel(16).0,
        }
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor::new()
    }
}

/// One watcher: views as they come; dropping it leaves (the last one ends the sampling).
pub struct Watch {
    rx: broadcast::Receiver<ResourcesView>,
    engine: Arc<Engine>,
}

impl Watch {
    /// The next view; a watcher that fell behind skips to the newest.
    pub async fn next(&mut self) -> Option<ResourcesView> {
        loop {
            match self.rx.recv().await {
                Ok(view) => return Some(self.newest(view)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// `view`, or a newer one already waiting.
    fn newest(&mut self, mut view: ResourcesView) -> ResourcesView {
        loop {
            match self.rx.try_recv() {
                Ok(newer) => view = newer,
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return view,
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut w = self.engine.monitor.watchers.lock().expect("monitor lock");
        w.count = w.count.saturating_sub(1);
        if w.count == 0
            && let Some(sampler) = w.sampler.take()
        {
            sampler.cancel();
        }
    }
}

impl Engine {
    /// Starts watching (and sampling, if nobody did).
    pub fn watch_resources(self: &Arc<Self>) -> Watch {
        let rx = self.monitor.views.subscribe();
        let mut w = self.monitor.watchers.lock().expect("monitor lock");
        w.count += 1;
        if w.sampler.is_none() {
            let token = CancellationToken::new();
            tokio::spawn(sample(self.clone(), token.clone()));
            w.sampler = Some(token);
        }
        Watch {
            rx,
            engine: self.clone(),
        }
    }

    /// One view in which every running container has a CPU figure (two readings), or the
    /// best one within a few seconds; `berth top --json`.
    pub async fn resources_now(self: &Arc<Self>) -> Result<ResourcesView> {
        // Docker first, so "no Docker" is an error rather than an empty overview.
        self.docker().await?;
        let mut watch = self.watch_resources();
        let mut best = None;
        let _ = tokio::time::timeout(SNAPSHOT_WAIT, async {
            while let Some(view) = watch.next().await {
                let done = view.complete();
                best = Some(view);
                if done {
                    return;
                }
            }
        })
        .await;
        match best {
            Some(view) => Ok(view),
            None => Err(crate::error::Error::new(
                crate::error::Code::Docker,
                "the Docker engine gave no usage figures within 6 s",
            )),
        }
    }
}

/// A running container the overview shows.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    kind: RowKind,
    id: String,
    workspace: String,
    volume: String,
}

enum Heard {
    Limits(String, Limits),
    Reading(String, Reading),
    Stopped(String),
    Lost(String),
    Volumes(HashMap<String, u64>),
}

struct Tracked {
    target: Target,
    /// Its container stopped while the store still says it runs.
    stopped: bool,
    limits: Option<Limits>,
    last: Option<Reading>,
    history: History,
    stream: CancellationToken,
}

/// The sampler's state, alive while someone watches.
struct Sampler {
    engine: Arc<Engine>,
    docker: docker::Client,
    /// Cancelled when the last watcher leaves; every stream's token is a child of it.
    token: CancellationToken,
    machine: Machine,
    tx: mpsc::UnboundedSender<Heard>,
    /// By container id.
    tracked: HashMap<String, Tracked>,
    volumes: HashMap<String, u64>,
    measuring: bool,
    measured_at: Option<tokio::time::Instant>,
}

/// Every tick the sampler looks which containers the store says run, opens a stream for each
/// new one, ends the streams of those that stopped, and sends everyone a view.
async fn sample(engine: Arc<Engine>, token: CancellationToken) {
    // Docker may be back in a moment: a sampler never gives up while someone watches.
    let docker = loop {
        match engine.docker().await {
            Ok(d) => break d.clone(),
            Err(e) => {
                tracing::warn!("resources: {e}");
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Heard>();
    let mut sampler = Sampler {
        machine: docker.machine().await.unwrap_or_default(),
        engine,
        docker,
        token,
        tx,
        tracked: HashMap::new(),
        volumes: HashMap::new(),
        measuring: false,
        measured_at: None,
    };
    let mut tick = tokio::time::interval(TICK);
    // After a slow Docker call, one tick, not a burst of them.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let token = sampler.token.clone();
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            heard = rx.recv() => match heard {
                Some(heard) => sampler.heard(heard),
                None => break,
            },
            _ = tick.tick() => sampler.tick().await,
        }
    }
    for t in sampler.tracked.values() {
        t.stream.cancel();
    }
}

impl Sampler {
    fn heard(&mut self, heard: Heard) {
        match heard {
            Heard::Limits(id, limits) => {
                if let Some(t) = self.tracked.get_mut(&id) {
                    t.limits = Some(limits);
                }
            }
            Heard::Reading(id, reading) => {
                if let Some(t) = self.tracked.get_mut(&id) {
                    t.last = Some(reading);
                    let u = reading.usage(t.limits.map_or(0.0, |l| l.cpus));
                    if let Some(cpu) = u.cpu_of_limit {
                        t.history.push(Point {
                            at_ms: crate::store::now_ms(),
                            cpu_of_limit: cpu,
                            memory_bytes: u.memory_bytes,
                        });
                    }
                }
            }
            // Its container stopped though the store still says it runs (a preview stopped
            // by hand): no row and no new stream until a start makes it a new target.
            Heard::Stopped(id) => {
                if let Some(t) = self.tracked.get_mut(&id) {
                    t.stopped = true;
                }
            }
            // The stream broke (Docker restarting): opened again at the next tick.
            Heard::Lost(id) => {
                self.tracked.remove(&id);
            }
            Heard::Volumes(sizes) => {
                self.volumes = sizes;
                self.measuring = false;
            }
        }
    }

    async fn tick(&mut self) {
        let targets = match running_targets(&self.engine) {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!("resources: {e}");
                return;
            }
        };
        self.tracked.retain(|id, t| {
            let keep = targets.contains_key(id);
            if !keep {
                t.stream.cancel();
            }
            keep
        });
        for (id, target) in targets {
            if self.tracked.contains_key(&id) {
                continue;
            }
            let stream = self.token.child_token();
            tokio::spawn(follow(
                self.docker.clone(),
                id.clone(),
                stream.clone(),
                self.tx.clone(),
            ));
            self.tracked.insert(
                id,
                Tracked {
                    target,
                    stopped: false,
                    limits: None,
                    last: None,
                    history: History::new(HISTORY_STEP_MS, HISTORY_LEN),
                    stream,
                },
            );
        }
        self.measure_volumes();
        let max_running = self.engine.settings().map_or(0, |s| s.max_running);
        let view = view(self.machine, &self.tracked, &self.volumes, max_running);
        let _ = self.engine.monitor.views.send(view);
    }

    /// Volume sizes when watching starts and then every [`VOLUME_EVERY`], one at a time, in
    /// the background (the engine may take seconds to walk the volumes).
    fn measure_volumes(&mut self) {
        let due = self
            .measured_at
            .is_none_or(|at| at.elapsed() >= VOLUME_EVERY);
        if self.measuring || !due {
            return;
        }
        self.measuring = true;
        self.measured_at = Some(tokio::time::Instant::now());
        let (docker, tx, install) = (self.docker.clone(), self.tx.clone(), self.engine.install);
        let token = self.token.clone();
        tokio::spawn(async move {
            let volumes = tokio::select! {
                _ = token.cancelled() => return,
                volumes = docker.volumes(install, true) => volumes.unwrap_or_default(),
            };
            let sizes = volumes
                .into_iter()
                .filter_map(|v| Some((v.name, v.size_bytes?)))
                .collect();
            let _ = tx.send(Heard::Volumes(sizes));
        });
    }
}

/// One container's stream, until it ends, fails or is cancelled.
async fn follow(
    docker: docker::Client,
    id: String,
    stop: CancellationToken,
    tx: mpsc::UnboundedSender<Heard>,
) {
    use futures_util::StreamExt;
    let limits = tokio::select! {
        _ = stop.cancelled() => return,
        limits = docker.container_limits(&id) => limits,
    };
    if let Ok(Some(limits)) = limits {
        let _ = tx.send(Heard::Limits(id.clone(), limits));
    }
    let mut stream = docker.stats_stream(&id);
    let end = loop {
        tokio::select! {
            // Cancelled first: a stream nobody wants reads nothing more.
            biased;
            _ = stop.cancelled() => return,
            next = stream.next() => match next {
                // Docker goes on sending empty frames for a stopped container.
                Some(Ok(r)) if r.stopped() => break Heard::Stopped(id),
                Some(Ok(r)) => {
                    if tx.send(Heard::Reading(id.clone(), r)).is_err() {
                        return;
                    }
                }
                Some(Err(_)) | None => break Heard::Lost(id),
            },
        }
    };
    // Only an end nobody asked for: a cancelled stream's entry may already be a newer one's.
    if !stop.is_cancelled() {
        let _ = tx.send(end);
    }
}

/// Workspaces and previews the store says run, by container id. No Docker call: the Docker
/// events watcher keeps the store's status current, and a container that stopped anyway (a
/// preview stopped by hand) ends its stream.
fn running_targets(engine: &Engine) -> Result<HashMap<String, Target>> {
    let (workspaces, previews) = engine.db(|s| Ok((s.workspaces()?, s.previews(None)?)))?;
    let workspaces = workspaces
        .into_iter()
        .filter(|ws| ws.status == Status::Running)
        .filter_map(|ws| {
            let target = Target {
                kind: RowKind::Workspace,
                id: ws.name.to_string(),
                workspace: ws.name.to_string(),
                volume: docker::home_volume_name(&ws),
            };
            Some((ws.container_id?, target))
        });
    let previews = previews
        .into_iter()
        .filter(|p| p.status == PreviewStatus::Running)
        .filter_map(|p| {
            let target = Target {
                kind: RowKind::Preview,
                id: p.id.short(),
                workspace: p.workspace.clone(),
                volume: p.object_name(),
            };
            Some((p.container_id?, target))
        });
    Ok(workspaces.chain(previews).collect())
}

fn view(
    machine: Machine,
    tracked: &HashMap<String, Tracked>,
    volumes: &HashMap<String, u64>,
    max_running: u32,
) -> ResourcesView {
    let mut rows: Vec<ResourceRow> = tracked
        .values()
        .filter(|t| !t.stopped)
        .map(|t| {
            let limits = t.limits.unwrap_or(Limits {
                cpus: 0.0,
                memory_bytes: 0,
                pids: 0,
            });
            ResourceRow {
                kind: t.target.kind,
                id: t.target.id.clone(),
                workspace: t.target.workspace.clone(),
                limits,
                usage: t.last.map(|r| r.usage(limits.cpus)),
                volume_bytes: volumes.get(&t.target.volume).copied(),
                history: t.history.points(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.workspace, a.kind as u8, &a.id).cmp(&(&b.workspace, b.kind as u8, &b.id))
    });
    ResourcesView::new(machine, rows, max_running, crate::store::now_ms())
}
