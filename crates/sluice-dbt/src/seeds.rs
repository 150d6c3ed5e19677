//! Seeds: CSV files read with the column types dbt infers (integer, number, date,
//! timestamp, boolean, text) or that `column_types` gives.

use std::collections::BTreeMap;
use std::path::Path;

use sluice_core::yaml::Node;

use crate::project::Origin;
use crate::properties::START;
use crate::{Item, Problems, plain, text};

/// A column's type as the values say, from the narrowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inferred {
    Integer,
    Number,
    Date,
    Timestamp,
    Boolean,
    Text,
}

impl Inferred {
    fn name(self) -> &'static str {
        match self {
            Inferred::Integer => "int",
            Inferred::Number => "float",
            Inferred::Date => "date",
            Inferred::Timestamp => "timestamp",
            Inferred::Boolean => "bool",
            Inferred::Text => "string",
        }
    }

    fn fits(self, v: &str) -> bool {
        let date = |s: &str| chrono_like_date(s);
        match self {
            Inferred::Integer => v.parse::<i64>().is_ok(),
            Inferred::Number => v.parse::<f64>().is_ok_and(f64::is_finite),
            Inferred::Date => date(v),
            Inferred::Timestamp => {
                v.len() >= 16
                    && date(&v[..10])
                    && matches!(v.as_bytes()[10], b' ' | b'T')
                    && v[11..]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
            }
            Inferred::Boolean => v == "true" || v == "false",
            Inferred::Text => true,
        }
    }
}

/// `yyyy-mm-dd`.
fn chrono_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// sluice's type for a dbt column type name (`varchar`, `integer`, `timestamp`, …).
fn kind_of(dbt_type: &str) -> Option<&'static str> {
    let t = dbt_type.trim().to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or_default();
    Some(match base {
        "varchar" | "text" | "string" | "char" | "character" | "uuid" => "string",
        "int" | "integer" | "bigint" | "smallint" | "tinyint" | "hugeint" | "int4" | "int8"
        | "int2" | "long" => "int",
        "double" | "float" | "float4" | "float8" | "real" | "decimal" | "numeric" => "float",
        "date" => "date",
        "timestamp" | "datetime" | "timestamp_ntz" => "timestamp",
        "boolean" | "bool" => "bool",
        _ => return None,
    })
}

/// The `read.csv` task of a seed.
pub(crate) fn task<'a>(dir: &Path, item: &Item, problems: &mut Problems) -> Vec<(&'a str, Node)> {
    let file = dir.join(&item.rel);
    let delimiter = item
        .config
        .text("delimiter")
        .and_then(|(d, _)| d.chars().next())
        .unwrap_or(',');
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    match infer(&file, delimiter) {
        Ok(cols) => {
            for (name, kind) in cols {
                types.insert(name, kind.name().to_string());
            }
        }
        Err(e) => problems.push(Origin::new(&file, START), e),
    }
    if let Some(s) = item.config.get("column_types")
        && let Some(m) = s.value.as_object()
    {
        for (col, t) in m {
            let t = t.as_str().unwrap_or_default();
            match kind_of(t) {
                Some(k) if types.contains_key(col) => {
                    types.insert(col.clone(), k.to_string());
                }
                Some(_) => problems.push(
                    s.origin.clone(),
                    format!("seed `{}`: column_types names `{col}`, which the file does not have", item.name),
                ),
                None => problems.push(
                    s.origin.clone(),
                    format!("seed `{}`: column type `{t}` of `{col}` is not one sluice knows (varchar, integer, double, decimal, date, timestamp, boolean)", item.name),
                ),
            }
        }
    }
    let columns = crate::Node {
        kind: sluice_core::yaml::NodeKind::Map(
            types.iter().map(|(c, k)| (text(c), text(k))).collect(),
        ),
        mark: START,
    };
    let mut e = vec![
        ("op", text("read.csv")),
        ("path", text(&item.rel.to_string_lossy())),
        ("columns", columns),
        ("infer", plain("false")),
        ("repair_escapes", plain("false")),
    ];
    if delimiter != ',' {
        e.push(("delimiter", text(&delimiter.to_string())));
    }
    e
}

/// Each column's name and the narrowest type all its values fit (empty values are nulls).
fn infer(file: &Path, delimiter: char) -> Result<Vec<(String, Inferred)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(u8::try_from(delimiter).unwrap_or(b','))
        .from_path(file)
        .map_err(|e| format!("cannot read the seed: {e}"))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("cannot read the seed's header: {e}"))?
        .iter()
        .map(String::from)
        .collect();
    // For each column, the kinds every value so far fits (Text always does).
    const ORDER: [Inferred; 6] = [
        Inferred::Integer,
        Inferred::Number,
        Inferred::Date,
        Inferred::Timestamp,
        Inferred::Boolean,
        Inferred::Text,
    ];
    let mut fits = vec![[true; 6]; headers.len()];
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", line + 2))?;
        for (i, v) in record.iter().enumerate() {
            let Some(f) = fits.get_mut(i) else { continue };
            if v.is_empty() {
                continue;
            }
            for (k, ok) in ORDER.iter().zip(f.iter_mut()) {
                if *ok && !k.fits(v) {
                    *ok = false;
                }
            }
        }
    }
    let kinds = fits.into_iter().map(|f| {
        ORDER
            .iter()
            .zip(f)
            .find(|(_, ok)| *ok)
            .map_or(Inferred::Text, |(k, _)| *k)
    });
    Ok(headers.into_iter().zip(kinds).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_what_dbt_infers() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("s.csv");
        std::fs::write(
            &f,
            "id,price,day,at,ok,name,empty,mixed\n1,1.5,2024-01-02,2024-01-02 10:00:00,true,a,,1\n2,3,2024-02-01,2024-01-03T11:30:00,false,007,,2024-01-01\n",
        )
        .expect("write");
        let kinds: Vec<&str> = infer(&f, ',')
            .expect("infer")
            .into_iter()
            .map(|(_, k)| k.name())
            .collect();
        assert_eq!(
            kinds,
            [
                "int",
                "float",
                "date",
                "timestamp",
                "bool",
                "string",
                "int",
                "string"
            ]
        );
        assert_eq!(kind_of("VARCHAR(20)"), Some("string"));
        assert_eq!(kind_of("decimal(10, 2)"), Some("float"));
        assert_eq!(kind_of("geometry"), None);
    }
}
