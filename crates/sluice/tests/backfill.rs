//! `sluice backfill`: every slot of a range runs once, here, with its date; asking again runs
//! nothing.

mod common;

use common::{Project, YEARLY, text};

#[test]
fn a_backfill_runs_each_slot_of_the_range_once_with_its_date() {
    let p = Project::new(YEARLY);
    let args = [
        "backfill",
        "pipeline.yaml",
        "--from",
        "2020-01-01",
        "--to",
        "2021-12-31",
    ];
    let out = p.run_ok(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "backfill of yearly: 2 slots from 2020-01-01 to 2021-12-31, 2 to run (0 claimed before)"
        ),
        "{}",
        text(&out)
    );
    assert!(
        err.contains("slot 2019-12-31T23:00:00+00:00: run "),
        "midnight in Paris: {}",
        text(&out)
    );
    let runs = p.json(&["runs", "--json"]);
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    let mut logs: Vec<String> = runs
        .iter()
        .map(|r| {
            assert_eq!(r["trigger"], "backfill");
            assert_eq!(r["state"], "succeeded");
            let id = r["id"].as_str().expect("id");
            String::from_utf8_lossy(&p.run_ok(&["logs", id, "a"]).stdout).to_string()
        })
        .collect();
    logs.sort();
    assert_eq!(logs, ["year of 2020-01-01\n", "year of 2021-01-01\n"]);

    // Again: every slot was claimed, nothing runs.
    let out = p.run_ok(&args);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("2 slots from 2020-01-01 to 2021-12-31, 0 to run (2 claimed before)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        p.json(&["runs", "--json"]).as_array().map(Vec::len),
        Some(2)
    );

    // A reversed range, and a pipeline without a schedule.
    let out = p.sluice(&[
        "backfill",
        "pipeline.yaml",
        "--from",
        "2021-01-01",
        "--to",
        "2020-01-01",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: the range ends (2020-01-01) before it starts (2021-01-01)"
    );
    std::fs::write(
        p.path("plain.yaml"),
        "name: plain\ntasks:\n  a: { run: \"true\" }\n",
    )
    .expect("plain");
    let out = p.sluice(&[
        "backfill",
        "plain.yaml",
        "--from",
        "2020-01-01",
        "--to",
        "2020-01-02",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: pipeline `plain` has no schedule: a backfill runs the slots of a schedule"
    );
}
