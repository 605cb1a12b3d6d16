//! The IDE window's content rules (`ide_policy::content_rules`), in force before the window
//! loads anything of the workspace's. Linux (WebKitGTK): compiled into a store in the
//! window's own data folder and added to its content manager. macOS (WKContentRuleList) and
//! Windows (WebView2 request filters) are not written yet: there the gateway's CSP is the only
//! lock, which a service worker's made-up page escapes (README, "What is tested where").

use berth::{Code, Error, Result};
use std::path::Path;
use tauri::{Url, WebviewWindow};

/// Puts the content rules for `origin` in force in `window` and returns once they are.
pub async fn confine(window: &WebviewWindow, store: &Path, origin: &Url) -> Result<()> {
    let rules = crate::ide_policy::content_rules(origin);
    let failed = |why: String| {
        Error::new(
            Code::Io,
            format!("cannot confine the IDE window to its workspace: {why}"),
        )
    };
    #[cfg(target_os = "linux")]
    {
        std::fs::create_dir_all(store).map_err(|e| failed(e.to_string()))?;
        let (done, added) = tokio::sync::oneshot::channel();
        let store = store.to_path_buf();
        window
            .with_webview(move |webview| webkit::add(webview.inner(), &store, &rules, done))
            .map_err(|e| failed(e.to_string()))?;
        added
            .await
            .map_err(|_| failed("the window went away".into()))?
            .map_err(failed)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (window, store, rules, failed);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod webkit {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use webkit2gtk::glib::translate::{FromGlibPtrFull, ToGlibPtr};
    use webkit2gtk::{UserContentManager, WebView, WebViewExt, ffi, gio, glib};

    type Done = tokio::sync::oneshot::Sender<Result<(), String>>;

    /// What the compile callback needs: the content manager to add the rules to (a strong
    /// reference, so the window may close meanwhile) and whom to tell.
    struct Pending {
        manager: UserContentManager,
        done: Done,
    }

    /// Compiles `rules` into the store at `dir` and adds them to `webview`'s content manager;
    /// the outcome goes to `done`. Runs on the GTK main thread, as `with_webview` calls it.
    pub fn add(webview: WebView, dir: &Path, rules: &str, done: Done) {
        let Some(manager) = webview.user_content_manager() else {
            let _ = done.send(Err("the window has no content manager".into()));
            return;
        };
        let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
            let _ = done.send(Err(format!("bad folder {}", dir.display())));
            return;
        };
        let pending = Box::into_raw(Box::new(Pending { manager, done }));
        // SAFETY: every pointer is valid for the call: `path` and the identifier are live C
        // strings, `bytes` holds a copy of `rules`, `pending` is handed to `saved` exactly
        // once (GTask calls the callback once). The store and the bytes are released after
        // the call; the pending task holds its own references.
        unsafe {
            let store = ffi::webkit_user_content_filter_store_new(path.as_ptr());
            let bytes = glib::ffi::g_bytes_new(rules.as_ptr().cast(), rules.len());
            ffi::webkit_user_content_filter_store_save(
                store,
                c"berth-ide".as_ptr(),
                bytes,
                std::ptr::null_mut(),
                Some(saved),
                pending.cast(),
            );
            glib::ffi::g_bytes_unref(bytes);
            glib::gobject_ffi::g_object_unref(store.cast());
        }
    }

    unsafe extern "C" fn saved(
        store: *mut glib::gobject_ffi::GObject,
        result: *mut gio::ffi::GAsyncResult,
        data: glib::ffi::gpointer,
    ) {
        // SAFETY: `data` is the box `add` leaked for this one call; `store` and `result` are
        // what GTask passes to a ready callback; `error` is set exactly when no filter is
        // returned, and both are owned by us (full transfer).
        unsafe {
            let pending = Box::from_raw(data.cast::<Pending>());
            let mut error = std::ptr::null_mut();
            let filter =
                ffi::webkit_user_content_filter_store_save_finish(store.cast(), result, &mut error);
            let outcome = if filter.is_null() {
                Err(glib::Error::from_glib_full(error).to_string())
            } else {
                let manager: *mut ffi::WebKitUserContentManager = pending.manager.to_glib_none().0;
                ffi::webkit_user_content_manager_add_filter(manager, filter);
                ffi::webkit_user_content_filter_unref(filter);
                Ok(())
            };
            let _ = pending.done.send(outcome);
        }
    }
}
