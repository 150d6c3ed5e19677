//! The scheduler: which slots of a pipeline's `schedule` are due, what its catch-up policy does
//! with the slots missed while no server ran, and the claim of each slot in the store before
//! its run starts, so that a slot never runs twice (not after a restart, not with two servers
//! on one store) and none is forgotten: every slot is either run, recorded as skipped by the
//! policy, or still to come.
//!
//! [`plan`] is the arithmetic (pure, given the time); [`Scheduler::tick`] applies it to the
//! store. The server calls `tick` for each scheduled pipeline about once a second.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use sluice_core::{CatchUp, Pipeline};
use sluice_store::{Micros, SlotRecord, SlotState, StateStore, StoreError};

/// A slot the scheduler sees later than this after its time was missed (no server ran then);
/// sooner, it is on time. Policy `none` runs on-time slots only.
pub const ON_TIME_MICROS: Micros = 60_000_000;

/// At most this many missed slots are run by one catch-up (policy `all`); older ones are
/// recorded as skipped.
pub const MAX_CATCH_UP: usize = 1_000;

/// A pipeline's schedule: its cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    tz: chrono_tz::Tz,
}

impl Schedule {
    /// The schedule of `pipeline`, if it has one (validated with the pipeline; UTC when no
    /// `timezone` is given).
    pub fn of(pipeline: &Pipeline) -> Result<Option<Schedule>, String> {
        let Some(expr) = &pipeline.schedule else {
            return Ok(None);
        };
        Schedule::new(expr, pipeline.timezone.as_deref().unwrap_or("UTC")).map(Some)
    }

    /// A schedule from a 5-field cron expression and an IANA time zone.
    pub fn new(expr: &str, timezone: &str) -> Result<Schedule, String> {
        let cron = croner::Cron::new(expr)
            .parse()
            .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))?;
        let tz = chrono_tz::Tz::from_str(timezone)
            .map_err(|_| format!("unknown time zone `{timezone}`"))?;
        Ok(Schedule { cron, tz })
    }

    /// The parameters a run for `slot` gets, among those `pipeline` declares: `slot` (the
    /// slot's time, RFC 3339 in the schedule's time zone) and `slot_date` (its date there,
    /// `YYYY-MM-DD`): Airflow's logical date, so that a run (and a backfill) works on its
    /// own period.
    pub fn slot_params(&self, pipeline: &Pipeline, slot: Micros) -> Vec<(String, String)> {
        let Some(at) = micros_to_utc(slot).map(|t| t.with_timezone(&self.tz)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if pipeline.params.contains_key("slot") {
            out.push(("slot".to_string(), at.to_rfc3339()));
        }
        if pipeline.params.contains_key("slot_date") {
            out.push(("slot_date".to_string(), at.format("%Y-%m-%d").to_string()));
        }
        out
    }

    /// A time given as RFC 3339 (`2026-11-01T06:00:00+01:00`) or as a date (`2026-11-01`: its
    /// start in the schedule's time zone, or its end when `end_of_day`).
    pub fn parse_time(&self, text: &str, end_of_day: bool) -> Result<Micros, String> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(t.timestamp_micros());
        }
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("`{text}` is neither a date (2026-11-01) nor an RFC 3339 time"))?;
        let day = if end_of_day {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        let midnight = day
            .and_hms_opt(0, 0, 0)
            .and_then(|t| self.tz.from_local_datetime(&t).earliest())
            .ok_or_else(|| format!("`{text}` has no midnight in {}", self.tz.name()))?;
        Ok(midnight.timestamp_micros() - i64::from(end_of_day))
    }

    /// The range of a backfill from `from` to `to` (as [`Schedule::parse_time`] reads them;
    /// `labels` name the two bounds in messages, `from`/`--from`): its start, its end and
    /// its slot count, or why it cannot be backfilled (a bound unreadable, the range
    /// reversed, more than [`MAX_BACKFILL`] slots).
    pub fn backfill_range(
        &self,
        from: &str,
        to: &str,
        labels: (&str, &str),
    ) -> Result<(Micros, Micros, usize), String> {
        let start = self
            .parse_time(from, false)
            .map_err(|e| format!("{}: {e}", labels.0))?;
        let end = self
            .parse_time(to, true)
            .map_err(|e| format!("{}: {e}", labels.1))?;
        if end < start {
            return Err(format!("the range ends ({to}) before it starts ({from})"));
        }
        let slots = self.slots_between(start, end, MAX_BACKFILL + 1).len();
        if slots > MAX_BACKFILL {
            return Err(format!(
                "more than {MAX_BACKFILL} slots from {from} to {to}: a backfill runs at most \
                 {MAX_BACKFILL}; split the range"
            ));
        }
        Ok((start, end, slots))
    }

    /// The slots from `from` to `to`, both included, at most `limit`.
    pub fn slots_between(&self, from: Micros, to: Micros, limit: usize) -> Vec<Micros> {
        let mut out = Vec::new();
        let mut t = from - 1;
        while out.len() < limit {
            match self.next_after(t) {
                Some(next) if next <= to => {
                    out.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        out
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: Micros) -> Option<Micros> {
        let at = self.tz.from_utc_datetime(&micros_to_utc(t)?.naive_utc());
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        Some(next.with_timezone(&Utc).timestamp_micros())
    }
}

fn micros_to_utc(t: Micros) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(t)
}

/// What to do now with a pipeline's slots since the last one recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Slots to run, oldest first.
    pub run: Vec<Micros>,
    /// Slots the policy skips: the latest of them and how many.
    pub skip: Option<(Micros, u64)>,
    /// The first slot after now.
    pub next: Option<Micros>,
}

/// The plan at `now` for the slots of `schedule` after `last` (the latest slot recorded).
pub fn plan(schedule: &Schedule, last: Micros, now: Micros, policy: CatchUp) -> Plan {
    // The due slots, oldest first; past MAX_CATCH_UP only the newest are kept as slots, the
    // older ones counted.
    let mut due: std::collections::VecDeque<Micros> = std::collections::VecDeque::new();
    let mut dropped: Option<(Micros, u64)> = None;
    let mut at = last;
    while let Some(slot) = schedule.next_after(at).filter(|s| *s <= now) {
        due.push_back(slot);
        if due.len() > MAX_CATCH_UP
            && let Some(old) = due.pop_front()
        {
            let n = dropped.map_or(0, |d| d.1);
            dropped = Some((old, n + 1));
        }
        at = slot;
    }
    let next = schedule.next_after(now);
    let Some(&latest) = due.back() else {
        return Plan {
            next,
            ..Plan::default()
        };
    };
    let run: Vec<Micros> = match policy {
        CatchUp::All => due.iter().copied().collect(),
        CatchUp::Latest => vec![latest],
        CatchUp::None if now - latest <= ON_TIME_MICROS => vec![latest],
        CatchUp::None => Vec::new(),
    };
    let skipped_here = due.len() - run.len();
    let skip = match (dropped, skipped_here) {
        (None, 0) => None,
        (dropped, n) => {
            // The newest skipped slot: just before the first one run, or the last due.
            let newest = if n > 0 {
                due[n - 1]
            } else {
                dropped.map_or(latest, |d| d.0)
            };
            Some((newest, dropped.map_or(0, |d| d.1) + n as u64))
        }
    };
    Plan { run, skip, next }
}

/// A slot claimed for a run: the run must now be started with this id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The slot's time.
    pub slot: Micros,
    /// The id the run must have.
    pub run_id: String,
}

/// The name under which the claims of a backfill of `pipeline` are kept in the store's
/// schedule slots (apart from its cron slots).
pub fn backfill_claims(pipeline: &str) -> String {
    format!("{pipeline} backfill")
}

/// At most this many slots in one backfill.
pub const MAX_BACKFILL: usize = 1_000;

/// A run claimed for new versions of datasets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetDue {
    /// The id the run must have.
    pub run_id: String,
    /// The datasets and their new versions.
    pub datasets: Vec<(String, String)>,
}

/// The name under which the claims of `pipeline`'s runs for new versions of `dataset` are
/// kept in the store's schedule slots (apart from its cron slots).
pub fn dataset_claims(pipeline: &str, dataset: &str) -> String {
    format!("{pipeline} <- {dataset}")
}

/// Applies schedules to the store.
#[derive(Clone)]
pub struct Scheduler {
    store: Arc<dyn StateStore>,
}

impl Scheduler {
    /// A scheduler recording in `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Scheduler {
        Scheduler { store }
    }

    /// At `now`: records the slots of `pipeline` that its policy skips and claims those to
    /// run, at most `free` (its `max_active_runs` less its active runs), oldest first. The
    /// slots left unclaimed stay due for the next tick. The first tick of a schedule records
    /// its start: slots before it are not the scheduler's.
    pub async fn tick(
        &self,
        pipeline: &Pipeline,
        schedule: &Schedule,
        now: Micros,
        free: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let record = |slot: Micros, state: SlotState, run_id: Option<String>, n: u64| SlotRecord {
            pipeline: pipeline.name.clone(),
            slot,
            state,
            run_id,
            skipped: n,
            recorded_at: now,
        };
        let Some(last) = self.store.slots(&pipeline.name, 1).await?.pop() else {
            self.store
                .claim_slot(&record(now, SlotState::Start, None, 0))
                .await?;
            return Ok(Vec::new());
        };
        let plan = plan(schedule, last.slot, now, pipeline.catchup);
        // A policy skips only once the slots it would run instead can be claimed: a slot
        // waiting for a free place is not skipped meanwhile.
        if free == 0 && !plan.run.is_empty() {
            return Ok(Vec::new());
        }
        if let Some((slot, n)) = plan.skip {
            self.store
                .claim_slot(&record(slot, SlotState::Skipped, None, n))
                .await?;
        }
        let mut claimed = Vec::new();
        for slot in plan.run.into_iter().take(free) {
            let run_id = crate::new_run_id();
            if self
                .store
                .claim_slot(&record(slot, SlotState::Run, Some(run_id.clone()), 1))
                .await?
            {
                claimed.push(Due { slot, run_id });
            }
        }
        Ok(claimed)
    }

    /// At `now`: when a dataset `pipeline` runs on (`on_new_version`) has a version that
    /// became latest after the one last seen, claims one run for all such datasets (each
    /// version once, under [`dataset_claims`]), if `free` allows. The first look at a
    /// dataset records the moment: versions made before it are not new.
    pub async fn tick_datasets(
        &self,
        pipeline: &Pipeline,
        now: Micros,
        free: usize,
    ) -> Result<Option<DatasetDue>, StoreError> {
        if pipeline.on_new_version.is_empty() || free == 0 {
            return Ok(None);
        }
        let run_id = crate::new_run_id();
        let mut new = Vec::new();
        for name in &pipeline.on_new_version {
            let key = dataset_claims(&pipeline.name, name);
            let record = |slot: Micros, state: SlotState, run_id: Option<String>| SlotRecord {
                pipeline: key.clone(),
                slot,
                state,
                run_id,
                skipped: 1,
                recorded_at: now,
            };
            let Some(last) = self.store.slots(&key, 1).await?.pop() else {
                self.store
                    .claim_slot(&record(now, SlotState::Start, None))
                    .await?;
                continue;
            };
            let Some((p, t)) = name.split_once('.') else {
                continue;
            };
            let Some(version) = self
                .store
                .latest_datasets(Some(p))
                .await?
                .into_iter()
                .find(|d| d.task == t)
            else {
                continue;
            };
            let at = version.latest_since.unwrap_or(version.created_at);
            if at > last.slot
                && self
                    .store
                    .claim_slot(&record(at, SlotState::Run, Some(run_id.clone())))
                    .await?
            {
                new.push((name.clone(), version.version));
            }
        }
        Ok((!new.is_empty()).then_some(DatasetDue {
            run_id,
            datasets: new,
        }))
    }

    /// Claims a run for each slot of `schedule` from `from` to `to` (both included; at most
    /// [`MAX_BACKFILL`]) under [`backfill_claims`], except slots a backfill already claimed.
    /// The runs start later, within `max_active_runs`, oldest first
    /// ([`Scheduler::unstarted_backfill`]); the claims make that survive a restart.
    pub async fn backfill(
        &self,
        pipeline: &Pipeline,
        schedule: &Schedule,
        from: Micros,
        to: Micros,
        now: Micros,
    ) -> Result<Vec<Due>, StoreError> {
        let key = backfill_claims(&pipeline.name);
        let mut claimed = Vec::new();
        for slot in schedule.slots_between(from, to, MAX_BACKFILL) {
            let run_id = crate::new_run_id();
            let record = SlotRecord {
                pipeline: key.clone(),
                slot,
                state: SlotState::Run,
                run_id: Some(run_id.clone()),
                skipped: 1,
                recorded_at: now,
            };
            if self.store.claim_slot(&record).await? {
                claimed.push(Due { slot, run_id });
            }
        }
        Ok(claimed)
    }

    /// The backfill runs of `pipeline` claimed but not started yet, oldest slot first.
    pub async fn unstarted_backfill(&self, pipeline: &str) -> Result<Vec<Due>, StoreError> {
        self.unstarted_within(&backfill_claims(pipeline), MAX_BACKFILL * 10)
            .await
    }

    /// Runs claimed for new dataset versions of `pipeline` that never started (the server
    /// stopped between the claim and the run), oldest first, each once.
    pub async fn unstarted_for_datasets(
        &self,
        pipeline: &Pipeline,
    ) -> Result<Vec<String>, StoreError> {
        let mut owed: Vec<String> = Vec::new();
        for name in &pipeline.on_new_version {
            for due in self
                .unstarted(&dataset_claims(&pipeline.name, name))
                .await?
            {
                if !owed.contains(&due.run_id) {
                    owed.push(due.run_id);
                }
            }
        }
        Ok(owed)
    }

    /// Slots of `pipeline` claimed for a run that never started (the server stopped between
    /// the claim and the run): they are still owed.
    pub async fn unstarted(&self, pipeline: &str) -> Result<Vec<Due>, StoreError> {
        self.unstarted_within(pipeline, 100).await
    }

    /// [`Scheduler::unstarted`] among the latest `limit` claims of `key`, oldest first.
    async fn unstarted_within(&self, key: &str, limit: usize) -> Result<Vec<Due>, StoreError> {
        let mut owed = Vec::new();
        for s in self.store.slots(key, limit).await? {
            if let (SlotState::Run, Some(run_id)) = (s.state, &s.run_id)
                && self.store.run(run_id).await?.is_none()
            {
                owed.push(Due {
                    slot: s.slot,
                    run_id: run_id.clone(),
                });
            }
        }
        owed.reverse();
        Ok(owed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Micros = 60_000_000;

    fn at(s: &str) -> Micros {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .timestamp_micros()
    }

    #[test]
    fn slots_follow_the_cron_in_its_time_zone() {
        let daily = Schedule::new("0 6 * * *", "Europe/Paris").expect("schedule");
        // 06:00 in Paris is 05:00 UTC in winter and 04:00 UTC in summer.
        assert_eq!(
            daily.next_after(at("2026-11-21T12:00:00Z")),
            Some(at("2026-11-22T05:00:00Z"))
        );
        assert_eq!(
            daily.next_after(at("2026-06-21T12:00:00Z")),
            Some(at("2026-06-22T04:00:00Z"))
        );
        // The slot itself is not after itself.
        assert_eq!(
            daily.next_after(at("2026-11-22T05:00:00Z")),
            Some(at("2026-11-23T05:00:00Z"))
        );
        assert_eq!(
            Schedule::new("0 6 * * *", "Mars/Olympus").expect_err("zone"),
            "unknown time zone `Mars/Olympus`"
        );
    }

    #[test]
    fn catch_up_policies_run_or_skip_the_missed_slots() {
        let every = Schedule::new("* * * * *", "UTC").expect("schedule");
        let last = at("2026-11-22T10:00:00Z");
        // On time: the one due slot runs, whatever the policy.
        let now = at("2026-11-22T10:01:00.500Z");
        for policy in [CatchUp::None, CatchUp::Latest, CatchUp::All] {
            let p = plan(&every, last, now, policy);
            assert_eq!(p.run, vec![last + MIN], "{policy:?}");
            assert_eq!(p.skip, None);
            assert_eq!(p.next, Some(last + 2 * MIN));
        }
        // Nothing due yet.
        let p = plan(&every, last, last + MIN - 1, CatchUp::All);
        assert_eq!((p.run.len(), p.skip, p.next), (0, None, Some(last + MIN)));

        // Ten minutes stopped: 10:01 … 10:10 missed, now 10:10:30.
        let now = at("2026-11-22T10:10:30Z");
        let p = plan(&every, last, now, CatchUp::All);
        assert_eq!(p.run, (1..=10).map(|i| last + i * MIN).collect::<Vec<_>>());
        assert_eq!(p.skip, None);
        let p = plan(&every, last, now, CatchUp::Latest);
        assert_eq!(p.run, vec![last + 10 * MIN]);
        assert_eq!(p.skip, Some((last + 9 * MIN, 9)));
        // `none`: 10:10 is 30 s late, still on time; 10:01 … 10:09 are skipped.
        let p = plan(&every, last, now, CatchUp::None);
        assert_eq!(p.run, vec![last + 10 * MIN]);
        assert_eq!(p.skip, Some((last + 9 * MIN, 9)));
        // `none`, hourly, at 12:30: 11:00 and 12:00 are late, both skipped.
        let hourly = Schedule::new("0 * * * *", "UTC").expect("schedule");
        let p = plan(&hourly, last, at("2026-11-22T12:30:00Z"), CatchUp::None);
        assert_eq!(p.run, Vec::<Micros>::new());
        assert_eq!(p.skip, Some((at("2026-11-22T12:00:00Z"), 2)));
        assert_eq!(p.next, Some(at("2026-11-22T13:00:00Z")));

        // A long stop under `all`: the newest MAX_CATCH_UP slots run, the older are skipped.
        let now = last + (MAX_CATCH_UP as Micros + 5) * MIN;
        let p = plan(&every, last, now, CatchUp::All);
        assert_eq!(p.run.len(), MAX_CATCH_UP);
        assert_eq!(p.run[0], last + 6 * MIN);
        assert_eq!(p.skip, Some((last + 5 * MIN, 5)));
    }
}
