//! dbt unit tests (`unit_tests:` in properties): a model's SQL run on rows given for each of
//! its inputs, its output compared with the rows expected. Each becomes a `unit_test` task,
//! which the model waits for, as `dbt build` runs a model's unit tests before it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_core::yaml::Node;

use crate::Problems;
use crate::project::{Origin, Project};
use crate::properties::field;

/// One row, as text: (column, value; `None` for null), in the order written.
pub type TextRow = Vec<(String, Option<String>)>;

/// Rows of a `given` or of `expect`.
#[derive(Debug, Clone)]
pub enum Rows {
    /// Written in the YAML (`format: dict`, or `csv` text).
    Inline(Vec<TextRow>),
    /// `fixture: NAME`: `NAME.csv` under a `fixtures` folder of the test paths.
    Fixture(String),
}

/// One `given:` entry.
#[derive(Debug, Clone)]
pub struct Given {
    /// `ref('x')`, `source('s', 't')` or `this`, as written.
    pub input: String,
    /// Its rows.
    pub rows: Rows,
    /// Where it is written.
    pub origin: Origin,
}

/// A unit test as declared.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    /// `name:`.
    pub name: String,
    /// `model:`.
    pub model: String,
    /// Where `model:` names it.
    pub model_origin: Origin,
    /// `given:`.
    pub given: Vec<Given>,
    /// `expect:`.
    pub expect: Rows,
    /// `overrides: {vars: …}`.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// `overrides: {env_vars: …}`.
    pub env_vars: BTreeMap<String, String>,
    /// `overrides: {macros: {is_incremental: …}}`.
    pub incremental: Option<bool>,
    /// `description:`.
    pub description: Option<String>,
    /// `config: {tags: …}`.
    pub tags: Vec<String>,
    /// `config: {enabled: false}` turns it off.
    pub enabled: bool,
    /// Where it is declared.
    pub origin: Origin,
}

const KEYS: &[&str] = &[
    "name",
    "model",
    "given",
    "expect",
    "overrides",
    "description",
    "config",
];

/// Reads the entries of a `unit_tests:` list.
pub fn parse(file: &Path, list: &Node, problems: &mut Problems) -> Vec<UnitSpec> {
    let mut out = Vec::new();
    for item in list.as_seq().unwrap_or_default() {
        let at = Origin::new(file, item.mark);
        let (Some(name_node), Some(model_node)) = (field(item, "name"), field(item, "model"))
        else {
            problems.push(at, "a unit test needs `name:` and `model:`");
            continue;
        };
        let (Some(name), Some(model)) = (name_node.as_text(), model_node.as_text()) else {
            problems.push(at, "a unit test's `name:` and `model:` are names");
            continue;
        };
        let at = Origin::new(file, name_node.mark);
        let mut spec = UnitSpec {
            name: name.to_string(),
            model: model.to_string(),
            model_origin: Origin::new(file, model_node.mark),
            given: Vec::new(),
            expect: Rows::Inline(Vec::new()),
            vars: BTreeMap::new(),
            env_vars: BTreeMap::new(),
            incremental: None,
            description: None,
            tags: Vec::new(),
            enabled: true,
            origin: at.clone(),
        };
        let mut has_expect = false;
        for (k, v) in item.as_map().unwrap_or_default() {
            let key = k.as_text().unwrap_or_default();
            let kat = Origin::new(file, k.mark);
            match key {
                "name" | "model" => {}
                "description" => spec.description = v.as_text().map(String::from),
                "given" => {
                    for g in v.as_seq().unwrap_or_default() {
                        let Some((input, gat)) = field(g, "input")
                            .and_then(|n| Some((n.as_text()?, Origin::new(file, n.mark))))
                        else {
                            problems
                                .push(Origin::new(file, g.mark), "a `given` entry needs `input:`");
                            continue;
                        };
                        if let Some(rows) = rows(file, g, &spec.name, problems) {
                            spec.given.push(Given {
                                input: input.trim().to_string(),
                                rows,
                                origin: gat,
                            });
                        }
                    }
                }
                "expect" => {
                    has_expect = true;
                    if let Some(rows) = rows(file, v, &spec.name, problems) {
                        spec.expect = rows;
                    }
                }
                "overrides" => overrides(file, v, &mut spec, problems),
                "config" => {
                    let c = v.to_json();
                    spec.tags = c
                        .get("tags")
                        .map(crate::project::tag_list)
                        .unwrap_or_default();
                    spec.enabled = c.get("enabled").and_then(|e| e.as_bool()) != Some(false);
                }
                "versions" => problems.push(
                    kat,
                    format!(
                        "unit test `{}`: model versions are not supported by sluice",
                        spec.name
                    ),
                ),
                _ => problems.push_hint(
                    kat,
                    format!("`{key}` is not a property of a unit test"),
                    sluice_core::diag::did_you_mean(key, KEYS.iter().copied()),
                ),
            }
        }
        if !has_expect {
            problems.push(at, format!("unit test `{}` has no `expect:`", spec.name));
            continue;
        }
        out.push(spec);
    }
    out
}

fn overrides(file: &Path, node: &Node, spec: &mut UnitSpec, problems: &mut Problems) {
    for (k, v) in node.as_map().unwrap_or_default() {
        let key = k.as_text().unwrap_or_default();
        match key {
            "vars" => {
                if let serde_json::Value::Object(m) = v.to_json() {
                    spec.vars.extend(m);
                }
            }
            "env_vars" => {
                if let serde_json::Value::Object(m) = v.to_json() {
                    for (name, value) in m {
                        spec.env_vars
                            .insert(name, text_of(&value).unwrap_or_default());
                    }
                }
            }
            "macros" => {
                for (mk, mv) in v.as_map().unwrap_or_default() {
                    match mk.as_text().unwrap_or_default() {
                        "is_incremental" => spec.incremental = mv.to_json().as_bool(),
                        other => problems.push(
                            Origin::new(file, mk.mark),
                            format!(
                                "unit test `{}`: overriding macro `{other}` is not supported by sluice (only `is_incremental`)",
                                spec.name
                            ),
                        ),
                    }
                }
            }
            _ => problems.push(
                Origin::new(file, k.mark),
                format!("`{key}` is not an override of a unit test (vars, env_vars, macros)"),
            ),
        }
    }
}

/// A JSON scalar as the text a fixture holds.
fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The rows of a `given` entry or of `expect` (`rows:` as a list of maps or CSV text, or
/// `fixture:`).
fn rows(file: &Path, node: &Node, test: &str, problems: &mut Problems) -> Option<Rows> {
    let format_node = field(node, "format");
    let at = Origin::new(file, format_node.map_or(node.mark, |n| n.mark));
    let format = format_node.and_then(Node::as_text).unwrap_or("dict");
    if !matches!(format, "dict" | "csv") {
        problems.push(
            at,
            format!("unit test `{test}`: rows of format `{format}` are not supported by sluice (dict or csv)"),
        );
        return None;
    }
    if let Some(name) = field(node, "fixture").and_then(Node::as_text) {
        return Some(Rows::Fixture(name.to_string()));
    }
    let Some(rows) = field(node, "rows") else {
        return Some(Rows::Inline(Vec::new()));
    };
    if let Some(csv_text) = rows.as_text().filter(|_| format == "csv") {
        return match csv_rows(csv_text.as_bytes()) {
            Ok(r) => Some(Rows::Inline(r)),
            Err(e) => {
                problems.push(at, format!("unit test `{test}`: {e}"));
                None
            }
        };
    }
    let mut out = Vec::new();
    for row in rows.as_seq().unwrap_or_default() {
        let Some(entries) = row.as_map() else {
            problems.push(
                Origin::new(file, row.mark),
                format!("unit test `{test}`: a row must be a map of column → value"),
            );
            return None;
        };
        out.push(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_text().unwrap_or_default().to_string(),
                        text_of(&v.to_json()),
                    )
                })
                .collect(),
        );
    }
    Some(Rows::Inline(out))
}

/// Rows of CSV text with a header line; an empty field is null.
fn csv_rows(bytes: &[u8]) -> Result<Vec<TextRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("CSV rows: {e}"))?
        .iter()
        .map(String::from)
        .collect();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("CSV rows: {e}"))?;
        out.push(
            header
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.clone(), (!v.is_empty()).then(|| v.to_string())))
                .collect(),
        );
    }
    Ok(out)
}

/// The rows of `rows`, reading a fixture file from a `fixtures` folder of the test paths.
pub fn resolve_rows(
    project: &Project,
    rows: &Rows,
    at: &Origin,
    test: &str,
) -> Result<Vec<TextRow>, (Origin, String)> {
    match rows {
        Rows::Inline(r) => Ok(r.clone()),
        Rows::Fixture(name) => {
            let found: Option<PathBuf> = project
                .files(&project.test_paths, "csv")
                .into_iter()
                .find(|p| {
                    p.file_stem().is_some_and(|s| s == name.as_str())
                        && p.components().any(|c| c.as_os_str() == "fixtures")
                });
            let Some(rel) = found else {
                return Err((
                    at.clone(),
                    format!(
                        "unit test `{test}`: no fixture `{name}.csv` in a `fixtures` folder of the test paths"
                    ),
                ));
            };
            let path = project.dir.join(&rel);
            let bytes = std::fs::read(&path)
                .map_err(|e| (at.clone(), format!("{}: {e}", path.display())))?;
            csv_rows(&bytes).map_err(|e| (Origin::new(&path, crate::properties::START), e))
        }
    }
}

/// The table a `given` input stands for: `ref('x')` → `x`, `source('s', 't')` → the source's
/// task, `this` → `this`.
pub fn input_table(input: &str) -> Option<Input> {
    let input = input.trim();
    if input == "this" {
        return Some(Input::This);
    }
    let (func, rest) = input.split_once('(')?;
    let args: Vec<String> = rest
        .strip_suffix(')')?
        .split(',')
        .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|a| !a.is_empty())
        .collect();
    match (func.trim(), args.as_slice()) {
        ("ref", [name]) => Some(Input::Ref(name.clone())),
        ("source", [s, t]) => Some(Input::Source(s.clone(), t.clone())),
        _ => None,
    }
}

/// What a `given` input names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A model, seed or snapshot.
    Ref(String),
    /// A source's table.
    Source(String, String),
    /// The model's previous version (an incremental run).
    This,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_and_csv_rows_are_read() {
        assert_eq!(
            input_table("ref('stg_orders')"),
            Some(Input::Ref("stg_orders".into()))
        );
        assert_eq!(input_table(" ref(\"x\") "), Some(Input::Ref("x".into())));
        assert_eq!(
            input_table("source('raw', 'orders')"),
            Some(Input::Source("raw".into(), "orders".into()))
        );
        assert_eq!(input_table("this"), Some(Input::This));
        assert_eq!(input_table("model('x')"), None);
        let rows = csv_rows(b"id, name\n1, a\n2,\n").expect("csv");
        assert_eq!(
            rows,
            vec![
                vec![
                    ("id".into(), Some("1".into())),
                    ("name".into(), Some("a".into()))
                ],
                vec![("id".into(), Some("2".into())), ("name".into(), None)],
            ]
        );
    }
}
