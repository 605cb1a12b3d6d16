//! Sealed values, API keys, which workspace uses which key, daily usage and proxy tokens.
//! This module stores bytes: sealing and opening them is `secrets`' job.

use super::{Store, now_secs};
use crate::error::{Error, Result};
use crate::model::{Budget, KeyInfo, KeyMode, KeyName, KeyUse, Provider, WorkspaceId};
use rusqlite::{OptionalExtension, params};

/// A key's usage on one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Usage {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub requests: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub input_tokens: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub output_tokens: u64,
}

impl Usage {
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

impl Store {
    pub fn sealed(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT envelope FROM sealed WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn put_sealed(&mut self, id: &str, envelope: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sealed (id, envelope) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET envelope = excluded.envelope",
            params![id, envelope],
        )?;
        Ok(())
    }

    pub fn remove_sealed(&mut self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sealed WHERE id = ?1", [id])?;
        Ok(())
    }

    /// How many values other than the key check are sealed.
    pub fn sealed_count(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM sealed WHERE id != 'key-check'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// One sealed value other than the key check (row id, envelope), if any.
    pub fn sealed_sample(&self) -> Result<Option<(String, Vec<u8>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, envelope FROM sealed WHERE id != 'key-check' ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Stores a key's description and its sealed value in one transaction.
    pub fn put_key(
        &mut self,
        name: &KeyName,
        last4: &str,
        base_url: Option<&str>,
        envelope: &[u8],
    ) -> Result<()> {
        self.immediate(|tx| {
            tx.execute(
                "INSERT INTO api_keys (name, provider, last4, base_url, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET last4 = excluded.last4, base_url = excluded.base_url,
                    created_at = excluded.created_at, tested_at = NULL, test_result = NULL",
                params![name.as_str(), name.provider().as_str(), last4, base_url, now_secs()],
            )?;
            tx.execute(
                "INSERT INTO sealed (id, envelope) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET envelope = excluded.envelope",
                params![key_row(name), envelope],
            )?;
            Ok(())
        })
    }

    pub fn keys(&self) -> Result<Vec<KeyInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT k.name, k.provider, k.last4, k.base_url, k.created_at, k.tested_at, k.test_result,
                (SELECT group_concat(w.name, ',') FROM workspace_keys wk JOIN workspaces w ON w.id = wk.workspace_id
                  WHERE wk.key_name = k.name)
             FROM api_keys k ORDER BY k.name",
        )?;
        let rows = stmt.query_map([], |r| {
            let name: String = r.get(0)?;
            let provider: String = r.get(1)?;
            let used: Option<String> = r.get(7)?;
            Ok((
                name,
                provider,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<String>>(6)?,
                used,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, provider, last4, base_url, created_at, tested_at, test_result, used) = row?;
            let mut used_by: Vec<String> = used
                .map(|u| u.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            used_by.sort();
            let name = KeyName::parse(&name)?;
            out.push(KeyInfo {
                env_var: name.env_var(),
                name,
                provider: Provider::parse(&provider).unwrap_or(Provider::Generic),
                last4,
                base_url,
                created_at,
                tested_at,
                test_result,
                used_by,
            });
        }
        Ok(out)
    }

    pub fn key(&self, name: &KeyName) -> Result<Option<KeyInfo>> {
        Ok(self.keys()?.into_iter().find(|k| &k.name == name))
    }

    pub fn record_key_test(&mut self, name: &KeyName, result: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE api_keys SET tested_at = ?2, test_result = ?3 WHERE name = ?1",
            params![name.as_str(), now_secs(), result],
        )?;
        Ok(())
    }

    /// Removes a key and its sealed value. The caller has checked that no workspace uses it.
    pub fn remove_key(&mut self, name: &KeyName) -> Result<bool> {
        self.immediate(|tx| {
            tx.execute("DELETE FROM sealed WHERE id = ?1", [key_row(name)])?;
            Ok(tx.execute("DELETE FROM api_keys WHERE name = ?1", [name.as_str()])? > 0)
        })
    }

    pub fn set_workspace_keys(&mut self, id: WorkspaceId, keys: &[KeyUse]) -> Result<()> {
        self.immediate(|tx| {
            tx.execute(
                "DELETE FROM workspace_keys WHERE workspace_id = ?1",
                [id.to_string()],
            )?;
            for k in keys {
                tx.execute(
                    "INSERT INTO workspace_keys (workspace_id, key_name, mode, requests_per_day, tokens_per_day)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        id.to_string(),
                        k.key.as_str(),
                        k.mode.as_str(),
                        k.budget.requests_per_day.map(|n| n as i64),
                        k.budget.tokens_per_day.map(|n| n as i64)
                    ],
                )?;
            }
            Ok(())
        })
    }

    pub fn workspace_keys(&self, id: WorkspaceId) -> Result<Vec<KeyUse>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key_name, mode, requests_per_day, tokens_per_day FROM workspace_keys
             WHERE workspace_id = ?1 ORDER BY key_name",
        )?;
        let rows = stmt.query_map([id.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, mode, requests, tokens) = row?;
            out.push(KeyUse {
                key: KeyName::parse(&name)?,
                mode: KeyMode::parse(&mode)
                    .ok_or_else(|| Error::invalid(format!("unknown key mode {mode:?}")))?,
                budget: Budget {
                    requests_per_day: requests.map(|n| n as u64),
                    tokens_per_day: tokens.map(|n| n as u64),
                },
            });
        }
        Ok(out)
    }

    pub fn usage(&self, id: WorkspaceId, key: &KeyName, day: &str) -> Result<Usage> {
        Ok(self
            .conn
            .query_row(
                "SELECT requests, input_tokens, output_tokens FROM key_usage
                 WHERE workspace_id = ?1 AND key_name = ?2 AND day = ?3",
                params![id.to_string(), key.as_str(), day],
                |r| {
                    Ok(Usage {
                        requests: r.get::<_, i64>(0)? as u64,
                        input_tokens: r.get::<_, i64>(1)? as u64,
                        output_tokens: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Adds to a day's usage (a request counts when it is sent; its tokens when they are known).
    pub fn add_usage(
        &mut self,
        id: WorkspaceId,
        key: &KeyName,
        day: &str,
        add: Usage,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO key_usage (workspace_id, key_name, day, requests, input_tokens, output_tokens)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (workspace_id, key_name, day) DO UPDATE SET
                requests = requests + excluded.requests,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens",
            params![
                id.to_string(),
                key.as_str(),
                day,
                add.requests as i64,
                add.input_tokens as i64,
                add.output_tokens as i64
            ],
        )?;
        Ok(())
    }

    pub fn set_proxy_token(&mut self, id: WorkspaceId, sha256: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO proxy_tokens (workspace_id, token_sha256, issued_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace_id) DO UPDATE SET token_sha256 = excluded.token_sha256,
                issued_at = excluded.issued_at",
            params![id.to_string(), sha256, now_secs()],
        )?;
        Ok(())
    }

    pub fn proxy_token(&self, id: WorkspaceId) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT token_sha256 FROM proxy_tokens WHERE workspace_id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn revoke_proxy_token(&mut self, id: WorkspaceId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM proxy_tokens WHERE workspace_id = ?1",
            [id.to_string()],
        )?;
        Ok(())
    }
}

/// The sealed row of a key; also its associated data.
pub fn key_row(name: &KeyName) -> String {
    format!("key:{name}")
}

/// The sealed row of a workspace's IDE secret; also its associated data.
pub fn ide_row(id: WorkspaceId) -> String {
    format!("ide:{id}")
}
