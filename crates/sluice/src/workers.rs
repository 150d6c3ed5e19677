//! `sluice worker` and `sluice workers`: the processes that run queued task attempts, and
//! what they do.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sluice_engine::workers::{WorkerOptions, run_worker};
use sluice_store::{SqlStore, WorkQueue};
use tokio_util::sync::CancellationToken;

use crate::Failure;
use crate::cli::{Cli, WorkersAction};
use crate::table::{human, table, timestamp};

/// Workers silent for longer are left out of `sluice workers` unless `--all`.
const RECENT: Duration = Duration::from_secs(600);

/// The shared store a worker or `sluice workers` reads: `--state`, else the SQLite store of
/// `--home` (workers on one machine).
async fn queue(cli: &Cli) -> Result<Arc<SqlStore>, Failure> {
    match (&cli.state, &cli.home) {
        // Two connections (claims, heartbeats and outcomes share them) and the LISTEN one:
        // a hundred workers must not take a thousand of PostgreSQL's connections.
        (Some(url), _) => Ok(Arc::new(SqlStore::connect_pooled(url, 2).await?)),
        (None, Some(home)) => Ok(Arc::new(
            SqlStore::open_sqlite(&home.join("state.db")).await?,
        )),
        (None, None) => Err(Failure::invalid(
            "error: a worker needs the state store the runs are queued in: \
             --state postgres://… (or SLUICE_STATE), or --home DIR for the SQLite store of a \
             home on this machine"
                .to_string(),
        )),
    }
}

/// `sluice worker`: until drained (SIGTERM or Ctrl-C; a second one hands back what runs).
pub async fn worker(
    cli: &Cli,
    mut options: WorkerOptions,
    poll_given: bool,
) -> Result<u8, Failure> {
    if options.slots == 0 {
        return Err(Failure::invalid(
            "error: --slots must be at least 1".to_string(),
        ));
    }
    for label in &options.labels {
        if label.is_empty() || label.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(Failure::invalid(format!(
                "error: invalid label `{label}` (no spaces or commas)"
            )));
        }
    }
    let store = queue(cli).await?;
    if !poll_given {
        options.timing.poll = if store.notifies() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        };
    }
    if options.timing.poll.is_zero() {
        return Err(Failure::invalid(
            "error: --poll must be more than 0s (it is how long an idle worker waits)".to_string(),
        ));
    }
    if options.timing.lease < Duration::from_millis(300) {
        return Err(Failure::invalid(
            "error: --lease must be at least 300ms (heartbeats renew it every third of it)"
                .to_string(),
        ));
    }
    let drain = CancellationToken::new();
    let stop = CancellationToken::new();
    {
        let (drain, stop) = (drain.clone(), stop.clone());
        tokio::spawn(async move {
            let mut term = crate::commands::sigterm();
            crate::commands::interrupted(&mut term).await;
            eprintln!(
                "sluice worker: draining: running attempts finish, nothing new is taken \
                 (again to stop them and hand them back)"
            );
            drain.cancel();
            crate::commands::interrupted(&mut term).await;
            eprintln!("sluice worker: stopping running attempts and handing them back");
            stop.cancel();
        });
    }
    let registry = Arc::new(sluice_ops::registry());
    let summary = run_worker(store, registry, options, drain, stop).await?;
    eprintln!(
        "sluice worker {}: {} attempt(s) finished, {} handed back, {} refused (lease lost)",
        summary.id, summary.finished, summary.handed_back, summary.fenced
    );
    if let Some(why) = summary.misconfigured {
        return Err(Failure::env(format!(
            "error: {why}\nthis worker stopped and handed the attempt back to the queue, for a \
             worker set up like the process that queued it"
        )));
    }
    Ok(0)
}

/// `sluice workers [pool NAME --slots N]`.
pub async fn workers(
    cli: &Cli,
    action: Option<&WorkersAction>,
    all: bool,
    as_json: bool,
) -> Result<u8, Failure> {
    let store = queue(cli).await?;
    if let Some(WorkersAction::Pool {
        name,
        slots,
        unlimited,
    }) = action
    {
        let slots = if *unlimited { None } else { *slots };
        store.set_pool_slots(name, slots).await?;
        match slots {
            Some(n) => println!("pool `{name}`: at most {n} attempt(s) at once"),
            None => println!("pool `{name}`: no limit"),
        }
        return Ok(0);
    }
    let within = if all {
        Duration::from_secs(100 * 365 * 86_400)
    } else {
        RECENT
    };
    let workers = store.workers(within).await?;
    let depth = store.queue_depth().await?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"workers": workers, "queue": depth}))
                .unwrap_or_default()
        );
        return Ok(0);
    }
    if workers.is_empty() {
        println!("no worker seen in the last {}", human(RECENT));
    } else {
        let mut t = table(&[
            "WORKER",
            "HOST",
            "STATE",
            "LABELS",
            "SLOTS",
            "RUNNING",
            "HEARTBEAT",
            "STARTED",
        ]);
        for w in &workers {
            t.add_row(vec![
                w.id.clone(),
                w.host.clone(),
                w.state.clone(),
                w.labels.join(","),
                format!("{}/{}", w.running.len(), w.slots),
                w.running.join(" "),
                format!(
                    "{} ago",
                    human(Duration::from_micros(
                        u64::try_from(w.silent_for).unwrap_or(0)
                    ))
                ),
                timestamp(w.started_at),
            ]);
        }
        println!("{t}");
    }
    if depth.is_empty() {
        println!("queue: empty");
    } else {
        let mut t = table(&["POOL", "QUEUED", "RUNNING", "SLOTS"]);
        for d in &depth {
            t.add_row(vec![
                if d.pool.is_empty() {
                    "(none)".to_string()
                } else {
                    d.pool.clone()
                },
                d.queued.to_string(),
                d.claimed.to_string(),
                d.slots.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            ]);
        }
        println!("{t}");
    }
    Ok(0)
}
