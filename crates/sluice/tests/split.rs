//! `op: split` through the real binary: part names normalised and unique within 63 bytes,
//! the mapping, each part's rows; `export.parquet` and `publish.object_store` (a local
//! folder) take the parts one by one, and a part that disappears loses its folder;
//! `load.postgres` with `parts: true` makes one table per part (`SLUICE_TEST_PG_URL`).

mod common;
use common::vector as chunks;

use std::collections::BTreeMap;

use chunks::{client, pg_url};
use common::{Project, metrics};
use serde_json::Value;
use sluice_data::datafusion::arrow::array::AsArray;
use sluice_data::datafusion::arrow::datatypes::Int64Type;

const PIPELINE: &str = r#"
name: split
tasks:
  articles:
    op: read.csv
    path: articles.csv
  by_code:
    op: split
    input: articles
    by:
      - column: title
        prefix: "legi_"
        match: "^Code "
      - column: category
        prefix: "legi_category_"
      - column: text
        prefix: "t_"
        patterns:
          vowels: "^[aei]$"
  export:
    op: export.parquet
    input: by_code
    parts: true
    path: out/parts
    order_by: [id]
  publish:
    op: publish.object_store
    path: out/parts
    url: published
    after: export
"#;

const LOAD: &str = r#"
  load:
    op: load.postgres
    input: by_code
    parts: true
    url: URL
    schema: SCHEMA
    key: id
"#;

const LONG: &str =
    "Code général des collectivités territoriales et de leurs établissements publics";

fn csv(with_loi: bool) -> String {
    let mut rows = vec![
        "id,title,category,text".to_string(),
        "1,Code civil,CODE,a".into(),
        "2,Code civil,CODE,b".into(),
        "3,Code du travail,CODE,c".into(),
        "4,Code de l'entrée et du séjour des étrangers et du droit d'asile,CODE,d".into(),
        "5,Code  civil!,CODE,e".into(),
        "7,Décret du 1er mars,DECRET,g".into(),
        "8,,CODE,h".into(),
        format!("9,{LONG} (partie A),CODE,i"),
        format!("10,{LONG} (partie B),CODE,j"),
    ];
    if with_loi {
        rows.insert(6, "6,Loi n° 78-17 du 6 janvier 1978,LOI,f".into());
    }
    rows.join("\n") + "\n"
}

/// The ids of each exported part, from its Parquet files.
fn part_ids(p: &Project) -> BTreeMap<String, Vec<i64>> {
    let list: Value = serde_json::from_str(&p.read("out/parts/parts.json")).expect("parts.json");
    let mut out = BTreeMap::new();
    for part in list.as_array().expect("list") {
        let name = part["part"].as_str().expect("part").to_string();
        let manifest: Value =
            serde_json::from_str(&p.read(&format!("out/parts/{name}/manifest.json")))
                .expect("manifest");
        let mut ids = Vec::new();
        for f in manifest["files"].as_array().expect("files") {
            let path = p
                .path("out/parts")
                .join(&name)
                .join(f["path"].as_str().expect("path"));
            let file = std::fs::File::open(&path).expect("open");
            let reader = sluice_data::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("reader")
                .build()
                .expect("build");
            for batch in reader {
                let batch = batch.expect("batch");
                let col = batch.column_by_name("id").expect("id");
                let col = col.as_primitive::<Int64Type>();
                ids.extend((0..col.len()).map(|i| col.value(i)));
            }
        }
        assert_eq!(part["rows"], ids.len() as u64, "{name}");
        out.insert(name, ids);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_get_unique_normalised_names_and_go_to_folders_tables_and_the_store() {
    let pg = pg_url("parts_get_unique_normalised_names_and_go_to_folders_tables_and_the_store");
    let schema = format!("split_{}", std::process::id());
    let pipeline = match &pg {
        Some(url) => format!(
            "{PIPELINE}{}",
            LOAD.replace("URL", url).replace("SCHEMA", &schema)
        ),
        None => PIPELINE.to_string(),
    };
    if let Some(url) = &pg {
        let c = client(url).await;
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .expect("schema");
    }
    let p = Project::new(&pipeline);
    std::fs::write(p.path("articles.csv"), csv(true)).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);

    let parts = part_ids(&p);
    let names: Vec<&String> = parts.keys().collect();
    let civil_twin = names
        .iter()
        .find(|n| n.starts_with("legi_code_civil_"))
        .expect("the second `Code civil` gets a name of its own");
    assert_eq!(civil_twin.len(), "legi_code_civil_".len() + 8);
    let long: Vec<&&String> = names
        .iter()
        .filter(|n| n.starts_with("legi_code_general_des_collectivites_territoriales"))
        .collect();
    assert_eq!(long.len(), 2, "{names:?}");
    assert!(long.iter().all(|n| n.len() == 63), "{long:?}");
    let entree = names
        .iter()
        .find(|n| n.starts_with("legi_code_de_l_entree_et_du_sejour_des_etrangers"))
        .expect("accents dropped");
    assert!(entree.len() <= 63);
    assert_eq!(parts["legi_code_civil"], vec![1, 2]);
    assert_eq!(parts[*civil_twin], vec![5]);
    assert_eq!(parts["legi_code_du_travail"], vec![3]);
    assert_eq!(parts[*entree], vec![4]);
    assert_eq!(parts["legi_category_code"], vec![1, 2, 3, 4, 5, 8, 9, 10]);
    assert_eq!(parts["legi_category_loi"], vec![6]);
    assert_eq!(parts["legi_category_decret"], vec![7]);
    assert_eq!(parts["t_vowels"], vec![1, 5, 9]);
    assert_eq!(parts.len(), 10, "{names:?}");

    let run = p.last_run_id();
    let m = metrics(&p, &run, "by_code");
    assert_eq!(m["rows"], 10);
    assert_eq!(m["parts"], 10);
    assert_eq!(m["rows_unassigned"], 0);
    // The mapping: one row per part, with its rule, value and rows.
    let out = p.run_ok(&[
        "sql",
        "select part, \"column\", value, pattern, rows from split.by_code where part in \
         ('legi_code_civil', 't_vowels') order by part",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "part,column,value,pattern,rows\nlegi_code_civil,title,Code civil,,2\n\
         t_vowels,text,vowels,^[aei]$,3\n"
    );

    // Each part published as its own name, the manifest's files there.
    let published = metrics(&p, &run, "publish");
    assert_eq!(published["published"], 10);
    let latest: Value = serde_json::from_str(&p.read("published/legi_code_civil/latest.json"))
        .expect("latest.json");
    let version = latest["version"].as_str().expect("version");
    for f in latest["files"].as_array().expect("files") {
        let name = f["path"].as_str().expect("path");
        let bytes = std::fs::read(p.path("published/legi_code_civil").join(version).join(name))
            .expect("published file");
        assert_eq!(
            bytes,
            std::fs::read(p.path("out/parts/legi_code_civil").join(name)).expect("export")
        );
    }

    if let Some(url) = &pg {
        let c = client(url).await;
        let tables = c
            .query(
                &format!(
                    "SELECT table_name::text FROM information_schema.tables WHERE \
                     table_schema = '{schema}' ORDER BY 1"
                ),
                &[],
            )
            .await
            .expect("tables");
        let tables: Vec<String> = tables.iter().map(|r| r.get(0)).collect();
        let expected: Vec<String> = parts.keys().cloned().collect();
        assert_eq!(tables, expected);
        let n: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {schema}.legi_category_code"),
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, 8);
    }

    // The LOI disappears: its exported folder goes, the other parts publish nothing new.
    std::fs::write(p.path("articles.csv"), csv(false)).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    let parts = part_ids(&p);
    assert!(!parts.contains_key("legi_category_loi"));
    assert!(!p.path("out/parts/legi_category_loi").exists());
    assert_eq!(parts.len(), 9);
    let published = metrics(&p, &p.last_run_id(), "publish");
    assert_eq!(published["unchanged"], 9, "{published}");
    assert_eq!(published["published"], 0);
    if let Some(url) = &pg {
        let c = client(url).await;
        c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop");
    }
}

#[test]
fn a_rule_naming_a_missing_column_fails_with_the_columns_there() {
    let p = Project::new(&PIPELINE.replace("column: category", "column: categorie"));
    std::fs::write(p.path("articles.csv"), csv(true)).expect("csv");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert!(!out.status.success());
    let log = common::text(&out);
    assert!(
        log.contains(
            "`by` rule 2 names the column `categorie`, which the dataset of `articles` lacks \
             (its columns: id, title, category, text)"
        ),
        "{log}"
    );
}
