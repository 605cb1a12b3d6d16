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
use std::path::PathBuf;

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

/// The local files named by `uris` (a drop's `text/uri-list`): regular files only (a folder
/// or anything else is skipped), within the limits. An error says what was too much.
pub fn read_dropped(uris: &[String]) -> Result<Vec<Dropped>, String> {
    let paths: Vec<PathBuf> = uris
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .filter(|u| u.scheme() == "file")
        .filter_map(|u| u.to_file_path().ok())
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    if paths.len() > MAX_FILES {
        return Err(format!(
            "{} files dropped; Berth passes at most {MAX_FILES} at once",
            paths.len()
        ));
    }
    let total: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if total > MAX_BYTES {
        return Err(format!(
            "{} MiB dropped; Berth passes at most {} MiB at once (copy larger files into a project folder)",
            total >> 20,
            MAX_BYTES >> 20
        ));
    }
    paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into());
            std::fs::read(p)
                .map(|bytes| Dropped { name, bytes })
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .collect()
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
pub fn attach(webview: &webkit2gtk::WebView) {
    use gtk::prelude::{DragContextExtManual, WidgetExt};
    use std::cell::RefCell;
    use std::rc::Rc;
    use webkit2gtk::WebViewExt;

    // WebKit asks for the drag's data while it moves over the page; the drop comes after.
    let uris: Rc<RefCell<Vec<String>>> = Rc::default();
    webview.connect_drag_data_received({
        let uris = uris.clone();
        move |_, context, _, _, selection, _, _| {
            // From inside this app (the page's own drag): its uri-list is the page's word.
            if context.drag_get_source_widget().is_some() {
                uris.borrow_mut().clear();
                return;
            }
            *uris.borrow_mut() = selection.uris().iter().map(|u| u.to_string()).collect();
        }
    });
    webview.connect_drag_drop(move |webview, context, x, y, time| {
        let dropped = std::mem::take(&mut *uris.borrow_mut());
        if dropped.is_empty() || context.drag_get_source_widget().is_some() {
            // Text, a link, or the page's own drag: WebKit's drop, as it is.
            return false;
        }
        // Files: the page gets them from the replay only. WebKit's own drop would hand it
        // the host paths instead (VS Code tries to open those and fails), so it never runs.
        let ok = match read_dropped(&dropped) {
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
        let read = read_dropped(&uris).unwrap();
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
        let err = read_dropped(&[uri]).unwrap_err();
        assert!(err.contains("at most 32 MiB"), "{err}");
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
