//! What the app keeps between commands, built completely before `manage`.

use crate::i18n::I18n;
use berth::client::Client;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tauri::ipc::{Channel, IpcResponse};
use tokio_util::sync::CancellationToken;

pub struct AppState {
    /// The daemon, which owns every workspace; the app holds no engine of its own.
    pub client: Arc<Client>,
    pub i18n: RwLock<I18n>,
    /// Streams forwarded to the page (logs, resources), cancelled by `stop_logs` /
    /// `stop_resources` or when the view goes.
    follows: Mutex<HashMap<u32, CancellationToken>>,
    next_follow: AtomicU32,
    /// IDE window label → last URL that finished loading.
    pub ide_loaded: Mutex<HashMap<String, String>>,
    /// The titles the tray menu shows now (for `tray_menu`).
    pub tray_titles: Mutex<Vec<String>>,
    /// The workspaces the tray last fetched.
    pub tray_list: Mutex<Vec<berth::model::Workspace>>,
    /// Workspaces warned of their idle stop: name → when it stops (Unix ms).
    pub warnings: Mutex<HashMap<String, i64>>,
    /// The tray's countdown ticks (only while a warning is out).
    pub ticking: std::sync::atomic::AtomicBool,
    pub updates: crate::update::Updates,
}

impl AppState {
    pub fn new(client: Arc<Client>, i18n: I18n) -> AppState {
        AppState {
            client,
            i18n: RwLock::new(i18n),
            follows: Mutex::new(HashMap::new()),
            next_follow: AtomicU32::new(1),
            ide_loaded: Mutex::new(HashMap::new()),
            tray_titles: Mutex::new(Vec::new()),
            tray_list: Mutex::new(Vec::new()),
            warnings: Mutex::new(HashMap::new()),
            ticking: Default::default(),
            updates: Default::default(),
        }
    }

    pub fn t(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.i18n.read().expect("i18n lock").t(key, args)
    }

    /// Sends each item of `stream` to the page over `channel` until the stream ends or fails,
    /// the page is gone, or [`AppState::cancel_follow`] with the returned id. Dropping the
    /// stream closes it at the daemon (a log follow, a resources watch).
    pub fn forward<T>(
        &self,
        stream: impl Stream<Item = berth::Result<T>> + Send + 'static,
        channel: Channel<T>,
    ) -> u32
    where
        T: IpcResponse + Send + 'static,
    {
        let id = self.next_follow.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.follows
            .lock()
            .expect("follows lock")
            .insert(id, token.clone());
        tauri::async_runtime::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                let next = tokio::select! {
                    _ = token.cancelled() => break,
                    next = stream.next() => next,
                };
                let sent = match next {
                    Some(Ok(item)) => channel.send(item).is_ok(),
                    Some(Err(_)) | None => false,
                };
                if !sent {
                    break;
                }
            }
        });
        id
    }

    pub fn cancel_follow(&self, id: u32) {
        if let Some(token) = self.follows.lock().expect("follows lock").remove(&id) {
            token.cancel();
        }
    }
}
