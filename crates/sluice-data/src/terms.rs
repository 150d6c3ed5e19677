//! Finds the terms of a dictionary (drug names, place names, codes…) in texts: whole words,
//! case-insensitive, several words per term allowed. Texts and terms are compared as their
//! lower-case words (split on anything that is not a letter or digit, as `words()` in SQL
//! does), so `Ethanol-based` mentions `ETHANOL` and `vitamin-C` mentions `Vitamin C`.
//!
//! Terms are indexed by their first word in a hash table: each word of a text costs one
//! lookup whatever the size of the dictionary, and a term of several words is compared only
//! where its first word occurs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::export::for_each_batch;
use crate::{DataError, DatasetInfo, DatasetTarget, DatasetWriter, Result};

/// Each ASCII byte lower-cased when it is a letter or digit, 0 otherwise.
const ASCII_WORD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() {
            t[i] = b.to_ascii_lowercase();
        }
        i += 1;
    }
    t
};

/// Appends the lower-case words of `text` to `out`, each followed by one space, after a
/// leading space: ` word word `. A term found in that form, spaces included, is found as
/// whole words. A text without words leaves `out` as it was.
pub fn normalize(text: &str, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(b' ');
    let mut in_word = false;
    if text.is_ascii() {
        out.reserve(text.len() + 1);
        for &b in text.as_bytes() {
            let c = ASCII_WORD[b as usize];
            if c != 0 {
                out.push(c);
                in_word = true;
            } else if in_word {
                out.push(b' ');
                in_word = false;
            }
        }
    } else {
        let mut utf8 = [0u8; 4];
        for c in text.chars() {
            if c.is_alphanumeric() {
                for l in c.to_lowercase() {
                    out.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
                }
                in_word = true;
            } else if in_word {
                out.push(b' ');
                in_word = false;
            }
        }
    }
    if in_word {
        out.push(b' ');
    }
    if out.len() == start + 1 {
        out.truncate(start); // no word: nothing to find
    }
}

/// First word of a term → the rest of each term starting with it, and the term's index.
type ByFirstWord = HashMap<Vec<u8>, Vec<(Vec<u8>, usize)>, foldhash::fast::RandomState>;

/// A dictionary of terms, ready to scan texts.
pub struct TermMatcher {
    /// First word of each distinct normalised term → the rest of the term (the words after
    /// the first, each followed by a space; empty for one-word terms) and its index in `rows`.
    first: ByFirstWord,
    /// For each distinct normalised term, the dictionary rows that hold it.
    rows: Vec<Vec<u32>>,
}

impl TermMatcher {
    /// A matcher for `terms` (rows of the dictionary; `None` or wordless terms never match).
    pub fn new<'a>(terms: impl IntoIterator<Item = Option<&'a str>>) -> Result<Self> {
        let mut first = ByFirstWord::with_hasher(foldhash::fast::RandomState::default());
        let mut rows: Vec<Vec<u32>> = Vec::new();
        let mut norm = Vec::new();
        for (row, term) in terms.into_iter().enumerate() {
            let Some(term) = term else { continue };
            norm.clear();
            normalize(term, &mut norm);
            // ` word rest… `: split after the first word.
            let Some(body) = norm.get(1..) else { continue };
            let Some(space) = body.iter().position(|b| *b == b' ') else {
                continue;
            };
            let (word, rest) = (&body[..space], &body[space + 1..]);
            let row = u32::try_from(row)
                .map_err(|_| DataError::Engine("more than 4 billion terms".into()))?;
            let entries = first.entry(word.to_vec()).or_default();
            match entries.iter().find(|(r, _)| r.as_slice() == rest) {
                Some(&(_, t)) => rows[t].push(row),
                None => {
                    entries.push((rest.to_vec(), rows.len()));
                    rows.push(vec![row]);
                }
            }
        }
        Ok(TermMatcher { first, rows })
    }

    /// The dictionary rows whose term appears in `text`, each once, in order of first
    /// appearance. `buf` is scratch space.
    pub fn find(&self, text: &str, buf: &mut Vec<u8>, out: &mut Vec<u32>) {
        out.clear();
        buf.clear();
        normalize(text, buf);
        // `buf` is ` w1 w2 … `: each word starts after a space and ends before the next.
        let mut start = 1;
        while start < buf.len() {
            let Some(len) = buf[start..].iter().position(|b| *b == b' ') else {
                break;
            };
            let after = start + len + 1;
            if let Some(entries) = self.first.get(&buf[start..start + len]) {
                for (rest, t) in entries {
                    if buf[after..].starts_with(rest) {
                        for &row in &self.rows[*t] {
                            if !out.contains(&row) {
                                out.push(row);
                            }
                        }
                    }
                }
            }
            start = after;
        }
    }
}

/// A text column of `batch` as `Utf8`, or an error naming the column and the dataset.
fn text_column(batch: &RecordBatch, column: &str, dataset: &str) -> Result<ArrayRef> {
    let schema = batch.schema();
    let Some((i, field)) = schema.column_with_name(column) else {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(DataError::Query(format!(
            "`{column}` is not a column of `{dataset}` (columns: {})",
            names.join(", ")
        )));
    };
    match field.data_type() {
        DataType::Utf8 => Ok(batch.column(i).clone()),
        DataType::LargeUtf8 | DataType::Utf8View => Ok(cast(batch.column(i), &DataType::Utf8)?),
        other => Err(DataError::Query(format!(
            "column `{column}` of `{dataset}` holds {other}, not text"
        ))),
    }
}

/// Where the texts and the terms are.
pub struct MatchSpec<'a> {
    /// Dataset folder of the texts, and its name for messages.
    pub texts: (&'a Path, &'a str),
    /// The text column.
    pub text_column: &'a str,
    /// Dataset folder of the terms, and its name for messages.
    pub terms: (&'a Path, &'a str),
    /// The term column.
    pub term_column: &'a str,
}

/// Writes one row per (text row, term row) where the term appears in the text: the terms'
/// columns, then the texts' columns. Texts keep their order; within a text, terms come in
/// order of first appearance.
pub fn match_terms(spec: &MatchSpec<'_>, out: &DatasetTarget) -> Result<DatasetInfo> {
    let mut term_batches = Vec::new();
    let term_schema = for_each_batch(spec.terms.0, |_, b| {
        term_batches.push(b);
        Ok(())
    })?;
    let terms = concat_batches(&term_schema, &term_batches)?;
    let term_text = text_column(&terms, spec.term_column, spec.terms.1)?;
    let matcher = TermMatcher::new(term_text.as_string::<i32>().iter())?;

    let text_schema = crate::export::dataset_schema(spec.texts.0)?;
    let mut fields: Vec<Arc<Field>> = terms.schema().fields().iter().cloned().collect();
    for f in text_schema.fields() {
        if fields.iter().any(|t| t.name() == f.name()) {
            return Err(DataError::Query(format!(
                "column `{}` is in both `{}` and `{}`: rename it in one of them (a `sql` task \
                 with `select … as other_name`)",
                f.name(),
                spec.terms.1,
                spec.texts.1
            )));
        }
        fields.push(f.clone());
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    // The rows of one batch of texts and the terms they mention.
    let match_batch = |batch: &RecordBatch, buf: &mut Vec<u8>, found: &mut Vec<u32>| {
        let texts = text_column(batch, spec.text_column, spec.texts.1)?;
        let texts = texts.as_string::<i32>();
        let (mut text_rows, mut term_rows) = (Vec::new(), Vec::new());
        for (i, text) in texts.iter().enumerate() {
            let Some(text) = text else { continue };
            matcher.find(text, buf, found);
            for &t in found.iter() {
                text_rows.push(i as u32);
                term_rows.push(t);
            }
        }
        if text_rows.is_empty() {
            return Ok(None);
        }
        let (text_rows, term_rows) = (UInt32Array::from(text_rows), UInt32Array::from(term_rows));
        let mut columns = Vec::with_capacity(schema.fields().len());
        for c in terms.columns() {
            columns.push(take(c.as_ref(), &term_rows, None)?);
        }
        for c in batch.columns() {
            columns.push(take(c.as_ref(), &text_rows, None)?);
        }
        Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
    };
    in_parallel(
        spec.texts.0,
        match_batch,
        DatasetWriter::new(out, schema.clone()),
    )
}

/// Maps each batch of the dataset in `dir` with `f` on every core and writes the results in
/// the order of their batches. The first error stops everything and is the one returned.
fn in_parallel(
    dir: &Path,
    f: impl Fn(&RecordBatch, &mut Vec<u8>, &mut Vec<u32>) -> Result<Option<RecordBatch>> + Sync,
    mut writer: crate::DatasetWriter,
) -> Result<DatasetInfo> {
    use std::sync::mpsc::sync_channel;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        let (batches, todo) = sync_channel::<(usize, RecordBatch)>(workers);
        // Shared by the workers: when the last one stops, sending batches fails.
        let todo = Arc::new(std::sync::Mutex::new(todo));
        let (done_tx, done) = sync_channel::<Result<(usize, Option<RecordBatch>)>>(workers * 2);
        for _ in 0..workers {
            let (todo, done_tx, f) = (todo.clone(), done_tx.clone(), &f);
            scope.spawn(move || {
                let (mut buf, mut found) = (Vec::new(), Vec::new());
                loop {
                    let next = todo.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, batch))) = next else { return };
                    let result = f(&batch, &mut buf, &mut found).map(|b| (seq, b));
                    if done_tx.send(result).is_err() {
                        return; // the writer stopped on an error
                    }
                }
            });
        }
        drop((todo, done_tx));
        let written = scope.spawn(move || {
            // Results arrive in any order; each is written once those before it are.
            let mut pending = std::collections::BTreeMap::new();
            let mut next = 0;
            for result in done {
                let (seq, batch) = result?;
                pending.insert(seq, batch);
                while let Some(batch) = pending.remove(&next) {
                    if let Some(batch) = batch {
                        writer.write(&batch)?;
                    }
                    next += 1;
                }
            }
            writer.finish()
        });
        let mut seq = 0;
        let read = for_each_batch(dir, |_, batch| {
            batches
                .send((seq, batch))
                .map_err(|_| DataError::Engine("the term matcher stopped".into()))?;
            seq += 1;
            Ok(())
        });
        drop(batches);
        let info = written
            .join()
            .map_err(|_| DataError::Engine("the term matcher's writer panicked".into()))??;
        read?;
        Ok(info)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(terms: &[&str], text: &str) -> Vec<u32> {
        let m = TermMatcher::new(terms.iter().map(|t| Some(*t))).expect("matcher");
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        m.find(text, &mut buf, &mut out);
        out
    }

    #[test]
    fn matches_whole_words_case_insensitively() {
        let terms = ["ETHANOL", "Vitamin C", "ethanol", "C", "Éthanol", "  "];
        assert_eq!(found(&terms, "Ethanol-based gels"), vec![0, 2]);
        assert_eq!(
            found(&terms, "methanol and ethanolamine"),
            Vec::<u32>::new()
        );
        assert_eq!(found(&terms, "vitamin-c, then VITAMIN   C"), vec![1, 3]);
        assert_eq!(found(&terms, "c ethanol c"), vec![3, 0, 2]);
        assert_eq!(found(&terms, "L'ÉTHANOL"), vec![4]);
        assert_eq!(found(&terms, ""), Vec::<u32>::new());
    }

    /// A dataset of one batch in `dir`.
    fn dataset(dir: &Path, columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        std::fs::create_dir_all(dir).expect("mkdir");
        let batch = RecordBatch::try_from_iter(columns).expect("batch");
        let mut w = crate::DatasetWriter::new(&DatasetTarget::new(dir), batch.schema());
        w.write(&batch).expect("write");
        w.finish().expect("finish");
        batch
    }

    #[test]
    fn texts_read_in_many_batches_keep_their_order() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        let tmp = tempfile::tempdir().expect("tempdir");
        let n = 50_000i64; // several batches, matched on several threads
        let ids = Int64Array::from_iter_values(0..n);
        let bodies = StringArray::from_iter_values((0..n).map(|i| {
            if i % 3 == 0 {
                format!("{i} mentions Ethanol and X")
            } else {
                format!("{i} X")
            }
        }));
        dataset(
            &tmp.path().join("texts"),
            vec![("id", Arc::new(ids)), ("body", Arc::new(bodies))],
        );
        let terms = StringArray::from(vec!["ethanol", "x"]);
        let codes = StringArray::from(vec!["E", "X"]);
        dataset(
            &tmp.path().join("terms"),
            vec![("code", Arc::new(codes)), ("term", Arc::new(terms))],
        );
        let spec = MatchSpec {
            texts: (&tmp.path().join("texts"), "texts"),
            text_column: "body",
            terms: (&tmp.path().join("terms"), "terms"),
            term_column: "term",
        };
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let info = match_terms(&spec, &DatasetTarget::new(&out)).expect("match");
        assert_eq!(info.rows, (n + (n + 2) / 3) as u64);
        let mut got = Vec::new();
        for_each_batch(&out, |_, b| {
            let ids = b.column_by_name("id").expect("id");
            let ids = ids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let codes = b.column_by_name("code").expect("code");
            for (id, code) in ids.values().iter().zip(codes.as_string::<i32>().iter()) {
                got.push((*id, code.unwrap_or_default().to_string()));
            }
            Ok(())
        })
        .expect("read");
        let want: Vec<(i64, String)> = (0..n)
            .flat_map(|i| {
                let e = (i % 3 == 0).then(|| (i, "E".to_string()));
                e.into_iter().chain(std::iter::once((i, "X".to_string())))
            })
            .collect();
        assert_eq!(got, want);
        let mut batches = 0;
        for_each_batch(&tmp.path().join("texts"), |_, _| {
            batches += 1;
            Ok(())
        })
        .expect("read");
        assert!(
            batches > 2,
            "{batches} batches: the order was not put to the test"
        );
    }

    #[test]
    fn an_error_on_one_batch_of_many_stops_the_match() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        let tmp = tempfile::tempdir().expect("tempdir");
        let ids = Int64Array::from_iter_values(0..400_000); // more batches than the queues hold
        dataset(&tmp.path().join("texts"), vec![("id", Arc::new(ids))]);
        let terms = StringArray::from(vec!["x"]);
        dataset(&tmp.path().join("terms"), vec![("term", Arc::new(terms))]);
        let spec = MatchSpec {
            texts: (&tmp.path().join("texts"), "texts"),
            text_column: "id",
            terms: (&tmp.path().join("terms"), "terms"),
            term_column: "term",
        };
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let err = match_terms(&spec, &DatasetTarget::new(&out)).expect_err("not text");
        assert_eq!(
            err.to_string(),
            "column `id` of `texts` holds Int64, not text"
        );
    }

    #[test]
    fn normalizes_to_spaced_lower_case_words() {
        let mut s = Vec::new();
        normalize("  Hello, WORLD-2 ", &mut s);
        assert_eq!(s, b" hello world 2 ");
        s.clear();
        normalize("--", &mut s);
        assert_eq!(s, b"");
        normalize("Ça", &mut s);
        assert_eq!(s, " ça ".as_bytes());
    }
}
