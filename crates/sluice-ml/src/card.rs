//! A model version's card as Markdown: what it is for (the pipeline's `card:` notes), what it
//! reads and predicts, its figures on each part of the split, its confusion matrix, the
//! search that chose it, the data it learnt from, its energy and CO2, and where MLflow has it
//! — after Mitchell et al.'s "Model Cards for Model Reporting" and the Hugging Face cards.
//! The server shows it as a page and serves it as Markdown; `sluice models card` prints it.

use std::fmt::Write as _;

use crate::Model;
use crate::features::FeatureKind;
use crate::tracking::{Evaluation, TrainState, TrialRecord};

/// Everything a card says, gathered by the caller.
pub struct Card<'a> {
    /// `pipeline.task`.
    pub name: &'a str,
    /// The version.
    pub version: &'a str,
    /// When it was trained, as the caller writes times.
    pub created: &'a str,
    /// The run that trained it.
    pub run_id: &'a str,
    /// The aliases naming it.
    pub aliases: &'a [String],
    /// What `train` kept with the version.
    pub state: &'a TrainState,
    /// The model.
    pub model: &'a Model,
    /// Every trial of its training.
    pub trials: &'a [TrialRecord],
    /// Its confusion matrices and rows per part, when kept.
    pub evaluation: Option<&'a Evaluation>,
}

/// Text for a Markdown table cell: one line, no column separator.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A figure as the card shows it.
fn figure(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

impl Card<'_> {
    /// The card as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let notes = self.state.card.clone().unwrap_or_default();
        let _ = writeln!(md, "# Model card: {}\n", self.name);
        let aliases = if self.aliases.is_empty() {
            String::new()
        } else {
            format!(" (aliases: {})", self.aliases.join(", "))
        };
        let _ = writeln!(
            md,
            "Version `{}`{aliases} · {} · trained {} by run `{}`.\n",
            self.version, self.state.kind, self.created, self.run_id
        );
        if let Some(d) = &notes.description {
            let _ = writeln!(md, "{}\n", d.trim());
        }
        let missing = |key: &str| format!("_Not stated: set `card.{key}` on the `train` task._");
        let _ = writeln!(
            md,
            "## Intended use\n\n{}\n",
            notes
                .intended_use
                .as_deref()
                .map_or_else(|| missing("intended_use"), |t| t.trim().to_string())
        );
        let _ = writeln!(
            md,
            "## Limitations\n\n{}\n",
            notes
                .limitations
                .as_deref()
                .map_or_else(|| missing("limitations"), |t| t.trim().to_string())
        );
        self.details(&mut md, &notes);
        self.figures(&mut md);
        self.confusion(&mut md);
        self.search(&mut md);
        self.energy(&mut md);
        md
    }

    fn details(&self, md: &mut String, notes: &crate::tracking::CardNotes) {
        let _ = writeln!(md, "## Model\n\n| | |\n|---|---|");
        let _ = writeln!(md, "| Type | {} |", self.state.kind);
        let spec = serde_json::to_string(&self.model.spec).unwrap_or_default();
        let _ = writeln!(md, "| Settings | `{}` |", cell(&spec));
        let features: Vec<String> = self
            .model
            .features
            .columns
            .iter()
            .map(|c| match &c.kind {
                FeatureKind::Numeric => format!("{} (number)", c.name),
                FeatureKind::Vector { dim } => format!("{} (vector of {dim})", c.name),
                FeatureKind::Categorical { categories } => {
                    format!("{} (category, {} values)", c.name, categories.len())
                }
            })
            .collect();
        let _ = writeln!(md, "| Features | {} |", cell(&features.join(", ")));
        if let Some(l) = &self.model.label {
            let label = match l.classes() {
                Some(c) => format!("{}: {} classes ({})", l.name(), c.len(), c.join(", ")),
                None => format!("{}: a value", l.name()),
            };
            let _ = writeln!(md, "| Label | {} |", cell(&label));
        }
        if let Some(input) = &self.state.input {
            let pipeline = self.name.split('.').next().unwrap_or_default();
            let (task, version) = input.split_once('@').unwrap_or((input.as_str(), ""));
            let _ = writeln!(
                md,
                "| Trained on | `{pipeline}.{task}` version `{version}` |"
            );
        }
        if let Some(e) = self.evaluation.filter(|e| !e.rows.is_empty()) {
            let rows: Vec<String> = ["train", "valid", "test"]
                .iter()
                .filter_map(|p| e.rows.get(*p).map(|n| format!("{n} {p}")))
                .collect();
            let _ = writeln!(md, "| Rows | {} |", rows.join(", "));
        }
        if let Some(o) = &notes.owner {
            let _ = writeln!(md, "| Owner | {} |", cell(o));
        }
        if let Some(l) = &notes.license {
            let _ = writeln!(md, "| Licence | {} |", cell(l));
        }
        if let Some(m) = &self.state.mlflow {
            let _ = writeln!(
                md,
                "| MLflow | run `{}` (experiment {}) on {}; registered model `{}` version {} |",
                m.run_id,
                m.experiment_id,
                cell(&m.server),
                cell(&m.registered_model),
                m.model_version
            );
        }
        md.push('\n');
    }

    /// The kept trial's final figures, a row per metric and a column per part.
    fn figures(&self, md: &mut String) {
        let Some(best) = self
            .trials
            .iter()
            .find(|t| t.trial == self.state.best_trial)
        else {
            return;
        };
        let _ = writeln!(
            md,
            "## Figures\n\nTrial {} of {}, kept for its {} of {}.\n",
            self.state.best_trial,
            self.state.trials,
            self.state.metric,
            figure(self.state.value)
        );
        let mut metrics: Vec<&str> = Vec::new();
        for (name, _) in &best.figures {
            if let Some((_, m)) = name.split_once('.')
                && !metrics.contains(&m)
            {
                metrics.push(m);
            }
        }
        let _ = writeln!(md, "| metric | train | valid | test |\n|---|---|---|---|");
        for m in metrics {
            let value = |part: &str| {
                best.figures
                    .iter()
                    .find(|(n, _)| n == &format!("{part}.{m}"))
                    .map_or_else(|| "–".to_string(), |(_, v)| figure(*v))
            };
            let _ = writeln!(
                md,
                "| {m} | {} | {} | {} |",
                value("train"),
                value("valid"),
                value("test")
            );
        }
        md.push('\n');
    }

    /// The confusion matrix on the test rows (else the validation rows).
    fn confusion(&self, md: &mut String) {
        let Some(e) = self.evaluation else { return };
        let Some((part, matrix)) = ["test", "valid"]
            .iter()
            .find_map(|p| e.confusion.get(*p).map(|m| (*p, m)))
        else {
            return;
        };
        let _ = writeln!(
            md,
            "## Confusion matrix ({part} rows)\n\nRows: the true class; columns: the predicted one.\n"
        );
        let head: Vec<String> = e.classes.iter().map(|c| cell(c)).collect();
        let _ = writeln!(
            md,
            "| true \\ predicted | {} |\n|---|{}",
            head.join(" | "),
            "---|".repeat(head.len())
        );
        for (class, row) in e.classes.iter().zip(matrix) {
            let counts: Vec<String> = row.iter().map(u64::to_string).collect();
            let _ = writeln!(md, "| {} | {} |", cell(class), counts.join(" | "));
        }
        md.push('\n');
    }

    /// Every trial of a search.
    fn search(&self, md: &mut String) {
        if self.trials.len() < 2 {
            return;
        }
        let key = &self.state.metric;
        let _ = writeln!(
            md,
            "## Search\n\n| trial | settings | epochs | {key} |\n|---|---|---|---|"
        );
        for t in self.trials {
            let value = t
                .figures
                .iter()
                .find(|(n, _)| n == key)
                .map_or(f64::NAN, |(_, v)| *v);
            let mark = if t.trial == self.state.best_trial {
                " (kept)"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {}{mark} | `{}` | {} | {} |",
                t.trial,
                cell(&serde_json::to_string(&t.model).unwrap_or_default()),
                t.epochs,
                figure(value)
            );
        }
        md.push('\n');
    }

    fn energy(&self, md: &mut String) {
        let Some(e) = &self.state.energy else { return };
        let how = if e.method == "rapl" {
            "measured by the CPU package's energy counters (RAPL)".to_string()
        } else {
            "estimated from CPU time × a power per busy core, as codecarbon does without counters"
                .to_string()
        };
        let _ = writeln!(
            md,
            "## Energy\n\nThe whole training (every trial): {:.1} s, {:.1} CPU s, {} kWh \
             ({how}), {} g CO2 at {} g CO2/kWh.\n",
            e.seconds,
            e.cpu_seconds,
            figure(e.kwh),
            figure(e.co2_grams),
            e.grid_intensity
        );
    }
}
