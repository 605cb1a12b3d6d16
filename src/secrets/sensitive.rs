//! [`Sensitive`]: a value that must never reach a log, an error message, `--json` or the UI.

use std::fmt;
use zeroize::Zeroize;

/// A value that prints as `[redacted]`, cannot be serialised (no `Serialize`), and is wiped
/// from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T: Zeroize>(T);

impl<T: Zeroize> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    /// The one way to read the value: say so at the call site.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Sensitive<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: Zeroize> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints_its_value() {
        let s = Sensitive::new("hunter2".to_string());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn dropping_wipes_the_bytes() {
        // What Drop runs, seen through a value we can still read afterwards.
        let mut bytes = *b"key material";
        bytes.zeroize();
        assert_eq!(bytes, [0u8; 12]);
        let mut s = Sensitive::new(vec![1u8, 2, 3]);
        s.0.zeroize();
        assert!(s.expose().is_empty());
    }
}
