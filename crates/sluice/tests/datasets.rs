//! Datasets end to end: caching by input files, and the errors users meet (each leaves the
//! previous latest dataset latest). The drug-mentions reference pipeline's output on the real
//! inputs is a golden case (tests/golden/drug_mentions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{Project, text};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn servier_data() -> PathBuf {
    repo().join("../shared/servier-data")
}

/// Runs the drug_mentions example with its state in `home` and its output in `out`.
fn run_example(home: &Path, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "run".into(),
        repo()
            .join("examples/drug_mentions/pipeline.yaml")
            .display()
            .to_string(),
        "--home".into(),
        home.display().to_string(),
        "--param".into(),
        format!("data={}", data.display()),
        "--param".into(),
        format!("out={}", out.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(&args)
        .env_remove("SLUICE_STATE")
        .env_remove("SLUICE_HOME")
        .output()
        .expect("run sluice")
}

// The drug-mentions example on the real inputs, graph and questions: tests/golden/drug_mentions.

fn summary(out: &Output) -> BTreeMap<String, String> {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary");
    v["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["task"].as_str().unwrap_or("").to_string(),
                t["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn unchanged_inputs_are_cached_and_a_touched_file_reruns_only_what_depends_on_it() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    for f in [
        "drugs.csv",
        "pubmed.csv",
        "pubmed.json",
        "clinical_trials.csv",
    ] {
        std::fs::copy(servier_data().join(f), data.join(f)).expect("copy input");
    }
    let (home, out) = (tmp.path().join("home"), tmp.path().join("out"));
    let first = summary(&run_example(&home, &data, &out, &["--json"]));
    assert!(first.values().all(|s| s == "succeeded"), "{first:?}");
    let second = summary(&run_example(&home, &data, &out, &["--json"]));
    assert!(second.values().all(|s| s == "cached"), "{second:?}");

    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(data.join("pubmed.json"))
        .and_then(|f| f.set_modified(later))
        .expect("touch");
    let third = summary(&run_example(&home, &data, &out, &["--json"]));
    let ran: Vec<&str> = third
        .iter()
        .filter(|(_, s)| *s == "succeeded")
        .map(|(t, _)| t.as_str())
        .collect();
    let cached: Vec<&str> = third
        .iter()
        .filter(|(_, s)| *s == "cached")
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(
        ran,
        vec![
            "graph",
            "mentions",
            "publications",
            "pubmed_json",
            "write_graph"
        ]
    );
    assert_eq!(cached, vec!["drugs", "pubmed_csv", "trials_raw"]);

    // A deleted output file is written again; nothing else runs.
    let graph = out.join("graph.json");
    std::fs::remove_file(&graph).expect("delete graph.json");
    let fourth = summary(&run_example(&home, &data, &out, &["--json"]));
    let ran: Vec<&str> = fourth
        .iter()
        .filter(|(_, s)| *s == "succeeded")
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(ran, vec!["write_graph"], "{fourth:?}");
    assert!(graph.is_file(), "graph.json was not written again");
}

const SMALL: &str = r#"
name: small
tasks:
  people:
    op: read.csv
    path: people.csv
    checks:
      - not_null: [name]
  adults:
    sql: select name, age from people where age >= 18 order by name
    op: sql
"#;

fn adults(p: &Project) -> Value {
    let out = p.run_ok(&[
        "sql",
        "select name from small.adults order by name",
        "--format",
        "json",
    ]);
    serde_json::from_slice(&out.stdout).expect("json")
}

fn latest_versions(p: &Project) -> Vec<String> {
    let v = p.json(&["datasets", "--json"]);
    v.as_array()
        .expect("versions")
        .iter()
        .filter(|d| !d["latest_since"].is_null())
        .map(|d| {
            format!(
                "{}@{}",
                d["task"].as_str().unwrap_or(""),
                d["version"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn bad_csv_and_failed_checks_fail_the_task_and_keep_the_previous_latest() {
    let p = Project::new(SMALL);
    std::fs::write(p.path("people.csv"), "name,age\nada,36\nbob,12\n").expect("write");
    p.run_ok(&["run", "pipeline.yaml"]);
    let before = latest_versions(&p);
    assert_eq!(adults(&p), serde_json::json!([{"name": "ada"}]));

    // An unclosed quote: the file and the line, and nothing changes.
    std::fs::write(
        p.path("people.csv"),
        "name,age\nada,36\n\"carl,40\nbob,12\n",
    )
    .expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("people.csv:3: unclosed quote: a quoted field starting on this line runs to the end of the file"),
        "{stdout}"
    );
    assert!(
        stdout.contains("adults                   upstream_failed"),
        "{stdout}"
    );
    assert_eq!(latest_versions(&p), before);
    assert_eq!(adults(&p), serde_json::json!([{"name": "ada"}]));

    // A failed check: the offending rows are shown, the new dataset is discarded.
    std::fs::write(p.path("people.csv"), "name,age\nada,36\n,40\n").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("check `not_null(name)` failed: 1 row"),
        "{stdout}"
    );
    assert!(stdout.contains("|      | 40  |"), "{stdout}");
    assert!(
        stdout.contains("the new dataset was discarded; the latest version stays as it was"),
        "{stdout}"
    );
    assert_eq!(latest_versions(&p), before);
    let staging = p.path(".sluice/warehouse/small/people/.staging");
    assert_eq!(
        std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0),
        0,
        "staging left behind"
    );

    // Fixed: the new version becomes latest.
    std::fs::write(p.path("people.csv"), "name,age\nada,36\ncarl,40\n").expect("write");
    p.run_ok(&["run", "pipeline.yaml"]);
    assert_ne!(latest_versions(&p), before);
    assert_eq!(
        adults(&p),
        serde_json::json!([{"name": "ada"}, {"name": "carl"}])
    );
}

#[test]
fn a_file_that_is_not_json_is_named() {
    let p = Project::new("name: j\ntasks:\n  records: { op: read.json, path: records.json }\n");
    std::fs::write(p.path("records.json"), "id,title\n1,hello\n").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("records.json:1: not valid JSON (column 1): "),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected an array of objects or one object per line"),
        "{stdout}"
    );
}

#[test]
fn sql_errors_give_the_task_and_the_position() {
    // Syntax: found before anything runs, with the file position and the query position.
    let p = Project::new(
        "name: s\ntasks:\n  people: { op: read.csv, path: people.csv }\n  bad:\n    op: sql\n    sql: select name form people\n",
    );
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("pipeline.yaml:6:10: error: `tasks.bad.sql`: SQL syntax error at line 1, column 18 of the query: "),
        "{stderr}"
    );

    // A table that does not exist: the names that do.
    let p = Project::new(
        "name: s\ntasks:\n  people: { op: read.csv, path: people.csv }\n  bad: { op: sql, sql: select * from peopel }\n",
    );
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "pipeline.yaml:4:3: error: `tasks.bad`: unknown table `peopel` (did you mean `people`? tables: people)\npipeline.yaml: 1 error\n"
    );

    // A column that does not exist: found when the query is planned, in the task's output.
    let p = Project::new(
        "name: s\ntasks:\n  people: { op: read.csv, path: people.csv }\n  bad: { op: sql, sql: select nam from people }\n",
    );
    std::fs::write(p.path("people.csv"), "name,age\nada,36\n").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad                      failed          attempt 1 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("query failed: Schema error: No field named nam."),
        "{stdout}"
    );
}

#[test]
fn match_terms_finds_whole_words_and_names_a_missing_column() {
    let pipeline = "name: m
tasks:
  terms: { op: read.csv, path: terms.csv }
  texts: { op: read.csv, path: texts.csv }
  found: { op: match.terms, texts: texts, text: body, terms: terms, term: term }
  listed:
    op: sql
    sql: select id, code, term from found order by id, code
";
    let p = Project::new(pipeline);
    std::fs::write(
        p.path("terms.csv"),
        "code,term\nA,Vitamin C\nB,ETHANOL\nC,c\nD,\n",
    )
    .expect("write");
    std::fs::write(
        p.path("texts.csv"),
        "id,body\n1,Vitamin-c and ethanol\n2,methanol; ethanolamine\n3,\n4,L'éthanol (c) ETHANOL\n",
    )
    .expect("write");
    p.run_ok(&["run", "pipeline.yaml"]);
    let out = p.run_ok(&[
        "sql",
        "select id, code from m.listed order by id, code",
        "--format",
        "json",
    ]);
    let rows: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        rows,
        serde_json::json!([
            {"id": 1, "code": "A"}, {"id": 1, "code": "B"}, {"id": 1, "code": "C"},
            {"id": 4, "code": "B"}, {"id": 4, "code": "C"}
        ])
    );

    // A column that is not there: the task fails naming it and the columns that are.
    let p = Project::new(&pipeline.replace("text: body", "text: bdy"));
    std::fs::write(p.path("terms.csv"), "code,term\nA,x\n").expect("write");
    std::fs::write(p.path("texts.csv"), "id,body\n1,x\n").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("`bdy` is not a column of `texts` (columns: id, body)"),
        "{stdout}"
    );

    // The same column name on both sides.
    let p = Project::new(&pipeline.replace("code,term", "id,term"));
    std::fs::write(p.path("terms.csv"), "id,term\nA,x\n").expect("write");
    std::fs::write(p.path("texts.csv"), "id,body\n1,x\n").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("column `id` is in both `terms` and `texts`: rename it in one of them"),
        "{}",
        text(&out)
    );
}

#[test]
fn staging_folders_of_a_killed_run_are_removed_when_the_run_is_taken_over() {
    let p = Project::new("name: k\ntasks:\n  rows: { op: read.csv, path: rows.csv }\n");
    // A named pipe: reading it blocks until someone writes, so the task is caught mid-way,
    // its staging folder made and nothing written into it yet.
    let fifo = p.path("rows.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let mut child = p.spawn(&["run", "pipeline.yaml"]);
    let staging = p.path(".sluice/warehouse/k/rows/.staging");
    let entries = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|es| {
                es.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let start = std::time::Instant::now();
    while entries(&staging).is_empty() {
        assert!(start.elapsed().as_secs() < 20, "no staging folder appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The run's record is written asynchronously: wait until it is there before the kill.
    while p
        .json(&["runs", "--json", "--limit", "1"])
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(start.elapsed().as_secs() < 20, "the run was never recorded");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let killed = p.last_run_id();
    let left = entries(&staging);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(&format!("{killed}.")), "{left:?}");

    // The next run finds the dead one, marks it failed and removes what it left.
    std::fs::remove_file(&fifo).expect("remove fifo");
    std::fs::write(&fifo, "a\n1\n2\n").expect("write csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    assert_eq!(entries(&staging), Vec::<String>::new());
    let show = p.show(&killed);
    assert_eq!(show["run"]["state"], "failed");
    let out = p.run_ok(&["sql", "select count(*) as n from k.rows", "--format", "csv"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n2\n");
}

#[test]
fn read_parquet_reads_a_glob_including_a_file_without_rows() {
    let p = Project::new(
        "name: pq\ntasks:\n  all: { op: read.parquet, path: \"in/*.parquet\" }\n  \
         none: { op: read.parquet, path: in/b.parquet }\n",
    );
    std::fs::create_dir_all(p.path("in")).expect("mkdir");
    std::fs::create_dir_all(p.path(".sluice")).expect("mkdir"); // where `sluice sql` looks
    for (file, query) in [
        (
            "in/a.parquet",
            "select 1 as id, 'x' as name union all select 2, 'y'",
        ),
        ("in/b.parquet", "select 3 as id, 'z' as name where false"),
    ] {
        p.run_ok(&["sql", query, "--format", "parquet", "--output", file]);
    }
    p.run_ok(&["run", "pipeline.yaml"]);
    let out = p.run_ok(&[
        "sql",
        "select id, name from pq.all order by id",
        "--format",
        "csv",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "id,name\n1,x\n2,y\n");
    // No rows, but the columns of the file.
    let out = p.run_ok(&[
        "sql",
        "select count(*) as n, min(name) as m from pq.none",
        "--format",
        "csv",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n,m\n0,\n");

    // A file with other columns is named.
    p.run_ok(&[
        "sql",
        "select 'q' as other",
        "--format",
        "parquet",
        "--output",
        "in/c.parquet",
    ]);
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("in/c.parquet: its columns differ from those of")
            && stdout.contains("in/a.parquet"),
        "{stdout}"
    );
}

/// Four runs of a pipeline that fetches a different file each time (the last one fails),
/// under `retention: 2`: the home `gc` and `backup` work on.
fn housekeeping_home() -> (Project, Vec<String>) {
    let p = Project::new(
        r#"
name: kept
retention: 2
params: { file: a.csv }
tasks:
  download: { op: fetch, url: "${params.file}" }
  sizes: { op: sql, sql: "select name, bytes from download" }
"#,
    );
    let mut runs = Vec::new();
    for (name, body) in [
        ("a", "id\n1\n"),
        ("b", "id\n1\n2\n"),
        ("c", "id\n1\n2\n3\n"),
    ] {
        std::fs::write(p.path(&format!("{name}.csv")), body).expect("write");
        let file = format!("file={name}.csv");
        if name == "c" {
            // Run from a subfolder: the paths recorded go through `..`.
            std::fs::create_dir_all(p.path("sub")).expect("sub");
            let out = p
                .cmd(&["run", "../pipeline.yaml", "--param", &file])
                .current_dir(p.path("sub"))
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        } else {
            p.run_ok(&["run", "pipeline.yaml", "--param", &file]);
        }
        runs.push(p.last_run_id());
    }
    let out = p.sluice(&["run", "pipeline.yaml", "--param", "file=missing.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    runs.push(p.last_run_id());
    (p, runs)
}

fn run_ids(p: &Project) -> Vec<String> {
    let v = p.json(&["runs", "--json"]);
    let mut ids: Vec<String> = v
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_string())
        .collect();
    ids.sort();
    ids
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn gc_removes_old_runs_versions_beyond_retention_unneeded_downloads_and_leftovers() {
    let (p, runs) = housekeeping_home();
    let warehouse = std::fs::canonicalize(p.path(".sluice/warehouse/kept")).expect("warehouse");
    let versions_before = names_in(&warehouse.join("sizes"));
    assert_eq!(versions_before.len(), 2, "{versions_before:?}");
    // What a crashed attempt leaves, and a version folder no record names.
    let staging = warehouse.join("download/.staging/20200101-000000-deadbeef.0123456789abcdef-1");
    std::fs::create_dir_all(&staging).expect("staging");
    std::fs::write(staging.join("part-00000.parquet"), "half").expect("half");
    let stray = warehouse.join("sizes/fedcba9876543210");
    std::fs::create_dir_all(&stray).expect("stray");
    std::fs::write(stray.join("part-00000.parquet"), "x").expect("stray part");

    // Nothing is 30 days old.
    let out = p.run_ok(&["gc", "--older-than", "30d"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "gc (30d and older): removed 0 runs (0 log folders), 0 dataset versions, 0 raw downloads, 0 leftovers of ended attempts; 0 B freed"
    );
    // The pipeline now keeps only its latest version.
    let file = p
        .read("pipeline.yaml")
        .replace("retention: 2", "retention: 1");
    std::fs::write(p.path("pipeline.yaml"), file).expect("write");
    let dry = p.run_ok(&["--home", ".sluice", "gc", "--older-than", "0s", "--dry-run"]);
    let dry = String::from_utf8_lossy(&dry.stdout).into_owned();
    let older_sizes = &versions_before
        .iter()
        .find(|v| !latest_versions(&p).contains(&format!("sizes@{v}")))
        .expect("an older version")
        .clone();
    for line in [
        format!("run {}", runs[0]),
        format!("run {}", runs[1]),
        format!("run {}", runs[3]),
        format!("dataset version kept.sizes@{older_sizes}"),
        format!(
            "raw download {}",
            warehouse.join("download/raw/a.csv").display()
        ),
        format!(
            "raw download {}",
            warehouse.join("download/raw/b.csv").display()
        ),
        format!("leftover {}", staging.display()),
        format!("leftover {}", stray.display()),
    ] {
        assert!(dry.lines().any(|l| l == line), "`{line}` not in:\n{dry}");
    }
    assert!(
        dry.contains("would remove 3 runs (3 log folders), 2 dataset versions, 2 raw downloads, 2 leftovers of ended attempts;"),
        "{dry}"
    );
    // A dry run removes nothing.
    assert_eq!(run_ids(&p).len(), 4);
    assert!(staging.is_dir() && stray.is_dir());

    let out = p.run_ok(&["--home", ".sluice", "gc", "--older-than", "0s", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["runs"].as_array().map(Vec::len), Some(3), "{report}");
    assert_eq!(
        report["versions"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(report["problems"], serde_json::json!([]));
    // Only the run that made the latest versions stays, with its logs.
    assert_eq!(run_ids(&p), vec![runs[2].clone()]);
    assert_eq!(names_in(&p.path(".sluice/logs")), vec![runs[2].clone()]);
    assert_eq!(names_in(&warehouse.join("download/raw")), vec!["c.csv"]);
    assert_eq!(names_in(&warehouse.join("sizes")).len(), 1);
    let download = names_in(&warehouse.join("download"));
    assert_eq!(download.len(), 2, "{download:?}");
    assert!(download.contains(&"raw".to_string()), "{download:?}");
    assert!(!staging.exists() && !stray.exists());
    // What stays still reads.
    let rows = p.run_ok(&[
        "sql",
        "select name, bytes from kept.sizes",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout),
        "name,bytes\nc.csv,9\n"
    );
    // And the next run of an unchanged file is cached.
    let out = p.run_ok(&["run", "pipeline.yaml", "--param", "file=c.csv", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(common::task(&v, "sizes")["state"], "cached", "{v}");
}

#[test]
fn a_backup_restores_elsewhere_with_every_dataset_and_log_and_refuses_damaged_archives() {
    let (p, runs) = housekeeping_home();
    let archive = p.path("home.tar.zst");
    let out = p.run_ok(&["backup", "home.tar.zst"]);
    assert!(
        text(&out).contains("4 runs, 4 dataset versions, "),
        "{}",
        text(&out)
    );
    let expected = p.run_ok(&[
        "sql",
        "select name, bytes from kept.sizes",
        "--format",
        "csv",
    ]);

    // Restored into another folder: paths in the store follow it.
    let other = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let home = other.path().join("restored");
    let restore = |extra: &[&str]| {
        let mut args = vec!["--home", home.to_str().expect("utf8"), "restore"];
        args.push(archive.to_str().expect("utf8"));
        args.extend_from_slice(extra);
        p.sluice(&args)
    };
    let out = restore(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let at = |args: &[&str]| {
        let mut all = vec!["--home", home.to_str().expect("utf8")];
        all.extend_from_slice(args);
        p.run_ok(&all)
    };
    let rows = at(&[
        "sql",
        "select name, bytes from kept.sizes",
        "--format",
        "csv",
    ]);
    assert_eq!(rows.stdout, expected.stdout);
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout),
        "name,bytes\nc.csv,9\n"
    );
    let datasets: Value =
        serde_json::from_slice(&at(&["datasets", "--json"]).stdout).expect("json");
    for d in datasets.as_array().expect("datasets") {
        let path = Path::new(d["path"].as_str().expect("path"));
        assert!(path.starts_with(&home) && path.is_dir(), "{d}");
    }
    let logs = at(&["logs", &runs[2], "download"]);
    assert!(text(&logs).contains("c.csv: downloaded"), "{}", text(&logs));
    let failed = at(&["show", &runs[3], "--json"]);
    assert!(text(&failed).contains("missing.csv"), "{}", text(&failed));
    assert_eq!(
        names_in(&home.join("warehouse/kept/download/raw")),
        vec!["a.csv", "b.csv", "c.csv"]
    );

    // A home there already is never overwritten, unless asked; then it is kept aside.
    let out = restore(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("exists and is not empty: restore into another folder with --home DIR, or with --replace"),
        "{}",
        text(&out)
    );
    // Not while a run writes into it: its lock is held.
    std::fs::create_dir_all(home.join("locks")).expect("locks");
    let lock = std::fs::File::create(home.join("locks/kept.lock")).expect("lock file");
    lock.lock().expect("lock");
    let out = restore(&["--replace"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("a run of pipeline `kept` is going on in"),
        "{}",
        text(&out)
    );
    drop(lock);
    let out = restore(&["--replace"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let aside: Vec<String> = names_in(other.path())
        .into_iter()
        .filter(|n| n.starts_with("restored.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", names_in(other.path()));

    // A cut archive, or one whose entry climbs out of the home: refused, nothing changed.
    let bytes = std::fs::read(&archive).expect("archive");
    let cut = p.path("cut.tar.zst");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("cut");
    let hostile = p.path("hostile.tar.zst");
    {
        let file = std::fs::File::create(&hostile).expect("create");
        let mut tar = tar::Builder::new(zstd::Encoder::new(file, 3).expect("zstd").auto_finish());
        let mut header = tar::Header::new_gnu();
        let name = b"../escaped";
        header.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name);
        header.set_size(2);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append(&header, &b"hi"[..]).expect("append");
        tar.finish().expect("finish");
    }
    let fresh = other.path().join("fresh");
    for (file, message) in [
        (
            &cut,
            "cannot be restored: the archive is damaged or truncated",
        ),
        (
            &hostile,
            "cannot be restored: entry `../escaped` points outside the home",
        ),
    ] {
        let out = p.sluice(&[
            "--home",
            fresh.to_str().expect("utf8"),
            "restore",
            file.to_str().expect("utf8"),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains(message) && text(&out).contains("nothing was changed"),
            "{}",
            text(&out)
        );
        assert!(!fresh.exists());
        assert!(!other.path().join("escaped").exists());
    }
    // Nothing half-made is left beside the homes.
    assert_eq!(
        names_in(other.path())
            .into_iter()
            .filter(|n| !n.starts_with("restored"))
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
}

#[test]
fn a_view_keeps_the_version_it_reads_until_it_runs_again() {
    let p = Project::new(
        r#"
name: viewed
retention: 1
tasks:
  numbers: { op: read.csv, path: n.csv }
  doubled: { op: sql, view: true, sql: "select n * 2 as d from numbers" }
  counted: { op: sql, sql: "select count(*) as c from numbers" }
"#,
    );
    std::fs::write(p.path("n.csv"), "n\n1\n2\n").expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    // New numbers, but the view does not run: it still reads the first version, which
    // retention (1) would otherwise remove.
    std::fs::write(p.path("n.csv"), "n\n1\n2\n3\n").expect("csv");
    p.run_ok(&["run", "pipeline.yaml", "--select", "counted"]);
    let query = |sql: &str| {
        let out = p.run_ok(&["sql", sql, "--format", "csv"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        query("select d from viewed.doubled order by d"),
        "d\n2\n4\n"
    );
    assert_eq!(query("select c from viewed.counted"), "c\n3\n");
    p.run_ok(&["gc", "--older-than", "0s"]);
    assert_eq!(
        query("select d from viewed.doubled order by d"),
        "d\n2\n4\n"
    );
    let versions = |task: &str| {
        let v = p.json(&["datasets", "--json"]);
        v.as_array()
            .expect("versions")
            .iter()
            .filter(|d| d["task"] == task)
            .count()
    };
    assert_eq!(versions("numbers"), 2);
    // Once the view runs on the new version, the old one goes.
    p.run_ok(&["run", "pipeline.yaml"]);
    assert_eq!(
        query("select d from viewed.doubled order by d"),
        "d\n2\n4\n6\n"
    );
    assert_eq!(versions("numbers"), 1);
}

/// Whether a folder holds a file, at any depth.
fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.path().is_file() || (e.path().is_dir() && has_files(&e.path())))
    })
}

/// `SLUICE_WAREHOUSE` (here `file://`, the same code as S3): each version goes to the object
/// store, its manifest last; retention removes old versions there too; with the home's copy
/// gone, the next run still finds its versions (cached) and `sluice sql` downloads what it
/// reads.
#[test]
fn a_warehouse_in_an_object_store_keeps_versions_and_serves_a_fresh_home() {
    let p = Project::new(
        r#"
name: stored
retention: 1
tasks:
  numbers: { op: read.csv, path: n.csv }
  doubled: { op: sql, sql: "select n * 2 as d from numbers" }
  plus: { op: sql, view: true, sql: "select d + 1 as e from doubled" }
"#,
    );
    let bucket = p.path("bucket");
    std::fs::create_dir_all(&bucket).expect("bucket");
    let url = format!("file://{}/wh", bucket.display());
    let sluice = |args: &[&str]| {
        let out = p
            .cmd(args)
            .env("SLUICE_WAREHOUSE", &url)
            .output()
            .expect("sluice");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Each folder under the store with its manifest, as `task/version: files`.
    let stored = || -> Vec<String> {
        let mut found = Vec::new();
        for task in ["numbers", "doubled", "plus"] {
            let Ok(entries) = std::fs::read_dir(bucket.join("wh/stored").join(task)) else {
                continue;
            };
            for e in entries.flatten() {
                let manifest = e.path().join("_manifest.json");
                let name = e.file_name().to_string_lossy().into_owned();
                if let Ok(text) = std::fs::read_to_string(&manifest) {
                    let m: Value = serde_json::from_str(&text).expect("manifest");
                    let files = m["files"].as_object().map_or(0, |f| f.len());
                    found.push(format!("{task}/{name}: {files}"));
                } else if has_files(&e.path()) {
                    found.push(format!("{task}/{name}: incomplete"));
                }
                // An empty folder is what a local store leaves of deleted objects.
            }
        }
        found.sort();
        found
    };
    std::fs::write(p.path("n.csv"), "n\n1\n2\n").expect("csv");
    sluice(&["run", "pipeline.yaml"]);
    let first = stored();
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().all(|f| f.ends_with(": 1")), "{first:?}");
    // New numbers: new versions; retention (1) removes the old ones here and there.
    std::fs::write(p.path("n.csv"), "n\n1\n2\n3\n").expect("csv");
    sluice(&["run", "pipeline.yaml"]);
    let second = stored();
    assert_eq!(second.len(), 3, "{second:?}");
    assert!(
        second.iter().all(|f| !first.contains(f)),
        "{first:?} {second:?}"
    );
    // The home's copies gone: the run is cached all the same, and a query downloads.
    std::fs::remove_dir_all(p.path(".sluice/warehouse/stored")).expect("rm");
    let out = sluice(&["run", "pipeline.yaml"]);
    assert!(out.contains(": 3 cached\n"), "{out}");
    // A view comes down with the version it reads.
    assert_eq!(
        sluice(&[
            "sql",
            "select e from stored.plus order by e",
            "--format",
            "csv"
        ]),
        "e\n3\n5\n7\n"
    );
    std::fs::remove_dir_all(p.path(".sluice/warehouse/stored")).expect("rm");
    // Names as the SQL parser reads them: quoted ones too.
    assert_eq!(
        sluice(&[
            "sql",
            "select count(*) as n from \"stored\".\"doubled\"",
            "--format",
            "csv"
        ]),
        "n\n3\n"
    );
    std::fs::remove_dir_all(p.path(".sluice/warehouse/stored")).expect("rm");
    assert_eq!(
        sluice(&[
            "sql",
            "select d from stored.doubled order by d",
            "--format",
            "csv"
        ]),
        "d\n2\n4\n6\n"
    );
    // Only what the query read came down (the `.readers` locks aside).
    let here = |task: &str| -> Vec<String> {
        std::fs::read_dir(p.path(".sluice/warehouse/stored").join(task))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(here("doubled").len(), 1);
    assert!(here("numbers").is_empty(), "{:?}", here("numbers"));
    // A version changed behind the store's back is refused with the object named.
    let doubled = second
        .iter()
        .find(|f| f.starts_with("doubled/"))
        .and_then(|f| f.split(':').next())
        .expect("doubled")
        .to_string();
    std::fs::remove_dir_all(p.path(".sluice/warehouse/stored")).expect("rm");
    for part in std::fs::read_dir(bucket.join("wh/stored").join(&doubled))
        .expect("dir")
        .flatten()
    {
        if part.file_name() != "_manifest.json" {
            std::fs::write(part.path(), b"not parquet").expect("w");
        }
    }
    let out = p
        .cmd(&["sql", "select d from stored.doubled", "--format", "csv"])
        .env("SLUICE_WAREHOUSE", &url)
        .output()
        .expect("sluice");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("its manifest says"),
        "{}",
        text(&out)
    );
    // A URL sluice cannot use is an invalid setting, named.
    let out = p
        .cmd(&["run", "pipeline.yaml"])
        .env("SLUICE_WAREHOUSE", "ftp://example/x")
        .output()
        .expect("sluice");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: SLUICE_WAREHOUSE: "),
        "{}",
        text(&out)
    );
}
