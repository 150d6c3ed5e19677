//! Markdown tables, as the parsers of documents write the tables they find.

/// Empty cells added at most to pad a short row to the widest one: a row of one cell in a
/// table whose widest row has 10,000 does not become 10,000 cells.
pub const MAX_PADDED_CELLS: usize = 64;

/// The lines of a Markdown table: each row of `rows` (cells already escaped with [`cell`])
/// padded with empty cells to the widest row (by [`MAX_PADDED_CELLS`] at most), and the
/// separator line after the first `header_rows` rows (at least one; after the last row when
/// every row is a header). No line when no row has a cell.
pub fn table_lines(rows: &[Vec<String>], header_rows: usize) -> Vec<String> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return Vec::new();
    }
    let header_rows = header_rows.clamp(1, rows.len());
    let mut lines = Vec::with_capacity(rows.len() + 1);
    for (i, row) in rows.iter().enumerate() {
        let mut cells: Vec<&str> = row.iter().map(String::as_str).collect();
        cells.resize(cells.len().max(width.min(MAX_PADDED_CELLS)), "");
        lines.push(format!("| {} |", cells.join(" | ")));
        if i + 1 == header_rows {
            lines.push(format!("|{}", " --- |".repeat(width)));
        }
    }
    lines
}

/// `text` as one table cell: `|` escaped, line breaks as spaces.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn rows_are_padded_and_the_separator_follows_the_headers() {
        let t = rows(&[&["a", "b"], &["1"], &["2", "3"]]);
        assert_eq!(
            table_lines(&t, 1),
            ["| a | b |", "| --- | --- |", "| 1 |  |", "| 2 | 3 |"]
        );
        assert_eq!(
            table_lines(&t, 2),
            ["| a | b |", "| 1 |  |", "| --- | --- |", "| 2 | 3 |"]
        );
        // Every row a header: the separator closes the table.
        assert_eq!(table_lines(&t[..1], 3), ["| a | b |", "| --- | --- |"]);
        assert!(table_lines(&rows(&[&[]]), 1).is_empty());
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn padding_is_bounded() {
        let wide: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let t = vec![wide, vec!["x".to_string()]];
        let lines = table_lines(&t, 1);
        assert_eq!(lines[2].matches(" | ").count(), MAX_PADDED_CELLS - 1);
    }
}
