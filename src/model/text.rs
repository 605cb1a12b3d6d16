//! Text that came from a container (its output, an image's labels) is untrusted: on a
//! terminal an escape sequence can rewrite the screen or the clipboard (OSC 52), and in a
//! notification or the audit log a bidi override can make text read other than it is.

use std::borrow::Cow;

/// `text` with every control character (C0 but newline and tab, DEL, C1) and every bidi
/// override or isolate written as a visible `\u{..}` escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t'))
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn escape_sequences_and_bidi_overrides_become_visible() {
        let osc52 = "before\u{1b}]52;c;ZXZpbA==\u{7}after";
        assert_eq!(
            escape_controls(osc52),
            "before\\u{1b}]52;c;ZXZpbA==\\u{7}after"
        );
        assert_eq!(escape_controls("a\u{202e}txt.exe"), "a\\u{202e}txt.exe");
        assert_eq!(escape_controls("csi \u{9b}2J"), "csi \\u{9b}2J");
        assert_eq!(escape_controls("cr\rdel\u{7f}"), "cr\\u{d}del\\u{7f}");
        // Plain text, newlines and tabs pass unchanged (and unallocated).
        assert!(matches!(
            escape_controls("line one\n\tline two ü"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
