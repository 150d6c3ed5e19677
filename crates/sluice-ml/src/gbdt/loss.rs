//! Objectives: base scores, gradients and hessians, and the mean loss reported per round.
//!
//! * Binary: logistic loss on the raw score; base = log-odds of the training prior.
//! * Multiclass: softmax cross-entropy, one score per class; base = log class priors;
//!   hessian `p (1 − p)` (as scikit-learn).
//! * Regression: squared error, gradient `F − y`, hessian 1; base = mean; the reported loss is
//!   the mean squared error.
//!
//! Scores are `f64`, row-major (`rows × outputs`). Passes run on row chunks of a fixed size and
//! sums are reduced in chunk order, so results do not depend on the thread count.

use super::Objective;
use super::hist::Gh;
use crate::par_chunks;

/// Rows per chunk of the gradient and loss passes.
const CHUNK: usize = 16_384;
/// Priors are clipped to `[EPS, 1 − EPS]` for the base scores.
const EPS: f64 = 1e-15;

/// Number of raw scores per row.
pub(crate) fn outputs(objective: Objective) -> usize {
    match objective {
        Objective::Multiclass { classes } => classes,
        Objective::Binary | Objective::Regression => 1,
    }
}

/// The initial score of each output.
pub(crate) fn base_scores(objective: Objective, y: &[f32]) -> Vec<f64> {
    let n = y.len().max(1) as f64;
    match objective {
        Objective::Regression => vec![y.iter().map(|&v| f64::from(v)).sum::<f64>() / n],
        Objective::Binary => {
            let p = (y.iter().filter(|&&v| v == 1.0).count() as f64 / n).clamp(EPS, 1.0 - EPS);
            vec![(p / (1.0 - p)).ln()]
        }
        Objective::Multiclass { classes } => {
            let mut counts = vec![0usize; classes];
            for &v in y {
                if let Some(c) = counts.get_mut(v as usize) {
                    *c += 1;
                }
            }
            counts
                .iter()
                .map(|&c| (c as f64 / n).clamp(EPS, 1.0).ln())
                .collect()
        }
    }
}

/// Gradients and hessians of every row, one vector per output, and the mean loss of `scores`
/// (computed on the way: one more `ln` per row).
pub(crate) fn gradients(
    objective: Objective,
    y: &[f32],
    scores: &[f64],
    threads: usize,
) -> (Vec<Vec<Gh>>, f64) {
    let k = outputs(objective);
    let parts = par_chunks(y.len(), CHUNK, threads, |rows| {
        let mut out: Vec<Vec<Gh>> = (0..k).map(|_| Vec::with_capacity(rows.len())).collect();
        let mut p = vec![0.0f64; k];
        let mut loss = 0.0;
        for r in rows {
            let t = f64::from(y[r]);
            let f = &scores[r * k..(r + 1) * k];
            match objective {
                Objective::Regression => {
                    out[0].push([(f[0] - t) as f32, 1.0]);
                    loss += (f[0] - t) * (f[0] - t);
                }
                Objective::Binary => {
                    let e = (-f[0].abs()).exp();
                    let p = if f[0] >= 0.0 {
                        1.0 / (1.0 + e)
                    } else {
                        e / (1.0 + e)
                    };
                    out[0].push([(p - t) as f32, (p * (1.0 - p)) as f32]);
                    loss += f[0].max(0.0) + e.ln_1p() - t * f[0];
                }
                Objective::Multiclass { .. } => {
                    let lse = softmax(f, &mut p);
                    let class = y[r] as usize;
                    for (c, (o, &pc)) in out.iter_mut().zip(&p).enumerate() {
                        let g = if c == class { pc - 1.0 } else { pc };
                        o.push([g as f32, (pc * (1.0 - pc)) as f32]);
                    }
                    loss += lse - f.get(class).copied().unwrap_or(lse);
                }
            }
        }
        (out, loss)
    });
    let mut all: Vec<Vec<Gh>> = (0..k).map(|_| Vec::with_capacity(y.len())).collect();
    let mut loss = 0.0;
    for (part, l) in parts {
        loss += l;
        for (a, p) in all.iter_mut().zip(part) {
            a.extend_from_slice(&p);
        }
    }
    (all, loss / y.len().max(1) as f64)
}

/// `p = softmax(f)`; returns `log Σ exp f`.
#[inline]
fn softmax(f: &[f64], p: &mut [f64]) -> f64 {
    let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (pc, &fc) in p.iter_mut().zip(f) {
        *pc = (fc - m).exp();
        s += *pc;
    }
    p.iter_mut().for_each(|pc| *pc /= s);
    m + s.ln()
}

/// The mean loss of `scores` for targets `y`.
pub(crate) fn mean_loss(objective: Objective, y: &[f32], scores: &[f64], threads: usize) -> f64 {
    let k = outputs(objective);
    let sums = par_chunks(y.len(), CHUNK, threads, |rows| {
        let mut sum = 0.0;
        for r in rows {
            let t = f64::from(y[r]);
            let f = &scores[r * k..(r + 1) * k];
            sum += match objective {
                Objective::Regression => (f[0] - t) * (f[0] - t),
                // log(1 + e^f) − t f, computed stably.
                Objective::Binary => f[0].max(0.0) + (-f[0].abs()).exp().ln_1p() - t * f[0],
                Objective::Multiclass { .. } => {
                    let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + f.iter().map(|&fc| (fc - m).exp()).sum::<f64>().ln();
                    lse - f.get(y[r] as usize).copied().unwrap_or(m)
                }
            };
        }
        sum
    });
    sums.iter().sum::<f64>() / y.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigmoid(f: f64) -> f64 {
        1.0 / (1.0 + (-f).exp())
    }

    #[test]
    fn gradients_match_the_losses() {
        let y = [1.0, 0.0];
        let s = [0.5, -1.0];
        let (g, l) = gradients(Objective::Binary, &y, &s, 1);
        assert!((l - mean_loss(Objective::Binary, &y, &s, 1)).abs() < 1e-12);
        let p = sigmoid(0.5);
        assert!((f64::from(g[0][0][0]) - (p - 1.0)).abs() < 1e-6);
        assert!((f64::from(g[0][0][1]) - p * (1.0 - p)).abs() < 1e-6);
        // Numerical derivative of the loss.
        let eps = 1e-6;
        let l = |f: f64| mean_loss(Objective::Binary, &y[..1], &[f], 1);
        let d = (l(0.5 + eps) - l(0.5 - eps)) / (2.0 * eps);
        assert!((d - (p - 1.0)).abs() < 1e-6);
        let mc = Objective::Multiclass { classes: 3 };
        let s = [0.1, 0.2, -0.3];
        let (g, l) = gradients(mc, &[2.0], &s, 1);
        assert!((l - mean_loss(mc, &[2.0], &s, 1)).abs() < 1e-12);
        let l = |f: [f64; 3]| mean_loss(mc, &[2.0], &f, 1);
        for c in 0..3 {
            let mut a = s;
            let mut b = s;
            a[c] += eps;
            b[c] -= eps;
            let d = (l(a) - l(b)) / (2.0 * eps);
            assert!((d - f64::from(g[c][0][0])).abs() < 1e-6, "{c}: {d}");
        }
        assert_eq!(
            base_scores(Objective::Regression, &[1.0, 2.0, 6.0]),
            vec![3.0]
        );
        let b = base_scores(Objective::Binary, &[1.0, 0.0, 0.0, 0.0]);
        assert!((b[0] - (1.0f64 / 3.0).ln()).abs() < 1e-12);
    }
}
