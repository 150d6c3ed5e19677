//! Runs a `run:` command: `sh -c COMMAND` in its own process group, output captured line by
//! line to the attempt's log, the whole group killed on cancellation or timeout.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
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
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.workdir)
        .envs(ctx.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SLUICE_PIPELINE", &ctx.pipeline)
        .env("SLUICE_RUN_ID", &ctx.run_id)
        .env("SLUICE_TASK", &ctx.task)
        .env("SLUICE_ATTEMPT", ctx.attempt.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    set_parent_death_signal(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        OpError::new(format!(
            "cannot start `/bin/sh` in {}: {e}",
            ctx.workdir.display()
        ))
    })?;
    let mut guard = GroupGuard {
        pgid: child.id().map(|id| Pid::from_raw(id as i32)),
    };
    if let (Some(report), Some(id)) = (&ctx.on_spawn, child.id()) {
        report(id);
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
        status = child.wait() => status.map_err(|e| OpError::new(format!("waiting for the command failed: {e}")))?,
        _ = ctx.cancel.cancelled() => {
            guard.signal(Signal::SIGTERM);
            let status = tokio::time::timeout(KILL_GRACE, child.wait()).await;
            guard.signal(Signal::SIGKILL);
            if status.is_err() {
                let _ = child.wait().await;
            }
            drain(out, err).await;
            let _ = ctx.log.line("sluice: command stopped (process group killed)");
            return Err(OpError::new("command stopped"));
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
            message: format!("command exited with code {code}"),
            exit_code: Some(code),
        }),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("unknown signal");
            Err(OpError::new(format!("command killed by {name}")))
        }
        (None, None) => Err(OpError::new("command ended without an exit status")),
    }
}

async fn pump<R: AsyncRead + Unpin>(reader: R, log: TaskLog) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if log.line(&String::from_utf8_lossy(&buf)).is_err() {
                    // Keep reading so the command does not block on a full pipe.
                    continue;
                }
            }
        }
    }
}

async fn drain(out: Option<tokio::task::JoinHandle<()>>, err: Option<tokio::task::JoinHandle<()>>) {
    for h in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
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
