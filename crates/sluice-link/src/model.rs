//! The Fellegi–Sunter model: per comparison level, m = P(level | match) and
//! u = P(level | non-match); a pair's match weight is the log2 prior odds plus the sum of
//! log2(m/u) over its levels. u comes from random pairs, m and the prior from EM over the
//! candidate pairs (no labels), run on the counts of each distinct pattern of levels.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sluice_data::datafusion::arrow::array::{Array, StringArray};

use super::blocking::{CHUNK, Pair};
use super::compare::CompareSpec;
use super::records::Records;

/// Bits of a pattern per comparison (levels 0..=15).
const BITS: u32 = 4;
/// Most comparisons a model takes.
pub const MAX_COMPARISONS: usize = 16;

/// The fitted model, kept with the pairs dataset (for `sluice link explain`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Compared columns, in order.
    pub columns: Vec<String>,
    /// How each is compared.
    pub specs: Vec<CompareSpec>,
    /// m per comparison and level (level 0, missing, unused).
    pub m: Vec<Vec<f64>>,
    /// u per comparison and level.
    pub u: Vec<Vec<f64>>,
    /// Share of matches among the candidate pairs.
    pub lambda: f64,
    /// EM iterations run (the last EM, over all the candidates).
    pub iterations: usize,
    /// The EM run on each blocking rule's pairs, whose m were averaged.
    #[serde(default)]
    pub rules: Vec<RuleFit>,
}

/// Compares records of two inputs (or one, deduplicating) column by column.
pub struct Comparer<'a> {
    specs: &'a [CompareSpec],
    left: Vec<&'a StringArray>,
    right: Vec<&'a StringArray>,
    /// Per comparison with `tf: true`: share of the records holding each value.
    tf: Vec<Option<HashMap<&'a str, f64>>>,
}

impl<'a> Comparer<'a> {
    /// A comparer of `columns` of `left` × `right` (`right` is `left` when deduplicating).
    pub fn new(
        columns: &[String],
        specs: &'a [CompareSpec],
        left: &'a Records,
        right: &'a Records,
        same: bool,
    ) -> Self {
        let left_cols: Vec<&StringArray> = columns.iter().map(|c| left.column(c)).collect();
        let right_cols: Vec<&StringArray> = columns.iter().map(|c| right.column(c)).collect();
        let tf = specs
            .iter()
            .enumerate()
            .map(|(c, spec)| {
                spec.tf.then(|| {
                    let mut counts: HashMap<&str, f64> = HashMap::new();
                    let mut total: f64 = 0.0;
                    let sides: &[&StringArray] = if same {
                        &[left_cols[c]]
                    } else {
                        &[left_cols[c], right_cols[c]]
                    };
                    for col in sides {
                        for row in 0..col.len() {
                            if let Some(v) = Records::value(col, row) {
                                *counts.entry(v).or_default() += 1.0;
                                total += 1.0;
                            }
                        }
                    }
                    counts.values_mut().for_each(|n| *n /= total.max(1.0));
                    counts
                })
            })
            .collect();
        Comparer {
            specs,
            left: left_cols,
            right: right_cols,
            tf,
        }
    }

    /// Levels of the pair `(a, b)`, packed 4 bits per comparison.
    pub fn pattern(&self, a: usize, b: usize) -> u64 {
        let mut p = 0u64;
        for (c, spec) in self.specs.iter().enumerate() {
            let level = spec.level(
                Records::value(self.left[c], a),
                Records::value(self.right[c], b),
            );
            p |= u64::from(level) << (BITS * c as u32);
        }
        p
    }

    /// The values of comparison `c` for the pair.
    pub fn values(&self, c: usize, a: usize, b: usize) -> (Option<&'a str>, Option<&'a str>) {
        (
            Records::value(self.left[c], a),
            Records::value(self.right[c], b),
        )
    }

    /// Term-frequency share of the left value of comparison `c`, when it has `tf: true`.
    fn tf(&self, c: usize, a: usize) -> Option<f64> {
        let table = self.tf[c].as_ref()?;
        Records::value(self.left[c], a).and_then(|v| table.get(v).copied())
    }
}

/// Patterns of a chunk of pairs, computed on every core.
pub fn patterns(comparer: &Comparer<'_>, chunk: &[Pair]) -> Vec<u64> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers == 1 || chunk.len() < 4096 {
        return chunk
            .iter()
            .map(|&(a, b, _)| comparer.pattern(a as usize, b as usize))
            .collect();
    }
    let mut out = vec![0u64; chunk.len()];
    let per = chunk.len().div_ceil(workers);
    std::thread::scope(|s| {
        for (pairs, dst) in chunk.chunks(per).zip(out.chunks_mut(per)) {
            s.spawn(move || {
                for (&(a, b, _), d) in pairs.iter().zip(dst.iter_mut()) {
                    *d = comparer.pattern(a as usize, b as usize);
                }
            });
        }
    });
    out
}

/// Level of comparison `c` in `pattern`.
pub fn level(pattern: u64, c: usize) -> u8 {
    ((pattern >> (BITS * c as u32)) & 0xf) as u8
}

/// Share of exact agreements among the pairs of records with a value on both sides, counted
/// from the values' frequencies: every pair, without sampling.
fn exact_share(left: &StringArray, right: &StringArray, same: bool) -> f64 {
    let mut counts: HashMap<&str, (f64, f64)> = HashMap::new();
    let (mut nl, mut nr) = (0.0, 0.0);
    for row in 0..left.len() {
        if let Some(v) = Records::value(left, row) {
            counts.entry(v).or_default().0 += 1.0;
            nl += 1.0;
        }
    }
    if !same {
        for row in 0..right.len() {
            if let Some(v) = Records::value(right, row) {
                counts.entry(v).or_default().1 += 1.0;
                nr += 1.0;
            }
        }
    }
    let (agree, pairs) = if same {
        (
            counts.values().map(|(n, _)| n * (n - 1.0)).sum::<f64>(),
            nl * (nl - 1.0),
        )
    } else {
        (counts.values().map(|(l, r)| l * r).sum::<f64>(), nl * nr)
    };
    if pairs <= 0.0 {
        return 0.0;
    }
    // Never zero: a value no two records share is rare among non-matches, not impossible.
    agree.max(0.5) / pairs
}

/// u per comparison and level: the exact level counted from the values' frequencies over
/// every pair, the other levels' shares from `samples` random pairs (with replacement) of
/// `n_left` × `n_right` records (`same`: distinct records of one input).
pub fn estimate_u(
    comparer: &Comparer<'_>,
    n_left: usize,
    n_right: usize,
    same: bool,
    samples: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let specs = comparer.specs;
    let mut counts: Vec<Vec<f64>> = specs.iter().map(|s| vec![0.0; s.level_count()]).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    if n_left > 0 && n_right > 0 && !(same && n_left < 2) {
        let mut chunk: Vec<Pair> = Vec::with_capacity(CHUNK.min(samples));
        let mut left = samples;
        while left > 0 {
            chunk.clear();
            for _ in 0..CHUNK.min(left) {
                let a = rng.gen_range(0..n_left);
                let mut b = rng.gen_range(0..n_right);
                if same {
                    while b == a {
                        b = rng.gen_range(0..n_right);
                    }
                }
                chunk.push((a as u32, b as u32, 0));
            }
            left -= chunk.len();
            for p in patterns(comparer, &chunk) {
                for (c, row) in counts.iter_mut().enumerate() {
                    row[level(p, c) as usize] += 1.0;
                }
            }
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(c, row)| {
            let exact = exact_share(comparer.left[c], comparer.right[c], same);
            // The other levels share the rest, in the sample's proportions, smoothed so that
            // a level never seen among random pairs is rare, not impossible.
            let seen: f64 = row[2..].iter().sum();
            let k = (row.len() - 2) as f64;
            let mut u: Vec<f64> = row
                .iter()
                .map(|n| (1.0 - exact) * (n + 0.5) / (seen + 0.5 * k))
                .collect();
            u[0] = 1.0;
            u[1] = exact;
            u
        })
        .collect()
}

/// Starting m: most matches agree exactly, some nearly, few not at all.
fn initial_m(spec: &CompareSpec) -> Vec<f64> {
    let n = spec.level_count();
    let fuzzy = n - 3;
    let mut m = vec![0.0; n];
    m[0] = 1.0;
    m[1] = if fuzzy == 0 { 0.9 } else { 0.7 };
    for level in &mut m[2..n - 1] {
        *level = 0.25 / fuzzy as f64;
    }
    m[n - 1] = if fuzzy == 0 { 0.1 } else { 0.05 };
    m
}

/// One blocking rule's part in fitting m: EM over the pairs the rule finds, leaving out the
/// comparisons the rule conditions on (its own columns agree by construction there).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleFit {
    /// The rule, as labelled in the pairs dataset.
    pub rule: String,
    /// Candidate pairs the rule finds (also those an earlier rule found first).
    pub pairs: u64,
    /// Share of matches EM found among them.
    pub lambda: f64,
    /// The comparisons whose m it estimated.
    pub columns: Vec<String>,
    /// EM iterations run.
    pub iterations: usize,
}

/// The pattern counts of one rule's pairs, for [`fit`].
pub struct RuleCounts {
    /// The rule's label.
    pub rule: String,
    /// Count of each pattern among the pairs the rule finds.
    pub patterns: HashMap<u64, u64>,
    /// Per comparison: whether the rule conditions on it (then its m is not estimated here).
    pub excluded: Vec<bool>,
}

/// Pairs a rule needs before its EM is trusted.
const MIN_RULE_PAIRS: u64 = 50;

/// EM over pattern counts with u fixed. Only comparisons in `used` enter the likelihood;
/// of those, the m of the ones in `free` is re-estimated, the others keep `m`. The prior is
/// re-estimated too. Returns the iterations run.
#[allow(clippy::too_many_arguments)] // the parts of one fit, each read or written here
fn em(
    specs: &[CompareSpec],
    u: &[Vec<f64>],
    counted: &[(u64, f64)],
    used: &[bool],
    free: &[bool],
    m: &mut [Vec<f64>],
    lambda: &mut f64,
    max_iterations: usize,
) -> usize {
    let total: f64 = counted.iter().map(|(_, n)| n).sum();
    let mut iterations = 0;
    while iterations < max_iterations && total > 0.0 {
        iterations += 1;
        let mut acc: Vec<Vec<f64>> = specs.iter().map(|s| vec![0.0; s.level_count()]).collect();
        let mut matches = 0.0;
        let (lm0, lu0) = (lambda.ln(), (1.0 - *lambda).ln());
        for &(p, n) in counted {
            let (mut lm, mut lu) = (lm0, lu0);
            for c in (0..specs.len()).filter(|&c| used[c]) {
                let l = level(p, c) as usize;
                if l > 0 {
                    lm += m[c][l].ln();
                    lu += u[c][l].ln();
                }
            }
            let post = 1.0 / (1.0 + (lu - lm).exp());
            let w = n * post;
            matches += w;
            for (c, row) in acc.iter_mut().enumerate() {
                row[level(p, c) as usize] += w;
            }
        }
        let new_lambda = (matches / total).clamp(1e-9, 1.0 - 1e-9);
        let mut change = (new_lambda - *lambda).abs();
        *lambda = new_lambda;
        for (c, row) in acc.iter().enumerate().filter(|(c, _)| free[*c]) {
            let seen: f64 = row[1..].iter().sum();
            if seen <= 0.0 {
                continue;
            }
            for l in 1..row.len() {
                let v = (row[l] / seen).max(1e-6);
                change = change.max((v - m[c][l]).abs());
                m[c][l] = v;
            }
        }
        if change < 1e-7 {
            break;
        }
    }
    iterations
}

fn counted(patterns: &HashMap<u64, u64>) -> Vec<(u64, f64)> {
    patterns.iter().map(|(&p, &n)| (p, n as f64)).collect()
}

/// Fits m and the prior without labels, u fixed.
///
/// With `rules` (Splink's method), m of each comparison comes from EM over the pairs of
/// each blocking rule that does not condition on it, averaged with the matches each rule
/// found as weights: a rule whose pairs all agree on one column (a date of birth, say)
/// cannot make that agreement look like a match. Then the prior, and m of any comparison no
/// rule could estimate, come from EM over all the candidates (`all`) with the other m fixed.
/// Without `rules`, one EM over all the candidates fits everything.
pub fn fit(
    columns: &[String],
    specs: &[CompareSpec],
    u: Vec<Vec<f64>>,
    rules: &[RuleCounts],
    all: &HashMap<u64, u64>,
    prior: f64,
    max_iterations: usize,
) -> Model {
    let n = specs.len();
    let start: Vec<Vec<f64>> = specs.iter().map(initial_m).collect();
    let mut sum: Vec<Vec<f64>> = specs.iter().map(|s| vec![0.0; s.level_count()]).collect();
    let mut weight = vec![0.0; n];
    let mut fits = Vec::new();
    for rule in rules {
        let pairs: u64 = rule.patterns.values().sum();
        let free: Vec<bool> = rule.excluded.iter().map(|e| !e).collect();
        if pairs < MIN_RULE_PAIRS || !free.iter().any(|f| *f) {
            continue;
        }
        let (mut m, mut lambda) = (start.clone(), prior);
        let iterations = em(
            specs,
            &u,
            &counted(&rule.patterns),
            &free,
            &free,
            &mut m,
            &mut lambda,
            max_iterations,
        );
        let matches = lambda * pairs as f64;
        for c in (0..n).filter(|&c| free[c]) {
            weight[c] += matches;
            for (s, v) in sum[c].iter_mut().zip(&m[c]) {
                *s += matches * v;
            }
        }
        fits.push(RuleFit {
            rule: rule.rule.clone(),
            pairs,
            lambda,
            columns: (0..n)
                .filter(|&c| free[c])
                .map(|c| columns[c].clone())
                .collect(),
            iterations,
        });
    }
    let mut m = start;
    let mut free = vec![true; n];
    for c in 0..n {
        if weight[c] > 0.0 {
            for l in 1..m[c].len() {
                m[c][l] = (sum[c][l] / weight[c]).max(1e-6);
            }
            free[c] = false;
        }
    }
    let mut lambda = prior;
    let iterations = em(
        specs,
        &u,
        &counted(all),
        &vec![true; n],
        &free,
        &mut m,
        &mut lambda,
        max_iterations,
    );
    Model {
        columns: columns.to_vec(),
        specs: specs.to_vec(),
        m,
        u,
        lambda,
        iterations,
        rules: fits,
    }
}

/// One comparison's part in a pair's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The level reached.
    pub level: u8,
    /// Its m and u.
    pub m: f64,
    /// See `m`.
    pub u: f64,
    /// log2(m/u), term-frequency adjusted; 0 when missing.
    pub weight: f64,
}

impl Model {
    /// log2 of the prior odds of a match.
    pub fn prior_weight(&self) -> f64 {
        (self.lambda / (1.0 - self.lambda)).log2()
    }

    /// The part of comparison `c` at `level`; `tf`: the value's term frequency when the
    /// comparison is term-frequency adjusted and the level is exact.
    pub fn part(&self, c: usize, level: u8, tf: Option<f64>) -> Part {
        let l = level as usize;
        if l == 0 {
            return Part {
                level,
                m: 1.0,
                u: 1.0,
                weight: 0.0,
            };
        }
        let (m, mut u) = (self.m[c][l], self.u[c][l]);
        if l == 1
            && let Some(tf) = tf
        {
            // The chance that two different records share this very value.
            u = tf.max(1e-9);
        }
        Part {
            level,
            m,
            u,
            weight: (m / u).log2(),
        }
    }

    /// The parts and the total weight of the pair `(a, b)` with levels `pattern`.
    pub fn score(
        &self,
        comparer: &Comparer<'_>,
        pattern: u64,
        a: usize,
        parts: &mut Vec<Part>,
    ) -> f64 {
        parts.clear();
        let mut w = self.prior_weight();
        for c in 0..self.specs.len() {
            let l = level(pattern, c);
            let tf = if l == 1 { comparer.tf(c, a) } else { None };
            let part = self.part(c, l, tf);
            w += part.weight;
            parts.push(part);
        }
        w
    }
}

/// Match probability of a weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Method;

    /// A pattern of four exact comparisons: `true` agrees (level 1), `false` does not (2).
    fn pattern(agree: [bool; 4]) -> u64 {
        agree
            .iter()
            .enumerate()
            .map(|(c, a)| u64::from(if *a { 1u8 } else { 2 }) << (BITS * c as u32))
            .sum()
    }

    #[test]
    fn a_rule_whose_pairs_all_agree_on_one_column_does_not_make_them_matches() {
        // Columns: dob, name, city, phone. 1,000 matches agree on everything. Blocking on
        // dob also brings 1,000,000 non-matches that agree on dob only; blocking on name
        // brings the matches and 200 non-matches that agree on name only.
        let spec = CompareSpec {
            method: Method::Exact,
            levels: vec![],
            tf: false,
            format: None,
        };
        let specs = vec![spec; 4];
        let columns: Vec<String> = ["dob", "name", "city", "phone"].map(String::from).to_vec();
        let u: Vec<Vec<f64>> = (0..4).map(|_| vec![1.0, 1e-4, 1.0 - 1e-4]).collect();
        let all_agree = pattern([true; 4]);
        let dob_only = pattern([true, false, false, false]);
        let name_only = pattern([false, true, false, false]);
        let dob_rule = HashMap::from([(all_agree, 1_000), (dob_only, 1_000_000)]);
        let name_rule = HashMap::from([(all_agree, 1_000), (name_only, 200)]);
        let all = HashMap::from([(all_agree, 1_000), (dob_only, 1_000_000), (name_only, 200)]);
        let rules = vec![
            RuleCounts {
                rule: "on [dob]".into(),
                patterns: dob_rule,
                excluded: vec![true, false, false, false],
            },
            RuleCounts {
                rule: "on [name]".into(),
                patterns: name_rule,
                excluded: vec![false, true, false, false],
            },
        ];
        let model = fit(&columns, &specs, u.clone(), &rules, &all, 0.01, 100);
        let matches = model.lambda * 1_001_200.0;
        assert!((matches - 1_000.0).abs() < 5.0, "{matches} matches");
        for (c, name) in columns.iter().enumerate() {
            assert!(model.m[c][1] > 0.99, "m of {name}: {:?}", model.m[c]);
        }
        assert_eq!(model.rules.len(), 2);
        assert_eq!(model.rules[0].columns, ["name", "city", "phone"]);
        assert_eq!(model.rules[1].columns, ["dob", "city", "phone"]);
        let weight = |p: u64| {
            (0..4)
                .map(|c| model.part(c, level(p, c), None).weight)
                .sum::<f64>()
                + model.prior_weight()
        };
        assert!(probability(weight(dob_only)) < 0.01);
        assert!(probability(weight(all_agree)) > 0.99);

        // One EM over all the candidates is what the rules protect from: it takes the
        // 1,000,000 pairs agreeing on dob for the matches.
        let global = fit(&columns, &specs, u, &[], &all, 0.01, 100);
        assert!(global.lambda * 1_001_200.0 > 500_000.0, "{}", global.lambda);
        assert!(global.rules.is_empty());
    }
}
