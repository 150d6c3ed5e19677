//! Multinomial logistic regression with an L2 penalty, fitted by L-BFGS on the whole training
//! set — the objective of scikit-learn's `LogisticRegression(C = 1 / l2)`: mean cross-entropy
//! plus `l2 / (2 n) ‖W‖²` (the intercepts are not penalised).

use serde::{Deserialize, Serialize};
use sluice_kernels::{Layout, matmul};

use crate::frame::par_chunks;
use crate::{Epoch, Matrix, MlError, Result, Run, kernels};

/// Settings of `model: {type: logistic}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticParams {
    /// Strength of the L2 penalty (scikit-learn's `1 / C`).
    pub l2: f64,
    /// L-BFGS iterations at most.
    pub max_iter: usize,
    /// Stop when the largest gradient component is below this.
    pub tol: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            l2: 1.0,
            max_iter: 1000,
            tol: 1e-4,
        }
    }
}

/// A fitted logistic regression: `softmax(x · W + b)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    /// `inputs × classes`, row-major.
    pub w: Matrix,
    /// One intercept per class.
    pub b: Vec<f32>,
    /// Iterations run.
    pub iterations: usize,
}

/// Rows per block of the loss and gradient (fixed, so sums do not depend on the threads).
const BLOCK: usize = 2048;

/// Cross-entropy of `softmax(z)` against the classes `y`, turning `z` into the gradient
/// `softmax(z) − onehot(y)`; returns the summed loss.
pub(crate) fn softmax_xent(z: &mut [f32], y: &[f32], k: usize) -> f64 {
    kernels().softmax_rows(z, k);
    let mut loss = 0.0;
    for (row, &t) in z.chunks_exact_mut(k).zip(y) {
        let t = t as usize;
        loss -= (row[t].max(1e-30) as f64).ln();
        row[t] -= 1.0;
    }
    loss
}

/// The objective and its gradient at `theta` (`W` then `b`, in f64).
fn objective(
    x: &Matrix,
    y: &[f32],
    k: usize,
    l2: f64,
    theta: &[f64],
    threads: usize,
) -> (f64, Vec<f64>) {
    let d = x.cols;
    let n = x.rows as f64;
    let w: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
    let parts = par_chunks(x.rows, BLOCK, threads, |rows| {
        let m = rows.len();
        let xs = &x.data[rows.start * d..rows.end * d];
        let mut z = vec![0f32; m * k];
        matmul(
            &mut z,
            Layout::dense(m, k),
            xs,
            Layout::dense(m, d),
            &w[..d * k],
            Layout::dense(d, k),
            false,
        );
        kernels().add_bias(&mut z, &w[d * k..]);
        let loss = softmax_xent(&mut z, &y[rows.clone()], k);
        let mut gw = vec![0f32; d * k];
        matmul(
            &mut gw,
            Layout::dense(d, k),
            xs,
            Layout::dense(m, d).t(),
            &z,
            Layout::dense(m, k),
            false,
        );
        let mut gb = vec![0f64; k];
        for row in z.chunks_exact(k) {
            for (g, v) in gb.iter_mut().zip(row) {
                *g += *v as f64;
            }
        }
        (loss, gw, gb)
    });
    let mut loss = 0.0;
    let mut grad = vec![0f64; d * k + k];
    for (l, gw, gb) in parts {
        loss += l;
        for (g, v) in grad.iter_mut().zip(&gw) {
            *g += *v as f64;
        }
        for (g, v) in grad[d * k..].iter_mut().zip(&gb) {
            *g += v;
        }
    }
    let mut penalty = 0.0;
    for (g, &t) in grad.iter_mut().zip(theta).take(d * k) {
        *g = *g / n + l2 / n * t;
        penalty += t * t;
    }
    for g in &mut grad[d * k..] {
        *g /= n;
    }
    (loss / n + l2 / (2.0 * n) * penalty, grad)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Logistic {
    /// Fits on `x` (preprocessed rows) and class codes `y` in `0..classes`.
    pub fn fit(
        params: &LogisticParams,
        x: &Matrix,
        y: &[f32],
        classes: usize,
        run: &mut Run,
    ) -> Result<Logistic> {
        if params.l2 < 0.0 || !params.l2.is_finite() {
            return Err(MlError::Config(format!(
                "l2 is {}: give a penalty ≥ 0",
                params.l2
            )));
        }
        if x.rows == 0 {
            return Err(MlError::Data("no training rows".into()));
        }
        let (d, k) = (x.cols, classes);
        let threads = run.threads;
        // With two classes, the two weight vectors of the multinomial form share the penalty
        // of scikit-learn's one vector (w = w1 − w0 is optimal at w0 = −w1): twice the
        // strength gives the same objective.
        let l2 = if k == 2 { 2.0 * params.l2 } else { params.l2 };
        let eval = |t: &[f64]| objective(x, y, k, l2, t, threads);
        let mut theta = vec![0f64; d * k + k];
        let (mut f, mut g) = eval(&theta);
        let history = 10;
        let mut s_hist: Vec<Vec<f64>> = Vec::new();
        let mut y_hist: Vec<Vec<f64>> = Vec::new();
        let mut iterations = 0;
        while iterations < params.max_iter {
            if g.iter().fold(0f64, |m, v| m.max(v.abs())) < params.tol {
                break;
            }
            // Two-loop recursion: the direction -H·g.
            let mut q = g.clone();
            let mut alpha = vec![0f64; s_hist.len()];
            for i in (0..s_hist.len()).rev() {
                let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
                alpha[i] = rho * dot(&s_hist[i], &q);
                for (qj, yj) in q.iter_mut().zip(&y_hist[i]) {
                    *qj -= alpha[i] * yj;
                }
            }
            let gamma = match (s_hist.last(), y_hist.last()) {
                (Some(s), Some(yv)) => dot(s, yv) / dot(yv, yv),
                _ => 1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12),
            };
            for v in &mut q {
                *v *= gamma;
            }
            for i in 0..s_hist.len() {
                let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
                let beta = rho * dot(&y_hist[i], &q);
                for (qj, sj) in q.iter_mut().zip(&s_hist[i]) {
                    *qj += (alpha[i] - beta) * sj;
                }
            }
            let dir: Vec<f64> = q.iter().map(|v| -v).collect();
            let slope = dot(&g, &dir);
            if slope >= 0.0 {
                // Not a descent direction: restart from the gradient.
                s_hist.clear();
                y_hist.clear();
                continue;
            }
            // Backtracking line search (Armijo).
            let mut step = 1.0;
            let (mut f_new, mut g_new, mut theta_new);
            loop {
                theta_new = theta
                    .iter()
                    .zip(&dir)
                    .map(|(t, d)| t + step * d)
                    .collect::<Vec<f64>>();
                (f_new, g_new) = eval(&theta_new);
                if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                    break;
                }
                step *= 0.5;
            }
            let s: Vec<f64> = theta_new.iter().zip(&theta).map(|(a, b)| a - b).collect();
            let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
            if dot(&s, &yv) > 1e-10 {
                if s_hist.len() == history {
                    s_hist.remove(0);
                    y_hist.remove(0);
                }
                s_hist.push(s);
                y_hist.push(yv);
            }
            let improved = f - f_new;
            theta = theta_new;
            f = f_new;
            g = g_new;
            iterations += 1;
            run.report(Epoch {
                epoch: iterations,
                metrics: vec![("loss".into(), f)],
            })?;
            if improved.abs() <= 1e-12 * f.abs().max(1.0) {
                break;
            }
        }
        Ok(Logistic {
            w: Matrix {
                rows: d,
                cols: k,
                data: theta[..d * k].iter().map(|&v| v as f32).collect(),
            },
            b: theta[d * k..].iter().map(|&v| v as f32).collect(),
            iterations,
        })
    }

    /// Class probabilities of preprocessed rows.
    pub fn predict(&self, x: &Matrix, threads: usize) -> Matrix {
        let (d, k) = (self.w.rows, self.w.cols);
        let mut out = Matrix::zeros(x.rows, k);
        crate::frame::par_rows_mut(&mut out.data, k, BLOCK, threads, |start, block| {
            let m = block.len() / k;
            matmul(
                block,
                Layout::dense(m, k),
                &x.data[start * d..(start + m) * d],
                Layout::dense(m, d),
                &self.w.data,
                self.w.layout(),
                false,
            );
            kernels().add_bias(block, &self.b);
            kernels().softmax_rows(block, k);
        });
        out
    }
}
