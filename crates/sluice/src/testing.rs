//! `sluice test`: the tests of the pipelines and dbt projects under some folders, or of those
//! a git change touches and what depends on them.
//!
//! - A pipeline's tests are the case files of `tests/` beside it (`tests/*.yaml` with
//!   `expect:`): each runs the pipeline in a fresh home with its `params`, then checks the
//!   datasets it names (`rows`, `equals` a CSV file, `checks`); a case with `unit: TASK`
//!   runs only that `sql` task's query, on the rows it gives for the tables it reads.
//! - A dbt project's tests are its data tests: the project runs in a fresh home on its seeds
//!   and each `test` task is a test case.
//!
//! `--changed-since REF` keeps the pipelines whose folder has files changed since REF (the
//! models whose files changed, and what reads them, for a dbt project), then the pipelines
//! that a selected one's datasets trigger (`on_new_version`), again and again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use sluice_core::{Pipeline, TaskState};
use sluice_engine::{Engine, RunOptions};
use tokio_util::sync::CancellationToken;

use crate::Failure;

/// Folders never searched for pipelines.
const SKIPPED: &[&str] = &["target", "node_modules", "logs", "dbt_packages", "tests"];

/// A pipeline file or dbt project found.
struct Unit {
    /// The file, or the dbt project's folder.
    path: PathBuf,
    pipeline: Pipeline,
    dbt: bool,
    /// Tasks to test (all when `None`).
    tasks: Option<Vec<String>>,
    /// Why it is selected.
    why: String,
}

/// One test case's outcome.
struct Case {
    suite: String,
    name: String,
    seconds: f64,
    failure: Option<String>,
}

/// `sluice test`.
pub async fn test(
    paths: &[PathBuf],
    changed_since: Option<&str>,
    list: bool,
    junit: Option<&Path>,
) -> Result<u8, Failure> {
    let registry = Arc::new(sluice_ops::registry());
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut units = Vec::new();
    let mut broken = Vec::new();
    for root in &roots {
        find(root, &registry, &mut units, &mut broken)?;
    }
    if let Some(reference) = changed_since {
        let others: Vec<&Path> = broken.iter().map(|(p, _)| p.as_path()).collect();
        units = changed(units, &others, reference, &roots)?;
    }
    if list {
        for u in &units {
            let what = match &u.tasks {
                Some(t) => format!(" ({})", t.join(", ")),
                None => String::new(),
            };
            println!("{}\t{}\t{}{what}", u.pipeline.name, u.path.display(), u.why);
        }
        for (path, e) in &broken {
            println!("{}\t{}\tinvalid: {e}", path.display(), path.display());
        }
        return Ok(0);
    }
    let mut cases: Vec<Case> = broken
        .into_iter()
        .map(|(path, e)| Case {
            suite: path.display().to_string(),
            name: "validate".into(),
            seconds: 0.0,
            failure: Some(e),
        })
        .collect();
    for u in &units {
        if u.dbt {
            cases.extend(dbt_cases(u, &registry).await?);
        } else {
            cases.extend(pipeline_cases(u, &registry).await?);
        }
    }
    let failed = cases.iter().filter(|c| c.failure.is_some()).count();
    for c in &cases {
        match &c.failure {
            None => println!("ok      {} › {} ({:.2}s)", c.suite, c.name, c.seconds),
            Some(f) => {
                println!("FAILED  {} › {} ({:.2}s)", c.suite, c.name, c.seconds);
                for line in f.lines() {
                    println!("        {line}");
                }
            }
        }
    }
    println!(
        "{} test{}: {} passed, {failed} failed",
        cases.len(),
        if cases.len() == 1 { "" } else { "s" },
        cases.len() - failed
    );
    if let Some(file) = junit {
        std::fs::write(file, junit_xml(&cases)).map_err(|e| {
            Failure::invalid(format!("error: cannot write {}: {e}", file.display()))
        })?;
    }
    Ok(if failed > 0 { crate::EXIT_FAILED } else { 0 })
}

/// Pipeline files (YAML with `tasks:`) and dbt projects under `root`.
fn find(
    root: &Path,
    registry: &sluice_op::Registry,
    units: &mut Vec<Unit>,
    broken: &mut Vec<(PathBuf, String)>,
) -> Result<(), Failure> {
    fn load(
        path: &Path,
        dbt: bool,
        registry: &sluice_op::Registry,
        units: &mut Vec<Unit>,
        broken: &mut Vec<(PathBuf, String)>,
    ) {
        match crate::commands::load(path, &[], registry) {
            Ok(pipeline) => units.push(Unit {
                path: path.to_path_buf(),
                pipeline,
                dbt,
                tasks: None,
                why: "all".into(),
            }),
            Err(e) => broken.push((path.to_path_buf(), e.to_string())),
        }
    }
    if root.is_file() {
        load(root, false, registry, units, broken);
        return Ok(());
    }
    if sluice_dbt::is_project(root) {
        load(root, true, registry, units, broken);
        return Ok(());
    }
    let entries = std::fs::read_dir(root)
        .map_err(|e| Failure::invalid(format!("error: cannot read {}: {e}", root.display())))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_str()) {
                find(&path, registry, units, broken)?;
            }
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && is_pipeline(&path) {
            load(&path, false, registry, units, broken);
        }
    }
    Ok(())
}

/// A YAML file whose top level has `tasks:` (other YAML files are not pipelines).
fn is_pipeline(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| sluice_core::yaml::parse(&t).ok())
        .and_then(|n| {
            n.as_map()
                .map(|m| m.iter().any(|(k, _)| k.as_text() == Some("tasks")))
        })
        .unwrap_or(false)
}

/// Files changed since `reference` (committed or not, and new files), absolute.
/// The files changed since `reference` (committed or not, new ones included) in the git
/// repositories holding `roots`, each asked in its own folder.
fn changed_files(reference: &str, roots: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut tops: BTreeSet<PathBuf> = BTreeSet::new();
    for root in roots {
        let dir = if root.is_dir() {
            root.as_path()
        } else {
            root.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        };
        tops.insert(PathBuf::from(
            git_in(dir, &["rev-parse", "--show-toplevel"])?.trim(),
        ));
    }
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for top in tops {
        for line in git_in(&top, &["diff", "--name-only", reference, "--"])?.lines() {
            files.insert(top.join(line));
        }
        for line in git_in(&top, &["ls-files", "--others", "--exclude-standard"])?.lines() {
            files.insert(top.join(line));
        }
    }
    Ok(files.into_iter().collect())
}

/// `git ARGS` run in `dir`: its output, or what git said.
fn git_in(dir: &Path, args: &[&str]) -> Result<String, Failure> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| Failure::invalid(format!("error: cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Failure::invalid(format!(
            "error: git {} (in {}): {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The units a change since `reference` touches, then those they trigger; `invalid` are the
/// pipeline files found that did not load.
fn changed(
    units: Vec<Unit>,
    invalid: &[&Path],
    reference: &str,
    roots: &[PathBuf],
) -> Result<Vec<Unit>, Failure> {
    let files = changed_files(reference, roots)?;
    // As git names them: links resolved.
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    // Every pipeline file found: a change to one is a change to it, not to its folder's others.
    let pipeline_files: BTreeSet<PathBuf> = units
        .iter()
        .filter(|u| !u.dbt)
        .map(|u| abs(&u.path))
        .chain(invalid.iter().map(|p| abs(p)))
        .collect();
    let mut chosen: Vec<Unit> = Vec::new();
    let mut rest: Vec<Unit> = Vec::new();
    for mut u in units {
        let folder = if u.dbt {
            abs(&u.path)
        } else {
            abs(u.path.parent().unwrap_or(Path::new(".")))
        };
        let file = abs(&u.path);
        let here: Vec<&PathBuf> = files
            .iter()
            .filter(|f| {
                f.strip_prefix(&folder).is_ok_and(|inside| {
                    !inside.components().any(|c| {
                        matches!(c.as_os_str().to_str(), Some(".sluice" | "target" | "logs"))
                    })
                })
                    // Another pipeline file is another pipeline.
                    && (u.dbt || **f == file || !pipeline_files.contains(*f))
            })
            .collect();
        if here.is_empty() {
            rest.push(u);
            continue;
        }
        let rel: Vec<PathBuf> = here
            .iter()
            .map(|f| f.strip_prefix(&folder).unwrap_or(f).to_path_buf())
            .collect();
        u.why = format!(
            "changed: {}",
            rel.iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if u.dbt {
            // Models whose files changed, and what reads them; anything else changes all.
            let mut selectors = Vec::new();
            let mut all = false;
            for r in &rel {
                match u
                    .pipeline
                    .tasks
                    .iter()
                    .find(|t| t.source.as_deref() == Some(r))
                {
                    Some(t) => selectors.push(format!("{}+", t.name)),
                    None => all = true,
                }
            }
            if !all {
                let tasks = sluice_core::select::select(&u.pipeline, &selectors, &[])
                    .map_err(|e| Failure::invalid(format!("error: {e}")))?;
                u.tasks = Some(tasks);
            }
        }
        chosen.push(u);
    }
    // Pipelines triggered by the datasets of chosen ones, until none is added.
    loop {
        let datasets: BTreeSet<String> = chosen
            .iter()
            .flat_map(|u| {
                u.pipeline
                    .tasks
                    .iter()
                    .filter(|t| u.tasks.as_ref().is_none_or(|s| s.contains(&t.name)))
                    .map(|t| format!("{}.{}", u.pipeline.name, t.name))
                    .collect::<Vec<_>>()
            })
            .collect();
        let (triggered, others): (Vec<Unit>, Vec<Unit>) = rest.into_iter().partition(|u| {
            u.pipeline
                .on_new_version
                .iter()
                .any(|d| datasets.contains(d))
        });
        rest = others;
        if triggered.is_empty() {
            break;
        }
        for mut u in triggered {
            let by: Vec<&String> = u
                .pipeline
                .on_new_version
                .iter()
                .filter(|d| datasets.contains(*d))
                .collect();
            u.why = format!(
                "triggered by {}",
                by.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
            chosen.push(u);
        }
    }
    Ok(chosen)
}

fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// A test case file: `tests/NAME.yaml` beside a pipeline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// The pipeline file, relative to the case file (default: the only pipeline of the
    /// folder above).
    #[serde(default)]
    pipeline: Option<PathBuf>,
    /// Parameters, as `--param` gives them.
    #[serde(default)]
    params: BTreeMap<String, serde_json::Value>,
    /// A unit case: only this `sql` task runs, on the rows `given` for the tables it reads.
    #[serde(default)]
    unit: Option<String>,
    /// A unit case's input tables: rows, or a CSV file (relative to the case file).
    #[serde(default)]
    given: BTreeMap<String, Given>,
    /// What each dataset must hold, by task.
    expect: BTreeMap<String, Expect>,
}

/// The rows standing in for a table in a unit case.
#[derive(Debug)]
enum Given {
    /// A CSV file with a header (types inferred).
    File(PathBuf),
    /// Rows: maps of column → value (types told by the values).
    Rows(Vec<sluice_data::compare::Row>),
}

impl<'de> Deserialize<'de> for Given {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Given, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Given;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a CSV file, or a list of rows (maps of column → value)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Given, E> {
                Ok(Given::File(PathBuf::from(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Given, A::Error> {
                let mut rows = Vec::new();
                while let Some(row) = s.next_element()? {
                    rows.push(row);
                }
                Ok(Given::Rows(rows))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// What a dataset must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// Its number of rows.
    #[serde(default)]
    rows: Option<u64>,
    /// Its rows, in any order: a CSV file with a header, relative to the case file. Only
    /// the file's columns are compared, as the dataset's types.
    #[serde(default)]
    equals: Option<PathBuf>,
    /// Checks, as a task's `checks:` (`not_null`, `unique`, `expression`, …).
    #[serde(default)]
    checks: Vec<sluice_core::Check>,
}

/// The cases of `tests/*.yaml` beside a pipeline file, each run.
async fn pipeline_cases(
    u: &Unit,
    registry: &Arc<sluice_op::Registry>,
) -> Result<Vec<Case>, Failure> {
    let folder = u.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder.join("tests")) else {
        return Ok(out);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_yaml(p))
        .collect();
    files.sort();
    for file in files {
        let start = Instant::now();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = read_case(&file);
        let case = match parsed {
            Err(e) => Some(Err(e)),
            Ok(c) => {
                let target = c
                    .pipeline
                    .as_ref()
                    .map(|p| file.parent().unwrap_or(Path::new(".")).join(p));
                let mine = match &target {
                    Some(t) => same_file(t, &u.path),
                    None => true,
                };
                mine.then_some(Ok(c))
            }
        };
        let Some(case) = case else { continue };
        let failure = match case {
            Err(e) => Some(e),
            Ok(c) => run_case(u, &file, &c, registry).await.err(),
        };
        out.push(Case {
            suite: u.pipeline.name.clone(),
            name,
            seconds: start.elapsed().as_secs_f64(),
            failure,
        });
    }
    Ok(out)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn read_case(file: &Path) -> Result<CaseFile, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let node = sluice_core::yaml::parse(&text)
        .map_err(|e| format!("{}:{}: invalid YAML: {}", file.display(), e.mark, e.message))?;
    sluice_core::from_node(&node).map_err(|e| {
        let mark = e.mark.unwrap_or(node.mark);
        format!("{}:{mark}: {e}", file.display())
    })
}

/// Runs `u`'s pipeline with the case's parameters in a fresh home; checks what it expects.
async fn run_case(
    u: &Unit,
    file: &Path,
    case: &CaseFile,
    registry: &Arc<sluice_op::Registry>,
) -> Result<(), String> {
    let params: Vec<(String, String)> = case
        .params
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), String::from),
            )
        })
        .collect();
    let pipeline = crate::commands::load(&u.path, &params, registry).map_err(|e| e.to_string())?;
    if let Some(unit) = &case.unit {
        return run_unit_case(&pipeline, file, case, unit).await;
    }
    if !case.given.is_empty() {
        return Err(format!(
            "{}: `given` is for a unit case: name its task with `unit:`",
            file.display()
        ));
    }
    for task in case.expect.keys() {
        if pipeline.task_index(task).is_none() {
            return Err(format!(
                "{}: `expect` names task `{task}`, which {} does not have",
                file.display(),
                pipeline.name
            ));
        }
    }
    let (home, store) = fresh_home().await?;
    let summary = Engine::new(store.clone(), registry.clone(), home.path())
        .run(
            &pipeline,
            RunOptions::default(),
            None,
            CancellationToken::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let failed: Vec<&String> = summary
        .tasks
        .iter()
        .filter(|t| matches!(t.1, TaskState::Failed | TaskState::UpstreamFailed))
        .map(|t| &t.0)
        .collect();
    if !failed.is_empty() {
        let mut message = String::from("the run failed:");
        for task in failed {
            let error = last_error(&store, &summary.run_id, task).await;
            message.push_str(&format!("\n{task}: {error}"));
        }
        return Err(message);
    }
    let latest = store
        .latest_datasets(Some(&pipeline.name))
        .await
        .map_err(|e| e.to_string())?;
    for (task, expect) in &case.expect {
        let Some(d) = latest.iter().find(|d| &d.task == task) else {
            return Err(format!("task `{task}` wrote no dataset"));
        };
        check_dataset(Path::new(&d.path), expect, file)
            .await
            .map_err(|e| format!("{task}: {e}"))?;
    }
    Ok(())
}

/// A unit case: the query of `sql` task `unit` on the rows given for every table it reads,
/// its result checked as `expect` says of that task.
async fn run_unit_case(
    pipeline: &Pipeline,
    file: &Path,
    case: &CaseFile,
    unit: &str,
) -> Result<(), String> {
    use sluice_data::datafusion::prelude::CsvReadOptions;
    let at = file.display();
    let Some(task) = pipeline.tasks.iter().find(|t| t.name == unit) else {
        return Err(format!(
            "{at}: `unit` names task `{unit}`, which {} does not have",
            pipeline.name
        ));
    };
    let sql = match &task.kind {
        sluice_core::pipeline::TaskKind::Op { op, config } if op == "sql" => config
            .get("sql")
            .and_then(sluice_core::Node::as_text)
            .unwrap_or_default()
            .to_string(),
        _ => {
            return Err(format!(
                "{at}: task `{unit}` is not a `sql` task: a unit case runs one query"
            ));
        }
    };
    if let Some(other) = case.expect.keys().find(|t| *t != unit) {
        return Err(format!(
            "{at}: a unit case checks its task only: `expect` names `{other}`, not `{unit}`"
        ));
    }
    let Some(expect) = case.expect.get(unit) else {
        return Err(format!("{at}: `expect` must say what `{unit}` returns"));
    };
    let ctx = sluice_data::session::session();
    let fail = |e: sluice_data::datafusion::error::DataFusionError| e.strip_backtrace();
    for (table, given) in &case.given {
        match given {
            Given::Rows(rows) => {
                let rows: Vec<_> = rows.iter().map(|r| r.0.clone()).collect();
                sluice_data::compare::register_typed_rows(&ctx, table, &rows)
                    .await
                    .map_err(|e| format!("{at}: given `{table}`: {e}"))?;
            }
            Given::File(path) => {
                let path = file.parent().unwrap_or(Path::new(".")).join(path);
                ctx.register_csv(
                    table,
                    path.to_string_lossy().as_ref(),
                    CsvReadOptions::new(),
                )
                .await
                .map_err(|e| format!("{}: {}", path.display(), fail(e)))?;
            }
        }
    }
    let reads = sluice_data::session::table_references(&sql).unwrap_or_default();
    if let Some(missing) = reads.iter().find(|t| !case.given.contains_key(*t)) {
        return Err(format!(
            "{at}: no rows given for `{missing}`, which task `{unit}` reads (a unit case reads no real data)"
        ));
    }
    let df = ctx
        .sql(&sql)
        .await
        .map_err(|e| format!("{unit}: {}", fail(e)))?;
    let out = tempfile::tempdir().map_err(|e| format!("cannot make a folder: {e}"))?;
    df.write_parquet(
        &out.path().join("part-00000.parquet").to_string_lossy(),
        sluice_data::datafusion::dataframe::DataFrameWriteOptions::new()
            .with_single_file_output(true),
        None,
    )
    .await
    .map_err(|e| format!("{unit}: {}", fail(e)))?;
    check_dataset(out.path(), expect, file)
        .await
        .map_err(|e| format!("{unit}: {e}"))
}

async fn fresh_home() -> Result<(tempfile::TempDir, Arc<dyn sluice_store::StateStore>), String> {
    let home = tempfile::tempdir().map_err(|e| format!("cannot make a home: {e}"))?;
    let store = crate::home::open_store(&None, home.path())
        .await
        .map_err(|f| f.message)?;
    Ok((home, store))
}

/// The expectations of one dataset.
async fn check_dataset(dir: &Path, expect: &Expect, file: &Path) -> Result<(), String> {
    use sluice_data::session::{register_dataset, session};
    let ctx = session();
    register_dataset(&ctx, "data", dir)
        .await
        .map_err(|e| e.to_string())?;
    let fail = |e: sluice_data::datafusion::error::DataFusionError| e.strip_backtrace();
    if let Some(want) = expect.rows {
        let got = ctx
            .table("data")
            .await
            .map_err(fail)?
            .count()
            .await
            .map_err(fail)?;
        if got as u64 != want {
            return Err(format!("{got} rows, not {want}"));
        }
    }
    if let Some(expected) = &expect.equals {
        let path = file.parent().unwrap_or(Path::new(".")).join(expected);
        let options = sluice_data::datafusion::prelude::CsvReadOptions::new()
            .has_header(true)
            .schema_infer_max_records(0);
        ctx.register_csv("expected", path.to_string_lossy().as_ref(), options)
            .await
            .map_err(|e| format!("{}: {}", path.display(), fail(e)))?;
        let differs = sluice_data::compare::compare_with_text(&ctx, "data", "expected", true)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some((label, rows)) = differs.first() {
            return Err(format!(
                "{label} (compared with {}): {rows}",
                path.display()
            ));
        }
    }
    if !expect.checks.is_empty() {
        let queries: Vec<sluice_data::checks::CheckQuery> = expect
            .checks
            .iter()
            .flat_map(sluice_core::Check::queries)
            .map(|(name, sql)| sluice_data::checks::CheckQuery { name, sql })
            .collect();
        sluice_data::checks::run_checks(dir, &queries)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A dbt project's data tests: the chosen tasks run in a fresh home; each test task is a case.
async fn dbt_cases(u: &Unit, registry: &Arc<sluice_op::Registry>) -> Result<Vec<Case>, Failure> {
    let start = Instant::now();
    let fail_all = |message: String| {
        vec![Case {
            suite: u.pipeline.name.clone(),
            name: "run".into(),
            seconds: start.elapsed().as_secs_f64(),
            failure: Some(message),
        }]
    };
    let (home, store) = match fresh_home().await {
        Ok(h) => h,
        Err(e) => return Ok(fail_all(e)),
    };
    let opts = RunOptions {
        tasks: u.tasks.clone().unwrap_or_default(),
        trigger: "test".into(),
        ..RunOptions::default()
    };
    let summary = match Engine::new(store.clone(), registry.clone(), home.path())
        .run(&u.pipeline, opts, None, CancellationToken::new())
        .await
    {
        Ok(s) => s,
        Err(e) => return Ok(fail_all(e.to_string())),
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut out = Vec::new();
    for (name, state, _) in &summary.tasks {
        let Some(task) = u.pipeline.tasks.iter().find(|t| &t.name == name) else {
            continue;
        };
        let is_test = matches!(task.op(), Some("test" | "unit_test"));
        let failure = match state {
            TaskState::Succeeded | TaskState::Cached if is_test => None,
            TaskState::Succeeded | TaskState::Cached => continue,
            _ => Some(format!(
                "{state}: {}",
                last_error(&store, &summary.run_id, name).await
            )),
        };
        out.push(Case {
            suite: u.pipeline.name.clone(),
            name: name.clone(),
            seconds: if is_test { 0.0 } else { seconds },
            failure,
        });
    }
    Ok(out)
}

/// The error of a task's last attempt in a run.
async fn last_error(store: &Arc<dyn sluice_store::StateStore>, run_id: &str, task: &str) -> String {
    store
        .attempts(run_id, Some(task))
        .await
        .ok()
        .and_then(|a| a.into_iter().last())
        .and_then(|a| a.error)
        .unwrap_or_else(|| "an upstream task failed".into())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The cases as JUnit XML, one suite per pipeline.
fn junit_xml(cases: &[Case]) -> String {
    let mut suites: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for c in cases {
        suites.entry(&c.suite).or_default().push(c);
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (suite, cs) in suites {
        let failures = cs.iter().filter(|c| c.failure.is_some()).count();
        let time: f64 = cs.iter().map(|c| c.seconds).sum();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n",
            escape(suite),
            cs.len()
        ));
        for c in cs {
            xml.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(suite),
                escape(&c.name),
                c.seconds
            ));
            match &c.failure {
                None => xml.push_str("/>\n"),
                Some(f) => {
                    let first = f.lines().next().unwrap_or_default();
                    xml.push_str(&format!(
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                        escape(first),
                        escape(f)
                    ));
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}
