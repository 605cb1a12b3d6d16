//! "Stop workspaces when Berth quits": applied by the daemon when the app quits (tray Quit,
//! its window closed without a tray, a signal to the app) and when the daemon itself is ended
//! by a signal (logout, shutdown).

use super::Engine;
use crate::error::Result;
use crate::model::{QuitBehavior, Status};
use serde::{Deserialize, Serialize};

/// What quitting did: the workspaces stopped, and those that would not stop.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QuitOutcome {
    pub stopped: Vec<String>,
    pub failed: Vec<String>,
}

impl Engine {
    /// Stops every running workspace if the settings say so; the names of those it stopped.
    pub async fn stop_on_quit(&self) -> Result<QuitOutcome> {
        let mut outcome = QuitOutcome::default();
        if self.settings()?.on_quit != QuitBehavior::StopWorkspaces {
            return Ok(outcome);
        }
        let running: Vec<String> = self
            .db(|s| s.workspaces())?
            .into_iter()
            .filter(|w| matches!(w.status, Status::Running | Status::Starting))
            .map(|w| w.name.to_string())
            .collect();
        // All at once: quitting (a logout above all) must not wait the sum of their grace
        // periods.
        let stops = running.iter().map(|name| self.stop(name));
        for (name, result) in running
            .iter()
            .zip(futures_util::future::join_all(stops).await)
        {
            match result {
                Ok(_) => outcome.stopped.push(name.clone()),
                Err(e) => {
                    tracing::warn!("could not stop {name} on quit: {e}");
                    outcome.failed.push(name.clone());
                }
            }
        }
        Ok(outcome)
    }
}
