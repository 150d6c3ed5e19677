//! Figures of a model on rows it is scored on: accuracy, macro F1, log loss, ROC AUC,
//! confusion matrix (classifiers), RMSE (regression), inertia and silhouette (clusters).

use serde::{Deserialize, Serialize};

use crate::rng::{SliceRandom, rng};
use crate::{Matrix, MlError, Result};

/// A metric a search ranks its trials by (`metric:` of `train`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of rows whose most probable class is the label.
    Accuracy,
    /// Mean over classes of F1.
    F1Macro,
    /// Mean negative log-probability of the label.
    Logloss,
    /// Area under the ROC curve (binary; macro one-vs-rest for several classes).
    Auc,
    /// Root mean squared error (regression).
    Rmse,
    /// Mean silhouette (clusters, on a sample of rows).
    Silhouette,
    /// Sum of squared distances to the nearest centre (clusters).
    Inertia,
    /// Share of the variance the components keep (PCA).
    ExplainedVariance,
}

impl Metric {
    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Logloss | Metric::Rmse | Metric::Inertia)
    }

    /// Its name, as written in pipeline files and metric tables.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::F1Macro => "f1_macro",
            Metric::Logloss => "logloss",
            Metric::Auc => "auc",
            Metric::Rmse => "rmse",
            Metric::Silhouette => "silhouette",
            Metric::Inertia => "inertia",
            Metric::ExplainedVariance => "explained_variance",
        }
    }

    /// Whether `a` is better than `b` (a NaN is never better).
    pub fn better(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// The most probable class of each row of `probas`.
pub fn predicted(probas: &Matrix) -> Vec<usize> {
    (0..probas.rows).map(|r| argmax(probas.row(r))).collect()
}

/// How sure a prediction is: 1 − H(p) / ln K, from 0 (every class as likely) to 1 (one class
/// certain), as the document team's page shows it (K classes, H the entropy).
pub fn confidence(probas: &[f32]) -> f64 {
    if probas.len() < 2 {
        return 1.0;
    }
    let entropy: f64 = probas
        .iter()
        .map(|&p| f64::from(p))
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    (1.0 - entropy / (probas.len() as f64).ln()).clamp(0.0, 1.0)
}

/// Share of rows whose most probable class is `y`.
pub fn accuracy(probas: &Matrix, y: &[f32]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let right = predicted(probas)
        .iter()
        .zip(y)
        .filter(|(p, y)| **p == **y as usize)
        .count();
    right as f64 / y.len() as f64
}

/// `confusion[true][predicted]` counts.
pub fn confusion(probas: &Matrix, y: &[f32]) -> Vec<Vec<u64>> {
    let k = probas.cols;
    let mut c = vec![vec![0u64; k]; k];
    for (p, &t) in predicted(probas).iter().zip(y) {
        c[t as usize][*p] += 1;
    }
    c
}

/// Mean over classes of F1 (a class never predicted nor present counts 0, as scikit-learn).
pub fn f1_macro(probas: &Matrix, y: &[f32]) -> f64 {
    let c = confusion(probas, y);
    let k = c.len();
    if k == 0 || y.is_empty() {
        return f64::NAN;
    }
    let mut total = 0.0;
    for (j, row) in c.iter().enumerate() {
        let tp = row[j] as f64;
        let fp: f64 = (0..k).filter(|&i| i != j).map(|i| c[i][j] as f64).sum();
        let fn_: f64 = (0..k).filter(|&i| i != j).map(|i| row[i] as f64).sum();
        if tp + fp + fn_ > 0.0 {
            total += 2.0 * tp / (2.0 * tp + fp + fn_);
        }
    }
    total / k as f64
}

/// Mean negative log-probability of the label (probabilities clipped to `[1e-15, 1]`).
pub fn logloss(probas: &Matrix, y: &[f32]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let total: f64 = y
        .iter()
        .enumerate()
        .map(|(r, &t)| -(probas.row(r)[t as usize] as f64).clamp(1e-15, 1.0).ln())
        .sum();
    total / y.len() as f64
}

/// ROC AUC of scores for the positive rows (ties count a half).
fn binary_auc(scores: &[f32], positive: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0f64, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            if positive[o] {
                rank_sum += mid;
            }
        }
        i = j + 1;
    }
    let p = positive.iter().filter(|&&b| b).count() as f64;
    let n = positive.len() as f64 - p;
    if p == 0.0 || n == 0.0 {
        return f64::NAN;
    }
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// ROC AUC: of the second class for two classes, else the mean one-vs-rest AUC over the
/// classes present.
pub fn auc(probas: &Matrix, y: &[f32]) -> f64 {
    let k = probas.cols;
    let score = |j: usize| -> Vec<f32> { (0..probas.rows).map(|r| probas.row(r)[j]).collect() };
    if k == 2 {
        let pos: Vec<bool> = y.iter().map(|&t| t as usize == 1).collect();
        return binary_auc(&score(1), &pos);
    }
    let aucs: Vec<f64> = (0..k)
        .map(|j| {
            let pos: Vec<bool> = y.iter().map(|&t| t as usize == j).collect();
            binary_auc(&score(j), &pos)
        })
        .filter(|a| !a.is_nan())
        .collect();
    if aucs.is_empty() {
        f64::NAN
    } else {
        aucs.iter().sum::<f64>() / aucs.len() as f64
    }
}

/// Root mean squared error.
pub fn rmse(predicted: &[f32], y: &[f32]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let sq: f64 = predicted
        .iter()
        .zip(y)
        .map(|(p, t)| ((p - t) as f64).powi(2))
        .sum();
    (sq / y.len() as f64).sqrt()
}

/// Squared euclidean distance.
pub(crate) fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Mean silhouette of `x` with cluster `labels`, on at most `sample` rows drawn with `seed`
/// (exact silhouette is quadratic in the rows).
pub fn silhouette(x: &Matrix, labels: &[u32], sample: usize, seed: u64) -> Result<f64> {
    let k = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    if k < 2 {
        return Err(MlError::Data(
            "silhouette needs at least two clusters".into(),
        ));
    }
    let mut rows: Vec<usize> = (0..x.rows).collect();
    if rows.len() > sample {
        rows.shuffle(&mut rng(seed, 7));
        rows.truncate(sample);
    }
    let mut total = 0.0;
    for &i in &rows {
        let mut sum = vec![0f64; k];
        let mut count = vec![0usize; k];
        for &j in &rows {
            if i != j {
                sum[labels[j] as usize] += (sq_dist(x.row(i), x.row(j)) as f64).sqrt();
                count[labels[j] as usize] += 1;
            }
        }
        let own = labels[i] as usize;
        if count[own] == 0 {
            continue; // a singleton scores 0
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && count[c] > 0)
            .map(|c| sum[c] / count[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b);
        }
    }
    Ok(total / rows.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_runs_from_uniform_to_certain() {
        assert_eq!(confidence(&[0.25; 4]), 0.0);
        assert_eq!(confidence(&[0.0, 1.0, 0.0]), 1.0);
        // H = ln 2 over ln 4: half sure.
        assert!((confidence(&[0.5, 0.5, 0.0, 0.0]) - 0.5).abs() < 1e-9);
        assert_eq!(confidence(&[1.0]), 1.0);
    }

    fn probas(rows: &[[f32; 2]]) -> Matrix {
        Matrix {
            rows: rows.len(),
            cols: 2,
            data: rows.iter().flatten().copied().collect(),
        }
    }

    #[test]
    fn classifier_metrics_match_hand_computed_values() {
        let p = probas(&[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]]);
        let y = [0.0, 0.0, 1.0, 1.0];
        assert_eq!(accuracy(&p, &y), 0.5);
        assert_eq!(confusion(&p, &y), vec![vec![1, 1], vec![1, 1]]);
        assert!((f1_macro(&p, &y) - 0.5).abs() < 1e-12);
        let ll = -((0.9f64).ln() + (0.4f64).ln() + (0.7f64).ln() + (0.2f64).ln()) / 4.0;
        assert!((logloss(&p, &y) - ll).abs() < 1e-6);
        // Positive scores 0.7, 0.2 against negatives 0.1, 0.6: 3 of 4 pairs ordered.
        assert!((auc(&p, &y) - 0.75).abs() < 1e-12);
        assert!((rmse(&[1.0, 3.0], &[2.0, 5.0]) - (2.5f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn silhouette_of_two_tight_clusters_is_near_one() {
        let x = Matrix {
            rows: 4,
            cols: 1,
            data: vec![0.0, 0.1, 10.0, 10.1],
        };
        let s = silhouette(&x, &[0, 0, 1, 1], 100, 1).expect("two clusters");
        assert!(s > 0.98, "{s}");
        assert!(Metric::Rmse.better(1.0, 2.0) && Metric::Accuracy.better(0.9, 0.8));
    }
}
