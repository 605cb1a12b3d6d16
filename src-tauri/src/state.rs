//! What the app keeps between commands, built completely before `manage`.

use crate::i18n::I18n;
use berth::client::Client;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio_util::sync::CancellationToken;

pub struct AppState {
    /// The daemon, which owns every workspace; the app holds no engine of its own.
    pub client: Arc<Client>,
    pub i18n: RwLock<I18n>,
    /// Running `follow_logs` streams, cancelled by `stop_logs` or when the view goes.
    log_follows: Mutex<HashMap<u32, CancellationToken>>,
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
            log_follows: Mutex::new(HashMap::new()),
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

    pub fn register_follow(&self) -> (u32, CancellationToken) {
        let id = self.next_follow.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.log_follows
            .lock()
            .expect("follows lock")
            .insert(id, token.clone());
        (id, token)
    }

    pub fn cancel_follow(&self, id: u32) {
        if let Some(token) = self.log_follows.lock().expect("follows lock").remove(&id) {
            token.cancel();
        }
    }
}
