//! Dates as French public-data sources write them.

/// A French date, `DD/MM/YYYY` (anything after a space, such as a time, is ignored), or an
/// ISO one (`YYYY-MM-DD…`), as `YYYY-MM-DD`. `None` when it is neither.
pub fn french_date(s: &str) -> Option<String> {
    let day = s.split_whitespace().next()?;
    let date = chrono::NaiveDate::parse_from_str(day, "%d/%m/%Y")
        .ok()
        .or_else(|| chrono::NaiveDate::parse_from_str(day.get(..10)?, "%Y-%m-%d").ok())?;
    Some(date.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_iso_or_nothing() {
        assert_eq!(french_date("14/01/2025").as_deref(), Some("2025-01-14"));
        assert_eq!(french_date("9/3/2021").as_deref(), Some("2021-03-09"));
        assert_eq!(
            french_date("09/08/2023 13:30:19").as_deref(),
            Some("2023-08-09")
        );
        assert_eq!(
            french_date("2023-08-09T13:30:19").as_deref(),
            Some("2023-08-09")
        );
        assert_eq!(french_date("31/02/2024"), None);
        assert_eq!(french_date("hier"), None);
        assert_eq!(french_date(""), None);
    }
}
