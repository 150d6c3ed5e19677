//! `sluice models`: the models `train` tasks made — each a task whose dataset versions carry a
//! model — their versions and aliases, one model's card, promotion by hand, and two versions
//! side by side.

use std::path::Path;
use std::sync::Arc;

use sluice_ml::Model;
use sluice_ml::tracking::{MODEL_DIR, TrainState, read_evaluation, read_trials};
use sluice_store::{AliasRecord, DatasetVersionRecord, StateStore, Write, now_micros};

use crate::Failure;
use crate::cli::ModelsAction;
use crate::table::{table, timestamp};

/// A version of a model: its dataset version and what `train` kept with it.
struct Version {
    record: DatasetVersionRecord,
    state: TrainState,
}

/// `pipeline.task` split in two, or an error saying the form.
fn split_name(name: &str) -> Result<(&str, &str), Failure> {
    name.split_once('.')
        .filter(|(p, t)| !p.is_empty() && !t.is_empty())
        .ok_or_else(|| Failure::invalid(format!("`{name}`: name a model as PIPELINE.TASK")))
}

async fn versions(
    store: &Arc<dyn StateStore>,
    pipeline: Option<&str>,
    task: Option<&str>,
) -> Result<Vec<Version>, Failure> {
    Ok(store
        .dataset_versions(pipeline, task)
        .await?
        .into_iter()
        .filter_map(|record| {
            TrainState::of_version(record.state.as_deref()).map(|state| Version { record, state })
        })
        .collect())
}

fn aliases_of<'a>(aliases: &'a [AliasRecord], v: &DatasetVersionRecord) -> Vec<&'a str> {
    aliases
        .iter()
        .filter(|a| a.pipeline == v.pipeline && a.task == v.task && a.version == v.version)
        .map(|a| a.alias.as_str())
        .collect()
}

/// Runs `sluice models …`.
pub async fn models(
    store: Arc<dyn StateStore>,
    action: &Option<ModelsAction>,
    json: bool,
) -> Result<u8, Failure> {
    match action {
        None => list(&store, None, json).await,
        Some(ModelsAction::List { pipeline }) => list(&store, pipeline.as_deref(), json).await,
        Some(ModelsAction::Versions { model }) => version_list(&store, model, json).await,
        Some(ModelsAction::Show { model }) => show(&store, model, json).await,
        Some(ModelsAction::Promote {
            model,
            target,
            alias,
            note,
        }) => promote(&store, model, target, alias, note.as_deref()).await,
        Some(ModelsAction::Compare { model, a, b }) => compare(&store, model, a, b, json).await,
        Some(ModelsAction::Export { model, output }) => export(&store, model, output).await,
        Some(ModelsAction::Card { model, output }) => card(&store, model, output.as_deref()).await,
    }
}

async fn list(
    store: &Arc<dyn StateStore>,
    pipeline: Option<&str>,
    json: bool,
) -> Result<u8, Failure> {
    let all = versions(store, pipeline, None).await?;
    let aliases = store.aliases(pipeline, None, false).await?;
    let mut names: Vec<(String, String)> = all
        .iter()
        .map(|v| (v.record.pipeline.clone(), v.record.task.clone()))
        .collect();
    names.dedup();
    let mut rows = Vec::new();
    for (p, t) in &names {
        let mine: Vec<&Version> = all
            .iter()
            .filter(|v| &v.record.pipeline == p && &v.record.task == t)
            .collect();
        let latest = mine
            .iter()
            .find(|v| v.record.latest_since.is_some())
            .or(mine.first());
        let Some(latest) = latest else { continue };
        let named: Vec<String> = aliases
            .iter()
            .filter(|a| &a.pipeline == p && &a.task == t)
            .map(|a| {
                let value = mine
                    .iter()
                    .find(|v| v.record.version == a.version)
                    .map(|v| format!(" ({:.4})", v.state.value));
                format!("{}: {}{}", a.alias, a.version, value.unwrap_or_default())
            })
            .collect();
        rows.push(serde_json::json!({
            "model": format!("{p}.{t}"),
            "type": latest.state.kind,
            "versions": mine.len(),
            "latest": latest.record.version,
            "metric": latest.state.metric,
            "value": latest.state.value,
            "aliases": named,
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no models yet: a `train` task makes one");
        return Ok(0);
    }
    let mut t = table(&[
        "MODEL", "TYPE", "VERSIONS", "LATEST", "METRIC", "VALUE", "ALIASES",
    ]);
    for r in &rows {
        let s = |k: &str| {
            r[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| r[k].to_string())
        };
        let aliases: Vec<&str> = r["aliases"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        t.add_row(vec![
            s("model"),
            s("type"),
            s("versions"),
            s("latest"),
            s("metric"),
            format!("{:.4}", r["value"].as_f64().unwrap_or(f64::NAN)),
            aliases.join(", "),
        ]);
    }
    println!("{t}");
    Ok(0)
}

async fn version_list(store: &Arc<dyn StateStore>, model: &str, json: bool) -> Result<u8, Failure> {
    let (p, t) = split_name(model)?;
    let all = versions(store, Some(p), Some(t)).await?;
    if all.is_empty() {
        return Err(Failure::invalid(format!(
            "no model `{model}`: `sluice models` lists them"
        )));
    }
    let aliases = store.aliases(Some(p), Some(t), false).await?;
    if json {
        let rows: Vec<_> = all
            .iter()
            .map(|v| serde_json::json!({"version": v.record.version, "created_at": v.record.created_at, "run_id": v.record.run_id, "latest": v.record.latest_since.is_some(), "state": v.state, "aliases": aliases_of(&aliases, &v.record)}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(0);
    }
    let mut table = table(&[
        "VERSION", "CREATED", "RUN", "METRIC", "VALUE", "TRIALS", "ALIASES",
    ]);
    for v in &all {
        let mut marks = aliases_of(&aliases, &v.record);
        if v.record.latest_since.is_some() {
            marks.insert(0, "latest");
        }
        table.add_row(vec![
            v.record.version.clone(),
            timestamp(v.record.created_at),
            v.record.run_id.clone(),
            v.state.metric.clone(),
            format!("{:.4}", v.state.value),
            v.state.trials.to_string(),
            marks.join(", "),
        ]);
    }
    println!("{table}");
    Ok(0)
}

/// The version `MODEL[@VERSION|@ALIAS]` names (latest by default).
async fn find(store: &Arc<dyn StateStore>, model: &str) -> Result<Version, Failure> {
    let (name, which) = model
        .split_once('@')
        .map_or((model, None), |(n, w)| (n, Some(w)));
    let (p, t) = split_name(name)?;
    let all = versions(store, Some(p), Some(t)).await?;
    let wanted = match which {
        None | Some("latest") => all.into_iter().find(|v| v.record.latest_since.is_some()),
        Some(w) => {
            let aliases = store.aliases(Some(p), Some(t), false).await?;
            let version = aliases
                .iter()
                .find(|a| a.alias == w)
                .map_or(w, |a| a.version.as_str())
                .to_string();
            all.into_iter().find(|v| v.record.version == version)
        }
    };
    wanted.ok_or_else(|| {
        Failure::invalid(format!(
            "no model version `{model}`: `sluice models versions {name}` lists them"
        ))
    })
}

async fn show(store: &Arc<dyn StateStore>, model: &str, json: bool) -> Result<u8, Failure> {
    let v = find(store, model).await?;
    let dir = Path::new(&v.record.path);
    let m =
        Model::load(&dir.join(MODEL_DIR)).map_err(|e| Failure::invalid(format!("{model}: {e}")))?;
    let trials = read_trials(&dir.join(MODEL_DIR));
    if json {
        let card = serde_json::json!({
            "model": format!("{}.{}", v.record.pipeline, v.record.task),
            "version": v.record.version,
            "run_id": v.record.run_id,
            "state": v.state,
            "spec": m.spec,
            "features": m.features,
            "label": m.label,
            "trials": trials,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&card).unwrap_or_default()
        );
        return Ok(0);
    }
    println!(
        "model {}.{} version {} ({})",
        v.record.pipeline, v.record.task, v.record.version, v.state.kind
    );
    println!(
        "trained by run {} at {}",
        v.record.run_id,
        timestamp(v.record.created_at)
    );
    if let Some(input) = &v.state.input {
        println!("trained on {}.{input}", v.record.pipeline);
    }
    println!(
        "kept trial {} of {}: {} {:.4}",
        v.state.best_trial, v.state.trials, v.state.metric, v.state.value
    );
    let features: Vec<String> = m.features.columns.iter().map(|c| c.name.clone()).collect();
    println!("features: {}", features.join(", "));
    if let Some(l) = &m.label {
        match l.classes() {
            Some(c) => println!(
                "label: {} ({} classes: {})",
                l.name(),
                c.len(),
                c.join(", ")
            ),
            None => println!("label: {} (a value)", l.name()),
        }
    }
    let mut t = table(&["TRIAL", "SETTINGS", "EPOCHS", "FIGURES"]);
    for trial in &trials {
        let figures: Vec<String> = trial
            .figures
            .iter()
            .filter(|(n, _)| {
                n.starts_with("valid.") || n.starts_with("test.") || n == "fit_seconds"
            })
            .map(|(n, v)| format!("{n} {v:.4}"))
            .collect();
        t.add_row(vec![
            trial.trial.to_string(),
            serde_json::to_string(&trial.model).unwrap_or_default(),
            trial.epochs.to_string(),
            figures.join("  "),
        ]);
    }
    println!("{t}");
    Ok(0)
}

async fn card(
    store: &Arc<dyn StateStore>,
    model: &str,
    output: Option<&Path>,
) -> Result<u8, Failure> {
    let v = find(store, model).await?;
    let dir = Path::new(&v.record.path).join(MODEL_DIR);
    let m = Model::load(&dir).map_err(|e| Failure::invalid(format!("{model}: {e}")))?;
    let all = store
        .aliases(Some(&v.record.pipeline), Some(&v.record.task), false)
        .await?;
    let aliases: Vec<String> = aliases_of(&all, &v.record)
        .into_iter()
        .map(String::from)
        .collect();
    let name = format!("{}.{}", v.record.pipeline, v.record.task);
    let trials = read_trials(&dir);
    let evaluation = read_evaluation(&dir);
    let created = timestamp(v.record.created_at);
    let text = sluice_ml::card::Card {
        name: &name,
        version: &v.record.version,
        created: &created,
        run_id: &v.record.run_id,
        aliases: &aliases,
        state: &v.state,
        model: &m,
        trials: &trials,
        evaluation: evaluation.as_ref(),
    }
    .markdown();
    match output {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Failure::invalid(format!("{}: {e}", path.display())))?;
            println!(
                "{name} version {} → {} (model card, Markdown)",
                v.record.version,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(0)
}

async fn export(store: &Arc<dyn StateStore>, model: &str, output: &Path) -> Result<u8, Failure> {
    let v = find(store, model).await?;
    let dir = Path::new(&v.record.path).join(MODEL_DIR);
    let m = Model::load(&dir).map_err(|e| Failure::invalid(format!("{model}: {e}")))?;
    let bytes = m
        .to_onnx()
        .map_err(|e| Failure::invalid(format!("{model}: {e}")))?;
    std::fs::write(output, &bytes)
        .map_err(|e| Failure::invalid(format!("{}: {e}", output.display())))?;
    println!(
        "{model} version {} → {} (ONNX, {} bytes)",
        v.record.version,
        output.display(),
        bytes.len()
    );
    Ok(0)
}

async fn promote(
    store: &Arc<dyn StateStore>,
    model: &str,
    version: &str,
    alias: &str,
    note: Option<&str>,
) -> Result<u8, Failure> {
    let (p, t) = split_name(model)?;
    let target = find(store, &format!("{model}@{version}")).await?;
    if target.record.version != version {
        return Err(Failure::invalid(format!(
            "`{version}` is an alias: give the version to point `{alias}` at"
        )));
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    store
        .apply(&[Write::Alias(AliasRecord {
            pipeline: p.into(),
            task: t.into(),
            alias: alias.into(),
            version: version.into(),
            set_at: now_micros(),
            set_by: format!("user {user}"),
            note: Some(note.map_or_else(
                || {
                    format!(
                        "by hand ({} {:.4})",
                        target.state.metric, target.state.value
                    )
                },
                str::to_string,
            )),
        })])
        .await?;
    println!(
        "{model}: {alias} → version {version} ({} {:.4})",
        target.state.metric, target.state.value
    );
    Ok(0)
}

async fn compare(
    store: &Arc<dyn StateStore>,
    model: &str,
    a: &str,
    b: &str,
    json: bool,
) -> Result<u8, Failure> {
    let va = find(store, &format!("{model}@{a}")).await?;
    let vb = find(store, &format!("{model}@{b}")).await?;
    let kept = |v: &Version| -> Vec<(String, f64)> {
        read_trials(&Path::new(&v.record.path).join(MODEL_DIR))
            .into_iter()
            .find(|t| t.trial == v.state.best_trial)
            .map(|t| t.figures)
            .unwrap_or_default()
    };
    let (fa, fb) = (kept(&va), kept(&vb));
    let mut names: Vec<&String> = fa.iter().map(|(n, _)| n).collect();
    for (n, _) in &fb {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let get = |f: &[(String, f64)], n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    if json {
        let rows: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({"metric": n, "a": get(&fa, n), "b": get(&fb, n)}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"a": va.record.version, "b": vb.record.version, "figures": rows})).unwrap_or_default());
        return Ok(0);
    }
    let mut t = table(&["FIGURE", &va.record.version, &vb.record.version, "B - A"]);
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    for n in names {
        let (x, y) = (get(&fa, n), get(&fb, n));
        let diff = x
            .zip(y)
            .map(|(x, y)| format!("{:+.4}", y - x))
            .unwrap_or_default();
        t.add_row(vec![n.clone(), show(x), show(y), diff]);
    }
    println!("{t}");
    Ok(0)
}
