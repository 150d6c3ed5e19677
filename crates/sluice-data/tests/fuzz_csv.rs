//! Property-based fuzzing of the CSV reader (`csv_schema` then `read_csv`, as `read.csv` calls
//! them) over arbitrary bytes, CSV-shaped soups and well-formed tables: whatever the file, it
//! gives rows or an error naming the file (and the line, but for an empty file), never a panic.
//!
//! `cargo test -p sluice-data fuzz_` runs them with `SLUICE_FUZZ_CASES` cases each (default
//! 256); see docs/fuzzing.md.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;
use sluice_data::DataError;
use sluice_data::datafusion::arrow::array::{Array, StringArray};
use sluice_data::datafusion::arrow::record_batch::RecordBatch;
use sluice_data::read_csv::{BATCH_ROWS, CsvOptions, csv_schema, read_csv};
use sluice_data::values::Kind;

/// [`sluice_core::fuzz_cases`] cases per property, no regression files.
fn config() -> Config {
    Config {
        cases: sluice_core::fuzz_cases(),
        failure_persistence: None,
        ..Config::default()
    }
}

/// A file's column names, row count and batches, as `read.csv` gets them.
type Read = (Vec<String>, u64, Vec<RecordBatch>);

fn read(path: &Path, opts: &CsvOptions) -> Result<Read, DataError> {
    let paths = [path.to_path_buf()];
    let schema = csv_schema(&paths, opts)?;
    let mut batches = Vec::new();
    let rows = read_csv(&paths, opts, &schema, &mut |b| {
        batches.push(b);
        Ok(())
    })?;
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    Ok((names, rows, batches))
}

fn write(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("in.csv");
    std::fs::write(&path, bytes).expect("write");
    path
}

/// What must hold for any file: rows with distinct column names, batches of at most
/// [`BATCH_ROWS`] rows adding up to the count; or a `Malformed` error naming the file and a
/// line inside it (no line only for an empty file). When the types are all inferred, a file
/// whose schema could be inferred is also read.
fn check(bytes: &[u8], opts: &CsvOptions) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), bytes);
    match read(&path, opts) {
        Ok((names, rows, batches)) => {
            let distinct: HashSet<&String> = names.iter().collect();
            prop_assert_eq!(
                distinct.len(),
                names.len(),
                "duplicate columns: {:?}",
                names
            );
            let mut total = 0u64;
            for b in &batches {
                prop_assert!(b.num_rows() <= BATCH_ROWS && b.num_rows() > 0);
                prop_assert_eq!(b.num_columns(), names.len());
                total += b.num_rows() as u64;
            }
            prop_assert_eq!(total, rows);
        }
        Err(DataError::Malformed {
            path: p,
            line,
            message,
        }) => {
            prop_assert_eq!(&p, &path);
            let breaks = bytes.iter().filter(|b| matches!(b, b'\n' | b'\r')).count() as u64;
            match line {
                Some(l) => prop_assert!((1..=breaks + 1).contains(&l), "line {l}: {message}"),
                None => prop_assert_eq!(message.as_str(), "the file is empty: no header line"),
            }
        }
        Err(other) => prop_assert!(false, "not a Malformed error: {other:?}"),
    }
    if opts.infer && opts.types.is_empty() && csv_schema(std::slice::from_ref(&path), opts).is_ok()
    {
        prop_assert!(
            read(&path, opts).is_ok(),
            "inferred but unreadable: {:?}",
            read(&path, opts).err()
        );
    }
    Ok(())
}

/// Reader options: delimiter, quote, header, inference, repair, trim, and sometimes a type
/// declared for the first column.
fn options() -> impl Strategy<Value = CsvOptions> {
    (
        select(&[b',', b';', b'\t', b'|'][..]),
        select(&[b'"', b'\''][..]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        select(
            &[
                None,
                Some(Kind::Int),
                Some(Kind::Float),
                Some(Kind::Bool),
                Some(Kind::Date),
                Some(Kind::Str),
            ][..],
        ),
    )
        .prop_map(
            |(delimiter, quote, header, infer, repair_escapes, trim, declared)| CsvOptions {
                delimiter,
                quote,
                header,
                types: declared
                    .map(|k| BTreeMap::from([("column_1".to_string(), k)]))
                    .unwrap_or_default(),
                infer,
                repair_escapes,
                trim,
            },
        )
}

/// Pieces of CSV: separators, quotes, line ends, values of every inferred type, escapes,
/// invalid UTF-8.
const PIECES: &[&[u8]] = &[
    b",",
    b",",
    b";",
    b"\t",
    b"|",
    b"\"",
    b"\"\"",
    b"'",
    b"\n",
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"a",
    b"id",
    b"column_1",
    b"column_2",
    b"1",
    b"-2",
    b"007",
    b"2.5",
    b"1e400",
    b"-0",
    b"true",
    b"false",
    b"2020-01-31",
    b"31/12/2020",
    b"1 January 2020",
    b"2020-02-30",
    b"\\xc3\\xa8",
    b"\\xc3\\x28",
    b"\\x",
    b"\\xZZ",
    "\u{feff}".as_bytes(),
    "é".as_bytes(),
    b"\xff\xfe",
    b"\xc3",
    b"\0",
    b"#",
];

fn soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(select(PIECES), 0..120).prop_map(|v| v.concat())
}

/// Cell text hostile to CSV: delimiters, quotes, line ends, spaces, escapes, any character.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ,;\"'\\r\\n\\t\\\\x]{0,12}",
        "[0-9.eE+-]{0,8}",
        any::<String>(),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes with arbitrary options.
    #[test]
    fn fuzz_read_csv_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024), opts in options()) {
        check(&bytes, &opts)?;
    }

    /// CSV-shaped soups (ragged rows, stray quotes, blank lines, values of every type).
    #[test]
    fn fuzz_read_csv_soup(bytes in soup(), opts in options()) {
        check(&bytes, &opts)?;
    }

    /// Well-formed tables written by the `csv` crate read back cell for cell (text columns, no
    /// repair, no trim): empty cells as nulls, rows of spaces only skipped.
    #[test]
    fn fuzz_read_csv_roundtrip(
        width in 1usize..6,
        cells in prop::collection::vec(cell(), 0..120),
        big in prop::option::of(0usize..200_000),
    ) {
        let mut cells = cells;
        if let Some(n) = big {
            // One huge field, with every special character in it.
            cells.push("a,\"b\"\r\n\tc".repeat(n / 10 + 1));
        }
        let names: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
        let rows: Vec<Vec<String>> = cells
            .chunks(width)
            .map(|r| {
                let mut r = r.to_vec();
                r.resize(width, String::new());
                r
            })
            .collect();
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(&names).expect("header");
        for r in &rows {
            w.write_record(r).expect("row");
        }
        let bytes = w.into_inner().expect("flush");
        let opts = CsvOptions {
            infer: false,
            repair_escapes: false,
            ..CsvOptions::default()
        };
        check(&bytes, &opts)?;
        let dir = tempfile::tempdir().expect("tempdir");
        let (got_names, count, batches) = read(&write(dir.path(), &bytes), &opts)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(got_names, names);
        let expected: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| !r.iter().all(|c| c.bytes().all(|b| b.is_ascii_whitespace())))
            .collect();
        prop_assert_eq!(count, expected.len() as u64);
        let mut got: Vec<Vec<Option<String>>> = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                got.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            let c = c.as_any().downcast_ref::<StringArray>().expect("text");
                            (!c.is_null(i)).then(|| c.value(i).to_string())
                        })
                        .collect(),
                );
            }
        }
        let want: Vec<Vec<Option<String>>> = expected
            .iter()
            .map(|r| r.iter().map(|c| (!c.is_empty()).then(|| c.clone())).collect())
            .collect();
        prop_assert_eq!(got, want);
    }
}

/// One record as the `csv` crate writes it.
fn record(fields: &[&str]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields).expect("record");
    w.into_inner().expect("flush")
}

proptest! {
    #![proptest_config(config())]

    /// A bad row (one field too many, or a text in an integer column) after empty lines
    /// (`\n`, `\r\n`, `\r`, before the first line too) and rows with line breaks in quoted
    /// fields, with or without a header: the error names the line the row starts on.
    #[test]
    fn fuzz_read_csv_error_line(
        lead in 0usize..4,
        header in any::<bool>(),
        rows in prop::collection::vec((cell(), 0usize..4), 0..30),
        bad_at in any::<Index>(),
        too_long in any::<bool>(),
    ) {
        let bad_at = bad_at.index(rows.len() + 1);
        // Without a header the first row sets the width: a first row too long is not bad.
        let too_long = too_long && (header || bad_at > 0);
        let blank = |bytes: &mut Vec<u8>, n: usize| {
            for k in 0..n {
                bytes.extend_from_slice([&b"\n"[..], b"\r\n", b"\r"][k % 3]);
            }
        };
        let mut bytes = Vec::new();
        blank(&mut bytes, lead);
        if header {
            bytes.extend(record(&["a", "b"]));
        }
        let mut expected = 0;
        for i in 0..=rows.len() {
            if i == bad_at {
                expected = 1 + bytes.iter().filter(|b| **b == b'\n').count();
                bytes.extend(record(if too_long { &["1", "2", "3"] } else { &["x", "2"] }));
            }
            if let Some((text, blanks)) = rows.get(i) {
                blank(&mut bytes, *blanks);
                bytes.extend(record(&[&i.to_string(), text]));
            }
        }
        let first = if header { "a" } else { "column_1" };
        let opts = CsvOptions {
            header,
            types: BTreeMap::from([(first.to_string(), Kind::Int)]),
            ..CsvOptions::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), &bytes);
        let e = read(&path, &opts).expect_err("a bad row");
        let want = if too_long {
            format!("{}:{expected}: the row has 3 fields, the header has 2", path.display())
        } else {
            format!("{}:{expected}: column `{first}`: `x` is not an integer", path.display())
        };
        prop_assert!(e.to_string().starts_with(&want), "{} instead of {}", e, want);
    }
}

#[test]
fn huge_quoted_field_is_one_value() {
    // 8 MiB in one quoted field spanning lines, with doubled quotes.
    let field = "x\"\"y\n".repeat(2 << 20);
    let text = format!("id,text\n1,\"{field}\"\n2,short\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, rows, batches) =
        read(&write(dir.path(), text.as_bytes()), &CsvOptions::default()).expect("read");
    assert_eq!(rows, 2);
    let text = batches[0]
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("text");
    assert_eq!(text.value(0).len(), 4 * (2 << 20));
    assert_eq!(text.value(1), "short");
}
