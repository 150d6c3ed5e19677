//! What a task read and wrote, as its op knows it: the datasets outside the warehouse (files,
//! tables, URLs, repositories) and, column by column, where each output column comes from.
//!
//! An op returns it in [`crate::OpOutput::lineage`]; the engine records it with the attempt
//! and hands it to the lineage emitters (OpenLineage, DataHub), which add what the engine
//! knows itself (the upstream tasks' datasets, the schema it published). The vocabulary is
//! OpenLineage's: a dataset is a namespace and a name, a column's sources are DIRECT (its
//! values come from them) or INDIRECT (they decide which rows there are: filters, joins,
//! groups, sorts).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Datasets and columns a task read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// Datasets outside the warehouse the task read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<External>,
    /// Datasets outside the warehouse the task wrote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<External>,
    /// Where the columns of each output come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnLineage>,
    /// The SQL statement the task ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// The model the task trained (its dataset is the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Model>,
}

/// A model a task trained, as catalogs show it: its kind, its settings, its figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// `logistic`, `mlp`, `gbdt`…
    pub kind: String,
    /// Its hyper-parameters and the training's settings, as text.
    pub params: Vec<(String, String)>,
    /// Its figures on the rows it did not learn from (`valid.accuracy`…).
    pub metrics: Vec<(String, f64)>,
}

impl Eq for Model {}

/// A dataset outside the warehouse, named as OpenLineage names it: `file` +
/// `/abs/path.csv`, `postgres://host:5432` + `db.schema.table`, `s3://bucket` + `key`,
/// `https://huggingface.co` + `org/repo`, a URL's origin + its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct External {
    /// Where it lives (a scheme and authority).
    pub namespace: String,
    /// Its name within the namespace.
    pub name: String,
    /// Its columns, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

impl External {
    /// A local file or folder, absolute and without `.` or `..` (resolved as written, links
    /// left as they are), in OpenLineage's `file` namespace.
    pub fn file(path: &std::path::Path) -> Self {
        use std::path::Component;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut clean = std::path::PathBuf::new();
        for c in abs.components() {
            match c {
                Component::ParentDir => {
                    clean.pop();
                }
                Component::CurDir => {}
                other => clean.push(other.as_os_str()),
            }
        }
        External {
            namespace: "file".into(),
            name: clean.display().to_string(),
            fields: Vec::new(),
        }
    }

    /// `self` with these columns.
    pub fn with_fields(mut self, fields: Vec<Field>) -> Self {
        self.fields = fields;
        self
    }

    /// The dataset of `url` (credentials and query dropped): the scheme and authority as
    /// namespace, the path as name. `None` for what is not a URL.
    pub fn url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // user:password@host → host
        let host = authority.rsplit('@').next().unwrap_or(authority);
        if host.is_empty() {
            return None;
        }
        Some(External {
            namespace: format!("{}://{host}", scheme.to_ascii_lowercase()),
            name: path.to_string(),
            fields: Vec::new(),
        })
    }
}

/// A column: name, type, description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type, as the dataset's system names it (an Arrow type, a PostgreSQL type).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A dataset a column lineage speaks of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetRef {
    /// The task's own dataset (in the warehouse).
    Own,
    /// The dataset of an upstream task of the same pipeline.
    Task {
        /// The task.
        task: String,
    },
    /// A dataset outside the warehouse.
    External {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl DatasetRef {
    /// The dataset of task `task`.
    pub fn task(task: impl Into<String>) -> Self {
        DatasetRef::Task { task: task.into() }
    }

    /// The external dataset `e`.
    pub fn external(e: &External) -> Self {
        DatasetRef::External {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
        }
    }
}

/// Where the columns of one output dataset come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLineage {
    /// The output.
    pub output: DatasetRef,
    /// Each output column's sources.
    pub fields: BTreeMap<String, Vec<Source>>,
    /// Columns that decide the output's rows as a whole (filters, join keys, groups, sorts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataset: Vec<Source>,
}

/// One column a value or the row set depends on, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Source {
    /// The dataset of the column.
    pub dataset: DatasetRef,
    /// The column.
    pub field: String,
    /// How it is used.
    pub how: How,
    /// Whether the value cannot be recovered from the output (a hash).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masking: bool,
}

impl Source {
    /// Column `field` of `dataset`, used `how`.
    pub fn new(dataset: DatasetRef, field: impl Into<String>, how: How) -> Self {
        Source {
            dataset,
            field: field.into(),
            how,
            masking: false,
        }
    }
}

/// How a column is used: OpenLineage's transformation subtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum How {
    /// Copied as it is.
    Identity,
    /// Computed from it, row by row.
    Transformation,
    /// Computed from it over groups of rows.
    Aggregation,
    /// A join key or condition.
    Join,
    /// A grouping key.
    GroupBy,
    /// A filter.
    Filter,
    /// A sort key.
    Sort,
    /// A window's partition or order.
    Window,
    /// A condition choosing between values (CASE WHEN, COALESCE's order).
    Conditional,
}

impl How {
    /// `DIRECT` for what a value is computed from, `INDIRECT` for what decides the rows.
    pub fn kind(self) -> &'static str {
        match self {
            How::Identity | How::Transformation | How::Aggregation => "DIRECT",
            _ => "INDIRECT",
        }
    }

    /// OpenLineage's subtype name.
    pub fn subtype(self) -> &'static str {
        match self {
            How::Identity => "IDENTITY",
            How::Transformation => "TRANSFORMATION",
            How::Aggregation => "AGGREGATION",
            How::Join => "JOIN",
            How::GroupBy => "GROUP_BY",
            How::Filter => "FILTER",
            How::Sort => "SORT",
            How::Window => "WINDOW",
            How::Conditional => "CONDITIONAL",
        }
    }

    /// What a value computed with `self` from a source used `inner` is: an identity keeps the
    /// other's kind, an aggregation wins over a transformation, an indirect use stays one.
    pub fn then(self, inner: How) -> How {
        match (self, inner) {
            (How::Identity, x) | (x, How::Identity) => x,
            (a, _) if a.kind() == "INDIRECT" => a,
            (_, b) if b.kind() == "INDIRECT" => b,
            (How::Aggregation, _) | (_, How::Aggregation) => How::Aggregation,
            _ => How::Transformation,
        }
    }
}

/// The columns of a dataset's schema as the engine records it
/// (`[{"name": …, "type": …, "nullable": …}]`, [`crate::Dataset::schema`]).
pub fn schema_fields(schema: &str) -> Vec<Field> {
    #[derive(Deserialize)]
    struct Column {
        name: String,
        #[serde(rename = "type")]
        data_type: String,
    }
    serde_json::from_str::<Vec<Column>>(schema)
        .unwrap_or_default()
        .into_iter()
        .map(|c| Field {
            name: c.name,
            data_type: c.data_type,
        })
        .collect()
}

/// The lineage of a task that reads `inputs` (files, tables) into its dataset, each column
/// copied from the column of the same name: what the readers report.
pub fn read_into_dataset(inputs: Vec<External>, schema: &str) -> Lineage {
    let fields = schema_fields(schema);
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    let columns = inputs
        .iter()
        .map(|e| identity(DatasetRef::external(e), &names))
        .reduce(|mut all, more| {
            for (k, v) in more.fields {
                all.fields.entry(k).or_default().extend(v);
            }
            all
        })
        .into_iter()
        .collect();
    Lineage {
        inputs: inputs
            .into_iter()
            .map(|e| e.with_fields(fields.clone()))
            .collect(),
        columns,
        ..Lineage::default()
    }
}

/// The lineage of a task that writes the dataset of task `from` out as `output` (a file, a
/// table), each column as it is.
pub fn write_from_dataset(from: &str, output: External, schema: &str) -> Lineage {
    let fields = schema_fields(schema);
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    let mut columns = identity(DatasetRef::task(from), &names);
    columns.output = DatasetRef::external(&output);
    Lineage {
        outputs: vec![output.with_fields(fields)],
        columns: vec![columns],
        ..Lineage::default()
    }
}

/// The identity mapping of `columns` of `from` onto the same names of the task's own dataset.
pub fn identity(from: DatasetRef, columns: &[String]) -> ColumnLineage {
    ColumnLineage {
        output: DatasetRef::Own,
        fields: columns
            .iter()
            .map(|c| (c.clone(), vec![Source::new(from.clone(), c, How::Identity)]))
            .collect(),
        dataset: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_named_by_origin_and_path_without_credentials_or_query() {
        let e =
            External::url("https://user:secret@Example.org:8443/a/b.csv?token=x#y").expect("test");
        assert_eq!(e.namespace, "https://Example.org:8443");
        assert_eq!(e.name, "/a/b.csv");
        assert_eq!(External::url("s3://bucket").expect("test").name, "/");
        assert!(External::url("not a url").is_none());
    }

    #[test]
    fn a_file_is_named_by_its_absolute_path_without_dots() {
        let e = External::file(std::path::Path::new("/data/x/../y/./z.csv"));
        assert_eq!(
            (e.namespace.as_str(), e.name.as_str()),
            ("file", "/data/y/z.csv")
        );
    }

    #[test]
    fn kinds_combine_as_openlineage_reads_them() {
        assert_eq!(How::Identity.then(How::Aggregation), How::Aggregation);
        assert_eq!(How::Transformation.then(How::Identity), How::Transformation);
        assert_eq!(How::Aggregation.then(How::Transformation), How::Aggregation);
        assert_eq!(How::Transformation.then(How::Filter), How::Filter);
        assert_eq!(How::Join.then(How::Identity), How::Join);
        assert_eq!(How::Join.then(How::Transformation), How::Join);
        assert_eq!(How::Identity.kind(), "DIRECT");
        assert_eq!(How::GroupBy.subtype(), "GROUP_BY");
    }
}
