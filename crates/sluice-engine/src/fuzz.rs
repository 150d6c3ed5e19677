//! Fuzzing of what a backfill request sends (`from` and `to` of `POST
//! /api/pipelines/{name}/backfill` and `sluice backfill`): `Schedule::backfill_range` over
//! dates and times valid, out of range (years ±262,144, month 13, 25:00, offsets ±26:00),
//! mutated and arbitrary, on schedules across time-zone changes. No panic; a range is ordered,
//! holds at most `MAX_BACKFILL` slots, exactly those `slots_between` lists; an error names the
//! bound at fault.
//!
//! Driven by `rand` with a seed (`SLUICE_FUZZ_SEED`, else a random one, printed on failure);
//! `SLUICE_FUZZ_CASES` cases (default 256). See docs/fuzzing.md.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::schedule::{MAX_BACKFILL, Schedule};

fn cases() -> usize {
    sluice_core::fuzz_cases() as usize
}

/// Schedules with daily slots, slots every 5 minutes, a slot at a time skipped once a year
/// (02:30 in Paris), a yearly one on 29 February, and zones with midnights that do not exist.
const SCHEDULES: &[(&str, &str)] = &[
    ("0 6 * * *", "Europe/Paris"),
    ("*/5 * * * *", "UTC"),
    ("30 2 * * *", "Europe/Paris"),
    ("0 0 29 2 *", "America/New_York"),
    ("0 0 * * *", "America/Sao_Paulo"),
    ("0 12 * * 1-5", "Pacific/Kiritimati"),
    ("15 0 1 1 *", "Asia/Kolkata"),
];

fn year(rng: &mut StdRng) -> i64 {
    match rng.gen_range(0..4) {
        0 => rng.gen_range(1900..2100),
        1 => rng.gen_range(0..10_000),
        2 => rng.gen_range(-262_145..262_145),
        _ => [-262_145, -262_144, -1, 0, 9999, 10_000, 262_143, 262_144][rng.gen_range(0..8)],
    }
}

/// `YYYY-MM-DD` (signed past four digits), month and day sometimes out of range.
fn date(rng: &mut StdRng) -> String {
    let y = year(rng);
    let (m, d) = (rng.gen_range(0..14), rng.gen_range(0..33));
    if (0..10_000).contains(&y) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:+}-{m:02}-{d:02}")
    }
}

/// An RFC 3339 time, each field sometimes out of range.
fn time(rng: &mut StdRng) -> String {
    let day = date(rng);
    let (h, m, s) = (
        rng.gen_range(0..26),
        rng.gen_range(0..61),
        rng.gen_range(0..62),
    );
    let frac = if rng.gen_bool(0.3) { ".123456789" } else { "" };
    let zone = match rng.gen_range(0..3) {
        0 => "Z".to_string(),
        1 => "z".to_string(),
        _ => format!(
            "{}{:02}:{:02}",
            if rng.gen_bool(0.5) { '+' } else { '-' },
            rng.gen_range(0..26),
            rng.gen_range(0..61)
        ),
    };
    let sep = ['T', 't', ' '][rng.gen_range(0..3)];
    format!("{day}{sep}{h:02}:{m:02}:{s:02}{frac}{zone}")
}

fn any_char(rng: &mut StdRng) -> char {
    const POOL: &[char] = &[
        '0', '1', '9', '-', '+', ':', 'T', 'Z', '.', ' ', '\n', '\0', 'é', '٣', '😀',
    ];
    if rng.gen_bool(0.7) {
        POOL[rng.gen_range(0..POOL.len())]
    } else {
        char::from_u32(rng.gen_range(0..0x11_0000)).unwrap_or('\u{fffd}')
    }
}

/// `s` after a few insertions, deletions, replacements or a cut.
fn mutate(rng: &mut StdRng, s: String) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.gen_range(1..4) {
        let at = rng.gen_range(0..=chars.len());
        match rng.gen_range(0..4) {
            0 => chars.insert(at, any_char(rng)),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = any_char(rng),
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

/// A date 1900–2100 and one 0 to 400 days after it: ranges of a few slots to too many.
fn near(rng: &mut StdRng) -> (String, String) {
    let start = chrono::NaiveDate::from_ymd_opt(rng.gen_range(1900..2100), 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(rng.gen_range(0..366))))
        .unwrap_or_default();
    let end = start
        .checked_add_days(chrono::Days::new(rng.gen_range(0..400)))
        .unwrap_or(start);
    (
        start.format("%Y-%m-%d").to_string(),
        end.format("%Y-%m-%d").to_string(),
    )
}

fn bound(rng: &mut StdRng) -> String {
    match rng.gen_range(0..5) {
        0 => date(rng),
        1 => time(rng),
        2 => {
            let d = date(rng);
            mutate(rng, d)
        }
        3 => {
            let t = time(rng);
            mutate(rng, t)
        }
        _ => (0..rng.gen_range(0..30)).map(|_| any_char(rng)).collect(),
    }
}

/// What must hold for `from`..`to` on `schedule`.
fn check(schedule: &Schedule, what: &str, from: &str, to: &str) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        schedule.backfill_range(from, to, ("from", "to"))
    }));
    let Ok(result) = result else {
        panic!("backfill_range panicked: {what}, from {from:?} to {to:?}");
    };
    match result {
        Ok((start, end, slots)) => {
            assert!(start <= end, "{what} {from:?} {to:?}");
            assert!(slots <= MAX_BACKFILL, "{what} {from:?} {to:?}");
            let listed = schedule.slots_between(start, end, MAX_BACKFILL + 1);
            assert_eq!(listed.len(), slots, "{what} {from:?} {to:?}");
            assert!(
                listed.windows(2).all(|w| w[0] < w[1])
                    && listed.iter().all(|s| (start..=end).contains(s)),
                "{what} {from:?} {to:?}: {listed:?}"
            );
        }
        Err(m) => assert!(
            m.starts_with("from: `")
                || m.starts_with("to: `")
                || m.starts_with("the range ends (")
                || m.starts_with(&format!("more than {MAX_BACKFILL} slots from ")),
            "{what} {from:?} {to:?}: {m}"
        ),
    }
}

#[test]
fn fuzz_backfill_range() {
    let seed = std::env::var("SLUICE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let mut rng = StdRng::seed_from_u64(seed);
    let schedules: Vec<(String, Schedule)> = SCHEDULES
        .iter()
        .map(|(expr, tz)| {
            let s = Schedule::new(expr, tz).expect("a valid schedule");
            (format!("`{expr}` in {tz} (SLUICE_FUZZ_SEED={seed})"), s)
        })
        .collect();
    // The ends of chrono's range and the edges of the formats, on every schedule.
    let edges = [
        ("-262144-01-01", "+262143-12-31"),
        ("+262143-12-31", "+262143-12-31"),
        ("-262144-01-01", "-262144-01-01"),
        ("+262143-12-31T23:59:59Z", "+262143-12-31"),
        ("0000-01-01", "0000-01-01"),
        ("9999-12-31T23:59:60Z", "9999-12-31T23:59:59+23:59"),
        ("2026-03-29", "2026-03-29"),
        ("2026-10-25", "2026-10-25"),
        ("", ""),
    ];
    for (what, s) in &schedules {
        for (from, to) in edges {
            check(s, what, from, to);
        }
    }
    for _ in 0..cases() {
        let (what, s) = &schedules[rng.gen_range(0..schedules.len())];
        let (from, to) = if rng.gen_bool(0.3) {
            near(&mut rng)
        } else {
            (bound(&mut rng), bound(&mut rng))
        };
        check(s, what, &from, &to);
    }
}
