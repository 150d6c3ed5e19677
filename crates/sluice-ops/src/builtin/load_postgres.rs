//! `load.postgres`: an upstream dataset into a PostgreSQL table (pgvector for vector
//! columns). Binary COPY into a staging table, then one transaction that upserts the rows
//! that differ and deletes those that left the dataset: readers see the old table or the
//! new one, a killed load leaves the old one, and the same load twice changes nothing. It
//! runs on every run of its pipeline, since the table may have changed since.
//! The work is in `sluice_vector::postgres`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sluice_vector::postgres::columns::ColumnSpec;
use sluice_vector::postgres::load::{Hnsw, Metric};
use sluice_vector::postgres::{
    self, ConnectOptions, LoadReport, LoadSpec, Mode, Reference, TlsMode,
};

use crate::{Op, OpError, OpOutput, TaskContext, counters, env_secret};
use sluice_op::Names;

/// The vector type of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorType {
    /// `vector(N)`: 4 bytes a dimension.
    #[default]
    Vector,
    /// `halfvec(N)`: 2 bytes a dimension (pgvector 0.7 or later).
    Halfvec,
}

/// The index of the vector column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// An HNSW index (`metric`, `m`, `ef_construction`).
    #[default]
    Hnsw,
    /// No index (exact search only).
    None,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_true() -> bool {
    true
}
fn default_m() -> u32 {
    16
}
fn default_ef() -> u32 {
    64
}
fn default_mwm() -> String {
    "1GB".into()
}
fn default_max_delete_fraction() -> f64 {
    0.5
}

/// `op: load.postgres`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPostgres {
    /// The task whose dataset is loaded.
    pub input: String,
    /// The table (created when missing, new columns added when the dataset gains some).
    /// Not set with `parts`.
    #[serde(default)]
    pub table: Option<String>,
    /// The input is a `split` task: each of its parts goes to a table named after it, in a
    /// transaction of its own.
    #[serde(default)]
    pub parts: bool,
    /// Its schema (default: the first of the server's search path).
    #[serde(default)]
    pub schema: Option<String>,
    /// The column (or columns) identifying a row: the primary key of a created table.
    pub key: Names,
    /// A column to index with a B-tree, `idx_<table>_<column>` (the document id).
    #[serde(default)]
    pub document: Option<String>,
    /// Foreign keys, by column: `document_id: original_documents` (its `id`) or
    /// `raw_text_id: raw_texts(id)`. Each is a constraint `fk_<table>_<column>` (`ON DELETE
    /// CASCADE`) with a B-tree index `idx_<table>_<column>`; load the referred table first
    /// (`after:`).
    #[serde(default)]
    pub references: BTreeMap<String, String>,
    /// `postgres://USER@HOST:PORT/DB?sslmode=…` (default: the environment variable
    /// `SLUICE_PG_URL`). Empty: the task loads nothing and says so (a pipeline whose
    /// PostgreSQL is a parameter, off by default).
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the password, when it is not in the URL.
    #[serde(default)]
    pub password_env: Option<String>,
    /// `disable`, `prefer` or `require` (default: the URL's `sslmode`, else `prefer`).
    #[serde(default)]
    pub tls: Option<TlsMode>,
    /// PEM certificates to trust besides the web's root authorities (relative to the
    /// pipeline file).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// How long to wait for the server (default 10s).
    #[serde(
        default = "default_timeout",
        deserialize_with = "sluice_core::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// The dataset columns to load, in order (default: all).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Dataset column → table column names.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Text columns holding JSON, loaded as `jsonb` (structs and lists become `jsonb` by
    /// themselves).
    #[serde(default)]
    pub jsonb: Vec<String>,
    /// `vector` (default) or `halfvec`.
    #[serde(default)]
    pub vector_type: VectorType,
    /// `hnsw` (default) or `none`.
    #[serde(default)]
    pub index: IndexKind,
    /// The index's distance: `cosine` (default), `l2` or `ip`.
    #[serde(default)]
    pub metric: Metric,
    /// HNSW links per node (default 16).
    #[serde(default = "default_m")]
    pub m: u32,
    /// HNSW candidates while building (default 64).
    #[serde(default = "default_ef")]
    pub ef_construction: u32,
    /// `sync` (default: rows whose key left the dataset are deleted) or `upsert`.
    #[serde(default)]
    pub mode: Mode,
    /// `sync`: the largest share of the table's rows one load may delete (default 0.5); a
    /// load that would delete more fails and changes nothing.
    #[serde(default = "default_max_delete_fraction")]
    pub max_delete_fraction: f64,
    /// `sync`: an empty dataset may empty a non-empty table (default false: it fails and
    /// changes nothing, whatever `max_delete_fraction`).
    #[serde(default)]
    pub allow_empty: bool,
    /// Create the pgvector extension when missing (default true).
    #[serde(default = "default_true")]
    pub create_extension: bool,
    /// Memory for index builds (default `1GB`).
    #[serde(default = "default_mwm")]
    pub maintenance_work_mem: String,
}

/// Builds `load.postgres`, checking its settings.
pub fn build_load_postgres(
    config: &sluice_core::Node,
) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: LoadPostgres = sluice_core::from_node(config)?;
    let bad = |m: &str| <sluice_core::DeError as serde::de::Error>::custom(m);
    if op.key.to_vec().is_empty() {
        return Err(bad("`key` must name at least one column"));
    }
    if !(0.0..=1.0).contains(&op.max_delete_fraction) {
        return Err(bad(
            "`max_delete_fraction` must be between 0 and 1 (the share of the table's rows \
             one `sync` load may delete)",
        ));
    }
    if !(2..=100).contains(&op.m) {
        return Err(bad("`m` must be between 2 and 100 (pgvector's limits)"));
    }
    if !(4..=1000).contains(&op.ef_construction) || op.ef_construction < 2 * op.m {
        return Err(bad(
            "`ef_construction` must be between 4 and 1000 and at least twice `m`",
        ));
    }
    match (&op.table, op.parts) {
        (Some(_), true) => {
            return Err(bad(
                "with `parts: true` each part goes to a table named after it (set a `prefix` \
                 in the split's rules): remove `table`",
            ));
        }
        (None, false) => return Err(bad("missing field `table`")),
        (Some(t), false) if t.is_empty() || t.len() > 63 => {
            return Err(bad("`table` must have 1 to 63 bytes (PostgreSQL's limit)"));
        }
        _ => {}
    }
    if op.parts && !op.references.is_empty() {
        return Err(bad("`references` is for one table, not `parts`"));
    }
    for (column, target) in &op.references {
        reference(column, target).map_err(|m| bad(&m))?;
    }
    Ok(Box::new(op))
}

/// A foreign key from `column` to `target`: `table` (its `id`) or `table(column)`.
fn reference(column: &str, target: &str) -> Result<Reference, String> {
    let (table, to) = match target.trim().split_once('(') {
        Some((table, rest)) => match rest.strip_suffix(')') {
            Some(to) => (table.trim(), to.trim()),
            None => ("", ""),
        },
        None => (target.trim(), "id"),
    };
    let fine = |s: &str| !s.is_empty() && s.len() <= 63 && !s.contains(['(', ')', '"']);
    if fine(table) && fine(to) {
        Ok(Reference {
            column: column.to_string(),
            table: table.to_string(),
            to: to.to_string(),
        })
    } else {
        Err(format!(
            "`references: {{{column}: {target}}}`: give the table (`original_documents`, its              `id`) or the table and column (`raw_texts(id)`)"
        ))
    }
}

impl LoadPostgres {
    fn connect_options(&self, ctx: &TaskContext) -> Result<ConnectOptions, OpError> {
        let url = match &self.url {
            Some(u) => u.clone(),
            None => std::env::var("SLUICE_PG_URL").map_err(|_| {
                OpError::config(
                    "no PostgreSQL to load into: set `url` or the environment variable \
                     SLUICE_PG_URL (postgres://USER@HOST:PORT/DATABASE)",
                )
            })?,
        };
        let password = env_secret("password_env", self.password_env.as_ref())?;
        Ok(ConnectOptions {
            password,
            tls: self.tls,
            ca_file: self.ca_file.as_ref().map(|f| ctx.workdir.join(f)),
            connect_timeout: self.connect_timeout,
            ..ConnectOptions::new(url)
        })
    }

    /// Each table loaded, named as OpenLineage names PostgreSQL tables
    /// (`postgres://HOST:PORT`, `DB.SCHEMA.TABLE`), each column from the dataset's column
    /// (renamed as `rename` says).
    fn lineage(
        &self,
        url: &str,
        dataset: &std::path::Path,
        tables: &[String],
    ) -> Result<sluice_op::Lineage, OpError> {
        use sluice_op::lineage::{External, write_from_dataset};
        let Some(server) = External::url(url) else {
            return Ok(sluice_op::Lineage::default());
        };
        let (host, db) = (
            server.namespace.replacen("postgresql://", "postgres://", 1),
            server.name,
        );
        let host = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        {
            host
        } else {
            format!("{host}:5432")
        };
        let db = db.trim_start_matches('/');
        let schema = sluice_data::export::dataset_schema(dataset)
            .map(|s| sluice_data::writer::schema_json(&s))
            .map_err(|e| OpError::data(e.to_string()))?;
        let mut lineage = sluice_op::Lineage::default();
        for table in tables {
            let name = format!(
                "{db}.{}.{table}",
                self.schema.as_deref().unwrap_or("public")
            );
            let target = External {
                namespace: host.clone(),
                name,
                fields: Vec::new(),
            };
            let mut one = write_from_dataset(&self.input, target, &schema);
            for c in &mut one.columns {
                c.fields = std::mem::take(&mut c.fields)
                    .into_iter()
                    .filter(|(k, _)| self.columns.as_ref().is_none_or(|keep| keep.contains(k)))
                    .map(|(k, v)| (self.rename.get(&k).cloned().unwrap_or(k), v))
                    .collect();
            }
            lineage.outputs.extend(one.outputs);
            lineage.columns.extend(one.columns);
        }
        Ok(lineage)
    }

    fn spec(&self, table: String, dataset: PathBuf) -> LoadSpec {
        LoadSpec {
            dataset,
            schema: self.schema.clone(),
            table,
            key: self.key.to_vec(),
            document: self.document.clone(),
            references: self
                .references
                .iter()
                .filter_map(|(c, t)| reference(c, t).ok())
                .collect(),
            columns: ColumnSpec {
                columns: self.columns.clone(),
                rename: self.rename.clone(),
                jsonb: self.jsonb.clone(),
                half: self.vector_type == VectorType::Halfvec,
            },
            mode: self.mode,
            max_delete_fraction: self.max_delete_fraction,
            allow_empty: self.allow_empty,
            index: (self.index == IndexKind::Hnsw).then_some(Hnsw {
                metric: self.metric,
                m: self.m,
                ef_construction: self.ef_construction,
            }),
            create_extension: self.create_extension,
            maintenance_work_mem: self.maintenance_work_mem.clone(),
        }
    }
}

impl LoadPostgres {
    async fn load_one(
        &self,
        ctx: &TaskContext,
        options: &ConnectOptions,
        spec: LoadSpec,
    ) -> Result<LoadReport, OpError> {
        let log = ctx.log.clone();
        let on_line = move |line: &str| {
            let _ = log.line(line);
        };
        let progress = ctx.progress.clone();
        let on_rows: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(move |done, total| {
            if let Some(p) = &progress {
                p(done, total);
            }
        });
        let work = async {
            let mut client = postgres::connect(options).await?;
            postgres::load(&mut client, &spec, &on_line, on_rows).await
        };
        tokio::select! {
            r = work => r.map_err(|e| OpError::internal(e.0)),
            _ = ctx.cancel.cancelled() => {
                Err(OpError::cancelled("stopped; the table was left as it was"))
            }
        }
    }
}

#[async_trait]
impl Op for LoadPostgres {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let dataset = ctx.input(&self.input)?.to_path_buf();
        if self.url.as_deref() == Some("") {
            let _ = ctx
                .log
                .line("not loaded: `url` is empty (no PostgreSQL configured)");
            return Ok(OpOutput {
                metrics: counters(&[("rows", 0)]),
                content_key: Some(String::new()),
                ..OpOutput::default()
            });
        }
        let targets = match &self.table {
            Some(table) => vec![(table.clone(), dataset.clone())],
            None => crate::support::parts::parts_of(&dataset, &self.input)?,
        };
        let content_key = format!("{}|{:?}.{:?}", dataset.display(), self.schema, self.table);
        let options = self.connect_options(ctx)?;
        let mut report = LoadReport::default();
        let tables: Vec<String> = targets.iter().map(|(t, _)| t.clone()).collect();
        for (table, dataset) in targets {
            if self.parts {
                let _ = ctx.log.line(&format!("part {table}:"));
            }
            let one = self
                .load_one(ctx, &options, self.spec(table.clone(), dataset))
                .await
                .map_err(|e| match self.parts {
                    true => e.context(format!("part {table}")),
                    false => e,
                })?;
            report.add(one);
        }
        let _ = ctx.log.line(&format!(
            "{} rows: {} inserted, {} updated, {} unchanged, {} deleted (copy {:.1}s, merge \
             {:.1}s, indexes {:.1}s, analyze {:.1}s)",
            report.rows,
            report.inserted,
            report.updated,
            report.unchanged,
            report.deleted,
            report.copy_s,
            report.merge_s,
            report.index_s,
            report.analyze_s
        ));
        let mut out = OpOutput {
            lineage: self.lineage(&options.url, &dataset, &tables)?,
            content_key: Some(content_key),
            metrics: counters(&[
                ("rows", report.rows),
                ("inserted", report.inserted),
                ("updated", report.updated),
                ("unchanged", report.unchanged),
                ("deleted", report.deleted),
            ]),
            ..OpOutput::default()
        };
        for (name, seconds) in [
            ("copy_s", report.copy_s),
            ("merge_s", report.merge_s),
            ("index_s", report.index_s),
            ("analyze_s", report.analyze_s),
        ] {
            out.metrics.insert(
                name.into(),
                serde_json::json!((seconds * 1000.0).round() / 1000.0),
            );
        }
        if report.created {
            out.metrics.insert("created".into(), true.into());
        }
        if !report.indexes_created.is_empty() {
            out.metrics
                .insert("indexes_created".into(), report.indexes_created.into());
        }
        if !report.added_columns.is_empty() {
            out.metrics
                .insert("added_columns".into(), report.added_columns.into());
        }
        Ok(out)
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    /// The table may have changed since the last load (another version loaded, rows edited
    /// by hand): the load runs every time, and changes nothing when the table already equals
    /// the dataset. The tasks after it stay cached while its input is the same.
    fn always_runs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::yaml::parse;

    #[test]
    fn max_delete_fraction_is_a_share() {
        let reg = crate::registry();
        let spec = reg.get("load.postgres").expect("registered");
        let base = "{input: chunks, table: docs, key: id";
        for ok in [
            "",
            ", max_delete_fraction: 0",
            ", max_delete_fraction: 1",
            ", max_delete_fraction: 0.9, allow_empty: true",
        ] {
            let yaml = format!("{base}{ok}}}");
            assert!((spec.build)(&parse(&yaml).expect("yaml")).is_ok(), "{yaml}");
        }
        for bad in ["1.5", "-0.1", "90"] {
            let yaml = format!("{base}, max_delete_fraction: {bad}}}");
            let err = (spec.build)(&parse(&yaml).expect("yaml"))
                .err()
                .expect("refused");
            assert_eq!(
                err.message,
                "`max_delete_fraction` must be between 0 and 1 (the share of the table's rows \
                 one `sync` load may delete)",
                "{yaml}"
            );
        }
    }
}
