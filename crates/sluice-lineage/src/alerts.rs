//! Run notifications: the `on_failure`, `on_success` and `on_retry` of a pipeline (about its
//! runs; `on_retry` about any task) and of a task, each a webhook whose URL is read from an
//! environment variable when the alert is sent. The body is Slack-compatible (`text`) with
//! the facts beside it. An alert is retried (408, 429, 5xx, no answer) and never fails or
//! slows the run: the observer only queues, a thread of its own sends.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_core::{Notify, Pipeline};
use sluice_engine::observe::{Observed, Observer, Phase};

/// Tries of one alert.
const TRIES: u32 = 4;
/// Wait before the second try; doubled before each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Alerts queued at most; more are dropped (and said so) rather than slowing a run.
const QUEUE: usize = 1024;

/// One alert to send.
struct Alert {
    /// The variable holding the URL.
    webhook_env: String,
    body: serde_json::Value,
}

/// Reads an environment variable (the process's, or a map in tests).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The alerts observer. Attach it to an engine; [`Alerter::finish`] it when the command ends.
pub struct Alerter {
    env: Env,
    sender: Mutex<Option<SyncSender<Alert>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The pipeline of each run going on, for its tasks' alerts.
    runs: Mutex<HashMap<String, Arc<Pipeline>>>,
    /// What could not be sent, said at the end.
    problems: Arc<Mutex<Vec<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Alerter {
    /// An alerter reading webhook URLs with `env`; its thread starts with the first alert.
    pub fn new(env: Env) -> Arc<Alerter> {
        Arc::new(Alerter {
            env,
            sender: Mutex::new(None),
            thread: Mutex::new(None),
            runs: Mutex::new(HashMap::new()),
            problems: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn send(&self, notify: &Notify, body: serde_json::Value) {
        let mut sender = lock(&self.sender);
        if sender.is_none() {
            let (tx, rx) = sync_channel(QUEUE);
            let env = self.env.clone();
            let problems = self.problems.clone();
            let spawned = std::thread::Builder::new()
                .name("sluice-alerts".into())
                .spawn(move || deliver(rx, env, problems));
            match spawned {
                Ok(handle) => {
                    *lock(&self.thread) = Some(handle);
                    *sender = Some(tx);
                }
                Err(e) => {
                    lock(&self.problems).push(format!("alerts: cannot start their thread: {e}"));
                    return;
                }
            }
        }
        let alert = Alert {
            webhook_env: notify.webhook_env.clone(),
            body,
        };
        if let Some(tx) = sender.as_ref()
            && tx.try_send(alert).is_err()
        {
            lock(&self.problems).push("alerts: too many queued; one was dropped".into());
        }
    }

    /// Sends what is queued (retries included), waiting at most `grace`; the problems met,
    /// to show (URLs never appear in them).
    pub fn finish(&self, grace: Duration) -> Vec<String> {
        // Closing the channel ends the thread once the queue is empty.
        lock(&self.sender).take();
        if let Some(handle) = lock(&self.thread).take() {
            let deadline = Instant::now() + grace;
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                lock(&self.problems).push(format!(
                    "alerts: some were not sent within {}s",
                    grace.as_secs()
                ));
            }
        }
        std::mem::take(&mut *lock(&self.problems))
    }
}

impl Observer for Alerter {
    fn observe(&self, event: Observed) {
        match event {
            Observed::Run(r) => {
                let p = &r.pipeline;
                let (notify, what) = match r.phase {
                    Phase::Started => {
                        if has_alerts(p) {
                            lock(&self.runs).insert(r.run_id.clone(), p.clone());
                        }
                        return;
                    }
                    Phase::Succeeded => (&p.alerts.on_success, "success"),
                    Phase::Failed => (&p.alerts.on_failure, "failure"),
                    Phase::Cancelled => {
                        lock(&self.runs).remove(&r.run_id);
                        return;
                    }
                };
                lock(&self.runs).remove(&r.run_id);
                if let Some(n) = notify {
                    let error = r.error.as_deref().map(sluice_op::redact_urls);
                    let text = match (&error, what) {
                        (_, "success") => {
                            format!(
                                "sluice: run {} of pipeline `{}` succeeded",
                                r.run_id, p.name
                            )
                        }
                        (Some(e), _) => {
                            format!(
                                "sluice: run {} of pipeline `{}` failed: {e}",
                                r.run_id, p.name
                            )
                        }
                        (None, _) => {
                            format!("sluice: run {} of pipeline `{}` failed", r.run_id, p.name)
                        }
                    };
                    self.send(
                        n,
                        json!({"text": text, "event": what, "pipeline": p.name, "run_id": r.run_id, "task": null, "error": error}),
                    );
                }
            }
            Observed::Attempt(a) => {
                let Some(p) = lock(&self.runs).get(&a.run_id).cloned() else {
                    return;
                };
                let Some(task) = p.tasks.iter().find(|t| t.name == a.meta.task) else {
                    return;
                };
                let (notify, what) = match a.phase {
                    Phase::Succeeded => (task.alerts.on_success.as_ref(), "success"),
                    Phase::Failed if a.will_retry => (
                        task.alerts.on_retry.as_ref().or(p.alerts.on_retry.as_ref()),
                        "retry",
                    ),
                    Phase::Failed => (task.alerts.on_failure.as_ref(), "failure"),
                    Phase::Started | Phase::Cancelled => return,
                };
                let Some(n) = notify else { return };
                let error = a.error.as_deref().map(sluice_op::redact_urls);
                let text = match what {
                    "success" => format!(
                        "sluice: task `{}` of pipeline `{}` succeeded (run {})",
                        task.name, p.name, a.run_id
                    ),
                    "retry" => format!(
                        "sluice: task `{}` of pipeline `{}` failed (attempt {}), retrying: {}",
                        task.name,
                        p.name,
                        a.attempt,
                        error.as_deref().unwrap_or_default()
                    ),
                    _ => format!(
                        "sluice: task `{}` of pipeline `{}` failed (attempt {}, run {}): {}",
                        task.name,
                        p.name,
                        a.attempt,
                        a.run_id,
                        error.as_deref().unwrap_or_default()
                    ),
                };
                self.send(
                    n,
                    json!({"text": text, "event": what, "pipeline": p.name, "run_id": a.run_id, "task": task.name, "attempt": a.attempt, "error": error}),
                );
            }
        }
    }
}

/// Whether the pipeline or one of its tasks has an alert.
pub fn has_alerts(p: &Pipeline) -> bool {
    !p.alerts.is_empty() || p.tasks.iter().any(|t| !t.alerts.is_empty())
}

/// The sending thread: each alert POSTed, retried with backoff.
fn deliver(rx: Receiver<Alert>, env: Env, problems: Arc<Mutex<Vec<String>>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            lock(&problems).push(format!("alerts: cannot start: {e}"));
            return;
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            lock(&problems).push(format!("alerts: cannot make an HTTP client: {e}"));
            return;
        }
    };
    while let Ok(alert) = rx.recv() {
        let Some(url) = env(&alert.webhook_env).filter(|u| !u.trim().is_empty()) else {
            let p = format!(
                "alerts: {} is not set: the {} alert was not sent",
                alert.webhook_env,
                alert.body["event"].as_str().unwrap_or_default()
            );
            tracing::warn!("{p}");
            lock(&problems).push(p);
            continue;
        };
        let mut wait = FIRST_BACKOFF;
        let mut last = String::new();
        let mut sent = false;
        for attempt in 1..=TRIES {
            // The request is made inside the runtime: its timeout needs the runtime's timer.
            let answer =
                runtime.block_on(async { client.post(&url).json(&alert.body).send().await });
            match answer {
                Ok(r) if r.status().is_success() => {
                    sent = true;
                    break;
                }
                Ok(r) => {
                    let s = r.status().as_u16();
                    last = format!("it answered {s}");
                    if !(s == 408 || s == 429 || s >= 500) {
                        break;
                    }
                }
                // The error's text may hold the URL: only its kind is kept.
                Err(e) if e.is_timeout() => last = "it did not answer in time".into(),
                Err(e) if e.is_connect() => last = "it cannot be reached".into(),
                Err(_) => last = "the request failed".into(),
            }
            if attempt < TRIES {
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
        if !sent {
            let p = format!(
                "alerts: the webhook of {} did not take the {} alert: {last}",
                alert.webhook_env,
                alert.body["event"].as_str().unwrap_or_default()
            );
            tracing::warn!("{p}");
            lock(&problems).push(p);
        }
    }
}
