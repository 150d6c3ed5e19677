//! Delivers a spool to a collector over HTTP, on a thread of its own: oldest event first,
//! each POSTed until the collector takes it (2xx), with backoff while it cannot be reached or
//! answers 5xx, 408 or 429. An event it refuses (another 4xx) is set aside in the spool's
//! `refused.ndjson` with the answer, so one bad event does not block those after it.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::spool::{Pending, Spool};

/// How often a deliverer looks for events other processes appended.
const POLL: Duration = Duration::from_secs(5);
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a deliverer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The collector (credentials masked).
    pub url: String,
    /// Events the collector took.
    pub sent: usize,
    /// Events it refused, set aside.
    pub refused: usize,
    /// Events still in the spool.
    pub left: usize,
}

#[derive(Default)]
struct State {
    /// Set when the process ends: deliver until this time, no backoff once the collector
    /// cannot be reached.
    finishing: Option<Instant>,
    /// New events were appended.
    woken: bool,
    sent: usize,
    refused: usize,
}

/// The delivery of one spool to one collector.
pub struct Deliverer {
    spool: Spool,
    url: String,
    api_key: Option<String>,
    timeout: Duration,
    state: Mutex<State>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

enum Outcome {
    Taken,
    Refused(String),
    /// The collector answered, but not now (5xx, 408, 429).
    Busy(String),
    /// No answer: not reachable, timed out.
    Down(String),
}

impl Deliverer {
    /// Starts delivering `spool` to `url`.
    pub fn start(
        spool: Spool,
        url: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Arc<Deliverer>, String> {
        let d = Arc::new(Deliverer {
            spool,
            url: url.to_string(),
            api_key,
            timeout,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        });
        let me = d.clone();
        let thread = std::thread::Builder::new()
            .name("lineage-delivery".into())
            .spawn(move || me.run())
            .map_err(|e| format!("cannot start the lineage delivery thread: {e}"))?;
        *d.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok(d)
    }

    /// Appends events to the spool and wakes the delivery.
    pub fn append(&self, lines: &[String]) -> std::io::Result<()> {
        self.spool.append(lines)?;
        let mut s = self.lock();
        s.woken = true;
        self.wake.notify_all();
        Ok(())
    }

    /// Delivers for at most `grace` more, stopping at once if the collector cannot be
    /// reached, and waits for the thread.
    pub fn finish(&self, grace: Duration) -> Delivered {
        {
            let mut s = self.lock();
            s.finishing = Some(Instant::now() + grace);
            self.wake.notify_all();
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        let s = self.lock();
        Delivered {
            url: sluice_op::redact_urls(&self.url),
            sent: s.sent,
            refused: s.refused,
            left: self.spool.backlog().unwrap_or(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `d`, or until woken or told to finish. False once finishing is past its
    /// deadline.
    fn pause(&self, d: Duration) -> bool {
        let mut s = self.lock();
        if let Some(end) = s.finishing {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            drop(s);
            std::thread::sleep(d.min(end - now));
            return true;
        }
        if !s.woken {
            s = self
                .wake
                .wait_timeout(s, d)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        s.woken = false;
        true
    }

    fn finishing(&self) -> bool {
        self.lock().finishing.is_some()
    }

    fn run(&self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            tracing::warn!("lineage: cannot start the delivery runtime");
            return;
        };
        let client = match reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(2)))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("lineage: cannot build the HTTP client: {e}");
                return;
            }
        };
        let shown = sluice_op::redact_urls(&self.url);
        let mut lock = None;
        let mut backoff = Duration::from_millis(250);
        let mut down_since: Option<(Instant, String)> = None;
        loop {
            // One process of the home delivers; the others only append.
            if lock.is_none() {
                match self.spool.try_deliverer() {
                    Ok(Some(f)) => lock = Some(f),
                    Ok(None) => {
                        if self.finishing() || !self.pause(POLL) {
                            return;
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(
                            "lineage: cannot use the spool {}: {e}",
                            self.spool.dir().display()
                        );
                        return;
                    }
                }
            }
            let pending = match self.spool.pending(256) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(
                        "lineage: cannot read the spool {}: {e}",
                        self.spool.dir().display()
                    );
                    return;
                }
            };
            if pending.is_empty() {
                if self.finishing() || !self.pause(POLL) {
                    return;
                }
                continue;
            }
            for Pending { line, end } in pending {
                loop {
                    match runtime.block_on(self.post(&client, &line)) {
                        Outcome::Taken => {
                            if let Some((since, _)) = down_since.take() {
                                tracing::info!(
                                    "lineage: the collector {shown} is back after {}s; sending what waited",
                                    since.elapsed().as_secs()
                                );
                            }
                            self.lock().sent += 1;
                            backoff = Duration::from_millis(250);
                            break;
                        }
                        Outcome::Refused(answer) => {
                            tracing::warn!(
                                "lineage: the collector {shown} refused an event ({answer}); it is kept in {}",
                                self.spool.refused_path().display()
                            );
                            let _ = self.spool.refuse(&line, &answer);
                            self.lock().refused += 1;
                            break;
                        }
                        Outcome::Down(why) if self.finishing() => {
                            tracing::warn!(
                                "lineage: the collector {shown} cannot be reached ({why}); the events wait in {} for the next sluice process",
                                self.spool.dir().display()
                            );
                            return;
                        }
                        Outcome::Busy(why) | Outcome::Down(why) => {
                            if down_since.is_none() {
                                tracing::warn!(
                                    "lineage: the collector {shown} does not take events ({why}); trying again, they wait in {}",
                                    self.spool.dir().display()
                                );
                                down_since = Some((Instant::now(), why));
                            }
                            if !self.pause(backoff) {
                                return;
                            }
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                if let Err(e) = self.spool.delivered(end) {
                    tracing::warn!("lineage: cannot update the spool: {e}");
                    return;
                }
            }
        }
    }

    async fn post(&self, client: &reqwest::Client, line: &str) -> Outcome {
        let mut req = client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .body(line.to_string());
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status();
                if status.is_success() {
                    return Outcome::Taken;
                }
                let body = r.text().await.unwrap_or_default();
                let mut answer = format!("HTTP {status}");
                let body = body.trim();
                if !body.is_empty() {
                    answer.push_str(": ");
                    answer.extend(body.chars().take(300));
                }
                let code = status.as_u16();
                if status.is_server_error() || code == 408 || code == 429 {
                    Outcome::Busy(answer)
                } else {
                    Outcome::Refused(answer)
                }
            }
            Err(e) => Outcome::Down(sluice_datahub::error_text(&e)),
        }
    }
}
