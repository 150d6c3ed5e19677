//! Fingerprints: a task whose fingerprint already succeeded is not run again.
//!
//! A fingerprint hashes what decides a task's result: its op and config (or command), its
//! environment (secret values excluded, so rotating a token does not invalidate caches) and
//! the fingerprints of the tasks it waits for. Retries and timeouts are not part of it.

use sha2::{Digest, Sha256};

use crate::dag::topo_order;
use crate::pipeline::{Pipeline, TaskKind};

/// Version of the fingerprint recipe; bump it when the recipe changes.
const RECIPE: u32 = 1;

/// The fingerprint of every task, indexed like [`Pipeline::tasks`] (hex SHA-256).
pub fn fingerprints(p: &Pipeline) -> Vec<String> {
    fingerprints_known(p, &[], &[])
}

/// Fingerprints that also cover what each task reads from outside the pipeline: `stamps[i]`
/// describes task `i`'s input files (paths, sizes, modification times), empty for none.
/// `known[i]`, when given, is task `i`'s fingerprint as it turned out once it ran: a task that always runs (a download) is known by what it
/// produced, so the tasks after it stay cached when it brought nothing new.
pub fn fingerprints_known(
    p: &Pipeline,
    stamps: &[String],
    known: &[Option<String>],
) -> Vec<String> {
    let mut out = vec![String::new(); p.tasks.len()];
    for i in topo_order(p) {
        if let Some(Some(fp)) = known.get(i) {
            out[i] = fp.clone();
            continue;
        }
        let t = &p.tasks[i];
        let mut deps: Vec<(&str, &str)> = t
            .deps
            .iter()
            .map(|&d| (p.tasks[d].name.as_str(), out[d].as_str()))
            .collect();
        deps.sort();
        let env: Vec<(&str, &str)> = t
            .env
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    if e.secret {
                        "<secret>"
                    } else {
                        e.value.as_str()
                    },
                )
            })
            .collect();
        let what = match &t.kind {
            TaskKind::Op { op, config } => {
                serde_json::json!({ "op": op, "config": config.to_json() })
            }
            TaskKind::Run { command } => serde_json::json!({ "run": command }),
        };
        let mut doc = serde_json::json!({
            "recipe": RECIPE,
            "pipeline": p.name,
            "task": t.name,
            "what": what,
            "env": env,
            "deps": deps,
        });
        if let Some(stamp) = stamps.get(i).filter(|s| !s.is_empty()) {
            doc["inputs"] = serde_json::Value::from(stamp.as_str());
        }
        // Secret values (a token interpolated into a command) are not part of the fingerprint.
        let mut text = doc.to_string();
        for secret in &t.secrets {
            let quoted = serde_json::Value::from(secret.as_str()).to_string();
            let escaped = &quoted[1..quoted.len() - 1];
            if !escaped.is_empty() {
                text = text.replace(escaped, "<secret>");
            }
        }
        out[i] = hex::encode(Sha256::digest(text.as_bytes()));
    }
    out
}

/// The fingerprint of a task that always runs, once it ran: its planned fingerprint joined
/// with a key of what it produced (e.g. the checksums of the files it downloaded).
pub fn settled(planned: &str, content_key: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{planned}\n{content_key}").as_bytes(),
    ))
}
