//! Key/value settings: the install id and the JSON-encoded global `Settings`.

use super::Store;
use crate::error::{Code, Error, Result};
use crate::model::Settings;
use rusqlite::OptionalExtension;
use uuid::Uuid;

impl Store {
    /// The id that marks this data dir's Docker objects; made on first use and never changed.
    pub fn install_id(&mut self) -> Result<Uuid> {
        self.immediate(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT value FROM settings WHERE key = 'install_id'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match existing {
                Some(raw) => Uuid::parse_str(&raw).map_err(|e| {
                    Error::new(
                        Code::Store,
                        format!("stored install id {raw:?} is corrupt: {e}"),
                    )
                }),
                None => {
                    let id = Uuid::new_v4();
                    tx.execute(
                        "INSERT INTO settings (key, value) VALUES ('install_id', ?1)",
                        [id.to_string()],
                    )?;
                    Ok(id)
                }
            }
        })
    }

    pub fn settings(&self) -> Result<Settings> {
        let raw: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = 'settings'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match raw {
            None => Ok(Settings::default()),
            Some(raw) => serde_json::from_str(&raw)
                .map_err(|e| Error::new(Code::Store, format!("stored settings are corrupt: {e}"))),
        }
    }

    pub fn save_settings(&mut self, settings: &Settings) -> Result<()> {
        settings.validate()?;
        let raw = serde_json::to_string(settings).expect("settings serialize");
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES ('settings', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [raw],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortRange;

    #[test]
    fn install_id_is_stable_and_settings_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let id = store.install_id().unwrap();
        assert_eq!(store.install_id().unwrap(), id);
        assert_eq!(store.settings().unwrap(), Settings::default());
        let s = Settings {
            port_range: PortRange::new(20000, 20002).unwrap(),
            max_running: 2,
            ..Settings::default()
        };
        store.save_settings(&s).unwrap();
        assert_eq!(Store::open(dir.path()).unwrap().settings().unwrap(), s);
        let bad = Settings {
            max_running: 0,
            ..s
        };
        assert!(store.save_settings(&bad).is_err());
    }
}
