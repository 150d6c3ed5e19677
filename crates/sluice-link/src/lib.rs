//! Record linkage and deduplication, the ops `link` and `link.clusters` ([`specs`] registers
//! them). Blocking rules (a union) choose the candidate pairs, streamed in chunks; each column
//! is compared to a level; a Fellegi–Sunter model (u from random pairs, m and the prior by EM,
//! no labels) scores each pair; pairs above the threshold are the dataset, with every level and
//! weight (why they match). `link.clusters` turns the pairs into connected components. The CLI
//! uses [`explain`] for `sluice link explain`.
//!
//! A family crate: it knows the op API (`sluice-op`) and datasets (`sluice-data`), never the
//! other ops, the engine or the server.

mod blocking;
mod clusters;
mod compare;
mod model;
mod records;
mod spill;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_data::datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder,
};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_data::{DatasetTarget, DatasetWriter};
use tokio_util::sync::CancellationToken;

pub use blocking::{RuleSpec, soundex};
pub use clusters::{LinkClusters, build_clusters as clusters_build};
pub use compare::{CompareSpec, Method};
pub use model::Model;

use blocking::Blocking;
use model::{Comparer, Part};
use records::Records;
use sluice_op::Names;
use sluice_op::{Op, OpError, OpOutput, TaskContext, TaskLog, blocking as off_thread};

/// The ops of this crate, for the registry.
pub fn specs() -> Vec<sluice_op::OpSpec> {
    vec![
        sluice_op::OpSpec {
            name: "link",
            summary: "Finds the records of one `input` that are duplicates (or links those of two): a union of `blocking` rules (columns, prefixes, soundex, sorted neighbourhood, SQL), levels per `compare` column, a Fellegi–Sunter model fitted without labels (u from random pairs, m by EM); the pairs above `threshold` with their levels and weights; precision/recall/F1 against a `truth`.",
            build: build_link,
        },
        sluice_op::OpSpec {
            name: "link.clusters",
            summary: "Groups the records of `records` into the connected components of the pairs of a `link` task: one row per record with its cluster id and size.",
            build: clusters_build,
        },
    ]
}

fn default_threshold() -> f64 {
    0.9
}

fn default_max_pairs() -> u64 {
    20_000_000
}

/// Ground truth, to measure precision and recall: a column of the records, or a list of
/// the true pairs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    /// Records with the same value here describe the same entity.
    #[serde(default)]
    pub column: Option<String>,
    /// A regex whose first group (or whole match) is the entity, e.g. `^rec-(\d+)-`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// A task whose dataset lists the true pairs, one per row, by record id.
    #[serde(default)]
    pub pairs: Option<String>,
    /// Column of `pairs` holding the first input's id (default `id_l`).
    #[serde(default)]
    pub left: Option<String>,
    /// Column of `pairs` holding the second input's id (default `id_r`).
    #[serde(default)]
    pub right: Option<String>,
}

impl Truth {
    fn check(&self) -> Result<(), String> {
        match (&self.column, &self.pairs) {
            (Some(_), None) => {
                if self.left.is_some() || self.right.is_some() {
                    return Err("`truth.left` and `truth.right` go with `truth.pairs`".into());
                }
                if let Some(p) = &self.pattern {
                    regex::Regex::new(p).map_err(|e| format!("`truth.pattern`: {e}"))?;
                }
                Ok(())
            }
            (None, Some(_)) if self.pattern.is_some() => {
                Err("`truth.pattern` goes with `truth.column`".into())
            }
            (None, Some(_)) => Ok(()),
            _ => Err("`truth` takes `column` (records sharing a value are the same entity) or `pairs` (a task listing the true pairs by id), not both".into()),
        }
    }

    fn pair_columns(&self) -> (&str, &str) {
        (
            self.left.as_deref().unwrap_or("id_l"),
            self.right.as_deref().unwrap_or("id_r"),
        )
    }
}

/// How the model is fitted.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmSpec {
    /// Share of matches among the candidate pairs to start from (EM refines it).
    pub prior: f64,
    /// Most EM iterations.
    pub max_iterations: usize,
    /// Random pairs sampled to estimate u.
    pub u_pairs: usize,
    /// Seed of that sample.
    pub seed: u64,
    /// Estimate m rule by rule, each rule leaving out the columns it blocks on (Splink's
    /// method, the default); `false`: one EM over all the candidates.
    pub by_rule: bool,
}

impl Default for EmSpec {
    fn default() -> Self {
        EmSpec {
            prior: 0.01,
            max_iterations: 100,
            u_pairs: 100_000,
            seed: 42,
            by_rule: true,
        }
    }
}

/// `op: link`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// One task: deduplicate its records; two: link the first's to the second's.
    pub input: Names,
    /// The column identifying a record.
    pub id: String,
    /// Blocking rules; a pair is a candidate when any rule finds it.
    pub blocking: Vec<RuleSpec>,
    /// How each column is compared.
    pub compare: BTreeMap<String, CompareSpec>,
    /// Pairs with at least this match probability are kept (default 0.9).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Most candidate pairs (default 20,000,000): a rule that would make more stops the task
    /// before it runs out of memory or time.
    #[serde(default = "default_max_pairs")]
    pub max_pairs: u64,
    /// Ground truth: precision, recall, F1 and a threshold curve on the attempt.
    #[serde(default)]
    pub truth: Option<Truth>,
    /// Model fitting.
    #[serde(default)]
    pub em: EmSpec,
}

/// Probabilities of the threshold curve.
const CURVE: [f64; 15] = [
    0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999,
];

impl Link {
    fn inputs(&self) -> Vec<String> {
        self.input.to_vec()
    }

    fn check(&self) -> Result<(), String> {
        let inputs = self.inputs();
        if inputs.is_empty() || inputs.len() > 2 {
            return Err(format!(
                "`input` takes one task (deduplicate) or two (link the first to the second), got {}",
                inputs.len()
            ));
        }
        if inputs.len() == 2 && inputs[0] == inputs[1] {
            return Err(format!(
                "`input` names `{}` twice: give it once to deduplicate it",
                inputs[0]
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(format!(
                "`threshold` is a match probability between 0 and 1, got {}",
                self.threshold
            ));
        }
        if !(self.em.prior > 0.0 && self.em.prior < 1.0) {
            return Err(format!(
                "`em.prior` is a share of matches strictly between 0 and 1, got {}",
                self.em.prior
            ));
        }
        if self.blocking.is_empty() {
            return Err("`blocking` needs at least one rule: comparing every pair does not scale (use `on: [column]`)".into());
        }
        if self.blocking.len() > 255 {
            return Err("`blocking`: at most 255 rules".into());
        }
        for (i, rule) in self.blocking.iter().enumerate() {
            rule.check(i + 1)?;
        }
        if self.compare.is_empty() {
            return Err("`compare` needs at least one column".into());
        }
        if self.compare.len() > model::MAX_COMPARISONS {
            return Err(format!(
                "`compare`: at most {} columns",
                model::MAX_COMPARISONS
            ));
        }
        for (col, spec) in &self.compare {
            spec.check(col)?;
        }
        if let Some(t) = &self.truth {
            t.check()?;
            if t.pairs.as_ref().is_some_and(|p| inputs.contains(p)) {
                return Err(format!(
                    "`truth.pairs` names `{}`, an input: give the task listing the true pairs",
                    t.pairs.as_deref().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    /// Whether blocking rule `k` conditions the pairs it finds on `column`, so that their
    /// agreement on it says nothing about matches. A key or sorted rule does on its own
    /// columns; a SQL rule on the columns it names and, since it only adds the pairs no
    /// earlier rule found, on the columns of every other key or sorted rule and of the SQL
    /// rules before it.
    fn conditions_on(&self, k: usize, column: &str) -> bool {
        let rule = &self.blocking[k];
        if rule.sql.is_none() {
            return rule.names(column);
        }
        self.blocking.iter().enumerate().any(|(j, other)| {
            let before = j == k || other.sql.is_none() || j < k;
            before && other.names(column)
        })
    }

    /// Columns of the inputs the op reads; `None` when a SQL rule may read any.
    fn columns(&self) -> Option<Vec<String>> {
        if self.blocking.iter().any(|r| r.sql.is_some()) {
            return None;
        }
        let mut cols: Vec<String> = self.compare.keys().cloned().collect();
        for rule in &self.blocking {
            cols.extend(rule.columns());
        }
        cols.extend(self.truth.as_ref().and_then(|t| t.column.clone()));
        cols.sort();
        cols.dedup();
        Some(cols)
    }

    /// Reads the records of the inputs, checking first that every column is there.
    fn read(&self, dirs: &[(String, PathBuf)]) -> Result<Vec<Records>, OpError> {
        let mut out = Vec::new();
        for (task, dir) in dirs {
            let schema = sluice_data::export::dataset_schema(dir)?;
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let missing = |col: &str, what: String| {
                OpError::config(format!(
                    "{what}: `{col}` is not a column of `{task}` (columns: {})",
                    names.join(", ")
                ))
            };
            let has = |c: &str| names.contains(&c);
            if !has(&self.id) {
                return Err(missing(&self.id, "`id`".into()));
            }
            for (i, rule) in self.blocking.iter().enumerate() {
                for col in rule.columns() {
                    if !has(&col) {
                        return Err(missing(
                            &col,
                            format!("blocking rule {} (`{}`)", i + 1, rule.label()),
                        ));
                    }
                }
            }
            for col in self.compare.keys() {
                if !has(col) {
                    return Err(missing(col, format!("compare `{col}`")));
                }
            }
            if let Some(col) = self.truth.as_ref().and_then(|t| t.column.as_ref())
                && !has(col)
            {
                return Err(missing(col, "`truth`".into()));
            }
            let columns = self
                .columns()
                .unwrap_or_else(|| names.iter().map(|s| s.to_string()).collect());
            let records = Records::read(dir, task, &self.id, &columns)?;
            if records.len() == 0 {
                return Err(OpError::data(format!(
                    "`{task}` has no records: there is nothing to {} (check the task that makes it)",
                    if dirs.len() == 1 {
                        "deduplicate"
                    } else {
                        "link"
                    }
                )));
            }
            out.push(records);
        }
        Ok(out)
    }
}

/// Builds `link`, checking its keys.
pub fn build_link(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Link = sluice_core::from_node(config)?;
    op.check()
        .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

/// What is kept with the pairs dataset: the model and where the records came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkState {
    /// The op's configuration.
    pub config: Link,
    /// The fitted model.
    pub model: Model,
    /// The input datasets read: task and folder.
    pub inputs: Vec<(String, PathBuf)>,
}

/// The truth, ready to tell whether a pair of rows is a true pair.
enum Known {
    /// The entity of each record of the first input and, when linking, of the second.
    Keys(Vec<Option<String>>, Option<Vec<Option<String>>>),
    /// The true pairs, as rows (dedup: smaller row first).
    Pairs(std::collections::HashSet<(u32, u32)>),
}

impl Known {
    fn is_true(&self, a: usize, b: usize) -> bool {
        match self {
            Known::Keys(l, r) => {
                let rk = r.as_ref().unwrap_or(l);
                l[a].is_some() && l[a] == rk[b]
            }
            Known::Pairs(set) => set.contains(&(a as u32, b as u32)),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Known::Keys(l, r) => true_pair_count(l, r.as_ref()),
            Known::Pairs(set) => set.len() as u64,
        }
    }
}

/// Reads the truth: the entity column of the records, or the list of true pairs in
/// `pairs` (the dataset of task `truth.pairs`), whose ids are mapped to rows. Returns it with
/// the number of listed pairs that name an unknown record.
fn known(
    truth: &Truth,
    left: &Records,
    right: Option<&Records>,
    pairs: Option<&(String, PathBuf)>,
) -> Result<(Known, u64), OpError> {
    let Some((task, dir)) = pairs else {
        let keys = truth_keys(left, truth)?;
        let right_keys = right.map(|r| truth_keys(r, truth)).transpose()?;
        return Ok((Known::Keys(keys, right_keys), 0));
    };
    let (lc, rc) = truth.pair_columns();
    let list = Records::read(dir, task, lc, &[rc.to_string()])
        .map_err(|e| OpError::data(format!("`truth.pairs`: {e}")))?;
    let rows = |r: &Records| -> HashMap<String, u32> {
        (0..r.len())
            .map(|i| (r.ids.value(i).to_string(), i as u32))
            .collect()
    };
    let left_rows = rows(left);
    let right_rows = right.map(rows);
    let right_rows = right_rows.as_ref().unwrap_or(&left_rows);
    let other = list.column(rc);
    let mut set = std::collections::HashSet::new();
    let mut unknown = 0;
    for i in 0..list.len() {
        let found = Records::value(other, i)
            .and_then(|r| Some((*left_rows.get(list.ids.value(i))?, *right_rows.get(r)?)));
        match found {
            Some((a, b)) if right.is_none() && a != b => {
                set.insert((a.min(b), a.max(b)));
            }
            Some((a, b)) if right.is_some() => {
                set.insert((a, b));
            }
            _ => unknown += 1,
        }
    }
    Ok((Known::Pairs(set), unknown))
}

/// Entity of each record, from the truth column.
fn truth_keys(records: &Records, truth: &Truth) -> Result<Vec<Option<String>>, OpError> {
    let Some(column) = &truth.column else {
        return Err(OpError::config("`truth` has no `column`"));
    };
    let col = records.column(column);
    let re = match &truth.pattern {
        Some(p) => Some(
            regex::Regex::new(p).map_err(|e| OpError::config(format!("`truth.pattern`: {e}")))?,
        ),
        None => None,
    };
    Ok((0..records.len())
        .map(|row| {
            let v = Records::value(col, row)?;
            match &re {
                None => Some(v.to_string()),
                Some(re) => re.captures(v).map(|c| {
                    c.get(1)
                        .or_else(|| c.get(0))
                        .map_or(String::new(), |m| m.as_str().to_string())
                }),
            }
        })
        .collect())
}

/// Counts of true and false pairs at each threshold of the curve.
#[derive(Default)]
struct Scores {
    true_pairs: u64,
    tp: [u64; CURVE.len() + 1],
    fp: [u64; CURVE.len() + 1],
}

impl Scores {
    fn add(&mut self, p: f64, is_true: bool, threshold: f64) {
        let counts = if is_true { &mut self.tp } else { &mut self.fp };
        for (i, t) in CURVE.iter().chain(std::iter::once(&threshold)).enumerate() {
            if p >= *t {
                counts[i] += 1;
            }
        }
    }

    fn at(&self, i: usize) -> (f64, f64, f64) {
        let (tp, fp) = (self.tp[i] as f64, self.fp[i] as f64);
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        let recall = if self.true_pairs > 0 {
            tp / self.true_pairs as f64
        } else {
            1.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        (precision, recall, f1)
    }
}

/// Writes the pairs dataset in batches.
struct PairsWriter {
    schema: SchemaRef,
    writer: DatasetWriter,
    ids: [StringBuilder; 2],
    probability: Float64Builder,
    weight: Float64Builder,
    rule: StringBuilder,
    truth: Option<BooleanBuilder>,
    levels: Vec<StringBuilder>,
    weights: Vec<Float64Builder>,
    rows: usize,
}

impl PairsWriter {
    fn new(out: &DatasetTarget, columns: &[String], truth: bool) -> Self {
        let mut fields = vec![
            Field::new("id_l", DataType::Utf8, false),
            Field::new("id_r", DataType::Utf8, false),
            Field::new("probability", DataType::Float64, false),
            Field::new("match_weight", DataType::Float64, false),
            Field::new("rule", DataType::Utf8, false),
        ];
        if truth {
            fields.push(Field::new("true_match", DataType::Boolean, false));
        }
        for c in columns {
            fields.push(Field::new(format!("{c}_level"), DataType::Utf8, false));
            fields.push(Field::new(format!("{c}_weight"), DataType::Float64, false));
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        PairsWriter {
            writer: DatasetWriter::new(out, schema.clone()),
            schema,
            ids: [StringBuilder::new(), StringBuilder::new()],
            probability: Float64Builder::new(),
            weight: Float64Builder::new(),
            rule: StringBuilder::new(),
            truth: truth.then(BooleanBuilder::new),
            levels: columns.iter().map(|_| StringBuilder::new()).collect(),
            weights: columns.iter().map(|_| Float64Builder::new()).collect(),
            rows: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ids: (&str, &str),
        p: f64,
        w: f64,
        rule: &str,
        is_true: Option<bool>,
        parts: &[Part],
        labels: &[Vec<String>],
    ) -> Result<(), OpError> {
        self.ids[0].append_value(ids.0);
        self.ids[1].append_value(ids.1);
        self.probability.append_value(p);
        self.weight.append_value(w);
        self.rule.append_value(rule);
        if let (Some(b), Some(t)) = (&mut self.truth, is_true) {
            b.append_value(t);
        }
        for (c, part) in parts.iter().enumerate() {
            self.levels[c].append_value(&labels[c][part.level as usize]);
            self.weights[c].append_value(part.weight);
        }
        self.rows += 1;
        if self.rows == 8192 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OpError> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.ids[0].finish()),
            Arc::new(self.ids[1].finish()),
            Arc::new(self.probability.finish()),
            Arc::new(self.weight.finish()),
            Arc::new(self.rule.finish()),
        ];
        if let Some(b) = &mut self.truth {
            cols.push(Arc::new(b.finish()));
        }
        for (l, w) in self.levels.iter_mut().zip(self.weights.iter_mut()) {
            cols.push(Arc::new(l.finish()));
            cols.push(Arc::new(w.finish()));
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| OpError::internal(format!("pairs dataset: {e}")))?;
        self.writer.write(&batch)?;
        self.rows = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<sluice_data::DatasetInfo, OpError> {
        self.flush()?;
        Ok(self.writer.finish()?)
    }
}

struct Run<'a> {
    op: &'a Link,
    dirs: Vec<(String, PathBuf)>,
    /// The dataset of `truth.pairs`, when the truth is a list of pairs.
    truth_pairs: Option<(String, PathBuf)>,
    out: DatasetTarget,
    runtime: tokio::runtime::Handle,
    cancel: CancellationToken,
    log: TaskLog,
}

fn cancelled(cancel: &CancellationToken) -> Result<(), OpError> {
    if cancel.is_cancelled() {
        return Err(OpError::cancelled("cancelled"));
    }
    Ok(())
}

/// How often each pattern of levels occurs: over all the candidate pairs, and (with
/// `by_rule`) over the pairs of each rule.
struct PatternCounts {
    all: HashMap<u64, u64>,
    by_rule: Vec<HashMap<u64, u64>>,
}

/// What pass 1 found: every candidate pair with its pattern of levels (spilled to disk), the
/// pattern counts, and the pairs each rule added.
struct Counted {
    spill: spill::Spill,
    counts: PatternCounts,
    added: Vec<u64>,
}

/// What pass 2 found.
struct Scored {
    info: sluice_data::DatasetInfo,
    scores: Scores,
    links: u64,
}

impl Run<'_> {
    /// Reads the inputs, estimates u, counts the patterns of the candidate pairs (pass 1),
    /// fits the model by EM, scores the pairs and keeps the links (pass 2).
    fn go(self) -> Result<OpOutput, OpError> {
        let op = self.op;
        let clock = Instant::now();
        let records = op.read(&self.dirs)?;
        let left = &records[0];
        let right_side = records.get(1);
        let right = right_side.unwrap_or(left);
        let same = right_side.is_none();
        let read_s = clock.elapsed().as_secs_f64();
        let link_clock = Instant::now();

        let columns: Vec<String> = op.compare.keys().cloned().collect();
        let specs: Vec<CompareSpec> = op.compare.values().cloned().collect();
        let comparer = Comparer::new(&columns, &specs, left, right, same);
        let blocking = Blocking::new(&op.blocking, left, right_side, op.max_pairs);

        // u from random pairs.
        let all_pairs = if same {
            (left.len() as u64) * (left.len() as u64 - 1) / 2
        } else {
            left.len() as u64 * right.len() as u64
        };
        let u_pairs = (op.em.u_pairs as u64).min(all_pairs);
        let u = model::estimate_u(
            &comparer,
            left.len(),
            right.len(),
            same,
            u_pairs as usize,
            op.em.seed,
        );
        let _ = self.log.line(&format!(
            "u from {u_pairs} random pairs and the values' frequencies in {:.2} s",
            link_clock.elapsed().as_secs_f64()
        ));
        cancelled(&self.cancel)?;
        let Counted {
            spill,
            counts,
            added,
        } = self.count(&comparer, &blocking, left, right_side)?;
        let candidates: u64 = added.iter().sum();
        // `fit` consumes the pattern counts: they are freed before pass 2.
        let model = self.fit(&columns, &specs, u, &blocking, counts, candidates);
        let truth = self.truth(left, right_side)?;
        let pairs = (left, right);
        let scored = self.score(&model, &comparer, &blocking, pairs, truth.as_ref(), spill)?;
        let link_s = link_clock.elapsed().as_secs_f64();
        let mut metrics = sluice_op::counters(&[
            ("records_left", left.len() as u64),
            ("records_right", if same { 0 } else { right.len() as u64 }),
            ("candidate_pairs", candidates),
            ("links", scored.links),
            ("em_iterations", model.iterations as u64),
        ]);
        metrics.insert("read_seconds".into(), round(read_s).into());
        metrics.insert("link_seconds".into(), round(link_s).into());
        metrics.insert(
            "pairs_per_second".into(),
            (candidates as f64 / link_s.max(1e-9)).round().into(),
        );
        metrics.insert("lambda".into(), model.lambda.into());
        let rules = blocking.labels().iter().zip(&added);
        let rules = rules.map(|(l, n)| serde_json::json!({"rule": l, "pairs": n}));
        metrics.insert("blocking".into(), rules.collect::<Vec<_>>().into());
        if truth.is_some() {
            self.against_truth(&scored.scores, &mut metrics);
        }
        let _ = self.log.line(&format!(
            "{} links from {candidates} candidate pairs in {link_s:.2} s ({:.0} pairs/s)",
            scored.links,
            candidates as f64 / link_s.max(1e-9)
        ));
        let state = LinkState {
            config: op.clone(),
            model,
            inputs: self.dirs.clone(),
        };
        Ok(OpOutput {
            dataset: Some(scored.info.into()),
            metrics,
            state: Some(
                serde_json::to_value(&state)
                    .map_err(|e| OpError::internal(format!("cannot keep the model: {e}")))?,
            ),
            ..OpOutput::default()
        })
    }

    /// The truth, when the config names one; listed pairs that name no record are logged.
    fn truth(&self, left: &Records, right: Option<&Records>) -> Result<Option<Known>, OpError> {
        let Some(t) = &self.op.truth else {
            return Ok(None);
        };
        let (known, unknown) = known(t, left, right, self.truth_pairs.as_ref())?;
        if unknown > 0 {
            let _ = self.log.line(&format!(
                "truth: {unknown} listed pairs name a record that is not in the inputs \
                 (or a record with itself); they are left out"
            ));
        }
        Ok(Some(known))
    }

    /// Pass 1: the count of each pattern of levels, for EM, over all the candidates and over
    /// the pairs of each rule (those it finds, whichever rule found them first); the pairs and
    /// their patterns are spilled for pass 2.
    fn count(
        &self,
        comparer: &Comparer<'_>,
        blocking: &Blocking,
        left: &Records,
        right_side: Option<&Records>,
    ) -> Result<Counted, OpError> {
        let pass_clock = Instant::now();
        let mut patterns: HashMap<u64, u64> = HashMap::new();
        // One count per rule with `by_rule`, none without.
        let n_rules = if self.op.em.by_rule {
            self.op.blocking.len()
        } else {
            0
        };
        let mut by_rule: Vec<HashMap<u64, u64>> = vec![HashMap::new(); n_rules];
        let mut spill = spill::Spill::new(&self.out.dir)?;
        let added = blocking.for_each_chunk(left, right_side, &self.runtime, &mut |chunk| {
            cancelled(&self.cancel)?;
            let pats = model::patterns(comparer, chunk);
            spill.push(chunk, &pats)?;
            for (&(a, b, rule), &p) in chunk.iter().zip(&pats) {
                *patterns.entry(p).or_default() += 1;
                for (k, counts) in by_rule.iter_mut().enumerate() {
                    if k == rule as usize || blocking.covers(k, a, b) {
                        *counts.entry(p).or_default() += 1;
                    }
                }
            }
            Ok(())
        })?;
        for (label, n) in blocking.labels().iter().zip(&added) {
            let _ = self
                .log
                .line(&format!("blocking `{label}`: {n} new candidate pairs"));
        }
        let _ = self.log.line(&format!(
            "{} candidate pairs compared in {:.2} s",
            added.iter().sum::<u64>(),
            pass_clock.elapsed().as_secs_f64()
        ));
        Ok(Counted {
            spill,
            counts: PatternCounts {
                all: patterns,
                by_rule,
            },
            added,
        })
    }

    /// The model fitted by EM on the pattern counts, each rule's fit logged.
    fn fit(
        &self,
        columns: &[String],
        specs: &[CompareSpec],
        u: Vec<Vec<f64>>,
        blocking: &Blocking,
        counts: PatternCounts,
        candidates: u64,
    ) -> Model {
        let op = self.op;
        let rule_counts: Vec<model::RuleCounts> = counts
            .by_rule
            .into_iter()
            .enumerate()
            .map(|(k, patterns)| model::RuleCounts {
                rule: blocking.labels()[k].clone(),
                patterns,
                excluded: columns.iter().map(|c| op.conditions_on(k, c)).collect(),
            })
            .collect();
        let model = model::fit(
            columns,
            specs,
            u,
            &rule_counts,
            &counts.all,
            op.em.prior,
            op.em.max_iterations,
        );
        for fit in &model.rules {
            let _ = self.log.line(&format!(
                "EM on the {} pairs of `{}`: {:.4} of them matches after {} iterations; m of {}",
                fit.pairs,
                fit.rule,
                fit.lambda,
                fit.iterations,
                fit.columns.join(", ")
            ));
        }
        let _ = self.log.line(&format!(
            "EM: {} iterations over {} patterns of {candidates} pairs, {:.4} of them matches",
            model.iterations,
            counts.all.len(),
            model.lambda
        ));
        model
    }

    /// Pass 2: the pairs read back from the scratch file scored, those above the threshold
    /// written with their levels and weights, each measured against the truth when there is
    /// one.
    fn score(
        &self,
        model: &Model,
        comparer: &Comparer<'_>,
        blocking: &Blocking,
        (left, right): (&Records, &Records),
        truth: Option<&Known>,
        spill: spill::Spill,
    ) -> Result<Scored, OpError> {
        let op = self.op;
        let mut scores = Scores::default();
        if let Some(t) = truth {
            scores.true_pairs = t.count();
        }
        let columns: Vec<String> = op.compare.keys().cloned().collect();
        let labels: Vec<Vec<String>> = op
            .compare
            .values()
            .map(|s| (0..s.level_count() as u8).map(|l| s.label(l)).collect())
            .collect();
        let mut writer = PairsWriter::new(&self.out, &columns, truth.is_some());
        let mut parts = Vec::new();
        let mut links = 0u64;
        spill.for_each_chunk(&mut |chunk, pats| {
            cancelled(&self.cancel)?;
            for (&(a, b, rule), &pattern) in chunk.iter().zip(pats) {
                let (a, b) = (a as usize, b as usize);
                let w = model.score(comparer, pattern, a, &mut parts);
                let p = model::probability(w);
                let is_true = truth.map(|t| t.is_true(a, b));
                if let Some(t) = is_true {
                    scores.add(p, t, op.threshold);
                }
                if p >= op.threshold {
                    links += 1;
                    writer.push(
                        (left.ids.value(a), right.ids.value(b)),
                        p,
                        w,
                        &blocking.labels()[rule as usize],
                        is_true,
                        &parts,
                        &labels,
                    )?;
                }
            }
            Ok(())
        })?;
        Ok(Scored {
            info: writer.finish()?,
            scores,
            links,
        })
    }

    /// Precision, recall and F1 at the threshold and along [`CURVE`], into `metrics` and the
    /// log.
    fn against_truth(
        &self,
        scores: &Scores,
        metrics: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let (p, r, f1) = scores.at(CURVE.len());
        metrics.insert("true_pairs".into(), scores.true_pairs.into());
        metrics.insert("precision".into(), round(p).into());
        metrics.insert("recall".into(), round(r).into());
        metrics.insert("f1".into(), round(f1).into());
        let curve: Vec<serde_json::Value> = CURVE
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (p, r, f1) = scores.at(i);
                serde_json::json!({"threshold": t, "precision": round(p), "recall": round(r), "f1": round(f1)})
            })
            .collect();
        metrics.insert("threshold_curve".into(), curve.into());
        let _ = self.log.line(&format!(
            "against the truth ({} true pairs): precision {p:.4}, recall {r:.4}, F1 {f1:.4} at threshold {}",
            scores.true_pairs, self.op.threshold
        ));
    }
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Number of true pairs: records sharing an entity (within one input, or across two).
fn true_pair_count(left: &[Option<String>], right: Option<&Vec<Option<String>>>) -> u64 {
    let mut l: HashMap<&str, u64> = HashMap::new();
    for k in left.iter().flatten() {
        *l.entry(k).or_default() += 1;
    }
    match right {
        None => l.values().map(|n| n * (n - 1) / 2).sum(),
        Some(right) => {
            let mut total = 0;
            for k in right.iter().flatten() {
                total += l.get(k.as_str()).copied().unwrap_or(0);
            }
            total
        }
    }
}

#[async_trait]
impl Op for Link {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let mut dirs = Vec::new();
        for task in self.inputs() {
            dirs.push((task.clone(), ctx.input(&task)?.to_path_buf()));
        }
        let truth_pairs = match self.truth.as_ref().and_then(|t| t.pairs.as_ref()) {
            Some(task) => Some((task.clone(), ctx.input(task)?.to_path_buf())),
            None => None,
        };
        let op = self.clone();
        let out = ctx.output()?.clone();
        let runtime = tokio::runtime::Handle::current();
        let (cancel, log) = (ctx.cancel.clone(), ctx.log.clone());
        off_thread(move || {
            Run {
                op: &op,
                dirs,
                truth_pairs,
                out,
                runtime,
                cancel,
                log,
            }
            .go()
        })
        .await
    }

    fn reads(&self) -> Vec<String> {
        let mut tasks = self.inputs();
        tasks.extend(self.truth.as_ref().and_then(|t| t.pairs.clone()));
        tasks
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}

/// One line of [`Explanation`].
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedField {
    /// The compared column.
    pub column: String,
    /// Its values in the two records.
    pub left: Option<String>,
    /// See `left`.
    pub right: Option<String>,
    /// The level reached.
    pub level: String,
    /// m and u of that level (u term-frequency adjusted).
    pub m: f64,
    /// See `m`.
    pub u: f64,
    /// log2(m/u).
    pub weight: f64,
}

/// Why two records got their score.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The records' ids.
    pub ids: (String, String),
    /// log2 of the prior odds.
    pub prior_weight: f64,
    /// Each comparison.
    pub fields: Vec<ExplainedField>,
    /// Total match weight.
    pub match_weight: f64,
    /// Match probability.
    pub probability: f64,
    /// Whether it passes the threshold.
    pub linked: bool,
    /// The threshold.
    pub threshold: f64,
    /// The blocking rules that make the pair a candidate (none: it was never compared).
    pub rules: Vec<String>,
}

/// Explains the score of the pair `(id_l, id_r)` with the model kept in `state`.
/// Call it off the async threads (it reads the inputs; SQL rules run on `runtime`).
pub fn explain(
    state: &LinkState,
    id_l: &str,
    id_r: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<Explanation, OpError> {
    let op = &state.config;
    let records = op.read(&state.inputs)?;
    let left = &records[0];
    let right_side = records.get(1);
    let right = right_side.unwrap_or(left);
    let find = |r: &Records, id: &str| {
        r.row_of(id).ok_or_else(|| {
            OpError::config(format!("no record with {} `{id}` in `{}`", op.id, r.task))
        })
    };
    let (mut a, mut b) = (find(left, id_l)?, find(right, id_r)?);
    if right_side.is_none() && a > b {
        std::mem::swap(&mut a, &mut b);
    }
    let model = &state.model;
    let comparer = Comparer::new(
        &model.columns,
        &model.specs,
        left,
        right,
        right_side.is_none(),
    );
    let pattern = comparer.pattern(a, b);
    let mut parts = Vec::new();
    let w = model.score(&comparer, pattern, a, &mut parts);
    let fields = parts
        .iter()
        .enumerate()
        .map(|(c, part)| {
            let (l, r) = comparer.values(c, a, b);
            ExplainedField {
                column: model.columns[c].clone(),
                left: l.map(str::to_string),
                right: r.map(str::to_string),
                level: model.specs[c].label(part.level),
                m: part.m,
                u: part.u,
                weight: part.weight,
            }
        })
        .collect();
    // Which rules find the pair: run each alone over just these two records.
    let blocking = Blocking::new(&op.blocking, left, right_side, u64::MAX);
    let rules = blocking.finding(a as u32, b as u32, left, right_side, runtime)?;
    let p = model::probability(w);
    Ok(Explanation {
        ids: (id_l.to_string(), id_r.to_string()),
        prior_weight: model.prior_weight(),
        fields,
        match_weight: w,
        probability: p,
        linked: p >= op.threshold && !rules.is_empty(),
        threshold: op.threshold,
        rules,
    })
}
