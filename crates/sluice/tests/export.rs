//! `op: export.parquet` through the real binary: files that never split a document, in
//! order, with a manifest whose counts and sha256 match, read back by pyarrow
//! (`SLUICE_TEST_PYTHON`, the environment of `scripts/python-env.sh`).

mod common;
use common::vector as chunks;

use std::collections::BTreeSet;

use chunks::{Spec, write};
use common::{Project, metrics};
use serde_json::Value;
use sluice_data::datafusion::arrow::array::AsArray;
use sluice_data::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const PIPELINE: &str = r#"
name: export
tasks:
  chunks:
    op: read.parquet
    path: data/*.parquet
  export:
    op: export.parquet
    input: chunks
    path: out/chunks
    max_rows: 40
    group: doc_id
    order_by: [doc_id, chunk_index]
    row_group_rows: 16
"#;

#[test]
fn exported_files_keep_documents_whole_in_order_with_a_manifest() {
    let p = Project::new(PIPELINE);
    // Shuffled order in the input: the export sorts.
    let batch = write(
        &p.path("data"),
        &Spec {
            docs: 100,
            dim: 8,
            changed: vec![3],
            deleted: vec![],
        },
    );
    let indices: Vec<u64> = (0..batch.num_rows() as u64).rev().collect();
    let reversed = sluice_data::datafusion::arrow::compute::take_record_batch(
        &batch,
        &sluice_data::datafusion::arrow::array::UInt64Array::from(indices),
    )
    .expect("take");
    let file = std::fs::File::create(p.path("data/part-0.parquet")).expect("create");
    let mut w = sluice_data::datafusion::parquet::arrow::ArrowWriter::try_new(
        file,
        reversed.schema(),
        None,
    )
    .expect("writer");
    w.write(&reversed).expect("write");
    w.close().expect("close");

    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "export");
    let manifest: Value =
        serde_json::from_str(&p.read("out/chunks/manifest.json")).expect("manifest");
    assert_eq!(manifest["rows"], batch.num_rows() as u64);
    assert_eq!(m["rows"], manifest["rows"]);
    let files = manifest["files"].as_array().expect("files");
    assert_eq!(m["files"], files.len() as u64);
    assert!(files.len() >= batch.num_rows() / 40, "{manifest:#}");

    let mut previous: Option<(String, i64)> = None;
    let mut docs_seen = BTreeSet::new();
    let mut total = 0;
    for (i, f) in files.iter().enumerate() {
        let name = f["path"].as_str().expect("path");
        assert_eq!(name, format!("chunks-{i:05}.parquet"));
        let path = p.path("out/chunks").join(name);
        assert_eq!(
            f["bytes"],
            std::fs::metadata(&path).expect("file").len(),
            "{name}"
        );
        assert_eq!(
            f["sha256"],
            sluice_data::release::sha256_file(&path).expect("sha")
        );
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).expect("open"))
                .expect("parquet");
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert!(groups.iter().all(|&g| g <= 16), "{groups:?}");
        let mut rows = 0;
        let mut docs_here = BTreeSet::new();
        for b in reader.build().expect("reader") {
            let b = b.expect("batch");
            let docs = b.column(1).as_string::<i32>();
            let index = b
                .column(2)
                .as_primitive::<sluice_data::datafusion::arrow::datatypes::Int64Type>();
            for r in 0..b.num_rows() {
                let key = (docs.value(r).to_string(), index.value(r));
                if let Some(prev) = &previous {
                    assert!(*prev < key, "{prev:?} then {key:?}");
                }
                docs_here.insert(key.0.clone());
                previous = Some(key);
            }
            rows += b.num_rows();
        }
        assert!(rows <= 40, "{name}: {rows} rows");
        assert_eq!(f["rows"], rows as u64);
        for d in &docs_here {
            assert!(docs_seen.insert(d.clone()), "{d} split across files");
        }
        total += rows;
    }
    assert_eq!(total, batch.num_rows());
    assert_eq!(docs_seen.len(), 100);

    // pyarrow sees the vectors as fixed-size lists of float32.
    let Some(python) = common::test_python("the pyarrow check") else {
        return;
    };
    let script = r#"
import glob, json, sys
import pyarrow.parquet as pq
folder = sys.argv[1]
table = pq.read_table(sorted(glob.glob(folder + "/*.parquet")))
print(json.dumps({"rows": table.num_rows, "embedding": str(table.schema.field("embedding").type),
                  "first": table.column("embedding")[0].as_py()}))
"#;
    let stdout = common::run_python(&python, script, &[p.path("out/chunks").as_os_str()]);
    let seen: Value = serde_json::from_slice(&stdout).expect("json");
    assert_eq!(seen["rows"], manifest["rows"]);
    assert_eq!(
        seen["embedding"],
        "fixed_size_list<item: float not null>[8]"
    );
    let first = batch.column(9).as_fixed_size_list().value(0);
    let first = first.as_primitive::<sluice_data::datafusion::arrow::datatypes::Float32Type>();
    let read: Vec<f32> = seen["first"]
        .as_array()
        .expect("first")
        .iter()
        .map(|v| v.as_f64().expect("float") as f32)
        .collect();
    assert_eq!(read, first.values().to_vec());
}
