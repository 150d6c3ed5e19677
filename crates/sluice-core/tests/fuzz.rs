//! Property-based fuzzing of pipeline files: the YAML parser (`yaml::parse`) and the validator
//! (`parse_pipeline`) over arbitrary bytes, YAML-shaped token soups, mutated valid files and
//! valid files with arbitrary field values. Whatever the input: no panic, no stack overflow,
//! bounded memory, and every error has a position inside the file.
//!
//! `cargo test -p sluice-core fuzz_` runs them with `SLUICE_FUZZ_CASES` cases each (default
//! 256); see docs/fuzzing.md.

mod common;

use common::TestOps;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;
use sluice_core::yaml::{self, MAX_DEPTH, Node, NodeKind};
use sluice_core::{Diagnostics, LoadOptions, Pipeline, dag, fingerprint, parse_pipeline};

/// [`sluice_core::fuzz_cases`] cases per property, no regression files.
fn config() -> Config {
    Config {
        cases: sluice_core::fuzz_cases(),
        failure_persistence: None,
        ..Config::default()
    }
}

fn load(yaml: &str) -> Result<Pipeline, Diagnostics> {
    let env = |name: &str| (name == "API_TOKEN").then(|| "tok-123".to_string());
    let opts = LoadOptions {
        params: &[],
        catalog: &TestOps,
        env: &env,
        api_params: false,
    };
    parse_pipeline(yaml, "p.yaml".as_ref(), &opts)
}

/// A pipeline whose `run:` commands name an API-settable parameter in every quoting context.
const SETTABLE: &str = r#"
name: x
params:
  out: { default: out, api: true }
tasks:
  a: { run: "rm -rf ${params.out} && echo \"in ${params.out} quotes\" 'and ${params.out} here'" }
  b: { op: sleep, duration: "${params.out}" }
"#;

fn load_api(value: &str) -> Result<Pipeline, Diagnostics> {
    let params = [("out".to_string(), value.to_string())];
    let opts = LoadOptions {
        params: &params,
        catalog: &TestOps,
        env: &|_| None,
        api_params: true,
    };
    parse_pipeline(SETTABLE, "p.yaml".as_ref(), &opts)
}

/// Lines and columns a position may have in `source` (YAML line breaks: `\n`, `\r`, `\r\n`).
fn bounds(source: &str) -> (usize, usize) {
    let breaks = source.chars().filter(|c| matches!(c, '\n' | '\r')).count();
    (breaks + 2, source.chars().count() + 2)
}

/// Collection depth of a node (a scalar is 0).
fn depth(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { .. } => 0,
        NodeKind::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| depth(k).max(depth(v)))
                .max()
                .unwrap_or(0)
        }
    }
}

/// What must hold for any source: `yaml::parse` gives a tree no deeper than [`MAX_DEPTH`] or an
/// error inside the file; `parse_pipeline` gives a pipeline whose graph and fingerprints can be
/// computed, or at least one error, each `p.yaml:LINE:COL: error: …` inside the file.
fn check(source: &str) -> Result<(), TestCaseError> {
    let (max_line, max_col) = bounds(source);
    match yaml::parse(source) {
        Ok(node) => prop_assert!(depth(&node) <= MAX_DEPTH, "too deep: {source:?}"),
        Err(e) => {
            prop_assert!(
                (1..=max_line).contains(&e.mark.line) && (1..=max_col).contains(&e.mark.col),
                "syntax error outside the file: {e:?} for {source:?}"
            );
            prop_assert!(!e.message.is_empty());
        }
    }
    match load(source) {
        Ok(p) => {
            prop_assert_eq!(dag::topo_order(&p).len(), p.tasks.len());
            prop_assert_eq!(fingerprint::fingerprints(&p).len(), p.tasks.len());
        }
        Err(d) => {
            prop_assert!(
                !d.items.is_empty(),
                "an error without a diagnostic: {source:?}"
            );
            for item in &d.items {
                prop_assert!(
                    (1..=max_line).contains(&item.mark.line)
                        && (1..=max_col).contains(&item.mark.col),
                    "diagnostic outside the file: {item:?} for {source:?}"
                );
            }
            let text = d.to_string();
            prop_assert!(text.starts_with("p.yaml:"), "{text}");
        }
    }
    Ok(())
}

/// Valid pipeline files: the seeds of the mutations.
const SEEDS: &[&str] = &[
    r#"name: full_example
description: all keys
schedule: "0 6 * * 1-5"
timezone: Europe/Paris
catchup: all
max_active_runs: 2
params: { data: ./data, n: 3 }
defaults: { retries: 2, retry_delay: 500ms, timeout: 10m }
max_parallel: 4
retention: 5
compression: zstd
tasks:
  fetch:
    run: curl ${params.data}/x -H "$AUTH" $${HOME}
    env: { AUTH: "${env.API_TOKEN}", MODE: "${env.MODE:-fast}" }
  wait: { op: sleep, duration: 1s, after: fetch, retries: 0 }
  done: { op: noop, after: [fetch, wait], timeout: 2h, cache: false }
"#,
    "name: anchors\ndefaults: &b\n  retries: 2\n  timeout: 1m\ntasks:\n  a:\n    <<: *b\n    op: noop\n  b:\n    <<: *b\n    run: echo ${params.n}\n    after: [a]\nparams:\n  n: 1\n",
    "name: datasets\non_new_version: [other.parts, legi.x]\ntasks:\n  q:\n    op: query\n    from: []\n    checks:\n      - not_null: [drug, journal]\n      - unique: id\n      - accepted_values: { column: source, values: [pubmed, 1, true, null] }\n      - row_count: { min: 1, max: 1000 }\n      - expression: \"score >= 0\"\n  r:\n    op: query\n    from: [q]\n    options: {a: [1, {b: [2, [3]]}]}\n",
    "name: flow\ntasks: {a: {run: 'echo \"a\"'}, b: {run: |\n    echo b\n    echo c\n  , after: a}, c: {op: sleep, duration: 1h30m, after: [a, b]}}\n",
    "# a comment\n---\nname: doc\ntasks:\n  a:\n    run: >\n      folded\n      text\n...\n",
];

/// Pieces of YAML syntax and of pipeline keys, for inputs more structured than random bytes.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ":",
    ": ",
    ",",
    "- ",
    "-",
    "\n",
    "\r\n",
    "\r",
    "  ",
    " ",
    "\t",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "<<",
    "!!str ",
    "!x ",
    "|",
    "|-",
    ">",
    ">+",
    "'",
    "\"",
    "''",
    "\\",
    "#",
    "---",
    "...",
    "? ",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "a",
    "b",
    "name",
    "tasks",
    "op",
    "noop",
    "sleep",
    "query",
    "run",
    "after",
    "params",
    "env",
    "duration",
    "from",
    "schedule",
    "timezone",
    "defaults",
    "retries",
    "timeout",
    "checks",
    "not_null",
    "${params.n}",
    "${params.",
    "${env.API_TOKEN}",
    "${env.X:-d}",
    "$${",
    "${",
    "}",
    "1h",
    "0 6 * * *",
    "~",
    "null",
    "true",
    "0x1F",
    "0o17",
    "-1",
    "1e999",
    ".nan",
    "99999999999999999999",
    "é",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\0",
    "😀",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(select(TOKENS), 0..80).prop_map(|v| v.concat())
}

/// An edit of a source text at a place chosen by an [`Index`].
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, &'static str),
    Delete(Index, usize),
    Replace(Index, usize, &'static str),
    DuplicateLine(Index),
    SwapLines(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<Index>(), 1usize..12).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), 1usize..6, select(TOKENS)).prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
        any::<Index>().prop_map(Edit::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply(source: &str, edit: &Edit) -> String {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: &Index| i.index(chars.len() + 1);
    let text = |cs: &[char]| cs.iter().collect::<String>();
    match edit {
        Edit::Insert(i, t) => {
            let p = at(i);
            format!("{}{t}{}", text(&chars[..p]), text(&chars[p..]))
        }
        Edit::Delete(i, n) | Edit::Replace(i, n, _) => {
            let p = at(i);
            let end = (p + n).min(chars.len());
            let with = match edit {
                Edit::Replace(_, _, t) => t,
                _ => "",
            };
            format!("{}{with}{}", text(&chars[..p]), text(&chars[end..]))
        }
        Edit::DuplicateLine(i) | Edit::SwapLines(i, _) => {
            let mut lines: Vec<&str> = source.split('\n').collect();
            let a = i.index(lines.len());
            match edit {
                Edit::SwapLines(_, j) => {
                    let b = j.index(lines.len());
                    lines.swap(a, b);
                }
                _ => lines.insert(a, lines[a]),
            }
            lines.join("\n")
        }
    }
}

/// Text drawn from the characters that matter to a field's own parser (cron, durations,
/// names, interpolation), with some arbitrary characters.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9*/,LW#? -]{0,24}",
        "[0-9a-z]{0,6}",
        "[0-9]{1,25}(ms|s|m|h|d|x)?",
        "([0-9]{1,4}[mshd]{1,2}){0,4}",
        "[A-Za-z_/+-]{0,20}",
        "[a-z_.]{0,12}",
        "(\\$\\$?\\{(params|env)?\\.?[a-zA-Z_]{0,6}(:-[a-z]{0,3})?\\}?|[a-z ]){0,6}",
        "\\PC{0,16}",
        any::<String>(),
    ]
}

/// A valid pipeline with each of its values replaced by generated text, single-quoted so that
/// the YAML stays valid and the validator sees the text.
fn filled_template() -> impl Strategy<Value = String> {
    prop::collection::vec(field_text(), 12).prop_map(|f| {
        let q = |s: &str| format!("'{}'", s.replace('\'', "''").replace(['\n', '\r'], " "));
        format!(
            "name: {}\nschedule: {}\ntimezone: {}\ncatchup: {}\nparams: {{ {}: {} }}\n\
             defaults: {{ retry_delay: {}, timeout: {} }}\non_new_version: {}\ntasks:\n  \
             {}: {{ run: {}, env: {{ {}: x }} }}\n  b: {{ op: sleep, duration: 1s, after: {} }}\n",
            q(&f[0]),
            q(&f[1]),
            q(&f[2]),
            q(&f[3]),
            q(&f[4]),
            q(&f[5]),
            q(&f[6]),
            q(&f[7]),
            q(&f[8]),
            q(&f[9]),
            q(&f[10]),
            q(&f[11]),
            q(&f[9]),
        )
    })
}

/// Nesting of a given shape and depth, closed or left open: flow lists, flow mappings, block
/// lists, block mappings (by indentation), block lists holding flow lists.
fn nested(style: u8, depth: usize, closed: bool) -> String {
    let mut s = String::new();
    let flow = |level: usize| match style {
        0 | 1 => true,
        4 => level >= depth / 2,
        _ => false,
    };
    for level in 0..depth {
        match style {
            0 => s.push('['),
            1 => s.push_str("{a: "),
            2 => s.push_str("- "),
            3 => {
                s.push_str(&" ".repeat(level));
                s.push_str("a:\n");
            }
            _ => s.push_str(if flow(level) { "[" } else { "- " }),
        }
    }
    if style == 3 {
        s.push_str(&" ".repeat(depth));
    }
    s.push('x');
    if closed {
        for level in (0..depth).rev() {
            match style {
                1 => s.push('}'),
                _ if flow(level) => s.push(']'),
                _ => {}
            }
        }
    }
    s.push('\n');
    s
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, read as the CLI and the server read files (lossy UTF-8).
    #[test]
    fn fuzz_pipeline_yaml_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    /// YAML-shaped soups of syntax and pipeline keys.
    #[test]
    fn fuzz_pipeline_yaml_tokens(source in token_soup()) {
        check(&source)?;
    }

    /// Valid files after a few random edits.
    #[test]
    fn fuzz_pipeline_yaml_mutations(
        seed in select(SEEDS),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let mut source = seed.to_string();
        for e in &edits {
            source = apply(&source, e);
        }
        check(&source)?;
    }

    /// Valid files whose values (cron, time zone, durations, names, interpolations) are
    /// arbitrary text.
    #[test]
    fn fuzz_pipeline_yaml_fields(source in filled_template()) {
        check(&source)?;
    }

    /// Whatever an API caller sets, the value never enters a `run:` command: it reaches the
    /// shell only as `$SLUICE_PARAM_OUT`, and the command text stays the same.
    #[test]
    fn fuzz_api_parameter_values_never_enter_commands(value in any::<String>()) {
        let reference = load_api("out").expect("valid");
        let command = |p: &Pipeline| match &p.tasks[0].kind {
            sluice_core::TaskKind::Run { command } => command.clone(),
            other => panic!("{other:?}"),
        };
        match load_api(&value) {
            Ok(p) => {
                prop_assert_eq!(command(&p), command(&reference));
                let env = p.tasks[0].env.iter().find(|e| e.name == "SLUICE_PARAM_OUT");
                prop_assert_eq!(env.map(|e| e.value.as_str()), Some(value.as_str()));
            }
            // Only a value that points at this machine is refused (in the op task).
            Err(d) => prop_assert!(d.to_string().contains("cannot be used here"), "{d}"),
        }
    }

    /// Nesting of every shape up to three times the limit: a tree within the limit, an error
    /// beyond it.
    #[test]
    fn fuzz_pipeline_yaml_nesting(style in 0u8..5, levels in 0usize..3 * MAX_DEPTH, closed in any::<bool>()) {
        let source = nested(style, levels, closed);
        check(&source)?;
        if levels > MAX_DEPTH {
            let e = yaml::parse(&source).expect_err("too deep");
            prop_assert!(e.message.starts_with("lists and mappings nested deeper than"), "{e:?}");
        } else if closed || style == 2 || style == 3 {
            let node = yaml::parse(&source).expect("within the limit");
            prop_assert_eq!(depth(&node), levels);
        }
    }
}

#[test]
fn deep_pipeline_is_an_error_with_its_position() {
    let e = load(&format!(
        "name: x\ntasks:\n  a:\n    {}x\n",
        "- ".repeat(100_000)
    ))
    .expect_err("too deep");
    // The root and `tasks` are two levels: the 127th list, at column 5 + 2 × 126, is too deep.
    assert_eq!(
        e.to_string(),
        "p.yaml:4:257: error: invalid YAML: lists and mappings nested deeper than 128 levels; \
         a pipeline file needs far fewer"
    );
}

#[test]
fn long_names_get_no_did_you_mean() {
    // Suggestions compare names pairwise, in time the product of their lengths: a reference
    // and a task name of 100 kB each took minutes.
    let long = "a".repeat(100_000);
    let e = load(&format!(
        "name: x\ntasks:\n  ? {long}\n  : {{ run: echo }}\n  b: {{ run: echo, after: {long}b }}\n"
    ))
    .expect_err("unknown task");
    let text = e.to_string();
    assert!(
        text.starts_with("p.yaml:5:26: error: `tasks.b.after`: unknown task `aaaa")
            && text.ends_with("ab`"),
        "{}",
        &text[..200.min(text.len())]
    );
}

#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        load(seed).unwrap_or_else(|d| panic!("{d}\n{seed}"));
    }
}
