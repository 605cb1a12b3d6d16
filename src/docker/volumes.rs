//! Named volumes: a workspace's home folder, kept across container recreation.

use super::{Client, labels};
use crate::error::{Error, Result};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::RemoveVolumeOptionsBuilder;
use uuid::Uuid;

impl Client {
    /// Creates the volume unless this install already has it; refuses one of the same name
    /// that another install or a user made (Berth never adopts data it did not create).
    pub async fn ensure_volume(&self, req: VolumeCreateRequest, install: Uuid) -> Result<()> {
        let name = req.name.clone().unwrap_or_default();
        let answer = self.api.inspect_volume(&name).await;
        match self.found("inspect volume", answer)? {
            Some(v) if labels::is_ours(Some(&v.labels), install) => return Ok(()),
            Some(_) => {
                return Err(Error::conflict(format!(
                    "a Docker volume named {name:?} exists that this Berth did not create; remove or rename it"
                )));
            }
            None => {}
        }
        self.api
            .create_volume(req)
            .await
            .map(drop)
            .map_err(|e| self.fail("create volume", e))
    }

    /// Removes this install's volume `name`; an absent one is fine, another's is left alone.
    pub async fn remove_volume(&self, name: &str, install: Uuid) -> Result<()> {
        let answer = self.api.inspect_volume(name).await;
        let ours = self
            .found("inspect volume", answer)?
            .is_some_and(|v| labels::is_ours(Some(&v.labels), install));
        if !ours {
            return Ok(());
        }
        let opts = RemoveVolumeOptionsBuilder::default().force(false).build();
        let answer = self.api.remove_volume(name, Some(opts)).await;
        self.found("remove volume", answer).map(drop)
    }
}
