//! The lineage graph of a catalog: datasets linked by the tasks between them, columns linked
//! by how each is computed. Answers "where does this column come from" (upstream) and "what
//! is affected if it changes" (downstream), for `sluice lineage` and the server.
//!
//! A dataset is named `pipeline.task` in the warehouse, `file:/abs/path` for a file,
//! `NAMESPACE/NAME` for a table or a URL (`postgres://host:5432/db.schema.table`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;
use sluice_op::lineage::{DatasetRef, External, How};

use crate::catalog::Catalog;

/// A column edge: `from` is used `how` to compute `to`, by task `via`. A column `*` stands
/// for the rows of a dataset (a filter or join key decides which rows there are).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: (String, String),
    to: (String, String),
    how: How,
    via: String,
}

/// The graph.
#[derive(Debug, Default)]
pub struct Graph {
    edges: Vec<Edge>,
    /// Dataset edges: input → output, by task.
    datasets: BTreeSet<(String, String, String)>,
    /// Known datasets and their columns.
    columns: BTreeMap<String, BTreeSet<String>>,
}

/// One step of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The dataset.
    pub dataset: String,
    /// The column (none for a dataset-level answer; `*` for a dataset's rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// How it is used (`IDENTITY`, `AGGREGATION`, `JOIN`…), for columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<&'static str>,
    /// `DIRECT` or `INDIRECT`, for columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The task linking it to the step before.
    pub via: String,
    /// Steps away from the start (1: next to it).
    pub depth: usize,
    /// The step it links to (the one before on its path).
    pub to: String,
}

/// The name of an outside dataset in answers.
pub fn external_name(e: &External) -> String {
    if e.namespace == "file" {
        format!("file:{}", e.name)
    } else {
        format!("{}/{}", e.namespace, e.name.trim_start_matches('/'))
    }
}

impl Graph {
    /// The graph of `catalog`.
    pub fn of(catalog: &Catalog) -> Graph {
        let mut g = Graph::default();
        for t in &catalog.tasks {
            let (pipeline, task) = (&t.meta.pipeline, &t.meta.task);
            let via = format!("{pipeline}.{task}");
            let name = |r: &DatasetRef| match r {
                DatasetRef::Own => via.clone(),
                DatasetRef::Task { task } => format!("{pipeline}.{task}"),
                DatasetRef::External { namespace, name } => external_name(&External {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    fields: Vec::new(),
                }),
            };
            let mut inputs: Vec<String> = t
                .inputs
                .iter()
                .map(|(u, _)| format!("{pipeline}.{u}"))
                .collect();
            inputs.extend(t.lineage.inputs.iter().map(external_name));
            let mut outputs: Vec<String> = t.lineage.outputs.iter().map(external_name).collect();
            if t.output.is_some() {
                outputs.push(via.clone());
                let schema = catalog
                    .datasets
                    .get(&via)
                    .map(|d| d.schema.clone())
                    .or_else(|| t.dataset.as_ref().map(|d| d.schema.clone()))
                    .unwrap_or_default();
                g.columns.entry(via.clone()).or_default().extend(
                    sluice_op::lineage::schema_fields(&schema)
                        .into_iter()
                        .map(|f| f.name),
                );
            }
            for e in t.lineage.inputs.iter().chain(&t.lineage.outputs) {
                g.columns
                    .entry(external_name(e))
                    .or_default()
                    .extend(e.fields.iter().map(|f| f.name.clone()));
            }
            for i in &inputs {
                g.columns.entry(i.clone()).or_default();
                for o in &outputs {
                    g.datasets.insert((i.clone(), o.clone(), via.clone()));
                }
            }
            for c in &t.lineage.columns {
                let out = name(&c.output);
                for (field, sources) in &c.fields {
                    g.columns
                        .entry(out.clone())
                        .or_default()
                        .insert(field.clone());
                    for s in sources {
                        let from = (name(&s.dataset), s.field.clone());
                        g.columns
                            .entry(from.0.clone())
                            .or_default()
                            .insert(s.field.clone());
                        g.edges.push(Edge {
                            from,
                            to: (out.clone(), field.clone()),
                            how: s.how,
                            via: via.clone(),
                        });
                    }
                }
                for s in &c.dataset {
                    g.edges.push(Edge {
                        from: (name(&s.dataset), s.field.clone()),
                        to: (out.clone(), "*".into()),
                        how: s.how,
                        via: via.clone(),
                    });
                }
            }
        }
        g.edges.sort();
        g.edges.dedup();
        g
    }

    /// The datasets known, with their columns.
    pub fn datasets(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.columns
    }

    /// `DATASET` or `DATASET.COLUMN` as known datasets and columns.
    pub fn resolve(&self, target: &str) -> Result<(String, Option<String>), String> {
        if self.columns.contains_key(target) {
            return Ok((target.to_string(), None));
        }
        if let Some((dataset, column)) = target.rsplit_once('.')
            && let Some(columns) = self.columns.get(dataset)
        {
            if columns.contains(column) || column == "*" {
                return Ok((dataset.to_string(), Some(column.to_string())));
            }
            let known: Vec<&str> = columns.iter().map(String::as_str).collect();
            return Err(format!(
                "dataset `{dataset}` has no column `{column}` (its columns: {})",
                known.join(", ")
            ));
        }
        let names = self.columns.keys().map(String::as_str);
        let hint = sluice_core::diag::did_you_mean(target, names).unwrap_or_else(|| {
            "run its pipeline first; list them with `sluice lineage --list`".to_string()
        });
        Err(format!(
            "no dataset `{target}` in the lineage recorded ({hint})"
        ))
    }

    /// What `dataset` (`column`) comes from (`up`) or affects (`!up`), nearest first, each
    /// step once.
    pub fn walk(&self, dataset: &str, column: Option<&str>, up: bool, depth: usize) -> Vec<Step> {
        let start = match column {
            Some(c) => format!("{dataset}.{c}"),
            None => dataset.to_string(),
        };
        let mut seen = BTreeSet::from([start.clone()]);
        let mut queue = VecDeque::from([(dataset.to_string(), column.map(str::to_string), 0)]);
        let mut out = Vec::new();
        while let Some((d, c, n)) = queue.pop_front() {
            if n >= depth {
                continue;
            }
            let here = match &c {
                Some(c) => format!("{d}.{c}"),
                None => d.clone(),
            };
            let mut next: Vec<Step> = Vec::new();
            match &c {
                Some(c) => {
                    for e in &self.edges {
                        let (near, far) = if up {
                            (&e.to, &e.from)
                        } else {
                            (&e.from, &e.to)
                        };
                        // Downstream, a column deciding the rows affects them all.
                        // Upstream, what decides the rows decides each column; downstream, a
                        // change to the rows (`*`) reaches every column.
                        let matches = near.0 == d
                            && (near.1 == *c || (up && near.1 == "*") || (!up && c == "*"));
                        if !matches {
                            continue;
                        }
                        next.push(Step {
                            dataset: far.0.clone(),
                            column: Some(far.1.clone()),
                            how: Some(e.how.subtype()),
                            kind: Some(e.how.kind()),
                            via: e.via.clone(),
                            depth: n + 1,
                            to: here.clone(),
                        });
                    }
                }
                None => {
                    for (i, o, via) in &self.datasets {
                        let (near, far) = if up { (o, i) } else { (i, o) };
                        if *near == d {
                            next.push(Step {
                                dataset: far.clone(),
                                column: None,
                                how: None,
                                kind: None,
                                via: via.clone(),
                                depth: n + 1,
                                to: here.clone(),
                            });
                        }
                    }
                }
            }
            for s in next {
                let key = match &s.column {
                    Some(c) => format!("{}.{c}", s.dataset),
                    None => s.dataset.clone(),
                };
                let key = format!("{key}|{}", s.how.unwrap_or(""));
                if seen.insert(key) {
                    // A column reached INDIRECTly is followed no further upstream: what decides
                    // a filter is not where the value comes from.
                    let follow = !up || s.kind != Some("INDIRECT");
                    if follow {
                        queue.push_back((s.dataset.clone(), s.column.clone(), n + 1));
                    }
                    out.push(s);
                }
            }
        }
        out
    }
}

/// `steps` as text: one line per step, indented by depth under the step it links to.
pub fn text(start: &str, up: bool, steps: &[Step]) -> String {
    let mut out = format!(
        "{start} {}\n",
        if up { "comes from:" } else { "is used by:" }
    );
    if steps.is_empty() {
        out.push_str("  (nothing recorded)\n");
        return out;
    }
    // Children of each node, in order; printed depth first from the start.
    let mut children: BTreeMap<&str, Vec<&Step>> = BTreeMap::new();
    for s in steps {
        children.entry(s.to.as_str()).or_default().push(s);
    }
    let mut printed = BTreeSet::new();
    fn print(
        node: &str,
        depth: usize,
        up: bool,
        children: &BTreeMap<&str, Vec<&Step>>,
        printed: &mut BTreeSet<String>,
        out: &mut String,
    ) {
        for s in children.get(node).into_iter().flatten() {
            let name = match &s.column {
                Some(c) => format!("{}.{c}", s.dataset),
                None => s.dataset.clone(),
            };
            let how = match (s.how, s.kind) {
                (Some(h), Some("INDIRECT")) => format!("  {h} (indirect)"),
                (Some(h), _) => format!("  {h}"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "{}{}{how}  [{}]\n",
                "  ".repeat(depth + 1),
                name,
                s.via
            ));
            // Upstream, an indirect use is where its path stops (as in `walk`).
            let follow = !up || s.kind != Some("INDIRECT");
            if follow && printed.insert(name.clone()) {
                print(&name, depth + 1, up, children, printed, out);
            }
        }
    }
    print(start, 0, up, &children, &mut printed, &mut out);
    out
}

/// The walks from `start` (upstream when `.0`) as a Graphviz graph, edges pointing the way
/// data flows, indirect uses dashed.
pub fn dot(start: &str, walks: &[(bool, Vec<Step>)]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
    out.push_str(&format!("  {} [style=bold];\n", quote(start)));
    for (up, steps) in walks {
        for s in steps {
            let name = match &s.column {
                Some(c) => format!("{}.{c}", s.dataset),
                None => s.dataset.clone(),
            };
            let (from, to) = if *up {
                (name, s.to.clone())
            } else {
                (s.to.clone(), name)
            };
            let label = match s.how {
                Some(h) => format!("{h} · {}", s.via),
                None => s.via.clone(),
            };
            let style = if s.kind == Some("INDIRECT") {
                ", style=dashed"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {} -> {} [label={}{style}];\n",
                quote(&from),
                quote(&to),
                quote(&label)
            ));
        }
    }
    out.push_str("}\n");
    out
}
