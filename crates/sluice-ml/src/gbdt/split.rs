//! Finding the best split of a node from its histogram.
//!
//! Gain of a split: `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` (as LightGBM, without the ½);
//! each child needs `min_samples_leaf` rows and a hessian sum of at least [`MIN_HESSIAN`]; a
//! split needs a positive gain.
//!
//! * Numeric feature: every threshold between two non-empty bins, with the node's missing rows
//!   sent left and then right, the better kept. When the node has no missing rows, missing
//!   values (at prediction) go to the child with more training rows.
//! * Categorical feature (LightGBM's method): the categories with at least [`CAT_MIN_ROWS`]
//!   rows in the node — the missing bin counts as one more category — are sorted by
//!   `G / (H + CAT_SMOOTH)`; the best prefix of that order, from either end, of at most
//!   [`MAX_CAT_LEFT`] categories (and at most half of them) goes left, the other categories
//!   right. Rarer categories go right; categories absent from the node go to the child with
//!   more rows. Categorical gains use `λ + CAT_L2`, which holds back splits on many small
//!   categories.

use std::ops::Range;

use super::bins::FeatureBins;
use super::hist::{HBin, Layout};

/// Minimum hessian sum of a child.
pub(crate) const MIN_HESSIAN: f64 = 1e-3;
/// A category needs this many rows in a node to be put in a left set on its own.
pub(crate) const CAT_MIN_ROWS: u32 = 10;
/// Added to the hessian sum of a category when ordering categories.
pub(crate) const CAT_SMOOTH: f64 = 10.0;
/// Added to `λ` in the gain of categorical splits.
pub(crate) const CAT_L2: f64 = 10.0;
/// At most this many categories in the left set of a split.
pub(crate) const MAX_CAT_LEFT: usize = 32;

/// What a feature's bins mean, for splitting and routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FeatInfo {
    /// Index of the missing bin (= number of other bins).
    pub(crate) missing: usize,
    /// Whether the feature is categorical.
    pub(crate) categorical: bool,
}

impl FeatInfo {
    /// The routing information of a column.
    pub(crate) fn of(fb: &FeatureBins) -> FeatInfo {
        FeatInfo {
            missing: fb.missing_bin(),
            categorical: fb.is_categorical(),
        }
    }
}

/// Constraints on splits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// L2 regularisation λ.
    pub(crate) l2: f64,
    /// Minimum rows per child.
    pub(crate) min_leaf: u32,
}

/// How rows are routed at a split (the missing bin aside).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rule {
    /// Bins `<= bin` go left.
    Num {
        /// Last bin going left.
        bin: u32,
    },
    /// Categories whose bit is set go left.
    Cat {
        /// Bitset over the categories (not the missing bin).
        left: Vec<u64>,
    },
}

impl Rule {
    /// Whether a non-missing bin goes left.
    #[inline]
    pub(crate) fn goes_left(&self, bin: usize) -> bool {
        match self {
            Rule::Num { bin: last } => bin <= *last as usize,
            Rule::Cat { left } => bit(left, bin),
        }
    }
}

/// Whether bit `i` of `set` is set.
#[inline]
pub(crate) fn bit(set: &[u64], i: usize) -> bool {
    set.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

/// The best split of a node found so far.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    /// Gain.
    pub(crate) gain: f64,
    /// Feature.
    pub(crate) feature: usize,
    /// Routing of non-missing bins.
    pub(crate) rule: Rule,
    /// Where the missing bin goes.
    pub(crate) missing_left: bool,
    /// Sums of the left child.
    pub(crate) left: HBin,
    /// Sums of the right child.
    pub(crate) right: HBin,
}

#[inline]
fn score(s: &HBin, l2: f64) -> f64 {
    s.g * s.g / (s.h + l2)
}

#[inline]
fn minus(a: &HBin, b: &HBin) -> HBin {
    let mut d = *a;
    d.sub(b);
    d
}

/// The best split of a node with sums `total` over the features `features`, whose histograms
/// are `hist` (their slots, from the first one's); the first of equal gains.
pub(crate) fn best_split(
    hist: &[HBin],
    layout: &Layout,
    feats: &[FeatInfo],
    features: Range<usize>,
    total: &HBin,
    rules: &Rules,
) -> Option<Split> {
    let base = layout.offsets[features.start];
    let mut best: Option<Split> = None;
    for j in features {
        let info = &feats[j];
        let h = &hist[layout.slots(j).start - base..][..=info.missing];
        let found = if info.categorical {
            categorical(h, total, rules)
        } else {
            numeric(h, total, rules)
        };
        if let Some((gain, rule, missing_left, left)) = found
            && best.as_ref().is_none_or(|b| gain > b.gain)
        {
            best = Some(Split {
                gain,
                feature: j,
                rule,
                missing_left,
                right: minus(total, &left),
                left,
            });
        }
    }
    best
}

type Found = Option<(f64, Rule, bool, HBin)>;

/// Best threshold of a numeric feature; `h` holds its bins, the missing bin last.
fn numeric(h: &[HBin], total: &HBin, rules: &Rules) -> Found {
    let (l2, min_leaf) = (rules.l2, rules.min_leaf);
    let nb = h.len() - 1;
    let miss = h[nb];
    let parent = score(total, l2);
    let mut best: Option<(f64, usize, bool, HBin)> = None;
    for missing_left in [false, true] {
        if missing_left && miss.n == 0 {
            break;
        }
        let mut l = if missing_left { miss } else { HBin::default() };
        for (b, hb) in h[..nb].iter().enumerate() {
            if hb.n == 0 {
                continue;
            }
            l.add(hb);
            match candidate(&l, total, min_leaf, l2, parent) {
                Step::Skip => continue,
                Step::Stop => break,
                Step::Gain(gain) => {
                    if best.as_ref().is_none_or(|x| gain > x.0) {
                        best = Some((gain, b, missing_left, l));
                    }
                }
            }
        }
    }
    best.map(|(gain, b, missing_left, left)| {
        // No missing rows in the node: missing values follow the larger child.
        let missing_left = if miss.n == 0 {
            left.n > total.n - left.n
        } else {
            missing_left
        };
        (gain, Rule::Num { bin: b as u32 }, missing_left, left)
    })
}

/// What a scan does with a candidate left side `l`.
enum Step {
    /// Too small a side: try the next bin.
    Skip,
    /// The right side is already too small: no later bin can do better.
    Stop,
    /// A valid split with this positive gain.
    Gain(f64),
}

/// Whether `l` (and `total − l` on the right) makes a valid split, and its gain.
fn candidate(l: &HBin, total: &HBin, min_leaf: u32, l2: f64, parent: f64) -> Step {
    if l.n < min_leaf || l.h < MIN_HESSIAN {
        return Step::Skip;
    }
    let r = minus(total, l);
    if r.n < min_leaf {
        return Step::Stop;
    }
    if r.h < MIN_HESSIAN {
        return Step::Skip;
    }
    let gain = score(l, l2) + score(&r, l2) - parent;
    if gain > 0.0 {
        Step::Gain(gain)
    } else {
        Step::Skip
    }
}

/// Best category subset of a categorical feature; `h` holds its bins, the missing bin last.
fn categorical(h: &[HBin], total: &HBin, rules: &Rules) -> Found {
    let (min_leaf, l2) = (rules.min_leaf, rules.l2 + CAT_L2);
    let missing = h.len() - 1;
    let mut order: Vec<usize> = (0..h.len()).filter(|&b| h[b].n >= CAT_MIN_ROWS).collect();
    if order.is_empty() {
        return None;
    }
    let ratio = |b: usize| h[b].g / (h[b].h + CAT_SMOOTH);
    order.sort_by(|&a, &b| ratio(a).total_cmp(&ratio(b)).then(a.cmp(&b)));
    let max_left = MAX_CAT_LEFT.min(order.len().div_ceil(2));
    let parent = score(total, l2);
    // (gain, from the high end?, categories taken, left sums)
    let mut best: Option<(f64, bool, usize, HBin)> = None;
    for reverse in [false, true] {
        let mut l = HBin::default();
        for i in 0..max_left {
            let b = if reverse {
                order[order.len() - 1 - i]
            } else {
                order[i]
            };
            l.add(&h[b]);
            match candidate(&l, total, min_leaf, l2, parent) {
                Step::Skip => continue,
                Step::Stop => break,
                Step::Gain(gain) => {
                    if best.as_ref().is_none_or(|x| gain > x.0) {
                        best = Some((gain, reverse, i + 1, l));
                    }
                }
            }
        }
    }
    let (gain, reverse, taken, left) = best?;
    let chosen: Vec<usize> = if reverse {
        order.iter().rev().take(taken).copied().collect()
    } else {
        order.iter().take(taken).copied().collect()
    };
    let larger_left = left.n > total.n - left.n;
    let mut set = vec![0u64; missing.div_ceil(64)];
    let mut missing_left = false;
    let mut put = |b: usize| {
        if b == missing {
            missing_left = true;
        } else {
            set[b / 64] |= 1 << (b % 64);
        }
    };
    chosen.iter().for_each(|&b| put(b));
    if larger_left {
        (0..h.len()).filter(|&b| h[b].n == 0).for_each(&mut put);
    }
    Some((gain, Rule::Cat { left: set }, missing_left, left))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(g: f64, n: u32) -> HBin {
        HBin {
            g,
            h: f64::from(n),
            n,
        }
    }

    fn total(h: &[HBin]) -> HBin {
        let mut t = HBin::default();
        h.iter().for_each(|b| t.add(b));
        t
    }

    #[test]
    fn numeric_split_sends_missing_where_it_fits() {
        // Bins 0, 1 low gradients; bin 2 high; missing like bin 2.
        let h = [bin(-10.0, 10), bin(-10.0, 10), bin(10.0, 10), bin(10.0, 10)];
        let rules = Rules {
            l2: 0.0,
            min_leaf: 1,
        };
        let (gain, rule, missing_left, left) = numeric(&h, &total(&h), &rules).unwrap_or((
            0.0,
            Rule::Num { bin: 9 },
            true,
            HBin::default(),
        ));
        assert_eq!(rule, Rule::Num { bin: 1 });
        assert!(!missing_left);
        assert_eq!(left.n, 20);
        assert!((gain - 40.0).abs() < 1e-9, "{gain}");
        // Missing like the low bins: sent left.
        let h = [
            bin(-10.0, 10),
            bin(-10.0, 10),
            bin(10.0, 10),
            bin(-10.0, 10),
        ];
        let found = numeric(&h, &total(&h), &rules).map(|f| (f.1, f.2));
        assert_eq!(found, Some((Rule::Num { bin: 1 }, true)));
        // No missing rows: missing goes to the larger child.
        let h = [bin(-10.0, 10), bin(10.0, 30), HBin::default()];
        let found = numeric(&h, &total(&h), &rules).map(|f| (f.1, f.2));
        assert_eq!(found, Some((Rule::Num { bin: 0 }, false)));
    }

    #[test]
    fn categorical_split_groups_categories_by_gradient() {
        // Categories 0 and 2 low, 1 and 3 high, 4 rare, 5 absent; missing bin last (absent).
        let h = [
            bin(-20.0, 20),
            bin(20.0, 20),
            bin(-20.0, 20),
            bin(20.0, 20),
            bin(5.0, 5),
            HBin::default(),
            HBin::default(),
        ];
        let rules = Rules {
            l2: 0.0,
            min_leaf: 1,
        };
        let found = categorical(&h, &total(&h), &rules).map(|f| (f.1, f.2, f.3.n));
        // Left = {0, 2} (40 rows) < right = {1, 3, 4} (45 rows): absent ones go right.
        assert_eq!(found, Some((Rule::Cat { left: vec![0b101] }, false, 40)));
    }
}
