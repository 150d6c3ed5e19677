//! Histogram gradient-boosted decision trees, in the manner of LightGBM and scikit-learn's
//! `HistGradientBoosting*`: binary (logistic), multiclass (softmax) and regression (squared
//! error) objectives, leaf-wise trees on binned features, native missing values and
//! categorical splits.
//!
//! * **Binning** (`bins.rs`): per numeric column up to `max_bins` quantile bins learnt from at
//!   most 200,000 training rows (a subsample seeded by [`Run::seed`]) plus one bin for missing
//!   values; the thresholds are kept in the model, so prediction needs only the model.
//!   Categorical columns: the codes are the bins (up to [`MAX_CATEGORIES`]; `NaN`, unknown and
//!   larger codes are missing).
//! * **Trees** (`grow.rs`, `split.rs`, `tree.rs`): leaf-wise growth up to `max_leaves` (and
//!   `max_depth`), split gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)`, leaf value `−G/(H+λ)`
//!   times the learning rate, `min_samples_leaf` rows and a hessian sum of at least 1e-3 per
//!   child. At each split missing values are tried on both sides; a node without missing rows
//!   sends them to its larger child. Categorical splits (LightGBM's): the node's categories
//!   with at least 10 rows are sorted by `G/(H + 10)` and the best prefix from either end (at
//!   most 32 categories) goes left, kept as a bitset; rarer categories go right, categories
//!   absent from the node go to the larger child; each side needs `min_samples_leaf` rows and
//!   the gain uses `λ + 10`.
//! * **Histograms** (`hist.rs`): `(Σg, Σh, rows)` per bin in `f64` over `u8` (or `u16`) bins
//!   stored column-major, built for the smaller child only (the larger is the parent's minus
//!   it). With 8 features or more the features are split in groups, one per thread (threads
//!   started once per tree, fed by channels); each group builds, subtracts and finds the splits
//!   of its features. With fewer features, large nodes are built by row chunks of a fixed size
//!   merged in chunk order. Gradients, binning and prediction run by row chunks.
//! * **Determinism**: the same data, settings and seed give the same model, bit for bit, for any
//!   thread count (tested with 1, 2 and 3 threads on both histogram paths).
//!
//! [`Run::seed`]: crate::Run
//! [`Run::threads`]: crate::Run
#![warn(missing_docs)]

mod bins;
mod grow;
mod hist;
mod loss;
mod split;
#[cfg(test)]
mod tests;
mod tree;

use serde::{Deserialize, Serialize};

use crate::{Epoch, Frame, MlError, Result, Run, par_chunks};
pub use bins::MAX_CATEGORIES;
use bins::{Binned, FeatureBins};
use grow::{Grower, Growth};
use hist::Layout;
use split::{FeatInfo, Rules};
use tree::Tree;

/// Settings of gradient-boosted trees. Every field has a default, so a configuration may give
/// any subset of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtParams {
    /// Boosting rounds (100).
    pub max_iter: usize,
    /// Shrinkage of each tree (0.1); must be positive.
    pub learning_rate: f64,
    /// Leaves per tree, grown best-first (31); at least 2.
    pub max_leaves: usize,
    /// Maximum depth of a tree, the root at depth 0 (none).
    pub max_depth: Option<usize>,
    /// Minimum training rows in a leaf (20).
    pub min_samples_leaf: usize,
    /// L2 regularisation λ of the leaf values (0).
    pub l2: f64,
    /// Bins for the non-missing values of a numeric column (255), 2 to 255; missing values
    /// get one more bin.
    pub max_bins: usize,
    /// Stop when the validation loss has not improved (by more than 1e-7) for this many rounds,
    /// and keep the trees up to the best round (none). Without validation data, 10 % of the
    /// training rows (chosen with the seed) are held out for it; with fewer than 20 rows there
    /// is no early stopping.
    pub early_stopping: Option<usize>,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            max_iter: 100,
            learning_rate: 0.1,
            max_leaves: 31,
            max_depth: None,
            min_samples_leaf: 20,
            l2: 0.0,
            max_bins: 255,
            early_stopping: None,
        }
    }
}

impl GbdtParams {
    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        let config = |m: String| Err(MlError::Config(m));
        if self.max_leaves < 2 {
            return config(format!(
                "max_leaves must be at least 2, got {}",
                self.max_leaves
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return config(format!(
                "learning_rate must be a positive number, got {}",
                self.learning_rate
            ));
        }
        if !(2..=255).contains(&self.max_bins) {
            return config(format!(
                "max_bins must be between 2 and 255, got {}",
                self.max_bins
            ));
        }
        if self.min_samples_leaf == 0 {
            return config("min_samples_leaf must be at least 1, got 0".into());
        }
        if self.max_depth == Some(0) {
            return config("max_depth must be at least 1, got 0".into());
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return config(format!("l2 must be a number >= 0, got {}", self.l2));
        }
        if self.early_stopping == Some(0) {
            return config("early_stopping must be at least 1 round, got 0".into());
        }
        Ok(())
    }
}

/// What the trees learn.
///
/// Serialised as `"Binary"`, `{"Multiclass": {"classes": 3}}`, `"Regression"` (the snake-case
/// names are read too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    /// Two classes (codes 0 and 1), logistic loss; one raw score (the log-odds of class 1).
    #[serde(alias = "binary")]
    Binary,
    /// `classes` classes (codes `0..classes`), softmax cross-entropy; one raw score per class.
    #[serde(alias = "multiclass")]
    Multiclass {
        /// Number of classes (at least 2).
        classes: usize,
    },
    /// Squared error; one raw score (the prediction).
    #[serde(alias = "regression")]
    Regression,
}

/// A fitted gradient-boosted tree model: the objective, the base scores, each column's bins and
/// the trees. Serialises compactly with serde (the trees as arrays).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored")]
pub struct Gbdt {
    objective: Objective,
    base: Vec<f64>,
    features: Vec<FeatureBins>,
    /// Round after round, `outputs` trees per round (class `c`'s tree at `round * outputs + c`).
    trees: Vec<Tree>,
    #[serde(skip)]
    feats: Vec<FeatInfo>,
}

/// A model as serialised, checked when read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    objective: Objective,
    base: Vec<f64>,
    features: Vec<FeatureBins>,
    trees: Vec<Tree>,
}

impl TryFrom<Stored> for Gbdt {
    type Error = String;

    fn try_from(s: Stored) -> std::result::Result<Self, String> {
        let k = loss::outputs(s.objective);
        if k == 0 || s.base.len() != k || !s.trees.len().is_multiple_of(k) {
            return Err(format!(
                "a gradient-boosted model with {} outputs has {} base scores and {} trees",
                k,
                s.base.len(),
                s.trees.len()
            ));
        }
        let feats: Vec<FeatInfo> = s.features.iter().map(FeatInfo::of).collect();
        for (t, tree) in s.trees.iter().enumerate() {
            tree.check(&feats).map_err(|e| format!("tree {t}: {e}"))?;
        }
        Ok(Gbdt {
            objective: s.objective,
            base: s.base,
            features: s.features,
            trees: s.trees,
            feats,
        })
    }
}

/// Rows predicted per chunk (and per thread task).
const PREDICT_CHUNK: usize = 4096;
/// Early stopping needs an improvement of the validation loss larger than this.
const TOLERANCE: f64 = 1e-7;

impl Gbdt {
    /// Fits a model. `y` holds the class codes `0..k` as `f32` for `Binary` (k = 2) and
    /// `Multiclass`, the target for `Regression`. Reports one [`Epoch`] per round (1-based)
    /// with the mean training `loss` (log loss, cross-entropy or squared error) and, with
    /// validation data, `val_loss`; returns [`MlError::Cancelled`] when the report says stop.
    pub fn fit(
        params: &GbdtParams,
        objective: Objective,
        train: &Frame,
        y: &[f32],
        valid: Option<(&Frame, &[f32])>,
        run: &mut Run,
    ) -> Result<Gbdt> {
        params.check()?;
        if let Objective::Multiclass { classes } = objective
            && classes < 2
        {
            return Err(MlError::Config(format!(
                "multiclass needs at least 2 classes, got {classes}"
            )));
        }
        check_data(train, y, objective, "training", train.columns.len())?;
        if let Some((frame, vy)) = valid {
            check_data(frame, vy, objective, "validation", train.columns.len())?;
        }
        let threads = run.threads.max(1);
        let held;
        let (train, y, valid) = match (params.early_stopping, valid) {
            (Some(_), None) if train.rows >= 20 => {
                held = hold_out(train, y, run.seed);
                (
                    &held.0,
                    held.1.as_slice(),
                    Some((&held.2, held.3.as_slice())),
                )
            }
            _ => (train, y, valid),
        };

        let sample = bins::sample_rows(train.rows, bins::BIN_SAMPLE, run.seed);
        let features = bins::fit_bins(train, params.max_bins, sample.as_deref(), threads);
        let feats: Vec<FeatInfo> = features.iter().map(FeatInfo::of).collect();
        let data = bins::bin_frame(train, &features, threads);
        let n_bins: Vec<usize> = features.iter().map(FeatureBins::n_bins).collect();
        let layout = Layout::new(&data, &n_bins);
        let valid = valid.map(|(f, vy)| (bins::bin_frame(f, &features, threads), vy));

        let k = loss::outputs(objective);
        let base = loss::base_scores(objective, y);
        let mut scores: Vec<f64> = base.iter().copied().cycle().take(train.rows * k).collect();
        let mut vscores: Vec<f64> = valid.as_ref().map_or_else(Vec::new, |(d, _)| {
            base.iter().copied().cycle().take(d.rows * k).collect()
        });
        let growth = Growth {
            rules: Rules {
                l2: params.l2,
                min_leaf: params.min_samples_leaf.min(u32::MAX as usize) as u32,
            },
            max_leaves: params.max_leaves,
            max_depth: params.max_depth,
            shrinkage: params.learning_rate,
            threads,
        };
        let mut grower = Grower::new(&data, &layout, &feats, growth);
        let mut trees: Vec<Tree> = Vec::with_capacity(params.max_iter * k);
        // (best validation loss, rounds kept)
        let mut best = (f64::INFINITY, 0);
        // The last round and its validation figures, reported once the training loss of its
        // scores is known: computed with the next round's gradients.
        let mut pending: Option<(usize, Vec<(String, f64)>)> = None;
        let mut stop = false;
        for round in 0..=params.max_iter {
            let more = round < params.max_iter && !stop;
            let (grads, loss) = if more {
                loss::gradients(objective, y, &scores, threads)
            } else {
                (Vec::new(), loss::mean_loss(objective, y, &scores, threads))
            };
            if let Some((epoch, figures)) = pending.take() {
                let mut metrics = vec![("loss".to_string(), loss)];
                metrics.extend(figures);
                run.report(Epoch { epoch, metrics })?;
            }
            if !more {
                break;
            }
            for (c, g) in grads.iter().enumerate() {
                let (tree, ranges) = grower.grow(g);
                let idx = grower.idx();
                for (leaf, rows) in ranges.into_iter().enumerate() {
                    let v = f64::from(tree.leaves[leaf]);
                    for &r in &idx[rows] {
                        scores[r as usize * k + c] += v;
                    }
                }
                if let Some((vd, _)) = &valid {
                    let leaves = leaves_of(&tree, &feats, vd, threads);
                    for (r, &l) in leaves.iter().enumerate() {
                        vscores[r * k + c] += f64::from(tree.leaves[l as usize]);
                    }
                }
                trees.push(tree);
            }
            let mut figures = Vec::new();
            if let Some((_, vy)) = valid {
                let vl = loss::mean_loss(objective, vy, &vscores, threads);
                figures.push(("val_loss".to_string(), vl));
                if vl < best.0 - TOLERANCE {
                    best = (vl, round + 1);
                } else if let Some(patience) = params.early_stopping {
                    stop = round + 1 - best.1 >= patience;
                }
            }
            pending = Some((round + 1, figures));
        }
        if params.early_stopping.is_some() && valid.is_some() {
            trees.truncate(best.1 * k);
        }
        Ok(Gbdt {
            objective,
            base,
            features,
            trees,
            feats,
        })
    }

    /// Raw scores, row-major, `rows × outputs` (1 for `Binary` and `Regression`, the number of
    /// classes for `Multiclass`): the caller applies the sigmoid or softmax. Columns are taken by
    /// position; a column `x` lacks reads as missing.
    pub fn predict_raw(&self, x: &Frame, threads: usize) -> Vec<f32> {
        let k = self.outputs();
        par_chunks(x.rows, PREDICT_CHUNK, threads.max(1), |rows| {
            let n = rows.len();
            let b = bins::bin_rows(x, rows, &self.features, 1);
            let mut out: Vec<f64> = self.base.iter().copied().cycle().take(n * k).collect();
            for (t, tree) in self.trees.iter().enumerate() {
                let c = t % k;
                for r in 0..n {
                    let l = tree.leaf(&self.feats, |j| b.columns[j].get(r));
                    out[r * k + c] += f64::from(tree.leaves[l]);
                }
            }
            out.into_iter().map(|v| v as f32).collect::<Vec<f32>>()
        })
        .concat()
    }

    /// Raw scores per row: 1 for `Binary` and `Regression`, the number of classes for
    /// `Multiclass`.
    pub fn outputs(&self) -> usize {
        loss::outputs(self.objective)
    }

    /// Number of columns the model was fitted on (prediction reads them by position).
    pub fn features(&self) -> usize {
        self.features.len()
    }

    /// The objective the model was fitted for.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Total gain of the splits on each column (of the trees kept).
    pub fn feature_importance(&self) -> Vec<f64> {
        let mut gain = vec![0.0; self.features.len()];
        for tree in &self.trees {
            for (&j, &g) in tree.feature.iter().zip(&tree.gain) {
                if let Some(s) = gain.get_mut(j as usize) {
                    *s += f64::from(g);
                }
            }
        }
        gain
    }

    /// Boosting rounds kept.
    pub fn rounds(&self) -> usize {
        self.trees.len() / self.outputs().max(1)
    }
}

/// The leaf of each row of `data` in `tree`.
fn leaves_of(tree: &Tree, feats: &[FeatInfo], data: &Binned, threads: usize) -> Vec<u32> {
    let threads = if data.rows < 4 * PREDICT_CHUNK {
        1
    } else {
        threads
    };
    par_chunks(data.rows, PREDICT_CHUNK, threads, |rows| {
        rows.map(|r| tree.leaf(feats, |j| data.columns[j].get(r)) as u32)
            .collect::<Vec<u32>>()
    })
    .concat()
}

/// Checks a frame and its targets (`what`: "training" or "validation").
fn check_data(
    frame: &Frame,
    y: &[f32],
    objective: Objective,
    what: &str,
    width: usize,
) -> Result<()> {
    let data = |m: String| Err(MlError::Data(m));
    if frame.rows == 0 {
        return data(format!("the {what} data has no rows"));
    }
    if frame.rows > u32::MAX as usize {
        return data(format!(
            "the {what} data has {} rows, more than the {} supported",
            frame.rows,
            u32::MAX
        ));
    }
    if frame.columns.len() != width {
        return data(format!(
            "the {what} data has {} columns but the training data has {width}",
            frame.columns.len()
        ));
    }
    for (j, column) in frame.columns.iter().enumerate() {
        if column.len() != frame.rows {
            let name = frame
                .names
                .get(j)
                .cloned()
                .unwrap_or_else(|| format!("#{j}"));
            return data(format!(
                "column {name} of the {what} data has {} values for {} rows",
                column.len(),
                frame.rows
            ));
        }
    }
    if y.len() != frame.rows {
        return data(format!(
            "y has {} values but the {what} data has {} rows",
            y.len(),
            frame.rows
        ));
    }
    let classes = match objective {
        Objective::Binary => Some(2),
        Objective::Multiclass { classes } => Some(classes),
        Objective::Regression => None,
    };
    for (i, &v) in y.iter().enumerate() {
        if v.is_nan() {
            return data(format!("the {what} target is NaN at row {i}"));
        }
        match classes {
            Some(k) if !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < k) => {
                return data(format!(
                    "the {what} target is {v} at row {i}: class codes must be integers in 0..{k}"
                ));
            }
            None if !v.is_finite() => {
                return data(format!(
                    "the {what} target is {v} at row {i}: it must be finite"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits off 10 % of the rows (seeded) for early stopping: (train, y, valid, y).
fn hold_out(frame: &Frame, y: &[f32], seed: u64) -> (Frame, Vec<f32>, Frame, Vec<f32>) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..frame.rows).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    order.shuffle(&mut rng);
    let n_valid = frame.rows / 10;
    let (v, t) = order.split_at(n_valid);
    let (mut v, mut t) = (v.to_vec(), t.to_vec());
    v.sort_unstable();
    t.sort_unstable();
    let ys = |rows: &[usize]| rows.iter().map(|&r| y[r]).collect::<Vec<f32>>();
    (subset(frame, &t), ys(&t), subset(frame, &v), ys(&v))
}

/// The rows `rows` of `frame`: its columns, categories and names (fields of the frame this
/// module does not read are left at their defaults).
#[allow(clippy::field_reassign_with_default)] // built field by field: `Frame` may grow fields
fn subset(frame: &Frame, rows: &[usize]) -> Frame {
    let mut out = Frame::default();
    out.rows = rows.len();
    out.columns = frame
        .columns
        .iter()
        .map(|c| rows.iter().map(|&r| c[r]).collect())
        .collect();
    out.categorical = frame.categorical.clone();
    out.names = frame.names.clone();
    out
}
