//! The client's calls for stored keys and what workspaces used.

use super::Client;
use crate::api::{SetKey, path};
use crate::engine::{KeyTest, KeyUsage};
use crate::error::Result;
use crate::model::KeyInfo;
use crate::secrets::Sensitive;
use crate::store::AuditEntry;
use hyper::Method;

impl Client {
    pub async fn keys(&self) -> Result<Vec<KeyInfo>> {
        self.call(Method::GET, path::KEYS, None).await
    }

    /// Stores `value` as the key `name` (replacing one of that name).
    pub async fn set_key(
        &self,
        name: &str,
        value: &Sensitive<String>,
        base_url: Option<String>,
    ) -> Result<KeyInfo> {
        let req = SetKey {
            value: value.expose().clone(),
            base_url,
        };
        self.call(Method::PUT, &path::key(name, None), Self::body(&req))
            .await
    }

    pub async fn test_key(&self, name: &str) -> Result<KeyTest> {
        self.call(Method::POST, &path::key(name, Some("test")), None)
            .await
    }

    pub async fn remove_key(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &path::key(name, None), None)
            .await
    }

    pub async fn key_log(&self) -> Result<Vec<AuditEntry>> {
        self.call(Method::GET, path::KEYS_LOG, None).await
    }

    /// Today's usage of each key of workspace `name`.
    pub async fn usage(&self, name: &str) -> Result<Vec<KeyUsage>> {
        self.call(Method::GET, &path::workspace(name, Some("usage")), None)
            .await
    }
}
