//! Project folders: host paths that get bind-mounted into a workspace. A mount of the wrong
//! folder hands a container the machine, so every path is resolved (symlinks included) and
//! checked when it is added AND again before every start.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Top-level folders that belong to the operating system. Refused themselves and everything
/// below them (`/var/run/docker.sock` and `/var/lib/docker` live there).
#[cfg(unix)]
const SYSTEM_ROOTS: &[&str] = &[
    "/etc", "/usr", "/bin", "/sbin", "/boot", "/dev", "/proc", "/sys", "/var", "/run",
    // macOS keeps /etc and /var under /private and the OS under /System and /Library.
    "/private", "/System", "/Library",
];
#[cfg(windows)]
const SYSTEM_ROOTS: &[&str] = &[
    r"C:\Windows",
    r"C:\Program Files",
    r"C:\Program Files (x86)",
    r"C:\ProgramData",
];

/// Credential folders in the home folder: a project can never be one of them or inside one.
const CREDENTIALS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    // Whole: gcloud, gh, git credentials, rclone, op, ... all keep tokens somewhere in here.
    ".config",
    ".password-store",
];

/// The user's folders a workspace must never reach: passed in so the rules are testable.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// The home folder: refused itself and with everything above it.
    pub home: Option<PathBuf>,
    /// Berth's data dir (database, secrets, the daemon's socket): refused itself, everything
    /// inside it and everything above it — a workspace that reached the daemon's socket could
    /// drive Berth.
    pub data_dir: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`: the session's sockets and keys (the keyring, the session bus, the
    /// SSH agent). Refused itself and everything inside it.
    pub runtime_dir: Option<PathBuf>,
}

impl Protected {
    /// The folders of this user and process: home, `$XDG_RUNTIME_DIR`, and `data_dir`.
    pub fn of_user(data_dir: &Path) -> Protected {
        Protected {
            home: dirs::home_dir(),
            data_dir: Some(data_dir.to_path_buf()),
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }
}

impl Protected {
    /// Whether a file at `path` (canonical) is one of the user's secrets or the system's live
    /// state: inside a credential folder of the home, the data dir, `$XDG_RUNTIME_DIR`, or
    /// `/proc`, `/sys`, `/dev`. Such a file never leaves the host for a workspace, even when
    /// dropped on its IDE (a page elsewhere can make a drag that names one).
    pub fn holds_secret(&self, path: &Path) -> bool {
        let os = std::env::consts::OS;
        let shown = path.to_string_lossy();
        if self
            .home
            .iter()
            .any(|home| credential_of(os, &home.to_string_lossy(), &shown).is_some())
        {
            return true;
        }
        let live: &[&str] = if cfg!(unix) {
            &["/proc", "/sys", "/dev"]
        } else {
            &[]
        };
        self.data_dir
            .iter()
            .cloned()
            .chain(self.runtime_dir.iter().cloned())
            .chain(live.iter().map(PathBuf::from))
            .any(|root| path.starts_with(root))
    }
}

/// Shared scratch folders: everyone's sockets and temporary files live right in them.
#[cfg(unix)]
const SHARED_SCRATCH: &[&str] = &["/tmp"];
#[cfg(not(unix))]
const SHARED_SCRATCH: &[&str] = &[];

/// Checks a project folder and returns its canonical path (the one that gets mounted).
pub fn validate_project_path(raw: &Path, protected: &Protected) -> Result<PathBuf> {
    let shown = raw.display();
    let path_arg = || ("path", raw.display().to_string());
    if raw.as_os_str().is_empty() {
        return Err(Error::invalid("project folder path is empty").keyed("project_empty", []));
    }
    let canonical = std::fs::canonicalize(raw).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::invalid(format!("project folder {shown:?} does not exist"))
                .keyed("project_missing", [path_arg()])
        }
        _ => Error::invalid(format!("project folder {shown:?} cannot be resolved: {e}"))
            .keyed("project_unreadable", [path_arg()]),
    })?;
    let resolved = if canonical.as_path() != raw {
        format!(" (resolves to {:?})", canonical.display())
    } else {
        String::new()
    };
    let refuse = |key: &str, why: &str, root: &str| {
        let args = [
            path_arg(),
            ("resolved", canonical.display().to_string()),
            ("root", root.to_string()),
        ];
        Err(Error::invalid(format!("project folder {shown:?}{resolved} {why}")).keyed(key, args))
    };

    let meta = std::fs::metadata(&canonical).map_err(|e| {
        Error::invalid(format!("project folder {shown:?} cannot be read: {e}"))
            .keyed("project_unreadable", [path_arg()])
    })?;
    if is_socket(&meta) {
        let why = "is a socket; sockets (the Docker socket above all) are never mounted";
        return refuse("project_socket", why, "");
    }
    if !meta.is_dir() {
        return refuse("project_not_folder", "is not a folder", "");
    }
    if canonical.to_str().is_none() {
        let why = "contains characters that are not valid UTF-8";
        return refuse("project_not_utf8", why, "");
    }
    if canonical.parent().is_none() {
        return refuse("project_root", "is the root of the file system", "/");
    }
    // Compared as the platform compares paths (Windows: no verbatim prefix, any case).
    let key = comparable(&canonical);
    if SHARED_SCRATCH.iter().any(|t| canonical == Path::new(t)) {
        let why = "is the shared temporary folder, where other programs keep their sockets; choose a folder inside it";
        return refuse("project_tmp", why, "");
    }
    if let Some(run) = protected.runtime_dir.as_deref().and_then(resolve_key)
        && (key.starts_with(&run) || run.starts_with(&key))
    {
        let why = format!(
            "is or holds the session's runtime folder {} (keyring, session bus and agent sockets)",
            run.display()
        );
        return refuse("project_runtime_dir", &why, &run.display().to_string());
    }
    if let Some(root) = system_root_of(&key) {
        let why = format!("is inside the system folder {root}");
        return refuse("project_system", &why, &root);
    }
    let home = protected.home.as_deref().and_then(resolve_key);
    if let Some(home) = &home {
        if key == *home {
            let why = "is your home folder itself; choose a project folder inside it";
            return refuse("project_home", why, "");
        }
        if home.starts_with(&key) {
            let why = "contains your home folder; choose a project folder inside it";
            return refuse("project_above_home", why, "");
        }
        if let Some(cred) = credential_of(
            std::env::consts::OS,
            &home.to_string_lossy(),
            &key.to_string_lossy(),
        ) {
            let why = format!("is inside {cred}, where credentials live");
            return refuse("project_credentials", &why, &cred);
        }
    }
    if let Some(data) = protected.data_dir.as_deref().and_then(resolve_key)
        && (key.starts_with(&data) || data.starts_with(&key))
    {
        let why = format!(
            "holds or is inside Berth's data folder {} (its database and the daemon's socket)",
            data.display()
        );
        return refuse("project_data_dir", &why, &data.display().to_string());
    }
    if let Some(sock) = socket_in(&canonical) {
        let why = format!(
            "holds the socket {}; a container could talk to whatever listens there",
            sock.display()
        );
        return refuse("project_holds_socket", &why, &sock.display().to_string());
    }
    Ok(canonical)
}

/// A socket directly in `dir`, if any (not deeper: a project's own tree is its business, and
/// reading it all at every start would be slow).
fn socket_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .find(|e| e.file_type().is_ok_and(|t| is_socket_type(&t)))
        .map(|e| e.path())
}

fn system_root_of(path: &Path) -> Option<String> {
    if let Some(root) = SYSTEM_ROOTS
        .iter()
        .find(|root| path.starts_with(comparable(Path::new(root))))
    {
        return Some(root.to_string());
    }
    // `/lib`, `/lib32`, `/lib64`, `/libx32`, ...: every top-level lib* folder.
    #[cfg(unix)]
    {
        let mut parts = path.components().skip(1);
        if let Some(first) = parts.next()
            && first.as_os_str().to_string_lossy().starts_with("lib")
        {
            return Some(format!("/{}", first.as_os_str().to_string_lossy()));
        }
    }
    None
}

fn is_socket(meta: &std::fs::Metadata) -> bool {
    is_socket_type(&meta.file_type())
}

#[cfg(unix)]
fn is_socket_type(t: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    t.is_socket()
}

#[cfg(not(unix))]
fn is_socket_type(_t: &std::fs::FileType) -> bool {
    false
}

/// A folder's identity on its file system (device + inode): a path can name another folder
/// later, an identity cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderId {
    pub dev: u64,
    pub ino: u64,
}

impl FolderId {
    /// `None` where Berth reads no stable identity (Windows: not recorded, see the README).
    pub fn of(path: &Path) -> Option<FolderId> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path).ok()?;
            Some(FolderId {
                dev: meta.dev(),
                ino: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

/// Checks that the recorded project folder `path` (canonical when it was added) is still that
/// folder: not replaced by a symbolic link (itself or a folder above it), and with the same
/// identity as `recorded`. Returns the identity it has now.
pub fn check_same_folder(path: &Path, recorded: Option<FolderId>) -> Result<Option<FolderId>> {
    let shown = path.display();
    let args = || [("path", path.display().to_string())];
    let moved = |why: String| Err(Error::invalid(why).keyed("project_replaced", args()));
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return moved(format!(
            "project folder {shown:?} was replaced by a symbolic link since it was added; Berth does not follow it (recreate the workspace if the move was yours)"
        ));
    }
    match std::fs::canonicalize(path) {
        Ok(now) if comparable(&now) != comparable(path) => {
            return moved(format!(
                "project folder {shown:?} now resolves to {:?}: a folder above it was replaced by a symbolic link; Berth does not follow it",
                now.display()
            ));
        }
        _ => {}
    }
    let now = FolderId::of(path);
    if let (Some(was), Some(is)) = (recorded, now)
        && was != is
    {
        return moved(format!(
            "project folder {shown:?} is not the folder it was when it was added (another folder was put in its place); Berth does not mount it (recreate the workspace if the change was yours)"
        ));
    }
    Ok(now)
}

/// `path` resolved (symlinks followed) in the form the platform compares paths in.
fn resolve_key(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().map(|p| comparable(&p))
}

fn comparable(path: &Path) -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(windows_key(&path.to_string_lossy()))
    } else {
        path.to_path_buf()
    }
}

/// A path as Windows compares it: [`windows_plain`], `/` as `\`, case-folded. `canonicalize`
/// adds the verbatim prefix; the user's settings and `%USERPROFILE%` do not, so comparisons
/// use this form.
pub fn windows_key(path: &str) -> String {
    windows_plain(path).replace('/', r"\").to_lowercase()
}

/// A Windows path without the `\\?\` verbatim prefix `canonicalize` adds (`\\?\UNC\srv\x`
/// becomes `\\srv\x`), its drive letter upper-cased, its case otherwise kept: the form every
/// client hashes a data dir in, and the one Docker Desktop takes as a bind source.
pub fn windows_plain(path: &str) -> String {
    let mut plain = if let Some(unc) = path.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{unc}")
    } else {
        path.strip_prefix(r"\\?\").unwrap_or(path).to_string()
    };
    // A ':' second means the first byte is one ASCII character: slicing it is safe.
    if plain.as_bytes().get(1) == Some(&b':') {
        plain[..1].make_ascii_uppercase();
    }
    plain
}

/// The credential folder of `home` that `path` is or is inside, on `os`, as it is shown:
/// compared the way `os` compares paths (Windows: no verbatim prefix, any case — a
/// `C:\Users\Ann\AppData` folder is `c:\users\ann\appdata` there), whole components only.
pub fn credential_of(os: &str, home: &str, path: &str) -> Option<String> {
    credential_folders(os).into_iter().find_map(|c| {
        if os == "windows" {
            let cred = windows_key(&format!(r"{home}\{c}"));
            let path = windows_key(path);
            (path == cred || path.starts_with(&format!(r"{cred}\"))).then_some(cred)
        } else {
            let cred = Path::new(home).join(c);
            Path::new(path)
                .starts_with(&cred)
                .then(|| cred.display().to_string())
        }
    })
}

/// Credential folders in the home folder on `os` (`std::env::consts::OS`): the common ones,
/// and where macOS and Windows keep every app's secrets — keychains, browser profiles,
/// credential caches, and Berth's own data dir.
pub fn credential_folders(os: &str) -> Vec<&'static str> {
    let mut folders = CREDENTIALS.to_vec();
    match os {
        "macos" => folders.push("Library"),
        "windows" => folders.push("AppData"),
        _ => {}
    }
    folders
}

/// The folder name a project is mounted under (`/workspace/<name>`).
pub fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".to_string())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn with_home(home: Option<&Path>) -> Protected {
        Protected {
            home: home.map(Path::to_path_buf),
            ..Protected::default()
        }
    }

    fn msg(path: &Path, home: Option<&Path>) -> String {
        validate_project_path(path, &with_home(home))
            .unwrap_err()
            .message
    }

    #[test]
    fn accepts_a_folder_with_awkward_characters() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("my project: v1, final");
        std::fs::create_dir(&odd).unwrap();
        let ok = validate_project_path(&odd, &Protected::default()).unwrap();
        assert_eq!(ok, std::fs::canonicalize(&odd).unwrap());
    }

    #[test]
    fn refuses_missing_files_root_and_system_folders() {
        let dir = tempfile::tempdir().unwrap();
        assert!(msg(&dir.path().join("nope"), None).contains("does not exist"));
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(msg(&file, None).contains("not a folder"));
        assert!(msg(Path::new("/"), None).contains("root of the file system"));
        for sys in ["/etc", "/usr/share", "/var", "/proc", "/lib", "/dev"] {
            if Path::new(sys).exists() {
                assert!(msg(Path::new(sys), None).contains("system folder"), "{sys}");
            }
        }
    }

    #[test]
    fn refuses_symlinks_into_forbidden_places_and_the_home_folder() {
        let dir = tempfile::tempdir().unwrap();
        let to_root = dir.path().join("root-link");
        std::os::unix::fs::symlink("/", &to_root).unwrap();
        let m = msg(&to_root, None);
        assert!(m.contains("resolves to \"/\"") && m.contains("root"), "{m}");
        let to_etc = dir.path().join("etc-link");
        std::os::unix::fs::symlink("/etc", &to_etc).unwrap();
        assert!(msg(&to_etc, None).contains("system folder /etc"));
        assert!(msg(dir.path(), Some(dir.path())).contains("home folder"));
        // A folder inside home is fine.
        let inside = dir.path().join("code");
        std::fs::create_dir(&inside).unwrap();
        assert!(validate_project_path(&inside, &with_home(Some(dir.path()))).is_ok());
        // Above home is refused too: it holds home.
        let home = inside.join("me");
        std::fs::create_dir(&home).unwrap();
        assert!(msg(&inside, Some(&home)).contains("contains your home folder"));
    }

    #[test]
    fn refuses_credential_folders_berths_data_and_folders_holding_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        for cred in [
            ".ssh/keys",
            ".config/gcloud",
            ".config",
            ".docker",
            ".gnupg",
            ".aws",
            ".kube",
        ] {
            std::fs::create_dir_all(home.join(cred)).unwrap();
            assert!(
                msg(&home.join(cred), Some(&home)).contains("where credentials live"),
                "{cred}"
            );
        }
        let data = home.join(".local/share/berth");
        let project = home.join("code");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        let protected = Protected {
            home: Some(home.clone()),
            data_dir: Some(data.clone()),
            runtime_dir: None,
        };
        for bad in [data.clone(), data.join("sub"), home.join(".local")] {
            let m = validate_project_path(&bad, &protected).unwrap_err().message;
            assert!(m.contains("Berth's data folder"), "{}: {m}", bad.display());
        }
        assert!(validate_project_path(&project, &protected).is_ok());
        let _listener = std::os::unix::net::UnixListener::bind(project.join("agent.sock")).unwrap();
        let m = validate_project_path(&project, &protected)
            .unwrap_err()
            .message;
        assert!(m.contains("holds the socket"), "{m}");
    }

    #[test]
    fn refuses_sockets_and_links_to_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(msg(&sock, None).contains("socket"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        assert!(msg(&link, None).contains("socket"));
    }

    #[test]
    fn refuses_the_shared_tmp_and_the_session_runtime_folder() {
        assert!(msg(Path::new("/tmp"), None).contains("shared temporary folder"));
        let inside_tmp = tempfile::tempdir().unwrap();
        assert!(validate_project_path(inside_tmp.path(), &Protected::default()).is_ok());
        let run = inside_tmp.path().join("run-user");
        std::fs::create_dir_all(run.join("keyring")).unwrap();
        let protected = Protected {
            runtime_dir: Some(run.clone()),
            ..Protected::default()
        };
        for bad in [run.clone(), run.join("keyring")] {
            let m = validate_project_path(&bad, &protected).unwrap_err().message;
            assert!(m.contains("runtime folder"), "{m}");
        }
    }

    #[test]
    fn a_folder_swapped_for_a_link_or_another_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let project = std::fs::canonicalize(dir.path()).unwrap().join("app");
        std::fs::create_dir(&project).unwrap();
        let id = check_same_folder(&project, None).unwrap();
        assert!(id.is_some());
        assert_eq!(check_same_folder(&project, id).unwrap(), id);

        // Swapped for another folder of the same name.
        std::fs::rename(&project, project.with_file_name("old-app")).unwrap();
        std::fs::create_dir(&project).unwrap();
        let m = check_same_folder(&project, id).unwrap_err().message;
        assert!(m.contains("not the folder it was"), "{m}");

        // Swapped for a symbolic link (to the very folder it was, even).
        std::fs::remove_dir(&project).unwrap();
        std::os::unix::fs::symlink(project.with_file_name("old-app"), &project).unwrap();
        let m = check_same_folder(&project, id).unwrap_err().message;
        assert!(m.contains("symbolic link"), "{m}");

        // A folder above it swapped for a link.
        let parent = std::fs::canonicalize(dir.path()).unwrap().join("parent");
        std::fs::create_dir_all(parent.join("x")).unwrap();
        let inner = parent.join("x");
        let inner_id = check_same_folder(&inner, None).unwrap();
        std::fs::rename(&parent, dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &parent).unwrap();
        let m = check_same_folder(&inner, inner_id).unwrap_err().message;
        assert!(m.contains("now resolves to"), "{m}");
    }

    #[test]
    fn windows_paths_compare_without_the_verbatim_prefix_and_case() {
        assert_eq!(windows_key(r"\\?\C:\Users\Ann"), r"c:\users\ann");
        assert_eq!(windows_key("C:/Users/ann"), r"c:\users\ann");
        assert_eq!(windows_key(r"\\?\UNC\srv\share\x"), r"\\srv\share\x");
        assert_eq!(
            windows_key(r"\\?\C:\Users\Ann"),
            windows_key(r"c:\USERS\ann")
        );
    }

    #[test]
    fn windows_paths_lose_the_verbatim_prefix_and_keep_their_case() {
        assert_eq!(windows_plain(r"\\?\c:\Users\Ann"), r"C:\Users\Ann");
        assert_eq!(windows_plain(r"\\?\UNC\srv\Share\x"), r"\\srv\Share\x");
        assert_eq!(windows_plain(r"D:\Work"), r"D:\Work");
        assert_eq!(windows_plain("relative"), "relative");
        assert_eq!(windows_plain("é:"), "é:");
    }

    #[test]
    fn each_systems_secret_folders_are_refused() {
        let linux = credential_folders("linux");
        assert!(linux.contains(&".ssh") && linux.contains(&".config"));
        assert!(!linux.contains(&"Library") && !linux.contains(&"AppData"));
        assert!(credential_folders("macos").contains(&"Library"));
        let windows = credential_folders("windows");
        assert!(windows.contains(&"AppData") && windows.contains(&".ssh"));

        let home = r"C:\Users\Ann";
        for inside in [
            r"\\?\C:\Users\Ann\AppData\Roaming\x",
            r"c:\users\ann\appdata",
            r"C:/Users/Ann/.ssh",
        ] {
            assert!(credential_of("windows", home, inside).is_some(), "{inside}");
        }
        assert_eq!(
            credential_of("windows", home, r"C:\Users\Ann\AppDataX"),
            None
        );
        assert_eq!(credential_of("windows", home, r"C:\Users\Ann\src"), None);
        assert_eq!(
            credential_of("macos", "/Users/ann", "/Users/ann/Library/Keychains").as_deref(),
            Some("/Users/ann/Library")
        );
        assert_eq!(
            credential_of("linux", "/home/ann", "/home/ann/Library"),
            None
        );
        assert_eq!(
            credential_of("linux", "/home/ann", "/home/ann/.ssh/id").as_deref(),
            Some("/home/ann/.ssh")
        );
        assert_eq!(credential_of("linux", "/home/ann", "/home/ann/.sshx"), None);
    }
}
