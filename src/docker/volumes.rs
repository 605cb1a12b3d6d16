//! Named volumes: a workspace's home folder, kept across container recreation.

use super::{Client, labels};
use crate::error::{Code, Error, Result};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::RemoveVolumeOptionsBuilder;
use uuid::Uuid;

impl Client {
    /// Creates the volume unless this install already has it; refuses one of the same name
    /// that another install or a user made (Berth never adopts data it did not create).
    pub async fn ensure_volume(&self, req: VolumeCreateRequest, install: Uuid) -> Result<()> {
        let name = req.name.clone().unwrap_or_default();
        match self.api.inspect_volume(&name).await {
            Ok(v) if labels::is_ours(Some(&v.labels), install) => return Ok(()),
            Ok(_) => {
                return Err(Error::conflict(format!(
                    "a Docker volume named {name:?} exists that this Berth did not create; remove or rename it"
                )));
            }
            Err(e) => {
                let err = self.fail("inspect volume", e);
                if err.code != Code::NotFound {
                    return Err(err);
                }
            }
        }
        self.api
            .create_volume(req)
            .await
            .map(drop)
            .map_err(|e| self.fail("create volume", e))
    }

    /// Whether this install has a volume of that name.
    pub async fn volume_exists(&self, name: &str, install: Uuid) -> Result<bool> {
        match self.api.inspect_volume(name).await {
            Ok(v) => Ok(labels::is_ours(Some(&v.labels), install)),
            Err(e) => {
                let err = self.fail("inspect volume", e);
                if err.code == Code::NotFound {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Removes this install's volume `name`; an absent one is fine, another's is left alone.
    pub async fn remove_volume(&self, name: &str, install: Uuid) -> Result<()> {
        if !self.volume_exists(name, install).await? {
            return Ok(());
        }
        let opts = RemoveVolumeOptionsBuilder::default().force(false).build();
        match self.api.remove_volume(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = self.fail("remove volume", e);
                if err.code == Code::NotFound {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}
