//! JSON files (arrays of objects, or one object per line) into record batches. `lenient`
//! accepts trailing commas and fields whose type varies (ids that are sometimes numbers,
//! sometimes strings), which are then read as text. Nested values are kept as JSON text.
//!
//! Files are streamed, never read whole: [`json_schema`] reads them once for the columns and
//! their types, [`read_json`] a second time into batches of [`BATCH_ROWS`] rows. Inside an
//! array, one record is in memory at a time; `lenient` removes trailing commas on the way
//! ([`TrailingCommas`], a few kilobytes held at most). Errors give the file and the line.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::escapes::repair;
use crate::json_text::StringTracker;
use crate::values::{ColumnBuilder, Kind};
use crate::{DataError, Result, io_err};

/// Rows per batch handed to the sink.
pub const BATCH_ROWS: usize = 65_536;

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct JsonOptions {
    /// Accept trailing commas and mixed-type fields.
    pub lenient: bool,
    /// Decode or drop literal `\xNN` escapes in strings.
    pub repair_escapes: bool,
}

/// Whitespace held after a comma before it is let through without it (see
/// [`TrailingCommas`]).
const HOLD: usize = 4096;

/// A reader that drops the commas that directly precede `]` or `}` (whitespace between
/// allowed, strings excepted): each becomes a space, so lines and columns stay those of the
/// file. A comma waits, with the whitespace after it, until the next byte says whether it
/// stays; after `HOLD` bytes of whitespace that whitespace goes on and the comma alone
/// waits (it then comes after it).
pub struct TrailingCommas<R> {
    inner: R,
    held: Held,
    /// Bytes ready for the caller, from `at`.
    ready: Vec<u8>,
    at: usize,
}

#[derive(Default)]
struct Held {
    strings: StringTracker,
    /// A comma outside strings and the whitespace after it (empty: none).
    bytes: Vec<u8>,
}

impl Held {
    fn push(&mut self, c: u8, ready: &mut Vec<u8>) {
        if !self.bytes.is_empty() {
            if c.is_ascii_whitespace() {
                self.bytes.push(c);
                if self.bytes.len() > HOLD {
                    ready.extend_from_slice(&self.bytes[1..]);
                    self.bytes.truncate(1);
                }
                return;
            }
            if c == b']' || c == b'}' {
                self.bytes[0] = b' ';
            }
            ready.append(&mut self.bytes);
        }
        if !self.strings.in_string(c) && c == b',' {
            self.bytes.push(c);
        } else {
            ready.push(c);
        }
    }
}

impl<R: BufRead> TrailingCommas<R> {
    /// Filters `inner`.
    pub fn new(inner: R) -> Self {
        TrailingCommas {
            inner,
            held: Held::default(),
            ready: Vec::new(),
            at: 0,
        }
    }
}

impl<R: BufRead> Read for TrailingCommas<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.ready.len() {
            self.ready.clear();
            self.at = 0;
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                if self.held.bytes.is_empty() {
                    return Ok(0);
                }
                // A comma at the very end stays: the parser says what is wrong.
                self.ready.append(&mut self.held.bytes);
                break;
            }
            let n = chunk.len();
            for &c in chunk {
                self.held.push(c, &mut self.ready);
            }
            self.inner.consume(n);
        }
        let n = (self.ready.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.ready[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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
        Kind::Timestamp => "a timestamp",
        Kind::Str => "a string",
    }
}

/// What is done with each record: its index in the file (from 0) and its fields. An `Err`
/// message stops the reading; it is reported with the file and line.
pub type RecordSink<'a> =
    dyn FnMut(u64, Map<String, Value>) -> std::result::Result<(), String> + 'a;

/// A reader that counts the line breaks read through it: the parser reads byte by byte, so
/// this is the line it is on (serde's own position is not known inside a visitor).
struct Counted<'c, R> {
    inner: R,
    newlines: &'c Cell<u64>,
}

impl<R: BufRead> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        self.newlines.set(self.newlines.get() + lines as u64);
        Ok(n)
    }
}

/// The top-level values of a file, as a serde seed: an array hands each of its items to the
/// sink as it is parsed, an object is one record.
struct Records<'s, 'a> {
    sink: &'s mut RecordSink<'a>,
    /// Records handed over so far.
    count: u64,
    /// Line breaks read so far.
    newlines: &'s Cell<u64>,
    /// Why the reading stopped, when it was not the JSON syntax, and on which line.
    failure: &'s RefCell<Option<(String, u64)>>,
}

impl Records<'_, '_> {
    fn fail<E: de::Error>(&self, message: String) -> E {
        let e = E::custom(&message);
        *self.failure.borrow_mut() = Some((message, self.newlines.get() + 1));
        e
    }

    fn record<E: de::Error>(&mut self, fields: Map<String, Value>) -> std::result::Result<(), E> {
        let n = self.count;
        self.count += 1;
        (self.sink)(n, fields).map_err(|m| self.fail(m))
    }

    fn not_records<E: de::Error>(&self, k: Kind) -> std::result::Result<(), E> {
        Err(self.fail(format!("expected objects, found {}", describe(k))))
    }
}

impl<'de> DeserializeSeed<'de> for &mut Records<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Records<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let mut i = 0u64;
        while let Some(item) = seq.next_element::<Value>()? {
            i += 1;
            match item {
                Value::Object(fields) => self.record(fields)?,
                other => {
                    return Err(self.fail(format!(
                        "item {i} of the array is not an object but {}",
                        describe(kind_of(&other))
                    )));
                }
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<(), A::Error> {
        let fields = Map::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.record(fields)
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        self.not_records(Kind::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<(), E> {
        self.not_records(Kind::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<(), E> {
        self.not_records(Kind::Int)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<(), E> {
        self.not_records(if i64::try_from(v).is_ok() {
            Kind::Int
        } else {
            Kind::Float
        })
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<(), E> {
        self.not_records(Kind::Float)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<(), E> {
        self.not_records(Kind::Str)
    }
}

/// Hands each record of the JSON text read from `reader` (arrays of objects, or objects,
/// one after the other: one per line) to `sink`, streaming: only the record being parsed is
/// in memory. `path` names the file in errors. Returns the number of records.
pub fn for_each_record(
    reader: impl BufRead,
    path: &Path,
    opts: &JsonOptions,
    sink: &mut RecordSink<'_>,
) -> Result<u64> {
    if opts.lenient {
        records_of(
            BufReader::new(TrailingCommas::new(reader)),
            path,
            opts,
            sink,
        )
    } else {
        records_of(reader, path, opts, sink)
    }
}

fn records_of(
    reader: impl BufRead,
    path: &Path,
    opts: &JsonOptions,
    sink: &mut RecordSink<'_>,
) -> Result<u64> {
    let (failure, newlines) = (RefCell::new(None), Cell::new(0));
    let mut records = Records {
        sink,
        count: 0,
        newlines: &newlines,
        failure: &failure,
    };
    let mut de = serde_json::Deserializer::from_reader(Counted {
        inner: reader,
        newlines: &newlines,
    });
    let error = |e: serde_json::Error| {
        if let Some((message, line)) = failure.borrow_mut().take() {
            return DataError::Malformed {
                path: path.to_path_buf(),
                line: Some(line),
                message,
            };
        }
        if e.is_io() {
            return io_err(path)(e.into());
        }
        DataError::Malformed {
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
        }
    };
    loop {
        // Whitespace to the end: done. Anything else is the next value.
        match de.end() {
            Ok(()) => break,
            Err(e) if e.is_io() => return Err(error(e)),
            Err(_) => {}
        }
        (&mut records).deserialize(&mut de).map_err(&error)?;
    }
    Ok(records.count)
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    Ok(BufReader::new(
        std::fs::File::open(path).map_err(io_err(path))?,
    ))
}

/// The columns of the files, in the order they first appear, and their types from every
/// value (a first pass over the files). A field whose type varies is an error, or text with
/// `lenient`.
pub fn json_schema(paths: &[PathBuf], opts: &JsonOptions) -> Result<SchemaRef> {
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut kinds: Vec<Kind> = Vec::new();
    for path in paths {
        for_each_record(open(path)?, path, opts, &mut |n, rec| {
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
                    return Err(format!(
                        "field `{k}` is {} in record {} but was {} before; set `lenient: true` to read it as text",
                        describe(kind_of(v)),
                        n + 1,
                        describe(kinds[i])
                    ));
                }
                kinds[i] = merged;
            }
            Ok(())
        })?;
    }
    if names.is_empty() {
        return Err(DataError::Malformed {
            path: paths.first().cloned().unwrap_or_default(),
            line: None,
            message: "no fields to read: the files hold no records, or only empty ones".into(),
        });
    }
    Ok(Arc::new(Schema::new(
        names
            .iter()
            .zip(&kinds)
            .map(|(n, k)| Field::new(n, k.data_type(), true))
            .collect::<Vec<_>>(),
    )))
}

/// Reads the files as batches of `schema` (from [`json_schema`]), passing each to `sink`.
/// Returns the number of rows.
pub fn read_json(
    paths: &[PathBuf],
    opts: &JsonOptions,
    schema: &SchemaRef,
    sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<u64> {
    let fields: Vec<(String, Kind)> = schema
        .fields()
        .iter()
        .map(|f| {
            let kind = match f.data_type() {
                DataType::Boolean => Kind::Bool,
                DataType::Int64 => Kind::Int,
                DataType::Float64 => Kind::Float,
                _ => Kind::Str,
            };
            (f.name().clone(), kind)
        })
        .collect();
    let new_builders = || {
        fields
            .iter()
            .map(|(_, k)| ColumnBuilder::new(*k))
            .collect::<Vec<_>>()
    };
    let mut builders = new_builders();
    let (mut pending, mut total) = (0usize, 0u64);
    // The sink's error, kept whole (the record callback can only stop with a message).
    let mut sunk: Option<DataError> = None;
    for path in paths {
        let read = for_each_record(open(path)?, path, opts, &mut |_, rec| {
            for ((name, _), b) in fields.iter().zip(builders.iter_mut()) {
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
                b.append_text(text.as_deref())
                    .map_err(|m| format!("field `{name}`: {m}"))?;
            }
            pending += 1;
            total += 1;
            if pending == BATCH_ROWS {
                let cols = builders.iter_mut().map(ColumnBuilder::finish).collect();
                let done = match RecordBatch::try_new(schema.clone(), cols) {
                    Ok(batch) => sink(batch),
                    Err(e) => Err(e.into()),
                };
                builders = new_builders();
                pending = 0;
                if let Err(e) = done {
                    let message = e.to_string();
                    sunk = Some(e);
                    return Err(message);
                }
            }
            Ok(())
        });
        if let Some(e) = sunk.take() {
            return Err(e);
        }
        read?;
    }
    if pending > 0 {
        let cols = builders.iter_mut().map(ColumnBuilder::finish).collect();
        sink(RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    fn read_all(paths: &[PathBuf], opts: &JsonOptions) -> Result<Vec<RecordBatch>> {
        let schema = json_schema(paths, opts)?;
        let mut batches = Vec::new();
        read_json(paths, opts, &schema, &mut |b| {
            batches.push(b);
            Ok(())
        })?;
        Ok(batches)
    }

    fn pretty(batches: &[RecordBatch]) -> String {
        datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .expect("fmt")
            .to_string()
    }

    #[test]
    fn lenient_reads_trailing_commas_and_mixed_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p.json");
        std::fs::write(&p, "[\n {\"id\": 9, \"title\": \"a, b\"},\n {\"id\": \"10\", \"title\": \"x\\\\xc3\\\\xa9\"},\n]\n").expect("write");
        // Strict: the first problem met, on the line where it is.
        let err = read_all(std::slice::from_ref(&p), &JsonOptions::default()).expect_err("strict");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: field `id` is a string in record 2 but was an integer before; set `lenient: true` to read it as text",
                p.display()
            )
        );
        let q = dir.path().join("q.json");
        std::fs::write(&q, "[\n {\"id\": 9},\n]\n").expect("write");
        let err = read_all(std::slice::from_ref(&q), &JsonOptions::default()).expect_err("strict");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3: not valid JSON (column 1): trailing comma at line 3 column 1; expected an array of objects or one object per line (`lenient: true` accepts trailing commas)",
                q.display()
            )
        );
        let lenient = JsonOptions {
            lenient: true,
            repair_escapes: true,
        };
        let text = pretty(&read_all(&[p], &lenient).expect("lenient"));
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
        let batches = read_all(&[p], &JsonOptions::default()).expect("ndjson");
        assert_eq!((batches[0].num_rows(), batches[0].num_columns()), (2, 2));
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "id,title\n1,x\n").expect("write");
        let err =
            read_all(std::slice::from_ref(&p), &JsonOptions::default()).expect_err("not json");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:1: not valid JSON (column 1)", p.display())),
            "{err}"
        );
    }

    #[test]
    fn shape_and_type_errors_give_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            (
                "[{\"a\": 1},\n 2]",
                ":2: item 2 of the array is not an object but an integer",
            ),
            (
                "{\"a\": 1}\n\"x\"\n",
                ":2: expected objects, found a string",
            ),
            (
                "{\"a\": 1}\n{\"a\": \"b\"}\n",
                ":2: field `a` is a string in record 2 but was an integer before; set `lenient: true` to read it as text",
            ),
            (
                "[]",
                ": no fields to read: the files hold no records, or only empty ones",
            ),
        ];
        for (text, want) in cases {
            let p = dir.path().join("x.json");
            std::fs::write(&p, text).expect("write");
            let err = read_all(std::slice::from_ref(&p), &JsonOptions::default())
                .expect_err(text)
                .to_string();
            assert_eq!(err, format!("{}{want}", p.display()), "{text}");
        }
    }

    /// `rows` records, as an array or one per line, with a string, a number that is
    /// sometimes a float, and a nested value.
    fn records_text(rows: usize, array: bool) -> String {
        let mut text = String::from(if array { "[\n" } else { "" });
        for i in 0..rows {
            let number = if i % 3 == 0 {
                format!("{i}.5")
            } else {
                i.to_string()
            };
            text.push_str(&format!(
                "{{\"id\": {i}, \"name\": \"n{i}\", \"x\": {number}, \"tags\": [{i}]}}"
            ));
            text.push_str(if !array {
                "\n"
            } else if i + 1 < rows {
                ",\n"
            } else {
                "\n]\n"
            });
        }
        text
    }

    #[test]
    fn an_array_and_ndjson_of_several_batches_give_the_same_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = BATCH_ROWS * 2 + 5;
        let mut all = Vec::new();
        for array in [true, false] {
            let p = dir.path().join(format!("r{array}.json"));
            std::fs::write(&p, records_text(rows, array)).expect("write");
            let batches = read_all(&[p], &JsonOptions::default()).expect("read");
            assert_eq!(
                batches
                    .iter()
                    .map(RecordBatch::num_rows)
                    .collect::<Vec<_>>(),
                vec![BATCH_ROWS, BATCH_ROWS, 5]
            );
            let whole = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
                .expect("concat");
            all.push(whole);
        }
        assert_eq!(all[0], all[1]);
        let schema = all[0].schema();
        let types: Vec<(&str, &DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("id", &DataType::Int64),
                ("name", &DataType::Utf8),
                ("tags", &DataType::Utf8),
                ("x", &DataType::Float64)
            ]
        );
        let last = pretty(&[all[0].slice(rows - 1, 1)]);
        assert!(
            last.contains("| 131076 | n131076 | [131076] | 131076.5 |"),
            "{last}"
        );
    }

    /// Generates `rows` NDJSON or array records on demand, counting the bytes handed out.
    struct Generated {
        rows: usize,
        array: bool,
        next: usize,
        buf: Vec<u8>,
        at: usize,
        produced: Rc<Cell<usize>>,
    }

    impl Read for Generated {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.buf.len() {
                self.buf.clear();
                self.at = 0;
                if self.next > self.rows {
                    return Ok(0);
                }
                let i = self.next;
                self.next += 1;
                // 130 bytes each.
                let record = format!("{{\"id\": \"{i:08}\", \"text\": \"{}\"}}", "x".repeat(100));
                self.buf = match (self.array, i) {
                    (_, i) if i == self.rows => (if self.array { "]" } else { "" }).into(),
                    (true, 0) => format!("[{record}"),
                    (true, _) => format!(",\n{record}"),
                    (false, _) => format!("{record}\n"),
                }
                .into_bytes();
            }
            let n = (self.buf.len() - self.at).min(out.len());
            out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
            self.at += n;
            self.produced.set(self.produced.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn records_are_handed_over_while_the_input_is_read() {
        // 50,000 records (6.5 MB), never whole in memory: when record `n` arrives, little
        // more than the input up to its end has been read.
        let rows = 50_000;
        for (array, lenient) in [(true, false), (false, false), (true, true), (false, true)] {
            let produced = Rc::new(Cell::new(0));
            let input = Generated {
                rows,
                array,
                next: 0,
                buf: Vec::new(),
                at: 0,
                produced: produced.clone(),
            };
            let opts = JsonOptions {
                lenient,
                repair_escapes: false,
            };
            let mut ahead_max = 0;
            let count = for_each_record(
                BufReader::new(input),
                Path::new("gen.json"),
                &opts,
                &mut |n, rec| {
                    assert_eq!(rec.get("id"), Some(&Value::from(format!("{n:08}"))));
                    let n = n as usize;
                    let end = if array { 131 + 132 * n } else { 131 * (n + 1) };
                    ahead_max = ahead_max.max(produced.get().saturating_sub(end));
                    Ok(())
                },
            )
            .expect("read");
            assert_eq!(count, rows as u64);
            assert!(
                ahead_max < 32 << 10,
                "read {ahead_max} bytes ahead (array {array}, lenient {lenient})"
            );
        }
    }

    #[test]
    fn trailing_commas_become_spaces_outside_strings() {
        let filter = |text: &str| {
            let mut out = String::new();
            TrailingCommas::new(text.as_bytes())
                .read_to_string(&mut out)
                .expect("read");
            out
        };
        assert_eq!(
            filter("[{\"a\": \"x,}\", \"b\": [1, 2,\n ],},\n]"),
            "[{\"a\": \"x,}\", \"b\": [1, 2 \n ] } \n]"
        );
        assert_eq!(filter("[1,,2,"), "[1,,2,");
        // A comma followed by more whitespace than is held: it moves after the whitespace.
        let spaces = " ".repeat(HOLD + 10);
        assert_eq!(
            filter(&format!("[1,{spaces}2]")),
            format!("[1{},{}2]", " ".repeat(HOLD), " ".repeat(10))
        );
        assert_eq!(
            filter(&format!("[1,{spaces}]")),
            format!("[1{}]", " ".repeat(HOLD + 11))
        );
    }
}
