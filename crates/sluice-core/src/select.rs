//! Selecting tasks as dbt's `--select` does: `name`, `+name` (and what it reads), `name+`
//! (and what reads it), `2+name` / `name+1` (that many steps), `@name` (what reads it and
//! all they read), `tag:t`, `path:models/staging` (tasks from files under a folder), `*`;
//! several selectors are a union, `a,b` an intersection. Tests (`op: test`) whose inputs are
//! all selected come with them.

use std::collections::BTreeSet;

use crate::Pipeline;

/// The tasks `include` selects (all when empty) minus those `exclude` selects, in pipeline
/// order; an error names a selector that matches nothing.
pub fn select(p: &Pipeline, include: &[String], exclude: &[String]) -> Result<Vec<String>, String> {
    let mut chosen: BTreeSet<usize> = if include.is_empty() {
        (0..p.tasks.len()).collect()
    } else {
        let mut all = BTreeSet::new();
        for s in include.iter().flat_map(|s| s.split_whitespace()) {
            all.extend(intersection(p, s)?);
        }
        all
    };
    let mut excluded = BTreeSet::new();
    for s in exclude.iter().flat_map(|s| s.split_whitespace()) {
        excluded.extend(intersection(p, s)?);
    }
    chosen.retain(|i| !excluded.contains(i));
    // Tests run when their inputs are all chosen (dbt's `cautious` indirect selection: a
    // test of two models, one left out, would run the other), and only then.
    let is_test = |i: usize| p.tasks[i].op() == Some("test");
    let models: BTreeSet<usize> = chosen.iter().copied().filter(|&i| !is_test(i)).collect();
    let tests = (0..p.tasks.len()).filter(|&i| {
        is_test(i)
            && !excluded.contains(&i)
            && !p.tasks[i].deps.is_empty()
            && p.tasks[i].deps.iter().all(|d| models.contains(d))
    });
    chosen = models.iter().copied().chain(tests).collect();
    Ok(chosen
        .into_iter()
        .map(|i| p.tasks[i].name.clone())
        .collect())
}

fn intersection(p: &Pipeline, selector: &str) -> Result<BTreeSet<usize>, String> {
    let mut out: Option<BTreeSet<usize>> = None;
    for part in selector.split(',') {
        let found = one(p, part)?;
        out = Some(match out {
            None => found,
            Some(prev) => prev.intersection(&found).copied().collect(),
        });
    }
    Ok(out.unwrap_or_default())
}

/// Steps written around a selector: `2+x+` → (Some(2), "x", Some(None)).
fn graph_ops(s: &str) -> (Option<Option<usize>>, bool, &str, Option<Option<usize>>) {
    let mut rest = s;
    let mut at = false;
    if let Some(r) = rest.strip_prefix('@') {
        at = true;
        rest = r;
    }
    let mut up = None;
    if let Some(i) = rest.find('+') {
        let (n, r) = rest.split_at(i);
        if n.is_empty() || n.chars().all(|c| c.is_ascii_digit()) {
            up = Some(n.parse().ok());
            rest = &r[1..];
        }
    }
    let mut down = None;
    if let Some(i) = rest.rfind('+') {
        let (r, n) = (&rest[..i], &rest[i + 1..]);
        if n.is_empty() || n.chars().all(|c| c.is_ascii_digit()) {
            down = Some(n.parse().ok());
            rest = r;
        }
    }
    (up, at, rest, down)
}

fn one(p: &Pipeline, selector: &str) -> Result<BTreeSet<usize>, String> {
    let (up, at, base, down) = graph_ops(selector);
    let seeds: BTreeSet<usize> = if base == "*" {
        (0..p.tasks.len()).collect()
    } else if let Some(tag) = base.strip_prefix("tag:") {
        (0..p.tasks.len())
            .filter(|&i| p.tasks[i].docs.tags.iter().any(|t| t == tag))
            .collect()
    } else if let Some(path) = base.strip_prefix("path:") {
        let path = std::path::Path::new(path.trim_end_matches('/'));
        (0..p.tasks.len())
            .filter(|&i| {
                p.tasks[i]
                    .source
                    .as_deref()
                    .is_some_and(|s| s.starts_with(path))
            })
            .collect()
    } else {
        let name = base.strip_prefix("task:").unwrap_or(base);
        let name = name.rsplit('.').next().unwrap_or(name);
        p.task_index(name).into_iter().collect()
    };
    if seeds.is_empty() {
        let hint = crate::diag::did_you_mean(base, p.tasks.iter().map(|t| t.name.as_str()))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        return Err(format!("`{selector}` selects no task of {}{hint}", p.name));
    }
    let mut out = seeds.clone();
    if let Some(limit) = up {
        out.extend(walk(p, &seeds, limit, false));
    }
    if let Some(limit) = down {
        out.extend(walk(p, &seeds, limit, true));
    }
    if at {
        let below = walk(p, &seeds, None, true);
        out.extend(below.iter().copied());
        let mut all = seeds.clone();
        all.extend(below);
        out.extend(walk(p, &all, None, false));
    }
    Ok(out)
}

/// Tasks `limit` steps (all when `None`) from `from`: downstream or upstream.
fn walk(p: &Pipeline, from: &BTreeSet<usize>, limit: Option<usize>, down: bool) -> BTreeSet<usize> {
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let mut frontier: Vec<usize> = from.iter().copied().collect();
    let mut depth = 0;
    while !frontier.is_empty() && limit.is_none_or(|l| depth < l) {
        let mut next = Vec::new();
        for &i in &frontier {
            let neighbours: Vec<usize> = if down {
                (0..p.tasks.len())
                    .filter(|&j| p.tasks[j].deps.contains(&i))
                    .collect()
            } else {
                p.tasks[i].deps.clone()
            };
            for j in neighbours {
                if seen.insert(j) {
                    next.push(j);
                }
            }
        }
        frontier = next;
        depth += 1;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeError, LoadOptions, Node, OpCatalog, OpInfo, parse_pipeline};

    struct Ops;
    impl OpCatalog for Ops {
        fn op_names(&self) -> Vec<&'static str> {
            vec!["test"]
        }
        fn check(&self, _: &str, _: &Node) -> Option<Result<OpInfo, DeError>> {
            Some(Ok(OpInfo::default()))
        }
    }

    fn names(v: Result<Vec<String>, String>) -> String {
        v.expect("selects").join(" ")
    }

    #[test]
    fn selects_like_dbt() {
        let yaml = "name: p\ntasks:\n  a: { run: 'true', tags: [raw] }\n  b: { run: 'true', after: [a] }\n  c: { run: 'true', after: [b], tags: [mart] }\n  d: { run: 'true', after: [a] }\n  t: { op: test, after: [b] }\n";
        let opts = LoadOptions {
            params: &[],
            catalog: &Ops,
            env: &|_| None,
            api_params: false,
        };
        let p = parse_pipeline(yaml, "p.yaml".as_ref(), &opts).expect("valid");
        let s = |inc: &[&str], exc: &[&str]| {
            let inc: Vec<String> = inc.iter().map(|s| s.to_string()).collect();
            let exc: Vec<String> = exc.iter().map(|s| s.to_string()).collect();
            select(&p, &inc, &exc)
        };
        assert_eq!(names(s(&["b"], &[])), "b t");
        assert_eq!(names(s(&["b+"], &[])), "b c t");
        assert_eq!(names(s(&["+b"], &[])), "a b t");
        assert_eq!(names(s(&["a+1"], &[])), "a b d t");
        assert_eq!(names(s(&["tag:mart"], &[])), "c");
        assert_eq!(names(s(&["a+,tag:mart"], &[])), "c");
        assert_eq!(names(s(&["a+"], &["d t"])), "a b c");
        assert_eq!(names(s(&["@b"], &[])), "a b c t");
        let err = s(&["bb"], &[]).expect_err("none");
        assert_eq!(err, "`bb` selects no task of p (did you mean `b`?)");
    }
}
