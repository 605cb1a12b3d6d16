//! SQLite store: one file (`berth.db`) per data dir. Opening sets the pragmas, applies the
//! forward-only migrations atomically, and refuses a database written by a newer Berth.

mod audit;
mod builds;
mod idle;
mod keys;
mod previews;
mod projects;
mod settings;
mod workspaces;

pub use audit::{AuditEntry, Outcome};
pub use idle::IdleStop;
pub use keys::{Usage, ide_row, key_row};
pub use previews::NewPreview;
#[cfg(test)]
pub(crate) use workspaces::tests::sample as sample_workspace;

use crate::error::{Code, Error, Result};
use rusqlite::Connection;
use rusqlite_migration::{M, MigrationDefinitionError, Migrations};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const MIGRATION_STEPS: &[M<'static>] = &[
    M::up(include_str!("migrations/001_init.sql")),
    M::up(include_str!("migrations/002_ide_auth.sql")),
    M::up(include_str!("migrations/003_container_token.sql")),
    M::up(include_str!("migrations/004_project_identity.sql")),
    M::up(include_str!("migrations/005_browser_ports.sql")),
    M::up(include_str!("migrations/006_idle_stops.sql")),
    M::up(include_str!("migrations/007_keys.sql")),
    M::up(include_str!("migrations/008_previews.sql")),
    M::up(include_str!("migrations/009_bundled_builds.sql")),
];
pub const MIGRATIONS: Migrations<'static> = Migrations::from_slice(MIGRATION_STEPS);

pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(data_dir: &Path) -> Result<Store> {
        crate::private::create_dir(data_dir)
            .map_err(|e| Error::io(&format!("cannot create data dir {}", data_dir.display()), e))?;
        let path = data_dir.join("berth.db");
        // Made 0600 before SQLite opens it: its journal files take the database's mode.
        crate::private::file_options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&format!("cannot create {}", path.display()), e))?;
        // A database made by an older Berth may be readable by others: not any more.
        #[cfg(unix)]
        for file in ["berth.db", "berth.db-wal", "berth.db-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                data_dir.join(file),
                std::fs::Permissions::from_mode(0o600),
            );
        }
        let mut conn = Connection::open(&path)
            .map_err(|e| Error::new(Code::Store, format!("cannot open {}: {e}", path.display())))?;
        // Writers wait for each other instead of failing: several CLI processes and the app
        // share one file.
        conn.busy_timeout(std::time::Duration::from_secs(15))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;

        // Two first runs at once would both see version 0 and both try to create the tables;
        // a file lock makes the second wait and then find nothing to do.
        let lock = crate::private::file_options()
            .create(true)
            .truncate(true)
            .write(true)
            .open(data_dir.join("migrate.lock"))
            .map_err(|e| Error::io("cannot create the migration lock", e))?;
        lock.lock()
            .map_err(|e| Error::io("cannot take the migration lock", e))?;
        let migrated = MIGRATIONS.to_latest(&mut conn);
        drop(lock);
        migrated.map_err(|e| match e {
            rusqlite_migration::Error::MigrationDefinition(
                MigrationDefinitionError::DatabaseTooFarAhead,
            ) => {
                let found: i64 = conn
                    .pragma_query_value(None, "user_version", |r| r.get(0))
                    .unwrap_or(-1);
                Error::new(
                    Code::Store,
                    format!(
                        "{} was written by a newer Berth (schema version {found}, this Berth knows up to {}); refusing to change it — update Berth",
                        path.display(),
                        MIGRATION_STEPS.len()
                    ),
                )
            }
            other => Error::new(
                Code::Store,
                format!("cannot migrate {}: {other}", path.display()),
            ),
        })?;
        Ok(Store { conn })
    }

    /// Folds the write-ahead log into the database file (at daemon exit): a clean file for
    /// backups and the next start.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Runs `f` in an IMMEDIATE transaction: the write lock is taken up front, so a
    /// read-then-write (like picking a free port) cannot interleave with another process.
    fn immediate<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

pub(crate) fn now_secs() -> i64 {
    now_ms() / 1000
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn open_sets_pragmas_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let store = Store::open(dir.path()).unwrap();
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let fk: i64 = store
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        let sync: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), fk, sync), ("wal", 1, 2));
    }

    #[test]
    fn refuses_a_database_from_a_newer_berth() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join("berth.db")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(dir.path()).err().unwrap();
        assert_eq!(err.code, Code::Store);
        assert!(
            err.message.contains("newer Berth (schema version 99"),
            "{}",
            err.message
        );
    }
}
