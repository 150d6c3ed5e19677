//! The server's metrics in the Prometheus text format (version 0.0.4): counters and
//! histograms kept in process, gauges read when `/metrics` is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Buckets of task durations, in seconds.
pub const TASK_SECONDS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];
/// Buckets of the scheduler's lag (a run's start after its slot), in seconds.
pub const LAG_SECONDS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0];

/// Every metric: name, type, help. `/metrics` lists them in this order.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "sluice_runs_started_total",
        "counter",
        "Runs started by this server, by pipeline and trigger.",
    ),
    (
        "sluice_runs_finished_total",
        "counter",
        "Runs ended, by pipeline and final state.",
    ),
    (
        "sluice_runs_active",
        "gauge",
        "Runs going on in this server, by pipeline.",
    ),
    (
        "sluice_tasks_finished_total",
        "counter",
        "Task attempts ended, by pipeline and state.",
    ),
    (
        "sluice_task_duration_seconds",
        "histogram",
        "Duration of task attempts, by pipeline.",
    ),
    (
        "sluice_rows_written_total",
        "counter",
        "Rows of the dataset versions written, by pipeline.",
    ),
    (
        "sluice_embedding_rows_per_second",
        "gauge",
        "Rows per second of the last embed task, by pipeline and task.",
    ),
    (
        "sluice_scheduler_lag_seconds",
        "histogram",
        "Time from a schedule slot to the start of its run.",
    ),
    (
        "sluice_queue_depth",
        "gauge",
        "Task attempts in the workers' queue, by pool and state (queued: waiting for a worker; claimed: running on one).",
    ),
    (
        "sluice_workers",
        "gauge",
        "Workers seen in the last 10 minutes, by state (running, draining, stopped; silent: no heartbeat for over a minute).",
    ),
    (
        "sluice_worker_slots",
        "gauge",
        "Slots of the running workers, by state (busy, free).",
    ),
    (
        "sluice_pipelines",
        "gauge",
        "Pipeline files in the folder, by validity (valid, invalid).",
    ),
    (
        "sluice_model_predictions_total",
        "counter",
        "Prediction requests, by model and outcome (ok, bad_request, error).",
    ),
    (
        "sluice_model_predict_seconds",
        "histogram",
        "Time to answer a prediction request, by model.",
    ),
    (
        "sluice_model_trainings_total",
        "counter",
        "Attempts of train tasks run by this server, by model and outcome (the task state: succeeded, failed, up_for_retry, cached, cancelled, upstream_failed).",
    ),
    (
        "sluice_model_versions",
        "gauge",
        "Versions kept of each model.",
    ),
    (
        "sluice_model_metric",
        "gauge",
        "The ranking figure of a model's latest version and of each aliased version, by model, metric and version (latest or the alias).",
    ),
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone)]
struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The in-process metrics.
#[derive(Default)]
pub struct Metrics {
    values: Mutex<BTreeMap<(&'static str, Labels), f64>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Histogram>>,
}

impl Metrics {
    /// Adds `by` to a counter.
    pub fn add(&self, name: &'static str, labels: Labels, by: f64) {
        if let Ok(mut v) = self.values.lock() {
            *v.entry((name, labels)).or_insert(0.0) += by;
        }
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: Labels, value: f64) {
        if let Ok(mut v) = self.values.lock() {
            v.insert((name, labels), value);
        }
    }

    /// Records an observation in a histogram with `buckets`.
    pub fn observe(&self, name: &'static str, labels: Labels, buckets: &'static [f64], value: f64) {
        if let Ok(mut h) = self.histograms.lock() {
            let h = h.entry((name, labels)).or_insert_with(|| Histogram {
                buckets,
                counts: vec![0; buckets.len()],
                sum: 0.0,
                count: 0,
            });
            for (i, b) in h.buckets.iter().enumerate() {
                if value <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += value;
            h.count += 1;
        }
    }

    /// The text exposition, with `gauges` (read at scrape time) added.
    pub fn render(&self, gauges: &[(&'static str, Labels, f64)]) -> String {
        let mut values = self.values.lock().map(|v| v.clone()).unwrap_or_default();
        for (name, labels, v) in gauges {
            values.insert((name, labels.clone()), *v);
        }
        let histograms = self
            .histograms
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        let mut out = String::new();
        for (name, kind, help) in METRICS {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for ((n, labels), v) in &values {
                if n == name {
                    let _ = writeln!(out, "{name}{} {}", label_text(labels, None), number(*v));
                }
            }
            for ((n, labels), h) in &histograms {
                if n != name {
                    continue;
                }
                for (b, c) in h.buckets.iter().zip(&h.counts) {
                    let le = number(*b);
                    let _ = writeln!(out, "{name}_bucket{} {c}", label_text(labels, Some(&le)));
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    label_text(labels, Some("+Inf")),
                    h.count
                );
                let _ = writeln!(
                    out,
                    "{name}_sum{} {}",
                    label_text(labels, None),
                    number(h.sum)
                );
                let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
            }
        }
        out
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn label_text(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    /// The Grafana dashboard shipped in docs/ charts only metrics the server has.
    #[test]
    fn the_grafana_dashboard_uses_only_metrics_the_server_exports() {
        let dashboard = include_str!("../../../docs/grafana/sluice.json");
        let json: serde_json::Value = serde_json::from_str(dashboard).expect("dashboard JSON");
        let mut used = 0;
        for panel in json["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().expect("expr");
                for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if !word.starts_with("sluice_") {
                        continue;
                    }
                    let name = word.trim_end_matches("_bucket");
                    assert!(
                        METRICS.iter().any(|(m, _, _)| *m == name),
                        "panel {:?} charts {name}, which /metrics does not have",
                        panel["title"]
                    );
                    used += 1;
                }
            }
        }
        assert!(
            used >= METRICS.len(),
            "{used} metric uses for {} metrics",
            METRICS.len()
        );
    }

    use super::*;

    #[test]
    fn renders_counters_gauges_and_cumulative_buckets() {
        let m = Metrics::default();
        m.add(
            "sluice_runs_finished_total",
            vec![("pipeline", "a\"b".into()), ("state", "succeeded".into())],
            2.0,
        );
        m.observe("sluice_scheduler_lag_seconds", vec![], LAG_SECONDS, 0.07);
        m.observe("sluice_scheduler_lag_seconds", vec![], LAG_SECONDS, 3.0);
        let text = m.render(&[("sluice_pipelines", vec![("validity", "valid".into())], 3.0)]);
        assert!(
            text.contains(
                "sluice_runs_finished_total{pipeline=\"a\\\"b\",state=\"succeeded\"} 2\n"
            )
        );
        assert!(text.contains("sluice_scheduler_lag_seconds_bucket{le=\"0.05\"} 0\n"));
        assert!(text.contains("sluice_scheduler_lag_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("sluice_scheduler_lag_seconds_bucket{le=\"5\"} 2\n"));
        assert!(text.contains("sluice_scheduler_lag_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("sluice_scheduler_lag_seconds_count 2\n"));
        assert!(text.contains("sluice_pipelines{validity=\"valid\"} 3\n"));
        assert!(text.contains("# TYPE sluice_task_duration_seconds histogram\n"));
    }
}
