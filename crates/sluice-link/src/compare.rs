//! Comparisons: how two values of one column agree, as a level from best to worst.
//!
//! Level 0 is always "missing" (either value null or empty: it says nothing, weight 0),
//! level 1 "exact", then one level per threshold, then "else".

use serde::{Deserialize, Serialize};

/// How one column is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Equal or not.
    Exact,
    /// Jaro-Winkler similarity at least each level.
    JaroWinkler,
    /// Levenshtein edit distance at most each level.
    Levenshtein,
    /// Damerau-Levenshtein (transpositions count one) at most each level.
    Damerau,
    /// Absolute difference of two numbers at most each level.
    Numeric,
    /// Days between two dates (`format`, default `%Y%m%d` or ISO) at most each level.
    Date,
}

/// One column's comparison, as written under `compare:`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// How values are compared.
    pub method: Method,
    /// Thresholds, best first: similarities (descending) for `jaro_winkler`, distances
    /// (ascending) for the others.
    #[serde(default)]
    pub levels: Vec<f64>,
    /// Term-frequency adjustment: an exact match on a rare value counts more than on a
    /// common one.
    #[serde(default)]
    pub tf: bool,
    /// Date format (chrono `strftime`) for `date`.
    #[serde(default)]
    pub format: Option<String>,
}

impl CompareSpec {
    /// Checks the thresholds, for column `column`.
    pub fn check(&self, column: &str) -> Result<(), String> {
        if self.method == Method::Exact && !self.levels.is_empty() {
            return Err(format!(
                "compare `{column}`: `exact` takes no `levels` (it has exact, else and missing)"
            ));
        }
        if self.levels.len() > 12 {
            return Err(format!("compare `{column}`: at most 12 levels"));
        }
        let descending = self.method == Method::JaroWinkler;
        for w in self.levels.windows(2) {
            let ordered = if descending { w[0] > w[1] } else { w[0] < w[1] };
            if !ordered {
                return Err(format!(
                    "compare `{column}`: levels must be {} (best first), got {:?}",
                    if descending {
                        "decreasing similarities"
                    } else {
                        "increasing distances"
                    },
                    self.levels
                ));
            }
        }
        if descending && self.levels.iter().any(|l| !(0.0..=1.0).contains(l)) {
            return Err(format!(
                "compare `{column}`: Jaro-Winkler levels are similarities between 0 and 1"
            ));
        }
        if !descending && self.levels.iter().any(|l| *l < 0.0) {
            return Err(format!("compare `{column}`: distances cannot be negative"));
        }
        if self.format.is_some() && self.method != Method::Date {
            return Err(format!(
                "compare `{column}`: `format` is for `method: date` only"
            ));
        }
        Ok(())
    }

    /// Number of levels, missing included.
    pub fn level_count(&self) -> usize {
        self.levels.len() + 3
    }

    /// What level `level` means, for the pairs dataset and `sluice link explain`.
    pub fn label(&self, level: u8) -> String {
        let level = level as usize;
        let last = self.level_count() - 1;
        match level {
            0 => "missing".into(),
            1 => "exact".into(),
            l if l == last => "else".into(),
            l => {
                let t = self.levels[l - 2];
                match self.method {
                    Method::JaroWinkler => format!("jaro_winkler >= {t}"),
                    Method::Levenshtein => format!("levenshtein <= {t}"),
                    Method::Damerau => format!("damerau <= {t}"),
                    Method::Numeric => format!("difference <= {t}"),
                    Method::Date => format!("days apart <= {t}"),
                    Method::Exact => "exact".into(),
                }
            }
        }
    }

    /// The level of two values (`None` or empty: missing).
    pub fn level(&self, a: Option<&str>, b: Option<&str>) -> u8 {
        let (Some(a), Some(b)) = (a.filter(|s| !s.is_empty()), b.filter(|s| !s.is_empty())) else {
            return 0;
        };
        if a == b {
            return 1;
        }
        let else_level = (self.levels.len() + 2) as u8;
        let distance = match self.method {
            Method::Exact => return else_level,
            Method::JaroWinkler => {
                // Most pairs are far apart: an upper bound below the lowest level settles them
                // without the full comparison.
                let lowest = self.levels.last().copied().unwrap_or(1.0);
                if jaro_winkler_bound(a, b).is_some_and(|ub| ub < lowest - 1e-9) {
                    return else_level;
                }
                let s = strsim::jaro_winkler(a, b);
                return self
                    .levels
                    .iter()
                    .position(|t| s >= *t)
                    .map_or(else_level, |i| (i + 2) as u8);
            }
            Method::Levenshtein | Method::Damerau => {
                let highest = self.levels.last().copied().unwrap_or(0.0);
                if bag_distance(a, b).is_some_and(|lb| lb as f64 > highest) {
                    return else_level;
                }
                if self.method == Method::Levenshtein {
                    strsim::levenshtein(a, b) as f64
                } else {
                    strsim::damerau_levenshtein(a, b) as f64
                }
            }
            Method::Numeric => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs(),
                _ => return 0,
            },
            Method::Date => match (self.day(a), self.day(b)) {
                (Some(x), Some(y)) => (x - y).abs() as f64,
                _ => return 0,
            },
        };
        self.levels
            .iter()
            .position(|t| distance <= *t)
            .map_or(else_level, |i| (i + 2) as u8)
    }

    fn day(&self, s: &str) -> Option<i64> {
        use chrono::NaiveDate;
        let s = s.trim();
        let date = match &self.format {
            Some(f) => NaiveDate::parse_from_str(s, f).ok(),
            None => NaiveDate::parse_from_str(s, "%Y%m%d")
                .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
                .ok(),
        }?;
        Some(i64::from(date.num_days_from_ce()))
    }
}

use chrono::Datelike as _;

/// A lower bound of the edit distance of two ASCII strings, with or without transpositions:
/// the characters of one that the other lacks, counted with repeats (`None`: not ASCII).
fn bag_distance(a: &str, b: &str) -> Option<usize> {
    if !(a.is_ascii() && b.is_ascii()) {
        return None;
    }
    let mut counts = [0i32; 128];
    for &c in a.as_bytes() {
        counts[c as usize] += 1;
    }
    for &c in b.as_bytes() {
        counts[c as usize] -= 1;
    }
    let (mut more, mut fewer) = (0i32, 0i32);
    for n in counts {
        if n > 0 {
            more += n;
        } else {
            fewer -= n;
        }
    }
    Some(more.max(fewer) as usize)
}

/// An upper bound of the Jaro-Winkler similarity of two non-empty ASCII strings: Jaro with
/// every shared character matched and none transposed, plus the common prefix's boost
/// (`None`: not ASCII, or empty).
fn jaro_winkler_bound(a: &str, b: &str) -> Option<f64> {
    if !(a.is_ascii() && b.is_ascii()) || a.is_empty() || b.is_empty() {
        return None;
    }
    let mut counts = [0u32; 128];
    for &c in a.as_bytes() {
        counts[c as usize] += 1;
    }
    let mut shared = 0u32;
    for &c in b.as_bytes() {
        if counts[c as usize] > 0 {
            counts[c as usize] -= 1;
            shared += 1;
        }
    }
    if shared == 0 {
        return Some(0.0);
    }
    let m = f64::from(shared);
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + 1.0) / 3.0;
    let prefix = a
        .bytes()
        .zip(b.bytes())
        .take(4)
        .take_while(|(x, y)| x == y)
        .count() as f64;
    Some(jaro + 0.1 * prefix * (1.0 - jaro))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: Method, levels: &[f64]) -> CompareSpec {
        CompareSpec {
            method,
            levels: levels.to_vec(),
            tf: false,
            format: None,
        }
    }

    #[test]
    fn levels_go_from_exact_to_else_with_missing_apart() {
        let jw = spec(Method::JaroWinkler, &[0.94, 0.85]);
        assert_eq!(jw.level(Some("neumann"), Some("neumann")), 1);
        assert_eq!(jw.level(Some("neumann"), Some("neuman")), 2);
        assert_eq!(jw.level(Some("martha"), Some("marhta")), 2); // 0.961
        assert_eq!(jw.level(Some("dunningham"), Some("cunnigham")), 3); // 0.896
        assert_eq!(jw.level(Some("dixon"), Some("dicksonx")), 4); // 0.813
        assert_eq!(jw.level(Some("smith"), Some("jones")), 4);
        assert_eq!(jw.level(None, Some("jones")), 0);
        assert_eq!(jw.level(Some(""), Some("jones")), 0);
        assert_eq!(jw.label(2), "jaro_winkler >= 0.94");
        assert_eq!(jw.label(4), "else");

        let d = spec(Method::Damerau, &[1.0, 2.0]);
        assert_eq!(d.level(Some("19151111"), Some("19151111")), 1);
        assert_eq!(d.level(Some("19151111"), Some("19511111")), 2); // transposition
        assert_eq!(d.level(Some("5304218"), Some("5340281")), 3);
        assert_eq!(d.level(Some("5304218"), Some("1111111")), 4);
        let l = spec(Method::Levenshtein, &[1.0]);
        assert_eq!(l.level(Some("19151111"), Some("19511111")), 3); // two edits: else

        let n = spec(Method::Numeric, &[1.0, 10.0]);
        assert_eq!(n.level(Some("4223"), Some("4224")), 2);
        assert_eq!(n.level(Some("4223"), Some("4230")), 3);
        assert_eq!(n.level(Some("4223"), Some("x")), 0);
        let date = spec(Method::Date, &[1.0, 31.0]);
        assert_eq!(date.level(Some("19151111"), Some("1915-11-12")), 2);
        assert_eq!(date.level(Some("19151111"), Some("19151211")), 3);
        assert_eq!(date.level(Some("19151111"), Some("19161111")), 4);
        assert_eq!(date.level(Some("19151111"), Some("19151341")), 0);
        let e = spec(Method::Exact, &[]);
        assert_eq!(
            (e.level(Some("a"), Some("a")), e.level(Some("a"), Some("b"))),
            (1, 2)
        );
    }

    #[test]
    fn the_shortcuts_bound_the_full_comparisons() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let word = |rng: &mut rand::rngs::StdRng| -> String {
            let n = rng.gen_range(1..10);
            (0..n)
                .map(|_| b"abcde 19"[rng.gen_range(0..8)] as char)
                .collect()
        };
        let (mut settled_jw, mut settled_edit) = (0, 0);
        for _ in 0..20_000 {
            let (a, b) = (word(&mut rng), word(&mut rng));
            let lb = bag_distance(&a, &b).expect("ascii");
            assert!(lb <= strsim::damerau_levenshtein(&a, &b), "{a:?} {b:?}");
            assert!(lb <= strsim::levenshtein(&a, &b), "{a:?} {b:?}");
            let ub = jaro_winkler_bound(&a, &b).expect("ascii");
            assert!(ub + 1e-12 >= strsim::jaro_winkler(&a, &b), "{a:?} {b:?}");
            settled_jw += usize::from(ub < 0.85);
            settled_edit += usize::from(lb > 2);
        }
        // The bounds settle pairs, or they would not be worth it.
        assert!(
            settled_jw > 5_000 && settled_edit > 1_000,
            "{settled_jw} {settled_edit}"
        );
        assert_eq!(bag_distance("19151111", "19511111"), Some(0));
        assert_eq!(bag_distance("abc", "abcdef"), Some(3));
        assert_eq!(bag_distance("é", "e"), None);
        assert_eq!(
            jaro_winkler_bound("smith", "jones"),
            Some((0.2 + 0.2 + 1.0) / 3.0)
        );
        assert_eq!(jaro_winkler_bound("", "jones"), None);
    }

    #[test]
    fn bad_levels_are_refused_with_the_column() {
        assert_eq!(
            spec(Method::JaroWinkler, &[0.8, 0.9]).check("surname"),
            Err("compare `surname`: levels must be decreasing similarities (best first), got [0.8, 0.9]".into())
        );
        assert_eq!(
            spec(Method::Exact, &[1.0]).check("state"),
            Err(
                "compare `state`: `exact` takes no `levels` (it has exact, else and missing)"
                    .into()
            )
        );
        assert!(spec(Method::Damerau, &[1.0, 2.0]).check("dob").is_ok());
    }
}
