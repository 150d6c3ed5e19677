//! `op: load.postgres` through the real binary and a real PostgreSQL with pgvector
//! (`SLUICE_TEST_PG_URL`, started by `scripts/test.sh`): counters on the attempt, and a
//! `kill -9` in the middle of a load leaves the old table, and the next run completes.

mod common;
use common::vector as chunks;

use std::process::Stdio;
use std::time::{Duration, Instant};

use chunks::{Spec, client, pg_url, write};
use common::{Project, metrics, text};

const PIPELINE: &str = r#"
name: load_pg
params:
  data: v1
  url: postgres://localhost/none
  table: chunks
tasks:
  chunks:
    op: read.parquet
    path: ${params.data}/*.parquet
  load:
    op: load.postgres
    input: chunks
    url: ${params.url}
    table: ${params.table}
    key: chunk_id
    document: doc_id
    # Going back from the big second version to the first deletes most of the table.
    max_delete_fraction: 1.0
    jsonb: [meta]
    rename:
      embedding: embeddings_minilm
"#;

/// Rows, and rows whose text is of version 1 (changed documents).
async fn counts(c: &tokio_postgres::Client, table: &str) -> (i64, i64) {
    let row = c
        .query_one(
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE chunk_text LIKE '%version 1%') FROM \"{table}\""
            ),
            &[],
        )
        .await
        .expect("count");
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_load_leaves_the_old_table_and_the_next_run_completes() {
    let Some(url) = pg_url("kill_9_during_a_load_leaves_the_old_table_and_the_next_run_completes")
    else {
        return;
    };
    let p = Project::new(PIPELINE);
    let table = format!("chunks_kill_{}", std::process::id());
    let c = client(&url).await;
    c.batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .await
        .expect("drop");
    let v1 = Spec::new(300, 128);
    let batch1 = write(&p.path("v1"), &v1);
    let params = |data: &str| {
        vec![
            "run".to_string(),
            "pipeline.yaml".into(),
            "--param".into(),
            format!("data={data}"),
            "--param".into(),
            format!("url={url}"),
            "--param".into(),
            format!("table={table}"),
        ]
    };
    let args1 = params("v1");
    let args1: Vec<&str> = args1.iter().map(String::as_str).collect();
    p.run_ok(&args1);
    let m = metrics(&p, &p.last_run_id(), "load");
    assert_eq!(m["rows"], batch1.num_rows() as u64, "{m}");
    assert_eq!(m["inserted"], batch1.num_rows() as u64, "{m}");
    assert_eq!(m["created"], true, "{m}");
    let old = counts(&c, &table).await;
    assert_eq!(old, (batch1.num_rows() as i64, 0));

    // A big new version: every third document changed.
    let v2 = Spec {
        docs: 15_000,
        changed: (0..15_000).step_by(3).collect(),
        deleted: vec![7],
        ..v1
    };
    let batch2 = write(&p.path("v2"), &v2);
    let args2 = params("v2");
    let args2: Vec<&str> = args2.iter().map(String::as_str).collect();
    let mut child = p
        .cmd(&args2)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the rows are streaming into the staging table, then kill -9.
    let started = Instant::now();
    loop {
        let copying: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluice' \
                 AND query LIKE 'COPY sluice_stage%'",
                &[],
            )
            .await
            .expect("activity")
            .get(0);
        if copying > 0 {
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the load ended before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no COPY seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert_eq!(counts(&c, &table).await, old, "the old table, untouched");

    // The server notices the dead client; the next run takes the lock and completes.
    let out = p.run_ok(&args2);
    let m = metrics(&p, &p.last_run_id(), "load");
    assert_eq!(m["rows"], batch2.num_rows() as u64, "{m} {}", text(&out));
    let changed_rows: i64 = v2
        .changed
        .iter()
        .map(|&d| chunks::chunk_count(&v2, d) as i64)
        .sum();
    assert_eq!(
        counts(&c, &table).await,
        (batch2.num_rows() as i64, changed_rows)
    );
    let leftover: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sluice' \
             AND state <> 'idle' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("activity")
        .get(0);
    assert_eq!(leftover, 0, "no session of the killed load is left");

    // Back to the first version: the load runs although its input was loaded before (the
    // table changed since), and a second time it changes nothing.
    p.run_ok(&args1);
    let m = metrics(&p, &p.last_run_id(), "load");
    assert_eq!(counts(&c, &table).await, old, "{m}");
    assert!(m["deleted"].as_u64() > Some(0), "{m}");
    p.run_ok(&args1);
    let m = metrics(&p, &p.last_run_id(), "load");
    assert_eq!(
        (
            &m["inserted"],
            &m["updated"],
            &m["deleted"],
            &m["unchanged"]
        ),
        (
            &0.into(),
            &0.into(),
            &0.into(),
            &(batch1.num_rows() as u64).into()
        ),
        "{m}"
    );
    c.batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .expect("drop");
}

/// The ids in table `texts_SUFFIX`, in order, joined with commas.
async fn texts(c: &tokio_postgres::Client, suffix: &str) -> String {
    let q = format!("SELECT string_agg(id, ',' ORDER BY id) FROM texts_{suffix}");
    c.query_one(&q, &[])
        .await
        .expect("texts")
        .get::<_, String>(0)
}

const LINKED: &str = r#"
name: load_linked
params:
  url: postgres://localhost/none
  suffix: x
tasks:
  docs: {op: read.csv, path: docs.csv}
  texts: {op: read.csv, path: texts.csv}
  load_docs:
    op: load.postgres
    input: docs
    url: ${params.url}
    table: docs_${params.suffix}
    key: id
    max_delete_fraction: 1.0
  load_texts:
    op: load.postgres
    input: texts
    url: ${params.url}
    table: texts_${params.suffix}
    key: id
    references:
      document_id: docs_${params.suffix}
    max_delete_fraction: 1.0
    after: load_docs
"#;

/// `references`: a foreign key per column (`ON DELETE CASCADE`) with its index; a row
/// referring to a missing row fails the load and names the constraint; a row removed from
/// the referred table takes its referring rows with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_are_foreign_keys_with_indexes() {
    let Some(url) = pg_url("references_are_foreign_keys_with_indexes") else {
        return;
    };
    let suffix = format!("fk{}", std::process::id());
    let p = Project::new(LINKED);
    let c = client(&url).await;
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS texts_{suffix}; DROP TABLE IF EXISTS docs_{suffix}"
    ))
    .await
    .expect("drop");
    let args = [
        "run".to_string(),
        "pipeline.yaml".into(),
        "--param".into(),
        format!("url={url}"),
        "--param".into(),
        format!("suffix={suffix}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    std::fs::write(p.path("docs.csv"), "id,name\na,first\nb,second\n").expect("docs");
    std::fs::write(
        p.path("texts.csv"),
        "id,document_id,text\na1,a,one\na2,a,two\nb1,b,three\n",
    )
    .expect("texts");
    p.run_ok(&args);
    let m = metrics(&p, &p.last_run_id(), "load_texts");
    assert_eq!(
        m["indexes_created"],
        serde_json::json!([
            format!("idx_texts_{suffix}_document_id"),
            format!("fk_texts_{suffix}_document_id")
        ]),
        "{m}"
    );
    let fk = c
        .query_one(
            "SELECT confrelid::regclass::text, confdeltype::text FROM pg_constraint \
             WHERE conname = $1",
            &[&format!("fk_texts_{suffix}_document_id")],
        )
        .await
        .expect("constraint");
    assert_eq!(
        (fk.get::<_, String>(0), fk.get::<_, String>(1)),
        (format!("docs_{suffix}"), "c".to_string())
    );

    // A text of a document that is not there: the load fails naming the constraint.
    std::fs::write(
        p.path("texts.csv"),
        "id,document_id,text\na1,a,one\na2,a,two\nb1,b,three\nz1,z,orphan\n",
    )
    .expect("texts");
    let out = p.sluice(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "violates foreign key constraint \"fk_texts_{suffix}_document_id\""
        )),
        "{}",
        text(&out)
    );
    assert_eq!(
        texts(&c, &suffix).await,
        "a1,a2,b1",
        "the failed load changed nothing"
    );

    // Document `a` removed: its texts go with it, before the texts' own load runs.
    std::fs::write(p.path("docs.csv"), "id,name\nb,second\n").expect("docs");
    std::fs::write(p.path("texts.csv"), "id,document_id,text\nb1,b,three\n").expect("texts");
    p.run_ok(&args);
    assert_eq!(texts(&c, &suffix).await, "b1");
    let m = metrics(&p, &p.last_run_id(), "load_texts");
    assert_eq!(
        (m["deleted"].as_u64(), m["unchanged"].as_u64()),
        (Some(0), Some(1)),
        "{m}"
    );
}
