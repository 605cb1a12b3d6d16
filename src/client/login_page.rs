//! Handing a one-time login link to the system browser without putting it on a command line:
//! every local user can read another process's arguments (`/proc/*/cmdline`) and could redeem
//! the link first. The link goes into a small page in the data dir (0600 in a 0700 folder) that
//! forwards to it, and the browser is given that page's path.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Pages older than this are removed (their links expired after two minutes anyway).
const KEEP: Duration = Duration::from_secs(300);

/// Writes the forwarding page for `login_url` under `data_dir`; the `file://` URL to give
/// the browser.
pub fn write(data_dir: &Path, login_url: &str) -> Result<String> {
    let dir = data_dir.join("login");
    let fail = |e| Error::io("cannot write the login page", e);
    crate::private::create_dir(&dir).map_err(fail)?;
    sweep(&dir);
    let escaped = login_url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0;url={escaped}\">\
         <title>Berth</title><a href=\"{escaped}\">Open the IDE</a>\n"
    );
    let name = format!("{}.html", uuid::Uuid::new_v4().simple());
    let path = dir.join(name);
    let mut file = crate::private::file_options()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(fail)?;
    file.write_all(html.as_bytes()).map_err(fail)?;
    // A real file URL: macOS's data dir ("Application Support") has a space in it.
    url::Url::from_file_path(&path)
        .map(String::from)
        .map_err(|()| fail(std::io::Error::other("not an absolute path")))
}

/// Removes pages written more than [`KEEP`] ago.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > KEEP);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_sits_in_a_private_page_not_on_a_command_line() {
        let data = tempfile::tempdir().unwrap();
        let link = "http://127.0.0.1:10000/_berth/login?token=abc";
        let url = write(data.path(), link).unwrap();
        let page = url::Url::parse(&url).unwrap().to_file_path().unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("content=\"0;url=http://127.0.0.1:10000/_berth/login?token=abc\""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&page), 0o600);
            assert_eq!(mode(page.parent().unwrap()), 0o700);
        }
        assert!(
            !page.to_string_lossy().contains("abc"),
            "the path names no token"
        );
        // A page from long ago goes at the next write.
        let old = page.with_file_name("old.html");
        std::fs::write(&old, "x").unwrap();
        let f = std::fs::File::options().write(true).open(&old).unwrap();
        f.set_modified(SystemTime::now() - KEEP * 2).unwrap();
        write(data.path(), link).unwrap();
        assert!(!old.exists());
    }

    #[test]
    fn a_data_dir_with_a_space_gives_a_working_file_url() {
        let data = tempfile::tempdir().unwrap();
        let support = data.path().join("Application Support");
        let url = write(&support, "http://127.0.0.1:10000/").unwrap();
        assert!(
            url.starts_with("file:///") && url.contains("Application%20Support"),
            "{url}"
        );
        let page = url::Url::parse(&url).unwrap().to_file_path().unwrap();
        assert!(
            page.starts_with(&support) && page.is_file(),
            "{}",
            page.display()
        );
    }
}
