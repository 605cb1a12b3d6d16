//! The gateway's own small pages (wrong address, log in through Berth, starting, ...), in the
//! reader's language: the browser's `Accept-Language` picks English or German from
//! `locales/` — the same files the app and the tray read.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap};
use hyper::{Response, StatusCode};
use std::sync::OnceLock;

use super::proxy::{Body, add_policy_headers};

const EN: &str = include_str!("../../locales/en.json");
const DE: &str = include_str!("../../locales/de.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

/// The first language of `Accept-Language` Berth speaks; English otherwise.
pub fn language(headers: &HeaderMap) -> Lang {
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accepted
        .split(',')
        .map(|part| {
            part.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .find_map(|tag| match tag.split('-').next() {
            Some("de") => Some(Lang::De),
            Some("en") => Some(Lang::En),
            _ => None,
        })
        .unwrap_or(Lang::En)
}

/// The text of `gateway.<key>` in `lang` with `{name}`-style placeholders filled (HTML-escaped).
fn text(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    static TABLES: OnceLock<(serde_json::Value, serde_json::Value)> = OnceLock::new();
    let (en, de) = TABLES.get_or_init(|| {
        let parse = |raw: &str| serde_json::from_str(raw).expect("locales are valid JSON");
        (parse(EN), parse(DE))
    });
    let table = if lang == Lang::De { de } else { en };
    let mut out = table["gateway"][key]
        .as_str()
        .or_else(|| en["gateway"][key].as_str())
        .unwrap_or(key)
        .to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &escape_html(value));
    }
    out
}

/// Berth's page `key` (texts `gateway.<key>_title` and `gateway.<key>_body`), with the same
/// policy as the IDE's pages.
pub fn page(
    port: u16,
    status: StatusCode,
    lang: Lang,
    key: &str,
    args: &[(&str, &str)],
) -> Response<Body> {
    page_with(port, status, lang, (key, key), args, Extra::None)
}

/// What a page adds below its text.
pub enum Extra {
    None,
    /// The stopped page's Start button: a plain form (no script), posting to its own origin
    /// with the page's one-time value (`None`: no button — the page was not loaded as a page).
    StartButton(Option<String>),
    /// Reloads itself every two seconds (the "starting" page after Start).
    Refresh,
}

/// A page whose title and body come from different keys (`stopped` + `stopped_idle_body`).
pub fn page_with(
    port: u16,
    status: StatusCode,
    lang: Lang,
    (title_key, body_key): (&str, &str),
    args: &[(&str, &str)],
    extra: Extra,
) -> Response<Body> {
    let title = text(lang, &format!("{title_key}_title"), args);
    let body = text(lang, &format!("{body_key}_body"), args);
    let html_lang = if lang == Lang::De { "de" } else { "en" };
    let (head, below) = match extra {
        Extra::None => (String::new(), String::new()),
        Extra::Refresh => (
            "<meta http-equiv=\"refresh\" content=\"2\">".to_string(),
            String::new(),
        ),
        Extra::StartButton(None) => (String::new(), String::new()),
        Extra::StartButton(Some(nonce)) => (
            String::new(),
            format!(
                "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"nonce\" value=\"{}\">\
                 <button type=\"submit\" data-testid=\"berth-start\">{}</button></form>",
                super::policy::START_PATH,
                escape_html(&nonce),
                text(lang, "start_button", &[])
            ),
        ),
    };
    let html = format!(
        "<!doctype html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">{head}<title>{title} · Berth</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:15vh auto;max-width:34em;color:#222}}\
         button{{font:inherit;padding:.4em 1.4em}}</style>\
         </head><body><h1>{title}</h1><p>{body}</p>{below}</body></html>"
    );
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(Bytes::from(html)))
        .expect("static response parts");
    add_policy_headers(response.headers_mut(), port);
    response
}

pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn accepting(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn the_browsers_first_language_berth_speaks() {
        assert_eq!(language(&accepting("de-DE,de;q=0.9,en;q=0.8")), Lang::De);
        assert_eq!(
            language(&accepting("fr-FR, en-US;q=0.7, de;q=0.5")),
            Lang::En
        );
        assert_eq!(language(&accepting("fr")), Lang::En);
        assert_eq!(language(&HeaderMap::new()), Lang::En);
    }

    #[test]
    fn every_page_reads_in_both_languages_with_names_escaped() {
        for key in [
            "misdirected",
            "not_running",
            "login",
            "link_used",
            "starting",
            "too_many",
            "no_answer",
            "stopped",
            "stopped_idle",
            "start_refused",
        ] {
            for lang in [Lang::En, Lang::De] {
                for part in ["title", "body"] {
                    let t = text(lang, &format!("{key}_{part}"), &[("name", "x")]);
                    assert!(
                        !t.ends_with(&format!("{key}_{part}")),
                        "{lang:?} lacks {key}_{part}"
                    );
                }
            }
        }
        for lang in [Lang::En, Lang::De] {
            assert!(!text(lang, "start_button", &[]).ends_with("start_button"));
        }
        let de = text(Lang::De, "login_body", &[("name", "<b>")]);
        assert!(de.contains("berth open &lt;b&gt;"), "{de}");
        assert_ne!(de, text(Lang::En, "login_body", &[("name", "<b>")]));
    }
}
