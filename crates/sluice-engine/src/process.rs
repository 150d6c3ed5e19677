//! Facts about processes: is the process that owned a run still alive?

use nix::sys::signal::kill;
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
