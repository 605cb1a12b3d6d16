//! The Docker events stream, narrowed to this install's containers. A speed-up for the UI:
//! reconcile stays the source of truth.

use super::{Client, labels};
use crate::error::Result;
use bollard::models::EventMessageTypeEnum;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub container_id: String,
    pub workspace_id: Option<String>,
    /// Docker's action: `start`, `die` or `destroy`.
    pub action: String,
}

/// The actions that change a workspace's status; exec and health chatter would wake the UI
/// for nothing.
const ACTIONS: &[&str] = &["start", "die", "destroy"];

/// This install's container events from `since` (Unix seconds, fractional allowed) on: Docker
/// replays what happened since then, so a subscriber that reconciles after subscribing misses
/// nothing in between.
pub fn container_events(
    client: &Client,
    install: Uuid,
    since: f64,
) -> impl Stream<Item = Result<ContainerEvent>> + '_ {
    let mut filters = labels::install_filter(install, None);
    filters.insert("type".into(), vec!["container".into()]);
    filters.insert(
        "event".into(),
        ACTIONS.iter().map(|a| a.to_string()).collect(),
    );
    let opts = EventsOptionsBuilder::default()
        .filters(&filters)
        .since(&format!("{since:.3}"))
        .build();
    client
        .api
        .events(Some(opts))
        .filter_map(move |item| async move {
            match item {
                Ok(msg) if msg.typ == Some(EventMessageTypeEnum::CONTAINER) => {
                    let actor = msg.actor.unwrap_or_default();
                    let attrs: HashMap<String, String> = actor.attributes.unwrap_or_default();
                    if !labels::is_ours(Some(&attrs), install) {
                        return None;
                    }
                    Some(Ok(ContainerEvent {
                        container_id: actor.id.unwrap_or_default(),
                        workspace_id: attrs.get(labels::ID).cloned(),
                        action: msg.action.unwrap_or_default(),
                    }))
                }
                Ok(_) => None,
                Err(e) => Some(Err(client.fail("events", e))),
            }
        })
}
