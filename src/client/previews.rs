//! The client's calls for previews.

use super::Client;
use crate::api::{BuildEvent, PreviewChange, PreviewOpen, Viewer, path, percent_encode};
use crate::error::Result;
use crate::model::{PreviewDefaults, PreviewForm, PreviewView};
use hyper::Method;
use std::time::Duration;

impl Client {
    /// Previews of workspace `name`, or all of them.
    pub async fn previews(&self, workspace: Option<&str>) -> Result<Vec<PreviewView>> {
        let at = match workspace {
            Some(name) => format!("{}?workspace={}", path::PREVIEWS, percent_encode(name)),
            None => path::PREVIEWS.to_string(),
        };
        self.call(Method::GET, &at, None).await
    }

    pub async fn preview_defaults(&self, workspace: &str) -> Result<PreviewDefaults> {
        self.call(
            Method::GET,
            &path::workspace(workspace, Some("preview-defaults")),
            None,
        )
        .await
    }

    /// Creates a preview; each step (and a build's output) goes to `on_event` as it happens.
    pub async fn create_preview(
        &self,
        form: &PreviewForm,
        mut on_event: impl FnMut(BuildEvent),
    ) -> Result<PreviewView> {
        let res = self
            .send(Method::POST, path::PREVIEWS, Self::body(form))
            .await?;
        super::streamed(res, "preview", &mut on_event).await
    }

    pub async fn extend_preview(&self, id: &str, by: Duration) -> Result<PreviewView> {
        let change = PreviewChange {
            secs: Some(by.as_secs()),
            share: None,
        };
        self.call(
            Method::POST,
            &path::preview(id, Some("extend")),
            Self::body(&change),
        )
        .await
    }

    pub async fn share_preview(&self, id: &str, on: bool) -> Result<PreviewView> {
        let change = PreviewChange {
            secs: None,
            share: Some(on),
        };
        self.call(
            Method::POST,
            &path::preview(id, Some("share")),
            Self::body(&change),
        )
        .await
    }

    /// The preview to open, for `viewer`.
    pub async fn open_preview(&self, id: &str, viewer: Viewer) -> Result<PreviewView> {
        let open = PreviewOpen { viewer };
        self.call(
            Method::POST,
            &path::preview(id, Some("open")),
            Self::body(&open),
        )
        .await
    }

    pub async fn remove_preview(&self, id: &str) -> Result<()> {
        self.call(Method::DELETE, &path::preview(id, None), None)
            .await
    }
}
