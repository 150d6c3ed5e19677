//! Lineage and metadata of sluice: OpenLineage events for every run and task attempt, sent
//! to a collector, a file or the console as the engine works.
//!
//! - [`config`]: where events go, configured once per home (`openlineage.yml`,
//!   `OPENLINEAGE_URL`).
//! - [`openlineage`]: the RunEvents (spec 2-0-2), from what the engine observes
//!   ([`sluice_engine::observe`]) and what ops report ([`sluice_op::lineage`]).
//! - [`spool`]: events for a collector wait on disk until it takes them, in order.
//! - [`Emitter`]: the engine's observer. It only queues what it is told; a thread of its own
//!   builds the events and writes them out, another delivers the spool, so that neither a
//!   slow nor a missing collector slows a run.
//!
//! Depends on the engine (its observer API), the op API and the store; not on the ops.

pub mod alerts;
pub mod catalog;
pub mod config;
pub mod datahub;
mod deliver;
pub mod graph;
pub mod openlineage;
pub mod spool;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sluice_engine::observe::{Observed, Observer};
use sluice_store::StateStore;

pub use config::{Config, Transport};
pub use deliver::{Delivered, Deliverer};
use openlineage::Naming;

/// Events queued beyond this wait for the writer thread (a disk that cannot keep up). The
/// channel's buffer is allocated whole: it holds boxes, not events.
const QUEUE: usize = 65_536;
/// How long the writer lets events gather before writing them.
const LINGER: Duration = Duration::from_millis(50);

/// The OpenLineage events of `catalog` at once: for each run holding a task's latest
/// success, the pipeline run's START, each such task's START and COMPLETE, the run's
/// COMPLETE; one JSON line each, oldest run first.
pub fn openlineage_export(catalog: &catalog::Catalog, home: &Path, namespace: &str) -> Vec<String> {
    use sluice_engine::observe::Phase;
    let naming = Naming::for_warehouse(namespace, &home.join("warehouse"));
    let mut runs: std::collections::BTreeMap<
        (&str, &str),
        Vec<&sluice_engine::observe::AttemptEvent>,
    > = std::collections::BTreeMap::new();
    for t in &catalog.tasks {
        runs.entry((t.run_id.as_str(), t.meta.pipeline.as_str()))
            .or_default()
            .push(t);
    }
    let mut lines = Vec::new();
    for ((run_id, pipeline), mut tasks) in runs {
        tasks.sort_by_key(|t| (t.started_at, t.at));
        let run = openlineage::PipelineRun {
            pipeline,
            description: tasks[0].meta.pipeline_description.as_deref(),
            run_id,
            nominal_time: tasks[0].nominal_time,
        };
        let first = tasks.iter().map(|t| t.started_at).min().unwrap_or_default();
        let last = tasks.iter().map(|t| t.at).max().unwrap_or_default();
        lines.push(openlineage::pipeline_run_event(
            run,
            Phase::Started,
            first,
            &naming,
        ));
        let schemas = |task: &str, version: &str| catalog.schema(pipeline, task, version);
        for t in tasks {
            let mut start = t.clone();
            start.phase = Phase::Started;
            start.at = t.started_at;
            start.dataset = None;
            start.lineage = Default::default();
            lines.push(openlineage::attempt_event_line(&start, &naming, &schemas));
            lines.push(openlineage::attempt_event_line(t, &naming, &schemas));
        }
        lines.push(openlineage::pipeline_run_event(
            run,
            Phase::Succeeded,
            last,
            &naming,
        ));
    }
    lines
}

/// The folder of a collector's spool in `home`.
pub fn spool_dir(home: &Path, url: &str) -> PathBuf {
    use sha2::Digest;
    let h = hex::encode(&sha2::Sha256::digest(sluice_op::redact_urls(url).as_bytes())[..6]);
    home.join("lineage").join(format!("http-{h}"))
}

/// Emits OpenLineage events for what the engine observes.
pub struct Emitter {
    queue: Mutex<Option<SyncSender<Box<Observed>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    deliverers: Vec<Arc<Deliverer>>,
}

impl Observer for Emitter {
    fn observe(&self, event: Observed) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = queue.as_ref() {
            let _ = tx.send(Box::new(event));
        }
    }
}

impl Emitter {
    /// An emitter for `home` as `config` says, its warehouse in `home/warehouse`; `store`
    /// gives the schemas of the datasets a task reads that this process did not write.
    pub fn start(
        config: &Config,
        home: &Path,
        store: Option<Arc<dyn StateStore>>,
    ) -> Result<Arc<Emitter>, String> {
        let naming = Naming::for_warehouse(&config.namespace, &home.join("warehouse"));
        let mut sinks = Vec::new();
        let mut deliverers = Vec::new();
        for t in &config.transports {
            sinks.push(match t {
                Transport::Console => Sink::Console,
                Transport::File { path } => {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                    }
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                    Sink::File(std::io::BufWriter::new(file))
                }
                Transport::Http {
                    url,
                    api_key,
                    timeout,
                } => {
                    let d = Deliverer::start(
                        spool::Spool::new(spool_dir(home, url)),
                        url,
                        api_key.clone(),
                        *timeout,
                    )?;
                    deliverers.push(d.clone());
                    Sink::Spool(d)
                }
            });
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("lineage-writer".into())
            .spawn(move || write_events(rx, naming, sinks, store))
            .map_err(|e| format!("cannot start the lineage thread: {e}"))?;
        Ok(Arc::new(Emitter {
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            deliverers,
        }))
    }

    /// Writes out every event queued, then gives each collector up to `grace` to take what
    /// waits for it; a collector that cannot be reached gets no wait at all (its events stay
    /// in the spool for the next sluice process). Returns what each delivered and left.
    pub fn finish(&self, grace: Duration) -> Vec<Delivered> {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.thread().unpark();
            let _ = w.join();
        }
        self.deliverers.iter().map(|d| d.finish(grace)).collect()
    }
}

enum Sink {
    Console,
    File(std::io::BufWriter<std::fs::File>),
    Spool(Arc<Deliverer>),
}

/// The writer thread: builds each event and hands it to every sink, a batch at a time.
fn write_events(
    rx: Receiver<Box<Observed>>,
    naming: Naming,
    mut sinks: Vec<Sink>,
    store: Option<Arc<dyn StateStore>>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok();
    // Schemas by pipeline, task and version: of datasets written in this process, and of
    // those the store was asked for once (the START and the COMPLETE of an attempt, and the
    // attempts of one run, read the same inputs).
    let known: std::cell::RefCell<HashMap<(String, String, String), Option<String>>> =
        Default::default();
    let mut warned = false;
    while let Ok(first) = rx.recv() {
        // Let a burst gather: one wake-up and one write for many events, not one each.
        // `finish` unparks the thread so that the last burst does not wait.
        std::thread::park_timeout(LINGER);
        let mut lines = Vec::new();
        for observed in std::iter::once(first).chain(rx.try_iter().take(QUEUE)) {
            let observed = *observed;
            if let Observed::Attempt(a) = &observed
                && let (Some(d), Some(v)) = (&a.dataset, &a.output)
            {
                let key = (a.meta.pipeline.clone(), a.meta.task.clone(), v.clone());
                known.borrow_mut().insert(key, Some(d.schema.clone()));
            }
            let pipeline = match &observed {
                Observed::Run(r) => r.pipeline.name.as_str(),
                Observed::Attempt(a) => a.meta.pipeline.as_str(),
            };
            let schemas = |task: &str, version: &str| {
                let key = (pipeline.to_string(), task.to_string(), version.to_string());
                if let Some(s) = known.borrow().get(&key) {
                    return s.clone();
                }
                let found = store
                    .as_ref()
                    .zip(runtime.as_ref())
                    .and_then(|(store, rt)| {
                        rt.block_on(store.dataset_versions(Some(pipeline), Some(task)))
                            .ok()?
                            .into_iter()
                            .find(|v| v.version == version)
                            .map(|v| v.schema)
                    });
                known.borrow_mut().insert(key, found.clone());
                found
            };
            lines.push(openlineage::event(&observed, &naming, &schemas));
        }
        for sink in &mut sinks {
            let written = match sink {
                Sink::Console => {
                    let mut err = std::io::stderr().lock();
                    lines.iter().try_for_each(|l| writeln!(err, "{l}"))
                }
                Sink::File(f) => lines
                    .iter()
                    .try_for_each(|l| writeln!(f, "{l}"))
                    .and_then(|()| f.flush()),
                Sink::Spool(d) => d.append(&lines),
            };
            if let Err(e) = written
                && !warned
            {
                warned = true;
                tracing::warn!("cannot write lineage events: {e}; later events may be lost too");
            }
        }
    }
}
