//! `load` against a real PostgreSQL with pgvector (`SLUICE_TEST_PG_URL`, started by
//! `scripts/test.sh`): reloads leave the table equal to the dataset, readers never see a
//! mix, the same load twice changes nothing, bad input changes nothing, a `sync` load never
//! deletes more of the table than allowed.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Spec, client, pg_url, write};
use sluice_data::datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
};
use sluice_data::datafusion::arrow::datatypes::Float32Type;
use sluice_vector::postgres::columns::ColumnSpec;
use sluice_vector::postgres::load::{Hnsw, Metric};
use sluice_vector::postgres::{self, ConnectOptions, LoadReport, LoadSpec, Mode};

fn spec(dir: &Path, table: &str) -> LoadSpec {
    LoadSpec {
        dataset: dir.to_path_buf(),
        schema: None,
        table: table.to_string(),
        key: vec!["chunk_id".into()],
        document: Some("doc_id".into()),
        references: Vec::new(),
        columns: ColumnSpec {
            jsonb: vec!["meta".into()],
            ..ColumnSpec::default()
        },
        mode: Mode::Sync,
        max_delete_fraction: 0.5,
        allow_empty: false,
        index: Some(Hnsw {
            metric: Metric::Cosine,
            m: 16,
            ef_construction: 64,
        }),
        create_extension: true,
        maintenance_work_mem: "256MB".into(),
    }
}

async fn load(url: &str, spec: &LoadSpec) -> Result<LoadReport, String> {
    let mut c = client(url).await;
    postgres::load(&mut c, spec, &|_| {}, Arc::new(|_, _| {}))
        .await
        .map_err(|e| e.0)
}

#[derive(Debug, PartialEq)]
struct Row {
    id: String,
    doc: String,
    index: i64,
    text: String,
    meta: Option<serde_json::Value>,
    days: Option<i32>,
    score: Option<f64>,
    flag: Option<bool>,
    context: Option<Vec<String>>,
    vector: Option<Vec<f32>>,
}

fn dataset_rows(batch: &RecordBatch) -> Vec<Row> {
    let s = |i: usize| batch.column(i).as_string::<i32>().clone();
    let (ids, docs, texts, meta) = (s(0), s(1), s(3), s(4));
    let index = batch
        .column(2)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("i64");
    let days = batch
        .column(5)
        .as_any()
        .downcast_ref::<Date32Array>()
        .expect("date");
    let score = batch
        .column(6)
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("f64");
    let flag = batch
        .column(7)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .expect("bool");
    let context = batch.column(8).as_list::<i32>();
    let vectors = batch.column(9).as_fixed_size_list();
    (0..batch.num_rows())
        .map(|r| Row {
            id: ids.value(r).into(),
            doc: docs.value(r).into(),
            index: index.value(r),
            text: texts.value(r).into(),
            meta: (!meta.is_null(r)).then(|| serde_json::from_str(meta.value(r)).expect("json")),
            days: (!days.is_null(r)).then(|| days.value(r)),
            score: Some(score.value(r)),
            flag: Some(flag.value(r)),
            context: Some(
                context
                    .value(r)
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.expect("item").to_string())
                    .collect(),
            ),
            vector: Some(
                vectors
                    .value(r)
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec(),
            ),
        })
        .collect()
}

async fn table_rows(c: &tokio_postgres::Client, table: &str) -> Vec<Row> {
    c.query(
        &format!(
            "SELECT chunk_id, doc_id, chunk_index, chunk_text, meta::text, \
             (published - date '1970-01-01')::int4, score, flag, context, embedding::real[] \
             FROM \"{table}\" ORDER BY chunk_id"
        ),
        &[],
    )
    .await
    .expect("select")
    .iter()
    .map(|r| Row {
        id: r.get(0),
        doc: r.get(1),
        index: r.get(2),
        text: r.get(3),
        meta: r
            .get::<_, Option<String>>(4)
            .map(|t| serde_json::from_str(&t).expect("json")),
        days: r.get(5),
        score: r.get(6),
        flag: r.get(7),
        context: r.get(8),
        vector: r.get(9),
    })
    .collect()
}

/// The transaction ids that wrote the table's rows: unchanged when nothing was rewritten.
async fn row_versions(c: &tokio_postgres::Client, table: &str) -> Vec<String> {
    c.query(
        &format!("SELECT chunk_id || ':' || xmin::text FROM \"{table}\" ORDER BY chunk_id"),
        &[],
    )
    .await
    .expect("xmin")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn drop_table(c: &tokio_postgres::Client, table: &str) {
    c.batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_leave_the_table_equal_to_the_dataset_and_twice_changes_nothing() {
    let Some(url) = pg_url("reloads_leave_the_table_equal_to_the_dataset") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let table = format!("chunks_reload_{}", std::process::id());
    let c = client(&url).await;
    drop_table(&c, &table).await;

    let v1 = Spec::new(400, 8);
    let batch1 = write(&tmp.path().join("v1"), &v1);
    let report = load(&url, &spec(&tmp.path().join("v1"), &table))
        .await
        .expect("first load");
    assert!(report.created && report.direct);
    assert_eq!(
        (report.rows, report.inserted, report.updated, report.deleted),
        (1000, 1000, 0, 0)
    );
    assert_eq!(
        report.indexes_created,
        [
            format!("idx_{table}_doc_id"),
            format!("{table}_embedding_hnsw")
        ]
    );
    assert_eq!(table_rows(&c, &table).await, dataset_rows(&batch1));
    let types: Vec<String> = c
        .query(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 ORDER BY attnum",
            &[&format!("\"{table}\"")],
        )
        .await
        .expect("types")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        types,
        [
            "text",
            "text",
            "bigint",
            "text",
            "jsonb",
            "date",
            "double precision",
            "boolean",
            "text[]",
            "vector(8)"
        ]
    );

    // 1 % of the documents changed (one chunk more each), 1 % deleted.
    let v2 = Spec {
        changed: vec![5, 77, 150, 391],
        deleted: vec![0, 9, 200, 333],
        ..v1
    };
    let batch2 = write(&tmp.path().join("v2"), &v2);
    let changed_rows: usize = v2.changed.iter().map(|&d| 1 + d % 4).sum();
    let deleted_rows: usize = v2.deleted.iter().map(|&d| 1 + d % 4).sum();
    let report = load(&url, &spec(&tmp.path().join("v2"), &table))
        .await
        .expect("reload");
    assert!(!report.created && !report.direct);
    assert_eq!(report.rows, batch2.num_rows() as u64);
    assert_eq!(report.updated, changed_rows as u64);
    assert_eq!(
        report.inserted,
        v2.changed.len() as u64,
        "one new chunk per changed document"
    );
    assert_eq!(report.deleted, deleted_rows as u64);
    assert_eq!(
        report.unchanged,
        report.rows - report.updated - report.inserted
    );
    assert!(report.indexes_created.is_empty());
    assert_eq!(table_rows(&c, &table).await, dataset_rows(&batch2));

    // The same load again rewrites nothing.
    let before = row_versions(&c, &table).await;
    let report = load(&url, &spec(&tmp.path().join("v2"), &table))
        .await
        .expect("same load");
    assert_eq!(
        (
            report.inserted,
            report.updated,
            report.deleted,
            report.unchanged
        ),
        (0, 0, 0, report.rows)
    );
    assert_eq!(row_versions(&c, &table).await, before);

    // Upsert mode keeps rows that left the dataset.
    let upsert = LoadSpec {
        mode: Mode::Upsert,
        ..spec(&tmp.path().join("v1"), &table)
    };
    let report = load(&url, &upsert).await.expect("upsert");
    assert_eq!(report.deleted, 0);
    assert_eq!(report.inserted, deleted_rows as u64);
    let count: i64 = c
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count as usize, batch1.num_rows() + v2.changed.len());
    drop_table(&c, &table).await;
}

/// md5 of the whole table, in key order.
async fn signature(c: &tokio_postgres::Client, table: &str) -> String {
    c.query_one(
        &format!(
            "SELECT md5(string_agg(chunk_id || chunk_text || embedding::text, ',' ORDER BY chunk_id)) \
             FROM \"{table}\""
        ),
        &[],
    )
    .await
    .expect("signature")
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_the_old_table_or_the_new_one_never_a_mix() {
    let Some(url) = pg_url("a_reader_sees_the_old_table_or_the_new_one_never_a_mix") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let table = format!("chunks_reader_{}", std::process::id());
    let c = client(&url).await;
    drop_table(&c, &table).await;
    let v1 = Spec::new(6000, 64);
    write(&tmp.path().join("v1"), &v1);
    let v2 = Spec {
        changed: (0..6000).step_by(3).collect(),
        deleted: (1..6000).step_by(50).collect(),
        ..v1
    };
    write(&tmp.path().join("v2"), &v2);
    load(&url, &spec(&tmp.path().join("v1"), &table))
        .await
        .expect("v1");
    let old = signature(&c, &table).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, url, table) = (stop.clone(), url.clone(), table.clone());
        tokio::spawn(async move {
            let c = client(&url).await;
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                seen.push(signature(&c, &table).await);
            }
            seen
        })
    };
    let report = load(&url, &spec(&tmp.path().join("v2"), &table))
        .await
        .expect("v2");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let new = signature(&c, &table).await;
    assert_ne!(old, new);
    assert!(report.updated > 3000 && report.deleted > 100, "{report:?}");
    assert!(
        seen.len() >= 3,
        "the reader read {} times during the load",
        seen.len()
    );
    let mixed: Vec<&String> = seen.iter().filter(|s| **s != old && **s != new).collect();
    assert!(
        mixed.is_empty(),
        "{} of {} reads saw a mix",
        mixed.len(),
        seen.len()
    );
    assert_eq!(seen[0], old, "the first read happened before the commit");
    drop_table(&c, &table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_changes() {
    let Some(url) = pg_url("bad_input_is_refused_before_anything_changes") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let table = format!("chunks_bad_{}", std::process::id());
    let c = client(&url).await;
    drop_table(&c, &table).await;
    let v1 = Spec::new(20, 8);
    write(&tmp.path().join("v1"), &v1);
    load(&url, &spec(&tmp.path().join("v1"), &table))
        .await
        .expect("v1");
    let before = signature(&c, &table).await;

    // Vectors of another model.
    let other = Spec {
        dim: 4,
        changed: vec![1],
        ..v1
    };
    write(&tmp.path().join("dim4"), &other);
    let err = load(&url, &spec(&tmp.path().join("dim4"), &table))
        .await
        .expect_err("dimension");
    assert_eq!(
        err,
        format!(
            "table {table} cannot take this dataset, nothing was changed:\n  - column \
             `embedding` is vector(8) in the table but the dataset's vectors (`embedding`) have \
             4 dimensions (vector(4)): embed with the table's model, load into another table, \
             or drop this one to re-create it"
        )
    );

    // A table of the same name with other types.
    let other_table = format!("{table}_typed");
    drop_table(&c, &other_table).await;
    c.batch_execute(&format!(
        "CREATE TABLE \"{other_table}\" (chunk_id text PRIMARY KEY, chunk_index text)"
    ))
    .await
    .expect("create");
    let err = load(&url, &spec(&tmp.path().join("v1"), &other_table))
        .await
        .expect_err("types");
    assert!(
        err.starts_with(&format!(
            "table {other_table} cannot take this dataset, nothing was changed:\n  - column \
             `chunk_index` is text in the table but bigint in the dataset (`chunk_index`)"
        )),
        "{err}"
    );
    let columns: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0",
            &[&format!("\"{other_table}\"")],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(columns, 2, "no column was added");
    drop_table(&c, &other_table).await;

    // No unique key to merge on.
    c.batch_execute(&format!("CREATE TABLE \"{other_table}\" (chunk_id text)"))
        .await
        .expect("create");
    let err = load(&url, &spec(&tmp.path().join("v1"), &other_table))
        .await
        .expect_err("key");
    assert_eq!(
        err,
        format!(
            "table {other_table} has no primary key or unique index on (chunk_id), which the \
             merge needs: add one (ALTER TABLE {other_table} ADD PRIMARY KEY (chunk_id)), or \
             load into a new table"
        )
    );
    drop_table(&c, &other_table).await;

    // Two rows with one key.
    let mut dup = spec(&tmp.path().join("v1"), &table);
    dup.key = vec!["doc_id".into()];
    let err = load(&url, &dup).await.expect_err("duplicate");
    assert!(
        err.starts_with(&format!(
            "table {table} has no primary key or unique index on (doc_id)"
        )),
        "{err}"
    );
    let fresh = format!("{table}_dup");
    drop_table(&c, &fresh).await;
    dup.table = fresh.clone();
    let err = load(&url, &dup).await.expect_err("duplicate");
    assert_eq!(
        err,
        "row 3 of the dataset repeats the key doc_id = D00001 of an earlier row: the key must \
         identify one row (choose another `key`, or remove the duplicates in a `sql` task); \
         nothing was changed in "
            .to_string()
            + &fresh
    );
    let exists: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("\"{fresh}\"")],
        )
        .await
        .expect("regclass")
        .get(0);
    assert!(
        !exists,
        "the table created in the failed transaction is gone"
    );

    // halfvec needs pgvector 0.7; this server has 0.6.
    let mut half = spec(&tmp.path().join("v1"), &format!("{table}_half"));
    half.columns.half = true;
    let version: String = c
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .await
        .expect("version")
        .get(0);
    if version.starts_with("0.6") {
        let err = load(&url, &half).await.expect_err("halfvec");
        assert_eq!(
            err,
            format!(
                "pgvector {version} has no halfvec type (pgvector 0.7.0 added it): upgrade \
                 pgvector (ALTER EXTENSION vector UPDATE) or load `vector_type: vector`"
            )
        );
    }

    // An unreachable server.
    let err = postgres::connect(&ConnectOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..ConnectOptions::new("postgres://sluice@127.0.0.1:9/db")
    })
    .await
    .expect_err("unreachable");
    assert!(
        err.0.starts_with(
            "cannot connect to PostgreSQL at 127.0.0.1:9/db as sluice: error connecting to server"
        ) && err.0.ends_with(
            "check the URL (`url` or SLUICE_PG_URL), that the server runs and accepts this user"
        ),
        "{}",
        err.0
    );
    assert_eq!(
        signature(&c, &table).await,
        before,
        "the table never changed"
    );
    drop_table(&c, &table).await;
}

async fn count(c: &tokio_postgres::Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_load_never_deletes_more_of_the_table_than_allowed() {
    let Some(url) = pg_url("a_sync_load_never_deletes_more_of_the_table_than_allowed") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let table = format!("chunks_guard_{}", std::process::id());
    let c = client(&url).await;
    drop_table(&c, &table).await;
    // 4,000 documents of 1 to 4 chunks: 10,000 rows.
    let full = Spec::new(4000, 8);
    let batch_full = write(&tmp.path().join("full"), &full);
    assert_eq!(batch_full.num_rows(), 10_000);
    load(&url, &spec(&tmp.path().join("full"), &table))
        .await
        .expect("first load");
    let before = row_versions(&c, &table).await;
    let at = |name: &str| spec(&tmp.path().join(name), &table);

    // The upstream produced nothing: refused, even with any fraction allowed.
    let nothing = Spec {
        deleted: (0..4000).collect(),
        ..Spec::new(4000, 8)
    };
    assert_eq!(write(&tmp.path().join("empty"), &nothing).num_rows(), 0);
    let empty_refused = format!(
        "load.postgres into table `{table}` would delete all its 10,000 rows: the dataset is \
         empty, so nothing was changed; if this is intended, set `allow_empty: true` on the task"
    );
    let err = load(&url, &at("empty")).await.expect_err("empty dataset");
    assert_eq!(err, empty_refused);
    let all_allowed = LoadSpec {
        max_delete_fraction: 1.0,
        ..at("empty")
    };
    let err = load(&url, &all_allowed).await.expect_err("empty dataset");
    assert_eq!(err, empty_refused);
    assert_eq!(
        row_versions(&c, &table).await,
        before,
        "the table is intact"
    );

    // 90 % of the rows left the dataset: refused with the counts and the key to set.
    let tenth = Spec {
        deleted: (400..4000).collect(),
        ..Spec::new(4000, 8)
    };
    let batch_tenth = write(&tmp.path().join("tenth"), &tenth);
    assert_eq!(batch_tenth.num_rows(), 1000);
    let err = load(&url, &at("tenth")).await.expect_err("90 %");
    assert_eq!(
        err,
        format!(
            "load.postgres into table `{table}` would delete 9,000 of its 10,000 rows (90% > \
             max_delete_fraction 0.5), so nothing was changed; if this is intended, set \
             `max_delete_fraction: 0.9` (or higher) on the task"
        )
    );
    assert_eq!(
        row_versions(&c, &table).await,
        before,
        "the table is intact"
    );
    assert_eq!(count(&c, &table).await, 10_000);

    // With the key set as the message says, it goes through.
    let report = load(
        &url,
        &LoadSpec {
            max_delete_fraction: 0.9,
            ..at("tenth")
        },
    )
    .await
    .expect("90 % allowed");
    assert_eq!(
        (report.rows, report.inserted, report.updated, report.deleted),
        (1000, 0, 0, 9000)
    );
    assert_eq!(table_rows(&c, &table).await, dataset_rows(&batch_tenth));

    // Back to 10,000 rows (nothing deleted), then 40 % deleted: under the default, as before.
    load(&url, &at("full")).await.expect("full again");
    let most = Spec {
        deleted: (0..1600).collect(),
        ..Spec::new(4000, 8)
    };
    let batch_most = write(&tmp.path().join("most"), &most);
    let report = load(&url, &at("most")).await.expect("40 %");
    assert_eq!(report.deleted, 4000);
    assert_eq!(table_rows(&c, &table).await, dataset_rows(&batch_most));

    // Upsert deletes nothing, so an empty dataset changes nothing and is not refused.
    let upsert = LoadSpec {
        mode: Mode::Upsert,
        ..at("empty")
    };
    let report = load(&url, &upsert).await.expect("upsert of nothing");
    assert_eq!((report.rows, report.deleted), (0, 0));
    assert_eq!(count(&c, &table).await, 6000);

    // Emptying the table when the task says so.
    let report = load(
        &url,
        &LoadSpec {
            allow_empty: true,
            ..at("empty")
        },
    )
    .await
    .expect("empty allowed");
    assert_eq!((report.rows, report.deleted), (0, 6000));
    assert_eq!(count(&c, &table).await, 0);
    drop_table(&c, &table).await;
}
