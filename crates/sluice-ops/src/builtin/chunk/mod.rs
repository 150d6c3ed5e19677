//! `chunk`: cuts the text of each document into chunks for embedding.
//!
//! Splitting is recursive (paragraphs, then lines, sentences, words; a word is cut only when
//! it alone exceeds the size), by tokens of any Hugging Face `tokenizer.json` or by
//! characters. The rows of one document (sections, articles) are contiguous in the input;
//! `chunk_index` runs from 1 across all of them, so `chunk_id = <doc_id>_<chunk_index>` is
//! unique in the dataset whatever the structure of the source.
//!
//! `template` builds the text to embed (`chunk_text`) from columns and the fragment; the size
//! limit applies to that text, and `chunk_xxh64` hashes it, so what is stored, hashed and
//! embedded are the same string.
//!
//! Incremental: each document is hashed (`doc_hash`, over all its columns). When the
//! previous version of this task was made with the same settings, the chunks of documents
//! whose hash did not change are copied from it instead of being split again. Documents gone
//! from the input lose their chunks, and so does a document whose new version has no text.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::DataError;
use sluice_data::datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use sluice_data::datafusion::arrow::compute::{concat_batches, filter_record_batch, take};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_data::datafusion::arrow::row::{RowConverter, SortField};
use sluice_data::datafusion::arrow::util::display::array_value_to_string;
use sluice_data::export::for_each_batch;
use tokenizers::Tokenizer;

use crate::{Op, OpError, OpOutput, TaskContext, blocking, file_stamp};

mod split;

/// Seed of `chunk_xxh64` (the value mediatech uses, so hashes match its published datasets).
const XXH_SEED: u64 = 2025;

fn default_id() -> String {
    "doc_id".into()
}

fn default_text() -> String {
    "text".into()
}

/// `op: chunk`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    /// The task whose dataset holds the documents.
    pub input: String,
    /// The column identifying a document (default `doc_id`); a document's rows are contiguous.
    #[serde(default = "default_id")]
    pub id: String,
    /// The column holding the text to split (default `text`); in the output it holds the
    /// fragment.
    #[serde(default = "default_text")]
    pub text: String,
    /// Largest `chunk_text`, in tokens of `tokenizer` (special tokens such as `[CLS]` not
    /// counted), or in characters when no tokenizer is given.
    pub size: usize,
    /// Tokens (or characters) repeated from the end of one chunk at the start of the next.
    #[serde(default)]
    pub overlap: usize,
    /// A Hugging Face `tokenizer.json`, or the model folder holding it (relative to the
    /// pipeline file).
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// The text to embed, from columns: `{title}\n{context}\n{text}` (`{text}` is the
    /// fragment; a list column is joined with ` > `; a template line that comes out empty is
    /// left out). Default: the fragment alone.
    #[serde(default)]
    pub template: Option<String>,
}

/// Builds `chunk`, checking the template and sizes.
pub fn build_chunk(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Chunk = sluice_core::from_node(config)?;
    fn bad(message: impl std::fmt::Display) -> sluice_core::DeError {
        <sluice_core::DeError as serde::de::Error>::custom(message)
    }
    if op.size == 0 {
        return Err(bad("`size` must be at least 1"));
    }
    if op.overlap >= op.size {
        return Err(bad("`overlap` must be smaller than `size`"));
    }
    Template::parse(op.template.as_deref().unwrap_or("{text}"), "text").map_err(bad)?;
    Ok(Box::new(op))
}

/// A piece of a template line.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Column(String),
    Fragment,
}

/// A parsed `template`: lines of pieces.
#[derive(Debug, Clone)]
struct Template {
    lines: Vec<Vec<Piece>>,
}

impl Template {
    fn parse(text: &str, fragment: &str) -> Result<Template, String> {
        let mut lines = Vec::new();
        for line in text.split('\n') {
            let mut pieces = Vec::new();
            let mut rest = line;
            while let Some(open) = rest.find('{') {
                if open > 0 {
                    pieces.push(Piece::Literal(rest[..open].to_string()));
                }
                let close = rest[open..]
                    .find('}')
                    .ok_or_else(|| format!("template: `{{` without `}}` in `{line}`"))?
                    + open;
                let name = rest[open + 1..close].trim();
                if name.is_empty() {
                    return Err(format!("template: empty `{{}}` in `{line}`"));
                }
                pieces.push(if name == fragment || name == "text" {
                    Piece::Fragment
                } else {
                    Piece::Column(name.to_string())
                });
                rest = &rest[close + 1..];
            }
            if !rest.is_empty() {
                pieces.push(Piece::Literal(rest.to_string()));
            }
            lines.push(pieces);
        }
        if !lines.iter().flatten().any(|p| *p == Piece::Fragment) {
            return Err("template: it must contain `{text}`, the fragment".into());
        }
        Ok(Template { lines })
    }

    fn columns(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().flatten().filter_map(|p| match p {
            Piece::Column(c) => Some(c.as_str()),
            _ => None,
        })
    }

    /// Renders with `values` of the columns (by name) and the fragment.
    fn render(&self, values: &HashMap<&str, String>, fragment: &str) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let mut rendered = String::new();
            let mut has_fragment = false;
            for p in line {
                match p {
                    Piece::Literal(s) => rendered.push_str(s),
                    Piece::Column(c) => {
                        rendered.push_str(values.get(c.as_str()).map_or("", String::as_str))
                    }
                    Piece::Fragment => {
                        has_fragment = true;
                        rendered.push_str(fragment);
                    }
                }
            }
            let empty = line
                .iter()
                .filter(|p| !matches!(p, Piece::Literal(_)))
                .all(|p| match p {
                    Piece::Column(c) => values.get(c.as_str()).is_none_or(|v| v.is_empty()),
                    _ => false,
                });
            if has_fragment || !empty {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&rendered);
            }
        }
        out
    }
}

/// A column value as template text: lists joined with ` > `, null as empty.
fn value_text(col: &ArrayRef, row: usize) -> String {
    if col.is_null(row) {
        return String::new();
    }
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => col.as_string::<i64>().value(row).to_string(),
        DataType::List(_) => {
            let list = col.as_list::<i32>().value(row);
            (0..list.len())
                .filter(|&i| !list.is_null(i))
                .map(|i| value_text(&list, i))
                .collect::<Vec<_>>()
                .join(" > ")
        }
        _ => array_value_to_string(col, row).unwrap_or_default(),
    }
}

/// Counts text in tokens or characters.
enum Sizer {
    Tokens(Box<Tokenizer>),
    Chars,
}

impl Sizer {
    /// Where each unit (token or character) of `text` starts, in bytes. Tokens are counted
    /// per word (a run of non-space characters), each distinct word tokenized once and
    /// remembered in `cache`; a word of three tokens gives its start three times. Cuts fall
    /// between words, so this is all the splitter needs. For tokenizers that split on spaces
    /// first (BERT's WordPiece and most others) the sum over words is exactly the count of the
    /// whole text; it is 50 times cheaper than tokenizing every text whole.
    fn starts(
        &self,
        text: &str,
        cache: &mut HashMap<String, usize>,
    ) -> Result<Vec<usize>, OpError> {
        match self {
            Sizer::Tokens(t) => {
                let mut starts = Vec::with_capacity(text.len() / 4);
                let mut word_start = None;
                let bounds = text
                    .char_indices()
                    .map(|(i, c)| (i, c.is_whitespace()))
                    .chain(std::iter::once((text.len(), true)));
                for (i, space) in bounds {
                    match (space, word_start) {
                        (false, None) => word_start = Some(i),
                        (true, Some(start)) => {
                            word_start = None;
                            let word = &text[start..i];
                            let n = match cache.get(word) {
                                Some(&n) => n,
                                None => {
                                    let n = t
                                        .encode_fast(word, false)
                                        .map_err(|e| {
                                            OpError::internal(format!("the tokenizer failed: {e}"))
                                        })?
                                        .get_ids()
                                        .len();
                                    if cache.len() < 2_000_000 {
                                        cache.insert(word.to_string(), n);
                                    }
                                    n
                                }
                            };
                            starts.extend(std::iter::repeat_n(start, n));
                        }
                        _ => {}
                    }
                }
                Ok(starts)
            }
            Sizer::Chars => Ok(text.char_indices().map(|(i, _)| i).collect()),
        }
    }
}

/// Loads a tokenizer from `tokenizer.json` or a folder holding one; truncation and padding
/// off, so every token counts.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer, String> {
    let file = if path.is_dir() {
        path.join("tokenizer.json")
    } else {
        path.to_path_buf()
    };
    let mut t = Tokenizer::from_file(&file)
        .map_err(|e| format!("{}: not a readable tokenizer.json: {e}", file.display()))?;
    t.with_truncation(None)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    t.with_padding(None);
    Ok(t)
}

/// What a run did, for the attempt's metrics.
#[derive(Debug, Default)]
struct Counts {
    docs: u64,
    docs_new: u64,
    docs_changed: u64,
    docs_unchanged: u64,
    docs_deleted: u64,
    docs_without_chunks: u64,
    chunks_written: u64,
    chunks_reused: u64,
    chunks_over_size: u64,
}

/// One document being gathered: its rows (batch, row) and hash.
struct Doc {
    id: String,
    rows: Vec<(usize, usize)>,
    hash: twox_hash::XxHash64,
}

impl Chunk {
    fn tokenizer_path(&self, workdir: &Path) -> Option<PathBuf> {
        self.tokenizer.as_ref().map(|t| workdir.join(t))
    }

    /// Settings that make chunks comparable between runs (the tokenizer file included).
    fn settings(&self, workdir: &Path, input: &Schema) -> String {
        let tok = self
            .tokenizer_path(workdir)
            .map(|p| file_stamp(&[p]))
            .unwrap_or_default();
        let fields: Vec<String> = input
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), f.data_type()))
            .collect();
        format!(
            "v1|{}|{}|{}|{}|{:?}|{tok}|{}",
            self.id,
            self.text,
            self.size,
            self.overlap,
            self.template,
            fields.join(",")
        )
    }

    /// Each input column copied (the text cut into fragments), `chunk_text` made from the
    /// template's columns, ids and hashes from the document.
    fn lineage(&self, schema: &str) -> sluice_op::Lineage {
        use sluice_op::lineage::{ColumnLineage, DatasetRef, How, Source, schema_fields};
        const OWN: [&str; 5] = [
            "chunk_id",
            "chunk_index",
            "chunk_text",
            "chunk_xxh64",
            "doc_hash",
        ];
        let input: Vec<String> = schema_fields(schema)
            .into_iter()
            .map(|f| f.name)
            .filter(|n| !OWN.contains(&n.as_str()))
            .collect();
        let from = |c: &str, how| Source::new(DatasetRef::task(&self.input), c, how);
        let template: Vec<String> =
            Template::parse(self.template.as_deref().unwrap_or("{text}"), &self.text)
                .map(|t| t.columns().map(str::to_string).collect())
                .unwrap_or_default();
        let mut embedded: Vec<Source> = template
            .iter()
            .chain(std::iter::once(&self.text))
            .map(|c| from(c, How::Transformation))
            .collect();
        embedded.dedup();
        let masked = |sources: &[Source]| -> Vec<Source> {
            sources
                .iter()
                .cloned()
                .map(|mut s| {
                    s.masking = true;
                    s
                })
                .collect()
        };
        let mut fields = std::collections::BTreeMap::new();
        for c in &input {
            let how = if c == &self.text {
                How::Transformation
            } else {
                How::Identity
            };
            fields.insert(c.clone(), vec![from(c, how)]);
        }
        fields.insert(
            "chunk_id".into(),
            vec![
                from(&self.id, How::Transformation),
                from(&self.text, How::Transformation),
            ],
        );
        fields.insert(
            "chunk_index".into(),
            vec![from(&self.text, How::Transformation)],
        );
        fields.insert("chunk_xxh64".into(), masked(&embedded));
        fields.insert("chunk_text".into(), embedded);
        let all: Vec<Source> = input.iter().map(|c| from(c, How::Transformation)).collect();
        fields.insert("doc_hash".into(), masked(&all));
        sluice_op::Lineage {
            columns: vec![ColumnLineage {
                output: DatasetRef::Own,
                fields,
                dataset: Vec::new(),
            }],
            ..Default::default()
        }
    }

    fn output_schema(&self, input: &Schema) -> SchemaRef {
        let mut fields: Vec<Field> = vec![
            Field::new("chunk_id", DataType::Utf8, false),
            Field::new("chunk_index", DataType::Int64, false),
        ];
        for f in input.fields() {
            if f.name() == &self.text {
                fields.push(Field::new(&self.text, DataType::Utf8, false));
            } else {
                fields.push(f.as_ref().clone().with_nullable(true));
            }
        }
        fields.push(Field::new("chunk_text", DataType::Utf8, false));
        fields.push(Field::new("chunk_xxh64", DataType::Utf8, false));
        fields.push(Field::new("doc_hash", DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }

    /// The whole job, off the async threads: the documents of `input` (consecutive rows of one
    /// id) chunked, those unchanged since `previous` (same settings, same content) copied.
    fn chunk(
        &self,
        input: &Path,
        previous: Option<(&Path, &str)>,
        target: &sluice_data::DatasetTarget,
        workdir: &Path,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<(sluice_data::DatasetInfo, Counts, String), OpError> {
        let in_schema = sluice_data::export::dataset_schema(input)?;
        let id_col = in_schema
            .index_of(&self.id)
            .map_err(|_| missing(&self.id, &in_schema))?;
        let settings = self.settings(workdir, &in_schema);
        let mut c = Chunker::new(self, &in_schema, workdir)?;
        if let Some((dir, prev_settings)) = previous
            && prev_settings == settings
        {
            c.previous_hashes = previous_hashes(dir, &self.id)?;
        }
        let out_schema = c.out_schema.clone();
        let mut writer = sluice_data::DatasetWriter::new(target, out_schema.clone());
        let mut pending = Pending::default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut window = Window::default();
        let mut current: Option<Doc> = None;
        // Each row in a comparable binary form: a document's hash covers all its columns.
        let fields = in_schema.fields().iter();
        let fields = fields.map(|f| SortField::new(f.data_type().clone()));
        let converter =
            RowConverter::new(fields.collect()).map_err(|e| OpError::internal(e.to_string()))?;
        // A first run (nothing to reuse) splits every document: the tokenization, most of the
        // work, is then done ahead for whole batches on every core.
        let eager = c.previous_hashes.is_empty();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut caches: Vec<HashMap<String, usize>> =
            (0..threads).map(|_| HashMap::new()).collect();

        for_each_batch(input, |_, batch| {
            if cancel.is_cancelled() {
                return Err(DataError::Engine("cancelled".into()));
            }
            let mut run = || -> Result<(), OpError> {
                let ids = batch.column(id_col);
                let rows = converter
                    .convert_columns(batch.columns())
                    .map_err(|e| OpError::internal(e.to_string()))?;
                let ahead = if eager {
                    Some(starts_ahead(
                        &c.sizer,
                        batch.column(c.text_col),
                        &mut caches,
                    )?)
                } else {
                    None
                };
                let b = window.push(&batch, ahead, current.as_ref());
                for r in 0..batch.num_rows() {
                    if ids.is_null(r) {
                        return Err(OpError::data(format!(
                            "a row has no `{}`: every document needs an id",
                            self.id
                        )));
                    }
                    let id = value_text(ids, r);
                    if current.as_ref().is_none_or(|d| d.id != id) {
                        if let Some(doc) = current.take() {
                            c.finish_doc(doc, &window, &mut pending)?;
                            pending.flush(&mut writer, &out_schema, false)?;
                        }
                        if !seen.insert(id.clone()) {
                            return Err(OpError::data(format!(
                                "document `{id}` appears in two separate places of `{}`: the rows of a document must follow each other (sort by `{}` or make the ids unique)",
                                self.input, self.id
                            )));
                        }
                        current = Some(Doc {
                            id,
                            rows: Vec::new(),
                            hash: twox_hash::XxHash64::with_seed(XXH_SEED),
                        });
                    }
                    if let Some(doc) = current.as_mut() {
                        use std::hash::Hasher;
                        doc.rows.push((b, r));
                        doc.hash.write(rows.row(r).as_ref());
                    }
                }
                Ok(())
            };
            run().map_err(|e| DataError::Engine(e.message))
        })?;
        if let Some(doc) = current.take() {
            c.finish_doc(doc, &window, &mut pending)?;
        }
        pending.flush(&mut writer, &out_schema, true)?;
        c.counts.docs_deleted = c
            .previous_hashes
            .keys()
            .filter(|id| !seen.contains(*id))
            .count() as u64;
        if !c.reuse.is_empty()
            && let Some((dir, _)) = previous
        {
            c.counts.chunks_reused = self.copy_reused(dir, &c.reuse, &mut writer)?;
        }
        let info = writer.finish()?;
        Ok((info, c.counts, settings))
    }

    /// The chunks of the unchanged documents (ids in `reuse`), copied from the previous
    /// version in `dir`; returns how many.
    fn copy_reused(
        &self,
        dir: &Path,
        reuse: &HashSet<String>,
        writer: &mut sluice_data::DatasetWriter,
    ) -> Result<u64, OpError> {
        let mut copied = 0;
        for_each_batch(dir, |_, batch| {
            let ids = batch
                .column_by_name(&self.id)
                .ok_or_else(|| DataError::Engine("previous chunks lack their id".into()))?;
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|i| Some(reuse.contains(&value_text(ids, i))))
                .collect();
            let kept = filter_record_batch(&batch, &keep)?;
            copied += kept.num_rows() as u64;
            writer.write(&kept)
        })?;
        Ok(copied)
    }
}

/// The hash of each document of the previous chunks, by id (ids of any type, text or
/// integers, are compared as text).
fn previous_hashes(dir: &Path, id: &str) -> Result<HashMap<String, String>, OpError> {
    let mut out = HashMap::new();
    for_each_batch(dir, |_, batch| {
        let (Some(ids), Some(hashes)) = (
            batch.column_by_name(id),
            batch
                .column_by_name("doc_hash")
                .and_then(|c| c.as_string_opt::<i32>()),
        ) else {
            return Err(DataError::Engine("previous chunks lack doc_hash".into()));
        };
        for i in 0..batch.num_rows() {
            out.entry(value_text(ids, i))
                .or_insert_with(|| hashes.value(i).to_string());
        }
        Ok(())
    })?;
    Ok(out)
}

/// The input batches a document being gathered may still need, with the unit starts computed
/// ahead for each; older ones are replaced by empty batches so that indexes stay stable.
#[derive(Default)]
struct Window {
    batches: Vec<RecordBatch>,
    ahead: Vec<Option<Vec<Vec<usize>>>>,
}

impl Window {
    /// Adds `batch`, dropping the batches before the first row of `current` (all of them
    /// when no document is being gathered); returns the new batch's index.
    fn push(
        &mut self,
        batch: &RecordBatch,
        ahead: Option<Vec<Vec<usize>>>,
        current: Option<&Doc>,
    ) -> usize {
        let first = match current {
            Some(doc) => doc.rows.first().map_or(self.batches.len(), |r| r.0),
            None => self.batches.len(),
        };
        for b in self.batches.iter_mut().take(first) {
            *b = RecordBatch::new_empty(batch.schema());
        }
        for s in self.ahead.iter_mut().take(first) {
            *s = None;
        }
        self.batches.push(batch.clone());
        self.ahead.push(ahead);
        self.batches.len() - 1
    }
}

/// Chunks written and not yet handed to the writer.
#[derive(Default)]
struct Pending {
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl Pending {
    /// Writes what is pending as one batch once it holds a batch's worth of rows (or anything,
    /// with `force`).
    fn flush(
        &mut self,
        writer: &mut sluice_data::DatasetWriter,
        schema: &SchemaRef,
        force: bool,
    ) -> Result<(), OpError> {
        if self.rows >= sluice_data::rows::BATCH_ROWS || (force && self.rows > 0) {
            let batch = concat_batches(schema, self.batches.iter())
                .map_err(|e| OpError::internal(e.to_string()))?;
            writer.write(&batch)?;
            self.batches.clear();
            self.rows = 0;
        }
        Ok(())
    }
}

/// What chunking one input needs, read once, and what it counts.
struct Chunker<'a> {
    op: &'a Chunk,
    text_col: usize,
    template: Template,
    /// The template's columns and their indexes in the input.
    template_cols: Vec<(String, usize)>,
    sizer: Sizer,
    out_schema: SchemaRef,
    /// The hash of each previous document, by id, when its chunks may be reused.
    previous_hashes: HashMap<String, String>,
    /// Documents unchanged since the previous version: their chunks are copied.
    reuse: HashSet<String>,
    /// Unit starts of the texts not computed ahead, and of the template's renderings.
    serial_cache: HashMap<String, usize>,
    counts: Counts,
}

impl<'a> Chunker<'a> {
    fn new(op: &'a Chunk, in_schema: &Schema, workdir: &Path) -> Result<Self, OpError> {
        let text_col = in_schema
            .index_of(&op.text)
            .map_err(|_| missing(&op.text, in_schema))?;
        let template = Template::parse(op.template.as_deref().unwrap_or("{text}"), &op.text)
            .map_err(OpError::config)?;
        let template_cols: Vec<(String, usize)> = template
            .columns()
            .map(|c| {
                in_schema
                    .index_of(c)
                    .map(|i| (c.to_string(), i))
                    .map_err(|_| missing(c, in_schema))
            })
            .collect::<Result<_, _>>()?;
        let sizer = match op.tokenizer_path(workdir) {
            Some(p) => Sizer::Tokens(Box::new(load_tokenizer(&p).map_err(OpError::config)?)),
            None => Sizer::Chars,
        };
        Ok(Chunker {
            op,
            text_col,
            template,
            template_cols,
            sizer,
            out_schema: op.output_schema(in_schema),
            previous_hashes: HashMap::new(),
            reuse: HashSet::new(),
            serial_cache: HashMap::new(),
            counts: Counts::default(),
        })
    }

    /// A document gathered: skipped when unchanged (its chunks are copied at the end), else
    /// its chunks added to `pending`.
    fn finish_doc(
        &mut self,
        doc: Doc,
        window: &Window,
        pending: &mut Pending,
    ) -> Result<(), OpError> {
        use std::hash::Hasher;
        let hash = format!("{:016x}", doc.hash.finish());
        self.counts.docs += 1;
        match self.previous_hashes.get(&doc.id) {
            Some(h) if *h == hash => {
                self.counts.docs_unchanged += 1;
                self.reuse.insert(doc.id);
                return Ok(());
            }
            Some(_) => self.counts.docs_changed += 1,
            None => self.counts.docs_new += 1,
        }
        let mut index = 0i64;
        // Rows of the document grouped by batch, in order.
        let mut by_batch: Vec<(usize, Vec<usize>)> = Vec::new();
        for &(b, r) in &doc.rows {
            match by_batch.last_mut() {
                Some((lb, rows)) if *lb == b => rows.push(r),
                _ => by_batch.push((b, vec![r])),
            }
        }
        for (b, rows) in by_batch {
            let ahead = window.ahead.get(b).and_then(Option::as_ref);
            if let Some(piece) =
                self.chunks_of(&doc.id, &hash, &window.batches[b], &rows, ahead, &mut index)?
            {
                self.counts.chunks_written += piece.num_rows() as u64;
                pending.rows += piece.num_rows();
                pending.batches.push(piece);
            }
        }
        if index == 0 {
            self.counts.docs_without_chunks += 1;
        }
        Ok(())
    }

    /// The chunks of rows `rows` of `batch` (one document's), numbered on from `index`: each
    /// text split to the size left by the template, rendered, hashed; the other columns
    /// repeated. `None` when the rows hold no text.
    fn chunks_of(
        &mut self,
        doc_id: &str,
        doc_hash: &str,
        batch: &RecordBatch,
        rows: &[usize],
        ahead: Option<&Vec<Vec<usize>>>,
        index: &mut i64,
    ) -> Result<Option<RecordBatch>, OpError> {
        let (size, overlap) = (self.op.size, self.op.overlap);
        let texts = batch.column(self.text_col);
        let mut take_rows: Vec<u32> = Vec::new();
        let mut ids = Vec::new();
        let mut indexes = Vec::new();
        let mut fragments = Vec::new();
        let mut embedded = Vec::new();
        let mut hashes = Vec::new();
        for &r in rows {
            let text = value_text(texts, r);
            if text.trim().is_empty() {
                continue;
            }
            let values: HashMap<&str, String> = self
                .template_cols
                .iter()
                .map(|(name, i)| (name.as_str(), value_text(batch.column(*i), r)))
                .collect();
            let overhead = self
                .sizer
                .starts(&self.template.render(&values, ""), &mut self.serial_cache)?
                .len();
            let capacity = size.saturating_sub(overhead).max(size / 4).max(1);
            let computed;
            let starts: &[usize] = match ahead {
                Some(all) => &all[r],
                None => {
                    computed = self.sizer.starts(&text, &mut self.serial_cache)?;
                    &computed
                }
            };
            let measure = split::Measure(starts);
            for range in split::split(&text, &measure, capacity, overlap) {
                let fragment = &text[range.clone()];
                *index += 1;
                let chunk_text = self.template.render(&values, fragment);
                if overhead + measure.size(&text, range) > size {
                    self.counts.chunks_over_size += 1;
                }
                take_rows.push(r as u32);
                ids.push(format!("{doc_id}_{index}"));
                indexes.push(*index);
                fragments.push(fragment.to_string());
                hashes.push(format!(
                    "{:016x}",
                    twox_hash::XxHash64::oneshot(XXH_SEED, chunk_text.as_bytes())
                ));
                embedded.push(chunk_text);
            }
        }
        if take_rows.is_empty() {
            return Ok(None);
        }
        let n = take_rows.len();
        let idx = UInt32Array::from(take_rows);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(indexes)),
        ];
        for (i, col) in batch.columns().iter().enumerate() {
            if i == self.text_col {
                columns.push(Arc::new(StringArray::from(std::mem::take(&mut fragments))));
            } else {
                columns.push(
                    take(col.as_ref(), &idx, None).map_err(|e| OpError::internal(e.to_string()))?,
                );
            }
        }
        columns.push(Arc::new(StringArray::from(embedded)));
        columns.push(Arc::new(StringArray::from(hashes)));
        columns.push(Arc::new(StringArray::from(vec![doc_hash.to_string(); n])));
        RecordBatch::try_new(self.out_schema.clone(), columns)
            .map(Some)
            .map_err(|e| OpError::internal(e.to_string()))
    }
}

/// The unit starts of every text of a column, computed on all cores (one cache each).
fn starts_ahead(
    sizer: &Sizer,
    texts: &ArrayRef,
    caches: &mut [HashMap<String, usize>],
) -> Result<Vec<Vec<usize>>, OpError> {
    let n = texts.len();
    let per = n.div_ceil(caches.len().max(1)).max(1);
    let parts: Vec<Result<Vec<Vec<usize>>, OpError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = caches
            .iter_mut()
            .enumerate()
            .map(|(k, cache)| {
                scope.spawn(move || {
                    (k * per..((k + 1) * per).min(n))
                        .map(|r| sizer.starts(&value_text(texts, r), cache))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(OpError::internal("a tokenizer thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(n);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

fn missing(column: &str, schema: &Schema) -> OpError {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    OpError::config(format!(
        "no column `{column}` in the input (its columns: {})",
        names.join(", ")
    ))
}

#[async_trait]
impl Op for Chunk {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let input = ctx.input(&self.input)?.to_path_buf();
        let target = ctx.output()?.clone();
        let previous = ctx.previous.as_ref().and_then(|p| {
            let settings = p.state.as_ref()?.get("settings")?.as_str()?.to_string();
            Some((p.dir.clone(), settings))
        });
        let workdir = ctx.workdir.clone();
        let cancel = ctx.cancel.clone();
        let op = self.clone();
        let (info, counts, settings) = blocking(move || {
            op.chunk(
                &input,
                previous.as_ref().map(|(d, s)| (d.as_path(), s.as_str())),
                &target,
                &workdir,
                &cancel,
            )
        })
        .await?;
        let _ = ctx.log.line(&format!(
            "{} documents: {} new, {} changed, {} unchanged, {} deleted, {} without text; {} chunks split, {} reused",
            counts.docs,
            counts.docs_new,
            counts.docs_changed,
            counts.docs_unchanged,
            counts.docs_deleted,
            counts.docs_without_chunks,
            counts.chunks_written,
            counts.chunks_reused
        ));
        if counts.chunks_over_size > 0 {
            let _ = ctx.log.line(&format!(
                "warning: {} chunks exceed {} because their template text alone is long (titles, context); the fragment was kept to a quarter of the size",
                counts.chunks_over_size, self.size
            ));
        }
        let metrics = crate::counters(&[
            ("docs", counts.docs),
            ("docs_new", counts.docs_new),
            ("docs_changed", counts.docs_changed),
            ("docs_unchanged", counts.docs_unchanged),
            ("docs_deleted", counts.docs_deleted),
            ("docs_without_chunks", counts.docs_without_chunks),
            ("chunks_written", counts.chunks_written),
            ("chunks_reused", counts.chunks_reused),
            ("chunks_over_size", counts.chunks_over_size),
        ]);
        let dataset: sluice_op::Dataset = info.into();
        Ok(OpOutput {
            lineage: self.lineage(&dataset.schema),
            dataset: Some(dataset),
            metrics,
            state: Some(serde_json::json!({ "settings": settings })),
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }

    fn input_stamp(&self, workdir: &Path) -> Result<String, OpError> {
        Ok(self
            .tokenizer_path(workdir)
            .map(|p| {
                let file = if p.is_dir() {
                    p.join("tokenizer.json")
                } else {
                    p
                };
                file_stamp(&[file])
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_drop_lines_whose_columns_are_empty() {
        let t = Template::parse("{title}\n{context}\n{text}", "text").expect("template");
        let mut v = HashMap::new();
        v.insert("title", "Carte grise".to_string());
        v.insert("context", String::new());
        assert_eq!(t.render(&v, "Le fragment."), "Carte grise\nLe fragment.");
        v.insert("context", "Démarches > En ligne".to_string());
        assert_eq!(
            t.render(&v, "Le fragment."),
            "Carte grise\nDémarches > En ligne\nLe fragment."
        );
        assert_eq!(
            Template::parse("{title}", "text").expect_err("no fragment"),
            "template: it must contain `{text}`, the fragment"
        );
        assert!(Template::parse("{title", "text").is_err());
    }
}
