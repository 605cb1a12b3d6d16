//! A preview's snapshot: the workspace's project folders as they are at one moment, as a tar
//! stream (Docker unpacks it into the preview's volume, or builds from it). `.gitignore` and
//! `.dockerignore` are honoured the way git and docker read them (ripgrep's `ignore` walker),
//! dependency and build churn (`node_modules`, `target`, ...) is left out unless asked for,
//! symlinks stay links (never followed: a link to `~/.ssh` copies nothing), and sockets,
//! pipes and devices are skipped.

use crate::error::{Code, Error, Result};
use bytes::Bytes;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Folders of dependencies and build output: large, rebuilt from the sources, and changing
/// all the time. `.git` is never copied.
pub const CHURN: &[&str] = &[
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".cache",
    ".gradle",
    ".next",
    ".tox",
];

/// What goes into the snapshot.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Host folder and the name it gets in the archive (`app` → `app/...`).
    pub roots: Vec<(PathBuf, String)>,
    /// Copy [`CHURN`] folders too.
    pub with_deps: bool,
    /// Owner of every entry (the user the container runs as); `None`: root (Docker Desktop
    /// maps ownership itself).
    pub owner: Option<(u64, u64)>,
    /// At most this many bytes and files ([`MAX_BYTES`], [`MAX_FILES`]).
    pub max: (u64, u64),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    pub files: u64,
    pub bytes: u64,
}

/// Whether a folder named `name` is left out.
pub fn skipped_dir(name: &str, with_deps: bool) -> bool {
    name == ".git" || (!with_deps && CHURN.contains(&name))
}

/// Writes the snapshot of `spec` as an uncompressed tar into `out`.
pub fn write_tar(spec: &Spec, out: impl Write) -> Result<Taken> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut taken = Taken::default();
    for (root, name) in &spec.roots {
        append_root(&mut tar, spec, root, name, &mut taken)?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| snapshot_error(Path::new(""), e))?;
    Ok(taken)
}

/// A snapshot larger than this is refused (a `.dockerignore` keeps what the app does not
/// need out), so a project cannot fill the disk through its preview.
pub const MAX_BYTES: u64 = 4 << 30;
pub const MAX_FILES: u64 = 200_000;

fn append_root<W: Write>(
    tar: &mut tar::Builder<W>,
    spec: &Spec,
    root: &Path,
    name: &str,
    taken: &mut Taken,
) -> Result<()> {
    // Every read goes through this handle on the project folder: a path whose folders a
    // workspace swaps for a symlink while Berth walks (`x` → `~/.ssh`) cannot lead out of it.
    let folder = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
        .map_err(|e| snapshot_error(root, e))?;
    let with_deps = spec.with_deps;
    let walk = ignore::WalkBuilder::new(root)
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        // A project need not be a git repository for its .gitignore to count.
        .require_git(false)
        .add_custom_ignore_filename(".dockerignore")
        .follow_links(false)
        .filter_entry(move |e| {
            !(e.file_type().is_some_and(|t| t.is_dir())
                && e.depth() > 0
                && skipped_dir(&e.file_name().to_string_lossy(), with_deps))
        })
        .build();
    for entry in walk {
        let entry = entry.map_err(|e| {
            Error::new(
                Code::Io,
                format!("cannot read the project {}: {e}", root.display()),
            )
        })?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(path);
        let archived = Path::new(name).join(rel);
        if rel.as_os_str().is_empty() {
            append_dir(tar, spec, &archived, 0o755)?;
            continue;
        }
        let meta = match folder.symlink_metadata(rel) {
            Ok(m) => m,
            // Deleted while we walked: it is not part of this moment any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(snapshot_error(path, e)),
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            append_dir(tar, spec, &archived, mode_of(&meta))?;
        } else if kind.is_symlink() {
            // The link as it is (its target is read, never followed).
            let target = folder
                .read_link_contents(rel)
                .map_err(|e| snapshot_error(path, e))?;
            let mut header = header(spec, tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut header, &archived, target)
                .map_err(|e| snapshot_error(path, e))?;
        } else if kind.is_file() {
            append_file(tar, spec, &folder, rel, &archived, taken)?;
        }
        // Sockets, pipes, devices: nothing an app's files are made of.
    }
    Ok(())
}

fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    spec: &Spec,
    archived: &Path,
    mode: u32,
) -> Result<()> {
    let mut header = header(spec, tar::EntryType::Directory, mode, 0);
    tar.append_data(&mut header, archived, std::io::empty())
        .map_err(|e| snapshot_error(archived, e))
}

/// A regular file, opened through the project's handle without following a last-moment
/// symlink, without blocking on a pipe swapped in, and checked on the handle itself.
fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    spec: &Spec,
    folder: &cap_std::fs::Dir,
    rel: &Path,
    archived: &Path,
    taken: &mut Taken,
) -> Result<()> {
    let file = match open_in(folder, rel) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(snapshot_error(archived, e)),
    };
    let meta = file.metadata().map_err(|e| snapshot_error(archived, e))?;
    if !meta.is_file() {
        return Ok(());
    }
    let len = meta.len();
    taken.files += 1;
    taken.bytes += len;
    let (max_bytes, max_files) = spec.max;
    if taken.bytes > max_bytes || taken.files > max_files {
        return Err(Error::invalid(format!(
            "the project is larger than a preview takes ({max_files} files, {} MiB at most); leave out what the app does not need with a .dockerignore",
            max_bytes >> 20
        ))
        .keyed("preview_too_large", []));
    }
    let mut header = header(spec, tar::EntryType::Regular, mode_of(&meta), len);
    header.set_mtime(mtime(&meta));
    // Exactly `len` bytes whatever happens to the file meanwhile: one that shrank is padded,
    // one that grew is cut, so its contents can never read as the archive's next entries.
    tar.append_data(&mut header, archived, exactly(file, len))
        .map_err(|e| snapshot_error(archived, e))
}

/// `len` bytes of `body`: cut if it has more, padded with zeros if it has fewer.
fn exactly(body: impl std::io::Read, len: u64) -> impl std::io::Read {
    use std::io::Read;
    body.take(len).chain(std::io::repeat(0)).take(len)
}

fn header(spec: &Spec, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    let (uid, gid) = spec.owner.unwrap_or((0, 0));
    header.set_uid(uid);
    header.set_gid(gid);
    header
}

/// Opens `rel` under `folder` for reading: never through a link at its last step, never
/// waiting on a pipe (a workspace may swap either in).
fn open_in(folder: &cap_std::fs::Dir, rel: &Path) -> std::io::Result<cap_std::fs::File> {
    let mut options = cap_std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use cap_std::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    folder.open_with(rel, &options)
}

#[cfg(unix)]
fn mode_of(meta: &cap_std::fs::Metadata) -> u32 {
    use cap_std::fs::MetadataExt;
    meta.mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &cap_std::fs::Metadata) -> u32 {
    if meta.is_dir() { 0o755 } else { 0o644 }
}

fn mtime(meta: &cap_std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn snapshot_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        Code::Io,
        format!(
            "cannot snapshot {}: {e} (did it change while Berth copied it? try again)",
            path.display()
        ),
    )
}

/// Sends what is written in chunks over a channel (the tar is made on a blocking thread while
/// Docker reads it).
struct Chunks {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "Docker stopped reading")
        })
    }
}

/// The snapshot as a stream of tar chunks, made on a blocking thread; the handle says how it
/// went (a stream that ended early is an error there, never a silently short snapshot).
pub fn stream(
    spec: Spec,
) -> (
    impl futures_util::Stream<Item = Bytes> + Send + 'static,
    tokio::task::JoinHandle<Result<Taken>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let made = tokio::task::spawn_blocking(move || {
        write_tar(
            &spec,
            Chunks {
                tx,
                buf: Vec::with_capacity(CHUNK),
            },
        )
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (chunks, made)
}

/// The first 64 KiB of the project's Dockerfile (enough for its `EXPOSE`), read like a
/// snapshot's file: a regular file in the project, never a link, a pipe or a device.
pub fn read_dockerfile(project: &Path) -> Result<String> {
    let path = project.join("Dockerfile");
    let file = cap_std::fs::Dir::open_ambient_dir(project, cap_std::ambient_authority())
        .and_then(|dir| open_in(&dir, Path::new("Dockerfile")))
        .map_err(|e| snapshot_error(&path, e))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Error::invalid(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 64 * 1024), &mut text)
        .map_err(|e| snapshot_error(&path, e))?;
    Ok(text)
}

/// Whether the first project has a Dockerfile (a regular file, not a link out of it).
pub fn has_dockerfile(project: &Path) -> bool {
    std::fs::symlink_metadata(project.join("Dockerfile")).is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &Spec) -> Vec<String> {
        let mut out = Vec::new();
        write_tar(spec, &mut out).unwrap();
        let mut names: Vec<String> = tar::Archive::new(out.as_slice())
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                e.path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (file, body) in [
            ("index.html", "v1"),
            (".gitignore", "secret.txt\n/build/\n"),
            (".dockerignore", "*.log\n"),
            ("secret.txt", "no"),
            ("app.log", "no"),
            ("build/out.js", "no"),
            ("node_modules/x/index.js", "dep"),
            ("target/debug/app", "build"),
            (".venv/bin/python", "venv"),
            ("src/__pycache__/m.pyc", "cache"),
            (".next/cache/x", "next"),
            ("src/main.js", "code"),
            (".git/HEAD", "ref"),
            (".env", "A=1"),
        ] {
            let path = p.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        dir
    }

    #[test]
    fn ignored_files_churn_and_git_stay_out() {
        let dir = project();
        let spec = Spec {
            roots: vec![(dir.path().to_path_buf(), "app".into())],
            with_deps: false,
            owner: Some((1234, 1234)),
            max: (MAX_BYTES, MAX_FILES),
        };
        assert_eq!(
            names(&spec),
            [
                "app",
                "app/.dockerignore",
                "app/.env",
                "app/.gitignore",
                "app/index.html",
                "app/src",
                "app/src/main.js"
            ]
        );
        let with_deps = Spec {
            with_deps: true,
            ..spec
        };
        let all = names(&with_deps);
        for dep in [
            "node_modules/x/index.js",
            "target/debug/app",
            ".venv/bin/python",
        ] {
            assert!(all.contains(&format!("app/{dep}")), "{dep} with deps");
        }
        assert!(
            !all.iter()
                .any(|n| n.starts_with("app/.git/") || n == "app/secret.txt")
        );
    }

    #[test]
    fn links_stay_links_and_owners_are_the_containers_user() {
        let dir = project();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "private").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), dir.path().join("key")).unwrap();
        let spec = Spec {
            roots: vec![(dir.path().to_path_buf(), "app".into())],
            with_deps: false,
            owner: Some((1234, 4321)),
            max: (MAX_BYTES, MAX_FILES),
        };
        let mut out = Vec::new();
        let taken = write_tar(&spec, &mut out).unwrap();
        assert_eq!(taken.files, 5, "the link is not a file");
        let mut archive = tar::Archive::new(out.as_slice());
        for entry in archive.entries().unwrap() {
            let mut e = entry.unwrap();
            assert_eq!(
                (e.header().uid().unwrap(), e.header().gid().unwrap()),
                (1234, 4321)
            );
            if e.path().unwrap().ends_with("key") {
                assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
                let mut body = String::new();
                std::io::Read::read_to_string(&mut e, &mut body).unwrap();
                assert!(body.is_empty(), "the link's target is not copied");
            }
        }
    }

    /// The walker listed `x/id_rsa` while `x` was a folder; the workspace then swapped `x` for
    /// a link to a folder outside. Reading it must not leave the project.
    #[cfg(unix)]
    #[test]
    fn a_path_through_a_swapped_in_link_reads_nothing_outside() {
        let dir = project();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "private").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("x")).unwrap();
        let spec = Spec {
            roots: vec![(dir.path().to_path_buf(), "app".into())],
            with_deps: false,
            owner: None,
            max: (MAX_BYTES, MAX_FILES),
        };
        let folder =
            cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let mut out = Vec::new();
        let mut tar = tar::Builder::new(&mut out);
        let mut taken = Taken::default();
        let read = append_file(
            &mut tar,
            &spec,
            &folder,
            Path::new("x/id_rsa"),
            Path::new("app/x/id_rsa"),
            &mut taken,
        );
        assert!(read.is_err(), "the path left the project");
        drop(tar);
        assert!(!String::from_utf8_lossy(&out).contains("private"));
        // Nor a link as the file itself.
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), dir.path().join("key")).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let read = append_file(
            &mut tar,
            &spec,
            &folder,
            Path::new("key"),
            Path::new("app/key"),
            &mut taken,
        );
        assert!(read.is_err() || taken.files == 0);
        assert!(!String::from_utf8_lossy(&tar.into_inner().unwrap()).contains("private"));
    }

    #[test]
    fn a_file_that_changes_size_while_copied_keeps_its_header_size() {
        use std::io::Read;
        let mut shrunk = Vec::new();
        exactly(&b"ab"[..], 5).read_to_end(&mut shrunk).unwrap();
        assert_eq!(shrunk, b"ab\0\0\0");
        let mut grown = Vec::new();
        exactly(&b"abcdefgh"[..], 5)
            .read_to_end(&mut grown)
            .unwrap();
        assert_eq!(grown, b"abcde");
    }

    #[cfg(unix)]
    #[test]
    fn folder_links_stay_links_and_sockets_and_pipes_are_skipped() {
        let dir = project();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "private").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("ssh")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("app.sock")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let spec = Spec {
            roots: vec![(dir.path().to_path_buf(), "app".into())],
            with_deps: false,
            owner: None,
            max: (MAX_BYTES, MAX_FILES),
        };
        let mut out = Vec::new();
        write_tar(&spec, &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let e = entry.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            if path == "app/ssh" {
                assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
            }
            seen.push(path);
        }
        assert!(seen.contains(&"app/ssh".to_string()));
        assert!(
            !seen
                .iter()
                .any(|p| p.contains("id_rsa") || p.contains("app.sock") || p.ends_with("pipe")),
            "{seen:?}"
        );
        assert!(!String::from_utf8_lossy(&out).contains("private"));
    }

    #[test]
    fn a_project_over_the_limit_is_refused_with_a_way_out() {
        let dir = project();
        let spec = Spec {
            roots: vec![(dir.path().to_path_buf(), "app".into())],
            with_deps: false,
            owner: None,
            max: (MAX_BYTES, 2),
        };
        let err = write_tar(&spec, std::io::sink()).unwrap_err();
        assert!(err.message.contains(".dockerignore"), "{}", err.message);
        let small = Spec {
            max: (3, MAX_FILES),
            ..spec
        };
        assert!(write_tar(&small, std::io::sink()).is_err());
    }

    #[tokio::test]
    async fn the_stream_carries_the_whole_archive() {
        use futures_util::StreamExt;
        let dir = project();
        let spec = Spec {
            roots: vec![(dir.path().to_path_buf(), "app".into())],
            with_deps: true,
            owner: None,
            max: (MAX_BYTES, MAX_FILES),
        };
        let mut direct = Vec::new();
        write_tar(&spec, &mut direct).unwrap();
        let (chunks, made) = stream(spec);
        let streamed: Vec<u8> = chunks.map(|b| b.to_vec()).concat().await;
        assert_eq!(made.await.unwrap().unwrap().files, 10);
        assert_eq!(streamed, direct);
    }

    #[test]
    fn a_dockerfile_must_be_a_file_in_the_project() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_dockerfile(dir.path()));
        std::fs::write(dir.path().join("Dockerfile"), "FROM x").unwrap();
        assert!(has_dockerfile(dir.path()));
    }
}
