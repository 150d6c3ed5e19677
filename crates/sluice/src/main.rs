//! `sluice`: the command-line front end. Thin: it parses arguments, opens the state store,
//! loads pipelines and hands them to the engine; output formatting lives here too.
//!
//! Exit codes: 0 success, 1 a run failed, 2 invalid input (pipeline file, arguments, unknown
//! run), 3 an environment error (state store unreachable, disk full), 130 stopped by Ctrl-C.

mod cli;
mod commands;
mod data;
mod embed;
mod home;
mod housekeeping;
mod link;
mod live;
mod models;
mod objects;
mod scaffold;
mod search;
mod serve;
mod table;
mod testing;
mod workers;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed memory for reuse: query operators allocate and free large Arrow
/// buffers all the time, and the system allocator hands them back to the kernel, which must
/// zero them again on the next fault. Transparent huge pages stay off (`no_thp`): zeroing a
/// 2 MiB page for each fresh arena costs more than it saves.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (index in its `mi_option_e`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the kernel after 10 s unused instead of 1 s: one task frees
/// buffers the next one allocates again, and each page handed back costs a fault and a
/// zeroing when it is touched again (0.2–0.3 s of a 2.5 s drug-mentions run). Memory of a
/// long idle process is still returned.
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: sets one integer option of the allocator; mimalloc reads options atomically and
    // allows changing this one at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
}

/// Tesseract (the `ocr` op) runs one page per thread and as many pages at once as there are
/// cores; its own OpenMP threads would only fight them for the same cores. Unless the user
/// says otherwise, OpenMP gets one thread (read once, when Tesseract is first loaded).
#[allow(unsafe_code)]
fn limit_openmp() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
        // SAFETY: called first thing in `main`, before any thread is started: nothing reads
        // the environment concurrently.
        unsafe { std::env::set_var("OMP_THREAD_LIMIT", "1") };
    }
}

/// `--env NAME`: the pipelines of this process load for that environment, read as
/// `SLUICE_ENV` by everything that loads them (the server included).
#[allow(unsafe_code)]
fn set_environment(name: &str) {
    // SAFETY: called in `main` before the runtime or any other thread is started: nothing
    // reads the environment concurrently.
    unsafe { std::env::set_var(sluice_core::pipeline::ENVIRONMENT_VAR, name) };
}

/// Exit code of a failed run.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of invalid input.
pub const EXIT_INVALID: u8 = 2;
/// Exit code of an environment error.
pub const EXIT_ENV: u8 = 3;
/// Exit code of a run stopped by the user.
pub const EXIT_CANCELLED: u8 = 130;

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What to print (already formatted; empty to print nothing more).
    pub message: String,
}

impl Failure {
    /// Invalid input (exit 2).
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_INVALID,
            message: message.into(),
        }
    }

    /// Environment error (exit 3).
    pub fn env(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ENV,
            message: message.into(),
        }
    }
}

impl From<sluice_store::StoreError> for Failure {
    fn from(e: sluice_store::StoreError) -> Self {
        Failure::env(format!("error: {e}"))
    }
}

fn main() -> ExitCode {
    tune_allocator();
    limit_openmp();
    let args = cli::Cli::parse();
    if let Some(env) = &args.environment {
        let valid = !env.is_empty()
            && env
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            eprintln!(
                "error: invalid environment `{env}` (use lower-case letters, digits, `_` and `-`)"
            );
            return ExitCode::from(EXIT_INVALID);
        }
        set_environment(env);
    }
    // The server logs what it does (info); other commands only errors, unless SLUICE_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match args.command {
            cli::Command::Serve { .. } | cli::Command::Worker { .. } => "info",
            _ => "error",
        })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ENV);
        }
    };
    match runtime.block_on(commands::dispatch(args)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
