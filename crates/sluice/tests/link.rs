//! `link` and `link.clusters` end to end: FEBRL 1, 3 and 4 (../shared/febrl) reach their F1
//! without labels; every blocking rule kind adds its pairs once; bad input gets clear errors;
//! `sluice link explain` shows why a pair scores what it does.

mod common;

use std::path::PathBuf;

use common::{Project, metrics, text};
use serde_json::Value;

fn febrl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/febrl")
}

fn example() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/record_linkage/pipeline.yaml");
    std::fs::read_to_string(path).expect("example pipeline")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {v:#}"))
}

#[test]
fn febrl_links_and_duplicates_are_found_without_labels() {
    let data = febrl();
    assert!(
        data.join("dataset4a.csv").is_file(),
        "FEBRL data missing at {}",
        data.display()
    );
    let p = Project::new(&example());
    let data_param = format!("data={}", data.display());
    p.run_ok(&["run", "pipeline.yaml", "-p", &data_param]);
    let run = p.last_run_id();

    // FEBRL4: 5,000 originals linked to their 5,000 duplicates.
    let m4 = metrics(&p, &run, "febrl4_links");
    assert_eq!(m4["records_left"], 5000);
    assert_eq!(m4["records_right"], 5000);
    assert_eq!(m4["true_pairs"], 5000);
    assert_eq!(m4["candidate_pairs"], 191261, "{m4:#}");
    let added: Vec<(String, u64)> = m4["blocking"]
        .as_array()
        .expect("blocking counters")
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap_or("").to_string(),
                r["pairs"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(added.iter().map(|r| r.1).sum::<u64>(), 191261);
    assert_eq!(added[0].0, "on [given_name]");
    assert_eq!(added[5].0, "on soundex([surname])");
    assert!(f(&m4, "f1") >= 0.99, "FEBRL4 F1 {m4:#}");
    assert!(
        f(&m4, "precision") >= 0.99 && f(&m4, "recall") >= 0.99,
        "{m4:#}"
    );
    let curve = m4["threshold_curve"].as_array().expect("curve");
    assert_eq!(curve.len(), 15);
    // Recall can only fall as the threshold rises.
    for w in curve.windows(2) {
        assert!(f(&w[0], "recall") >= f(&w[1], "recall"), "{curve:?}");
    }

    // FEBRL1 (500 duplicates of 500 records) and FEBRL3 (3,000 of 2,000, up to 5 each).
    let m1 = metrics(&p, &run, "febrl1_pairs");
    assert_eq!(
        (m1["records_left"].as_u64(), m1["true_pairs"].as_u64()),
        (Some(1000), Some(500))
    );
    assert!(f(&m1, "f1") >= 0.95, "FEBRL1 F1 {m1:#}");
    let m3 = metrics(&p, &run, "febrl3_pairs");
    assert_eq!(
        (m3["records_left"].as_u64(), m3["true_pairs"].as_u64()),
        (Some(5000), Some(6538))
    );
    assert!(f(&m3, "f1") >= 0.90, "FEBRL3 F1 {m3:#}");

    // The pairs dataset holds the links, with why.
    let pairs = p.json(&[
        "sql",
        "select count(*) as n, min(probability) as p, sum(case when true_match then 1 else 0 end) as t \
         from record_linkage.febrl4_links",
        "--format",
        "json",
    ]);
    let row = &pairs[0];
    assert_eq!(row["n"].as_u64(), m4["links"].as_u64(), "{pairs}");
    assert!(f(row, "p") >= 0.9);
    let row = &p.json(&[
        "sql",
        "select soc_sec_id_level, soc_sec_id_weight, rule from record_linkage.febrl4_links \
         where id_l = 'rec-1-org'",
        "--format",
        "json",
    ])[0];
    assert_eq!(row["soc_sec_id_level"], "exact");
    assert!(f(row, "soc_sec_id_weight") > 5.0);
    assert_eq!(row["rule"], "on [given_name]");

    // Clusters: every record once; FEBRL4's pairs make clusters of two.
    let c4 = metrics(&p, &run, "febrl4_clusters");
    assert_eq!(c4["records"], 10000);
    let sizes = p.json(&[
        "sql",
        "select cluster_size, count(*) as n from record_linkage.febrl4_clusters \
         group by cluster_size order by cluster_size",
        "--format",
        "json",
    ]);
    let total: u64 = sizes
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["n"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 10000, "{sizes}");
    assert!(
        sizes
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["cluster_size"] == 2 && r["n"].as_u64() >= Some(9900)),
        "{sizes}"
    );
    let one = p.json(&[
        "sql",
        "select cluster_id, cluster_size from record_linkage.febrl4_clusters where id = 'rec-1-dup-0'",
        "--format",
        "json",
    ]);
    assert_eq!(one[0]["cluster_id"], "rec-1-dup-0", "{one}");
    assert_eq!(one[0]["cluster_size"], 2, "{one}");

    // Explain: the levels and weights of one pair.
    let out = p.run_ok(&[
        "link",
        "explain",
        "record_linkage.febrl4_links",
        "rec-1-org",
        "rec-1-dup-0",
    ]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("soc_sec_id     6653129     6653129     exact"),
        "{shown}"
    );
    assert!(
        shown.contains("address_1      pike place  pike mlace  jaro_winkler >= 0.94"),
        "{shown}"
    );
    assert!(shown.contains("linked (threshold 0.9)"), "{shown}");
    let e = p.json(&[
        "link",
        "explain",
        "record_linkage.febrl4_links",
        "rec-1-org",
        "rec-2-dup-0",
        "--json",
    ]);
    assert_eq!(e["linked"], false);
    assert_eq!(e["rules"], serde_json::json!([]));
    let sum: f64 = e["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|x| f(x, "weight"))
        .sum();
    assert!(
        (sum + f(&e, "prior_weight") - f(&e, "match_weight")).abs() < 1e-9,
        "{e:#}"
    );
    let out = p.sluice(&[
        "link",
        "explain",
        "record_linkage.febrl4_links",
        "rec-1-org",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: record_linkage.febrl4_links: no record with rec_id `nope` in `febrl4b`"
    );
}

const PEOPLE: &str = "id,name,city,zip
1,smith,paris,75001
2,smyth,paris,75002
3,smith,lyon,69001
4,jones,lyon,69002
5,jonas,nice,06000
6,brown,nice,06001
";

fn dedup(blocking: &str, extra: &str) -> String {
    format!(
        r#"
name: people
tasks:
  people: {{ op: read.csv, path: people.csv, infer: false }}
  pairs:
    op: link
    input: people
    id: id
    blocking: {blocking}
    compare:
      name: {{ method: jaro_winkler, levels: [0.9] }}
      city: {{ method: exact }}
    threshold: 0.5
{extra}
"#
    )
}

#[test]
fn each_blocking_rule_kind_adds_only_the_pairs_no_earlier_rule_found() {
    let p = Project::new(&dedup(
        r#"
      - on: [name]
      - { on: [zip], prefix: 2 }
      - { on: [name], phonetic: soundex }
      - { sorted: name, window: 2 }
      - sql: "l.city = 'paris' and r.city = 'nice'""#,
        "",
    ));
    std::fs::write(p.path("people.csv"), PEOPLE).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "pairs");
    let counts: Vec<(&str, u64)> = m["blocking"]
        .as_array()
        .expect("blocking")
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap_or(""),
                r["pairs"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("on [name]", 1),            // (1,3)
            ("on [zip] prefix 2", 3),    // (1,2) (3,4) (5,6)
            ("on soundex([name])", 2),   // (2,3) (4,5)
            ("sorted name window 2", 1), // (1,4): jones next to smith
            ("sql: l.city = 'paris' and r.city = 'nice'", 4),
        ]
    );
    assert_eq!(m["candidate_pairs"], 11);
}

#[test]
fn a_list_of_true_pairs_scores_the_links() {
    // The true pairs by id, in either order; one names a record that does not exist.
    let p = Project::new(&format!(
        "{}  known: {{ op: read.csv, path: known.csv, infer: false }}\n",
        dedup(
            "[ { on: [name] }, { on: [zip], prefix: 2 } ]",
            "    truth: { pairs: known, left: a, right: b }"
        )
    ));
    std::fs::write(p.path("people.csv"), PEOPLE).expect("csv");
    std::fs::write(p.path("known.csv"), "a,b\n1,2\n4,3\n1,99\n").expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "pairs");
    // Candidates: (1,3) by name; (1,2) (3,4) (5,6) by zip prefix.
    assert_eq!(m["candidate_pairs"], 4, "{m:#}");
    assert_eq!(m["true_pairs"], 2, "{m:#}");
    let all = p.json(&[
        "sql",
        "select id_l, id_r, true_match from people.pairs order by id_l, id_r",
        "--format",
        "json",
    ]);
    let links = m["links"].as_u64().unwrap_or(0);
    assert_eq!(all.as_array().map(Vec::len), Some(links as usize), "{all}");
    for row in all.as_array().into_iter().flatten() {
        let pair = (row["id_l"].as_str(), row["id_r"].as_str());
        let expected = matches!(pair, (Some("1"), Some("2")) | (Some("3"), Some("4")));
        assert_eq!(row["true_match"], expected, "{row}");
    }
    let tp = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["true_match"] == true)
        .count() as f64;
    assert_eq!(f(&m, "recall"), tp / 2.0, "{m:#}");
    let log = text(&p.run_ok(&["logs", &p.last_run_id(), "pairs"]));
    assert!(
        log.contains(
            "truth: 1 listed pairs name a record that is not in the inputs (or a record with \
             itself); they are left out"
        ),
        "{log}"
    );

    // `column` and `pairs` together are refused before anything runs.
    let both = Project::new(&dedup(
        "[ { on: [name] } ]",
        "    truth: { pairs: known, column: id }",
    ));
    let out = both.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "`truth` takes `column` (records sharing a value are the same entity) or `pairs` \
             (a task listing the true pairs by id), not both"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_link_input_gets_clear_errors() {
    // A threshold outside [0, 1] is refused before anything runs.
    let p =
        Project::new(&dedup("[ { on: [name] } ]", "").replace("threshold: 0.5", "threshold: 1.5"));
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("`tasks.pairs`: `threshold` is a match probability between 0 and 1, got 1.5"),
        "{}",
        text(&out)
    );

    let failure = |pipeline: String, csv: &str| {
        let p = Project::new(&pipeline);
        std::fs::write(p.path("people.csv"), csv).expect("csv");
        let out = p.sluice(&["run", "pipeline.yaml"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let show = p.show(&p.last_run_id());
        common::attempts(&show, "pairs")[0]["error"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        failure(dedup("[ { on: [name] }, { on: [nme] } ]", ""), PEOPLE),
        "blocking rule 2 (`on [nme]`): `nme` is not a column of `people` (columns: id, name, city, zip)"
    );
    assert_eq!(
        failure(dedup("[ { on: [name] } ]", ""), "id,name,city,zip\n"),
        "`people` has no records: there is nothing to deduplicate (check the task that makes it)"
    );
    // Six people in three cities would be fine; one city for all makes 15 pairs.
    let same_city = PEOPLE
        .replace("paris", "x")
        .replace("lyon", "x")
        .replace("nice", "x");
    assert_eq!(
        failure(
            dedup("[ { on: [name] }, { on: [city] } ]", "    max_pairs: 10"),
            &same_city
        ),
        "blocking rule 2 (`on [city]`) would make 15 candidate pairs, more than max_pairs (10): \
         make the rule stricter (more columns, a prefix), or raise max_pairs if the memory and \
         time are there"
    );
}
