//! CSV files into record batches: delimiter, header, quoting, declared or inferred column
//! types, blank lines skipped, literal `\xNN` escapes repaired. Errors name file and line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::escapes::repair;
use crate::values::{ColumnBuilder, Kind};
use crate::{DataError, Result, io_err};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 65_536;

/// How to read.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Field separator.
    pub delimiter: u8,
    /// Quote character.
    pub quote: u8,
    /// Whether the first (non-blank) line holds the column names.
    pub header: bool,
    /// Declared types of some columns; the others are inferred (or text when `infer` is off).
    pub types: BTreeMap<String, Kind>,
    /// Infer the types of undeclared columns from the whole input (one extra pass).
    pub infer: bool,
    /// Decode or drop literal `\xNN` escapes.
    pub repair_escapes: bool,
    /// Trim spaces around values.
    pub trim: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            quote: b'"',
            header: true,
            types: BTreeMap::new(),
            infer: true,
            repair_escapes: true,
            trim: false,
        }
    }
}

/// One parsed row: where it starts (see [`record_line`]) and its cleaned values (`None` for
/// empty).
struct Row {
    pos: csv::Position,
    values: Vec<Option<String>>,
}

/// The line a record starts on. For the first record, the `csv` crate gives the position where
/// it began reading, before the empty lines it skips: those are counted here, from the file
/// (only for an error message).
fn record_line(path: &Path, pos: &csv::Position) -> u64 {
    let skipped = File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(pos.byte()))?;
        let mut lines = 0;
        for byte in std::io::BufReader::new(file).bytes() {
            match byte? {
                b'\n' => lines += 1,
                b'\r' => {}
                _ => break,
            }
        }
        Ok(lines)
    });
    pos.line() + skipped.unwrap_or(0)
}

/// Reads the rows of one file, calling `f` for each data row; with `header_only`, stops after
/// the header.
fn scan(
    path: &Path,
    opts: &CsvOptions,
    header_only: bool,
    mut f: impl FnMut(&[String], Row) -> Result<()>,
) -> Result<Vec<String>> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .quote(opts.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let mut header: Option<Vec<String>> = None;
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| DataError::Malformed {
                path: path.to_path_buf(),
                line: e.position().map(|p| p.line()),
                message: format!("unreadable CSV: {e}"),
            })?;
        if !more {
            break;
        }
        let pos = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        // Blank and whitespace-only lines (a trailing tab, say) hold no data.
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let values: Vec<Option<String>> = record
            .iter()
            .map(|raw| {
                let text = String::from_utf8_lossy(raw);
                let text = if opts.repair_escapes {
                    repair(&text).into_owned()
                } else {
                    text.into_owned()
                };
                let text = if opts.trim {
                    text.trim().to_string()
                } else {
                    text
                };
                (!text.is_empty()).then_some(text)
            })
            .collect();
        let Some(names) = &header else {
            let names: Vec<String> = if opts.header {
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_deref()
                            .map(|s| s.trim_start_matches('\u{feff}').trim().to_string())
                            .unwrap_or_else(|| format!("column_{}", i + 1))
                    })
                    .collect()
            } else {
                (1..=values.len()).map(|i| format!("column_{i}")).collect()
            };
            if let Some(message) = duplicate_column(&names) {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    line: Some(record_line(path, &pos)),
                    message,
                });
            }
            header = Some(names);
            if header_only {
                break;
            }
            if opts.header {
                continue;
            }
            let names = header.as_deref().unwrap_or_default();
            f(names, Row { pos, values })?;
            continue;
        };
        if values.len() != names.len() {
            let spans_lines = record.iter().any(|f| f.contains(&b'\n'));
            let at_end = !reader
                .read_byte_record(&mut csv::ByteRecord::new())
                .unwrap_or(false);
            let message = if spans_lines && at_end {
                format!(
                    "unclosed quote: a quoted field starting on this line runs to the end of the file (the row has {} fields, the header {})",
                    values.len(),
                    names.len()
                )
            } else {
                format!(
                    "the row has {} fields, the header has {} ({}); check the delimiter and quotes",
                    values.len(),
                    names.len(),
                    names.join(", ")
                )
            };
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                line: Some(record_line(path, &pos)),
                message,
            });
        }
        f(names, Row { pos, values })?;
    }
    header.ok_or_else(|| DataError::Malformed {
        path: path.to_path_buf(),
        line: None,
        message: "the file is empty: no header line".into(),
    })
}

/// Why a header cannot name the columns: a name given twice (a dataset's columns need distinct
/// names: DataFusion refuses the table at the first query otherwise).
fn duplicate_column(names: &[String]) -> Option<String> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name, i) {
            return Some(format!(
                "column `{name}` appears twice in the header (columns {} and {}); rename one",
                first + 1,
                i + 1
            ));
        }
    }
    None
}

/// The schema of the files: declared types, else inferred from every value (one pass).
pub fn csv_schema(paths: &[PathBuf], opts: &CsvOptions) -> Result<SchemaRef> {
    let mut names: Option<Vec<String>> = None;
    let mut kinds: Vec<Kind> = Vec::new();
    for path in paths {
        // Without inference the header is enough: the rows are checked when they are read.
        let header_only = !opts.infer;
        let header = scan(path, opts, header_only, |names, row| {
            if opts.infer {
                if kinds.len() < names.len() {
                    kinds.resize(names.len(), Kind::Null);
                }
                for (k, v) in kinds.iter_mut().zip(&row.values) {
                    if *k != Kind::Str {
                        *k = k.merge(v.as_deref().map_or(Kind::Null, Kind::of_text));
                    }
                }
            }
            Ok(())
        })?;
        match &names {
            None => names = Some(header),
            Some(first) if *first != header => {
                return Err(DataError::Malformed {
                    path: path.clone(),
                    line: Some(1),
                    message: format!(
                        "its columns ({}) differ from those of {} ({})",
                        header.join(", "),
                        paths[0].display(),
                        first.join(", ")
                    ),
                });
            }
            Some(_) => {}
        }
    }
    let names = names.unwrap_or_default();
    for declared in opts.types.keys() {
        if !names.contains(declared) {
            return Err(DataError::Malformed {
                path: paths.first().cloned().unwrap_or_default(),
                line: Some(1),
                message: format!(
                    "no column `{declared}` for the declared type (columns: {})",
                    names.join(", ")
                ),
            });
        }
    }
    let fields: Vec<Field> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = opts.types.get(name).copied().unwrap_or_else(|| {
                if opts.infer {
                    kinds.get(i).copied().unwrap_or(Kind::Null)
                } else {
                    Kind::Str
                }
            });
            Field::new(name, kind.data_type(), true)
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// Reads the files as batches of `schema` (from [`csv_schema`]), passing each to `sink`.
pub fn read_csv(
    paths: &[PathBuf],
    opts: &CsvOptions,
    schema: &SchemaRef,
    sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<u64> {
    let kinds: Vec<Kind> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            datafusion::arrow::datatypes::DataType::Boolean => Kind::Bool,
            datafusion::arrow::datatypes::DataType::Int64 => Kind::Int,
            datafusion::arrow::datatypes::DataType::Float64 => Kind::Float,
            datafusion::arrow::datatypes::DataType::Date32 => Kind::Date,
            datafusion::arrow::datatypes::DataType::Timestamp(_, _) => Kind::Timestamp,
            _ => Kind::Str,
        })
        .collect();
    let new_builders = || {
        kinds
            .iter()
            .map(|k| ColumnBuilder::new(*k))
            .collect::<Vec<_>>()
    };
    let mut builders = new_builders();
    let mut pending = 0usize;
    let mut total = 0u64;
    for path in paths {
        scan(path, opts, false, |names, row| {
            for (i, (b, v)) in builders.iter_mut().zip(row.values).enumerate() {
                b.append_text(v.as_deref())
                    .map_err(|m| DataError::Malformed {
                        path: path.clone(),
                        line: Some(record_line(path, &row.pos)),
                        message: format!("column `{}`: {m}", names[i]),
                    })?;
            }
            pending += 1;
            total += 1;
            if pending == BATCH_ROWS {
                let cols = builders.iter_mut().map(ColumnBuilder::finish).collect();
                sink(RecordBatch::try_new(schema.clone(), cols)?)?;
                builders = new_builders();
                pending = 0;
            }
            Ok(())
        })?;
    }
    if pending > 0 {
        let cols = builders.iter_mut().map(ColumnBuilder::finish).collect();
        sink(RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn read_all(paths: &[PathBuf], opts: &CsvOptions) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = csv_schema(paths, opts)?;
        let mut out = Vec::new();
        read_csv(paths, opts, &schema, &mut |b| {
            out.push(b);
            Ok(())
        })?;
        Ok((schema, out))
    }

    #[test]
    fn infers_types_skips_blank_lines_and_repairs_escapes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            "a.csv",
            "id,title,score\n1,\"Gen\\xc3\\xa8ve, \"\"quoted\"\"\",1.5\n2,nursing\\xc3\\x28,\n\t\n",
        );
        let (schema, batches) = read_all(&[p], &CsvOptions::default()).expect("read");
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types, vec!["Int64", "Utf8", "Float64"]);
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("fmt")
            .to_string();
        assert!(
            text.contains("| 1  | Genève, \"quoted\" | 1.5   |"),
            "{text}"
        );
        assert!(text.contains("| 2  | nursing          |       |"), "{text}");
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    }

    #[test]
    fn unclosed_quote_names_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(
            dir.path(),
            "bad.csv",
            "id,title,date\n1,ok,2020\n2,\"never closed,2020\n3,x,2021\n",
        );
        let err = csv_schema(std::slice::from_ref(&p), &CsvOptions::default()).expect_err("bad");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: unclosed quote: a quoted field starting on this line runs to the end of the file (the row has 2 fields, the header 3)",
                p.display()
            )
        );
    }

    #[test]
    fn duplicate_column_names_are_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        // `a,a` made a schema with two columns `a` (DataFusion refused the dataset at its first
        // query); an empty name becomes `column_2`, which may be taken too.
        for (text, message) in [
            (
                "\nid,a,a\n1,2,3\n",
                "2: column `a` appears twice in the header (columns 2 and 3); rename one",
            ),
            (
                "column_2,\n1,2\n",
                "1: column `column_2` appears twice in the header (columns 1 and 2); rename one",
            ),
        ] {
            let p = write(dir.path(), "d.csv", text);
            let err =
                csv_schema(std::slice::from_ref(&p), &CsvOptions::default()).expect_err("dup");
            assert_eq!(err.to_string(), format!("{}:{message}", p.display()));
        }
    }

    #[test]
    fn wrong_field_count_and_bad_declared_type() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "b.csv", "a,b\n1,2\n3,4,5\n");
        let err = csv_schema(std::slice::from_ref(&p), &CsvOptions::default()).expect_err("bad");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: the row has 3 fields, the header has 2 (a, b); check the delimiter and quotes",
                p.display()
            )
        );
        // Found by fuzz_read_csv_error_line: after empty lines at the start of a file the `csv`
        // crate's position is line 1 (the row is on line 3).
        let p = write(dir.path(), "e.csv", "\r\n\nx,1\n2,3\n");
        let opts = CsvOptions {
            header: false,
            types: BTreeMap::from([("column_1".to_string(), Kind::Int)]),
            ..CsvOptions::default()
        };
        let err = read_all(std::slice::from_ref(&p), &opts).expect_err("bad");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: column `column_1`: `x` is not an integer",
                p.display()
            )
        );
        let p = write(dir.path(), "c.csv", "a,b\n1,x\n");
        let opts = CsvOptions {
            types: BTreeMap::from([("b".to_string(), Kind::Int)]),
            ..CsvOptions::default()
        };
        let err = read_all(std::slice::from_ref(&p), &opts).expect_err("bad");
        assert_eq!(
            err.to_string(),
            format!("{}:2: column `b`: `x` is not an integer", p.display())
        );
    }
}
