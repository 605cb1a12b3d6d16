//! TypeScript bindings for every type that crosses IPC, generated from the Rust types and
//! committed under `ui/src/bindings/`. The test fails when the committed files drift; run it
//! with `BERTH_UPDATE_BINDINGS=1` to rewrite them.

use crate::dto::IdeWindowView;
use berth::api::{BuildEvent, LogChunk, NewWorkspace, StartedView};
use berth::engine::{BuildOutcome, EngineEvent, ImageEntry, WorkspaceEdit};
use berth::model::{Settings, WorkspaceView};
use berth::store::AuditEntry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use ts_rs::{Config, TS};

fn export_all(dir: &Path) {
    let cfg = Config::new().with_large_int("number").with_out_dir(dir);
    WorkspaceView::export_all(&cfg).unwrap();
    Settings::export_all(&cfg).unwrap();
    AuditEntry::export_all(&cfg).unwrap();
    EngineEvent::export_all(&cfg).unwrap();
    ImageEntry::export_all(&cfg).unwrap();
    BuildOutcome::export_all(&cfg).unwrap();
    WorkspaceEdit::export_all(&cfg).unwrap();
    berth::Error::export_all(&cfg).unwrap();
    NewWorkspace::export_all(&cfg).unwrap();
    StartedView::export_all(&cfg).unwrap();
    LogChunk::export_all(&cfg).unwrap();
    BuildEvent::export_all(&cfg).unwrap();
    IdeWindowView::export_all(&cfg).unwrap();
    berth::activity::ActivityView::export_all(&cfg).unwrap();
    berth::model::KeyInfo::export_all(&cfg).unwrap();
    berth::engine::KeyTest::export_all(&cfg).unwrap();
    berth::engine::KeyUsage::export_all(&cfg).unwrap();
    berth::model::PreviewView::export_all(&cfg).unwrap();
    berth::model::PreviewDefaults::export_all(&cfg).unwrap();
    berth::model::PreviewForm::export_all(&cfg).unwrap();
    crate::update::UpdateView::export_all(&cfg).unwrap();
    berth::resources::ResourcesView::export_all(&cfg).unwrap();
    berth::resources::DiskUsage::export_all(&cfg).unwrap();
    berth::resources::PruneOutcome::export_all(&cfg).unwrap();
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(e.path()).unwrap())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn committed_typescript_bindings_match_the_rust_types() {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
    if std::env::var_os("BERTH_UPDATE_BINDINGS").is_some() {
        let _ = std::fs::remove_dir_all(&committed);
        export_all(&committed);
    }
    let fresh = tempfile::tempdir().unwrap();
    export_all(fresh.path());
    let want = read_dir(fresh.path());
    assert!(!want.is_empty());
    assert_eq!(
        read_dir(&committed),
        want,
        "ui/src/bindings is stale: run `BERTH_UPDATE_BINDINGS=1 cargo test -p berth-desktop bindings`"
    );
}
