//! One function per command.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use sluice_core::{LoadError, Pipeline, RunState, TaskState, dag};
use sluice_engine::{Engine, EngineError, RunOptions};
use sluice_op::Registry;
use sluice_store::{RunFilter, StateStore};
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, GraphFormat};
use crate::table::{human, span, table, timestamp};
use crate::{EXIT_CANCELLED, EXIT_FAILED, Failure, home, live};

/// Runs the command; returns the exit code.
pub async fn dispatch(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Validate { ref files, json } => validate(files, json),
        Command::New {
            what:
                crate::cli::NewAction::Pipeline {
                    ref name,
                    template,
                    ref dir,
                },
        } => crate::scaffold::new_pipeline(name, template, dir.as_deref()).await,
        Command::Test {
            ref paths,
            ref changed_since,
            list,
            ref junit,
        } => crate::testing::test(paths, changed_since.as_deref(), list, junit.as_deref()).await,
        Command::Run {
            ref file,
            ref params,
            ref tasks,
            ref select,
            ref exclude,
            ref resume,
            force,
            ref force_tasks,
            stream,
            json,
            no_wait,
            executor,
        } => {
            let opts = RunOptions {
                tasks: tasks.clone(),
                force,
                force_tasks: force_tasks.clone(),
                resume: resume.clone(),
                stream_logs: stream,
                trigger: "cli".into(),
                run_id: None,
                max_active: None,
                nominal_time: None,
            };
            let selection = Selection { select, exclude };
            let how = How {
                json,
                wait: !no_wait,
                executor,
            };
            run(&cli, file, params, opts, &selection, how).await
        }
        Command::Backfill {
            ref file,
            ref from,
            ref to,
            ref params,
            executor,
        } => backfill(&cli, file, from, to, params, executor).await,
        Command::Runs {
            ref pipeline,
            limit,
            json,
        } => runs(&cli, pipeline.clone(), limit, json).await,
        Command::Show { ref run_id, json } => show(&cli, run_id, json).await,
        Command::Logs {
            ref run_id,
            ref task,
            attempt,
        } => logs(&cli, run_id, task, attempt).await,
        Command::Graph { ref file, format } => graph(file, format),
        Command::Ops { json } => ops(json),
        Command::Gc {
            older_than,
            dry_run,
            json,
        } => crate::housekeeping::gc(&cli, older_than, dry_run, json).await,
        Command::Backup {
            ref output,
            without_caches,
        } => crate::housekeeping::backup(&cli, output, without_caches).await,
        Command::Restore {
            ref archive,
            replace,
        } => crate::housekeeping::restore(&cli, archive, replace).await,
        Command::Embed(args) => crate::embed::embed(args).await,
        Command::Sql {
            ref query,
            ref file,
            format,
            ref output,
            ref params,
        } => {
            let text = sql_text(query.as_deref(), file.as_deref())?;
            let (store, home) = read_store(&cli).await?;
            let cache = cache_of(home.as_deref())?;
            crate::data::sql(
                store,
                cache.as_ref(),
                &text,
                params,
                format,
                output.as_deref(),
            )
            .await
        }
        Command::Link {
            action:
                crate::cli::LinkAction::Explain {
                    ref dataset,
                    ref left,
                    ref right,
                    json,
                },
        } => {
            let (store, _) = read_store(&cli).await?;
            crate::link::explain_pair(store, dataset, left, right, json).await
        }
        Command::Datasets { ref pipeline, json } => {
            let (store, _) = read_store(&cli).await?;
            crate::data::datasets(store, pipeline.as_deref(), json).await
        }
        Command::Search(ref args) => {
            let (store, _) = read_store(&cli).await?;
            crate::search::run(store, args.clone()).await
        }
        Command::Serve {
            ref pipelines,
            bind,
            secure_cookies,
            executor,
        } => crate::serve::serve(&cli, pipelines, bind, secure_cookies, executor).await,
        Command::Worker {
            ref labels,
            slots,
            lease,
            poll,
            drain_timeout,
        } => {
            let options = sluice_engine::workers::WorkerOptions {
                labels: labels.clone(),
                slots: slots.unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get() as u32)
                        .unwrap_or(1)
                }),
                timing: sluice_engine::workers::Timing {
                    lease,
                    poll: poll.unwrap_or_default(),
                },
                drain_timeout,
                key: home::queue_key()?,
                home: cli
                    .home
                    .as_deref()
                    .map(std::path::absolute)
                    .transpose()
                    .map_err(|e| Failure::env(format!("error: --home: {e}")))?,
                remote: home::remote_warehouse()?,
            };
            crate::workers::worker(&cli, options, poll.is_some()).await
        }
        Command::Workers {
            ref action,
            all,
            json,
        } => crate::workers::workers(&cli, action.as_ref(), all, json).await,
        Command::Metadata { ref action } => metadata(&cli, action).await,
        Command::Lineage {
            ref target,
            upstream,
            downstream,
            depth,
            format,
            list,
        } => {
            let (store, _) = read_store(&cli).await?;
            let catalog = sluice_lineage::catalog::Catalog::load(store.as_ref(), None)
                .await
                .map_err(|e| Failure::env(format!("error: {e}")))?;
            let graph = sluice_lineage::graph::Graph::of(&catalog);
            if list {
                for (dataset, columns) in graph.datasets() {
                    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
                    println!("{dataset}  {}", columns.join(", "));
                }
                return Ok(0);
            }
            let target = target.as_deref().unwrap_or_default();
            let (dataset, column) = graph
                .resolve(target)
                .map_err(|e| Failure::invalid(format!("error: {e}")))?;
            let directions: &[bool] = match (upstream, downstream) {
                (true, _) => &[true],
                (_, true) => &[false],
                _ => &[true, false],
            };
            let start = column
                .as_ref()
                .map_or(dataset.clone(), |c| format!("{dataset}.{c}"));
            let walks: Vec<(bool, Vec<sluice_lineage::graph::Step>)> = directions
                .iter()
                .map(|&up| (up, graph.walk(&dataset, column.as_deref(), up, depth)))
                .collect();
            match format {
                crate::cli::LineageFormat::Text => {
                    let parts: Vec<String> = walks
                        .iter()
                        .map(|(up, steps)| sluice_lineage::graph::text(&start, *up, steps))
                        .collect();
                    print!("{}", parts.join("\n"));
                }
                crate::cli::LineageFormat::Dot => {
                    print!("{}", sluice_lineage::graph::dot(&start, &walks));
                }
                crate::cli::LineageFormat::Json => {
                    let mut out = json!({"dataset": dataset, "column": column});
                    for (up, steps) in &walks {
                        out[if *up { "upstream" } else { "downstream" }] = json!(steps);
                    }
                    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                }
            }
            Ok(0)
        }
        Command::User { ref action } => crate::serve::user(&cli, action).await,
        Command::Token { ref action } => crate::serve::token(&cli, action).await,
        Command::Head { ref dataset, rows } => head(&cli, dataset, rows).await,
        Command::Models { ref action, json } => {
            let (store, _) = read_store(&cli).await?;
            crate::models::models(store, action, json).await
        }
    }
}

/// `sluice metadata …`.
async fn metadata(cli: &Cli, action: &crate::cli::MetadataAction) -> Result<u8, Failure> {
    use crate::cli::MetadataAction;
    match action {
        MetadataAction::Flush { timeout } => metadata_flush(cli, *timeout).await,
        MetadataAction::Export {
            format,
            pipeline,
            datahub_url,
            file,
        } => {
            metadata_export(
                cli,
                *format,
                pipeline.as_deref(),
                destination(datahub_url.as_deref(), file.as_deref())?,
            )
            .await
        }
        MetadataAction::Pull {
            source: crate::cli::PullSource::Mlflow,
            tracking_uri,
            experiment_pattern,
            deny_experiment,
            to,
            datahub_url,
            file,
        } => {
            let (datahub_url, file) = match to {
                crate::cli::PullTarget::DatahubFile if file.is_none() => {
                    return Err(Failure::invalid("error: --to datahub-file needs a FILE"));
                }
                crate::cli::PullTarget::DatahubRest if datahub_url.is_none() => {
                    return Err(Failure::invalid(
                        "error: --to datahub-rest needs --datahub-url",
                    ));
                }
                crate::cli::PullTarget::DatahubFile => (None, file.as_deref()),
                crate::cli::PullTarget::DatahubRest => (datahub_url.as_deref(), None),
            };
            let mut pattern = sluice_ops::builtin::metadata::Pattern::default();
            if !experiment_pattern.is_empty() {
                pattern.allow = experiment_pattern.clone();
            }
            if !deny_experiment.is_empty() {
                pattern.deny = deny_experiment.clone();
            }
            let pulled = sluice_ops::builtin::metadata::pull_mlflow(tracking_uri, &pattern)
                .await
                .map_err(|e| Failure::env(format!("error: {}", e.message)))?;
            destination(datahub_url, file)?
                .send(&pulled.mcps)
                .await
                .map_err(|e| Failure::env(format!("error: {e}")))?;
            println!("{}", pulled.summary(tracking_uri));
            Ok(0)
        }
    }
}

/// Where DataHub proposals go: the GMS of `--datahub-url` (token in DATAHUB_GMS_TOKEN), or
/// the file.
fn destination<'a>(
    datahub_url: Option<&'a str>,
    file: Option<&'a Path>,
) -> Result<sluice_datahub::Destination<'a>, Failure> {
    match (datahub_url, file) {
        (Some(url), _) => Ok(sluice_datahub::Destination::Rest {
            url,
            token_env: sluice_datahub::TOKEN_ENV,
        }),
        (None, Some(path)) => Ok(sluice_datahub::Destination::File(path)),
        (None, None) => Err(Failure::invalid(
            "error: give a FILE to write, or --datahub-url to send to DataHub",
        )),
    }
}

/// `sluice metadata flush`: the OpenLineage events waiting for the home's collectors.
async fn metadata_flush(cli: &Cli, timeout: std::time::Duration) -> Result<u8, Failure> {
    let home = home::discover(&cli.home)?;
    let urls: Vec<(String, Option<String>, std::time::Duration)> = home::lineage_config(&home)?
        .into_iter()
        .flat_map(|c| c.transports)
        .filter_map(|t| match t {
            sluice_lineage::Transport::Http {
                url,
                api_key,
                timeout,
            } => Some((url, api_key, timeout)),
            _ => None,
        })
        .collect();
    if urls.is_empty() {
        return Err(Failure::invalid(format!(
            "error: no OpenLineage collector is configured for {} (set OPENLINEAGE_URL or write {}): nothing to send",
            home.display(),
            home.join(sluice_lineage::config::FILE).display()
        )));
    }
    let mut left = 0;
    for (url, api_key, request_timeout) in urls {
        let spool = sluice_lineage::spool::Spool::new(sluice_lineage::spool_dir(&home, &url));
        let d = sluice_lineage::Deliverer::start(spool, &url, api_key, request_timeout)
            .map_err(|e| Failure::env(format!("error: lineage: {e}")))?;
        let done = tokio::task::spawn_blocking(move || d.finish(timeout))
            .await
            .map_err(|e| Failure::env(format!("error: lineage: {e}")))?;
        println!(
            "{}: {} sent, {} refused, {} waiting",
            done.url, done.sent, done.refused, done.left
        );
        left += done.left;
    }
    Ok(if left > 0 { EXIT_FAILED } else { 0 })
}

/// `sluice metadata export`.
async fn metadata_export(
    cli: &Cli,
    format: crate::cli::MetadataFormat,
    pipeline: Option<&str>,
    to: sluice_datahub::Destination<'_>,
) -> Result<u8, Failure> {
    let (store, home) = read_store(cli).await?;
    let home = home.unwrap_or_else(|| PathBuf::from(home::HOME_DIR));
    let catalog = sluice_lineage::catalog::Catalog::load(store.as_ref(), pipeline)
        .await
        .map_err(|e| Failure::env(format!("error: {e}")))?;
    if catalog.tasks.is_empty() {
        return Err(Failure::invalid(format!(
            "error: nothing to export: no task{} has succeeded in {} yet",
            pipeline
                .map(|p| format!(" of pipeline `{p}`"))
                .unwrap_or_default(),
            home.display()
        )));
    }
    let tasks = catalog.tasks.len();
    match format {
        crate::cli::MetadataFormat::Datahub => {
            let mcps = sluice_lineage::datahub::mcps(&catalog);
            let sent = to
                .send(&mcps)
                .await
                .map_err(|e| Failure::env(format!("error: {e}")))?;
            println!(
                "{} metadata change proposals for {tasks} tasks {sent}",
                mcps.len()
            );
        }
        crate::cli::MetadataFormat::Openlineage => {
            let sluice_datahub::Destination::File(path) = to else {
                return Err(Failure::invalid(
                    "error: --datahub-url goes with --format datahub; give a FILE for OpenLineage events",
                ));
            };
            let namespace =
                std::env::var("OPENLINEAGE_NAMESPACE").unwrap_or_else(|_| "sluice".into());
            let lines = sluice_lineage::openlineage_export(&catalog, &home, &namespace);
            let mut text = lines.join("\n");
            text.push('\n');
            std::fs::write(path, text).map_err(|e| {
                Failure::env(format!("error: cannot write {}: {e}", path.display()))
            })?;
            println!(
                "{} OpenLineage events for {tasks} tasks written to {}",
                lines.len(),
                path.display()
            );
        }
    }
    Ok(0)
}

/// The query of `sluice sql`: given, or read from `--file`.
fn sql_text(query: Option<&str>, file: Option<&std::path::Path>) -> Result<String, Failure> {
    match (query, file) {
        (Some(q), _) => Ok(q.to_string()),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| Failure::invalid(format!("error: cannot read {}: {e}", f.display()))),
        (None, None) => Err(Failure::invalid("error: give a query or --file FILE")),
    }
}

/// `sluice head DATASET`: its first rows. The name becomes part of a query only once it is
/// known to be `pipeline.task`, two names of `[a-z][a-z0-9_]*`.
async fn head(cli: &Cli, dataset: &str, rows: usize) -> Result<u8, Failure> {
    let name = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match dataset.split_once('.') {
        Some((p, t)) if name(p) && name(t) => {}
        _ => {
            return Err(Failure::invalid(format!(
                "error: name the dataset as `pipeline.task` (see `sluice datasets`), not `{dataset}`"
            )));
        }
    }
    let (store, home) = read_store(cli).await?;
    let cache = cache_of(home.as_deref())?;
    let query = format!("SELECT * FROM {dataset} LIMIT {rows}");
    crate::data::sql(
        store,
        cache.as_ref(),
        &query,
        &[],
        crate::cli::OutputFormat::Table,
        None,
    )
    .await
}

/// Loads a pipeline file (its `op: dbt` tasks made the tasks of their projects), or a dbt
/// project (its folder or its `dbt_project.yml`), whose `vars` the `params` set.
pub(crate) fn load(
    file: &Path,
    params: &[(String, String)],
    registry: &Registry,
) -> Result<Pipeline, LoadError> {
    let opts = sluice_core::LoadOptions {
        params,
        catalog: registry,
        env: &|name| std::env::var(name).ok(),
        api_params: false,
    };
    sluice_dbt::load_file(file, &opts)
}

fn load_or_fail(
    file: &Path,
    params: &[(String, String)],
    registry: &Registry,
) -> Result<Pipeline, Failure> {
    load(file, params, registry).map_err(|e| match e {
        LoadError::Io { .. } => Failure::invalid(format!("error: {e}")),
        LoadError::Invalid(d) => {
            let n = d.items.len();
            Failure::invalid(format!(
                "{d}\n{}: {n} error{} found; nothing was run",
                file.display(),
                if n == 1 { "" } else { "s" }
            ))
        }
    })
}

fn validate(files: &[PathBuf], as_json: bool) -> Result<u8, Failure> {
    let registry = sluice_ops::registry();
    let mut invalid = 0;
    let mut out = Vec::new();
    for file in files {
        match load(file, &[], &registry) {
            Ok(p) => {
                if as_json {
                    out.push(json!({"file": file, "valid": true, "pipeline": p.name, "tasks": p.tasks.len(), "errors": []}));
                } else {
                    println!(
                        "ok: {} (pipeline `{}`, {} tasks)",
                        file.display(),
                        p.name,
                        p.tasks.len()
                    );
                }
            }
            Err(LoadError::Io { path, source }) => {
                invalid += 1;
                let message = format!("cannot read pipeline file {}: {source}", path.display());
                if as_json {
                    out.push(
                        json!({"file": file, "valid": false, "errors": [{"message": message}]}),
                    );
                } else {
                    eprintln!("error: {message}");
                }
            }
            Err(LoadError::Invalid(d)) => {
                invalid += 1;
                if as_json {
                    let errors: Vec<_> = d
                        .items
                        .iter()
                        .map(|e| json!({"line": e.mark.line, "column": e.mark.col, "key": e.key, "message": e.message, "hint": e.hint}))
                        .collect();
                    out.push(json!({"file": file, "valid": false, "errors": errors}));
                } else {
                    eprintln!("{d}");
                    let n = d.items.len();
                    eprintln!(
                        "{}: {n} error{}",
                        file.display(),
                        if n == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(if invalid > 0 { crate::EXIT_INVALID } else { 0 })
}

fn engine_failure(e: EngineError) -> Failure {
    match e {
        // A write the store refused stopped the run: exit 3, not 1, since no task is at fault.
        EngineError::Store(_) | EngineError::StoreRefused { .. } | EngineError::Logs { .. } => {
            Failure::env(format!("error: {e}"))
        }
        _ => Failure::invalid(format!("error: {e}")),
    }
}

/// `sluice backfill`: claims every slot of the range, then runs the claimed ones here, oldest
/// first, one at a time.
async fn backfill(
    cli: &Cli,
    file: &Path,
    from: &str,
    to: &str,
    params: &[(String, String)],
    executor: crate::cli::Executor,
) -> Result<u8, Failure> {
    use sluice_engine::schedule::{Schedule, Scheduler};
    let registry = Arc::new(sluice_ops::registry());
    let pipeline = load_or_fail(file, params, &registry)?;
    let schedule = Schedule::of(&pipeline)
        .map_err(|e| Failure::invalid(format!("error: {e}")))?
        .ok_or_else(|| {
            Failure::invalid(format!(
                "error: pipeline `{}` has no schedule: a backfill runs the slots of a schedule",
                pipeline.name
            ))
        })?;
    let (start, end, slots) = schedule
        .backfill_range(from, to, ("--from", "--to"))
        .map_err(|e| Failure::invalid(format!("error: {e}")))?;
    let home = home::for_file(&cli.home, file);
    let _lock = home::lock_pipeline(&home, &pipeline.name, true).await?;
    let sql = home::open_sql_store(&cli.state, &home).await?;
    let store: Arc<dyn StateStore> = sql.clone();
    let claimed = Scheduler::new(store.clone())
        .backfill(&pipeline, &schedule, start, end, sluice_store::now_micros())
        .await
        .map_err(|e| Failure::env(format!("error: {e}")))?;
    eprintln!(
        "backfill of {}: {slots} slots from {from} to {to}, {} to run ({} claimed before)",
        pipeline.name,
        claimed.len(),
        slots - claimed.len()
    );
    let lineage = home::lineage(&home, &store)?;
    let alerts = home::alerts();
    let mut engine =
        home::with_executor(Engine::new(store, registry.clone(), &home), executor, &sql)?;
    // Only pipelines with alerts pay for the observations.
    if sluice_lineage::alerts::has_alerts(&pipeline) {
        engine = engine.with_observer(alerts.clone());
    }
    if let Some(l) = &lineage {
        engine = engine.with_observer(l.clone());
    }
    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone());
    let mut failed = 0usize;
    for due in claimed {
        if stop.is_cancelled() {
            break;
        }
        let mut all = params.to_vec();
        all.extend(schedule.slot_params(&pipeline, due.slot));
        let slot_pipeline = load_or_fail(file, &all, &registry)?;
        let opts = RunOptions {
            trigger: "backfill".into(),
            run_id: Some(due.run_id.clone()),
            nominal_time: Some(due.slot),
            ..RunOptions::default()
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let view = tokio::spawn(live::show(rx, slot_pipeline.name.clone(), false));
        let result = engine
            .run(&slot_pipeline, opts, Some(tx), stop.child_token())
            .await;
        let _ = view.await;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(due.slot)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        match result {
            Ok(summary) if summary.state == RunState::Succeeded => {
                eprintln!("slot {at}: run {} succeeded", summary.run_id);
            }
            Ok(summary) => {
                failed += 1;
                eprintln!(
                    "slot {at}: run {} {}; resume it with `sluice run {} --resume {}`",
                    summary.run_id,
                    summary.state.as_str(),
                    file.display(),
                    summary.run_id
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("slot {at}: {}", engine_failure(e).message);
            }
        }
    }
    home::finish_lineage(lineage);
    home::finish_alerts(&alerts);
    Ok(if failed > 0 { EXIT_FAILED } else { 0 })
}

/// `--select` / `--exclude` of `sluice run`.
struct Selection<'a> {
    select: &'a [String],
    exclude: &'a [String],
}

impl Selection<'_> {
    /// The `--task`s, and the tasks of `pipeline` the selectors choose.
    fn tasks(&self, pipeline: &Pipeline, tasks: &[String]) -> Result<Vec<String>, Failure> {
        if self.select.is_empty() && self.exclude.is_empty() {
            return Ok(tasks.to_vec());
        }
        let mut chosen = sluice_core::select::select(pipeline, self.select, self.exclude)
            .map_err(|e| Failure::invalid(format!("error: {e}")))?;
        if chosen.is_empty() {
            return Err(Failure::invalid(
                "error: the selection leaves no task to run".to_string(),
            ));
        }
        chosen.extend(tasks.iter().cloned());
        Ok(chosen)
    }
}

/// How `sluice run` runs and reports.
struct How {
    /// The summary as JSON.
    json: bool,
    /// Wait for another run of the pipeline to end.
    wait: bool,
    /// Where attempts run.
    executor: crate::cli::Executor,
}

async fn run(
    cli: &Cli,
    file: &Path,
    params: &[(String, String)],
    mut opts: RunOptions,
    selection: &Selection<'_>,
    how: How,
) -> Result<u8, Failure> {
    let How {
        json: as_json,
        wait,
        executor,
    } = how;
    let registry = Arc::new(sluice_ops::registry());
    // Validate before touching any state.
    let mut pipeline = load_or_fail(file, params, &registry)?;
    opts.tasks = selection.tasks(&pipeline, &opts.tasks)?;
    let home = home::for_file(&cli.home, file);
    // One `sluice run` of a pipeline at a time on a home: held until this function returns.
    let _lock = home::lock_pipeline(&home, &pipeline.name, wait).await?;
    let sql = home::open_sql_store(&cli.state, &home).await?;
    let store: Arc<dyn StateStore> = sql.clone();
    let lineage = home::lineage(&home, &store)?;
    let alerts = home::alerts();
    let mut engine =
        home::with_executor(Engine::new(store, registry.clone(), &home), executor, &sql)?;
    // Only pipelines with alerts pay for the observations.
    if sluice_lineage::alerts::has_alerts(&pipeline) {
        engine = engine.with_observer(alerts.clone());
    }
    if let Some(l) = &lineage {
        engine = engine.with_observer(l.clone());
    }
    if let Some(run_id) = &opts.resume {
        // Resume with the parameters the run started with, unless overridden now.
        let mut merged: Vec<(String, String)> = engine
            .run_params(run_id)
            .await
            .map_err(engine_failure)?
            .into_iter()
            .filter(|(k, _)| {
                pipeline.params.contains_key(k) && !params.iter().any(|(pk, _)| pk == k)
            })
            .collect();
        merged.extend(params.iter().cloned());
        pipeline = load_or_fail(file, &merged, &registry)?;
    }
    for id in engine
        .reap_dead_runs(&pipeline.name)
        .await
        .map_err(engine_failure)?
    {
        if opts.resume.as_deref() != Some(id.as_str()) {
            eprintln!(
                "note: run {id} was interrupted (its process is gone); marked failed. Resume it with `sluice run {} --resume {id}`",
                file.display()
            );
        }
    }

    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let view = tokio::spawn(live::show(rx, pipeline.name.clone(), as_json));
    let result = engine.run(&pipeline, opts, Some(tx), stop).await;
    let _ = view.await;
    home::finish_lineage(lineage);
    home::finish_alerts(&alerts);
    let summary = result.map_err(engine_failure)?;

    if as_json {
        let tasks: Vec<_> = summary
            .tasks
            .iter()
            .map(|(name, state, attempts)| json!({"task": name, "state": state.as_str(), "attempts": attempts}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "run_id": summary.run_id,
                "pipeline": pipeline.name,
                "state": summary.state.as_str(),
                "elapsed_ms": summary.elapsed.as_millis() as u64,
                "tasks": tasks,
            }))
            .unwrap_or_default()
        );
    } else {
        let mut counts = Vec::new();
        for s in TaskState::ALL {
            let n = summary.count(s);
            if n > 0 {
                counts.push(format!("{n} {s}"));
            }
        }
        let ran = summary
            .tasks
            .iter()
            .any(|t| t.2 > 0 && t.1 != TaskState::Cached);
        println!(
            "run {} {} in {}: {}",
            summary.run_id,
            summary.state,
            human(summary.elapsed),
            counts.join(", ")
        );
        if summary.state == RunState::Succeeded && !ran && summary.count(TaskState::Cached) > 0 {
            println!(
                "nothing to do: every task is unchanged since its last success (use --force to run them again)"
            );
        }
        if matches!(summary.state, RunState::Failed | RunState::Cancelled) {
            let home_flag = home::flag_if_needed(&home);
            for (name, state, _) in &summary.tasks {
                if *state == TaskState::Failed {
                    println!(
                        "  failed: {name}  (output: sluice logs{home_flag} {} {name})",
                        summary.run_id
                    );
                }
            }
            println!(
                "after fixing the cause, run only what did not succeed: sluice run {} --resume {}",
                file.display(),
                summary.run_id
            );
        }
    }
    Ok(match summary.state {
        RunState::Succeeded => 0,
        RunState::Cancelled => EXIT_CANCELLED,
        _ => EXIT_FAILED,
    })
}

/// First Ctrl-C (or SIGTERM): stop the run cleanly, killing running commands. Second: exit now.
/// SIGTERM, to wait for with [`interrupted`].
pub(crate) fn sigterm() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

/// Waits for Ctrl-C or `term` (SIGTERM, when it could be installed).
pub(crate) async fn interrupted(term: &mut Option<tokio::signal::unix::Signal>) {
    match term.as_mut() {
        Some(t) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = t.recv() => {},
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn spawn_signal_handler(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut term = sigterm();
        interrupted(&mut term).await;
        eprintln!("stopping: killing running tasks (press Ctrl-C again to exit at once)");
        stop.cancel();
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(i32::from(EXIT_CANCELLED));
    });
}

/// With the warehouse in an object store (`SLUICE_WAREHOUSE`): the home's warehouse, where
/// the versions a command reads are downloaded.
fn cache_of(home: Option<&Path>) -> Result<Option<sluice_engine::warehouse::Warehouse>, Failure> {
    Ok(home::remote_warehouse()?.map(|remote| {
        let home = home.unwrap_or(Path::new(home::HOME_DIR));
        sluice_engine::warehouse::Warehouse::new(home.join("warehouse")).with_remote(remote)
    }))
}

async fn read_store(cli: &Cli) -> Result<(Arc<dyn StateStore>, Option<PathBuf>), Failure> {
    let (store, home) = read_sql_store(cli).await?;
    Ok((store, home))
}

/// [`read_store`], as the SQL store itself (also the workers' queue).
async fn read_sql_store(
    cli: &Cli,
) -> Result<(Arc<sluice_store::SqlStore>, Option<PathBuf>), Failure> {
    let home = match (&cli.state, home::discover(&cli.home)) {
        (_, Ok(h)) => Some(h),
        (Some(_), Err(_)) => None,
        (None, Err(e)) => return Err(e),
    };
    let store = match &home {
        Some(h) => home::open_sql_store(&cli.state, h).await?,
        None => home::open_sql_store(&cli.state, Path::new(home::HOME_DIR)).await?,
    };
    Ok((store, home))
}

async fn runs(
    cli: &Cli,
    pipeline: Option<String>,
    limit: usize,
    as_json: bool,
) -> Result<u8, Failure> {
    let (store, _) = read_store(cli).await?;
    let runs = store
        .runs(&RunFilter {
            pipeline,
            state: None,
            limit,
        })
        .await?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).unwrap_or_default()
        );
        return Ok(0);
    }
    if runs.is_empty() {
        println!("no runs yet");
        return Ok(0);
    }
    let mut t = table(&["RUN", "PIPELINE", "STATE", "STARTED", "DURATION", "TRIGGER"]);
    for r in &runs {
        t.add_row(vec![
            r.id.clone(),
            r.pipeline.clone(),
            r.state.to_string(),
            timestamp(r.started_at),
            span(Some(r.started_at), r.ended_at),
            r.trigger.clone(),
        ]);
    }
    println!("{t}");
    Ok(0)
}

async fn show(cli: &Cli, run_id: &str, as_json: bool) -> Result<u8, Failure> {
    let (store, _) = read_sql_store(cli).await?;
    let Some(run) = store.run(run_id).await? else {
        return Err(Failure::invalid(format!(
            "error: no run `{run_id}` (list runs with `sluice runs`)"
        )));
    };
    let tasks = store.task_runs(run_id).await?;
    let attempts = store.attempts(run_id, None).await?;
    // The worker of each attempt that ran on one (`--executor workers`).
    let ran_on: std::collections::HashMap<(String, u32), String> =
        sluice_store::WorkQueue::work(&*store, Some(run_id))
            .await?
            .into_iter()
            .filter_map(|w| Some(((w.key.task, w.key.attempt), w.worker?)))
            .collect();
    if as_json {
        let attempts: Vec<serde_json::Value> = attempts
            .iter()
            .map(|a| {
                let mut value = serde_json::to_value(a).unwrap_or_default();
                if let Some(worker) = ran_on.get(&(a.task.clone(), a.attempt)) {
                    value["worker"] = json!(worker);
                }
                value
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"run": run, "tasks": tasks, "attempts": attempts})
            )
            .unwrap_or_default()
        );
        return Ok(0);
    }
    println!(
        "run {}  pipeline {}  {}  started {}  {}",
        run.id,
        run.pipeline,
        run.state,
        timestamp(run.started_at),
        span(Some(run.started_at), run.ended_at)
    );
    if !run.params.is_empty() {
        let ps: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("params: {}", ps.join(" "));
    }
    if let Some(e) = &run.error {
        println!("error: {e}");
    }
    let on_workers = !ran_on.is_empty();
    let mut header = vec!["TASK", "STATE", "ATTEMPTS", "DURATION", "ERROR"];
    if on_workers {
        header.insert(3, "WORKER");
    }
    let mut t = table(&header);
    for task in &tasks {
        let mut row = vec![
            task.task.clone(),
            task.state.to_string(),
            task.attempts.to_string(),
            span(task.started_at, task.ended_at),
            task.error.clone().unwrap_or_default(),
        ];
        if on_workers {
            // The worker of its last attempt.
            let worker = ran_on
                .get(&(task.task.clone(), task.attempts))
                .cloned()
                .unwrap_or_default();
            row.insert(3, worker);
        }
        t.add_row(row);
    }
    println!("{t}");
    Ok(0)
}

async fn logs(cli: &Cli, run_id: &str, task: &str, attempt: Option<u32>) -> Result<u8, Failure> {
    let (store, _) = read_store(cli).await?;
    if store.run(run_id).await?.is_none() {
        return Err(Failure::invalid(format!(
            "error: no run `{run_id}` (list runs with `sluice runs`)"
        )));
    }
    let attempts = store.attempts(run_id, Some(task)).await?;
    if attempts.is_empty() {
        let tasks = store.task_runs(run_id).await?;
        // A task of the run that made no attempt: say why rather than suggest its own name.
        if let Some(t) = tasks.iter().find(|t| t.task == task) {
            let why = match t.state {
                TaskState::Cached => "it was cached: an earlier run made its output with the \
                                      same inputs and settings, and that run's log has it \
                                      (`sluice runs` lists the runs)"
                    .to_string(),
                state => format!("it is {state}"),
            };
            return Err(Failure::invalid(format!(
                "error: task `{task}` made no attempt in run {run_id}: {why}"
            )));
        }
        let names: Vec<String> = tasks.into_iter().map(|t| t.task).collect();
        let hint = sluice_core::diag::did_you_mean(task, names.iter().map(String::as_str))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        return Err(Failure::invalid(format!(
            "error: task `{task}` has no attempts in run {run_id}{hint}"
        )));
    }
    let chosen = match attempt {
        Some(n) => attempts.iter().find(|a| a.attempt == n).ok_or_else(|| {
            Failure::invalid(format!(
                "error: task `{task}` has no attempt {n} in run {run_id} (it has 1 to {})",
                attempts.len()
            ))
        })?,
        None => attempts
            .last()
            .ok_or_else(|| Failure::invalid("error: no attempts"))?,
    };
    let Some(path) = &chosen.log_path else {
        println!("(attempt {} recorded no log)", chosen.attempt);
        return Ok(0);
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The file is created on the first line of output: no file, no output. Unless its
            // run's log folder is gone too (moved or cleaned).
            let run_logs = Path::new(path).parent().and_then(Path::parent);
            if run_logs.is_some_and(Path::exists) {
                println!("(attempt {} of `{task}` wrote no output)", chosen.attempt);
            } else {
                return Err(Failure::env(format!(
                    "error: the log of attempt {} of `{task}` is missing: {path} (was the .sluice/logs folder moved or deleted?)",
                    chosen.attempt
                )));
            }
        }
        Err(e) => return Err(Failure::env(format!("error: cannot read log {path}: {e}"))),
    }
    Ok(0)
}

fn graph(file: &Path, format: GraphFormat) -> Result<u8, Failure> {
    let registry = sluice_ops::registry();
    let p = load_or_fail(file, &[], &registry)?;
    let out = match format {
        GraphFormat::Text => dag::to_text(&p),
        GraphFormat::Dot => dag::to_dot(&p),
        GraphFormat::Mermaid => dag::to_mermaid(&p),
    };
    print!("{out}");
    Ok(0)
}

fn ops(as_json: bool) -> Result<u8, Failure> {
    let registry = sluice_ops::registry();
    if as_json {
        let list: Vec<_> = registry
            .specs()
            .iter()
            .map(|s| json!({"op": s.name, "summary": s.summary}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        let mut t = table(&["OP", "WHAT IT DOES"]);
        for s in registry.specs() {
            t.add_row(vec![s.name, s.summary]);
        }
        println!("{t}");
        println!("\nAny task can also be a shell command: `run: COMMAND`.");
    }
    Ok(0)
}
