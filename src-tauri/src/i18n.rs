//! The strings the Rust side shows (tray, notifications), from the same `locales/` files as
//! the UI. `en.json` is the source of truth; a test keeps `de.json` in step with it.

use serde_json::Value;
use std::collections::BTreeMap;

const EN: &str = include_str!("../../locales/en.json");
const DE: &str = include_str!("../../locales/de.json");

pub struct I18n {
    strings: BTreeMap<String, String>,
    fallback: BTreeMap<String, String>,
}

impl I18n {
    /// `choice` from the settings, else the OS language, else English.
    pub fn new(choice: Option<&str>) -> I18n {
        let lang = match choice.or(os_language().as_deref()) {
            Some(l) if l.starts_with("de") => "de",
            _ => "en",
        };
        I18n {
            strings: flatten(if lang == "de" { DE } else { EN }),
            fallback: flatten(EN),
        }
    }

    /// The string for `key` with `{name}` placeholders filled.
    pub fn t(&self, key: &str, args: &[(&str, &str)]) -> String {
        let template = self
            .strings
            .get(key)
            .or_else(|| self.fallback.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_string());
        args.iter().fold(template, |s, (name, value)| {
            s.replace(&format!("{{{name}}}"), value)
        })
    }
}

fn os_language() -> Option<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty() && v != "C" && v != "POSIX")
}

/// `{"tray": {"quit": "Quit"}}` → `tray.quit = Quit`.
fn flatten(json: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => panic!("locale value at {prefix} is not a string: {other}"),
        }
    }
    let mut out = BTreeMap::new();
    walk(
        "",
        &serde_json::from_str(json).expect("locale files are JSON"),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<String> {
        let mut found: Vec<String> = s
            .split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| name.to_string()))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn english_and_german_have_the_same_keys_and_placeholders() {
        let en = flatten(EN);
        let de = flatten(DE);
        let en_keys: Vec<_> = en.keys().collect();
        let de_keys: Vec<_> = de.keys().collect();
        assert_eq!(
            en_keys, de_keys,
            "locales/en.json and locales/de.json differ in keys"
        );
        for (key, en_text) in &en {
            assert_eq!(
                placeholders(en_text),
                placeholders(&de[key]),
                "placeholders differ for {key}"
            );
            assert!(!de[key].trim().is_empty(), "{key} is empty in German");
        }
    }

    #[test]
    fn lookup_fills_placeholders_and_falls_back_to_the_key() {
        let en = I18n::new(Some("en"));
        assert_eq!(en.t("tray.open_ide", &[]), "Open IDE");
        let de = I18n::new(Some("de"));
        assert_eq!(de.t("tray.quit", &[]), "Berth beenden");
        assert!(
            de.t("notify.stopped_body", &[("name", "demo")])
                .contains("demo")
        );
        assert_eq!(en.t("no.such.key", &[]), "no.such.key");
    }
}
