//! A dataset into a PostgreSQL table, so that readers see the old table or the new one and
//! never a mix:
//!
//! 1. Checks first, changing nothing: the dataset's columns, the pgvector extension, the
//!    existing table's columns (types, vector dimensions) and its unique key.
//! 2. One transaction (serialised per table by an advisory lock): create or migrate the
//!    table; binary COPY into a temporary staging table, then one upsert that rewrites only
//!    the rows that differ, and (mode `sync`) one delete of the rows whose key left the
//!    dataset. Before the merge, a `sync` load that would delete more than
//!    `max_delete_fraction` of the table's rows, or empty it with an empty dataset, is
//!    refused (the transaction rolls back). Into an empty table the COPY goes straight in and
//!    the HNSW index is built after it. A killed process or a failed statement rolls it all
//!    back.
//! 3. `ANALYZE` once committed.
//!
//! Loading the same dataset twice changes nothing: no row is rewritten.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, Transaction};

use super::columns::{self, Column, ColumnSpec, Existing, PgType};
use super::copy::{Encoder, HEADER, TRAILER};
use super::{db_err, identifier, quote_ident, quote_literal};
use crate::{Error, Result};

/// What happens to rows of the table whose key is not in the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// They are deleted: the table equals the dataset (deleted documents disappear).
    #[default]
    Sync,
    /// They stay: rows are only inserted or updated.
    Upsert,
}

/// The distance an HNSW index serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine distance (`<=>`).
    #[default]
    Cosine,
    /// Euclidean distance (`<->`).
    L2,
    /// Negative inner product (`<#>`).
    Ip,
}

impl Metric {
    fn opclass(self, half: bool) -> String {
        let prefix = if half { "halfvec" } else { "vector" };
        let suffix = match self {
            Metric::Cosine => "cosine_ops",
            Metric::L2 => "l2_ops",
            Metric::Ip => "ip_ops",
        };
        format!("{prefix}_{suffix}")
    }
}

/// The HNSW index of the vector column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hnsw {
    /// The distance.
    pub metric: Metric,
    /// Links per node (pgvector's default 16).
    pub m: u32,
    /// Candidates while building (pgvector's default 64).
    pub ef_construction: u32,
}

/// What to load where.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The dataset's folder of Parquet files.
    pub dataset: PathBuf,
    /// The table's schema (default: the first of the search path).
    pub schema: Option<String>,
    /// The table.
    pub table: String,
    /// The key's columns (table names): the primary key of a created table, the conflict
    /// target of the upsert.
    pub key: Vec<String>,
    /// A column to index with a B-tree (the document id, for deletes and filters).
    pub document: Option<String>,
    /// Foreign keys: each column refers to a row of another table (`ON DELETE CASCADE`),
    /// and gets a B-tree index.
    pub references: Vec<Reference>,
    /// Which columns, under which names and types.
    pub columns: ColumnSpec,
    /// Sync or upsert.
    pub mode: Mode,
    /// Mode `sync`: the largest share (0 to 1) of the table's rows one load may delete; a
    /// load that would delete more is refused and changes nothing.
    pub max_delete_fraction: f64,
    /// Mode `sync`: an empty dataset may empty a non-empty table (else it is refused,
    /// whatever `max_delete_fraction`).
    pub allow_empty: bool,
    /// The HNSW index on the vector column (none: no index).
    pub index: Option<Hnsw>,
    /// Create the pgvector extension when it is missing (needs the right to).
    pub create_extension: bool,
    /// `maintenance_work_mem` while building indexes (pgvector builds HNSW far faster when
    /// the graph fits in it).
    pub maintenance_work_mem: String,
}

/// A foreign key of the loaded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The loaded table's column.
    pub column: String,
    /// The table it refers to (in the loaded table's schema).
    pub table: String,
    /// That table's column (its key).
    pub to: String,
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Rows in the dataset.
    pub rows: u64,
    /// Rows added to the table.
    pub inserted: u64,
    /// Rows whose values changed.
    pub updated: u64,
    /// Rows already equal to the dataset's.
    pub unchanged: u64,
    /// Rows removed because their key left the dataset.
    pub deleted: u64,
    /// The table was created.
    pub created: bool,
    /// Columns added to an existing table.
    pub added_columns: Vec<String>,
    /// Indexes created (HNSW, B-tree).
    pub indexes_created: Vec<String>,
    /// The rows went straight into the (empty) table, with no staging table.
    pub direct: bool,
    /// Seconds reading and sending the rows.
    pub copy_s: f64,
    /// Seconds merging the staging table.
    pub merge_s: f64,
    /// Seconds building indexes.
    pub index_s: f64,
    /// Seconds of `ANALYZE`.
    pub analyze_s: f64,
}

impl LoadReport {
    /// Adds the report of another table's load (the parts of a split): counts and seconds
    /// summed, `created` and `direct` when any table was.
    pub fn add(&mut self, other: LoadReport) {
        self.rows += other.rows;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
        self.created |= other.created;
        self.added_columns.extend(other.added_columns);
        self.indexes_created.extend(other.indexes_created);
        self.direct |= other.direct;
        self.copy_s += other.copy_s;
        self.merge_s += other.merge_s;
        self.index_s += other.index_s;
        self.analyze_s += other.analyze_s;
    }
}

/// The table as found before loading.
struct Found {
    columns: Vec<Existing>,
    unique_keys: Vec<Vec<String>>,
}

async fn find_table(client: &Client, qualified: &str) -> Result<Option<Found>> {
    let reading = db_err("reading the table's definition");
    let kind = client
        .query_opt(
            "SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[&qualified],
        )
        .await
        .map_err(&reading)?;
    let Some(kind) = kind else {
        return Ok(None);
    };
    let kind: String = kind.get(0);
    if kind != "r" && kind != "p" {
        return Err(Error(format!(
            "{qualified} exists and is not a table (relkind {kind}): load into another name"
        )));
    }
    let columns = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             a.atthasdef FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&qualified],
        )
        .await
        .map_err(&reading)?
        .iter()
        .map(|r| Existing {
            name: r.get(0),
            ty: r.get(1),
            not_null: r.get(2),
            has_default: r.get(3),
        })
        .collect();
    let unique_keys = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL \
             AND i.indexprs IS NULL GROUP BY i.indexrelid",
            &[&qualified],
        )
        .await
        .map_err(&reading)?
        .iter()
        .map(|r| r.get::<_, Vec<String>>(0))
        .collect();
    Ok(Some(Found {
        columns,
        unique_keys,
    }))
}

async fn pgvector_version(client: &Client) -> Result<Option<String>> {
    client
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .await
        .map(|r| r.map(|r| r.get::<_, String>(0)))
        .map_err(db_err("looking for the pgvector extension"))
}

/// pgvector's version, installing it when allowed.
async fn pgvector(client: &Client, create: bool, half: bool) -> Result<String> {
    let mut found = pgvector_version(client).await?;
    if found.is_none() && create {
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .await
            .map_err(|e| {
                Error(format!(
                    "the pgvector extension is not installed in this database and could not \
                     be created: {}; install pgvector on the server and run CREATE EXTENSION \
                     vector as a user allowed to",
                    super::pg_message(&e)
                ))
            })?;
        found = pgvector_version(client).await?;
    }
    let Some(found) = found else {
        return Err(Error(
            "the pgvector extension is not installed in this database \
             (`create_extension: false`): run CREATE EXTENSION vector, or allow sluice to"
                .into(),
        ));
    };
    let parts: Vec<u32> = found.split('.').filter_map(|p| p.parse().ok()).collect();
    if half && parts.as_slice() < [0, 7].as_slice() {
        return Err(Error(format!(
            "pgvector {found} has no halfvec type (pgvector 0.7.0 added it): upgrade \
             pgvector (ALTER EXTENSION vector UPDATE) or load `vector_type: vector`"
        )));
    }
    Ok(found)
}

/// `name` in `schema` (the search path's first when none), quoted for SQL.
fn qualify(schema: Option<&String>, name: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// The HNSW indexes of a table: (index name, the column it indexes).
async fn hnsw_indexes(
    tx: &tokio_postgres::Transaction<'_>,
    qualified: &str,
) -> Result<Vec<(String, String)>> {
    Ok(tx
        .query(
            "SELECT c.relname::text, a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = to_regclass($1) AND am.amname = 'hnsw'",
            &[&qualified],
        )
        .await
        .map_err(db_err("reading the table's indexes"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Refuses a `sync` load that would delete `leaving` of the table's `existing` rows when that
/// is more than `spec.max_delete_fraction` of them, or all of them with an empty dataset
/// (`copied` rows) unless `spec.allow_empty`.
fn check_deletes(
    spec: &LoadSpec,
    shown: &str,
    existing: u64,
    leaving: u64,
    copied: u64,
) -> Result<()> {
    if leaving == 0 || existing == 0 {
        return Ok(());
    }
    if copied == 0 {
        if spec.allow_empty {
            return Ok(());
        }
        return Err(Error(format!(
            "load.postgres into table `{shown}` would delete all its {} rows: the dataset is \
             empty, so nothing was changed; if this is intended, set `allow_empty: true` on \
             the task",
            thousands(existing)
        )));
    }
    // Both sides are the nearest f64 of the exact values: 29 of 100 rows is not above 0.29.
    let max = spec.max_delete_fraction;
    let fraction = leaving as f64 / existing as f64;
    if fraction <= max {
        return Ok(());
    }
    let percent = fraction * 100.0;
    // The fewest decimals that still show the excess (50.01%, not 50%, above 0.5).
    let shown_percent = (0..3)
        .map(|d| format!("{percent:.d$}"))
        .find(|p| p.parse::<f64>().is_ok_and(|v| v / 100.0 > max))
        .unwrap_or_else(|| format!("{percent:.3}"));
    // The smallest setting with two decimals that lets this load through.
    let hundredths = (u128::from(leaving) * 100).div_ceil(u128::from(existing));
    let needed = match hundredths {
        100.. => "1.0".to_string(),
        h => format!("0.{h:02}").trim_end_matches('0').to_string(),
    };
    Err(Error(format!(
        "load.postgres into table `{shown}` would delete {} of its {} rows ({shown_percent}% > \
         max_delete_fraction {max}), so nothing was changed; if this is intended, set \
         `max_delete_fraction: {needed}` (or higher) on the task",
        thousands(leaving),
        thousands(existing)
    )))
}

fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table a load writes, its columns, and the names its statements use.
struct Target<'a> {
    spec: &'a LoadSpec,
    /// The loaded columns.
    columns: Vec<Column>,
    /// The table, quoted and qualified.
    qualified: String,
    /// The table as messages name it (`schema.table`).
    shown: String,
    /// The key columns, quoted, comma-separated.
    key_sql: String,
    /// The loaded columns, quoted, comma-separated.
    cols_sql: String,
}

impl Target<'_> {
    /// The vector columns.
    fn vectors(&self) -> Vec<&Column> {
        self.columns.iter().filter(|c| c.ty.is_vector()).collect()
    }
}

/// Loads the dataset. `on_line` is told each step; `on_rows` how many rows were sent.
///
/// Everything is checked before anything changes; then one transaction (under an advisory
/// lock per table) creates or migrates the table, copies the rows (straight into an empty
/// table, else into a staging table merged by key), creates the indexes and commits; the
/// planner's statistics follow.
pub async fn load(
    client: &mut Client,
    spec: &LoadSpec,
    on_line: &(dyn Fn(&str) + Send + Sync),
    on_rows: std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>,
) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    // 1. Checks, nothing changed yet.
    let total = sluice_data::export::dataset_rows(&spec.dataset)?;
    report.rows = total;
    let t = checked(spec)?;
    if !t.vectors().is_empty() {
        let version = pgvector(client, spec.create_extension, spec.columns.half).await?;
        on_line(&format!("pgvector {version}"));
    }
    let found = find_table(client, &t.qualified).await?;
    let added = match &found {
        Some(found) => existing_table(&t, found)?,
        None => Vec::new(),
    };

    // 2. One transaction.
    let tx = client
        .transaction()
        .await
        .map_err(db_err("starting the transaction"))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("sluice.load:{}", t.qualified)],
    )
    .await
    .map_err(db_err("waiting for another load of this table"))?;
    tx.batch_execute(&format!(
        "SET LOCAL maintenance_work_mem = {}",
        quote_literal(&spec.maintenance_work_mem)
    ))
    .await
    .map_err(db_err("`maintenance_work_mem`"))?;
    // Read under the lock: no other load changes them until the commit.
    let mut hnsw_indexed = match found {
        Some(_) => hnsw_indexes(&tx, &t.qualified).await?,
        None => Vec::new(),
    };
    if found.is_none() {
        create_table(&tx, &t).await?;
        report.created = true;
        on_line(&format!("created table {}", t.shown));
    }
    add_columns(&tx, &t, &added, &mut report, on_line).await?;
    let empty = report.created
        || tx
            .query_one(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", t.qualified),
                &[],
            )
            .await
            .map_err(db_err(&format!("reading {}", t.shown)))?
            .get::<_, bool>(0);
    report.direct = empty;
    if empty && spec.index.is_some() {
        // Into an empty table the index is built after the rows, far faster than row by row.
        for (name, _) in hnsw_indexed.drain(..) {
            tx.batch_execute(&format!(
                "DROP INDEX {}",
                qualify(spec.schema.as_ref(), &name)
            ))
            .await
            .map_err(db_err("dropping the HNSW index of the empty table"))?;
        }
    }
    let copy_into = if empty {
        t.qualified.clone()
    } else {
        create_staging(&tx, &t).await?;
        "sluice_stage".to_string()
    };
    let started = Instant::now();
    let copied = copy_rows(&tx, &t, &copy_into, total, on_rows).await?;
    report.copy_s = started.elapsed().as_secs_f64();
    on_line(&format!(
        "copied {copied} rows in {:.1}s{}",
        report.copy_s,
        if empty { "" } else { " into the staging table" }
    ));
    let started = Instant::now();
    if empty {
        report.inserted = copied;
    } else {
        merge(&tx, &t, copied, &mut report).await?;
    }
    report.unchanged = copied.saturating_sub(report.inserted + report.updated);
    report.merge_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    create_indexes(&tx, &t, &hnsw_indexed, &mut report, on_line).await?;
    report.index_s = started.elapsed().as_secs_f64();
    tx.commit()
        .await
        .map_err(db_err(&format!("committing the load of {}", t.shown)))?;

    // 3. Statistics for the planner.
    if report.inserted + report.updated + report.deleted > 0 {
        let started = Instant::now();
        client
            .batch_execute(&format!("ANALYZE {}", t.qualified))
            .await
            .map_err(db_err(&format!("analysing {}", t.shown)))?;
        report.analyze_s = started.elapsed().as_secs_f64();
    }
    Ok(report)
}

/// The load's target once its settings are checked against the dataset's columns: a key of
/// loaded, comparable columns, a share of deletes between 0 and 1, a `document` column that
/// is loaded, one vector column at most when an index is asked for.
fn checked(spec: &LoadSpec) -> Result<Target<'_>> {
    let schema = sluice_data::export::dataset_schema(&spec.dataset)?;
    let columns = columns::plan(&schema, &spec.columns)?;
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let column_named = |name: &str, what: &str| -> Result<&Column> {
        columns.iter().find(|c| c.name == name).ok_or_else(|| {
            Error(format!(
                "{what} `{name}` is not one of the loaded columns ({})",
                names.join(", ")
            ))
        })
    };
    if spec.key.is_empty() {
        return Err(Error("`key` names no column".into()));
    }
    if !(0.0..=1.0).contains(&spec.max_delete_fraction) {
        return Err(Error(format!(
            "`max_delete_fraction` is {}: it must be between 0 and 1 (the share of the table's \
             rows one `sync` load may delete)",
            spec.max_delete_fraction
        )));
    }
    for k in &spec.key {
        let c = column_named(k, "the key column")?;
        if c.ty.is_vector() || c.ty == PgType::Jsonb {
            return Err(Error(format!(
                "the key column `{k}` is {}: a key must be text, a number or a date",
                c.ty.sql()
            )));
        }
    }
    if let Some(d) = &spec.document {
        column_named(d, "`document`")?;
    }
    for r in &spec.references {
        column_named(&r.column, "the referencing column")?;
    }
    let vectors: Vec<&Column> = columns.iter().filter(|c| c.ty.is_vector()).collect();
    if spec.index.is_some() && vectors.len() > 1 {
        return Err(Error(format!(
            "the dataset has {} vector columns ({}): say which to load with `columns`, or \
             set `index: none`",
            vectors.len(),
            vectors
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let key_sql = spec
        .key
        .iter()
        .map(|k| quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    let shown = match &spec.schema {
        Some(s) => format!("{s}.{}", spec.table),
        None => spec.table.clone(),
    };
    Ok(Target {
        spec,
        cols_sql: column_list(&columns),
        columns,
        qualified: qualify(spec.schema.as_ref(), &spec.table),
        shown,
        key_sql,
    })
}

/// The columns to add to the table that exists, once it is known to take the load: its
/// columns are compatible and it has a primary key or unique index on the key.
fn existing_table(t: &Target<'_>, found: &Found) -> Result<Vec<Column>> {
    let (spec, shown) = (t.spec, &t.shown);
    let added = columns::migration(shown, &t.columns, &found.columns)?;
    let mut want: Vec<&str> = spec.key.iter().map(String::as_str).collect();
    want.sort();
    let has_key = found.unique_keys.iter().any(|k| {
        let mut k: Vec<&str> = k.iter().map(String::as_str).collect();
        k.sort();
        k == want
    });
    if !has_key {
        return Err(Error(format!(
            "table {shown} has no primary key or unique index on ({}), which the merge \
             needs: add one (ALTER TABLE {shown} ADD PRIMARY KEY ({})), or load into a \
             new table",
            spec.key.join(", "),
            spec.key.join(", ")
        )));
    }
    Ok(added)
}

/// Creates the table, its key the primary key. Vectors that fit stay in the row,
/// uncompressed: no TOAST lookups when comparing or scanning them, no wasted attempts at
/// compressing floats.
async fn create_table(tx: &Transaction<'_>, t: &Target<'_>) -> Result<()> {
    let qualified = &t.qualified;
    let defs: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let not_null = if c.not_null || t.spec.key.contains(&c.name) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {}{not_null}", quote_ident(&c.name), c.ty.sql())
        })
        .collect();
    tx.batch_execute(&format!(
        "CREATE TABLE {qualified} ({}, PRIMARY KEY ({}))",
        defs.join(", "),
        t.key_sql
    ))
    .await
    .map_err(db_err(&format!("creating table {}", t.shown)))?;
    for c in &t.columns {
        let bytes = match c.ty {
            PgType::Vector(n) => n * 4,
            PgType::HalfVec(n) => n * 2,
            _ => continue,
        };
        if bytes <= 4096 {
            tx.batch_execute(&format!(
                "ALTER TABLE {qualified} ALTER COLUMN {} SET STORAGE PLAIN",
                quote_ident(&c.name)
            ))
            .await
            .map_err(db_err(&format!("setting the storage of `{}`", c.name)))?;
        }
    }
    Ok(())
}

/// Adds the columns the dataset has and the table lacks.
async fn add_columns(
    tx: &Transaction<'_>,
    t: &Target<'_>,
    added: &[Column],
    report: &mut LoadReport,
    on_line: &(dyn Fn(&str) + Send + Sync),
) -> Result<()> {
    let shown = &t.shown;
    for c in added {
        tx.batch_execute(&format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            t.qualified,
            quote_ident(&c.name),
            c.ty.sql()
        ))
        .await
        .map_err(db_err(&format!("adding column `{}` to {shown}", c.name)))?;
        report.added_columns.push(c.name.clone());
        on_line(&format!(
            "added column {} {} to {shown}",
            c.name,
            c.ty.sql()
        ));
    }
    Ok(())
}

/// The staging table a load into a table with rows copies into, dropped at the commit.
async fn create_staging(tx: &Transaction<'_>, t: &Target<'_>) -> Result<()> {
    let defs: Vec<String> = t
        .columns
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.ty.sql()))
        .collect();
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE sluice_stage ({}) ON COMMIT DROP",
        defs.join(", ")
    ))
    .await
    .map_err(db_err("creating the staging table"))?;
    Ok(())
}

/// Copies the dataset's rows into `copy_into` with binary COPY: the rows are encoded on a
/// blocking thread while the previous megabyte is sent. Returns the rows copied.
async fn copy_rows(
    tx: &Transaction<'_>,
    t: &Target<'_>,
    copy_into: &str,
    total: u64,
    on_rows: std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>,
) -> Result<u64> {
    let shown = &t.shown;
    let sink = tx
        .copy_in(&format!(
            "COPY {copy_into} ({}) FROM STDIN (FORMAT binary)",
            t.cols_sql
        ))
        .await
        .map_err(db_err("starting COPY"))?;
    futures_util::pin_mut!(sink);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Bytes>>(8);
    let dataset = t.spec.dataset.clone();
    let key = t.spec.key.clone();
    let encode_columns = t.columns.clone();
    let encoder = tokio::task::spawn_blocking(move || {
        let send = |r: Result<Bytes>| sender.blocking_send(r).is_ok();
        let mut encoder = match Encoder::new(encode_columns, &key, total as usize) {
            Ok(e) => e,
            Err(e) => {
                send(Err(e));
                return;
            }
        };
        let mut buf = HEADER.to_vec();
        let read = sluice_data::export::for_each_batch(&dataset, |_, batch| {
            if let Err(e) = encoder.encode(&batch, &mut buf) {
                return Err(sluice_data::DataError::Engine(e.0));
            }
            on_rows(encoder.rows, total);
            if buf.len() >= 1 << 20 && !send(Ok(Bytes::from(std::mem::take(&mut buf)))) {
                return Err(sluice_data::DataError::Engine("stopped".into()));
            }
            Ok(())
        });
        match read {
            Ok(_) => {
                buf.extend_from_slice(TRAILER);
                send(Ok(Bytes::from(buf)));
            }
            Err(e) => {
                send(Err(Error(e.to_string())));
            }
        }
    });
    while let Some(chunk) = receiver.recv().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                return Err(Error(format!("{e}; nothing was changed in {shown}")));
            }
        };
        sink.send(chunk).await.map_err(|e| {
            Error(format!(
                "sending rows to {shown}: {}",
                super::pg_message(&e)
            ))
        })?;
    }
    encoder
        .await
        .map_err(|e| Error(format!("reading the dataset stopped unexpectedly: {e}")))?;
    sink.finish().await.map_err(|e| {
        Error(format!(
            "loading rows into {shown}: {}; nothing was changed",
            super::pg_message(&e)
        ))
    })
}

/// Merges the staging table into the table by key with hash joins: rows that differ are
/// rewritten, equal rows are not touched, new keys are inserted, and in `sync` mode the rows
/// that left the dataset are deleted (within `max_delete_fraction`, counted first).
async fn merge(
    tx: &Transaction<'_>,
    t: &Target<'_>,
    copied: u64,
    report: &mut LoadReport,
) -> Result<()> {
    let (spec, qualified, shown, cols_sql) = (t.spec, &t.qualified, &t.shown, &t.cols_sql);
    tx.batch_execute("ANALYZE sluice_stage")
        .await
        .map_err(db_err("analysing the staging table"))?;
    let others: Vec<&Column> = t
        .columns
        .iter()
        .filter(|c| !spec.key.contains(&c.name))
        .collect();
    let matches: Vec<String> = spec
        .key
        .iter()
        .map(|k| format!("s.{0} = t.{0}", quote_ident(k)))
        .collect();
    let matches = matches.join(" AND ");
    if spec.mode == Mode::Sync {
        // Before any row changes: how many rows the delete below would remove.
        let counts = tx
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM {qualified}), (SELECT count(*) FROM \
                     {qualified} AS t WHERE NOT EXISTS (SELECT 1 FROM sluice_stage s \
                     WHERE {matches}))"
                ),
                &[],
            )
            .await
            .map_err(db_err(&format!("counting the rows of {shown}")))?;
        let existing = counts.get::<_, i64>(0).max(0) as u64;
        let leaving = counts.get::<_, i64>(1).max(0) as u64;
        check_deletes(spec, shown, existing, leaving, copied)?;
    }
    if !others.is_empty() {
        let list = |prefix: &str| -> String {
            others
                .iter()
                .map(|c| format!("{prefix}{}", quote_ident(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let set: Vec<String> = others
            .iter()
            .map(|c| format!("{0} = s.{0}", quote_ident(&c.name)))
            .collect();
        report.updated = tx
            .execute(
                &format!(
                    "UPDATE {qualified} AS t SET {} FROM sluice_stage s WHERE {matches} \
                     AND ({}) IS DISTINCT FROM ({})",
                    set.join(", "),
                    list("t."),
                    list("s.")
                ),
                &[],
            )
            .await
            .map_err(db_err(&format!("updating the changed rows of {shown}")))?;
    }
    // A row another writer added meanwhile under a new key is overwritten, not an error.
    let on_conflict = if others.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let set: Vec<String> = others
            .iter()
            .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(&c.name)))
            .collect();
        format!("DO UPDATE SET {}", set.join(", "))
    };
    report.inserted = tx
        .execute(
            &format!(
                "INSERT INTO {qualified} ({cols_sql}) SELECT {cols_sql} FROM sluice_stage s \
                 WHERE NOT EXISTS (SELECT 1 FROM {qualified} t WHERE {matches}) \
                 ON CONFLICT ({}) {on_conflict}",
                t.key_sql
            ),
            &[],
        )
        .await
        .map_err(db_err(&format!("inserting the new rows into {shown}")))?;
    if spec.mode == Mode::Sync {
        report.deleted = tx
            .execute(
                &format!(
                    "DELETE FROM {qualified} AS t WHERE NOT EXISTS \
                     (SELECT 1 FROM sluice_stage s WHERE {matches})"
                ),
                &[],
            )
            .await
            .map_err(db_err(&format!(
                "deleting the rows of {shown} that left the dataset"
            )))?;
    }
    Ok(())
}

/// The B-tree index of the `document` column and the HNSW index of the vector column, each
/// created when the table lacks it (`hnsw_indexed`: the vector columns indexed already).
async fn create_indexes(
    tx: &Transaction<'_>,
    t: &Target<'_>,
    hnsw_indexed: &[(String, String)],
    report: &mut LoadReport,
    on_line: &(dyn Fn(&str) + Send + Sync),
) -> Result<()> {
    let (spec, qualified) = (t.spec, &t.qualified);
    let btree = spec
        .document
        .iter()
        .chain(spec.references.iter().map(|r| &r.column));
    for column in btree {
        let name = identifier(&format!("idx_{}_{column}", spec.table));
        let created = tx
            .query_one(
                "SELECT to_regclass($1) IS NULL",
                &[&qualify(spec.schema.as_ref(), &name)],
            )
            .await
            .map_err(db_err("reading the table's indexes"))?
            .get::<_, bool>(0);
        if created {
            tx.batch_execute(&format!(
                "CREATE INDEX {} ON {qualified} ({})",
                quote_ident(&name),
                quote_ident(column)
            ))
            .await
            .map_err(db_err(&format!("creating index {name}")))?;
            report.indexes_created.push(name);
        }
    }
    for r in &spec.references {
        let name = identifier(&format!("fk_{}_{}", spec.table, r.column));
        let exists = tx
            .query_one(
                "SELECT count(*) > 0 FROM pg_constraint WHERE conname = $1 AND conrelid = to_regclass($2)",
                &[&name, &t.qualified],
            )
            .await
            .map_err(db_err("reading the table's foreign keys"))?
            .get::<_, bool>(0);
        if !exists {
            tx.batch_execute(&format!(
                "ALTER TABLE {qualified} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE CASCADE",
                quote_ident(&name),
                quote_ident(&r.column),
                qualify(spec.schema.as_ref(), &r.table),
                quote_ident(&r.to)
            ))
            .await
            .map_err(db_err(&format!(
                "adding the foreign key {name} ({} → {}.{}; load {} first)",
                r.column, r.table, r.to, r.table
            )))?;
            report.indexes_created.push(name);
        }
    }
    let vectors = t.vectors();
    if let (Some(hnsw), Some(vector)) = (spec.index, vectors.first())
        && !hnsw_indexed
            .iter()
            .any(|(_, column)| *column == vector.name)
    {
        let name = identifier(&format!("{}_{}_hnsw", spec.table, vector.name));
        let half = matches!(vector.ty, PgType::HalfVec(_));
        on_line(&format!(
            "building HNSW index {name} ({} rows, m {}, ef_construction {})",
            report.inserted, hnsw.m, hnsw.ef_construction
        ));
        tx.batch_execute(&format!(
            "CREATE INDEX {} ON {qualified} USING hnsw ({} {}) WITH (m = {}, ef_construction = {})",
            quote_ident(&name),
            quote_ident(&vector.name),
            hnsw.metric.opclass(half),
            hnsw.m,
            hnsw.ef_construction
        ))
        .await
        .map_err(db_err(&format!("creating the HNSW index {name}")))?;
        report.indexes_created.push(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max_delete_fraction: f64, allow_empty: bool) -> LoadSpec {
        LoadSpec {
            dataset: PathBuf::new(),
            schema: None,
            table: "docs".into(),
            key: vec!["id".into()],
            document: None,
            references: Vec::new(),
            columns: ColumnSpec::default(),
            mode: Mode::Sync,
            max_delete_fraction,
            allow_empty,
            index: None,
            create_extension: false,
            maintenance_work_mem: "64MB".into(),
        }
    }

    #[test]
    fn thousands_are_separated() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
        ];
        for (n, want) in cases {
            assert_eq!(thousands(n), want);
        }
    }

    #[test]
    fn deletes_above_the_fraction_are_refused_with_the_setting_that_allows_them() {
        let s = spec(0.5, false);
        assert!(check_deletes(&s, "docs", 10_000, 5_000, 5_000).is_ok());
        assert!(
            check_deletes(&s, "docs", 10_000, 0, 0).is_ok(),
            "nothing deleted"
        );
        let err = check_deletes(&s, "docs", 10_000, 5_001, 4_999).expect_err("above");
        assert_eq!(
            err.0,
            "load.postgres into table `docs` would delete 5,001 of its 10,000 rows (50.01% > \
             max_delete_fraction 0.5), so nothing was changed; if this is intended, set \
             `max_delete_fraction: 0.51` (or higher) on the task"
        );
        // The suggested setting lets the same load through, also at a decimal f64 cannot hold.
        for (existing, leaving, needed) in [(10_000, 5_001, 0.51), (100, 29, 0.29), (3, 2, 0.67)] {
            let err =
                check_deletes(&spec(0.2, false), "docs", existing, leaving, 1).expect_err("above");
            assert!(
                err.0.contains(&format!("`max_delete_fraction: {needed}`")),
                "{}",
                err.0
            );
            assert!(check_deletes(&spec(needed, false), "docs", existing, leaving, 1).is_ok());
        }
        let err = check_deletes(&spec(0.0, false), "docs", 7, 7, 3).expect_err("all");
        assert!(
            err.0
                .contains("7 of its 7 rows (100% > max_delete_fraction 0)"),
            "{}",
            err.0
        );
        assert!(err.0.contains("`max_delete_fraction: 1.0`"), "{}", err.0);
    }

    #[test]
    fn an_empty_dataset_needs_allow_empty_whatever_the_fraction() {
        let err = check_deletes(&spec(1.0, false), "s.docs", 1_200, 1_200, 0).expect_err("empty");
        assert_eq!(
            err.0,
            "load.postgres into table `s.docs` would delete all its 1,200 rows: the dataset is \
             empty, so nothing was changed; if this is intended, set `allow_empty: true` on the \
             task"
        );
        assert!(check_deletes(&spec(0.5, true), "docs", 1_200, 1_200, 0).is_ok());
    }
}
