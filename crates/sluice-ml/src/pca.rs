//! Principal component analysis: the covariance matrix of the centred rows (one matrix
//! product), its eigendecomposition (Householder tridiagonalisation, then the implicit QL
//! algorithm — EISPACK's `tred2` / `tql2`, in f64), the leading components with scikit-learn's
//! sign convention (each component's largest entry positive).

use serde::{Deserialize, Serialize};
use sluice_kernels::{Layout, matmul_threads};

use crate::{Matrix, MlError, Result};

/// Settings of `model: {type: pca}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcaParams {
    /// Components to keep.
    pub components: usize,
}

impl Default for PcaParams {
    fn default() -> Self {
        PcaParams { components: 2 }
    }
}

/// A fitted PCA.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    /// Mean of the training rows.
    pub mean: Vec<f32>,
    /// `components × dim`, one unit vector per row, by decreasing variance.
    pub components: Matrix,
    /// Variance along each component (denominator `n − 1`).
    pub explained_variance: Vec<f64>,
    /// Share of the total variance along each component.
    pub explained_variance_ratio: Vec<f64>,
}

impl Pca {
    /// Fits on the rows of `x`.
    pub fn fit(params: &PcaParams, x: &Matrix, threads: usize) -> Result<Pca> {
        let (n, d) = (x.rows, x.cols);
        let k = params.components;
        if k == 0 || k > d {
            return Err(MlError::Config(format!(
                "components is {k}: give between 1 and the {d} input dimensions"
            )));
        }
        if n < 2 {
            return Err(MlError::Data(format!("{n} row(s): PCA needs at least two")));
        }
        let mut mean = vec![0f64; d];
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(x.row(i)) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let mut centred = x.clone();
        for row in centred.data.chunks_exact_mut(d) {
            for (v, m) in row.iter_mut().zip(&mean32) {
                *v -= m;
            }
        }
        let mut cov = vec![0f32; d * d];
        matmul_threads(
            &mut cov,
            Layout::dense(d, d),
            &centred.data,
            Layout::dense(n, d).t(),
            &centred.data,
            Layout::dense(n, d),
            false,
            threads,
        );
        let scale = 1.0 / (n as f64 - 1.0);
        let mut a: Vec<f64> = cov.iter().map(|&v| v as f64 * scale).collect();
        // Symmetrise (the product is symmetric up to rounding).
        for i in 0..d {
            for j in 0..i {
                let v = 0.5 * (a[i * d + j] + a[j * d + i]);
                a[i * d + j] = v;
                a[j * d + i] = v;
            }
        }
        let (values, vectors) = symmetric_eigen(a, d);
        let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
        // Ascending order: the last k, reversed.
        let mut components = Matrix::zeros(k, d);
        let mut explained_variance = Vec::with_capacity(k);
        for (c, idx) in (0..d).rev().take(k).enumerate() {
            let v = &vectors[idx * d..(idx + 1) * d];
            let (mut arg, mut best) = (0, 0f64);
            for (j, x) in v.iter().enumerate() {
                if x.abs() > best {
                    best = x.abs();
                    arg = j;
                }
            }
            let sign = if v[arg] < 0.0 { -1.0 } else { 1.0 };
            for (o, x) in components.data[c * d..(c + 1) * d].iter_mut().zip(v) {
                *o = (sign * x) as f32;
            }
            explained_variance.push(values[idx].max(0.0));
        }
        let explained_variance_ratio = explained_variance
            .iter()
            .map(|v| if total > 0.0 { v / total } else { 0.0 })
            .collect();
        Ok(Pca {
            mean: mean32,
            components,
            explained_variance,
            explained_variance_ratio,
        })
    }

    /// The rows projected on the components (`rows × components`).
    pub fn transform(&self, x: &Matrix, threads: usize) -> Matrix {
        let d = self.mean.len();
        let k = self.components.rows;
        let mut centred = x.clone();
        for row in centred.data.chunks_exact_mut(d) {
            for (v, m) in row.iter_mut().zip(&self.mean) {
                *v -= m;
            }
        }
        let mut out = Matrix::zeros(x.rows, k);
        matmul_threads(
            &mut out.data,
            Layout::dense(x.rows, k),
            &centred.data,
            centred.layout(),
            &self.components.data,
            self.components.layout().t(),
            false,
            threads,
        );
        out
    }
}

/// Eigenvalues (ascending) and eigenvectors (row `i` of the returned `n × n` matrix is the
/// vector of value `i`) of the symmetric `n × n` matrix `a` (row-major).
pub(crate) fn symmetric_eigen(mut v: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut d = vec![0f64; n];
    let mut e = vec![0f64; n];
    if n == 0 {
        return (d, v);
    }
    tred2(&mut v, &mut d, &mut e, n);
    // tql2 rotates columns of V: work on its transpose, whose rows are contiguous.
    let mut vt = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            vt[j * n + i] = v[i * n + j];
        }
    }
    tql2(&mut vt, &mut d, &mut e, n);
    (d, vt)
}

/// Householder reduction of `v` (symmetric) to tridiagonal form: diagonal `d`, off-diagonal
/// `e`, `v` the accumulated orthogonal transformation (EISPACK `tred2`).
fn tred2(v: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    let at = |i: usize, j: usize| i * n + j;
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
    }
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for x in &mut e[..i] {
                *x = 0.0;
            }
            for j in 0..i {
                let f = d[j];
                v[at(j, i)] = f;
                let mut g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let mut g = 0.0;
                for k in 0..=i {
                    g += v[at(k, i + 1)] * v[at(k, j)];
                }
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// Eigenvalues of the tridiagonal `d`, `e` by the implicit QL algorithm, rotating the rows of
/// `vt` (the transpose of tred2's `V`) alongside (EISPACK `tql2`); sorted ascending.
fn tql2(vt: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1 = 0f64;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            for _ in 0..60 {
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for x in &mut d[l + 2..n] {
                    *x -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (lo, hi) = vt.split_at_mut((i + 1) * n);
                    let row_i = &mut lo[i * n..];
                    let row_next = &mut hi[..n];
                    for (a, b) in row_i.iter_mut().zip(row_next.iter_mut()) {
                        let hk = *b;
                        *b = s * *a + c * hk;
                        *a = c * *a - s * hk;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    // Selection sort, ascending, moving the vectors along.
    for i in 0..n.saturating_sub(1) {
        let mut k = i;
        for j in i + 1..n {
            if d[j] < d[k] {
                k = j;
            }
        }
        if k != i {
            d.swap(i, k);
            for j in 0..n {
                vt.swap(i * n + j, k * n + j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]]: values 1 and 3, vectors (1, -1)/√2 and (1, 1)/√2.
        let (values, vectors) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        assert!(
            (values[0] - 1.0).abs() < 1e-12 && (values[1] - 3.0).abs() < 1e-12,
            "{values:?}"
        );
        let v = &vectors[2..4];
        assert!((v[0].abs() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        assert!((v[0] - v[1]).abs() < 1e-12);
    }

    #[test]
    fn eigenvectors_reconstruct_a_random_symmetric_matrix() {
        let n = 40;
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = ((i * 31 + j * 17) % 23) as f64 / 7.0 - 1.5;
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        let (values, vectors) = symmetric_eigen(a.clone(), n);
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n)
                    .map(|k| vectors[k * n + i] * values[k] * vectors[k * n + j])
                    .sum();
                assert!(
                    (r - a[i * n + j]).abs() < 1e-9,
                    "({i},{j}): {r} vs {}",
                    a[i * n + j]
                );
            }
        }
        assert!(values.windows(2).all(|w| w[0] <= w[1]));
    }
}
