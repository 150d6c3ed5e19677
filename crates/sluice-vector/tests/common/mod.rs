//! Chunks with vectors for the PostgreSQL tests, in versions: a version changes some
//! documents (new text, new vectors, a chunk more or less) and drops others. Also used by
//! `crates/sluice/tests/load_postgres.rs`, with the test server's URL and a client.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use sluice_data::datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, FixedSizeListBuilder, Float32Builder, Float64Array,
    Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use sluice_data::datafusion::parquet::arrow::ArrowWriter;

/// A document's chunks in one version of the dataset.
pub struct Spec {
    /// Documents in the first version.
    pub docs: usize,
    /// Vector length.
    pub dim: usize,
    /// Documents (by number) whose content changed.
    pub changed: Vec<usize>,
    /// Documents (by number) left out.
    pub deleted: Vec<usize>,
}

impl Spec {
    /// The first version: `docs` documents, nothing changed or deleted.
    pub fn new(docs: usize, dim: usize) -> Spec {
        Spec {
            docs,
            dim,
            changed: vec![],
            deleted: vec![],
        }
    }
}

/// Chunks of document `d` (1 to 4 of them; one more when it changed).
pub fn chunk_count(spec: &Spec, d: usize) -> usize {
    1 + d % 4 + usize::from(spec.changed.contains(&d))
}

fn value(seed: u64) -> f32 {
    // A small deterministic generator: values in [-1, 1).
    let x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// The rows of one version, ordered by `chunk_id`.
pub fn batch(spec: &Spec) -> RecordBatch {
    let mut ids = Vec::new();
    let mut docs = Vec::new();
    let mut index = Vec::new();
    let mut texts = Vec::new();
    let mut meta = Vec::new();
    let mut dates = Vec::new();
    let mut scores = Vec::new();
    let mut flags = Vec::new();
    let mut context = ListBuilder::new(StringBuilder::new());
    let mut vectors = FixedSizeListBuilder::new(Float32Builder::new(), spec.dim as i32)
        .with_field(Arc::new(Field::new("item", DataType::Float32, false)));
    for d in 0..spec.docs {
        if spec.deleted.contains(&d) {
            continue;
        }
        let version = u64::from(spec.changed.contains(&d));
        for c in 1..=chunk_count(spec, d) {
            ids.push(format!("D{d:05}_{c}"));
            docs.push(format!("D{d:05}"));
            index.push(c as i64);
            texts.push(format!(
                "Texte {c} du document {d}, version {version} : l'été, « guillemets » et \"quotes\"."
            ));
            meta.push(
                (c != 2).then(|| format!(r#"{{"doc": {d}, "tags": ["a", "b"], "v": {version}}}"#)),
            );
            dates.push((c != 3).then_some(19_000 + d as i32));
            scores.push(d as f64 / 7.0 + version as f64);
            flags.push(d % 2 == 0);
            context.values().append_value(format!("Section {c}"));
            if d % 3 == 0 {
                context.values().append_value("Sous-section, \"citée\"");
            }
            context.append(true);
            for i in 0..spec.dim {
                let seed = (d as u64) << 32 | (c as u64) << 16 | i as u64 | version << 60;
                vectors.values().append_value(value(seed));
            }
            vectors.append(true);
        }
    }
    let vectors = vectors.finish();
    let context = context.finish();
    let schema = Schema::new(vec![
        Field::new("chunk_id", DataType::Utf8, false),
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("chunk_index", DataType::Int64, false),
        Field::new("chunk_text", DataType::Utf8, false),
        Field::new("meta", DataType::Utf8, true),
        Field::new("published", DataType::Date32, true),
        Field::new("score", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("context", context.data_type().clone(), true),
        Field::new("embedding", vectors.data_type().clone(), true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(docs)),
        Arc::new(Int64Array::from(index)),
        Arc::new(StringArray::from(texts)),
        Arc::new(StringArray::from(meta)),
        Arc::new(Date32Array::from(dates)),
        Arc::new(Float64Array::from(scores)),
        Arc::new(BooleanArray::from(flags)),
        Arc::new(context),
        Arc::new(vectors),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("batch")
}

/// Writes a version as a dataset folder (one Parquet file) and returns the batch.
pub fn write(dir: &Path, spec: &Spec) -> RecordBatch {
    let batch = batch(spec);
    std::fs::create_dir_all(dir).expect("mkdir");
    let file = std::fs::File::create(dir.join("part-0.parquet")).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    batch
}

/// The test PostgreSQL's URL; outside CI a test without one is skipped, loudly.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("SLUICE_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run {test}: SLUICE_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)"
            );
            eprintln!("SKIPPED {test}: SLUICE_TEST_PG_URL is not set; run scripts/test.sh");
            None
        }
    }
}

/// A connection to the test PostgreSQL.
pub async fn client(url: &str) -> tokio_postgres::Client {
    sluice_vector::postgres::connect(&sluice_vector::postgres::ConnectOptions::new(url))
        .await
        .expect("connect")
}
