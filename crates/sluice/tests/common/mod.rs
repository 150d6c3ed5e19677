//! Helpers shared by the black-box tests: a temporary project and the `sluice` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A temporary folder holding a pipeline, and the `sluice` binary run in it.
pub struct Project {
    /// The folder.
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(pipeline: &str) -> Project {
        // Under target/tmp: `.sluice` discovery walks up from here, and must not find a stray
        // `/tmp/.sluice` left by someone else's run.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline).expect("write pipeline");
        Project { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("SLUICE_HOME")
            .env_remove("SLUICE_STATE")
            .stdin(Stdio::null());
        c
    }

    pub fn sluice(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sluice")
    }

    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.sluice(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run_ok(args);
        serde_json::from_slice(&out.stdout).expect("json output")
    }

    pub fn last_run_id(&self) -> String {
        let runs = self.json(&["runs", "--json", "--limit", "1"]);
        runs[0]["id"].as_str().expect("run id").to_string()
    }

    pub fn show(&self, run_id: &str) -> Value {
        self.json(&["show", run_id, "--json"])
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn task<'a>(show: &'a Value, name: &str) -> &'a Value {
    show["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task"] == name))
        .unwrap_or_else(|| panic!("task {name} not in {show:#}"))
}

pub fn attempts<'a>(show: &'a Value, name: &str) -> Vec<&'a Value> {
    show["attempts"]
        .as_array()
        .map(|a| a.iter().filter(|t| t["task"] == name).collect())
        .unwrap_or_default()
}

/// A process that exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

pub fn micros(v: &Value) -> i64 {
    v.as_i64().expect("timestamp")
}
