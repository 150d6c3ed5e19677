//! One attempt runs from its serialisable description alone, as a worker on another machine
//! would run it: the description goes through JSON, the op is built from the registry with the
//! config the description carries, and the attempt writes its dataset and its log; a command
//! gets its environment with its secrets masked; the time limit stops it; an op this machine
//! does not have is a configuration error.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_engine::{AttemptSpec, Executed, Hooks, Work, execute};
use sluice_op::{DatasetTarget, ErrorKind};
use tokio_util::sync::CancellationToken;

/// A description of attempt 1 of task `t` doing `work`, its files under `dir`.
fn spec(dir: &Path, work: Work) -> AttemptSpec {
    AttemptSpec {
        pipeline: "p".into(),
        run_id: "r1".into(),
        task: "t".into(),
        attempt: 1,
        work,
        inputs: Default::default(),
        output: None,
        previous: None,
        aliases: Default::default(),
        workdir: dir.to_path_buf(),
        env: Vec::new(),
        secrets: Vec::new(),
        log_path: dir.join("logs/t/1.log"),
        raw_dir: dir.join("raw"),
        cache_dir: dir.join("cache"),
        timeout: None,
        home: None,
        warehouse: None,
    }
}

/// Sends `spec` through JSON and runs what comes back with the test registry.
async fn run_sent(spec: &AttemptSpec) -> Executed {
    let json = serde_json::to_string(spec).expect("serialise");
    let received: AttemptSpec = serde_json::from_str(&json).expect("deserialise");
    execute(
        &received,
        &common::registry(),
        None,
        Hooks::default(),
        CancellationToken::new(),
    )
    .await
}

fn op(name: &str, config: &str) -> Work {
    Work::Op {
        op: name.into(),
        config: sluice_core::yaml::parse(config).expect("yaml"),
    }
}

#[tokio::test]
async fn an_op_runs_from_its_description_sent_as_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    let mut s = spec(dir.path(), op("emit", "text: hello from a worker"));
    s.output = Some(DatasetTarget::new(&staging));
    let done = run_sent(&s).await;
    let out = done.result.expect("the op succeeds");
    assert!(!done.timed_out);
    let dataset = out.dataset.expect("a dataset");
    assert_eq!((dataset.dir, dataset.rows), (staging.clone(), 1));
    assert_eq!(
        std::fs::read_to_string(staging.join("part-00000.parquet")).expect("part"),
        "hello from a worker"
    );
}

#[tokio::test]
async fn a_command_gets_its_environment_and_its_secrets_masked() {
    let dir = tempfile::tempdir().expect("tmp");
    let command = "echo token=$API_TOKEN; echo \"failed with $API_TOKEN\" >&2; exit 3";
    let mut s = spec(
        dir.path(),
        Work::Command {
            command: command.into(),
        },
    );
    s.env = vec![("API_TOKEN".into(), "s3cr3t-value".into())];
    s.secrets = vec!["s3cr3t-value".into()];
    let done = run_sent(&s).await;
    let e = done.result.expect_err("exit 3");
    assert_eq!(e.exit_code, Some(3));
    assert!(!e.message.contains("s3cr3t-value"), "{}", e.message);
    let log = std::fs::read_to_string(&s.log_path).expect("log");
    assert!(log.contains("token=***"), "{log}");
    assert!(!log.contains("s3cr3t-value"), "{log}");
}

#[tokio::test]
async fn the_time_limit_stops_an_attempt() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = spec(
        dir.path(),
        Work::Command {
            command: "sleep 30".into(),
        },
    );
    s.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let done = run_sent(&s).await;
    assert!(done.timed_out);
    let e = done.result.expect_err("timed out");
    assert!(e.message.starts_with("timed out after"), "{}", e.message);
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn an_op_this_machine_lacks_or_a_bad_config_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let done = run_sent(&spec(dir.path(), op("nope", "{}"))).await;
    let e = done.result.expect_err("unknown op");
    assert_eq!(e.kind, ErrorKind::Config);
    assert_eq!(e.message, "unknown op `nope` on this machine");
    let done = run_sent(&spec(dir.path(), op("emit", "txt: typo"))).await;
    let e = done.result.expect_err("bad config");
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.starts_with("op `emit`: "), "{}", e.message);
    assert!(e.message.contains("txt"), "{}", e.message);
}
