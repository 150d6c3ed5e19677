//! Facts about processes: is the process that owned a run still alive?

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// True if `pid` is a live sluice process on this machine.
pub fn is_live_sluice(pid: i64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 || raw == std::process::id() as i32 {
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    // A recycled pid belongs to some other program.
    match std::fs::read(format!("/proc/{raw}/cmdline")) {
        Ok(cmd) => String::from_utf8_lossy(&cmd).contains("sluice"),
        Err(_) => true,
    }
}

/// Kills what is left of the process group of a command whose sluice process died (the shell
/// itself got SIGKILL through its parent-death signal; its children may still run).
pub fn kill_orphan_group(pgid: i64) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if raw > 1 {
        // ESRCH: the group is already gone, which is the common case.
        let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
}
