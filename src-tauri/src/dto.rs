//! Shapes only the app has (its windows); everything else crossing IPC is the daemon API's
//! own types. TypeScript for all of them is generated (see `bindings`).

use serde::Serialize;
use ts_rs::TS;

/// The IDE window of a workspace, if open: where it is and whether its page finished loading.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IdeWindowView {
    pub label: String,
    pub url: String,
    pub loaded: bool,
}
