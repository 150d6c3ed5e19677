//! Listing mode: which files of a directory index (an HTML page of links, like the DILA
//! open-data folders, or a local folder) to fetch, and in which order.
//!
//! Names carry a stamp `YYYYMMDD-HHMMSS`. A full dump (`Freemium_*` by default) holds
//! everything up to its stamp; deltas hold what changed since the one before. The first run
//! takes the newest full dump and the deltas after it; later runs take the deltas newer than
//! the last file taken. Deltas older than the dump are skipped: the dump already holds them,
//! and applying them again would bring back old versions.

/// One link of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name (last segment of the link, as written).
    pub name: String,
    /// The absolute URL (or local path).
    pub url: String,
    /// The `YYYYMMDD-HHMMSS` stamp in the name.
    pub stamp: String,
    /// Whether the name matches the full-dump pattern.
    pub full: bool,
}

/// The `href` targets of an HTML page, in page order.
pub fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("href") {
        let mut i = at + found + 4;
        at = i;
        let bytes = lower.as_bytes();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let (start, end) = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let Some(len) = lower[i + 1..].find(q as char) else {
                    break;
                };
                (i + 1, i + 1 + len)
            }
            Some(_) => {
                let len = lower[i..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(lower.len() - i);
                (i, i + len)
            }
            None => break,
        };
        out.push(html[start..end].replace("&amp;", "&"));
        at = end;
    }
    out
}

/// The `YYYYMMDD-HHMMSS` stamp in a file name, if it has one.
pub fn stamp(name: &str) -> Option<String> {
    let b = name.as_bytes();
    (0..b.len().saturating_sub(14)).find_map(|i| {
        let s = &b[i..i + 15];
        let ok = s[..8].iter().all(u8::is_ascii_digit)
            && s[8] == b'-'
            && s[9..].iter().all(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 15).is_none_or(|c| !c.is_ascii_digit());
        ok.then(|| name[i..i + 15].to_string())
    })
}

/// What to fetch now, in order: from `entries` (all the index offers that match the
/// pattern), given the stamp of the last file taken by a previous run.
pub fn plan(entries: &[Entry], last: Option<&str>) -> Vec<Entry> {
    let mut deltas: Vec<&Entry> = entries.iter().filter(|e| !e.full).collect();
    deltas.sort_by(|a, b| (&a.stamp, &a.name).cmp(&(&b.stamp, &b.name)));
    match last {
        Some(last) => deltas
            .into_iter()
            .filter(|e| e.stamp.as_str() > last)
            .cloned()
            .collect(),
        None => {
            let dump = entries
                .iter()
                .filter(|e| e.full)
                .max_by(|a, b| (&a.stamp, &a.name).cmp(&(&b.stamp, &b.name)));
            let since = dump.map_or("", |d| d.stamp.as_str());
            dump.into_iter()
                .chain(deltas.into_iter().filter(|e| e.stamp.as_str() > since))
                .cloned()
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, full: bool) -> Entry {
        Entry {
            name: name.into(),
            url: format!("https://x/{name}"),
            stamp: stamp(name).expect("stamp"),
            full,
        }
    }

    #[test]
    fn links_are_read_from_quoted_and_bare_hrefs() {
        let html = r#"<a href="CNIL_20250711-212007.tar.gz">x</a> <A HREF='b.tar.gz'>
            <a href=c.tar.gz>c</a><a href="?C=N&amp;O=D">sort</a>"#;
        assert_eq!(
            links(html),
            vec![
                "CNIL_20250711-212007.tar.gz",
                "b.tar.gz",
                "c.tar.gz",
                "?C=N&O=D"
            ]
        );
    }

    #[test]
    fn stamps_are_found_anywhere_in_the_name() {
        assert_eq!(
            stamp("Freemium_cnil_global_20250713-140000.tar.gz").as_deref(),
            Some("20250713-140000")
        );
        assert_eq!(
            stamp("CNIL_20250711-212007.tar.gz").as_deref(),
            Some("20250711-212007")
        );
        assert_eq!(stamp("CNIL_2025071-212007.tar.gz"), None);
        assert_eq!(stamp("readme.txt"), None);
    }

    #[test]
    fn first_run_takes_the_newest_dump_then_later_deltas_in_date_order() {
        let entries = vec![
            entry("CNIL_20250720-210000.tar.gz", false),
            entry("Freemium_cnil_global_20250101-000000.tar.gz", true),
            entry("CNIL_20250710-210000.tar.gz", false),
            entry("Freemium_cnil_global_20250713-140000.tar.gz", true),
            entry("CNIL_20250715-210000.tar.gz", false),
        ];
        let names = |v: Vec<Entry>| v.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(
            names(plan(&entries, None)),
            vec![
                "Freemium_cnil_global_20250713-140000.tar.gz",
                "CNIL_20250715-210000.tar.gz",
                "CNIL_20250720-210000.tar.gz"
            ]
        );
        assert_eq!(
            names(plan(&entries, Some("20250715-210000"))),
            vec!["CNIL_20250720-210000.tar.gz"]
        );
        assert!(plan(&entries, Some("20250720-210000")).is_empty());
    }
}
