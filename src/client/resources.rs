//! The client's calls for the resources overview.

use super::{Client, transport};
use crate::api::{PruneRequest, path, sse};
use crate::error::Result;
use crate::resources::{DiskUsage, PruneOutcome, ResourcesView};
use futures_util::{Stream, StreamExt};
use hyper::Method;

impl Client {
    /// One view, once every running container has a CPU figure.
    pub async fn resources(&self) -> Result<ResourcesView> {
        self.call(Method::GET, path::RESOURCES, None).await
    }

    /// Views as they come (about one a second). The daemon samples only while some watch is
    /// open: drop the stream to end it.
    pub async fn watch_resources(
        &self,
    ) -> Result<impl Stream<Item = Result<ResourcesView>> + Send + 'static + use<>> {
        let res = self.send(Method::GET, path::RESOURCES_WATCH, None).await?;
        let events = transport::events(res).await?;
        Ok(events.filter_map(|e| async move {
            match e {
                Ok(e) if e.name == sse::RESOURCES => Some(e.json()),
                Ok(e) if e.name == sse::ERROR => Some(Err(e.error())),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        }))
    }

    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        self.call(Method::GET, path::DISK, None).await
    }

    /// Removes this install's leftovers (`dry_run`: only lists them); `only`: the ids shown.
    pub async fn prune(&self, dry_run: bool, only: Option<Vec<String>>) -> Result<PruneOutcome> {
        let req = PruneRequest { dry_run, only };
        self.call(Method::POST, path::PRUNE, Self::body(&req)).await
    }

    pub async fn force_stop_preview(&self, id: &str) -> Result<()> {
        self.call(Method::POST, &path::preview(id, Some("force-stop")), None)
            .await
    }
}
