//! The properties of a project's YAML files (`schema.yml`): what models, seeds and snapshots
//! say of themselves and their columns, their data tests, and the sources.

use std::collections::BTreeMap;
use std::path::Path;

use sluice_core::diag::did_you_mean;
use sluice_core::yaml::{Mark, Node};

use crate::Problems;
use crate::project::{Config, Origin, read_yaml};

/// A data test declared in properties.
#[derive(Debug, Clone)]
pub struct TestSpec {
    /// `not_null`, `unique`, `accepted_values`, `relationships`.
    pub kind: String,
    /// The column tested, if it is a column's test.
    pub column: Option<String>,
    /// The test's arguments (`values`, `to`, `field`, `quote`).
    pub args: BTreeMap<String, serde_json::Value>,
    /// `severity`, `where`, … (from `config:` or beside the arguments).
    pub config: Config,
    /// Its `name:`, if given.
    pub name: Option<String>,
    /// Where it is declared.
    pub origin: Origin,
}

/// A column's properties.
#[derive(Debug, Clone, Default)]
pub struct ColumnProps {
    /// `description:`.
    pub description: Option<String>,
    /// `tags:`.
    pub tags: Vec<String>,
    /// `meta: {pii: true}` or a `pii` tag.
    pub pii: bool,
}

/// What a YAML file says of one model, seed or snapshot.
#[derive(Debug, Clone, Default)]
pub struct NodeProps {
    /// `description:`.
    pub description: Option<String>,
    /// `config:` (and top-level `tags:`).
    pub config: Config,
    /// Columns, in order.
    pub columns: Vec<(String, ColumnProps)>,
    /// Its tests and its columns'.
    pub tests: Vec<TestSpec>,
    /// `meta: {owner: …}`.
    pub owners: Vec<String>,
}

/// A source table.
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// Files to read (`meta.external_location` or `config.external_location`), relative to
    /// the project.
    pub location: Option<String>,
    /// `description:`.
    pub description: Option<String>,
    /// Its tests.
    pub tests: Vec<TestSpec>,
    /// Where it is declared.
    pub origin: Origin,
}

/// Every property found.
#[derive(Debug, Default)]
pub struct Properties {
    /// Models, seeds and snapshots by name.
    pub nodes: BTreeMap<String, NodeProps>,
    /// `(source, table)` → table.
    pub sources: BTreeMap<(String, String), SourceTable>,
    /// `unit_tests:`.
    pub unit_tests: Vec<crate::unit_tests::UnitSpec>,
}

const NODE_KEYS: &[&str] = &[
    "name",
    "description",
    "config",
    "columns",
    "tests",
    "data_tests",
    "tags",
    "meta",
    "docs",
    "access",
    "group",
];

const COLUMN_KEYS: &[&str] = &[
    "name",
    "description",
    "tests",
    "data_tests",
    "tags",
    "meta",
    "data_type",
    "quote",
    "policy_tags",
];

impl Properties {
    /// Reads every `.yml` file under `folders` of the project.
    pub fn read(dir: &Path, files: &[std::path::PathBuf], problems: &mut Problems) -> Self {
        let mut props = Properties::default();
        for rel in files {
            let file = dir.join(rel);
            let Some(root) = read_yaml(&file, problems) else {
                continue;
            };
            let Some(entries) = root.as_map() else {
                continue;
            };
            for (k, v) in entries {
                let key = k.as_text().unwrap_or_default();
                let at = Origin::new(&file, k.mark);
                match key {
                    "version" => {}
                    "models" | "seeds" | "snapshots" => {
                        for item in v.as_seq().unwrap_or_default() {
                            props.node(&file, item, problems);
                        }
                    }
                    "sources" => {
                        for item in v.as_seq().unwrap_or_default() {
                            props.source(&file, item, problems);
                        }
                    }
                    "unit_tests" => props
                        .unit_tests
                        .extend(crate::unit_tests::parse(&file, v, problems)),
                    "exposures" | "metrics" | "semantic_models" | "saved_queries" | "groups"
                    | "analyses" | "macros" => problems.push(
                        at,
                        format!("`{key}:` properties are not supported by sluice yet"),
                    ),
                    _ => problems.push(at, format!("`{key}:` is not a dbt properties key")),
                }
            }
        }
        props
    }

    fn node(&mut self, file: &Path, item: &Node, problems: &mut Problems) {
        let Some(entries) = item.as_map() else { return };
        let name = field(item, "name").and_then(Node::as_text);
        let Some(name) = name else {
            problems.push(Origin::new(file, item.mark), "an entry without `name:`");
            return;
        };
        let mut p = NodeProps::default();
        for (k, v) in entries {
            let key = k.as_text().unwrap_or_default();
            let at = Origin::new(file, k.mark);
            match key {
                "name" | "docs" | "access" | "group" => {}
                "description" => p.description = v.as_text().map(String::from),
                "config" => read_config(file, v, &mut p.config),
                "tags" => p.config.set("tags", v.to_json(), at),
                "meta" => {
                    p.owners.extend(owners(v));
                    p.config.set("meta", v.to_json(), at);
                }
                "columns" => {
                    for col in v.as_seq().unwrap_or_default() {
                        self.column(file, col, &mut p, problems);
                    }
                }
                "tests" | "data_tests" => {
                    for t in v.as_seq().unwrap_or_default() {
                        if let Some(t) = test_spec(file, t, None, problems) {
                            p.tests.push(t);
                        }
                    }
                }
                "versions" | "latest_version" | "constraints" => {
                    problems.push(at, format!("model `{key}` are not supported by sluice"))
                }
                _ => problems.push_hint(
                    at,
                    format!("`{key}` is not a property of a model"),
                    did_you_mean(key, NODE_KEYS.iter().copied()),
                ),
            }
        }
        self.nodes.insert(name.to_string(), p);
    }

    fn column(&mut self, file: &Path, col: &Node, p: &mut NodeProps, problems: &mut Problems) {
        let Some(name) = field(col, "name").and_then(Node::as_text) else {
            problems.push(Origin::new(file, col.mark), "a column without `name:`");
            return;
        };
        let mut c = ColumnProps::default();
        for (k, v) in col.as_map().unwrap_or_default() {
            let key = k.as_text().unwrap_or_default();
            match key {
                "name" | "data_type" | "quote" | "policy_tags" => {}
                "description" => c.description = v.as_text().map(String::from),
                "tags" => c.tags = crate::project::tag_list(&v.to_json()),
                "meta" => {
                    c.pii = v.to_json().get("pii").and_then(|x| x.as_bool()) == Some(true);
                }
                "tests" | "data_tests" => {
                    for t in v.as_seq().unwrap_or_default() {
                        if let Some(t) = test_spec(file, t, Some(name), problems) {
                            p.tests.push(t);
                        }
                    }
                }
                "constraints" => problems.push(
                    Origin::new(file, k.mark),
                    "column `constraints` are not supported by sluice",
                ),
                _ => problems.push_hint(
                    Origin::new(file, k.mark),
                    format!("`{key}` is not a property of a column"),
                    did_you_mean(key, COLUMN_KEYS.iter().copied()),
                ),
            }
        }
        c.pii |= c.tags.iter().any(|t| t == "pii");
        p.columns.push((name.to_string(), c));
    }

    fn source(&mut self, file: &Path, item: &Node, problems: &mut Problems) {
        let Some(source) = field(item, "name").and_then(Node::as_text) else {
            problems.push(Origin::new(file, item.mark), "a source without `name:`");
            return;
        };
        let source_location = location(item);
        for table in field(item, "tables")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let Some(name) = field(table, "name").and_then(Node::as_text) else {
                continue;
            };
            let mut tests = Vec::new();
            for col in field(table, "columns")
                .and_then(Node::as_seq)
                .unwrap_or_default()
            {
                let cname = field(col, "name").and_then(Node::as_text);
                for key in ["tests", "data_tests"] {
                    for t in field(col, key).and_then(Node::as_seq).unwrap_or_default() {
                        if let Some(t) = test_spec(file, t, cname, problems) {
                            tests.push(t);
                        }
                    }
                }
            }
            let location = location(table).or_else(|| {
                source_location
                    .as_ref()
                    .map(|l| l.replace("{name}", name).replace("{identifier}", name))
            });
            self.sources.insert(
                (source.to_string(), name.to_string()),
                SourceTable {
                    location,
                    description: field(table, "description")
                        .and_then(Node::as_text)
                        .map(String::from),
                    tests,
                    origin: Origin::new(file, table.mark),
                },
            );
        }
    }
}

/// `meta.external_location` or `config.external_location` of a source or table.
fn location(node: &Node) -> Option<String> {
    ["meta", "config"].iter().find_map(|k| {
        field(node, k)
            .and_then(|m| field(m, "external_location"))
            .and_then(Node::as_text)
            .map(String::from)
    })
}

/// `meta: {owner: x}` or `{owners: [x, y]}`.
fn owners(meta: &Node) -> Vec<String> {
    let json = meta.to_json();
    let mut out = Vec::new();
    for key in ["owner", "owners"] {
        if let Some(v) = json.get(key) {
            out.extend(crate::project::tag_list(v));
        }
    }
    out
}

/// The value of `key` in a mapping.
pub fn field<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    node.get(key)
}

fn read_config(file: &Path, node: &Node, config: &mut Config) {
    for (k, v) in node.as_map().unwrap_or_default() {
        if let Some(key) = k.as_text() {
            config.set(key, v.to_json(), Origin::new(file, k.mark));
        }
    }
}

/// Keys of a generic test besides its arguments.
const TEST_CONFIG_KEYS: &[&str] = &[
    "severity",
    "where",
    "enabled",
    "tags",
    "error_if",
    "warn_if",
    "limit",
    "store_failures",
    "meta",
];

/// `unique`, `{accepted_values: {values: [...]}}`, `{relationships: {to: ref('x'), field: y}}`.
fn test_spec(
    file: &Path,
    node: &Node,
    column: Option<&str>,
    problems: &mut Problems,
) -> Option<TestSpec> {
    let origin = Origin::new(file, node.mark);
    if let Some(kind) = node.as_text() {
        return Some(TestSpec {
            kind: kind.to_string(),
            column: column.map(String::from),
            args: BTreeMap::new(),
            config: Config::default(),
            name: None,
            origin,
        });
    }
    let entries = node.as_map()?;
    let Some((k, v)) = entries.first() else {
        problems.push(origin, "an empty test");
        return None;
    };
    let kind = k.as_text().unwrap_or_default().to_string();
    let mut spec = TestSpec {
        kind,
        column: column.map(String::from),
        args: BTreeMap::new(),
        config: Config::default(),
        name: None,
        origin: Origin::new(file, k.mark),
    };
    for (ak, av) in v.as_map().unwrap_or_default() {
        let key = ak.as_text().unwrap_or_default();
        match key {
            "config" => read_config(file, av, &mut spec.config),
            "arguments" => {
                for (k2, v2) in av.as_map().unwrap_or_default() {
                    if let Some(k2) = k2.as_text() {
                        spec.args.insert(k2.to_string(), v2.to_json());
                    }
                }
            }
            "name" => spec.name = av.as_text().map(String::from),
            "column_name" => spec.column = av.as_text().map(String::from),
            _ if TEST_CONFIG_KEYS.contains(&key) => {
                spec.config
                    .set(key, av.to_json(), Origin::new(file, ak.mark));
            }
            _ => {
                spec.args.insert(key.to_string(), av.to_json());
            }
        }
    }
    Some(spec)
}

/// The mark of the first line.
pub const START: Mark = Mark { line: 1, col: 1 };
