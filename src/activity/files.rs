//! File signals: changes in a running workspace's project folders, and the activity folder its
//! container writes to (the IDE extension's input reports and `berth-keepalive` leases). One
//! watcher (the `notify` crate) serves every workspace; an event only writes a time into the
//! [`Tracker`]. Nothing here trusts what the container wrote beyond a few bytes read without
//! following links: times are when Berth saw the change, never a file's mtime.

use super::Signal;
use super::tracker::Tracker;
use crate::model::WorkspaceId;
use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

/// Folder names whose changes are churn, not work: dependencies, build output, caches, git's
/// object store. Their subtrees are not even watched (on Linux each folder costs a watch).
const CHURN: &[&str] = &[
    "node_modules",
    "target",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
];
/// Folders watched per workspace at most; past it, deeper changes go unseen (logged once).
const MAX_WATCHES: usize = 50_000;
/// The file the IDE extension writes on input, and the prefix of keep-alive leases.
pub const INPUT_FILE: &str = "input";
pub const LEASE_PREFIX: &str = "keepalive-";

/// Whether a path below a project folder is churn.
pub fn is_churn(relative: &Path) -> bool {
    let names: Vec<&str> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .collect();
    names.iter().any(|n| CHURN.contains(n))
        || names.windows(2).any(|w| w == [".git", "objects"])
        || names
            .last()
            .is_some_and(|n| n.ends_with(".lock") && names.contains(&".git"))
}

/// What an input report names, from the few bytes the extension wrote; anything else is
/// plain "input" (the container's text is never shown).
pub fn input_kind(raw: &str) -> &'static str {
    match raw.trim() {
        "editor" => "editor",
        "terminal" => "terminal",
        "window" => "window",
        _ => "input",
    }
}

#[derive(Clone)]
enum Root {
    Project(WorkspaceId),
    Activity(WorkspaceId),
}

struct Roots {
    by_path: HashMap<PathBuf, Root>,
    /// Folders watched per workspace.
    watched: HashMap<WorkspaceId, Vec<PathBuf>>,
}

impl Roots {
    /// The root `path` lies in, and the path relative to it.
    fn find<'a>(&self, path: &'a Path) -> Option<(Root, &'a Path)> {
        path.ancestors().find_map(|a| {
            let root = self.by_path.get(a)?;
            Some((root.clone(), path.strip_prefix(a).ok()?))
        })
    }
}

pub struct FileWatch {
    watcher: Arc<Mutex<RecommendedWatcher>>,
    roots: Arc<Mutex<Roots>>,
}

impl FileWatch {
    pub fn new(tracker: Arc<Tracker>, now_ms: fn() -> i64) -> notify::Result<FileWatch> {
        let roots = Arc::new(Mutex::new(Roots {
            by_path: HashMap::new(),
            watched: HashMap::new(),
        }));
        // New folders are watched from another thread: the watcher cannot be called from
        // inside its own event handler.
        let (new_dirs, dirs_rx) = mpsc::channel::<(WorkspaceId, PathBuf)>();
        let seen = roots.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            let change = match event.kind {
                EventKind::Create(_) | EventKind::Remove(_) => true,
                EventKind::Modify(ModifyKind::Metadata(_)) | EventKind::Modify(_) => true,
                // Reads (a language server opening files) are not work.
                EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
            };
            if !change {
                return;
            }
            let roots = seen.lock().expect("file roots");
            for path in &event.paths {
                match roots.find(path) {
                    Some((Root::Project(id), rel)) if !is_churn(rel) => {
                        tracker.record(id, Signal::Files, None, now_ms());
                        if cfg!(target_os = "linux")
                            && matches!(event.kind, EventKind::Create(_))
                            && is_real_dir(path)
                        {
                            let _ = new_dirs.send((id, path.clone()));
                        }
                    }
                    Some((Root::Activity(id), rel)) => {
                        activity_file(&tracker, id, rel, path, &event.kind, now_ms())
                    }
                    _ => {}
                }
            }
        })?;
        let this = FileWatch {
            watcher: Arc::new(Mutex::new(watcher)),
            roots,
        };
        // Weak: the thread must not keep the watcher alive; it ends with it.
        let (watcher_roots, watcher) = (this.roots.clone(), Arc::downgrade(&this.watcher));
        std::thread::Builder::new()
            .name("berth-new-folders".into())
            .spawn(move || {
                for (id, dir) in dirs_rx {
                    let Some(watcher) = watcher.upgrade() else {
                        return;
                    };
                    add_tree(&watcher, &watcher_roots, id, &dir);
                }
            })
            .map_err(notify::Error::io)?;
        Ok(this)
    }

    /// Watches the project folders and the activity folder of `id` (replacing a watch of it).
    pub fn watch(&self, id: WorkspaceId, projects: &[PathBuf], activity_dir: &Path) {
        self.unwatch(id);
        {
            let mut roots = self.roots.lock().expect("file roots");
            for p in projects {
                roots.by_path.insert(p.clone(), Root::Project(id));
            }
            roots
                .by_path
                .insert(activity_dir.to_path_buf(), Root::Activity(id));
        }
        let mut watcher = self.watcher.lock().expect("watcher");
        watch_one(
            &mut watcher,
            &self.roots,
            id,
            activity_dir,
            RecursiveMode::NonRecursive,
        );
        for p in projects {
            if cfg!(target_os = "linux") {
                add_tree_with(&mut watcher, &self.roots, id, p);
            } else {
                // FSEvents and ReadDirectoryChanges watch a tree with one handle; churn is
                // filtered per event instead.
                watch_one(&mut watcher, &self.roots, id, p, RecursiveMode::Recursive);
            }
        }
    }

    pub fn unwatch(&self, id: WorkspaceId) {
        let dirs = {
            let mut roots = self.roots.lock().expect("file roots");
            roots.by_path.retain(|_, r| match r {
                Root::Project(w) | Root::Activity(w) => *w != id,
            });
            roots.watched.remove(&id).unwrap_or_default()
        };
        let mut watcher = self.watcher.lock().expect("watcher");
        for dir in dirs {
            let _ = watcher.unwatch(&dir);
        }
    }

    /// Folders watched for `id` (for tests and `berth show`'s honesty about limits).
    pub fn watched(&self, id: WorkspaceId) -> usize {
        self.roots
            .lock()
            .expect("file roots")
            .watched
            .get(&id)
            .map_or(0, Vec::len)
    }
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn watch_one(
    watcher: &mut RecommendedWatcher,
    roots: &Mutex<Roots>,
    id: WorkspaceId,
    dir: &Path,
    mode: RecursiveMode,
) -> bool {
    match watcher.watch(dir, mode) {
        Ok(()) => {
            let mut roots = roots.lock().expect("file roots");
            roots.watched.entry(id).or_default().push(dir.to_path_buf());
            true
        }
        Err(e) => {
            tracing::debug!("cannot watch {}: {e}", dir.display());
            false
        }
    }
}

fn add_tree(
    watcher: &Mutex<RecommendedWatcher>,
    roots: &Mutex<Roots>,
    id: WorkspaceId,
    dir: &Path,
) {
    add_tree_with(&mut watcher.lock().expect("watcher"), roots, id, dir);
}

/// Watches `top` and every folder below it that is not churn, without following links.
fn add_tree_with(
    watcher: &mut RecommendedWatcher,
    roots: &Mutex<Roots>,
    id: WorkspaceId,
    top: &Path,
) {
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let count = roots
            .lock()
            .expect("file roots")
            .watched
            .get(&id)
            .map_or(0, Vec::len);
        if count >= MAX_WATCHES {
            tracing::warn!(
                "watching {MAX_WATCHES} folders of one workspace; deeper changes go unseen"
            );
            return;
        }
        if !watch_one(watcher, roots, id, &dir, RecursiveMode::NonRecursive) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let churn = CHURN.contains(&name.as_ref())
                || (name == "objects" && dir.file_name().is_some_and(|n| n == ".git"));
            if is_dir && !churn {
                stack.push(entry.path());
            }
        }
    }
}

/// An event in a workspace's activity folder.
fn activity_file(
    tracker: &Tracker,
    id: WorkspaceId,
    rel: &Path,
    path: &Path,
    kind: &EventKind,
    now_ms: i64,
) {
    let Some(name) = rel.to_str().filter(|n| !n.contains('/')) else {
        return;
    };
    if name == INPUT_FILE {
        if !matches!(kind, EventKind::Remove(_)) {
            let raw = read_small(path, 16).unwrap_or_default();
            tracker.record(id, Signal::Input, Some(input_kind(&raw)), now_ms);
        }
    } else if name.starts_with(LEASE_PREFIX) {
        let command = match kind {
            EventKind::Remove(_) => None,
            _ if !path.exists() => None,
            _ => Some(shown_command(&read_small(path, 200).unwrap_or_default())),
        };
        tracker.lease(id, name, command, now_ms);
    }
}

/// At most `max` bytes of a regular file, never through a link.
fn read_small(path: &Path, max: u64) -> Option<String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut out = Vec::new();
    file.take(max).read_to_end(&mut out).ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A keep-alive's command as the container wrote it, made safe to show: one line, no control
/// characters, at most 60 characters.
pub fn shown_command(raw: &str) -> String {
    let line: String = raw
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "berth-keepalive".into()
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_is_dependencies_build_output_and_git_objects() {
        for churn in [
            "node_modules/left-pad/index.js",
            "web/node_modules/x",
            "target/debug/berth",
            ".git/objects/ab/cdef",
            ".git/index.lock",
            "pkg/__pycache__/m.pyc",
        ] {
            assert!(is_churn(Path::new(churn)), "{churn}");
        }
        for work in [
            "src/main.rs",
            ".git/HEAD",
            ".git/refs/heads/main",
            "targets.md",
            "README",
        ] {
            assert!(!is_churn(Path::new(work)), "{work}");
        }
    }

    #[test]
    fn what_the_container_writes_is_never_shown_raw() {
        assert_eq!(input_kind("editor\n"), "editor");
        assert_eq!(input_kind("<script>"), "input");
        assert_eq!(shown_command("sleep 40\nrest"), "sleep 40");
        assert_eq!(shown_command("\u{1b}[31mred\u{7}"), "[31mred");
        assert_eq!(shown_command(""), "berth-keepalive");
        assert_eq!(shown_command(&"x".repeat(500)).len(), 60);
    }
}
