//! Matrix products in reduced precision, for inference: `activations (m × k, f32) · weights
//! (k × n)` with the weights packed once at load time.
//!
//! - **bf16** (AVX-512 BF16, `vdpbf16ps`): activations and weights rounded to bfloat16 (to
//!   nearest, ties to even), products summed in f32.
//! - **int8** (AVX-512 VNNI, `vpdpbusd`): weights quantised per output column (symmetric,
//!   −127…127), activations per row (asymmetric, 0…255 with a zero point), products summed
//!   exactly in i32 and scaled back to f32.
//!
//! Both compute 12 rows × 32 columns per inner step (24 accumulators in registers). Weights
//! are packed in panels of 32 columns, each panel `k` steps deep, so that one step reads 128
//! contiguous bytes; `k` is padded with zero weights to a whole step (2 or 4 values).

/// The number type of the dense products of an encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 throughout (the `gemm` crate).
    F32,
    /// bfloat16 operands, f32 sums.
    Bf16,
    /// int8 weights and activations, i32 sums.
    Int8,
}

/// Columns of a panel: two 512-bit vectors of 32-bit lanes.
const NR: usize = 32;
/// Rows of a register tile.
const MR: usize = 12;
/// Rows of activations kept in cache while every panel passes over them.
const MB: usize = MR * 8;

impl Precision {
    /// The values a `precision` setting takes: `auto`, then each precision's name.
    pub const NAMES: [&'static str; 4] = ["auto", "f32", "bf16", "int8"];

    /// `f32`, `bf16` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// Whether this CPU has the instructions (f32 always).
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl");
            match self {
                Precision::F32 => true,
                Precision::Bf16 => avx512 && std::arch::is_x86_feature_detected!("avx512bf16"),
                Precision::Int8 => avx512 && std::arch::is_x86_feature_detected!("avx512vnni"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Precision::F32
        }
    }

    /// What `requested` (`auto`, `f32`, `bf16`, `int8`; none is `auto`) runs as on this CPU:
    /// `auto` is bf16 where the CPU has AVX-512 BF16, else int8 where it has AVX-512 VNNI, else
    /// f32. A precision the CPU lacks is an error naming what it needs.
    pub fn choose(requested: Option<&str>) -> Result<Precision, String> {
        let requested = requested.unwrap_or("auto");
        if requested == "auto" {
            return Ok([Precision::Bf16, Precision::Int8]
                .into_iter()
                .find(|p| p.supported())
                .unwrap_or(Precision::F32));
        }
        let wanted = [Precision::F32, Precision::Bf16, Precision::Int8]
            .into_iter()
            .find(|p| p.name() == requested)
            .ok_or_else(|| {
                format!(
                    "precision `{requested}` is not one of {}",
                    Precision::NAMES.join(", ")
                )
            })?;
        if wanted.supported() {
            Ok(wanted)
        } else {
            Err(format!(
                "precision {} needs a CPU with {}; this one has not: use `auto` (which falls back \
                 to f32) or `f32`",
                wanted.name(),
                match wanted {
                    Precision::Bf16 => "AVX-512 BF16",
                    _ => "AVX-512 VNNI",
                }
            ))
        }
    }
}

/// A weight matrix `k × n` packed for the bf16 or int8 products of [`Weights`].
#[derive(Clone, Debug)]
pub struct Packed {
    precision: Precision,
    k: usize,
    n: usize,
    /// Steps of a panel: `k` in pairs (bf16) or quads (int8), rounded up.
    steps: usize,
    /// Panel-major, then step, then column: two bf16 or four i8 per 32-bit element.
    data: Vec<u32>,
    /// int8: each column's scale (weight = value × scale), padded to whole panels.
    scale: Vec<f32>,
    /// int8: each column's sum of quantised values (to remove the activations' zero point),
    /// padded to whole panels.
    sum: Vec<i32>,
}

/// Buffers of the activations' reduced copy, reused from product to product.
#[derive(Default, Debug)]
pub struct Scratch {
    a: Vec<u32>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    tile: Vec<f32>,
}

/// f32 → bf16 bits, rounded to nearest, ties to even (NaN stays NaN).
fn bf16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

impl Packed {
    /// Packs `w` (`k × n`, row-major: input-major as the encoder stores its weights) for
    /// `precision` (bf16 or int8; panics on f32, which needs no packing).
    pub fn new(precision: Precision, w: &[f32], k: usize, n: usize) -> Packed {
        assert_eq!(w.len(), k * n, "weights of {k} x {n}");
        let per = match precision {
            Precision::Bf16 => 2,
            Precision::Int8 => 4,
            Precision::F32 => panic!("f32 weights are not packed"),
        };
        let steps = k.div_ceil(per);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * steps * NR];
        let mut scale = Vec::new();
        let mut sum = Vec::new();
        match precision {
            Precision::Bf16 => {
                for (i, row) in w.chunks_exact(n).enumerate() {
                    let (s, half) = (i / 2, (i % 2) * 16);
                    for (j, &v) in row.iter().enumerate() {
                        let at = ((j / NR) * steps + s) * NR + j % NR;
                        data[at] |= u32::from(bf16_bits(v)) << half;
                    }
                }
            }
            _ => {
                // Each column's largest magnitude, in one pass over the rows; the padding
                // columns keep a scale of 1.
                let mut max = vec![0.0f32; panels * NR];
                for row in w.chunks_exact(n) {
                    for (m, v) in max.iter_mut().zip(row) {
                        *m = m.max(v.abs());
                    }
                }
                scale = max
                    .into_iter()
                    .map(|m| if m > 0.0 { m / 127.0 } else { 1.0 })
                    .collect();
                sum = vec![0i32; panels * NR];
                for (i, row) in w.chunks_exact(n).enumerate() {
                    let (s, byte) = (i / 4, (i % 4) * 8);
                    for (j, &v) in row.iter().enumerate() {
                        let q = (v / scale[j]).round().clamp(-127.0, 127.0) as i32;
                        sum[j] += q;
                        let at = ((j / NR) * steps + s) * NR + j % NR;
                        data[at] |= u32::from(q as i8 as u8) << byte;
                    }
                }
            }
        }
        Packed {
            precision,
            k,
            n,
            steps,
            data,
            scale,
            sum,
        }
    }
}

/// A dense layer's weight matrix (`k × n`, input-major) in the precision its products run in:
/// f32 through `gemm`, or [`Packed`] for the bf16 and int8 kernels of this module.
#[derive(Clone, Debug)]
pub enum Weights {
    /// f32, row-major `k × n`.
    F32 {
        /// The values.
        w: Vec<f32>,
        /// Rows.
        k: usize,
        /// Columns.
        n: usize,
    },
    /// Packed for bf16 or int8 products.
    Packed(Packed),
}

impl Weights {
    /// `w` (`k × n`) for products in `precision`.
    pub fn new(precision: Precision, w: Vec<f32>, k: usize, n: usize) -> Weights {
        match precision {
            Precision::F32 => Weights::F32 { w, k, n },
            p => Weights::Packed(Packed::new(p, &w, k, n)),
        }
    }

    /// `dst (m × n) = a (m × k) · w`, both dense.
    pub fn product(&self, dst: &mut [f32], m: usize, a: &[f32], scratch: &mut Scratch) {
        match self {
            Weights::F32 { w, k, n } => crate::matmul(
                &mut dst[..m * n],
                crate::Layout::dense(m, *n),
                &a[..m * k],
                crate::Layout::dense(m, *k),
                w,
                crate::Layout::dense(*k, *n),
                false,
            ),
            Weights::Packed(p) => matmul_packed(dst, m, a, p, scratch),
        }
    }
}

/// `dst (m × n, dense) = a (m × k, dense) · w`. Panics when the slices do not fit the shapes
/// or when the CPU lacks the instructions of `w`'s precision ([`Precision::supported`]): a
/// bug of the caller, which packs only for a supported precision.
fn matmul_packed(dst: &mut [f32], m: usize, a: &[f32], w: &Packed, scratch: &mut Scratch) {
    let (k, n) = (w.k, w.n);
    assert!(
        a.len() >= m * k && dst.len() >= m * n,
        "matmul_packed shapes"
    );
    assert!(
        w.precision.supported(),
        "{} products on a CPU without their instructions",
        w.precision.name()
    );
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the features each function is compiled for were detected just above; every
    // pointer offset stays within the slices (checked shapes, packed extents).
    unsafe {
        match w.precision {
            Precision::Bf16 => x86::bf16(dst, m, a, w, scratch),
            Precision::Int8 => x86::int8(dst, m, a, w, scratch),
            Precision::F32 => unreachable!("f32 weights are not packed"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MB, MR, NR, Packed, Scratch, bf16_bits};
    use std::arch::x86_64::*;

    /// Runs `f(rows, row0)` over `m` rows in tiles of `MR`, row blocks of `MB`, each row block
    /// passing over every panel.
    macro_rules! tiles {
        ($m:expr, $panels:expr, |$r0:ident, $rows:ident, $p:ident| $body:block) => {
            let mut block = 0;
            while block < $m {
                let end = ($m).min(block + MB);
                for $p in 0..$panels {
                    let mut $r0 = block;
                    while $r0 < end {
                        let $rows = (end - $r0).min(MR);
                        $body
                        $r0 += $rows;
                    }
                }
                block = end;
            }
        };
    }

    /// Sums over `steps` of a tile of `R` rows × 32 columns: `acc[r][h] += a[r][s] · w[s][h]`
    /// in the instruction `op` (dpbf16 or dpbusd).
    macro_rules! tile_fn {
        ($name:ident, $features:literal, $acc:ty, $zero:expr, $op:expr) => {
            #[target_feature(enable = $features)]
            unsafe fn $name<const R: usize>(
                a: *const u32,
                w: *const u32,
                steps: usize,
            ) -> [[$acc; 2]; R] {
                let mut acc = [[$zero; 2]; R];
                for s in 0..steps {
                    // SAFETY: the caller passes a panel of `steps` × 32 elements and R rows of
                    // `steps` elements.
                    unsafe {
                        let w0 = _mm512_loadu_si512(w.add(s * NR).cast());
                        let w1 = _mm512_loadu_si512(w.add(s * NR + 16).cast());
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let x = _mm512_set1_epi32(*a.add(r * steps + s) as i32);
                            acc[0] = $op(acc[0], x, w0);
                            acc[1] = $op(acc[1], x, w1);
                        }
                    }
                }
                acc
            }
        };
    }

    #[inline(always)]
    fn dpbf16(acc: __m512, x: __m512i, w: __m512i) -> __m512 {
        // SAFETY: only inlined into functions compiled with avx512bf16; the casts reinterpret
        // 64 bytes as 32 bf16 values.
        unsafe {
            _mm512_dpbf16_ps(
                acc,
                std::mem::transmute::<__m512i, __m512bh>(x),
                std::mem::transmute::<__m512i, __m512bh>(w),
            )
        }
    }

    #[inline(always)]
    fn dpbusd(acc: __m512i, x: __m512i, w: __m512i) -> __m512i {
        // SAFETY: only inlined into functions compiled with avx512vnni.
        unsafe { _mm512_dpbusd_epi32(acc, x, w) }
    }

    tile_fn!(
        tile_bf16,
        "avx512f,avx512bw,avx512vl,avx512bf16",
        __m512,
        _mm512_setzero_ps(),
        dpbf16
    );
    tile_fn!(
        tile_int8,
        "avx512f,avx512bw,avx512vl,avx512vnni",
        __m512i,
        _mm512_setzero_si512(),
        dpbusd
    );

    /// Writes a tile's 32 columns of `rows` rows (only the first `cols` of them) at `dst`.
    fn store(dst: &mut [f32], n: usize, row0: usize, col0: usize, cols: usize, tile: &[f32]) {
        for (r, values) in tile.chunks_exact(NR).enumerate() {
            let at = (row0 + r) * n + col0;
            dst[at..at + cols].copy_from_slice(&values[..cols]);
        }
    }

    macro_rules! dispatch {
        ($tile:ident, $rows:expr, $a:expr, $w:expr, $steps:expr, |$acc:ident| $body:block) => {
            match $rows {
                12 => {
                    let $acc = &$tile::<12>($a, $w, $steps)[..];
                    $body
                }
                11 => {
                    let $acc = &$tile::<11>($a, $w, $steps)[..];
                    $body
                }
                10 => {
                    let $acc = &$tile::<10>($a, $w, $steps)[..];
                    $body
                }
                9 => {
                    let $acc = &$tile::<9>($a, $w, $steps)[..];
                    $body
                }
                8 => {
                    let $acc = &$tile::<8>($a, $w, $steps)[..];
                    $body
                }
                7 => {
                    let $acc = &$tile::<7>($a, $w, $steps)[..];
                    $body
                }
                6 => {
                    let $acc = &$tile::<6>($a, $w, $steps)[..];
                    $body
                }
                5 => {
                    let $acc = &$tile::<5>($a, $w, $steps)[..];
                    $body
                }
                4 => {
                    let $acc = &$tile::<4>($a, $w, $steps)[..];
                    $body
                }
                3 => {
                    let $acc = &$tile::<3>($a, $w, $steps)[..];
                    $body
                }
                2 => {
                    let $acc = &$tile::<2>($a, $w, $steps)[..];
                    $body
                }
                _ => {
                    let $acc = &$tile::<1>($a, $w, $steps)[..];
                    $body
                }
            }
        };
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn bf16(dst: &mut [f32], m: usize, a: &[f32], w: &Packed, s: &mut Scratch) {
        let (k, n, steps) = (w.k, w.n, w.steps);
        s.a.clear();
        s.a.resize(m * steps, 0);
        for (row, out) in a[..m * k].chunks_exact(k).zip(s.a.chunks_exact_mut(steps)) {
            // 32 values at a time by the instruction (rounded to nearest even, as
            // `bf16_bits`), the rest one by one.
            let whole = k / 32 * 32;
            for (i, o) in (0..whole).step_by(32).zip(out.chunks_exact_mut(16)) {
                // SAFETY: 32 values from `i` lie in the row; `o` holds 16 × 4 bytes.
                unsafe {
                    let lo = _mm512_loadu_ps(row.as_ptr().add(i));
                    let hi = _mm512_loadu_ps(row.as_ptr().add(i + 16));
                    let packed = _mm512_cvtne2ps_pbh(hi, lo);
                    _mm512_storeu_si512(
                        o.as_mut_ptr().cast(),
                        std::mem::transmute::<__m512bh, __m512i>(packed),
                    );
                }
            }
            for (pair, o) in row[whole..].chunks(2).zip(out[whole / 2..].iter_mut()) {
                let lo = u32::from(bf16_bits(pair[0]));
                let hi = pair.get(1).map_or(0, |v| u32::from(bf16_bits(*v)));
                *o = lo | (hi << 16);
            }
        }
        s.tile.resize(MR * NR, 0.0);
        let panels = n.div_ceil(NR);
        tiles!(m, panels, |r0, rows, p| {
            let cols = (n - p * NR).min(NR);
            // SAFETY: rows r0..r0+rows of the activations hold `steps` elements each; panel p
            // holds steps × 32; a whole panel's 32 columns of those rows lie within `dst`
            // (m × n, checked by the caller).
            unsafe {
                let ap = s.a.as_ptr().add(r0 * steps);
                let wp = w.data.as_ptr().add(p * steps * NR);
                // A whole panel goes straight to `dst`; a partial one through `tile`.
                let (out, stride) = if cols == NR {
                    (dst.as_mut_ptr().add(r0 * n + p * NR), n)
                } else {
                    (s.tile.as_mut_ptr(), NR)
                };
                dispatch!(tile_bf16, rows, ap, wp, steps, |acc| {
                    for (r, v) in acc.iter().enumerate() {
                        _mm512_storeu_ps(out.add(r * stride), v[0]);
                        _mm512_storeu_ps(out.add(r * stride + 16), v[1]);
                    }
                });
            }
            if cols < NR {
                store(dst, n, r0, p * NR, cols, &s.tile[..rows * NR]);
            }
        });
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn int8(dst: &mut [f32], m: usize, a: &[f32], w: &Packed, s: &mut Scratch) {
        let (k, n, steps) = (w.k, w.n, w.steps);
        s.a.clear();
        s.a.resize(m * steps, 0);
        s.scale.clear();
        s.zero.clear();
        for (row, out) in a[..m * k].chunks_exact(k).zip(s.a.chunks_exact_mut(steps)) {
            let (lo, hi) = row
                .iter()
                .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            let zero = (-lo / scale).round().clamp(0.0, 255.0);
            let inv = 1.0 / scale;
            s.scale.push(scale);
            s.zero.push(zero as i32);
            // Rounded by adding one half then truncating (the value is never negative once
            // clamped): this vectorises, where `round` is a call per value.
            let bytes = out.as_mut_ptr().cast::<u8>();
            // SAFETY: `out` holds `steps` ≥ k/4 elements of 4 bytes; u8 has no alignment.
            let bytes = unsafe { std::slice::from_raw_parts_mut(bytes, out.len() * 4) };
            for (b, &v) in bytes.iter_mut().zip(row) {
                *b = (v * inv + zero + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
        s.tile.resize(MR * NR, 0.0);
        let panels = n.div_ceil(NR);
        tiles!(m, panels, |r0, rows, p| {
            let cols = (n - p * NR).min(NR);
            let c0 = p * NR;
            // SAFETY: as in `bf16`; the columns' scales and sums are padded to whole panels.
            unsafe {
                let ap = s.a.as_ptr().add(r0 * steps);
                let wp = w.data.as_ptr().add(p * steps * NR);
                let (out, stride) = if cols == NR {
                    (dst.as_mut_ptr().add(r0 * n + c0), n)
                } else {
                    (s.tile.as_mut_ptr(), NR)
                };
                dispatch!(tile_int8, rows, ap, wp, steps, |acc| {
                    // Back to f32: (sum − zero point × column sum) × row scale × column scale.
                    for (r, v) in acc.iter().enumerate() {
                        let zero = _mm512_set1_epi32(s.zero[r0 + r]);
                        let scale = _mm512_set1_ps(s.scale[r0 + r]);
                        for (h, v) in v.iter().enumerate() {
                            let c = c0 + 16 * h;
                            let sum = _mm512_loadu_si512(w.sum.as_ptr().add(c).cast());
                            let ws = _mm512_loadu_ps(w.scale.as_ptr().add(c));
                            let exact = _mm512_sub_epi32(*v, _mm512_mullo_epi32(zero, sum));
                            let f =
                                _mm512_mul_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(scale, ws));
                            _mm512_storeu_ps(out.add(r * stride + 16 * h), f);
                        }
                    }
                });
            }
            if cols < NR {
                store(dst, n, r0, c0, cols, &s.tile[..rows * NR]);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0).
        assert_eq!(bf16_bits(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(bf16_bits(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(bf16_bits(-2.5), 0xc020);
        assert!(f32::from_bits(u32::from(bf16_bits(f32::NAN)) << 16).is_nan());
    }

    #[test]
    fn reduced_products_match_f32_on_odd_shapes() {
        for precision in [Precision::Bf16, Precision::Int8] {
            if !precision.supported() {
                eprintln!(
                    "{}: not supported by this CPU, not tested",
                    precision.name()
                );
                continue;
            }
            // Remainders everywhere: rows past a tile and a row block, k not a whole step,
            // n not a whole panel.
            for (m, k, n) in [(1, 1, 1), (13, 7, 40), (100, 66, 33), (25, 384, 1152)] {
                let a = random(m * k, 1);
                let w = random(k * n, 2);
                let mut exact = vec![0.0; m * n];
                Weights::new(Precision::F32, w.clone(), k, n).product(
                    &mut exact,
                    m,
                    &a,
                    &mut Scratch::default(),
                );
                let packed = Packed::new(precision, &w, k, n);
                let mut got = vec![f32::NAN; m * n];
                matmul_packed(&mut got, m, &a, &packed, &mut Scratch::default());
                // Error relative to the size of the sum: bf16 keeps 8 bits, int8 about 7.
                let bound = match precision {
                    Precision::Bf16 => 0.01,
                    _ => 0.03,
                } * (k as f32).sqrt();
                for (i, (g, e)) in got.iter().zip(&exact).enumerate() {
                    assert!(
                        (g - e).abs() <= bound,
                        "{} {m}x{k}x{n} at {i}: {g} against {e}",
                        precision.name()
                    );
                }
            }
        }
    }

    #[test]
    fn choose_names_what_is_missing() {
        assert_eq!(Precision::choose(Some("f32")), Ok(Precision::F32));
        let err = Precision::choose(Some("fp8")).expect_err("fp8");
        assert_eq!(err, "precision `fp8` is not one of auto, f32, bf16, int8");
        let auto = Precision::choose(None).expect("auto");
        assert!(auto.supported());
        if !Precision::Bf16.supported() {
            let err = Precision::choose(Some("bf16")).expect_err("bf16");
            assert!(err.contains("needs a CPU with AVX-512 BF16"), "{err}");
        }
    }
}
