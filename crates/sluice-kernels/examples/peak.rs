//! The CPU's peak arithmetic rate and what the matrix products reach, on every thread at once:
//! `cargo run --release -p sluice-kernels --example peak [-- THREADS]`.
//!
//! Peak: a loop of independent AVX-512 FMA (f32), `vdpbf16ps` (bf16) and `vpdpbusd` (int8)
//! instructions, 12 accumulators, no memory traffic, the best of 3 runs; one multiply-add
//! counts 2 operations.
//! Products: the encoder's shapes (1,024 tokens × 384 → 1,536, MiniLM's feed-forward), f32
//! through `gemm`, bf16 and int8 through sluice's own kernels (all three as
//! [`sluice_kernels::Weights`]). Prints one JSON object.

#![allow(unsafe_code)]

use std::time::Instant;

use sluice_kernels::{Precision, Scratch, Weights};

const ITERS: usize = 100_000_000;

/// One of the peak loops: rounds, seed → a value that depends on every accumulator.
#[cfg(target_arch = "x86_64")]
type PeakLoop = unsafe fn(usize, f32) -> f32;

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    macro_rules! peak_loop {
        ($name:ident, $features:literal, $ty:ty, $init:expr, $op:expr) => {
            /// Runs `iters` rounds of 12 independent instructions (12 named accumulators: an
            /// array of them ends up rotated through memory by the compiler); returns a value
            /// that depends on every accumulator, so that nothing is optimised away.
            #[target_feature(enable = $features)]
            pub unsafe fn $name(iters: usize, seed: f32) -> f32 {
                let x: $ty = $init(seed);
                let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) = (x, x, x, x, x, x);
                let (mut a6, mut a7, mut a8, mut a9, mut a10, mut a11) = (x, x, x, x, x, x);
                for _ in 0..iters {
                    a0 = $op(a0, x);
                    a1 = $op(a1, x);
                    a2 = $op(a2, x);
                    a3 = $op(a3, x);
                    a4 = $op(a4, x);
                    a5 = $op(a5, x);
                    a6 = $op(a6, x);
                    a7 = $op(a7, x);
                    a8 = $op(a8, x);
                    a9 = $op(a9, x);
                    a10 = $op(a10, x);
                    a11 = $op(a11, x);
                }
                [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11]
                    .iter()
                    // SAFETY: every accumulator type is 64 bytes, read as 16 lanes of 32 bits.
                    .map(|a| unsafe { std::mem::transmute::<$ty, [f32; 16]>(*a)[0] })
                    .sum()
            }
        };
    }

    fn f32_init(seed: f32) -> __m512 {
        // SAFETY: called only from functions compiled with avx512f.
        unsafe { _mm512_set1_ps(seed) }
    }

    fn i_init(seed: f32) -> __m512i {
        // SAFETY: as above.
        unsafe { _mm512_set1_epi32(seed as i32) }
    }

    #[inline(always)]
    fn fma(a: __m512, x: __m512) -> __m512 {
        // SAFETY: inlined into a function compiled with avx512f.
        unsafe { _mm512_fmadd_ps(a, _mm512_set1_ps(0.5), x) }
    }

    #[inline(always)]
    fn dpbf16(a: __m512, x: __m512) -> __m512 {
        // SAFETY: inlined into a function compiled with avx512bf16.
        unsafe {
            let b = std::mem::transmute::<__m512, __m512bh>(x);
            _mm512_dpbf16_ps(a, b, b)
        }
    }

    #[inline(always)]
    fn dpbusd(a: __m512i, x: __m512i) -> __m512i {
        // SAFETY: inlined into a function compiled with avx512vnni.
        unsafe { _mm512_dpbusd_epi32(a, x, x) }
    }

    peak_loop!(f32_fma, "avx512f", __m512, f32_init, fma);
    peak_loop!(bf16_dp, "avx512f,avx512bf16", __m512, f32_init, dpbf16);
    peak_loop!(
        int8_dp,
        "avx512f,avx512bw,avx512vnni",
        __m512i,
        i_init,
        dpbusd
    );
}

/// Runs `f` on `threads` threads at once; the slowest thread's seconds.
fn on_threads(threads: usize, f: impl Fn() + Sync) -> f64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(f64::NAN))
            .fold(0.0, f64::max)
    })
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut out = vec![format!("\"threads\": {threads}")];

    #[cfg(target_arch = "x86_64")]
    {
        // Operations per instruction: 16 lanes × (1 FMA, 2 bf16 or 4 int8 multiply-adds) × 2.
        let loops: [(&str, Precision, f64, PeakLoop); 3] = [
            ("f32", Precision::F32, 32.0, peak::f32_fma),
            ("bf16", Precision::Bf16, 64.0, peak::bf16_dp),
            ("int8", Precision::Int8, 128.0, peak::int8_dp),
        ];
        let avx512 = std::arch::is_x86_feature_detected!("avx512f");
        for (name, precision, ops, f) in loops {
            if !avx512 || !precision.supported() {
                continue;
            }
            // The best of 3: a peak is what the cores reach when nothing else (a neighbour
            // on a shared core, a frequency change) slows them.
            let secs = (0..3)
                .map(|_| {
                    on_threads(threads, || {
                        // SAFETY: the instructions were detected above.
                        std::hint::black_box(unsafe { f(ITERS / 12, 1.0) });
                    })
                })
                .fold(f64::INFINITY, f64::min);
            let gops = (ITERS / 12 * 12) as f64 * ops * threads as f64 / secs / 1e9;
            out.push(format!("\"peak_{name}_gops\": {gops:.1}"));
        }
    }

    let (m, k, n) = (1024, 384, 1536);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729) % 1000) as f32 / 5e4 - 0.01)
        .collect();
    let reps = 20;
    let flops = (2 * m * k * n * reps * threads) as f64;
    for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
        if !precision.supported() {
            continue;
        }
        let weights = Weights::new(precision, w.clone(), k, n);
        let secs = on_threads(threads, || {
            let mut c = vec![0.0f32; m * n];
            let mut scratch = Scratch::default();
            for _ in 0..reps {
                weights.product(&mut c, m, &a, &mut scratch);
            }
            std::hint::black_box(c);
        });
        out.push(format!(
            "\"matmul_{}_gops\": {:.1}",
            precision.name(),
            flops / secs / 1e9
        ));
    }
    println!("{{{}}}", out.join(", "));
}
