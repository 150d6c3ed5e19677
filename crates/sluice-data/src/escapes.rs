//! Repair of literal `\xNN` byte escapes found in exported text (`Gen\xc3\xa8ve`).
//!
//! Each maximal run of escapes is decoded as bytes when they form valid UTF-8 (`\xc3\xb1` →
//! `ñ`), and dropped otherwise (`nursing\xc3\x28` → `nursing`).

use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte at `i` if `s[i..]` starts with an escape `\xNN`.
fn escape_at(s: &[u8], i: usize) -> Option<u8> {
    if s.len() >= i + 4 && s[i] == b'\\' && s[i + 1] == b'x' {
        Some(hex(s[i + 2])? * 16 + hex(s[i + 3])?)
    } else {
        None
    }
}

/// `text` with its `\xNN` runs decoded or dropped; borrowed when there is nothing to repair.
pub fn repair(text: &str) -> Cow<'_, str> {
    if !text.contains("\\x") {
        return Cow::Borrowed(text);
    }
    let s = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut plain_start = 0;
    while i < s.len() {
        if escape_at(s, i).is_none() {
            i += 1;
            continue;
        }
        out.push_str(&text[plain_start..i]);
        let mut bytes = Vec::new();
        while let Some(b) = escape_at(s, i) {
            bytes.push(b);
            i += 4;
        }
        if let Ok(decoded) = String::from_utf8(bytes) {
            out.push_str(&decoded);
        }
        plain_start = i;
    }
    out.push_str(&text[plain_start..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::repair;

    #[test]
    fn decodes_valid_runs_and_drops_invalid_ones() {
        assert_eq!(repair("H\\xc3\\xb4pitaux"), "Hôpitaux");
        assert_eq!(
            repair("Journal of emergency nursing\\xc3\\x28"),
            "Journal of emergency nursing"
        );
        assert_eq!(repair("or \\xc3\\xb1 Laminectomy"), "or ñ Laminectomy");
        assert_eq!(repair("no escapes here"), "no escapes here");
        assert_eq!(repair("a \\x4 b \\xzz"), "a \\x4 b \\xzz");
    }
}
