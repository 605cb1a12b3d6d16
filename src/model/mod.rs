//! Plain data and the validation of everything a user types. No I/O except path checks.

mod image_ref;
mod keys;
mod limits;
mod name;
mod preview;
mod project;
mod settings;
mod text;
mod workspace;

pub use image_ref::ImageRef;
pub use keys::{Budget, KeyInfo, KeyMode, KeyName, KeyUse, Provider, last4, parse_base_url};
pub use limits::{
    IDLE_TIMEOUT_SECS, LimitOverrides, Limits, format_memory, human_duration, parse_cpus,
    parse_idle_timeout, parse_memory, parse_pids, validate_idle_timeout,
};
pub use name::WorkspaceName;
pub use preview::{
    MAX_TTL, PREVIEW_LIMITS, Preview, PreviewDefaults, PreviewForm, PreviewId, PreviewSource,
    PreviewStatus, PreviewView, Remembered, SHARE_PARAM, check_ttl, choose_source, due, extended,
    parse_ttl, preview_limits,
};
pub use project::{
    FolderId, Protected, check_same_folder, credential_folders, credential_of, folder_name,
    validate_project_path, windows_key, windows_plain,
};
pub use settings::{PortRange, QuitBehavior, Settings, UpdateSettings, check_update_url};
pub use text::escape_controls;
pub use workspace::{IdeAuth, IdeEndpoint, Kind, Status, Workspace, WorkspaceId, WorkspaceView};
