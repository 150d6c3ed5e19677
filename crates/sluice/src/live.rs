//! What `sluice run` shows while it runs: a live view on a terminal (overall progress bar and
//! one line per running task), plain timestamped lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_core::TaskState;
use sluice_engine::Event;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::table::human;

/// Consumes engine events until the channel closes. Plain lines go to stdout, or to stderr
/// when stdout is reserved for JSON.
pub async fn show(mut rx: UnboundedReceiver<Event>, pipeline: String, stdout_is_json: bool) {
    let mut view = View::new(pipeline, std::io::stderr().is_terminal(), stdout_is_json);
    while let Some(e) = rx.recv().await {
        view.event(e);
    }
    view.finish();
}

struct View {
    pipeline: String,
    live: Option<Live>,
    total: usize,
    done: usize,
    to_stderr: bool,
}

struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    running: HashMap<String, ProgressBar>,
}

fn line(task: &str, state: TaskState, detail: &str) -> String {
    let now = chrono::Local::now().format("%H:%M:%S");
    if detail.is_empty() {
        format!("{now} {task:<24} {}", state.as_str())
    } else {
        format!("{now} {task:<24} {:<15} {detail}", state.as_str())
    }
}

impl View {
    fn new(pipeline: String, terminal: bool, to_stderr: bool) -> Self {
        let live = terminal.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} tasks  {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            overall.enable_steady_tick(Duration::from_millis(200));
            Live {
                multi,
                overall,
                running: HashMap::new(),
            }
        });
        View {
            pipeline,
            live,
            total: 0,
            done: 0,
            to_stderr,
        }
    }

    fn print(&self, text: String) {
        match &self.live {
            Some(l) => {
                let _ = l.multi.println(text);
            }
            None => self.plain(&text),
        }
    }

    fn plain(&self, text: &str) {
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::RunStarted {
                run_id,
                tasks,
                already_done,
                resumed,
            } => {
                self.total = tasks;
                self.done = already_done;
                let verb = if resumed { "resuming" } else { "run" };
                let extra = if already_done > 0 {
                    format!(" ({already_done} already succeeded)")
                } else {
                    String::new()
                };
                self.print(format!(
                    "{verb} {run_id} of {}: {tasks} tasks{extra}",
                    self.pipeline
                ));
                if let Some(l) = &self.live {
                    l.overall.set_prefix(run_id);
                    l.overall.set_length(tasks as u64);
                    l.overall.set_position(already_done as u64);
                }
            }
            Event::Log { task, line } => {
                let now = chrono::Local::now().format("%H:%M:%S");
                self.print(format!("{now} {task:<24} | {line}"))
            }
            Event::Progress { task, done, total } => {
                // The task's spinner becomes a bar with rate and time left (the plain output
                // has them in the task log instead).
                if let Some(bar) = self.live.as_ref().and_then(|l| l.running.get(&task)) {
                    if bar.length() != Some(total) {
                        bar.set_style(
                            ProgressStyle::with_template(
                                "  {msg} [{bar:24}] {human_pos}/{human_len} rows, {rate}, ETA {eta}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .with_key(
                                "rate",
                                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                                    let _ = write!(w, "{:.1}/s", s.per_sec());
                                },
                            )
                            .progress_chars("=> "),
                        );
                        bar.set_length(total);
                        bar.reset_eta();
                    }
                    bar.set_position(done);
                }
            }
            Event::Task {
                task,
                state,
                attempt,
                error,
                elapsed,
                retry_in,
            } => {
                let took = elapsed
                    .map(human)
                    .map(|d| format!(" after {d}"))
                    .unwrap_or_default();
                let detail = match state {
                    TaskState::Running => format!("attempt {attempt}"),
                    TaskState::Succeeded => format!("attempt {attempt}{took}"),
                    TaskState::Cached => "unchanged since its last success".into(),
                    TaskState::UpForRetry => format!(
                        "attempt {attempt} failed{took}: {}; retrying in {}",
                        error.unwrap_or_default(),
                        retry_in.map(human).unwrap_or_default()
                    ),
                    TaskState::Failed => format!(
                        "attempt {attempt} failed{took}: {}",
                        error.unwrap_or_default()
                    ),
                    TaskState::UpstreamFailed | TaskState::Cancelled | TaskState::Queued => {
                        error.unwrap_or_default()
                    }
                };
                if state.is_final() {
                    self.done += 1;
                }
                match &mut self.live {
                    Some(l) => {
                        if state == TaskState::Running {
                            let bar = l.multi.add(ProgressBar::new_spinner());
                            bar.set_style(
                                ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
                                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                            );
                            bar.set_message(format!("{task} (attempt {attempt})"));
                            bar.enable_steady_tick(Duration::from_millis(120));
                            if let Some(old) = l.running.insert(task.clone(), bar) {
                                old.finish_and_clear();
                            }
                        } else {
                            if let Some(bar) = l.running.remove(&task) {
                                bar.finish_and_clear();
                            }
                            let _ = l.multi.println(line(&task, state, &detail));
                        }
                        l.overall.set_position(self.done as u64);
                    }
                    None => self.plain(&line(&task, state, &detail)),
                }
            }
        }
    }

    fn finish(self) {
        if let Some(l) = self.live {
            for bar in l.running.values() {
                bar.finish_and_clear();
            }
            l.overall.finish_and_clear();
        }
    }
}
