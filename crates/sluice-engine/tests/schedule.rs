//! The scheduler against a real store (SQLite): the slots of a schedule are claimed once, a
//! restart (a new scheduler on the same store) neither repeats nor forgets one, and the
//! catch-up policy decides what happens to the slots missed while stopped.

mod common;

use sluice_core::Pipeline;
use sluice_engine::schedule::{Due, Schedule, Scheduler};
use sluice_store::{Micros, SlotState};

const SEC: Micros = 1_000_000;
const MIN: Micros = 60 * SEC;

fn at(s: &str) -> Micros {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("time")
        .timestamp_micros()
}

fn pipeline(name: &str, catchup: &str) -> (Pipeline, Schedule) {
    let yaml = format!(
        "name: {name}\nschedule: \"* * * * *\"\ncatchup: {catchup}\nmax_active_runs: 2\n\
         tasks:\n  a: {{ op: noop }}\n"
    );
    let p = common::parse(&yaml, std::path::Path::new("p.yaml"), &[]);
    let s = Schedule::of(&p).expect("valid").expect("scheduled");
    (p, s)
}

fn slots(due: &[Due]) -> Vec<Micros> {
    due.iter().map(|d| d.slot).collect()
}

#[tokio::test]
async fn a_restart_neither_repeats_nor_forgets_a_slot() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = common::sqlite(dir.path()).await;
    let (p, s) = pipeline("every_minute", "all");
    let t0 = at("2026-11-22T10:00:30Z");

    // A server ticks every second from 10:00:30 to 10:03:10.
    let first = Scheduler::new(store.clone());
    let mut claimed = Vec::new();
    let mut t = t0;
    while t <= at("2026-11-22T10:03:10Z") {
        claimed.extend(first.tick(&p, &s, t, 2).await.expect("tick"));
        t += SEC;
    }
    let minute = |m: i64| at("2026-11-22T10:00:00Z") + m * MIN;
    assert_eq!(slots(&claimed), [minute(1), minute(2), minute(3)]);
    // A second server on the same store at the same moment claims nothing.
    let other = Scheduler::new(store.clone());
    assert!(
        other
            .tick(&p, &s, at("2026-11-22T10:03:10Z"), 2)
            .await
            .expect("tick")
            .is_empty()
    );

    // Stopped until 10:07:20. Under `all`, 10:04 … 10:07 run, two at a time.
    let second = Scheduler::new(store.clone());
    let now = at("2026-11-22T10:07:20Z");
    let a = second.tick(&p, &s, now, 2).await.expect("tick");
    assert_eq!(slots(&a), [minute(4), minute(5)]);
    assert!(second.tick(&p, &s, now, 0).await.expect("full").is_empty());
    let b = second.tick(&p, &s, now + SEC, 2).await.expect("tick");
    assert_eq!(slots(&b), [minute(6), minute(7)]);
    let c = second
        .tick(&p, &s, at("2026-11-22T10:08:00.2Z"), 2)
        .await
        .expect("tick");
    assert_eq!(slots(&c), [minute(8)]);
    claimed.extend(a.into_iter().chain(b).chain(c));

    // The record: the start, then every minute from 10:01 to 10:08 once, each with its run.
    let mut recorded = store.slots("every_minute", 0).await.expect("slots");
    recorded.reverse();
    assert_eq!(recorded[0].state, SlotState::Start);
    assert_eq!(recorded[0].slot, t0);
    let runs: Vec<(Micros, Option<String>)> = recorded[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.state, SlotState::Run);
            (r.slot, r.run_id.clone())
        })
        .collect();
    let want: Vec<(Micros, Option<String>)> = claimed
        .iter()
        .map(|d| (d.slot, Some(d.run_id.clone())))
        .collect();
    assert_eq!(runs, want);
    assert_eq!(
        slots(&claimed),
        (1..=8).map(minute).collect::<Vec<_>>(),
        "every slot once"
    );
    let mut ids: Vec<&String> = claimed.iter().map(|d| &d.run_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "one run id per slot");

    // None of these runs was started: after a crash between claim and run they are owed.
    assert_eq!(
        second.unstarted("every_minute").await.expect("owed"),
        claimed
    );
}

#[tokio::test]
async fn latest_runs_the_newest_missed_slot_and_records_the_others_as_skipped() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = common::sqlite(dir.path()).await;
    let (p, s) = pipeline("latest_only", "latest");
    let sched = Scheduler::new(store.clone());
    assert!(
        sched
            .tick(&p, &s, at("2026-11-22T10:00:30Z"), 1)
            .await
            .expect("start")
            .is_empty()
    );
    // Stopped until 10:05:40: 10:01 … 10:04 skipped, 10:05 runs.
    let due = sched
        .tick(&p, &s, at("2026-11-22T10:05:40Z"), 1)
        .await
        .expect("tick");
    assert_eq!(slots(&due), [at("2026-11-22T10:05:00Z")]);
    let recorded = store.slots("latest_only", 2).await.expect("slots");
    assert_eq!(
        recorded
            .iter()
            .map(|r| (r.slot, r.state, r.skipped))
            .collect::<Vec<_>>(),
        [
            (at("2026-11-22T10:05:00Z"), SlotState::Run, 1),
            (at("2026-11-22T10:04:00Z"), SlotState::Skipped, 4)
        ]
    );
    // A run still going (no free place): the next slot waits, it is not skipped.
    assert!(
        sched
            .tick(&p, &s, at("2026-11-22T10:06:10Z"), 0)
            .await
            .expect("busy")
            .is_empty()
    );
    let due = sched
        .tick(&p, &s, at("2026-11-22T10:06:50Z"), 1)
        .await
        .expect("free again");
    assert_eq!(slots(&due), [at("2026-11-22T10:06:00Z")]);
}
