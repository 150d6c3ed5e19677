//! CPU kernels shared by the text encoder (`sluice-embed`) and the learners (`sluice-ml`):
//! matrix products (the `gemm` crate, which picks its own SIMD kernels at run time) and fused
//! element-wise passes (bias + GELU, bias + residual + LayerNorm, softmax, …), written once in
//! plain Rust and compiled three times: for AVX-512, for AVX2 + FMA, and for the baseline
//! target. [`Kernels::detect`] picks the best the CPU has.
//!
//! The one crate of the workspace with `unsafe`: calling a function compiled for CPU features
//! (sound once the features are detected) and handing slices to `gemm` as raw pointers (sound
//! once the extents are checked against the slices' lengths). It depends on no sluice crate.
#![allow(unsafe_code)]

mod reduced;
pub use reduced::{Packed, Precision, Scratch, Weights};

/// A matrix stored in a slice: `rows × cols`, element `(r, c)` at `r * row_stride + c *
/// col_stride`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance in the slice between two rows.
    pub row_stride: usize,
    /// Distance in the slice between two columns.
    pub col_stride: usize,
}

impl Layout {
    /// A dense row-major matrix.
    pub fn dense(rows: usize, cols: usize) -> Layout {
        Layout {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Row-major with a row stride larger than the width (a column block of a wider matrix).
    pub fn strided(rows: usize, cols: usize, row_stride: usize) -> Layout {
        Layout {
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose view of the same storage.
    pub fn t(self) -> Layout {
        Layout {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// One past the largest index the matrix touches (0 for an empty matrix); panics on
    /// overflow.
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|r| {
                (self.cols - 1)
                    .checked_mul(self.col_stride)
                    .and_then(|c| r.checked_add(c))
            })
            .and_then(|i| i.checked_add(1));
        last.unwrap_or_else(|| panic!("matrix {self:?} overflows usize"))
    }
}

fn stride(s: usize) -> isize {
    isize::try_from(s).unwrap_or_else(|_| panic!("stride {s} exceeds isize"))
}

/// `dst = lhs · rhs` (`accumulate`: `dst += lhs · rhs`), single-threaded: the encoder runs one
/// batch per thread. Panics when a layout does not fit its slice or the shapes disagree (a bug
/// of the caller, never of the input).
pub fn matmul(
    dst: &mut [f32],
    d: Layout,
    lhs: &[f32],
    l: Layout,
    rhs: &[f32],
    r: Layout,
    accumulate: bool,
) {
    matmul_threads(dst, d, lhs, l, rhs, r, accumulate, 1);
}

/// [`matmul`] on up to `threads` threads (gemm splits the destination; each element is still
/// summed in one order, so the result does not depend on the thread count).
#[allow(clippy::too_many_arguments)]
pub fn matmul_threads(
    dst: &mut [f32],
    d: Layout,
    lhs: &[f32],
    l: Layout,
    rhs: &[f32],
    r: Layout,
    accumulate: bool,
    threads: usize,
) {
    assert!(
        d.rows == l.rows && d.cols == r.cols && l.cols == r.rows,
        "matmul shapes {d:?} = {l:?} x {r:?}"
    );
    assert!(d.extent() <= dst.len() && l.extent() <= lhs.len() && r.extent() <= rhs.len());
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    if l.cols == 0 {
        if !accumulate {
            for i in 0..d.rows {
                for j in 0..d.cols {
                    dst[i * d.row_stride + j * d.col_stride] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: every index gemm touches is below the extents checked above; the strides are
    // those of the layouts; dst does not alias lhs or rhs (distinct borrows).
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.as_mut_ptr(),
            stride(d.col_stride),
            stride(d.row_stride),
            accumulate,
            lhs.as_ptr(),
            stride(l.col_stride),
            stride(l.row_stride),
            rhs.as_ptr(),
            stride(r.col_stride),
            stride(r.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            },
        );
    }
}

type RowsBias = unsafe fn(&mut [f32], &[f32]);
type ResidualNorm = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], &[f32], f32);
type Norm = unsafe fn(&mut [f32], &[f32], &[f32], f32);
type Softmax = unsafe fn(&mut [f32], usize);

/// The element-wise kernels compiled for one CPU level.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// `avx512`, `avx2` or `baseline`: shown by `sluice embed --bench`.
    pub level: &'static str,
    add_bias: RowsBias,
    bias_gelu: RowsBias,
    residual_layernorm: ResidualNorm,
    layernorm: Norm,
    softmax_rows: Softmax,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.level)
    }
}

macro_rules! compiled_for {
    ($module:ident, $level:literal $(, $features:literal)?) => {
        mod $module {
            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn add_bias(rows: &mut [f32], bias: &[f32]) {
                super::plain::add_bias(rows, bias)
            }
            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn bias_gelu(rows: &mut [f32], bias: &[f32]) {
                super::plain::bias_gelu(rows, bias)
            }
            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn residual_layernorm(
                x: &mut [f32],
                y: &[f32],
                bias: &[f32],
                gamma: &[f32],
                beta: &[f32],
                eps: f32,
            ) {
                super::plain::residual_layernorm(x, y, bias, gamma, beta, eps)
            }
            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn layernorm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
                super::plain::layernorm(x, gamma, beta, eps)
            }
            $(#[target_feature(enable = $features)])?
            pub(super) unsafe fn softmax_rows(s: &mut [f32], n: usize) {
                super::plain::softmax_rows(s, n)
            }
            pub(super) const KERNELS: super::Kernels = super::Kernels {
                level: $level,
                add_bias,
                bias_gelu,
                residual_layernorm,
                layernorm,
                softmax_rows,
            };
        }
    };
}

compiled_for!(baseline, "baseline");
#[cfg(target_arch = "x86_64")]
compiled_for!(avx2, "avx2", "avx2,fma");
#[cfg(target_arch = "x86_64")]
compiled_for!(
    avx512,
    "avx512",
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);

impl Kernels {
    /// The best level this CPU supports, or a lower one when `forced` (`baseline`, `avx2`)
    /// asks for it.
    pub fn detect(forced: Option<&str>) -> Kernels {
        let forced = forced.unwrap_or_default();
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            let avx512 = avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl");
            if avx512 && forced != "baseline" && forced != "avx2" {
                return avx512::KERNELS;
            }
            if avx2 && forced != "baseline" {
                return avx2::KERNELS;
            }
        }
        let _ = forced;
        baseline::KERNELS
    }

    /// `rows[r] += bias` for every row (`rows.len()` a multiple of `bias.len()`).
    pub fn add_bias(&self, rows: &mut [f32], bias: &[f32]) {
        // SAFETY: the function was compiled for features `detect` found on this CPU.
        unsafe { (self.add_bias)(rows, bias) }
    }

    /// `rows[r] = gelu(rows[r] + bias)` (exact GELU, with erf).
    pub fn bias_gelu(&self, rows: &mut [f32], bias: &[f32]) {
        // SAFETY: as in `add_bias`.
        unsafe { (self.bias_gelu)(rows, bias) }
    }

    /// `x[r] = layernorm(y[r] + bias + x[r])` for every row: the residual connection and the
    /// normalisation after a projection, in one pass.
    pub fn residual_layernorm(
        &self,
        x: &mut [f32],
        y: &[f32],
        bias: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        // SAFETY: as in `add_bias`.
        unsafe { (self.residual_layernorm)(x, y, bias, gamma, beta, eps) }
    }

    /// `x[r] = layernorm(x[r])` for every row.
    pub fn layernorm(&self, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        // SAFETY: as in `add_bias`.
        unsafe { (self.layernorm)(x, gamma, beta, eps) }
    }

    /// Softmax of every row of `n` values.
    pub fn softmax_rows(&self, s: &mut [f32], n: usize) {
        // SAFETY: as in `add_bias`.
        unsafe { (self.softmax_rows)(s, n) }
    }
}

/// The error function (absolute error below 1.5e-7): what GELU is made of, for callers that
/// need its derivative.
pub fn erf(x: f32) -> f32 {
    plain::erf(x)
}

/// The kernels' bodies: inlined into each compiled copy, where the compiler vectorises them
/// for that copy's features. Sums use 16 lanes so that they vectorise without reordering
/// being needed.
mod plain {
    const LANES: usize = 16;

    #[inline(always)]
    fn sum(x: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let chunks = x.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                acc[i] += c[i];
            }
        }
        let mut total: f32 = acc.iter().sum();
        for v in rest {
            total += v;
        }
        total
    }

    #[inline(always)]
    fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
        let mut acc = [0.0f32; LANES];
        let chunks = x.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                let d = c[i] - mean;
                acc[i] += d * d;
            }
        }
        let mut total: f32 = acc.iter().sum();
        for v in rest {
            total += (v - mean) * (v - mean);
        }
        total
    }

    #[inline(always)]
    fn max(x: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; LANES];
        let chunks = x.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                acc[i] = acc[i].max(c[i]);
            }
        }
        let mut m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for &v in rest {
            m = m.max(v);
        }
        m
    }

    /// `e^x` to about 1 ulp over the range softmax and erf use, without branches so that it
    /// vectorises. Below -87 it returns the smallest normal (1e-38), which is 0 for our sums.
    #[inline(always)]
    pub(super) fn exp(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        let x = x.clamp(-87.0, 88.0);
        let n = (x * LOG2E + 0.5).floor();
        let r = x - n * LN2_HI - n * LN2_LO;
        // Taylor to degree 7 on |r| <= ln2/2: relative error below 2e-8.
        let p = 1.0 / 5040.0;
        let p = p * r + 1.0 / 720.0;
        let p = p * r + 1.0 / 120.0;
        let p = p * r + 1.0 / 24.0;
        let p = p * r + 1.0 / 6.0;
        let p = p * r + 0.5;
        let p = p * r + 1.0;
        let p = p * r + 1.0;
        let scale = f32::from_bits((((n as i32) + 127) as u32) << 23);
        p * scale
    }

    /// Exact GELU, `x/2 (1 + erf(x/√2))`.
    #[inline(always)]
    fn gelu(x: f32) -> f32 {
        0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
    }

    /// erf, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), branch-free.
    #[inline(always)]
    pub(super) fn erf(x: f32) -> f32 {
        let z = x.abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * z);
        let poly = t
            * (0.254_829_6
                + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
        (1.0 - poly * exp(-z * z)).copysign(x)
    }

    #[inline(always)]
    pub(super) fn add_bias(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }

    #[inline(always)]
    pub(super) fn bias_gelu(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = gelu(*v + b);
            }
        }
    }

    #[inline(always)]
    fn normalize_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = row.len() as f32;
        let mean = sum(row) / n;
        let var = sum_sq_dev(row, mean) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }

    #[inline(always)]
    pub(super) fn residual_layernorm(
        x: &mut [f32],
        y: &[f32],
        bias: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        let h = bias.len();
        for (xr, yr) in x.chunks_exact_mut(h).zip(y.chunks_exact(h)) {
            for ((v, a), b) in xr.iter_mut().zip(yr).zip(bias) {
                *v += a + b;
            }
            normalize_row(xr, gamma, beta, eps);
        }
    }

    #[inline(always)]
    pub(super) fn layernorm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        for row in x.chunks_exact_mut(gamma.len()) {
            normalize_row(row, gamma, beta, eps);
        }
    }

    #[inline(always)]
    pub(super) fn softmax_rows(s: &mut [f32], n: usize) {
        for row in s.chunks_exact_mut(n) {
            let m = max(row);
            for v in row.iter_mut() {
                *v = exp(*v - m);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_gelu(x: f64) -> f64 {
        // erf by its series, precise enough in f64 for |x| < 6.
        let z = x / std::f64::consts::SQRT_2;
        let mut term = z;
        let mut sum = z;
        for n in 1..200 {
            term *= -z * z / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        let erf = 2.0 / std::f64::consts::PI.sqrt() * sum;
        0.5 * x * (1.0 + erf)
    }

    #[test]
    fn exp_and_gelu_match_f64_on_every_level() {
        for k in [baseline::KERNELS, Kernels::detect(None)] {
            let mut xs: Vec<f32> = (-600..=600).map(|i| i as f32 / 100.0).collect();
            let zeros = vec![0.0; xs.len()];
            k.bias_gelu(&mut xs, &zeros);
            for (i, g) in xs.iter().enumerate() {
                let x = (i as f64 - 600.0) / 100.0;
                let want = erf_gelu(x);
                assert!(
                    (*g as f64 - want).abs() < 2e-6,
                    "{} gelu({x}) = {g}, want {want}",
                    k.level
                );
            }
        }
        for i in -870..=880 {
            let x = i as f32 / 10.0;
            let got = plain::exp(x) as f64;
            let want = (x as f64).exp();
            assert!(
                ((got - want) / want).abs() < 1e-6,
                "exp({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn softmax_and_layernorm_agree_across_levels() {
        let row: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 101) as f32 / 13.0 - 3.0)
            .collect();
        let mut want = row.clone();
        let m = want.iter().copied().fold(f32::MIN, f32::max);
        let total: f32 = want.iter().map(|v| (v - m).exp()).sum();
        for v in want.iter_mut() {
            *v = (*v - m).exp() / total;
        }
        for k in [baseline::KERNELS, Kernels::detect(None)] {
            let mut s = row.repeat(2);
            k.softmax_rows(&mut s, row.len());
            for (a, b) in s.iter().zip(want.iter().chain(&want)) {
                assert!((a - b).abs() < 1e-6, "{}: {a} vs {b}", k.level);
            }
            let gamma = vec![2.0; 37];
            let beta = vec![1.0; 37];
            let mut x = row.clone();
            k.layernorm(&mut x, &gamma, &beta, 1e-12);
            let mean: f32 = x.iter().sum::<f32>() / 37.0;
            assert!((mean - 1.0).abs() < 1e-5, "{}: mean {mean}", k.level);
            let var: f32 = x.iter().map(|v| (v - 1.0) * (v - 1.0)).sum::<f32>() / 37.0;
            assert!((var - 4.0).abs() < 1e-4, "{}: var {var}", k.level);
        }
    }

    #[test]
    fn matmul_handles_transposed_and_strided_operands() {
        // a: 2x3, b: 3x2 stored transposed as 2x3.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bt = [7.0, 9.0, 11.0, 8.0, 10.0, 12.0];
        let mut c = [0.0f32; 4];
        matmul(
            &mut c,
            Layout::dense(2, 2),
            &a,
            Layout::dense(2, 3),
            &bt,
            Layout::dense(2, 3).t(),
            false,
        );
        assert_eq!(c, [58.0, 64.0, 139.0, 154.0]);
        matmul(
            &mut c,
            Layout::dense(2, 2),
            &a,
            Layout::dense(2, 3),
            &bt,
            Layout::dense(2, 3).t(),
            true,
        );
        assert_eq!(c, [116.0, 128.0, 278.0, 308.0]);
        // The first two columns of a as a strided 2x2 block.
        let mut d = [0.0f32; 4];
        matmul(
            &mut d,
            Layout::dense(2, 2),
            &a,
            Layout::strided(2, 2, 3),
            &[1.0, 0.0, 0.0, 1.0],
            Layout::dense(2, 2),
            false,
        );
        assert_eq!(d, [1.0, 2.0, 4.0, 5.0]);
    }
}
