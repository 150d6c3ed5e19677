//! Blocking: which pairs of records are compared at all. A union of rules; each pair is
//! produced once, by the first rule that finds it, and streamed in chunks.

use serde::Deserialize;
use sluice_data::datafusion::arrow::array::AsArray;
use sluice_data::datafusion::arrow::datatypes::UInt32Type;
use twox_hash::XxHash64;

use super::records::Records;
use sluice_op::OpError;

/// Pairs handed to the consumer at a time.
pub const CHUNK: usize = 1 << 16;

/// A candidate pair: row of the first input, row of the second (or the same), and the
/// position of the rule that found it.
pub type Pair = (u32, u32, u8);

/// One rule as written under `blocking:`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Records whose values of all these columns are equal (none empty).
    #[serde(default)]
    pub on: Vec<String>,
    /// With `on`: compare only the first N characters of each value.
    #[serde(default)]
    pub prefix: Option<usize>,
    /// With `on`: compare a phonetic code of each value (`soundex`).
    #[serde(default)]
    pub phonetic: Option<String>,
    /// Sorted neighbourhood: records sorted by this column, each paired with the next
    /// `window - 1`.
    #[serde(default)]
    pub sorted: Option<String>,
    /// With `sorted`: the window (default 5).
    #[serde(default)]
    pub window: Option<usize>,
    /// A SQL condition on `l` and `r` (DataFusion), e.g.
    /// `l.postcode = r.postcode and substr(l.surname, 1, 2) = substr(r.surname, 1, 2)`.
    #[serde(default)]
    pub sql: Option<String>,
}

impl RuleSpec {
    /// Checks the rule's keys; `n` is its position from 1.
    pub fn check(&self, n: usize) -> Result<(), String> {
        let kinds = usize::from(!self.on.is_empty())
            + usize::from(self.sorted.is_some())
            + usize::from(self.sql.is_some());
        if kinds != 1 {
            return Err(format!(
                "blocking rule {n}: give exactly one of `on: [columns]`, `sorted: column` or `sql: condition`"
            ));
        }
        if self.on.is_empty() && (self.prefix.is_some() || self.phonetic.is_some()) {
            return Err(format!(
                "blocking rule {n}: `prefix` and `phonetic` go with `on`"
            ));
        }
        if self.prefix.is_some() && self.phonetic.is_some() {
            return Err(format!(
                "blocking rule {n}: `prefix` or `phonetic`, not both"
            ));
        }
        if self.prefix == Some(0) {
            return Err(format!("blocking rule {n}: `prefix` must be at least 1"));
        }
        if let Some(p) = &self.phonetic
            && p != "soundex"
        {
            return Err(format!(
                "blocking rule {n}: unknown phonetic code `{p}` (use soundex)"
            ));
        }
        if self.sorted.is_none() && self.window.is_some() {
            return Err(format!("blocking rule {n}: `window` goes with `sorted`"));
        }
        if self.window.is_some_and(|w| w < 2) {
            return Err(format!("blocking rule {n}: `window` must be at least 2"));
        }
        Ok(())
    }

    /// The columns the rule reads (none for SQL: it may read any).
    pub fn columns(&self) -> Vec<String> {
        let mut c = self.on.clone();
        c.extend(self.sorted.clone());
        c
    }

    /// Whether the rule reads `column`: one of its columns, or a word of its SQL.
    pub fn names(&self, column: &str) -> bool {
        if let Some(sql) = &self.sql {
            return sql
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| w == column);
        }
        self.columns().iter().any(|c| c == column)
    }

    /// The rule in a few words, for counters and the pairs dataset.
    pub fn label(&self) -> String {
        if let Some(sql) = &self.sql {
            return format!("sql: {sql}");
        }
        if let Some(col) = &self.sorted {
            return format!("sorted {col} window {}", self.window.unwrap_or(5));
        }
        let cols = self.on.join(", ");
        match (&self.prefix, &self.phonetic) {
            (Some(p), _) => format!("on [{cols}] prefix {p}"),
            (_, Some(code)) => format!("on {code}([{cols}])"),
            _ => format!("on [{cols}]"),
        }
    }
}

/// American Soundex: a letter and three digits (`Robert` → `R163`); empty without letters.
pub fn soundex(s: &str) -> String {
    fn code(c: char) -> u8 {
        match c {
            'b' | 'f' | 'p' | 'v' => b'1',
            'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => b'2',
            'd' | 't' => b'3',
            'l' => b'4',
            'm' | 'n' => b'5',
            'r' => b'6',
            'h' | 'w' => b'h',
            _ => b'0',
        }
    }
    let mut letters = s
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase());
    let Some(first) = letters.next() else {
        return String::new();
    };
    let mut out = vec![first.to_ascii_uppercase() as u8];
    let mut last = code(first);
    for c in letters {
        let d = code(c);
        if d == b'h' {
            continue; // h and w do not separate equal codes
        }
        if d != b'0' && d != last {
            out.push(d);
            if out.len() == 4 {
                break;
            }
        }
        last = d;
    }
    out.resize(4, b'0');
    String::from_utf8(out).unwrap_or_default()
}

/// A rule made ready for the records at hand.
enum Compiled {
    /// Hash of each record's key (0: no key), sorted `(key, row)` of each side.
    Keys {
        left: Vec<u64>,
        right: Vec<u64>,
        left_sorted: Vec<(u64, u32)>,
        right_sorted: Vec<(u64, u32)>,
    },
    /// Position of each record in the sorted order (`u32::MAX`: no value), and the order.
    Sorted {
        left: Vec<u32>,
        right: Vec<u32>,
        order: Vec<(bool, u32)>,
        window: usize,
    },
    Sql(String),
}

/// The blocking rules, ready to produce pairs of `left` × `right` rows (dedup: `right` is
/// `left` and pairs are `(a, b)` with `a < b`).
pub struct Blocking {
    rules: Vec<Compiled>,
    labels: Vec<String>,
    /// Evaluation order: the key and sorted rules, then the SQL ones.
    order: Vec<usize>,
    dedup: bool,
    max_pairs: u64,
}

fn key_of(rule: &RuleSpec, records: &Records) -> Vec<u64> {
    let cols: Vec<_> = rule.on.iter().map(|c| records.column(c)).collect();
    let mut buf = String::new();
    (0..records.len())
        .map(|row| {
            buf.clear();
            for col in &cols {
                let Some(v) = Records::value(col, row) else {
                    return 0;
                };
                let v = match (rule.prefix, &rule.phonetic) {
                    (Some(n), _) => v.chars().take(n).collect::<String>(),
                    (_, Some(_)) => soundex(v),
                    _ => v.to_string(),
                };
                if v.is_empty() {
                    return 0;
                }
                buf.push_str(&v);
                buf.push('\u{1f}');
            }
            XxHash64::oneshot(0, buf.as_bytes()) | 1
        })
        .collect()
}

fn sorted_keys(keys: &[u64]) -> Vec<(u64, u32)> {
    let mut v: Vec<(u64, u32)> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| **k != 0)
        .map(|(i, k)| (*k, i as u32))
        .collect();
    v.sort_unstable();
    v
}

/// A record's blocking key (hashed) and its row.
type Keyed = (u64, u32);

/// Runs of equal keys in a sorted `(key, row)` list.
fn groups(sorted: &[Keyed]) -> impl Iterator<Item = &[Keyed]> {
    sorted.chunk_by(|a, b| a.0 == b.0)
}

/// The runs of equal keys that both sorted lists hold, side by side.
fn joined_groups<'a>(
    left: &'a [Keyed],
    right: &'a [Keyed],
) -> impl Iterator<Item = (&'a [Keyed], &'a [Keyed])> {
    let mut rg = groups(right).peekable();
    groups(left).filter_map(move |g| {
        while rg.peek().is_some_and(|r| r[0].0 < g[0].0) {
            rg.next();
        }
        rg.peek().filter(|r| r[0].0 == g[0].0).map(|r| (g, *r))
    })
}

impl Blocking {
    /// Prepares `rules` for `left` and, when linking, `right`.
    pub fn new(
        rules: &[RuleSpec],
        left: &Records,
        right: Option<&Records>,
        max_pairs: u64,
    ) -> Self {
        let mut compiled = Vec::new();
        for rule in rules {
            compiled.push(if let Some(sql) = &rule.sql {
                Compiled::Sql(sql.clone())
            } else if let Some(col) = &rule.sorted {
                let window = rule.window.unwrap_or(5);
                let mut all: Vec<(&str, bool, u32)> = Vec::new();
                let l = left.column(col);
                all.extend(
                    (0..left.len())
                        .filter_map(|i| Records::value(l, i).map(|v| (v, false, i as u32))),
                );
                if let Some(right) = right {
                    let r = right.column(col);
                    all.extend(
                        (0..right.len())
                            .filter_map(|i| Records::value(r, i).map(|v| (v, true, i as u32))),
                    );
                }
                all.sort_unstable();
                let mut lr = vec![u32::MAX; left.len()];
                let mut rr = vec![u32::MAX; right.map_or(0, Records::len)];
                for (pos, (_, side, row)) in all.iter().enumerate() {
                    if *side {
                        rr[*row as usize] = pos as u32;
                    } else {
                        lr[*row as usize] = pos as u32;
                    }
                }
                Compiled::Sorted {
                    left: lr,
                    right: rr,
                    order: all.into_iter().map(|(_, s, r)| (s, r)).collect(),
                    window,
                }
            } else {
                let l = key_of(rule, left);
                let r = right.map(|r| key_of(rule, r)).unwrap_or_default();
                Compiled::Keys {
                    left_sorted: sorted_keys(&l),
                    right_sorted: sorted_keys(&r),
                    left: l,
                    right: r,
                }
            });
        }
        let mut order: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].sql.is_none())
            .collect();
        order.extend((0..rules.len()).filter(|&i| rules[i].sql.is_some()));
        Blocking {
            rules: compiled,
            labels: rules.iter().map(RuleSpec::label).collect(),
            order,
            dedup: right.is_none(),
            max_pairs,
        }
    }

    /// Labels of the rules, in the order written.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Whether rule `k` finds the pair `(a, b)` (false for SQL rules: not known without
    /// running them).
    pub fn covers(&self, k: usize, a: u32, b: u32) -> bool {
        let (a, b) = (a as usize, b as usize);
        match &self.rules[k] {
            Compiled::Keys { left, right, .. } => {
                let r = if self.dedup { left } else { right };
                left[a] != 0 && left[a] == r[b]
            }
            Compiled::Sorted {
                left,
                right,
                window,
                ..
            } => {
                let r = if self.dedup { left } else { right };
                let (x, y) = (left[a], r[b]);
                x != u32::MAX && y != u32::MAX && x.abs_diff(y) < *window as u32
            }
            Compiled::Sql(_) => false,
        }
    }

    /// Pairs rule `k` makes before removing those of other rules (none for SQL rules).
    fn raw_count(&self, k: usize) -> u64 {
        match &self.rules[k] {
            Compiled::Keys {
                left_sorted,
                right_sorted,
                ..
            } => {
                if self.dedup {
                    groups(left_sorted)
                        .map(|g| (g.len() as u64) * (g.len() as u64 - 1) / 2)
                        .sum()
                } else {
                    joined_groups(left_sorted, right_sorted)
                        .map(|(l, r)| l.len() as u64 * r.len() as u64)
                        .sum()
                }
            }
            Compiled::Sorted { order, window, .. } => (order.len() * (window - 1)) as u64,
            Compiled::Sql(_) => 0,
        }
    }

    /// Streams every candidate pair once, in chunks of `(a, b, rule)`; returns how many pairs
    /// each rule added (in the order written). Stops with an error naming the rule as soon as
    /// the pairs would pass `max_pairs`.
    pub fn for_each_chunk(
        &self,
        left: &Records,
        right: Option<&Records>,
        runtime: &tokio::runtime::Handle,
        f: &mut dyn FnMut(&[Pair]) -> Result<(), OpError>,
    ) -> Result<Vec<u64>, OpError> {
        let mut added = vec![0u64; self.rules.len()];
        let mut total = 0u64;
        let mut chunk: Vec<Pair> = Vec::with_capacity(CHUNK);
        for (pos, &k) in self.order.iter().enumerate() {
            let raw = self.raw_count(k);
            if raw > self.max_pairs {
                return Err(self.too_many(k, raw));
            }
            let earlier = &self.order[..pos];
            let mut push = |a: u32, b: u32, chunk: &mut Vec<Pair>| {
                if earlier
                    .iter()
                    .any(|&j| !matches!(self.rules[j], Compiled::Sql(_)) && self.covers(j, a, b))
                {
                    return Ok(());
                }
                added[k] += 1;
                total += 1;
                if total > self.max_pairs {
                    return Err(self.too_many(k, total));
                }
                chunk.push((a, b, k as u8));
                if chunk.len() == CHUNK {
                    f(chunk)?;
                    chunk.clear();
                }
                Ok(())
            };
            match &self.rules[k] {
                Compiled::Keys {
                    left_sorted,
                    right_sorted,
                    ..
                } => {
                    if self.dedup {
                        for g in groups(left_sorted) {
                            let mut rows: Vec<u32> = g.iter().map(|x| x.1).collect();
                            rows.sort_unstable();
                            for i in 0..rows.len() {
                                for j in i + 1..rows.len() {
                                    push(rows[i], rows[j], &mut chunk)?;
                                }
                            }
                        }
                    } else {
                        for (l, r) in joined_groups(left_sorted, right_sorted) {
                            for &(_, a) in l {
                                for &(_, b) in r {
                                    push(a, b, &mut chunk)?;
                                }
                            }
                        }
                    }
                }
                Compiled::Sorted { order, window, .. } => {
                    for p in 0..order.len() {
                        for q in p + 1..(p + window).min(order.len()) {
                            let ((sp, rp), (sq, rq)) = (order[p], order[q]);
                            if self.dedup {
                                push(rp.min(rq), rp.max(rq), &mut chunk)?;
                            } else if sp != sq {
                                let (a, b) = if sp { (rq, rp) } else { (rp, rq) };
                                push(a, b, &mut chunk)?;
                            }
                        }
                    }
                }
                Compiled::Sql(sql) => {
                    let before: Vec<&str> = earlier
                        .iter()
                        .filter_map(|&j| match &self.rules[j] {
                            Compiled::Sql(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect();
                    let label = &self.labels[k];
                    self.sql_pairs(sql, &before, left, right, runtime, label, &mut |a, b| {
                        push(a, b, &mut chunk)
                    })?;
                }
            }
        }
        if !chunk.is_empty() {
            f(&chunk)?;
        }
        Ok(added)
    }

    /// The labels of the rules that find the pair `(a, b)`.
    pub fn finding(
        &self,
        a: u32,
        b: u32,
        left: &Records,
        right: Option<&Records>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Vec<String>, OpError> {
        let mut out = Vec::new();
        for (k, rule) in self.rules.iter().enumerate() {
            let found = match rule {
                Compiled::Sql(sql) => {
                    let mut any = false;
                    let only = format!("({sql}) and l.__row = {a} and r.__row = {b}");
                    self.sql_pairs(
                        &only,
                        &[],
                        left,
                        right,
                        runtime,
                        &self.labels[k],
                        &mut |_, _| {
                            any = true;
                            Ok(())
                        },
                    )?;
                    any
                }
                _ => self.covers(k, a, b),
            };
            if found {
                out.push(self.labels[k].clone());
            }
        }
        Ok(out)
    }

    fn too_many(&self, k: usize, pairs: u64) -> OpError {
        OpError::config(format!(
            "blocking rule {} (`{}`) would make {pairs} candidate pairs{}, more than max_pairs \
             ({}): make the rule stricter (more columns, a prefix), or raise max_pairs if the \
             memory and time are there",
            k + 1,
            self.labels[k],
            if pairs == self.raw_count(k) {
                ""
            } else {
                " with the rules before it"
            },
            self.max_pairs
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn sql_pairs(
        &self,
        sql: &str,
        before: &[&str],
        left: &Records,
        right: Option<&Records>,
        runtime: &tokio::runtime::Handle,
        label: &str,
        push: &mut dyn FnMut(u32, u32) -> Result<(), OpError>,
    ) -> Result<(), OpError> {
        use futures_util::StreamExt;
        let ctx = sluice_data::session::session();
        let fail =
            |e: &dyn std::fmt::Display| OpError::config(format!("blocking rule `{label}`: {e}"));
        let l = left.batch(&[])?;
        let r = match right {
            Some(r) => r.batch(&[])?,
            None => l.clone(),
        };
        ctx.register_batch("l", l).map_err(|e| fail(&e))?;
        ctx.register_batch("r", r).map_err(|e| fail(&e))?;
        let mut query = format!("select l.__row as a, r.__row as b from l join r on ({sql})");
        if self.dedup {
            query.push_str(" and l.__row < r.__row");
        }
        for b in before {
            query.push_str(&format!(" and not coalesce(({b}), false)"));
        }
        runtime.block_on(async {
            let df = ctx.sql(&query).await.map_err(|e| fail(&e))?;
            let mut stream = df.execute_stream().await.map_err(|e| fail(&e))?;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| fail(&e))?;
                let a = batch.column(0).as_primitive::<UInt32Type>();
                let b = batch.column(1).as_primitive::<UInt32Type>();
                for (a, b) in a.values().iter().zip(b.values().iter()) {
                    push(*a, *b)?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soundex_codes_follow_the_american_rules() {
        for (name, code) in [
            ("Robert", "R163"),
            ("Rupert", "R163"),
            ("Rubin", "R150"),
            ("Ashcraft", "A261"),
            ("Tymczak", "T522"),
            ("Pfister", "P236"),
            ("Honeyman", "H555"),
            ("lee", "L000"),
            ("", ""),
            ("123", ""),
        ] {
            assert_eq!(soundex(name), code, "{name}");
        }
    }

    #[test]
    fn rules_are_checked_one_by_one() {
        let rule = |yaml: &str| -> RuleSpec {
            let node = sluice_core::yaml::parse(yaml).expect("yaml");
            sluice_core::from_node(&node).expect("rule")
        };
        assert_eq!(
            rule("{ on: [a], sorted: b }").check(2),
            Err("blocking rule 2: give exactly one of `on: [columns]`, `sorted: column` or `sql: condition`".into())
        );
        assert_eq!(
            rule("{ on: [a], phonetic: metaphone }").check(1),
            Err("blocking rule 1: unknown phonetic code `metaphone` (use soundex)".into())
        );
        assert_eq!(
            rule("{ sorted: a, window: 1 }").check(3),
            Err("blocking rule 3: `window` must be at least 2".into())
        );
        assert_eq!(
            rule("{ on: [a, b], prefix: 3 }").label(),
            "on [a, b] prefix 3"
        );
        assert_eq!(
            rule("{ on: [a], phonetic: soundex }").label(),
            "on soundex([a])"
        );
    }
}
