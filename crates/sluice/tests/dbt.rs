//! dbt projects run on sluice: the example project gives the tables `dbt build` gives on
//! DuckDB (dbt-core and dbt-duckdb from PyPI), row for row, before and after new seed rows
//! (an incremental model and a snapshot); and what sluice cannot run, or what is wrong, is
//! an error with the file, line and column.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Project, copy_dir, text};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn append(file: &Path, rows: &str) {
    let mut text = std::fs::read_to_string(file).expect("read");
    text.push_str(rows);
    std::fs::write(file, text).expect("write");
}

/// The tables of the example project, with their DuckDB schema when not `main`.
const TABLES: &[&str] = &[
    "raw_customers",
    "raw_orders",
    "raw_payments",
    "stg_customers",
    "stg_orders",
    "stg_payments",
    "orders",
    "customers",
    "daily_revenue",
    "customers_snapshot:snapshots",
];

/// `dbt build`, then `sluice run`, then the comparison of every table.
fn build_both_and_compare(p: &Project, python: &str, dbt: &Path, round: &str) {
    let project = p.path("shop");
    // dbt reads the columns of `this` from the warehouse: a unit test giving rows for it
    // fails until the model exists, so dbt's first build leaves unit tests out (sluice's
    // does not: the model's own query tells the columns).
    let first = if round == "first" {
        &["--exclude", "test_type:unit"][..]
    } else {
        &[][..]
    };
    let out = Command::new(dbt)
        .arg("build")
        .args(first)
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--project-dir")
        .arg(&project)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .current_dir(&project)
        .output()
        .expect("dbt");
    assert!(out.status.success(), "dbt build ({round}): {}", text(&out));
    // The home in the test's folder (not the project's), where the read commands find it.
    let out = p.run_ok(&["run", "shop", "--home", ".sluice"]);
    let summary = text(&out);
    // 3 seeds, 3 views, 3 tables (one incremental), 1 snapshot, 18 tests and 2 unit tests;
    // the ephemeral model is no task. New seed rows run them all again (the unit tests read
    // their inputs' columns).
    assert!(summary.contains("succeeded in"), "{summary}");
    assert!(summary.contains(": 30 succeeded"), "{summary}");
    let parquet = p.path(&format!("parquet-{round}"));
    std::fs::create_dir_all(&parquet).expect("mkdir");
    for spec in TABLES {
        let table = spec.split(':').next().unwrap_or(spec);
        let file = parquet.join(format!("{table}.parquet"));
        p.run_ok(&[
            "sql",
            &format!("select * from shop.{table}"),
            "--format",
            "parquet",
            "--output",
            &file.to_string_lossy(),
        ]);
    }
    let out = Command::new(python)
        .arg(root().join("crates/sluice/tests/dbt/compare.py"))
        .arg(project.join("shop.duckdb"))
        .arg(&parquet)
        .args(TABLES)
        .output()
        .expect("compare");
    let report = text(&out);
    assert!(out.status.success(), "{round}: {report}");
    assert_eq!(
        report.matches(", the same").count(),
        TABLES.len(),
        "{round}: {report}"
    );
    eprintln!("{round}:\n{report}");
}

#[test]
fn the_example_project_gives_the_tables_dbt_build_gives_before_and_after_new_rows() {
    let Some(python) = common::test_python("dbt comparison") else {
        return;
    };
    let dbt = Path::new(&python).with_file_name("dbt");
    assert!(
        dbt.is_file(),
        "{} missing: scripts/python-env.sh installs dbt",
        dbt.display()
    );
    let p = Project::new("");
    let project = p.path("shop");
    copy_dir(&root().join("examples/dbt"), &project);
    std::fs::write(
        project.join("profiles.yml"),
        format!(
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {}\n      threads: 2\n",
            project.join("shop.duckdb").display()
        ),
    )
    .expect("profiles");
    build_both_and_compare(&p, &python, &dbt, "first");

    // New orders (one on the latest day already counted), their payments, a customer who
    // moved and a new one: the incremental model replaces one day and adds two, the
    // snapshot closes one row and adds two.
    append(
        &project.join("seeds/raw_orders.csv"),
        "21,4,2024-01-15,completed\n22,11,2024-01-16,placed\n23,3,2024-01-17,shipped\n",
    );
    append(
        &project.join("seeds/raw_payments.csv"),
        "26,21,credit_card,1200\n27,22,gift_card,800\n28,23,coupon,450\n",
    );
    let customers = project.join("seeds/raw_customers.csv");
    let moved = std::fs::read_to_string(&customers).expect("read").replace(
        "3,Kathleen,Payne,kpayne@example.com,BE,2024-01-02 10:30:00",
        "3,Kathleen,Payne,kpayne@example.com,FR,2024-02-01 09:00:00",
    );
    std::fs::write(&customers, moved).expect("write");
    append(
        &customers,
        "11,Ada,Lovelace,ada@example.com,FR,2024-02-02 08:00:00\n",
    );
    build_both_and_compare(&p, &python, &dbt, "second");

    // sluice ran the incremental model incrementally, and the snapshot as an update.
    let run = p.last_run_id();
    let log = p.run_ok(&["logs", &run, "daily_revenue"]);
    assert!(text(&log).contains("incremental run"), "{}", text(&log));
    let log = p.run_ok(&["logs", &run, "customers_snapshot"]);
    assert!(text(&log).contains("snapshot update"), "{}", text(&log));
}

/// A project written in `dir`: `files` are `(path, text)`.
fn project(files: &[(&str, &str)]) -> Project {
    let p = Project::new("");
    for (path, body) in files {
        let f = p.path(&format!("proj/{path}"));
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, body).expect("write");
    }
    p
}

const PROJECT: &str = "name: proj\nversion: '1'\nprofile: proj\n";

fn validate_error(files: &[(&str, &str)]) -> String {
    let p = project(files);
    let out = p.sluice(&["validate", "proj"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    text(&out)
}

#[test]
fn an_unknown_ref_is_named_with_its_file_line_and_column() {
    let err = validate_error(&[
        ("dbt_project.yml", PROJECT),
        ("models/a.sql", "select 1 as id"),
        ("models/b.sql", "-- b\nselect *\nfrom {{ ref('aa') }}\n"),
    ]);
    assert!(
        err.contains("proj/models/b.sql:3:9: error: model `b`: ref('aa') names no model, seed or snapshot of the project (did you mean `a`?)"),
        "{err}"
    );
}

#[test]
fn a_cycle_between_models_is_named_with_the_ref_that_closes_it() {
    let err = validate_error(&[
        ("dbt_project.yml", PROJECT),
        ("models/a.sql", "select * from {{ ref('b') }}"),
        ("models/b.sql", "select * from\n  {{ ref('a') }}"),
    ]);
    assert!(
        err.contains("proj/models/a.sql:1:18: error: model `a`: ref('b') makes a cycle: a → b → a"),
        "{err}"
    );
}

#[test]
fn an_unsupported_materialization_and_a_jinja_syntax_error_are_refused_where_written() {
    let err = validate_error(&[
        ("dbt_project.yml", PROJECT),
        (
            "models/a.sql",
            "{{ config(materialized='materialized_view') }}\nselect 1 as id",
        ),
        (
            "models/b.sql",
            "select 1 as id\n{% if true %}\nwhere {{ 1 + }}\n",
        ),
        ("models/c.py", "def model(dbt, session):\n    return None\n"),
    ]);
    assert!(
        err.contains("proj/models/a.sql:1:4: error: model `a`: materialization `materialized_view` is not supported by sluice (table, view, incremental or ephemeral)"),
        "{err}"
    );
    assert!(err.contains("proj/models/b.sql:3:"), "{err}");
    assert!(err.contains("model `b`: Jinja syntax error"), "{err}");
    assert!(
        err.contains("proj/models/c.py:1:1: error: Python models are not supported by sluice"),
        "{err}"
    );
}

#[test]
fn a_failing_unique_test_shows_its_rows_and_stops_what_depends_on_the_model() {
    let p = project(&[
        ("dbt_project.yml", PROJECT),
        (
            "seeds/people.csv",
            "id,name\n1,ada\n2,bob\n2,eve\n3,joe\n3,max\n",
        ),
        (
            "models/named.sql",
            "{{ config(materialized='table') }}\nselect id, upper(name) as name from {{ ref('people') }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: named\n    columns:\n      - name: id\n        data_tests: [unique]\n",
        ),
        (
            "models/report.sql",
            "select count(*) as n from {{ ref('named') }}",
        ),
    ]);
    let out = p.sluice(&["run", "proj", "--home", ".sluice"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = text(&out);
    assert!(err.contains("unique_named_id"), "{err}");
    assert!(err.contains("test failed: 2 rows"), "{err}");
    assert!(err.contains("| unique_field | n_records |"), "{err}");
    let run = p.last_run_id();
    let show = p.show(&run);
    assert_eq!(common::task(&show, "named")["state"], "succeeded");
    assert_eq!(common::task(&show, "unique_named_id")["state"], "failed");
    assert_eq!(common::task(&show, "report")["state"], "upstream_failed");
}

#[test]
fn a_failing_unit_test_shows_both_differences_and_stops_its_model() {
    let unit = "version: 2\nunit_tests:\n  - name: names_are_upper_case\n    model: named\n    given:\n      - input: ref('people')\n        rows:\n          - {id: 1, name: ada}\n          - {id: 2}\n    expect:\n      fixture: named_people\n";
    let p = project(&[
        ("dbt_project.yml", PROJECT),
        ("seeds/people.csv", "id,name\n1,ada\n"),
        (
            "models/named.sql",
            "{{ config(materialized='table') }}\nselect id, upper(name) as name from {{ ref('people') }}",
        ),
        ("models/unit.yml", unit),
        // Expected: the second name null; the first wrongly lower case.
        ("tests/fixtures/named_people.csv", "id,name\n1,ada\n2,\n"),
    ]);
    let out = p.sluice(&["run", "proj", "--home", ".sluice"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("names_are_upper_case")
            && err.contains("unit test failed: rows not expected: 1 row"),
        "{err}"
    );
    assert!(err.contains("| 1  | ADA  |"), "{err}");
    assert!(err.contains("rows missing: 1 row"), "{err}");
    assert!(err.contains("| 1  | ada  |"), "{err}");
    let show = p.show(&p.last_run_id());
    assert_eq!(
        common::task(&show, "names_are_upper_case")["state"],
        "failed"
    );
    assert_eq!(common::task(&show, "named")["state"], "upstream_failed");
    // Fixed, it passes and the model is built.
    std::fs::write(
        p.path("proj/tests/fixtures/named_people.csv"),
        "id,name\n2,\n1,ADA\n",
    )
    .expect("write");
    let out = p.run_ok(&["run", "proj", "--home", ".sluice"]);
    assert!(text(&out).contains("succeeded in"), "{}", text(&out));
}

#[test]
fn unit_tests_are_checked_at_validation() {
    let err = validate_error(&[
        ("dbt_project.yml", PROJECT),
        ("seeds/people.csv", "id,name\n1,ada\n"),
        ("models/named.sql", "select * from {{ ref('people') }}"),
        (
            "models/inc.sql",
            "{{ config(materialized='incremental') }}\nselect * from {{ ref('people') }}",
        ),
        (
            "models/unit.yml",
            "version: 2\nunit_tests:\n  - name: a\n    model: nmaed\n    given: []\n    expect: {rows: []}\n  - name: b\n    model: named\n    given: []\n    expect: {rows: []}\n  - name: c\n    model: inc\n    given: [{input: ref('people'), rows: []}]\n    expect: {rows: []}\n  - name: d\n    model: named\n    given:\n      - input: ref('named')\n        rows: []\n    expect: {rows: []}\n",
        ),
    ]);
    for line in [
        "proj/models/unit.yml:4:12: error: unit test `a`: no model `nmaed` (did you mean `named`?)",
        "proj/models/unit.yml:7:11: error: unit test `b`: no rows given for ref('people'), read by model `named`: give every input (rows: [] for none)",
        "proj/models/unit.yml:11:11: error: unit test `c` of incremental model `inc` must say which run it tests: `overrides: {macros: {is_incremental: true}}` (or false)",
        "proj/models/unit.yml:18:16: error: unit test `d`: `ref('named')` is not an input of model `named`",
    ] {
        assert!(err.contains(line), "`{line}` not in:\n{err}");
    }
    // Rows as SQL, as dbt allows for some adapters: refused where written.
    let err = validate_error(&[
        ("dbt_project.yml", PROJECT),
        ("models/one.sql", "select 1 as id"),
        (
            "models/unit.yml",
            "unit_tests:\n  - name: d\n    model: one\n    given: []\n    expect:\n      format: sql\n      rows: select 1 as id\n",
        ),
    ]);
    assert!(
        err.contains("proj/models/unit.yml:6:15: error: unit test `d`: rows of format `sql` are not supported by sluice (dict or csv)"),
        "{err}"
    );
}

#[test]
fn a_pipeline_runs_a_dbt_project_as_its_own_tasks_between_others() {
    let p = Project::new(
        r#"
name: nightly
schedule: "0 3 * * *"
tasks:
  start: { run: "echo start" }
  shop:
    op: dbt
    project: shop
    vars: { payment_methods: [credit_card, coupon] }
    after: [start]
  report:
    op: sql
    sql: "select count(*) as customers, sum(customer_lifetime_value) as value from customers"
  done:
    run: "echo done"
    after: [shop]
"#,
    );
    copy_dir(&root().join("examples/dbt"), &p.path("shop"));
    let out = p.run_ok(&["run", "pipeline.yaml"]);
    // The project's 30 tasks, and the pipeline's own 3.
    assert!(text(&out).contains(": 33 succeeded"), "{}", text(&out));
    let show = p.show(&p.last_run_id());
    let tasks = show["tasks"].as_array().expect("tasks");
    let start = common::micros(&common::task(&show, "start")["ended_at"]);
    let done = common::micros(&common::task(&show, "done")["started_at"]);
    for t in tasks {
        let name = t["task"].as_str().unwrap_or_default();
        if ["start", "done", "report"].contains(&name) {
            continue;
        }
        // Every task of the project waits for `start`; `done` waits for all of them.
        assert!(common::micros(&t["started_at"]) >= start, "{t}");
        assert!(common::micros(&t["ended_at"]) <= done, "{t}");
    }
    // The vars given: two payment methods, so the orders mart has their two columns.
    let cols = p.run_ok(&[
        "sql",
        "select * from nightly.orders limit 1",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&cols.stdout).lines().next(),
        Some("order_id,customer_id,order_date,status,credit_card_amount,coupon_amount,amount")
    );
    let rows = p.run_ok(&[
        "sql",
        "select customers from nightly.report",
        "--format",
        "csv",
    ]);
    assert_eq!(String::from_utf8_lossy(&rows.stdout), "customers\n10\n");

    // Bad input: where it is written.
    std::fs::write(
        p.path("pipeline.yaml"),
        "name: nightly\ntasks:\n  a: { op: dbt, project: nowhere }\n  b: { op: dbt, projct: shop }\n  orders: { run: echo }\n  c: { op: dbt, project: shop }\n",
    )
    .expect("write");
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = text(&out);
    for line in [
        "pipeline.yaml:3:26: error: `tasks.a`: nowhere holds no dbt_project.yml",
        "pipeline.yaml:4:3: error: `tasks.b`: a dbt task needs `project:`, the folder holding dbt_project.yml",
        "pipeline.yaml:4:17: error: `tasks.b`: `projct` is not a key of a dbt task (did you mean `project`?)",
        "pipeline.yaml:6:3: error: `tasks.c`: the dbt project's `orders` has the name of another task of this pipeline: rename one",
    ] {
        assert!(err.contains(line), "`{line}` not in:\n{err}");
    }
}

#[test]
fn models_marked_for_postgres_are_loaded_into_it_by_key() {
    let Some(url) = common::pg_database("dbt models into PostgreSQL", "dbt") else {
        return;
    };
    let p = project(&[
        (
            "dbt_project.yml",
            &format!(
                "{PROJECT}models:\n  proj:\n    marts:\n      +materialized: table\n      +meta:\n        postgres: {{key: id, url: '{url}', schema: public}}\n"
            ),
        ),
        ("seeds/people.csv", "id,name\n1,ada\n2,bob\n"),
        (
            "models/marts/named.sql",
            "select id, upper(name) as name from {{ ref('people') }}",
        ),
        ("models/staging/kept_here.sql", "select 1 as id"),
    ]);
    let out = p.run_ok(&["run", "proj", "--home", ".sluice"]);
    assert!(text(&out).contains("named__postgres"), "{}", text(&out));
    assert!(
        !text(&out).contains("kept_here__postgres"),
        "{}",
        text(&out)
    );
    let rows = common::pg_query(
        &url,
        &["SELECT id::text, name FROM public.named ORDER BY id"],
    );
    assert_eq!(
        rows,
        vec![
            vec![Some("1".to_string()), Some("ADA".to_string())],
            vec![Some("2".to_string()), Some("BOB".to_string())]
        ]
    );
    // A row changed and one gone in the seed: the table follows, by key.
    std::fs::write(p.path("proj/seeds/people.csv"), "id,name\n1,eve\n").expect("seed");
    p.run_ok(&["run", "proj", "--home", ".sluice"]);
    let rows = common::pg_query(
        &url,
        &["SELECT id::text, name FROM public.named ORDER BY id"],
    );
    assert_eq!(
        rows,
        vec![vec![Some("1".to_string()), Some("EVE".to_string())]]
    );
    // A view cannot be loaded: refused where its meta is set.
    std::fs::write(
        p.path("proj/models/marts/schema.yml"),
        "version: 2\nmodels:\n  - name: named\n    config:\n      materialized: view\n",
    )
    .expect("write");
    let out = p.sluice(&["validate", "proj"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("model `named`: meta.postgres: only tables and incremental models are loaded into PostgreSQL (a view is a stored query)"),
        "{}",
        text(&out)
    );
}

#[test]
fn select_runs_a_model_what_depends_on_it_and_their_tests() {
    let p = Project::new("");
    copy_dir(&root().join("examples/dbt"), &p.path("shop"));
    p.run_ok(&[
        "run",
        "shop",
        "--home",
        ".sluice",
        "--select",
        "stg_orders+",
        "--exclude",
        "customers",
    ]);
    let show = p.show(&p.last_run_id());
    let mut ran: Vec<&str> = show["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["task"].as_str())
        .collect();
    ran.sort();
    // stg_orders, what reads it (customers left out), their tests and unit tests; then what
    // they wait for (the seeds, stg_payments).
    assert_eq!(
        ran,
        [
            "accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned",
            "assert_order_amounts_are_not_negative",
            "daily_revenue",
            "daily_revenue_leaves_out_returned_orders",
            "daily_revenue_recomputes_from_the_latest_day_it_has",
            "not_null_daily_revenue_order_date",
            "not_null_orders_amount",
            "not_null_orders_customer_id",
            "not_null_orders_order_id",
            "not_null_stg_orders_order_id",
            "orders",
            "raw_orders",
            "raw_payments",
            "stg_orders",
            "stg_payments",
            "unique_daily_revenue_order_date",
            "unique_orders_order_id",
            "unique_stg_orders_order_id",
        ]
    );
    let out = p.sluice(&["run", "shop", "--home", ".sluice", "--select", "tag:nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: `tag:nope` selects no task of shop"),
        "{}",
        text(&out)
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}

/// A repository with three pipelines: the dbt project `shop`, `reports` (triggered by
/// `shop.orders`, with a test case) and `other`.
fn repository() -> Project {
    let p = Project::new("");
    copy_dir(&root().join("examples/dbt"), &p.path("warehouse"));
    let files = [
        (
            "reports/pipeline.yaml",
            "name: reports\non_new_version: [shop.orders]\ntasks:\n  sales: { op: read.csv, path: data/sales.csv }\n  by_region:\n    op: sql\n    sql: select region, sum(amount) as amount from sales group by region\n",
        ),
        (
            "reports/data/sales.csv",
            "region,amount\nnorth,10\nsouth,5\nnorth,2.5\n",
        ),
        (
            "reports/tests/small.yaml",
            "expect:\n  by_region:\n    rows: 2\n    equals: expected/by_region.csv\n    checks:\n      - not_null: region\n      - expression: amount > 0\n",
        ),
        (
            "reports/tests/expected/by_region.csv",
            "region,amount\nnorth,12.5\nsouth,5\n",
        ),
        // A unit case: the query alone, on given rows.
        (
            "reports/tests/by_region_unit.yaml",
            "unit: by_region\ngiven:\n  sales:\n    - {region: north, amount: 1.5}\n    - {region: north, amount: 2}\n    - {region: east, amount: 4}\nexpect:\n  by_region:\n    rows: 2\n    equals: expected/by_region_unit.csv\n",
        ),
        (
            "reports/tests/expected/by_region_unit.csv",
            "region,amount\neast,4\nnorth,3.5\n",
        ),
        (
            "other/pipeline.yaml",
            "name: other\ntasks:\n  hello: { run: echo hello }\n",
        ),
    ];
    for (path, body) in files {
        let f = p.path(path);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, body).expect("write");
    }
    // The test folder's own pipeline.yaml is empty: not a pipeline, not in the repository.
    std::fs::remove_file(p.path("pipeline.yaml")).expect("rm");
    git(p.dir.path(), &["init", "-q", "."]);
    git(p.dir.path(), &["add", "-A"]);
    git(p.dir.path(), &["commit", "-qm", "init"]);
    p
}

#[test]
fn test_changed_since_selects_the_changed_model_s_pipeline_and_what_it_triggers() {
    let p = repository();
    let stdout = |args: &[&str]| String::from_utf8(p.run_ok(args).stdout).expect("utf-8");
    let listed = stdout(&["test", "--list"]);
    assert_eq!(
        listed
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["other", "reports", "shop"],
        "{listed}"
    );
    // One SQL file of the dbt project changes.
    append(
        &p.path("warehouse/models/marts/customers.sql"),
        "-- lifetime value in euros\n",
    );
    let listed = stdout(&["test", "--changed-since", "HEAD", "--list"]);
    // Only shop, and in it the model and its tests: reports waits for shop.orders, which
    // the change does not touch, and other has nothing to do with it.
    assert_eq!(
        listed,
        "shop\t./warehouse\tchanged: models/marts/customers.sql (customers, unique_customers_customer_id, not_null_customers_customer_id)\n"
    );
    git(p.dir.path(), &["checkout", "--", "."]);
    append(
        &p.path("warehouse/models/marts/orders.sql"),
        "-- one row per order\n",
    );
    let listed = stdout(&["test", "--changed-since", "HEAD", "--list"]);
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["shop", "reports"], "{listed}");
    assert!(
        listed.contains("reports\t./reports/pipeline.yaml\ttriggered by shop.orders"),
        "{listed}"
    );
    assert!(
        listed.contains("(customers, daily_revenue, orders, "),
        "{listed}"
    );
    // Asked from outside the repository: git is asked where the paths are.
    let elsewhere = tempfile::tempdir().expect("tmp");
    let out = p
        .cmd(&["test", "--changed-since", "HEAD", "--list"])
        .arg(p.dir.path())
        .current_dir(elsewhere.path())
        .output()
        .expect("sluice");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["shop", "reports"], "{}", text(&out));
}

#[test]
fn test_runs_pipeline_cases_and_dbt_tests_and_writes_junit() {
    let p = repository();
    let out = p.run_ok(&["test", "--junit", "junit.xml"]);
    let report = text(&out);
    assert!(report.contains("ok      reports › small"), "{report}");
    assert!(
        report.contains("ok      shop › unique_orders_order_id"),
        "{report}"
    );
    assert!(
        report.contains("ok      shop › daily_revenue_recomputes_from_the_latest_day_it_has"),
        "{report}"
    );
    assert!(
        report.contains("ok      reports › by_region_unit"),
        "{report}"
    );
    assert!(report.contains("22 tests: 22 passed, 0 failed"), "{report}");
    // A wrong expectation fails with the rows that differ, in the JUnit file too; a unit
    // case that does not give every input fails saying which.
    std::fs::write(
        p.path("reports/tests/no_rows.yaml"),
        "unit: by_region\ngiven: {}\nexpect:\n  by_region: {rows: 0}\n",
    )
    .expect("write");
    std::fs::write(
        p.path("reports/tests/expected/by_region.csv"),
        "region,amount\nnorth,12\nsouth,5\n",
    )
    .expect("write");
    let out = p.sluice(&["test", "reports", "--junit", "junit.xml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    assert!(report.contains("FAILED  reports › small"), "{report}");
    assert!(
        report.contains("ok      reports › by_region_unit"),
        "{report}"
    );
    assert!(
        report.contains("reports/tests/no_rows.yaml: no rows given for `sales`, which task `by_region` reads (a unit case reads no real data)"),
        "{report}"
    );
    assert!(report.contains("by_region: rows not expected (compared with reports/tests/expected/by_region.csv): 1 row"), "{report}");
    assert!(report.contains("| north  | 12.5   |"), "{report}");
    let xml = p.read("junit.xml");
    assert!(
        xml.contains("<testsuite name=\"reports\" tests=\"3\" failures=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"by_region: rows not expected"),
        "{xml}"
    );
}
