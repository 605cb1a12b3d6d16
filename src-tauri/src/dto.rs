//! Shapes the UI sends and receives that are not engine types. TypeScript for all of them is
//! generated (see `bindings`), so the UI and these stay in step.

use berth::engine::CreateRequest;
use berth::model::LimitOverrides;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Deserialize, TS)]
pub struct CreateForm {
    pub name: String,
    pub image: String,
    pub projects: Vec<String>,
    pub description: String,
    pub limits: LimitOverrides,
    /// `None`: the default from the settings; `Some(0)`: never stop for idleness.
    #[ts(type = "number | null")]
    pub idle_timeout_secs: Option<u64>,
}

impl From<CreateForm> for CreateRequest {
    fn from(f: CreateForm) -> Self {
        CreateRequest {
            name: f.name,
            image: f.image,
            projects: f.projects.into_iter().map(Into::into).collect(),
            description: f.description,
            limits: f.limits,
            idle_timeout: f
                .idle_timeout_secs
                .map(|s| (s > 0).then(|| std::time::Duration::from_secs(s))),
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct StartedView {
    pub url: String,
    pub notes: Vec<String>,
}

impl From<berth::engine::Started> for StartedView {
    fn from(s: berth::engine::Started) -> Self {
        StartedView {
            url: s.url,
            notes: s.notes,
        }
    }
}

/// A piece of container output for the log view.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LogChunk {
    pub stderr: bool,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BuildEvent {
    Line { text: String },
    Step { current: u32, total: u32 },
}

/// The IDE window of a workspace, if open: where it is and whether its page finished loading.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IdeWindowView {
    pub label: String,
    pub url: String,
    pub loaded: bool,
}
