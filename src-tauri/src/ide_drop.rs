//! Files dropped on an IDE window from another program reach the page (Linux).
//!
//! WebKitGTK 2.50 no longer gives a page the files of a drop: `dataTransfer.files` stays empty
//! on every port but Apple's since CVE-2025-13947 (a page could write a uri-list of its own
//! naming any file). So VS Code's explorer, which uploads what is dropped on it, would get
//! nothing. Berth hands the files over itself, for a drop the user really made from another
//! program only: GTK tells the app the dropped `file://` URIs, Berth reads those regular files
//! (at most [`MAX_FILES`], [`MAX_BYTES`] in all) and replays the drop in the page with them,
//! as a browser would have delivered it — and WebKit's own drop, which would tell the page
//! the files' paths on the host, does not happen. A drag that starts inside the window
//! itself (the page chose its uri-list) is never read. WKWebView (macOS) and WebView2 (Windows) deliver
//! dropped files to the page themselves.

use base64::Engine as _;
use berth::model::Protected;
use std::path::{Path, PathBuf};

/// At most this many files per drop.
pub const MAX_FILES: usize = 100;
/// At most this many bytes per drop, all files together (they travel into the page).
pub const MAX_BYTES: u64 = 32 << 20;

/// A dropped file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The local files named by `uris` (a drop's `text/uri-list`), read: regular files only,
/// reached without a symbolic link anywhere in their path (a hostile workspace can plant a
/// link in a project folder that points at a key), never one of the user's secrets
/// (`Protected::holds_secret`), within the limits. Folders, links and anything else are
/// skipped; an error says what was too much or refused.
pub fn read_dropped(uris: &[String], protected: &Protected) -> Result<Vec<Dropped>, String> {
    let paths = local_files(uris);
    if paths.len() > MAX_FILES {
        return Err(format!(
            "{} files dropped; Berth passes at most {MAX_FILES} at once",
            paths.len()
        ));
    }
    let mut budget = MAX_BYTES;
    let mut files = Vec::new();
    for path in paths {
        if std::fs::canonicalize(&path).ok().as_ref() != Some(&path) {
            continue;
        }
        if protected.holds_secret(&path) {
            return Err(format!(
                "{} is one of your secrets or the system's; Berth does not hand it to a workspace",
                path.display()
            ));
        }
        let Some(bytes) = read_regular(&path, budget)? else {
            continue;
        };
        budget -= bytes.len() as u64;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        files.push(Dropped { name, bytes });
    }
    Ok(files)
}

/// The `file://` URIs among `uris`, as paths.
fn local_files(uris: &[String]) -> Vec<PathBuf> {
    uris.iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .filter(|u| u.scheme() == "file")
        .filter_map(|u| u.to_file_path().ok())
        .collect()
}

/// The content of `path` if it is a regular file (checked on the opened file, which a link
/// or a swapped-in FIFO cannot be: no-follow, non-blocking), at most `budget` bytes.
fn read_regular(path: &Path, budget: u64) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let Ok(file) = options.open(path) else {
        return Ok(None);
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(budget + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > budget {
        return Err(format!(
            "more than {} MiB dropped; Berth passes at most that at once (copy larger files into a project folder)",
            MAX_BYTES >> 20
        ));
    }
    Ok(Some(bytes))
}

/// The script that replays a drop at (`x`, `y`) of the page with `files`: `dragenter`,
/// `dragover` and `drop` on the element there, carrying a `DataTransfer` that holds them.
pub fn replay_script(files: &[Dropped], x: i32, y: i32) -> String {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name,
                "data": base64::engine::general_purpose::STANDARD.encode(&f.bytes),
            })
        })
        .collect();
    format!(
        r#"(() => {{
  const files = {files}.map((f) => new File([Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0))], f.name));
  const x = {x}, y = {y};
  const target = document.elementFromPoint(x, y) || document.body;
  const data = new DataTransfer();
  for (const file of files) {{
    const item = data.items.add(file);
    // WebKit roots the entry of a File made here at a host path it does not have ("Path does
    // not exist"); the page gets the entry a browser gives for a dropped file instead.
    const entry = {{ isFile: true, isDirectory: false, name: file.name, fullPath: "/" + file.name, file: (ok) => ok(file) }};
    Object.defineProperty(item, "webkitGetAsEntry", {{ value: () => entry }});
  }}
  for (const type of ["dragenter", "dragover", "drop"]) {{
    const init = {{ bubbles: true, cancelable: true, composed: true, clientX: x, clientY: y, dataTransfer: data }};
    target.dispatchEvent(new DragEvent(type, init));
  }}
}})()"#,
        files = serde_json::Value::Array(files)
    )
}

/// Hands files dropped from another program to the page of `webview` (see the module).
#[cfg(target_os = "linux")]
pub fn attach(webview: &webkit2gtk::WebView, protected: Protected) {
    use gtk::prelude::{DragContextExtManual, WidgetExt};
    use std::cell::RefCell;
    use std::rc::Rc;
    use webkit2gtk::WebViewExt;

    // WebKit asks for the drag's data while it moves over the page (once per type it
    // wants); the drop comes after. Kept with the drag it belongs to.
    type Offered = Option<(gtk::gdk::DragContext, Vec<String>)>;
    let pending: Rc<RefCell<Offered>> = Rc::default();
    webview.connect_drag_data_received({
        let pending = pending.clone();
        move |_, context, _, _, selection, _, _| {
            if selection.target().name() != "text/uri-list" {
                return;
            }
            let uris = selection.uris().iter().map(|u| u.to_string()).collect();
            *pending.borrow_mut() = Some((context.clone(), uris));
        }
    });
    webview.connect_drag_drop(move |webview, context, x, y, time| {
        let uris = match pending.borrow_mut().take() {
            Some((of, uris)) if &of == context => uris,
            _ => return false,
        };
        // From inside this app (the page's own drag: its uri-list is the page's word), or no
        // local file (a link, text): WebKit's drop, as it is.
        if context.drag_get_source_widget().is_some() || local_files(&uris).is_empty() {
            return false;
        }
        // Files: the page gets them from the replay only. WebKit's own drop would hand it
        // the host paths instead (VS Code tries to open those and fails), so it never runs.
        let ok = match read_dropped(&uris, &protected) {
            Ok(files) => {
                let script = replay_script(&files, x, y);
                webview.evaluate_javascript(
                    &script,
                    None,
                    None,
                    None::<&gtk::gio::Cancellable>,
                    |_| {},
                );
                !files.is_empty()
            }
            Err(e) => {
                eprintln!("berth: drop not passed to the IDE: {e}");
                false
            }
        };
        context.drag_finish(ok, false, time);
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_local_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes é.txt");
        std::fs::write(&file, "hello").unwrap();
        let uris = [
            url::Url::from_file_path(&file).unwrap().to_string(),
            url::Url::from_directory_path(dir.path())
                .unwrap()
                .to_string(),
            "https://example.org/x.txt".to_string(),
            "file:///nonexistent/berth".to_string(),
            "not a uri".to_string(),
        ];
        let read = read_dropped(&uris, &Protected::default()).unwrap();
        assert_eq!(
            read,
            vec![Dropped {
                name: "notes é.txt".into(),
                bytes: b"hello".to_vec()
            }]
        );
    }

    #[test]
    fn too_much_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_BYTES + 1)
            .unwrap();
        let uri = url::Url::from_file_path(&big).unwrap().to_string();
        let err = read_dropped(&[uri], &Protected::default()).unwrap_err();
        assert!(err.contains("more than 32 MiB"), "{err}");
    }

    #[test]
    fn links_secrets_and_live_files_are_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let key = home.join(".ssh/id_ed25519");
        std::fs::write(&key, "secret").unwrap();
        // A workspace plants a link in its project folder, named like a harmless file.
        let project = dir.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        let planted = project.join("notes.txt");
        std::os::unix::fs::symlink(&key, &planted).unwrap();
        let protected = Protected {
            home: Some(home),
            ..Default::default()
        };
        let uri = |p: &Path| url::Url::from_file_path(p).unwrap().to_string();
        assert!(
            read_dropped(&[uri(&planted)], &protected)
                .unwrap()
                .is_empty()
        );
        let err = read_dropped(&[uri(&key)], &protected).unwrap_err();
        assert!(err.contains("id_ed25519"), "{err}");
        let err = read_dropped(&[uri(Path::new("/proc/version"))], &protected).unwrap_err();
        assert!(err.contains("/proc/version"), "{err}");
    }

    #[test]
    fn the_replay_carries_names_safely_quoted() {
        let files = [Dropped {
            name: "a\"); alert(1); (\".txt".into(),
            bytes: vec![0, 255],
        }];
        let script = replay_script(&files, 10, 20);
        assert!(
            script.contains(r#""name":"a\"); alert(1); (\".txt""#),
            "{script}"
        );
        assert!(script.contains(r#""data":"AP8=""#), "{script}");
        assert!(script.contains("const x = 10, y = 20;"), "{script}");
    }
}
