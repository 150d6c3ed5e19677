//! Data tests: generic tests from properties (`not_null`, `unique`, `accepted_values`,
//! `relationships`) and singular tests (`tests/*.sql`), each a `test` task whose query returns
//! the failing rows, named as dbt names them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::jinja::Renderer;
use crate::project::{Config, Origin};
use crate::properties::{Properties, START, TestSpec};
use crate::{Item, Problems, quote};

/// One test task.
pub(crate) struct TestTask {
    /// Task name (dbt's test name).
    pub name: String,
    /// The query of failing rows.
    pub sql: String,
    /// `severity: warn`.
    pub warn: bool,
    /// Where it is declared.
    pub file: PathBuf,
    /// What it checks, in words.
    pub description: Option<String>,
    /// The nodes it reads.
    refs: Vec<String>,
}

/// Every test of the project.
pub(crate) struct Tests {
    /// The tasks.
    pub tasks: Vec<TestTask>,
}

/// A task name from dbt's test name: lower case, `[a-z0-9_]`.
fn task_name(raw: &str) -> String {
    let mut s: String = raw
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.insert_str(0, "test_");
    }
    s
}

/// dbt's name of a generic test: `TYPE_MODEL_` then its arguments by name (the column first
/// as `column_name`), each value with runs of other characters than `[0-9a-zA-Z_]` made `_`,
/// joined by `__`.
fn dbt_test_name(
    kind: &str,
    label: &str,
    column: Option<&str>,
    args: &BTreeMap<String, serde_json::Value>,
) -> String {
    let mut all: BTreeMap<&str, serde_json::Value> =
        args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    if let Some(c) = column {
        all.insert("column_name", serde_json::Value::String(c.to_string()));
    }
    let python = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "True".into(),
        serde_json::Value::Bool(false) => "False".into(),
        serde_json::Value::Null => "None".into(),
        other => other.to_string(),
    };
    let mut parts = Vec::new();
    for v in all.values() {
        match v {
            serde_json::Value::Array(items) => parts.extend(items.iter().map(python)),
            serde_json::Value::Object(m) => parts.extend(m.values().map(python)),
            other => parts.push(python(other)),
        }
    }
    let clean: Vec<String> = parts
        .iter()
        .map(|p| {
            let mut out = String::new();
            for c in p.chars() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    out.push(c);
                } else if !out.ends_with('\u{0}') {
                    out.push('\u{0}');
                }
            }
            out.replace('\u{0}', "_")
        })
        .collect();
    format!("{kind}_{label}_{}", clean.join("__"))
}

/// A value of `accepted_values`: a SQL literal, or with `quote: false` a string as written.
fn literal(v: &serde_json::Value, quote_strings: bool) -> String {
    match v {
        serde_json::Value::String(s) if !quote_strings => s.clone(),
        other => sluice_core::checks::literal(other),
    }
}

/// `ref('x')` or `source('a', 'b')` written in a test's `to:`.
fn relation_of(text: &str) -> Option<(String, String)> {
    let t = text.trim();
    let args = |inner: &str| -> Vec<String> {
        inner
            .split(',')
            .map(|a| a.trim().trim_matches(['\'', '"']).to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };
    if let Some(inner) = t.strip_prefix("ref(").and_then(|r| r.strip_suffix(')')) {
        let a = args(inner);
        let name = a.last()?.clone();
        return Some((quote(&name), name));
    }
    if let Some(inner) = t.strip_prefix("source(").and_then(|r| r.strip_suffix(')')) {
        let a = args(inner);
        if a.len() == 2 {
            let task = crate::source_task(&a[0], &a[1]);
            return Some((quote(&task), task));
        }
    }
    None
}

impl Tests {
    /// The tests of `items`' properties and of the project's test folders.
    pub fn collect(
        dir: &Path,
        items: &[Item],
        props: &Properties,
        renderer: &Renderer,
        resolve: &dyn Fn(&str) -> String,
        singular: &[PathBuf],
        problems: &mut Problems,
    ) -> Tests {
        let mut tasks: Vec<TestTask> = Vec::new();
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        let add = |mut t: TestTask, tasks: &mut Vec<TestTask>| {
            let base = t.name.clone();
            let mut n = 2;
            while names.contains(&t.name.as_str()) || tasks.iter().any(|o| o.name == t.name) {
                t.name = format!("{base}_{n}");
                n += 1;
            }
            tasks.push(t);
        };
        for item in items {
            let file = dir.join(&item.rel);
            for spec in &item.props.tests {
                if let Some(t) = generic(
                    &item.name,
                    &quote(&item.name),
                    &item.name,
                    spec,
                    &file,
                    problems,
                ) {
                    add(t, &mut tasks);
                }
            }
        }
        for ((s, t), table) in &props.sources {
            let task = crate::source_task(s, t);
            for spec in &table.tests {
                let label = format!("source_{s}_{t}");
                if let Some(t) = generic(
                    &label,
                    &quote(&task),
                    &task,
                    spec,
                    &table.origin.file,
                    problems,
                ) {
                    add(t, &mut tasks);
                }
            }
        }
        for rel in singular {
            let file = dir.join(rel);
            let Ok(source) = std::fs::read_to_string(&file) else {
                problems.push(Origin::new(&file, START), "cannot read the test");
                continue;
            };
            let name = rel
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match renderer.render(&file, &source, false) {
                Ok((sql, calls)) => {
                    let mut config = Config::default();
                    let at = Origin::new(&file, crate::jinja::call_position_any(&source, "config"));
                    for (k, v) in calls.config {
                        config.set(&k, v, at.clone());
                    }
                    add(
                        TestTask {
                            name: task_name(&name),
                            sql: resolve(&sql),
                            warn: severity_warn(&config),
                            file,
                            description: Some(format!("singular test {}", rel.display())),
                            refs: calls.refs,
                        },
                        &mut tasks,
                    );
                }
                Err(e) => problems.push(e.origin, format!("test `{name}`: {}", e.message)),
            }
        }
        Tests { tasks }
    }

    /// Tests that must pass before a node reading `refs` runs (as `dbt build` orders them):
    /// those of one node only, that node among `refs`.
    pub fn blocking(&self, refs: &[String]) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|t| t.refs.len() == 1 && refs.contains(&t.refs[0]))
            .map(|t| t.name.clone())
            .collect()
    }
}

fn severity_warn(config: &Config) -> bool {
    config
        .text("severity")
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case("warn"))
}

/// A generic test of `relation` (the model's quoted name), labelled `label` in its name.
fn generic(
    label: &str,
    relation: &str,
    node: &str,
    spec: &TestSpec,
    file: &Path,
    problems: &mut Problems,
) -> Option<TestTask> {
    let col = spec.column.as_deref();
    let need_col = |problems: &mut Problems| -> Option<String> {
        match col {
            Some(c) => Some(quote(c)),
            None => {
                problems.push(
                    spec.origin.clone(),
                    format!(
                        "test `{}` of `{label}` needs a column: put it under the column",
                        spec.kind
                    ),
                );
                None
            }
        }
    };
    let model = match spec.config.text("where") {
        Some((w, _)) => format!("(select * from {relation} where {w}) dbt_subquery"),
        None => relation.to_string(),
    };
    let mut refs = vec![node.to_string()];
    let (sql, description) = match spec.kind.as_str() {
        "not_null" => {
            let c = need_col(problems)?;
            (
                format!("select {c}\nfrom {model}\nwhere {c} is null"),
                format!("{} of {node} is never null", col.unwrap_or_default()),
            )
        }
        "unique" => {
            let c = need_col(problems)?;
            (
                format!(
                    "select {c} as unique_field, count(*) as n_records\nfrom {model}\nwhere {c} is not null\ngroup by {c}\nhaving count(*) > 1"
                ),
                format!("{} of {node} is unique", col.unwrap_or_default()),
            )
        }
        "accepted_values" => {
            let c = need_col(problems)?;
            let Some(values) = spec.args.get("values").and_then(|v| v.as_array()) else {
                problems.push(spec.origin.clone(), "accepted_values needs `values: [...]`");
                return None;
            };
            let quote_strings = spec.args.get("quote").and_then(|q| q.as_bool()) != Some(false);
            let list: Vec<String> = values.iter().map(|v| literal(v, quote_strings)).collect();
            let plain: Vec<String> = values.iter().map(|v| literal(v, false)).collect();
            (
                format!(
                    "select {c} as value_field, count(*) as n_records\nfrom {model}\ngroup by {c}\nhaving {c} not in ({})",
                    list.join(", ")
                ),
                format!(
                    "{} of {node} is one of {}",
                    col.unwrap_or_default(),
                    plain.join(", ")
                ),
            )
        }
        "relationships" => {
            let c = need_col(problems)?;
            let to = spec
                .args
                .get("to")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let field = spec.args.get("field").and_then(|v| v.as_str());
            let (Some((parent, parent_node)), Some(field)) = (relation_of(to), field) else {
                problems.push(
                    spec.origin.clone(),
                    "relationships needs `to: ref('model')` (or `source('a', 'b')`) and `field:`",
                );
                return None;
            };
            refs.push(parent_node.clone());
            let f = quote(field);
            (
                format!(
                    "with child as (\n  select {c} as from_field\n  from {model}\n  where {c} is not null\n),\nparent as (\n  select {f} as to_field\n  from {parent}\n)\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null"
                ),
                format!(
                    "each {} of {node} is a {field} of {parent_node}",
                    col.unwrap_or_default()
                ),
            )
        }
        other => {
            let message = if other.contains('.') {
                format!(
                    "test `{other}` comes from a package, which sluice does not support: write it as a singular test in tests/"
                )
            } else {
                format!(
                    "unknown test `{other}` (sluice runs not_null, unique, accepted_values, relationships and singular tests)"
                )
            };
            problems.push_hint(
                spec.origin.clone(),
                message,
                sluice_core::diag::did_you_mean(
                    other,
                    ["not_null", "unique", "accepted_values", "relationships"],
                ),
            );
            return None;
        }
    };
    if spec.config.get("store_failures").is_some() {
        problems.push(spec.origin.clone(), "`store_failures` is not supported by sluice: failing rows are shown in the task's error");
    }
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| dbt_test_name(&spec.kind, label, col, &spec.args));
    Some(TestTask {
        name: task_name(&name),
        sql,
        warn: severity_warn(&spec.config),
        file: file.to_path_buf(),
        description: Some(description),
        refs,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn names_are_dbt_s() {
        let args = |pairs: &[(&str, serde_json::Value)]| -> BTreeMap<String, serde_json::Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        assert_eq!(
            dbt_test_name("unique", "orders", Some("order_id"), &args(&[])),
            "unique_orders_order_id"
        );
        assert_eq!(
            dbt_test_name(
                "relationships",
                "orders",
                Some("customer_id"),
                &args(&[
                    ("to", "ref('customers')".into()),
                    ("field", "customer_id".into())
                ])
            ),
            "relationships_orders_customer_id__customer_id__ref_customers_"
        );
        assert_eq!(
            dbt_test_name(
                "accepted_values",
                "stg_orders",
                Some("status"),
                &args(&[("values", serde_json::json!(["placed", "return pending"]))])
            ),
            "accepted_values_stg_orders_status__placed__return_pending"
        );
        assert_eq!(task_name("1-Test"), "test_1_test");
    }
}
