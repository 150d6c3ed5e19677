//! JSON files (one array, or one object per line) into a record batch. `lenient` accepts
//! trailing commas and fields whose type varies (ids that are sometimes numbers, sometimes
//! strings), which are then read as text. Nested values are kept as JSON text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::escapes::repair;
use crate::json_text::StringTracker;
use crate::values::{ColumnBuilder, Kind};
use crate::{DataError, Result, io_err};

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct JsonOptions {
    /// Accept trailing commas and mixed-type fields.
    pub lenient: bool,
    /// Decode or drop literal `\xNN` escapes in strings.
    pub repair_escapes: bool,
}

/// Removes commas that directly precede `]` or `}` (outside strings).
fn strip_trailing_commas(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut strings = StringTracker::default();
    for (i, &c) in b.iter().enumerate() {
        if !strings.in_string(c) && c == b',' {
            let next = b[i + 1..].iter().find(|x| !x.is_ascii_whitespace());
            if matches!(next, Some(b']') | Some(b'}')) {
                continue;
            }
        }
        out.push(c);
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_i64() => Kind::Int,
        Value::Number(_) => Kind::Float,
        _ => Kind::Str,
    }
}

fn describe(k: Kind) -> &'static str {
    match k {
        Kind::Null => "null",
        Kind::Bool => "a boolean",
        Kind::Int => "an integer",
        Kind::Float => "a number",
        Kind::Date => "a date",
        Kind::Str => "a string",
    }
}

/// Parses the records of one file.
fn records(path: &Path, opts: &JsonOptions) -> Result<Vec<serde_json::Map<String, Value>>> {
    let raw = std::fs::read_to_string(path).map_err(io_err(path))?;
    let text = if opts.lenient {
        strip_trailing_commas(&raw)
    } else {
        raw
    };
    let mut out = Vec::new();
    let malformed = |e: serde_json::Error| DataError::Malformed {
        path: path.to_path_buf(),
        line: Some(e.line() as u64),
        message: format!(
            "not valid JSON (column {}): {e}; expected an array of objects or one object per line{}",
            e.column(),
            if opts.lenient {
                ""
            } else {
                " (`lenient: true` accepts trailing commas)"
            }
        ),
    };
    for value in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        match value.map_err(malformed)? {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(m) => out.push(m),
                        other => {
                            return Err(DataError::Malformed {
                                path: path.to_path_buf(),
                                line: None,
                                message: format!(
                                    "item {} of the array is not an object but {}",
                                    i + 1,
                                    describe(kind_of(&other))
                                ),
                            });
                        }
                    }
                }
            }
            Value::Object(m) => out.push(m),
            other => {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    line: None,
                    message: format!("expected objects, found {}", describe(kind_of(&other))),
                });
            }
        }
    }
    Ok(out)
}

/// Reads JSON files into one batch (the files are parsed whole: JSON arrays cannot be
/// streamed row by row and keep exact error positions).
pub fn read_json(paths: &[PathBuf], opts: &JsonOptions) -> Result<RecordBatch> {
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut all = Vec::new();
    for path in paths {
        for (n, rec) in records(path, opts)?.into_iter().enumerate() {
            for (k, v) in &rec {
                let i = *index.entry(k.clone()).or_insert_with(|| {
                    names.push(k.clone());
                    kinds.push(Kind::Null);
                    names.len() - 1
                });
                let merged = kinds[i].merge(kind_of(v));
                if merged == Kind::Str
                    && kinds[i] != Kind::Str
                    && kinds[i] != Kind::Null
                    && !opts.lenient
                {
                    return Err(DataError::Malformed {
                        path: path.clone(),
                        line: None,
                        message: format!(
                            "field `{k}` is {} in record {} but was {} before; set `lenient: true` to read it as text",
                            describe(kind_of(v)),
                            n + 1,
                            describe(kinds[i])
                        ),
                    });
                }
                kinds[i] = merged;
            }
            all.push(rec);
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .zip(&kinds)
            .map(|(n, k)| Field::new(n, k.data_type(), true))
            .collect::<Vec<_>>(),
    ));
    let mut builders: Vec<ColumnBuilder> = kinds.iter().map(|k| ColumnBuilder::new(*k)).collect();
    for rec in &all {
        for (i, name) in names.iter().enumerate() {
            let text: Option<String> = match rec.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(if opts.repair_escapes {
                    repair(s).into_owned()
                } else {
                    s.clone()
                }),
                Some(Value::Bool(b)) => Some(b.to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => Some(other.to_string()),
            };
            builders[i]
                .append_text(text.as_deref())
                .map_err(|m| DataError::Malformed {
                    path: paths.first().cloned().unwrap_or_default(),
                    line: None,
                    message: format!("field `{name}`: {m}"),
                })?;
        }
    }
    let cols = builders.iter_mut().map(ColumnBuilder::finish).collect();
    Ok(RecordBatch::try_new(schema, cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_reads_trailing_commas_and_mixed_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p.json");
        std::fs::write(&p, "[\n {\"id\": 9, \"title\": \"a, b\"},\n {\"id\": \"10\", \"title\": \"x\\\\xc3\\\\xa9\"},\n]\n").expect("write");
        let err = read_json(std::slice::from_ref(&p), &JsonOptions::default()).expect_err("strict");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let batch = read_json(
            &[p],
            &JsonOptions {
                lenient: true,
                repair_escapes: true,
            },
        )
        .expect("lenient");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&[batch])
            .expect("fmt")
            .to_string();
        assert!(
            text.contains("| 9  | a, b  |") && text.contains("| 10 | xé    |"),
            "{text}"
        );
    }

    #[test]
    fn ndjson_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("n.json");
        std::fs::write(&p, "{\"a\": 1}\n{\"a\": 2, \"b\": true}\n").expect("write");
        let batch = read_json(&[p], &JsonOptions::default()).expect("ndjson");
        assert_eq!((batch.num_rows(), batch.num_columns()), (2, 2));
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "id,title\n1,x\n").expect("write");
        let err =
            read_json(std::slice::from_ref(&p), &JsonOptions::default()).expect_err("not json");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:1: not valid JSON (column 1)", p.display())),
            "{err}"
        );
    }
}
