//! Scanning JSON text byte by byte: where strings start and end.

/// Tracks whether the bytes fed to it are inside a JSON string (quotes and escapes included).
#[derive(Debug, Default)]
pub(crate) struct StringTracker {
    in_str: bool,
    escaped: bool,
}

impl StringTracker {
    /// Feeds the next byte; true when it belongs to a string (its quotes included).
    pub(crate) fn in_string(&mut self, c: u8) -> bool {
        if self.in_str {
            if self.escaped {
                self.escaped = false;
            } else if c == b'\\' {
                self.escaped = true;
            } else if c == b'"' {
                self.in_str = false;
            }
            true
        } else if c == b'"' {
            self.in_str = true;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StringTracker;

    #[test]
    fn follows_strings_and_escapes() {
        let text = br#"{"a\"b": 1}"#;
        let mut t = StringTracker::default();
        let inside: String = text
            .iter()
            .map(|&c| if t.in_string(c) { 's' } else { '.' })
            .collect();
        assert_eq!(inside, ".ssssss....");
    }
}
