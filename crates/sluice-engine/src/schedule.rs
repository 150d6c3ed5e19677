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

    /// Slots of `pipeline` claimed for a run that never started (the server stopped between
    /// the claim and the run): they are still owed.
    pub async fn unstarted(&self, pipeline: &str) -> Result<Vec<Due>, StoreError> {
        let mut owed = Vec::new();
        for s in self.store.slots(pipeline, 100).await? {
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
