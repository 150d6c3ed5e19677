//! Runs a `run:` command: `sh -c COMMAND` in its own process group, output captured line by
//! line to the attempt's log, the whole group killed on cancellation or timeout.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::{OpError, OpOutput, TaskContext, TaskLog};

/// How long a cancelled command gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(3);

/// Kills the process group when dropped, unless disarmed: no command outlives its attempt,
/// even when the attempt's future is dropped.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    /// True while some process of the group is alive (zombies, which nobody may reap in a
    /// container without an init, do not count).
    fn alive(&self) -> bool {
        let Some(pgid) = self.pgid else { return false };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return killpg(pgid, None).is_ok();
        };
        entries.flatten().any(|e| {
            let is_pid = e
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            is_pid
                && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|stat| {
                    // Fields after the command name: state, ppid, pgrp, …
                    let mut fields = stat
                        .rsplit_once(')')
                        .map(|(_, rest)| rest)
                        .unwrap_or("")
                        .split_whitespace();
                    let state = fields.next();
                    let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
                    pgrp == Some(pgid.as_raw()) && state != Some("Z")
                })
        })
    }

    fn signal(&self, sig: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (group already gone) is fine.
            let _ = killpg(pgid, sig);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Runs `command` with `sh -c` in `ctx.workdir`.
pub async fn run_command(command: &str, ctx: &TaskContext) -> Result<OpOutput, OpError> {
    if ctx.cancel.is_cancelled() {
        return Err(OpError::cancelled(
            "command not started: the run is stopping",
        ));
    }
    // With `on_spawn`, the shell waits on a line from sluice before the command runs: the
    // engine records the process group first, so a crash right after can still stop it.
    let gated = ctx.on_spawn.is_some();
    let script = if gated {
        // One line, so the command's line numbers in shell errors stay as written.
        format!("read _sluice_gate || exit 97; unset _sluice_gate; exec </dev/null; {command}")
    } else {
        command.to_string()
    };
    let mut cmd = Command::new("/bin/sh");
    // An explicit environment: the server's own variables (its state store URL, its cloud
    // credentials) reach a command only when the pipeline lists them in `env_passthrough`
    // (the engine adds those to `ctx.env`).
    cmd.env_clear();
    for name in sluice_core::pipeline::BASE_ENV {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.arg("-c")
        .arg(&script)
        .current_dir(&ctx.workdir)
        .envs(ctx.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SLUICE_PIPELINE", &ctx.pipeline)
        .env("SLUICE_RUN_ID", &ctx.run_id)
        .env("SLUICE_TASK", &ctx.task)
        .env("SLUICE_ATTEMPT", ctx.attempt.to_string())
        .stdin(if gated { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    set_parent_death_signal(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        OpError::io(
            format!("cannot start `/bin/sh` in {}", ctx.workdir.display()),
            &e,
        )
    })?;
    let mut guard = GroupGuard {
        pgid: child.id().map(|id| Pid::from_raw(id as i32)),
    };
    if let Some(mut gate) = child.stdin.take() {
        if let (Some(report), Some(id)) = (&ctx.on_spawn, child.id()) {
            report(id).await;
        }
        // Stopped meanwhile (Ctrl-C, or the store refused to record the process group): the
        // gate closes unopened, the shell exits without running the command.
        if !ctx.cancel.is_cancelled() {
            // A shell that is already gone makes this fail; waiting on it below says why.
            let _ = gate.write_all(b"\n").await;
        }
    }
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, ctx.log.clone())));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, ctx.log.clone())));

    let status = tokio::select! {
        status = child.wait() => status.map_err(|e| OpError::internal(format!("waiting for the command failed: {e}")))?,
        _ = ctx.cancel.cancelled() => {
            // SIGTERM to the whole group, then SIGKILL to whatever is still there after the
            // grace period (not only the shell: `sh -c 'pg_dump …'` dies at once on SIGTERM
            // while pg_dump may need its grace time).
            guard.signal(Signal::SIGTERM);
            let deadline = tokio::time::Instant::now() + KILL_GRACE;
            let mut reaped = false;
            while tokio::time::Instant::now() < deadline {
                if !reaped {
                    reaped = tokio::time::timeout(Duration::from_millis(50), child.wait()).await.is_ok();
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if reaped && !guard.alive() {
                    break;
                }
            }
            guard.signal(Signal::SIGKILL);
            if !reaped {
                let _ = child.wait().await;
            }
            drain(out, err).await;
            let _ = ctx.log.line("sluice: command stopped (process group killed)");
            return Err(OpError::cancelled("command stopped"));
        }
    };
    // The shell exited: whatever it left running in its group goes too, so the pipes close.
    guard.signal(Signal::SIGKILL);
    guard.pgid = None;
    drain(out, err).await;
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(OpOutput {
            exit_code: Some(0),
            ..OpOutput::default()
        }),
        (Some(code), _) => Err(OpError {
            exit_code: Some(code),
            ..OpError::internal(format!("command exited with code {code}"))
        }),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("unknown signal");
            Err(OpError::internal(format!("command killed by {name}")))
        }
        (None, None) => Err(OpError::internal("command ended without an exit status")),
    }
}

/// Longest line kept whole; longer output is cut into pieces of this size.
const MAX_LINE: usize = 64 * 1024;

/// Copies a pipe to the log line by line. A line ends at `\n` or `\r` (progress bars redraw
/// with `\r`), or after [`MAX_LINE`] bytes, so memory stays bounded whatever the command writes.
async fn pump<R: AsyncRead + Unpin>(reader: R, log: TaskLog) {
    let mut reader = BufReader::new(reader);
    let mut line: Vec<u8> = Vec::new();
    let mut after_cr = false;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let mut used = 0;
        for &b in chunk {
            used += 1;
            if b == b'\n' && after_cr {
                // The `\n` of a `\r\n`: the line was already written.
                after_cr = false;
            } else if b == b'\n' || b == b'\r' {
                flush(&log, &mut line, true);
                after_cr = b == b'\r';
            } else {
                after_cr = false;
                line.push(b);
                if line.len() >= MAX_LINE {
                    // Cut where no secret straddles the cut, keep the rest for the next piece.
                    let cut = log.safe_cut(&line, MAX_LINE / 2);
                    let rest = line.split_off(cut);
                    flush(&log, &mut line, false);
                    line = rest;
                }
            }
        }
        reader.consume(used);
    }
    flush(&log, &mut line, false);
}

fn flush(log: &TaskLog, line: &mut Vec<u8>, at_line_end: bool) {
    if !line.is_empty() || at_line_end {
        // A write error (disk full) must not stop the reading, or the command would block on a
        // full pipe; the attempt's result still says whether the command succeeded.
        let _ = log.line(&String::from_utf8_lossy(line));
    }
    line.clear();
}

/// Waits a little for the pipe readers, then stops them: a daemon that keeps the pipes open
/// must not hold the attempt.
async fn drain(out: Option<tokio::task::JoinHandle<()>>, err: Option<tokio::task::JoinHandle<()>>) {
    for h in [out, err].into_iter().flatten() {
        let abort = h.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), h)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
    // which is async-signal-safe. If sluice is killed (even with SIGKILL), the shell gets
    // SIGKILL instead of running on as an orphan.
    unsafe {
        cmd.pre_exec(|| {
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use std::sync::Arc;

    use super::*;

    fn ctx(dir: &Path) -> TaskContext {
        TaskContext {
            env: vec![("GREETING".into(), "hi".into())],
            ..TaskContext::for_test(dir, "t")
        }
    }

    #[tokio::test]
    async fn splits_lines_on_cr_lf_and_crlf_and_reports_exit_codes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = ctx(dir.path());
        let out = run_command(
            r"printf 'a\r\nb\rc\n'; echo $GREETING $SLUICE_ATTEMPT >&2",
            &c,
        )
        .await
        .expect("ok");
        assert_eq!(out.exit_code, Some(0));
        let log = std::fs::read_to_string(dir.path().join("t.log")).expect("log");
        let mut lines: Vec<&str> = log.lines().collect();
        lines.sort();
        assert_eq!(lines, vec!["a", "b", "c", "hi 1"]);
        let err = run_command("exit 7", &c).await.expect_err("fails");
        assert_eq!(
            (err.message.as_str(), err.exit_code),
            ("command exited with code 7", Some(7))
        );
        let err = run_command("kill -9 $$", &c).await.expect_err("killed");
        assert_eq!(err.message, "command killed by SIGKILL");
    }

    #[tokio::test]
    async fn the_command_waits_until_on_spawn_has_recorded_its_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = ctx(dir.path());
        let marker = dir.path().join("ran");
        let seen = Arc::new(std::sync::Mutex::new(None));
        let (m, s) = (marker.clone(), seen.clone());
        c.on_spawn = Some(Arc::new(move |pid: u32| {
            let (m, s) = (m.clone(), s.clone());
            Box::pin(async move {
                // Slower than the command itself: it must still not have run.
                tokio::time::sleep(Duration::from_millis(300)).await;
                *s.lock().expect("lock") = Some((pid, m.exists()));
            })
        }));
        // The command reads stdin: it gets /dev/null, not the gate.
        let out = run_command(
            "touch ran; cat; echo \"pgid $(ps -o pgid= $$ | tr -d ' ')\"",
            &c,
        )
        .await
        .expect("ok");
        assert_eq!(out.exit_code, Some(0));
        let (pid, ran_before) = seen.lock().expect("lock").expect("on_spawn was called");
        assert!(!ran_before, "the command ran before on_spawn finished");
        assert!(marker.exists());
        let log = std::fs::read_to_string(dir.path().join("t.log")).expect("log");
        assert_eq!(log.trim(), format!("pgid {pid}"));
        // Shell errors keep the command's own line numbers.
        let err = run_command("true\nno_such_command_here", &c)
            .await
            .expect_err("fails");
        assert_eq!(err.exit_code, Some(127));
        let log = std::fs::read_to_string(dir.path().join("t.log")).expect("log");
        assert!(log.contains("2: no_such_command_here: not found"), "{log}");
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = ctx(dir.path());
        run_command("head -c 200000 /dev/zero | tr '\\0' x", &c)
            .await
            .expect("ok");
        let log = std::fs::read_to_string(dir.path().join("t.log")).expect("log");
        let lens: Vec<usize> = log.lines().map(str::len).collect();
        assert_eq!(
            lens,
            vec![MAX_LINE, MAX_LINE, MAX_LINE, 200_000 - 3 * MAX_LINE]
        );
    }

    #[tokio::test]
    async fn a_cancelled_context_starts_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = ctx(dir.path());
        c.cancel.cancel();
        let err = run_command("touch started", &c)
            .await
            .expect_err("not started");
        assert_eq!(err.message, "command not started: the run is stopping");
        assert!(!dir.path().join("started").exists());
    }
}
