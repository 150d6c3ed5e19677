//! Mini-batch k-means (Sculley 2010, as scikit-learn's `MiniBatchKMeans`): k-means++ seeding
//! on a sample, then centres moved towards the mean of the rows each batch assigns them, with
//! per-centre learning rates; centres that catch almost no rows are moved onto rows of the
//! batch; stops when the smoothed batch inertia has not improved for `max_no_improvement`
//! batches (scikit-learn's rule), or when the centres stop moving over a pass. Distances come
//! from one matrix product per block (`‖x‖² − 2 x·c + ‖c‖²`).

use serde::{Deserialize, Serialize};
use sluice_kernels::{Layout, matmul};

use crate::frame::par_chunks;
use crate::metrics::sq_dist;
use crate::rng::{Rng, SliceRandom, rng};
use crate::{Epoch, Matrix, MlError, Result, Run};

/// Settings of `model: {type: kmeans}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KMeansParams {
    /// Number of clusters.
    pub k: usize,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// Passes over the rows, at most.
    pub max_iter: usize,
    /// Stop when the centres moved less than this (squared, relative to the data's variance)
    /// over a pass.
    pub tol: f64,
    /// Rows k-means++ seeds from (default: 3 × batch_size, at least 3 × k).
    pub init_size: Option<usize>,
    /// Stop after this many batches in a row without a lower smoothed batch inertia (an
    /// average over about `rows / batch_size` batches); 0: only `tol` and `max_iter` stop.
    pub max_no_improvement: usize,
    /// Centres that caught fewer rows than this share of the busiest one's are moved onto
    /// random rows of a batch (about every `10 k` rows seen); 0: never.
    pub reassignment_ratio: f64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 8,
            batch_size: 1024,
            max_iter: 100,
            tol: 1e-4,
            init_size: None,
            max_no_improvement: 10,
            reassignment_ratio: 0.01,
        }
    }
}

/// Fitted centres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// `k × dim` centres.
    pub centers: Matrix,
    /// Passes run.
    pub iterations: usize,
}

/// Rows per block of an assignment.
const BLOCK: usize = 1024;

/// Nearest centre and squared distance of each row of `x[rows]`.
fn assign_block(
    x: &Matrix,
    rows: std::ops::Range<usize>,
    centers: &Matrix,
    norms: &[f32],
) -> Vec<(u32, f32)> {
    let (d, k, m) = (x.cols, centers.rows, rows.len());
    let xs = &x.data[rows.start * d..rows.end * d];
    let mut dots = vec![0f32; m * k];
    matmul(
        &mut dots,
        Layout::dense(m, k),
        xs,
        Layout::dense(m, d),
        &centers.data,
        centers.layout().t(),
        false,
    );
    let mut out = Vec::with_capacity(m);
    for (i, row) in dots.chunks_exact(k).enumerate() {
        let xn: f32 = xs[i * d..(i + 1) * d].iter().map(|v| v * v).sum();
        let mut best = (0u32, f32::INFINITY);
        for (j, &dot) in row.iter().enumerate() {
            let dist = (xn - 2.0 * dot + norms[j]).max(0.0);
            if dist < best.1 {
                best = (j as u32, dist);
            }
        }
        out.push(best);
    }
    out
}

fn norms(centers: &Matrix) -> Vec<f32> {
    (0..centers.rows)
        .map(|j| centers.row(j).iter().map(|v| v * v).sum())
        .collect()
}

impl KMeans {
    /// Nearest centre and squared distance of every row.
    pub fn assign(&self, x: &Matrix, threads: usize) -> Vec<(u32, f32)> {
        let n = norms(&self.centers);
        par_chunks(x.rows, BLOCK, threads, |rows| {
            assign_block(x, rows, &self.centers, &n)
        })
        .into_iter()
        .flatten()
        .collect()
    }

    /// Sum of squared distances of the rows to their nearest centre.
    pub fn inertia(&self, x: &Matrix, threads: usize) -> f64 {
        self.assign(x, threads).iter().map(|(_, d)| *d as f64).sum()
    }

    /// Fits `params.k` centres to the rows of `x`.
    pub fn fit(params: &KMeansParams, x: &Matrix, run: &mut Run) -> Result<KMeans> {
        let k = params.k;
        if k == 0 || params.batch_size == 0 {
            return Err(MlError::Config(
                "k and batch_size must be at least 1".into(),
            ));
        }
        if x.rows < k {
            return Err(MlError::Data(format!(
                "{} rows cannot make {k} clusters: lower k or give more rows",
                x.rows
            )));
        }
        let d = x.cols;
        // k-means++ on a sample.
        let init_size = params
            .init_size
            .unwrap_or(3 * params.batch_size)
            .max(3 * k)
            .min(x.rows);
        let mut r = rng(run.seed, 21);
        let mut sample: Vec<usize> = (0..x.rows).collect();
        sample.shuffle(&mut r);
        sample.truncate(init_size);
        let centers = plus_plus(&x.take(&sample), k, &mut r);
        let mut model = KMeans {
            centers,
            iterations: 0,
        };
        // The data's variance scales the tolerance.
        let mut mean = vec![0f64; d];
        for i in 0..x.rows {
            for (m, v) in mean.iter_mut().zip(x.row(i)) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= x.rows as f64);
        let var: f64 = (0..x.rows)
            .map(|i| {
                x.row(i)
                    .iter()
                    .zip(&mean)
                    .map(|(v, m)| (*v as f64 - m).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (x.rows * d.max(1)) as f64;
        let tol = params.tol * var;
        let mut counts = vec![0f64; k];
        let mut order: Vec<usize> = (0..x.rows).collect();
        let bs = params.batch_size.min(x.rows);
        let mut smoothed = Smoothed::new(bs, x.rows, params.max_no_improvement);
        let mut since_reassign = 0usize;
        for pass in 1..=params.max_iter {
            order.shuffle(&mut r);
            let before = model.centers.clone();
            let (mut pass_inertia, mut seen, mut stalled) = (0.0, 0usize, false);
            for rows in order.chunks(bs) {
                let batch = x.take(rows);
                // Decided on the counts before the step, as scikit-learn does (so the first
                // batch reassigns the seeds that catch nothing).
                since_reassign += batch.rows;
                let reassign = params.reassignment_ratio > 0.0
                    && (counts.contains(&0.0) || since_reassign >= 10 * k);
                let inertia = model.step(&batch, &mut counts, run.threads);
                pass_inertia += inertia;
                seen += batch.rows;
                if reassign {
                    since_reassign = 0;
                    model.reassign(&batch, &mut counts, params.reassignment_ratio, &mut r);
                }
                if smoothed.stalled(inertia / batch.rows as f64) {
                    stalled = true;
                    break;
                }
            }
            model.iterations = pass;
            let moved: f64 = (0..k)
                .map(|c| sq_dist(model.centers.row(c), before.row(c)) as f64)
                .sum::<f64>()
                / k as f64;
            run.report(Epoch {
                epoch: pass,
                metrics: vec![
                    ("batch_inertia".into(), pass_inertia / seen.max(1) as f64),
                    ("center_shift".into(), moved),
                ],
            })?;
            if stalled || moved <= tol {
                break;
            }
        }
        Ok(model)
    }
}

/// scikit-learn's early stop of mini-batch k-means: the batch inertia per row, smoothed
/// exponentially over about `rows / batch_size` batches (the first batch, measured against
/// the seeds, is left out); stalled once it has not reached a new low for `patience` batches.
struct Smoothed {
    alpha: f64,
    patience: usize,
    batches: usize,
    ewa: Option<f64>,
    low: f64,
    since_low: usize,
}

impl Smoothed {
    fn new(batch: usize, rows: usize, patience: usize) -> Smoothed {
        Smoothed {
            alpha: (batch as f64 * 2.0 / (rows as f64 + 1.0)).min(1.0),
            patience,
            batches: 0,
            ewa: None,
            low: f64::INFINITY,
            since_low: 0,
        }
    }

    /// Takes one batch's inertia per row; true when the training should stop.
    fn stalled(&mut self, inertia: f64) -> bool {
        self.batches += 1;
        if self.patience == 0 || self.batches == 1 {
            return false;
        }
        let ewa = match self.ewa {
            None => inertia,
            Some(e) => e * (1.0 - self.alpha) + inertia * self.alpha,
        };
        self.ewa = Some(ewa);
        if ewa < self.low {
            self.low = ewa;
            self.since_low = 0;
        } else {
            self.since_low += 1;
        }
        self.since_low >= self.patience
    }
}

impl KMeans {
    /// One mini-batch: assigns its rows, moves each centre towards the mean of its rows (a
    /// learning rate of 1 / rows seen by the centre); returns the batch's inertia.
    fn step(&mut self, batch: &Matrix, counts: &mut [f64], threads: usize) -> f64 {
        let (k, d) = (self.centers.rows, self.centers.cols);
        let n = norms(&self.centers);
        let assigned: Vec<(u32, f32)> = par_chunks(batch.rows, 256, threads, |b| {
            assign_block(batch, b, &self.centers, &n)
        })
        .into_iter()
        .flatten()
        .collect();
        let mut sums = vec![0f64; k * d];
        let mut batch_counts = vec![0f64; k];
        let mut inertia = 0.0;
        for (i, (c, dist)) in assigned.iter().enumerate() {
            let c = *c as usize;
            inertia += *dist as f64;
            batch_counts[c] += 1.0;
            for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(batch.row(i)) {
                *s += *v as f64;
            }
        }
        for c in 0..k {
            if batch_counts[c] == 0.0 {
                continue;
            }
            let total = counts[c] + batch_counts[c];
            let center = &mut self.centers.data[c * d..(c + 1) * d];
            for (v, s) in center.iter_mut().zip(&sums[c * d..(c + 1) * d]) {
                *v = ((*v as f64 * counts[c] + s) / total) as f32;
            }
            counts[c] = total;
        }
        inertia
    }

    /// Moves the centres whose count is under `ratio` × the largest onto distinct random rows
    /// of `batch` (at most half the batch), and gives them the smallest count of the others so
    /// that they are not moved again at once (scikit-learn's rule).
    fn reassign(
        &mut self,
        batch: &Matrix,
        counts: &mut [f64],
        ratio: f64,
        r: &mut crate::rng::Rand,
    ) {
        let max = counts.iter().cloned().fold(0.0, f64::max);
        let mut low: Vec<usize> = (0..counts.len())
            .filter(|&c| counts[c] < ratio * max)
            .collect();
        if low.is_empty() || low.len() == counts.len() {
            return;
        }
        low.sort_by(|a, b| counts[*a].total_cmp(&counts[*b]));
        low.truncate(batch.rows / 2);
        let floor = (0..counts.len())
            .filter(|c| !low.contains(c))
            .map(|c| counts[c])
            .fold(f64::INFINITY, f64::min);
        let rows = rand::seq::index::sample(r, batch.rows, low.len());
        let d = self.centers.cols;
        for (c, row) in low.into_iter().zip(rows) {
            self.centers.data[c * d..(c + 1) * d].copy_from_slice(batch.row(row));
            counts[c] = floor;
        }
    }
}

/// Greedy k-means++ (as scikit-learn: `2 + ln k` candidates per centre, the one that lowers
/// the potential most is kept).
fn plus_plus(x: &Matrix, k: usize, r: &mut crate::rng::Rand) -> Matrix {
    let d = x.cols;
    let trials = 2 + (k as f64).ln() as usize;
    let mut centers = Matrix::zeros(k, d);
    let first = r.gen_range(0..x.rows);
    centers.data[..d].copy_from_slice(x.row(first));
    let mut closest: Vec<f32> = (0..x.rows)
        .map(|i| sq_dist(x.row(i), x.row(first)))
        .collect();
    for c in 1..k {
        let total: f64 = closest.iter().map(|&v| v as f64).sum();
        let mut best: Option<(usize, Vec<f32>, f64)> = None;
        for _ in 0..trials {
            let mut target = r.r#gen::<f64>() * total;
            let mut pick = x.rows - 1;
            for (i, &v) in closest.iter().enumerate() {
                target -= v as f64;
                if target <= 0.0 {
                    pick = i;
                    break;
                }
            }
            let next: Vec<f32> = (0..x.rows)
                .map(|i| closest[i].min(sq_dist(x.row(i), x.row(pick))))
                .collect();
            let potential: f64 = next.iter().map(|&v| v as f64).sum();
            if best.as_ref().is_none_or(|b| potential < b.2) {
                best = Some((pick, next, potential));
            }
        }
        if let Some((pick, next, _)) = best {
            centers.data[c * d..(c + 1) * d].copy_from_slice(x.row(pick));
            closest = next;
        }
    }
    centers
}
