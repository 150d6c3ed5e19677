//! Data checks declared under a task's `checks:`, and the query that finds the rows breaking
//! each one (run by the engine against the task's new dataset, exposed as table `data`).

use serde::Deserialize;

/// One column or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Columns {
    /// `not_null: journal`.
    One(String),
    /// `not_null: [drug, journal]`.
    Many(Vec<String>),
}

impl Columns {
    /// The column names.
    pub fn names(&self) -> Vec<String> {
        match self {
            Columns::One(c) => vec![c.clone()],
            Columns::Many(cs) => cs.clone(),
        }
    }
}

/// `accepted_values: {column: state, values: [open, closed]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    /// The column.
    pub column: String,
    /// The values allowed (nulls are not checked: add `not_null`).
    pub values: Vec<serde_json::Value>,
}

/// `row_count: {min: 1, max: 1000}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowCount {
    /// At least this many rows.
    pub min: Option<u64>,
    /// At most this many rows.
    pub max: Option<u64>,
}

/// A data check.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// No nulls in these columns.
    NotNull(Columns),
    /// No duplicate values in each of these columns (nulls ignored).
    Unique(Columns),
    /// Only these values in a column.
    AcceptedValues(AcceptedValues),
    /// The number of rows is within bounds.
    RowCount(RowCount),
    /// A SQL predicate every row satisfies (a row where it is false or null breaks it).
    Expression(String),
}

/// `"name"` with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A JSON value as a SQL literal: a string quoted (inner quotes doubled), `NULL`, a number
/// or a boolean as written.
pub fn literal(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        serde_json::Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

impl Check {
    /// `(name, query)` pairs: each query returns the offending rows of table `data`.
    pub fn queries(&self) -> Vec<(String, String)> {
        match self {
            Check::NotNull(cols) => cols
                .names()
                .into_iter()
                .map(|c| (format!("not_null({c})"), format!("SELECT * FROM data WHERE {} IS NULL", quote_ident(&c))))
                .collect(),
            Check::Unique(cols) => cols
                .names()
                .into_iter()
                .map(|c| {
                    let q = quote_ident(&c);
                    (
                        format!("unique({c})"),
                        format!(
                            "SELECT {q}, count(*) AS occurrences FROM data WHERE {q} IS NOT NULL GROUP BY {q} HAVING count(*) > 1 ORDER BY occurrences DESC"
                        ),
                    )
                })
                .collect(),
            Check::AcceptedValues(a) => {
                let values: Vec<String> = a.values.iter().map(literal).collect();
                let q = quote_ident(&a.column);
                vec![(
                    format!("accepted_values({})", a.column),
                    format!("SELECT * FROM data WHERE {q} IS NOT NULL AND {q} NOT IN ({})", values.join(", ")),
                )]
            }
            Check::RowCount(r) => {
                let mut conds = Vec::new();
                if let Some(min) = r.min {
                    conds.push(format!("count(*) < {min}"));
                }
                if let Some(max) = r.max {
                    conds.push(format!("count(*) > {max}"));
                }
                if conds.is_empty() {
                    return Vec::new();
                }
                let name = match (r.min, r.max) {
                    (Some(a), Some(b)) => format!("row_count({a}..{b})"),
                    (Some(a), None) => format!("row_count(min {a})"),
                    (None, Some(b)) => format!("row_count(max {b})"),
                    (None, None) => "row_count".into(),
                };
                vec![(name, format!("SELECT count(*) AS row_count FROM data HAVING {}", conds.join(" OR ")))]
            }
            Check::Expression(e) => vec![(format!("expression({e})"), format!("SELECT * FROM data WHERE ({e}) IS NOT TRUE"))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{from_node, yaml::parse};

    #[test]
    fn parses_every_check_and_builds_queries() {
        let node = parse(
            "- not_null: [drug, journal]\n- unique: id\n- accepted_values: {column: kind, values: [pubmed, 'it''s']}\n- row_count: {min: 1}\n- expression: date >= '2000-01-01'\n",
        )
        .expect("yaml");
        let checks: Vec<Check> = from_node(&node).expect("checks");
        let queries: Vec<(String, String)> = checks.iter().flat_map(Check::queries).collect();
        assert_eq!(queries.len(), 6);
        assert_eq!(
            queries[0],
            (
                "not_null(drug)".into(),
                "SELECT * FROM data WHERE \"drug\" IS NULL".into()
            )
        );
        assert_eq!(
            queries[3].1,
            "SELECT * FROM data WHERE \"kind\" IS NOT NULL AND \"kind\" NOT IN ('pubmed', 'it''s')"
        );
        assert_eq!(
            queries[4],
            (
                "row_count(min 1)".into(),
                "SELECT count(*) AS row_count FROM data HAVING count(*) < 1".into()
            )
        );
        assert_eq!(
            queries[5].1,
            "SELECT * FROM data WHERE (date >= '2000-01-01') IS NOT TRUE"
        );
    }
}
