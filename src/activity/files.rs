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
use std::sync::atomic::{AtomicBool, Ordering};
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
/// The file the IDE extension writes on input, and the prefix of keep-alive leases.
pub const INPUT_FILE: &str = "input";
pub const LEASE_PREFIX: &str = "keepalive-";
/// The file Berth writes while a warning is out (when it stops, Unix ms): the IDE extension
/// shows it with Keep running, for whoever uses the IDE in a browser.
pub const WARNING_FILE: &str = "warning";

/// Writes (`Some(stops_at_ms)`) or removes (`None`) the warning file in a workspace's activity
/// folder. The folder is the container's to write: whatever is there by that name (a link to
/// a host file, a FIFO) is removed, never followed, and the file is made anew (`O_EXCL`).
pub fn write_warning(dir: &Path, stops_at_ms: Option<i64>) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(WARNING_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let Some(at) = stops_at_ms else {
        return Ok(());
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .mode(0o644);
    }
    options.open(&path)?.write_all(format!("{at}\n").as_bytes())
}

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

/// Where a workspace's events come from.
struct Roots {
    id: WorkspaceId,
    projects: Vec<PathBuf>,
    activity: PathBuf,
}

/// Where a path lies: in a project (relative path) or the activity folder (file name).
enum Place<'a> {
    Project(&'a Path),
    Activity(&'a Path),
}

impl Roots {
    fn place<'a>(&self, path: &'a Path) -> Option<Place<'a>> {
        if let Ok(rel) = path.strip_prefix(&self.activity) {
            return Some(Place::Activity(rel));
        }
        self.projects
            .iter()
            .find_map(|p| path.strip_prefix(p).ok())
            .map(Place::Project)
    }
}

/// The watches of one running workspace: an inotify instance (a watcher) of its own, so
/// nothing a workspace does to its watches — a folder swapped for a link to another
/// workspace's folder, a flood of new folders — reaches another workspace's.
struct WorkspaceWatch {
    watcher: Mutex<RecommendedWatcher>,
    roots: Arc<Roots>,
    /// Folders watched; at most `cap`.
    watched: Mutex<std::collections::HashSet<PathBuf>>,
    cap: usize,
    capped: AtomicBool,
}

/// Every running workspace's watches.
pub struct FileWatch {
    tracker: Arc<Tracker>,
    now_ms: fn() -> i64,
    workspaces: Mutex<HashMap<WorkspaceId, Arc<WorkspaceWatch>>>,
}

impl FileWatch {
    pub fn new(tracker: Arc<Tracker>, now_ms: fn() -> i64) -> FileWatch {
        FileWatch {
            tracker,
            now_ms,
            workspaces: Mutex::default(),
        }
    }

    /// Watches the project folders and the activity folder of `id` (replacing its watch) —
    /// unless the workspace stopped meanwhile. Walks the projects: call it off the runtime.
    pub fn watch(&self, id: WorkspaceId, projects: &[PathBuf], activity_dir: &Path) {
        let roots = Arc::new(Roots {
            id,
            projects: projects.to_vec(),
            activity: activity_dir.to_path_buf(),
        });
        let made = match WorkspaceWatch::new(roots, self.tracker.clone(), self.now_ms) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(
                    "cannot watch files of a workspace; its file changes will not count: {e}"
                );
                return;
            }
        };
        made.add(activity_dir, RecursiveMode::NonRecursive);
        for p in projects {
            if cfg!(target_os = "linux") {
                made.add_tree(p);
            } else {
                // FSEvents and ReadDirectoryChanges watch a tree with one handle; churn is
                // filtered per event instead.
                made.add(p, RecursiveMode::Recursive);
            }
        }
        let mut all = self.workspaces.lock().expect("file watches");
        if self.tracker.tracks(id) {
            all.insert(id, made);
        }
    }

    /// Ends the watches of `id` (its watcher and its thread go with it).
    pub fn unwatch(&self, id: WorkspaceId) {
        let gone = self.workspaces.lock().expect("file watches").remove(&id);
        drop(gone);
    }
}

impl WorkspaceWatch {
    fn new(
        roots: Arc<Roots>,
        tracker: Arc<Tracker>,
        now_ms: fn() -> i64,
    ) -> notify::Result<Arc<WorkspaceWatch>> {
        // New folders are watched from another thread: a watcher cannot be called from inside
        // its own event handler.
        let (new_dirs, dirs_rx) = mpsc::channel::<PathBuf>();
        let seen = roots.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            // Reads (a language server opening files) are not work.
            if matches!(
                event.kind,
                EventKind::Access(_) | EventKind::Any | EventKind::Other
            ) {
                return;
            }
            let new_folder = matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
            );
            for path in &event.paths {
                match seen.place(path) {
                    Some(Place::Project(rel)) if !is_churn(rel) => {
                        tracker.record(seen.id, Signal::Files, None, now_ms());
                        if cfg!(target_os = "linux") && new_folder && is_real_dir(path) {
                            let _ = new_dirs.send(path.clone());
                        }
                    }
                    Some(Place::Activity(rel)) => {
                        activity_file(&tracker, seen.id, rel, path, &event.kind, now_ms())
                    }
                    _ => {}
                }
            }
        })?;
        let this = Arc::new(WorkspaceWatch {
            watcher: Mutex::new(watcher),
            roots,
            watched: Mutex::default(),
            cap: watch_cap(),
            capped: AtomicBool::new(false),
        });
        // Weak: the thread must not keep the watch alive; it ends with the watcher (whose
        // handler holds the sender).
        let weak = Arc::downgrade(&this);
        std::thread::Builder::new()
            .name("berth-new-folders".into())
            .spawn(move || {
                for dir in dirs_rx {
                    let Some(watch) = weak.upgrade() else { return };
                    watch.add_tree(&dir);
                }
            })
            .map_err(notify::Error::io)?;
        Ok(this)
    }

    fn add(&self, dir: &Path, mode: RecursiveMode) -> bool {
        let mut watched = self.watched.lock().expect("watched");
        if watched.len() >= self.cap {
            if !self.capped.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "watching {} folders of one workspace; changes deeper in go unseen",
                    self.cap
                );
            }
            return false;
        }
        if watched.contains(dir) {
            return true;
        }
        match self.watcher.lock().expect("watcher").watch(dir, mode) {
            Ok(()) => {
                watched.insert(dir.to_path_buf());
                true
            }
            Err(e) => {
                tracing::debug!("cannot watch {}: {e}", dir.display());
                false
            }
        }
    }

    /// Watches `top` and every folder below it that is not churn, without following links:
    /// a folder whose real path leaves its project (a link swapped in) is not watched.
    fn add_tree(&self, top: &Path) {
        let Some(project) = self.roots.projects.iter().find(|p| top.starts_with(p)) else {
            return;
        };
        let Ok(real_project) = std::fs::canonicalize(project) else {
            return;
        };
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let inside =
                std::fs::canonicalize(&dir).is_ok_and(|real| real.starts_with(&real_project));
            if !inside || !self.add(&dir, RecursiveMode::NonRecursive) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let path = entry.path();
                let rel = path.strip_prefix(project).unwrap_or(&path);
                if is_dir && !is_churn(rel) {
                    stack.push(path);
                }
            }
        }
    }
}

/// Folders one workspace may watch: inotify watches count against the user's limit
/// (`fs.inotify.max_user_watches`), which the user's other tools need too.
fn watch_cap() -> usize {
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65_536);
    (limit / 8).clamp(256, 20_000)
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
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
            _ if std::fs::symlink_metadata(path).is_err() => None,
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
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .take(60)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "berth-keepalive".into()
    } else {
        line.to_string()
    }
}

/// Zero-width and bidi formatting characters: they could make a shown command read as
/// something else.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
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
    fn the_warning_replaces_whatever_the_container_left_and_follows_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, dir.path().join(WARNING_FILE)).unwrap();
        write_warning(dir.path(), Some(42)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let warning = dir.path().join(WARNING_FILE);
        assert!(std::fs::symlink_metadata(&warning).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&warning).unwrap(), "42\n");
        write_warning(dir.path(), None).unwrap();
        assert!(!warning.exists());
        write_warning(dir.path(), None).unwrap();
    }

    #[test]
    fn what_the_container_writes_is_never_shown_raw() {
        assert_eq!(input_kind("editor\n"), "editor");
        assert_eq!(input_kind("<script>"), "input");
        assert_eq!(shown_command("sleep 40\nrest"), "sleep 40");
        assert_eq!(shown_command("\u{1b}[31mred\u{7}"), "[31mred");
        assert_eq!(shown_command("make \u{202E}tset"), "make tset");
        assert_eq!(shown_command(""), "berth-keepalive");
        assert_eq!(shown_command(&"x".repeat(500)).len(), 60);
    }
}
