//! Binning: per-column bin edges learnt from the training data (kept in the model) and the
//! binned, column-major copy of a frame that the trees are grown on.
//!
//! * Numeric column: up to `max_bins` bins for the non-missing values. With fewer distinct
//!   values than `max_bins` every distinct value gets its own bin and the thresholds lie at the
//!   midpoints between consecutive values; otherwise the thresholds are quantiles (bins of about
//!   equal row counts, a value never split across two bins). A value `x` falls in bin `b` when
//!   `thresholds[b - 1] < x <= thresholds[b]`; `NaN` falls in the dedicated missing bin
//!   `thresholds.len() + 1`. `±inf` are treated as `±f32::MAX`.
//! * Categorical column with `n` categories: code `c` is bin `c` for the first
//!   [`MAX_CATEGORIES`] codes; `NaN`, negative, fractional, unknown (`>= n`) codes and codes
//!   beyond the cap fall in the missing bin.

use serde::{Deserialize, Serialize};

use crate::{Frame, par_chunks};

/// Categorical columns keep at most this many categories as bins (stored as `u16` when more
/// than 255); larger codes are treated as missing.
pub const MAX_CATEGORIES: u32 = 4096;

/// Bin edges are learnt from at most this many rows (a seeded random subsample).
pub(crate) const BIN_SAMPLE: usize = 200_000;

/// How one column's raw values map to bins: kept in the model, so that prediction bins new rows
/// the same way without the training data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FeatureBins {
    /// Numeric: `x <= thresholds[b]` (and above the previous threshold) is bin `b`.
    Numeric {
        /// Strictly increasing, finite.
        thresholds: Vec<f32>,
    },
    /// Categorical: codes `0..categories` are bins `0..categories`.
    Categorical {
        /// Number of categories kept as bins.
        categories: u32,
    },
}

impl FeatureBins {
    /// The bin of missing values (the last bin).
    pub(crate) fn missing_bin(&self) -> usize {
        match self {
            FeatureBins::Numeric { thresholds } => thresholds.len() + 1,
            FeatureBins::Categorical { categories } => *categories as usize,
        }
    }

    /// Number of bins, the missing bin included.
    pub(crate) fn n_bins(&self) -> usize {
        self.missing_bin() + 1
    }

    /// Whether the column is categorical.
    pub(crate) fn is_categorical(&self) -> bool {
        matches!(self, FeatureBins::Categorical { .. })
    }

    /// The bin of a raw value.
    #[inline]
    pub(crate) fn bin(&self, x: f32) -> usize {
        match self {
            FeatureBins::Numeric { thresholds } => {
                if x.is_nan() {
                    thresholds.len() + 1
                } else {
                    let x = clamp(x);
                    thresholds.partition_point(|&t| t < x)
                }
            }
            FeatureBins::Categorical { categories } => {
                if x >= 0.0 && x < *categories as f32 && x.fract() == 0.0 {
                    x as usize
                } else {
                    *categories as usize
                }
            }
        }
    }
}

/// Infinite values are binned as the largest finite ones, so that every threshold is finite
/// (and serialisable).
#[inline]
fn clamp(x: f32) -> f32 {
    x.clamp(f32::MIN, f32::MAX)
}

/// The rows bins are learnt from: all of them, or a seeded random subsample of
/// [`BIN_SAMPLE`] rows in increasing order.
pub(crate) fn sample_rows(rows: usize, cap: usize, seed: u64) -> Option<Vec<usize>> {
    use rand::SeedableRng;
    if rows <= cap {
        return None;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, rows, cap).into_vec();
    picked.sort_unstable();
    Some(picked)
}

/// Learns the bins of every column of `frame` (on the rows `sample`, or all).
pub(crate) fn fit_bins(
    frame: &Frame,
    max_bins: usize,
    sample: Option<&[usize]>,
    threads: usize,
) -> Vec<FeatureBins> {
    par_chunks(frame.columns.len(), 1, threads, |cols| {
        cols.map(|j| match frame.categorical.get(j).copied().flatten() {
            Some(n) => FeatureBins::Categorical {
                categories: n.min(MAX_CATEGORIES),
            },
            None => {
                let column = &frame.columns[j];
                let mut values: Vec<f32> = match sample {
                    Some(rows) => rows
                        .iter()
                        .filter_map(|&r| column.get(r).copied())
                        .collect(),
                    None => column.clone(),
                };
                values.retain(|v| !v.is_nan());
                values.iter_mut().for_each(|v| *v = clamp(*v));
                FeatureBins::Numeric {
                    thresholds: thresholds(values, max_bins),
                }
            }
        })
        .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Thresholds for at most `max_bins` bins of `values` (finite, no NaN).
pub(crate) fn thresholds(mut values: Vec<f32>, max_bins: usize) -> Vec<f32> {
    values.sort_unstable_by(f32::total_cmp);
    // Distinct values and their counts (-0.0 and 0.0 are one value).
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for v in values.iter().copied() {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if distinct.len() <= 1 {
        return Vec::new();
    }
    let midpoint = |i: usize| {
        let (a, b) = (distinct[i].0, distinct[i + 1].0);
        let m = ((f64::from(a) + f64::from(b)) * 0.5) as f32;
        if m < b { m } else { a }
    };
    if distinct.len() <= max_bins {
        return (0..distinct.len() - 1).map(midpoint).collect();
    }
    // Quantile bins: close a bin once it holds its share of the remaining rows, or before a
    // value that alone holds a share (so that frequent values get a bin of their own).
    let mut out = Vec::with_capacity(max_bins - 1);
    let mut rest_rows = values.len() as f64;
    let mut rest_bins = max_bins as f64;
    let mut in_bin = 0usize;
    for i in 0..distinct.len() - 1 {
        in_bin += distinct[i].1;
        let share = rest_rows / rest_bins;
        if in_bin as f64 >= share || distinct[i + 1].1 as f64 >= share {
            out.push(midpoint(i));
            rest_rows -= in_bin as f64;
            rest_bins -= 1.0;
            in_bin = 0;
            if out.len() + 1 == max_bins {
                break;
            }
        }
    }
    out
}

/// One binned column: `u8` when all its bins fit, else `u16`.
#[derive(Clone, Debug)]
pub(crate) enum BinColumn {
    /// At most 256 bins.
    U8(Vec<u8>),
    /// More than 256 bins (categorical columns only).
    U16(Vec<u16>),
}

impl BinColumn {
    /// The bin of row `r`.
    #[inline]
    pub(crate) fn get(&self, r: usize) -> usize {
        match self {
            BinColumn::U8(v) => usize::from(v[r]),
            BinColumn::U16(v) => usize::from(v[r]),
        }
    }
}

/// A frame mapped to bins, column-major.
#[derive(Clone, Debug)]
pub(crate) struct Binned {
    /// Number of rows.
    pub(crate) rows: usize,
    /// One column per feature.
    pub(crate) columns: Vec<BinColumn>,
}

/// Maps `frame` to bins (a column the frame lacks, or a short one, reads as missing).
pub(crate) fn bin_frame(frame: &Frame, bins: &[FeatureBins], threads: usize) -> Binned {
    bin_rows(frame, 0..frame.rows, bins, threads)
}

/// Maps the rows `range` of `frame` to bins.
pub(crate) fn bin_rows(
    frame: &Frame,
    range: std::ops::Range<usize>,
    bins: &[FeatureBins],
    threads: usize,
) -> Binned {
    let rows = range.len();
    let work = |j: usize| {
        let fb = &bins[j];
        let column: &[f32] = frame.columns.get(j).map_or(&[], Vec::as_slice);
        let value = |r: usize| column.get(r).copied().unwrap_or(f32::NAN);
        if fb.n_bins() <= 256 {
            BinColumn::U8(range.clone().map(|r| fb.bin(value(r)) as u8).collect())
        } else {
            BinColumn::U16(range.clone().map(|r| fb.bin(value(r)) as u16).collect())
        }
    };
    let columns = if threads <= 1 || rows * bins.len() < 100_000 {
        (0..bins.len()).map(work).collect()
    } else {
        par_chunks(bins.len(), 1, threads, |js| {
            js.map(work).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    };
    Binned { rows, columns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let t = thresholds(vec![3.0, 1.0, 2.0, 1.0, 3.0], 255);
        assert_eq!(t, vec![1.5, 2.5]);
        let fb = FeatureBins::Numeric { thresholds: t };
        let bins: Vec<usize> = [1.0, 1.5, 1.6, 2.0, 3.0, 9.0, f32::NAN, f32::INFINITY]
            .iter()
            .map(|&x| fb.bin(x))
            .collect();
        assert_eq!(bins, vec![0, 0, 1, 1, 2, 2, 3, 2]);
    }

    #[test]
    fn quantile_bins_respect_max_bins_and_frequent_values() {
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        v.extend(std::iter::repeat_n(5000.5, 5000));
        let t = thresholds(v.clone(), 16);
        assert!(t.len() <= 15, "{}", t.len());
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        // The frequent value has a bin of its own.
        let fb = FeatureBins::Numeric { thresholds: t };
        let b = fb.bin(5000.5);
        assert_ne!(fb.bin(5000.0), b);
        assert_ne!(fb.bin(5001.0), b);
        // Infinite values give finite thresholds.
        let t = thresholds(vec![f32::MIN, 0.0, f32::MAX], 255);
        assert!(t.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn categorical_codes_are_bins() {
        let fb = FeatureBins::Categorical { categories: 3 };
        let bins: Vec<usize> = [0.0, 2.0, 3.0, -1.0, 1.5, f32::NAN]
            .iter()
            .map(|&x| fb.bin(x))
            .collect();
        assert_eq!(bins, vec![0, 2, 3, 3, 3, 3]);
    }

    #[test]
    fn subsample_is_seeded_and_sorted() {
        assert_eq!(sample_rows(10, 20, 1), None);
        let a = sample_rows(1000, 100, 7);
        assert_eq!(a, sample_rows(1000, 100, 7));
        assert_ne!(a, sample_rows(1000, 100, 8));
        let a = a.unwrap_or_default();
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
    }
}
