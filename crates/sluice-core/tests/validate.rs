//! Every invalid-file case: the message, the key and the line:column.

mod common;

use common::TestOps;
use sluice_core::{Diagnostics, LoadOptions, Pipeline, parse_pipeline};

fn env(name: &str) -> Option<String> {
    (name == "API_TOKEN").then(|| "tok-123".to_string())
}

fn load(yaml: &str, params: &[(String, String)]) -> Result<Pipeline, Diagnostics> {
    let opts = LoadOptions {
        params,
        catalog: &TestOps,
        env: &env,
        api_params: false,
    };
    parse_pipeline(yaml, "p.yaml".as_ref(), &opts)
}

fn load_api(yaml: &str, params: &[(String, String)]) -> Result<Pipeline, Diagnostics> {
    let opts = LoadOptions {
        params,
        catalog: &TestOps,
        env: &env,
        api_params: true,
    };
    parse_pipeline(yaml, "p.yaml".as_ref(), &opts)
}

fn errors(yaml: &str) -> Vec<String> {
    match load(yaml, &[]) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(d) => d.to_string().lines().map(String::from).collect(),
    }
}

#[test]
fn valid_file_with_everything() {
    let yaml = r#"
name: full_example
description: all keys
schedule: "0 6 * * 1-5"
timezone: Europe/Paris
params: { data: ./data, n: 3 }
defaults: { retries: 2, retry_delay: 500ms, timeout: 10m }
max_parallel: 4
compression: zstd
tasks:
  fetch:
    run: curl ${params.data}/x -H "$AUTH"
    env: { AUTH: "${env.API_TOKEN}", MODE: fast }
  wait: { op: sleep, duration: 1s, after: fetch, retries: 0 }
  done: { op: noop, after: [fetch, wait], timeout: 2h, cache: false }
"#;
    let p = load(yaml, &[("n".into(), "5".into())]).expect("valid");
    assert_eq!(p.name, "full_example");
    assert_eq!(p.params["n"], "5");
    assert_eq!(p.max_parallel, Some(4));
    assert_eq!(p.compression, sluice_core::pipeline::Compression::Zstd);
    let fetch = &p.tasks[0];
    assert_eq!(fetch.retries, 2);
    assert_eq!(fetch.retry_delay.as_millis(), 500);
    assert_eq!(fetch.timeout.map(|t| t.as_secs()), Some(600));
    assert_eq!(fetch.secrets, vec!["tok-123".to_string()]);
    assert!(fetch.env[0].secret && !fetch.env[1].secret);
    assert_eq!(
        (
            fetch.env[2].name.as_str(),
            fetch.env[2].value.as_str(),
            fetch.env[2].secret
        ),
        ("SLUICE_PARAM_DATA", "./data", false)
    );
    match &fetch.kind {
        sluice_core::TaskKind::Run { command } => {
            assert_eq!(command, "curl \"${SLUICE_PARAM_DATA}\"/x -H \"$AUTH\"")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.tasks[1].retries, 0);
    assert_eq!(p.tasks[1].deps, vec![0]);
    assert_eq!(p.tasks[2].deps, vec![0, 1]);
    assert!(!p.tasks[2].cache);
}

#[test]
fn yaml_syntax_error() {
    let e = errors("name: x\ntasks:\n  a: { run: echo\n  b: 2\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("p.yaml:4:"), "{e:?}");
    assert!(e[0].contains("error: invalid YAML: "), "{e:?}");
}

#[test]
fn unknown_top_level_key() {
    let e = errors("name: x\ndefault:\n  retries: 1\ntasks:\n  a: { op: noop }\n");
    assert_eq!(
        e,
        vec!["p.yaml:2:1: error: `default`: unknown key `default` (did you mean `defaults`?)"]
    );
}

#[test]
fn unknown_task_key_in_run_task() {
    let e = errors("name: x\ntasks:\n  a:\n    run: echo hi\n    retires: 3\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:5:5: error: `tasks.a.retires`: unknown key `retires` (did you mean `retries`?)"
        ]
    );
}

#[test]
fn unknown_task_key_in_op_task() {
    let e = errors("name: x\ntasks:\n  a:\n    op: sleep\n    duration: 1s\n    tiemout: 3s\n");
    assert_eq!(
        e,
        vec!["p.yaml:6:5: error: `tasks.a`: unknown key `tiemout` (did you mean `timeout`?)"]
    );
    let e = errors("name: x\ntasks:\n  a:\n    op: sleep\n    duraton: 1s\n");
    assert_eq!(
        e,
        vec!["p.yaml:5:5: error: `tasks.a`: unknown key `duraton` (did you mean `duration`?)"]
    );
}

#[test]
fn unknown_defaults_key() {
    let e = errors("name: x\ndefaults: { retry: 2 }\ntasks:\n  a: { op: noop }\n");
    assert_eq!(
        e,
        vec!["p.yaml:2:13: error: `defaults.retry`: unknown key `retry` (did you mean `retries`?)"]
    );
}

#[test]
fn unknown_op() {
    let e = errors("name: x\ntasks:\n  a:\n    op: slep\n");
    assert_eq!(
        e,
        vec!["p.yaml:4:9: error: `tasks.a.op`: unknown op `slep` (did you mean `sleep`?)"]
    );
    let e = errors("name: x\ntasks:\n  a:\n    op: fly_to_moon\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:4:9: error: `tasks.a.op`: unknown op `fly_to_moon` (built-in ops: noop, query, sleep)"
        ]
    );
}

#[test]
fn op_and_run_both_or_neither() {
    let e = errors("name: x\ntasks:\n  a:\n    op: noop\n    run: echo\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:3:3: error: `tasks.a`: a task has either `op:` or `run:`, not both (split it into two tasks, one after the other)"
        ]
    );
    let e = errors("name: x\ntasks:\n  a:\n    retries: 1\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:3:3: error: `tasks.a`: a task needs `op:` (a built-in operator) or `run:` (a shell command)"
        ]
    );
}

#[test]
fn reference_to_missing_task() {
    let e = errors(
        "name: x\ntasks:\n  extract: { run: echo }\n  load: { run: echo, after: [extarct] }\n",
    );
    assert_eq!(
        e,
        vec![
            "p.yaml:4:30: error: `tasks.load.after`: unknown task `extarct` (did you mean `extract`?)"
        ]
    );
}

#[test]
fn dependency_cycle_prints_path() {
    let e = errors(
        "name: x\ntasks:\n  a: { run: echo, after: c }\n  b: { run: echo, after: a }\n  c: { run: echo, after: b }\n  d: { run: echo }\n",
    );
    assert_eq!(
        e,
        vec![
            "p.yaml:3:3: error: `tasks.a`: dependency cycle: a → b → c → a (remove one of these `after:` links)"
        ]
    );
}

#[test]
fn duplicate_task_names() {
    let e = errors(
        "name: x\ntasks:\n  a: { run: echo 1 }\n  b: { run: echo 2 }\n  a: { run: echo 3 }\n",
    );
    assert_eq!(
        e,
        vec!["p.yaml:5:3: error: `tasks.a`: duplicate task name `a` (first defined at 3:3)"]
    );
}

#[test]
fn invalid_cron() {
    let e = errors("name: x\nschedule: \"61 * * * *\"\ntasks:\n  a: { op: noop }\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("p.yaml:2:11: error: `schedule`: invalid cron expression `61 * * * *`: "),
        "{e:?}"
    );
    let e = errors("name: x\nschedule: \"0 6 * *\"\ntasks:\n  a: { op: noop }\n");
    assert!(
        e[0].contains("five or six fields") || e[0].contains("5 fields"),
        "{e:?}"
    );
}

#[test]
fn invalid_duration() {
    let e = errors(
        "name: x\ntasks:\n  a: { run: echo, timeout: 10 }\n  b: { run: echo, retry_delay: 5 mins }\n",
    );
    assert_eq!(
        e,
        vec![
            "p.yaml:3:28: error: `tasks.a.timeout`: invalid duration `10`: `10` needs a unit, like `10s` or `10m` (durations look like `500ms`, `30s`, `10m`, `2h`)",
            "p.yaml:4:32: error: `tasks.b.retry_delay`: invalid duration `5 mins`: unknown unit ` mins` (use ms, s, m, h or d) (durations look like `500ms`, `30s`, `10m`, `2h`)",
        ]
    );
}

#[test]
fn invalid_names() {
    let e = errors("name: My-Pipeline\ntasks:\n  Load-Data: { op: noop }\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:1:7: error: `name`: invalid pipeline name `My-Pipeline` (use lower-case letters, digits and `_`, starting with a letter)",
            "p.yaml:3:3: error: `tasks.Load-Data`: invalid task name `Load-Data` (use lower-case letters, digits and `_`, starting with a letter)",
        ]
    );
}

#[test]
fn all_errors_of_a_file_at_once() {
    let yaml = "name: x\nretries: 2\ntasks:\n  a: { op: slep }\n  b: { run: echo, after: [zz], timeout: soon }\n  b: { run: echo }\n";
    let e = errors(yaml);
    assert_eq!(e.len(), 5, "{e:#?}");
    let lines: Vec<&str> = e
        .iter()
        .map(|l| l.split(": error").next().unwrap_or_default())
        .collect();
    assert_eq!(
        lines,
        vec![
            "p.yaml:2:1",
            "p.yaml:4:12",
            "p.yaml:5:27",
            "p.yaml:5:41",
            "p.yaml:6:3"
        ]
    );
}

#[test]
fn params_and_env_interpolation_errors() {
    let e = errors(
        "name: x\nparams: { data: a }\ntasks:\n  a: { run: \"cat ${params.dat}\" }\n  b: { run: \"echo ${env.NOT_SET_ANYWHERE}\" }\n",
    );
    assert_eq!(
        e,
        vec![
            "p.yaml:4:13: error: `tasks.a.run`: unknown parameter `dat` in `${params.dat}` (did you mean `data`?)",
            "p.yaml:5:13: error: `tasks.b.run`: environment variable `NOT_SET_ANYWHERE` is not set (set it, or give a default: `${env.NOT_SET_ANYWHERE:-value}`)",
        ]
    );
    let err = load(
        "name: x\nparams: { data: a }\ntasks:\n  a: { op: noop }\n",
        &[("dta".into(), "b".into())],
    )
    .expect_err("unknown param");
    assert_eq!(
        err.to_string(),
        "p.yaml:2:9: error: `params`: `--param dta=…` sets a parameter the pipeline does not declare (did you mean `data`?)"
    );
}

#[test]
fn a_task_with_its_own_error_is_not_also_unknown() {
    let e = errors("name: x\ntasks:\n  a: { run: [echo] }\n  b: { run: echo, after: a }\n");
    assert_eq!(
        e,
        vec!["p.yaml:3:13: error: `tasks.a.run`: expected a string, found a list"]
    );
}

#[test]
fn compression_is_lz4_unless_set_and_unknown_names_are_refused() {
    let p = load("name: x\ntasks:\n  a: { run: echo }\n", &[]).expect("valid");
    assert_eq!(p.compression, sluice_core::pipeline::Compression::Lz4);
    let p = load(
        "name: x\ncompression: none\ntasks:\n  a: { run: echo }\n",
        &[],
    )
    .expect("valid");
    assert_eq!(p.compression, sluice_core::pipeline::Compression::None);
    assert_eq!(
        errors("name: x\ncompression: zstandard\ntasks:\n  a: { run: echo }\n"),
        vec![
            "p.yaml:2:14: error: `compression`: unknown compression `zstandard` (did you mean `zstd`?)"
        ]
    );
    assert_eq!(
        errors("name: x\ncompression: gzip\ntasks:\n  a: { run: echo }\n"),
        vec![
            "p.yaml:2:14: error: `compression`: unknown compression `gzip` (use one of: none, lz4, zstd)"
        ]
    );
}

#[test]
fn out_of_range_values() {
    let e = errors("name: x\ntasks:\n  a: { run: echo, retries: 4294967297, timeout: 0s }\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:3:28: error: `tasks.a.retries`: 4294967297 retries is more than the 1000 allowed",
            "p.yaml:3:49: error: `tasks.a.timeout`: a timeout of 0 would stop every attempt at once (remove `timeout` for no limit)",
        ]
    );
}

#[test]
fn secret_params_are_masked_and_not_fingerprinted() {
    let yaml = "name: x\nparams: { token: \"${env.API_TOKEN}\", day: monday }\ntasks:\n  a: { run: \"curl -H ${params.token} ${params.day}\" }\n";
    let p = load(yaml, &[]).expect("valid");
    assert!(p.secret_params.contains("token") && !p.secret_params.contains("day"));
    assert_eq!(p.tasks[0].secrets, vec!["tok-123".to_string()]);
    let with_token = sluice_core::fingerprint::fingerprints(&p);
    let rotated = load(yaml, &[("token".into(), "tok-456".into())]).expect("valid");
    assert_eq!(rotated.tasks[0].secrets, vec!["tok-456".to_string()]);
    assert_eq!(
        sluice_core::fingerprint::fingerprints(&rotated),
        with_token,
        "rotating a secret changes nothing"
    );
    let other_day = load(yaml, &[("day".into(), "tuesday".into())]).expect("valid");
    assert_ne!(
        sluice_core::fingerprint::fingerprints(&other_day),
        with_token
    );
}

#[test]
fn bad_types_are_reported() {
    let e =
        errors("name: x\nmax_parallel: 0\ntasks:\n  a: { op: noop, retries: -1, cache: maybe }\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:2:15: error: `max_parallel`: must be at least 1",
            "p.yaml:4:27: error: `tasks.a.retries`: expected a non-negative integer, found an integer",
            "p.yaml:4:38: error: `tasks.a.cache`: expected true or false, found a string",
        ]
    );
}

#[test]
fn tables_read_become_dependencies_and_unknown_ones_are_named() {
    let p = load(
        "name: x\ntasks:\n  drugs: { op: query, from: [] }\n  pubs: { op: query, from: [] }\n  mentions: { op: query, from: [drugs, pubs] }\n",
        &[],
    )
    .expect("valid");
    assert_eq!(p.tasks[2].deps, vec![0, 1]);
    assert!(p.tasks[2].produces_dataset);
    let e = errors(
        "name: x\ntasks:\n  drugs: { op: query, from: [] }\n  shell: { run: echo }\n  m: { op: query, from: [drug, shell] }\n",
    );
    assert_eq!(
        e,
        vec![
            "p.yaml:5:3: error: `tasks.m`: unknown table `drug` (did you mean `drugs`? tables: drugs)",
            "p.yaml:5:3: error: `tasks.m`: task `shell` produces no dataset to read (tables: drugs)",
        ]
    );
}

#[test]
fn checks_are_parsed_and_need_a_dataset() {
    let p = load(
        "name: x\ntasks:\n  t:\n    op: query\n    from: []\n    checks:\n      - not_null: [a]\n      - row_count: { min: 1 }\n",
        &[],
    )
    .expect("valid");
    assert_eq!(p.tasks[0].checks.len(), 2);
    let e = errors(
        "name: x\ntasks:\n  t:\n    op: query\n    from: []\n    checks:\n      - not_nul: [a]\n",
    );
    assert_eq!(
        e,
        vec![
            "p.yaml:7:9: error: `tasks.t.checks`: unknown value `not_nul`, expected one of `not_null`, `unique`, `accepted_values`, `row_count`, `expression` (did you mean `not_null`?)"
        ]
    );
    let e = errors("name: x\ntasks:\n  t:\n    run: echo\n    checks: [ { unique: id } ]\n");
    assert_eq!(
        e,
        vec![
            "p.yaml:5:13: error: `tasks.t.checks`: checks need a task that produces a dataset (put them on the task that writes the data (read.csv, sql…))"
        ]
    );
}

#[test]
fn api_callers_set_only_parameters_declared_settable() {
    let yaml = r#"
name: x
params:
  out: out
  day: { default: monday, api: true, pattern: "[a-z]+" }
  n: { default: 3, api: true, type: integer }
tasks:
  a: { run: "rm -rf ${params.out} && echo ${params.day} ${params.n}" }
"#;
    // The command line may set any declared parameter.
    let p = load(yaml, &[("out".into(), "x; touch PWNED #".into())]).expect("valid");
    match &p.tasks[0].kind {
        sluice_core::TaskKind::Run { command } => assert_eq!(
            command,
            r#"rm -rf "${SLUICE_PARAM_OUT}" && echo "${SLUICE_PARAM_DAY}" "${SLUICE_PARAM_N}""#
        ),
        other => panic!("{other:?}"),
    }
    let out = p.tasks[0].env.iter().find(|e| e.name == "SLUICE_PARAM_OUT");
    assert_eq!(out.map(|e| e.value.as_str()), Some("x; touch PWNED #"));
    // An API caller may not set `out`, and gets the parameter named.
    let e = load_api(yaml, &[("out".into(), "x; touch PWNED #".into())]).expect_err("refused");
    assert_eq!(
        e.to_string().lines().next(),
        Some(
            "p.yaml:4:3: error: `params.out`: parameter `out` cannot be set through the API (the pipeline's author may allow it: `out: { default: …, api: true, pattern: \"…\" }`)"
        )
    );
    // Settable ones are held to their type and pattern.
    let e = load_api(yaml, &[("day".into(), "x; touch PWNED #".into())]).expect_err("pattern");
    assert_eq!(
        e.to_string().lines().next(),
        Some(
            "p.yaml:5:3: error: `params.day`: parameter `day` = `x; touch PWNED #` does not match its pattern `[a-z]+`"
        )
    );
    let e = load_api(yaml, &[("n".into(), "3 4".into())]).expect_err("type");
    assert!(
        e.to_string()
            .contains("parameter `n` must be of type integer, got `3 4`"),
        "{e}"
    );
    let p = load_api(
        yaml,
        &[("day".into(), "friday".into()), ("n".into(), "7".into())],
    )
    .expect("valid");
    assert_eq!(
        (p.params["day"].as_str(), p.params["n"].as_str()),
        ("friday", "7")
    );
}

#[test]
fn api_set_values_may_not_point_at_this_machine() {
    let yaml = r#"
name: x
params:
  src: { default: "https://example.org/a", api: true }
tasks:
  a: { op: sleep, duration: "${params.src}" }
  b: { op: sleep, duration: "${params.src}", allow_local: true }
"#;
    // A stand-in: `duration` is not an address key, so only URLs are checked there.
    assert!(load_api(yaml, &[("src".into(), "https://example.org/b".into())]).is_ok());
    let e = load_api(
        yaml,
        &[("src".into(), "http://169.254.169.254/latest".into())],
    )
    .expect_err("local");
    let lines: Vec<String> = e.to_string().lines().map(String::from).collect();
    assert_eq!(
        lines,
        vec![
            "p.yaml:6:29: error: `tasks.a.duration`: parameter `src`, set through the API, cannot be used here: 169.254.169.254 is a link-local address (cloud metadata lives there) (the pipeline's author may allow it with `allow_local: true` on the task)"
        ]
    );
    let e = load_api(yaml, &[("src".into(), "file:///etc/passwd".into())]).expect_err("file");
    assert!(e.to_string().contains("is a `file://` URL"), "{e}");
    // The same values from the command line are the operator's choice.
    assert!(load(yaml, &[("src".into(), "file:///etc/passwd".into())]).is_ok());
}

#[test]
fn the_environment_picks_its_schedule_and_parameter_values() {
    let yaml = "name: p\nschedule: { dev: null, staging: '0 * * * *', prod: '0 6 * * *' }\nparams:\n  data: { default: ./sample, by_env: { prod: /srv/data } }\ntasks:\n  a: { run: 'echo ${params.data}' }\n";
    let in_env = |environment: Option<&'static str>| {
        let env = move |name: &str| match name {
            "SLUICE_ENV" => environment.map(String::from),
            _ => None,
        };
        let opts = LoadOptions {
            params: &[],
            catalog: &TestOps,
            env: &env,
            api_params: false,
        };
        parse_pipeline(yaml, "p.yaml".as_ref(), &opts).expect("valid")
    };
    let dev = in_env(None);
    assert_eq!(dev.schedule, None);
    assert_eq!(dev.params["data"], "./sample");
    let prod = in_env(Some("prod"));
    assert_eq!(prod.schedule.as_deref(), Some("0 6 * * *"));
    assert_eq!(prod.params["data"], "/srv/data");
    let staging = in_env(Some("staging"));
    assert_eq!(staging.schedule.as_deref(), Some("0 * * * *"));
    assert_eq!(staging.params["data"], "./sample");
    // Every environment's cron is checked, whichever is chosen.
    let bad = errors("name: p\nschedule: { prod: 'every day' }\ntasks:\n  a: { run: 'true' }\n");
    assert!(
        bad[0].starts_with(
            "p.yaml:2:19: error: `schedule.prod`: invalid cron expression `every day`"
        ),
        "{bad:?}"
    );
}

#[test]
fn alerts_name_the_variable_holding_their_webhook() {
    let p = load(
        "name: p\non_failure: { webhook_env: SLACK_URL }\ntasks:\n  a: { run: 'true', on_retry: { webhook_env: OPS_URL } }\n",
        &[],
    )
    .expect("valid");
    assert_eq!(
        p.alerts.on_failure.as_ref().map(|n| n.webhook_env.as_str()),
        Some("SLACK_URL")
    );
    assert_eq!(
        p.tasks[0]
            .alerts
            .on_retry
            .as_ref()
            .map(|n| n.webhook_env.as_str()),
        Some("OPS_URL")
    );
    let e = errors(
        "name: p\non_success: { url: 'https://hooks.example/x' }\ntasks:\n  a: { run: 'true', on_failure: { webhook_env: 'not a name' } }\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("p.yaml:2:"), "{e:?}");
    assert!(e[0].contains("`on_success"), "{e:?}");
    assert!(e[0].contains("webhook_env: SLACK_WEBHOOK_URL"), "{e:?}");
    assert!(
        e[1].contains(
            "`tasks.a.on_failure.webhook_env`: invalid environment variable name `not a name`"
        ),
        "{e:?}"
    );
}
