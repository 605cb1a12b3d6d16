//! Finding and removing a workspace's Docker objects. A container is the workspace's only by
//! proof — its id is the one recorded, or it carries the creation token stored for it — never
//! by its labels alone (a `docker commit` copy has them all).

use super::Engine;
use super::reconcile::owns;
use crate::docker::{self, ContainerInfo, labels};
use crate::error::Result;
use crate::model::{Kind, Workspace};

/// The last lines a container printed (stdout and stderr), for an error message.
pub(super) async fn last_output(docker: &docker::Client, container_id: &str) -> String {
    use futures_util::StreamExt;
    let mut tail = String::new();
    let mut logs = docker.logs(container_id, false, Some(10));
    while let Some(Ok(docker::LogLine::Out(b) | docker::LogLine::Err(b))) = logs.next().await {
        tail.push_str(&String::from_utf8_lossy(&b));
    }
    tail
}

/// Output as one line of an error (an error is one line wherever it is shown).
pub(super) fn one_line(output: &str) -> String {
    crate::model::escape_controls(output.trim()).replace('\n', " | ")
}

impl Engine {
    /// The workspace's container: the recorded one, else one made under its pending token (a
    /// create whose process died before recording the id).
    pub(super) async fn find_container(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<Option<ContainerInfo>> {
        if let Some(id) = &ws.container_id
            && let Some(info) = docker.inspect_container(id).await?
            && labels::is_ours(Some(&info.labels), self.install)
            && owns(&info, Kind::Workspace, ws.id.0, Some(id), None)
        {
            return Ok(Some(info));
        }
        let Some(token) = self.db(|s| s.pending_tokens())?.remove(&ws.id) else {
            return Ok(None);
        };
        let made = docker
            .list_containers(self.install, Some(&ws.id.to_string()))
            .await?
            .into_iter()
            .find(|c| owns(c, Kind::Workspace, ws.id.0, None, Some(&token)));
        match made {
            Some(c) => docker.inspect_container(&c.id).await,
            None => Ok(None),
        }
    }

    /// Every container that is provably the workspace's (recorded id, pending token).
    pub(super) async fn remove_containers(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<()> {
        let token = self.db(|s| s.pending_tokens())?.remove(&ws.id);
        let recorded = ws.container_id.as_deref();
        for c in docker
            .list_containers(self.install, Some(&ws.id.to_string()))
            .await?
        {
            if owns(&c, Kind::Workspace, ws.id.0, recorded, token.as_deref()) {
                docker.remove_container(&c.id).await?;
            }
        }
        Ok(())
    }

    /// The workspace's networks (by label, never by name: a look-alike of another install must
    /// survive). Returns what could not be removed, and why — a network another container is
    /// still attached to stays until it is free, and reconcile retries it.
    pub(super) async fn remove_networks(
        &self,
        docker: &docker::Client,
        ws: &Workspace,
    ) -> Result<Vec<String>> {
        let mut left = Vec::new();
        for n in docker.list_networks(self.install).await? {
            if n.owner == Some(ws.id.0)
                && let Err(e) = docker.remove_network(&n.name).await
            {
                left.push(format!("network {} is still there: {}", n.name, e.message));
            }
        }
        Ok(left)
    }
}
