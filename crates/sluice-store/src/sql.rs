//! [`SqlStore`]: the SQL implementation of [`StateStore`] on SQLite and PostgreSQL.
//!
//! Queries are written once with `$1`-style placeholders; on SQLite they become `?1`.
//! The schema uses only `TEXT` and `BIGINT`, so one migration serves both backends.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row};

use crate::records::{
    AliasRecord, AttemptRecord, DatasetVersionRecord, LineageRecord, Micros, RunFilter, RunRecord,
    SlotRecord, TaskRunRecord, TokenRecord, UserRecord, Write,
};
use crate::{Result, StateStore, StoreError};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "attempt pid",
        include_str!("../migrations/0002_attempt_pid.sql"),
    ),
    (
        3,
        "datasets",
        include_str!("../migrations/0003_datasets.sql"),
    ),
    (
        4,
        "dataset state",
        include_str!("../migrations/0004_dataset_state.sql"),
    ),
    (
        5,
        "schedule slots",
        include_str!("../migrations/0005_schedule_slots.sql"),
    ),
    (6, "auth", include_str!("../migrations/0006_auth.sql")),
    (7, "aliases", include_str!("../migrations/0007_aliases.sql")),
    (8, "lineage", include_str!("../migrations/0008_lineage.sql")),
    (
        9,
        "work queue",
        include_str!("../migrations/0009_work_queue.sql"),
    ),
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The state store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// PostgreSQL connections that LISTEN for the workers' notifications, opened on first
    /// wait.
    pub(crate) listeners: std::sync::Arc<crate::queue::Listeners>,
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl SqlStore {
    /// Opens (creating if needed) a SQLite store at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<SqlStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Connect {
                url: path.display().to_string(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Self::connect(&format!("sqlite://{}?mode=rwc", abs.display())).await
    }

    /// Closes the store's connections (a SQLite store's write-ahead log is folded into its
    /// file when the last one closes).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes a consistent copy of a SQLite store to `dest` (`VACUUM INTO`), while others
    /// go on writing; `dest` must not exist. A PostgreSQL store is refused: copy it with
    /// `pg_dump`.
    pub async fn snapshot_to(&self, dest: &Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Corrupt(
                "a PostgreSQL state store is not copied by sluice: back it up with pg_dump".into(),
            ));
        }
        sqlx::query("VACUUM INTO ?")
            .bind(dest.display().to_string())
            .execute(&self.pool)
            .await
            .map_err(query_err("copying the state store"))?;
        Ok(())
    }

    /// Connects to `sqlite://PATH` or `postgres://…` and migrates the schema.
    pub async fn connect(url: &str) -> Result<SqlStore> {
        Self::connect_pooled(url, 8).await
    }

    /// [`SqlStore::connect`] keeping at most `connections` connections open to PostgreSQL
    /// (a pool grows to its limit under quick successive queries: a worker, one of many,
    /// keeps few). SQLite keeps 4.
    pub async fn connect_pooled(url: &str, connections: u32) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Unsupported(redact_url(url)));
        };
        let mut options = AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite {
            4
        } else {
            connections.max(1)
        });
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact_url(url),
                source,
            })?;
        let migrator = Migrator {
            migrations: Cow::Owned(
                MIGRATIONS
                    .iter()
                    .map(|(v, d, sql)| {
                        Migration::new(
                            *v,
                            Cow::Borrowed(*d),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        // Two processes opening a new SQLite store at once (workers starting together) may
        // both try a migration: the loser's transaction rolls back, and on a second look
        // it finds the migration applied. PostgreSQL's migrations take a lock instead.
        let mut tries = 0;
        loop {
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(_) if backend == Backend::Sqlite && tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
                }
                Err(source) => {
                    return Err(StoreError::Migrate {
                        url: redact_url(url),
                        source,
                    });
                }
            }
        }
        Ok(SqlStore {
            pool,
            backend,
            listeners: Default::default(),
        })
    }

    async fn users_where(&self, name: Option<&str>) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(&self.q(
            "SELECT name, hash, role, created_at, disabled_at FROM users \
             WHERE ($1 = '' OR name = $1) ORDER BY name",
        ))
        .bind(name.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading users"))?;
        rows.iter()
            .map(|row| {
                Ok(UserRecord {
                    name: get(row, "name")?,
                    hash: get(row, "hash")?,
                    role: get(row, "role")?,
                    created_at: get(row, "created_at")?,
                    disabled_at: get(row, "disabled_at")?,
                })
            })
            .collect()
    }

    /// Tokens matching `condition` on `$1`, oldest first.
    async fn tokens_where(&self, condition: &str, value: &str) -> Result<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT id, hash, kind, user_name, label, role, created_at, expires_at, last_used_at, \
             revoked_at FROM tokens WHERE {condition} ORDER BY created_at, id"
        );
        let rows = sqlx::query(&self.q(&sql))
            .bind(value)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("reading tokens"))?;
        rows.iter()
            .map(|row| {
                Ok(TokenRecord {
                    id: get(row, "id")?,
                    hash: get(row, "hash")?,
                    kind: get(row, "kind")?,
                    user_name: get(row, "user_name")?,
                    label: get(row, "label")?,
                    role: get(row, "role")?,
                    created_at: get(row, "created_at")?,
                    expires_at: get(row, "expires_at")?,
                    last_used_at: get(row, "last_used_at")?,
                    revoked_at: get(row, "revoked_at")?,
                })
            })
            .collect()
    }

    /// The SQL for this backend: `$1` placeholders become `?1` on SQLite.
    pub(crate) fn q<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.backend {
            Backend::Postgres => Cow::Borrowed(sql),
            Backend::Sqlite => Cow::Owned(sql.replace('$', "?")),
        }
    }
}

pub(crate) fn query_err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

fn parse<T: FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    T::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col).map_err(query_err("reading a row"))
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord> {
    let params: String = get(row, "params")?;
    Ok(RunRecord {
        id: get(row, "id")?,
        pipeline: get(row, "pipeline")?,
        file: get(row, "file")?,
        params: serde_json::from_str(&params)
            .map_err(|e| StoreError::Corrupt(format!("run params: {e}")))?,
        state: parse(&get::<String>(row, "state")?)?,
        trigger: get(row, "trigger")?,
        started_at: get(row, "started_at")?,
        ended_at: get(row, "ended_at")?,
        pid: get(row, "pid")?,
        host: get(row, "host")?,
        error: get(row, "error")?,
    })
}

const DATASET_COLUMNS: &str = "v.pipeline, v.task, v.version, v.path, v.schema, v.rows, v.bytes, v.run_id, v.created_at, v.state, l.updated_at AS latest_since";

fn dataset_from_row(row: &AnyRow) -> Result<DatasetVersionRecord> {
    Ok(DatasetVersionRecord {
        pipeline: get(row, "pipeline")?,
        task: get(row, "task")?,
        version: get(row, "version")?,
        path: get(row, "path")?,
        schema: get(row, "schema")?,
        rows: get::<i64>(row, "rows")?.max(0) as u64,
        bytes: get::<i64>(row, "bytes")?.max(0) as u64,
        run_id: get(row, "run_id")?,
        created_at: get(row, "created_at")?,
        latest_since: get(row, "latest_since")?,
        state: get(row, "state")?,
    })
}

const RUN_COLUMNS: &str =
    "id, pipeline, file, params, state, trigger, started_at, ended_at, pid, host, error";

/// The insert of a run whose [`RUN_COLUMNS`] come from `values` (`VALUES ($1…$11)`, or a
/// `SELECT` of them under a condition), updating what a run changes when it exists.
fn run_upsert(values: &str) -> String {
    format!(
        "INSERT INTO runs ({RUN_COLUMNS}) {values} \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, params = excluded.params, \
         ended_at = excluded.ended_at, pid = excluded.pid, host = excluded.host, error = excluded.error"
    )
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a run's [`RUN_COLUMNS`] as `$1`…`$11`.
fn bind_run<'q>(q: AnyQuery<'q>, r: &'q RunRecord) -> Result<AnyQuery<'q>> {
    let params =
        serde_json::to_string(&r.params).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(q.bind(&r.id)
        .bind(&r.pipeline)
        .bind(&r.file)
        .bind(params)
        .bind(r.state.as_str())
        .bind(&r.trigger)
        .bind(r.started_at)
        .bind(r.ended_at)
        .bind(r.pid)
        .bind(&r.host)
        .bind(&r.error))
}

/// The statement of one write (values bound by [`bind_write`], `$n` placeholders rewritten
/// for the backend by [`SqlStore::q`]) and what it does, for its error.
fn write_statement(w: &Write) -> (std::borrow::Cow<'static, str>, &'static str) {
    let (sql, what) = match w {
        Write::Run(_) => {
            let sql = run_upsert("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
            return (sql.into(), "recording a run");
        }
        Write::TaskRun(_) => (
            "INSERT INTO task_runs (run_id, task, state, attempts, fingerprint, started_at, ended_at, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (run_id, task) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, \
             fingerprint = excluded.fingerprint, started_at = excluded.started_at, \
             ended_at = excluded.ended_at, error = excluded.error",
            "recording a task state",
        ),
        Write::Attempt(_) => (
            "INSERT INTO attempts (run_id, task, attempt, state, ready_at, started_at, ended_at, exit_code, error, log_path, pid, metrics) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (run_id, task, attempt) DO UPDATE SET state = excluded.state, \
             ended_at = excluded.ended_at, exit_code = excluded.exit_code, error = excluded.error, \
             log_path = excluded.log_path, pid = excluded.pid, metrics = excluded.metrics",
            "recording an attempt",
        ),
        Write::DatasetVersion(_) => (
            "INSERT INTO dataset_versions (pipeline, task, version, path, schema, rows, bytes, run_id, created_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (pipeline, task, version) DO UPDATE SET path = excluded.path, \
             schema = excluded.schema, rows = excluded.rows, bytes = excluded.bytes, \
             run_id = excluded.run_id, created_at = excluded.created_at, state = excluded.state",
            "recording a dataset version",
        ),
        Write::Latest { .. } => (
            "INSERT INTO datasets_latest (pipeline, task, version, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (pipeline, task) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at \
             WHERE datasets_latest.version <> excluded.version",
            "switching the latest dataset version",
        ),
        Write::Alias(_) => (
            "INSERT INTO version_aliases (pipeline, task, alias, version, set_at, set_by, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            "moving an alias",
        ),
        Write::Lineage(_) => (
            "INSERT INTO task_lineage (pipeline, task, run_id, attempt, recorded_at, facts) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (pipeline, task) DO UPDATE SET run_id = excluded.run_id, \
             attempt = excluded.attempt, recorded_at = excluded.recorded_at, facts = excluded.facts",
            "recording a task's lineage",
        ),
        Write::PipelineDocs { .. } => (
            "INSERT INTO pipeline_docs (pipeline, recorded_at, tasks) VALUES ($1, $2, $3) \
             ON CONFLICT (pipeline) DO UPDATE SET recorded_at = excluded.recorded_at, \
             tasks = excluded.tasks",
            "recording a pipeline's docs",
        ),
        Write::DeleteVersion { .. } => (
            "DELETE FROM dataset_versions WHERE pipeline = $1 AND task = $2 AND version = $3",
            "deleting a dataset version",
        ),
        Write::Fingerprint { .. } => (
            "INSERT INTO fingerprints (pipeline, task, fingerprint, run_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (pipeline, task, fingerprint) DO UPDATE SET run_id = excluded.run_id, \
             created_at = excluded.created_at",
            "recording a fingerprint",
        ),
        Write::User(_) => (
            "INSERT INTO users (name, hash, role, created_at, disabled_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, role = excluded.role, \
             disabled_at = excluded.disabled_at",
            "recording a user",
        ),
        Write::Token(_) => (
            "INSERT INTO tokens (id, hash, kind, user_name, label, role, created_at, \
             expires_at, last_used_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET role = excluded.role, label = excluded.label, \
             expires_at = excluded.expires_at, last_used_at = excluded.last_used_at, \
             revoked_at = excluded.revoked_at",
            "recording a token",
        ),
        Write::TokenUsed { .. } => (
            "UPDATE tokens SET last_used_at = $2 WHERE id = $1",
            "recording a token's use",
        ),
        Write::PurgeSessions { .. } => (
            "DELETE FROM tokens WHERE kind = 'session' AND \
             ((expires_at IS NOT NULL AND expires_at < $1) OR (revoked_at IS NOT NULL AND revoked_at < $1))",
            "purging expired sessions",
        ),
        // Its attempts and task states first (see `extra_statements`), then the run.
        Write::DeleteRun { .. } => ("DELETE FROM runs WHERE id = $1", "deleting a run"),
        Write::Relocate { .. } => (
            "UPDATE dataset_versions SET path = $2 || substr(path, length($1) + 1) \
             WHERE substr(path, 1, length($1)) = $1",
            "moving the dataset versions' paths",
        ),
        Write::PurgeSlots { .. } => (
            "DELETE FROM schedule_slots WHERE recorded_at < $1 AND slot < \
             (SELECT MAX(s.slot) FROM schedule_slots s WHERE s.pipeline = schedule_slots.pipeline)",
            "purging old schedule slots",
        ),
    };
    (sql.into(), what)
}

/// The statements a write needs before its [`write_statement`], bound to the same values.
fn extra_statements(w: &Write) -> &'static [(&'static str, &'static str)] {
    match w {
        Write::Relocate { .. } => &[(
            "UPDATE attempts SET log_path = $2 || substr(log_path, length($1) + 1) \
             WHERE substr(log_path, 1, length($1)) = $1",
            "moving the attempts' log paths",
        )],
        Write::DeleteRun { .. } => &[
            (
                "DELETE FROM attempts WHERE run_id = $1",
                "deleting a run's attempts",
            ),
            (
                "DELETE FROM task_runs WHERE run_id = $1",
                "deleting a run's task states",
            ),
        ],
        _ => &[],
    }
}

/// Binds the values of write `w` to its [`write_statement`].
fn bind_write<'q>(q: AnyQuery<'q>, w: &'q Write) -> Result<AnyQuery<'q>> {
    Ok(match w {
        Write::Run(r) => bind_run(q, r)?,
        Write::TaskRun(t) => q
            .bind(&t.run_id)
            .bind(&t.task)
            .bind(t.state.as_str())
            .bind(i64::from(t.attempts))
            .bind(&t.fingerprint)
            .bind(t.started_at)
            .bind(t.ended_at)
            .bind(&t.error),
        Write::Attempt(a) => q
            .bind(&a.run_id)
            .bind(&a.task)
            .bind(i64::from(a.attempt))
            .bind(a.state.as_str())
            .bind(a.ready_at)
            .bind(a.started_at)
            .bind(a.ended_at)
            .bind(a.exit_code.map(i64::from))
            .bind(&a.error)
            .bind(&a.log_path)
            .bind(a.pid)
            .bind(a.metrics.as_ref().map(|m| m.to_string())),
        Write::DatasetVersion(d) => q
            .bind(&d.pipeline)
            .bind(&d.task)
            .bind(&d.version)
            .bind(&d.path)
            .bind(&d.schema)
            .bind(i64::try_from(d.rows).unwrap_or(i64::MAX))
            .bind(i64::try_from(d.bytes).unwrap_or(i64::MAX))
            .bind(&d.run_id)
            .bind(d.created_at)
            .bind(&d.state),
        Write::Latest {
            pipeline,
            task,
            version,
            at,
        } => q.bind(pipeline).bind(task).bind(version).bind(*at),
        Write::DeleteVersion {
            pipeline,
            task,
            version,
        } => q.bind(pipeline).bind(task).bind(version),
        Write::DeleteRun { id } => q.bind(id),
        Write::PurgeSlots { before } => q.bind(*before),
        Write::Relocate { from, to } => q.bind(from).bind(to),
        Write::PipelineDocs {
            pipeline,
            at,
            tasks,
        } => q.bind(pipeline).bind(*at).bind(tasks),
        Write::Lineage(l) => q
            .bind(&l.pipeline)
            .bind(&l.task)
            .bind(&l.run_id)
            .bind(i64::from(l.attempt))
            .bind(l.recorded_at)
            .bind(&l.facts),
        Write::Alias(a) => q
            .bind(&a.pipeline)
            .bind(&a.task)
            .bind(&a.alias)
            .bind(&a.version)
            .bind(a.set_at)
            .bind(&a.set_by)
            .bind(&a.note),
        Write::Fingerprint {
            pipeline,
            task,
            fingerprint,
            run_id,
            at,
        } => q
            .bind(pipeline)
            .bind(task)
            .bind(fingerprint)
            .bind(run_id)
            .bind(*at),
        Write::User(u) => q
            .bind(&u.name)
            .bind(&u.hash)
            .bind(&u.role)
            .bind(u.created_at)
            .bind(u.disabled_at),
        Write::Token(t) => q
            .bind(&t.id)
            .bind(&t.hash)
            .bind(&t.kind)
            .bind(&t.user_name)
            .bind(&t.label)
            .bind(&t.role)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.last_used_at)
            .bind(t.revoked_at),
        Write::TokenUsed { id, at } => q.bind(id).bind(*at),
        Write::PurgeSessions { before } => q.bind(*before),
    })
}

#[async_trait]
impl StateStore for SqlStore {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn apply(&self, writes: &[Write]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
        for w in writes {
            for (sql, what) in extra_statements(w) {
                bind_write(sqlx::query(&self.q(sql)), w)?
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err(what))?;
            }
            let (sql, what) = write_statement(w);
            let sql = self.q(&sql);
            bind_write(sqlx::query(&sql), w)?
                .execute(&mut *tx)
                .await
                .map_err(query_err(what))?;
        }
        tx.commit()
            .await
            .map_err(query_err("committing a transaction"))
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        Ok(self.users_where(Some(name)).await?.pop())
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.users_where(None).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        Ok(self.tokens_where("hash = $1", hash).await?.pop())
    }

    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>> {
        match user {
            Some(u) => self.tokens_where("user_name = $1", u).await,
            None => self.tokens_where("$1 = ''", "").await,
        }
    }

    async fn start_run(&self, r: &RunRecord, max_active: usize) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting a transaction"))?;
        if self.backend == Backend::Postgres {
            // Concurrent starts of one pipeline queue here; each then counts what the ones
            // before it committed. (SQLite takes its write lock when the INSERT begins.)
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('sluice.runs.' || $1))::text")
                .bind(&r.pipeline)
                .execute(&mut *tx)
                .await
                .map_err(query_err("locking a pipeline's runs"))?;
        }
        let sql = run_upsert(
            "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE (SELECT COUNT(*) FROM runs WHERE pipeline = $2 AND state = 'running' AND id <> $1) < $12",
        );
        let done = bind_run(sqlx::query(&self.q(&sql)), r)?
            .bind(i64::try_from(max_active).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(query_err("recording a run"))?;
        tx.commit()
            .await
            .map_err(query_err("committing a transaction"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn claim_slot(&self, slot: &SlotRecord) -> Result<bool> {
        let done = sqlx::query(&self.q(
            "INSERT INTO schedule_slots (pipeline, slot, state, run_id, skipped, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pipeline, slot) DO NOTHING",
        ))
        .bind(&slot.pipeline)
        .bind(slot.slot)
        .bind(slot.state.as_str())
        .bind(slot.run_id.clone())
        .bind(slot.skipped as i64)
        .bind(slot.recorded_at)
        .execute(&self.pool)
        .await
        .map_err(query_err("claiming a schedule slot"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn kept_slot_runs(&self, before: Micros) -> Result<Vec<String>> {
        let rows = sqlx::query(&self.q(
            "SELECT DISTINCT run_id FROM schedule_slots s WHERE run_id IS NOT NULL AND \
             (recorded_at >= $1 OR slot = \
              (SELECT MAX(s2.slot) FROM schedule_slots s2 WHERE s2.pipeline = s.pipeline))",
        ))
        .bind(before)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading schedule slots"))?;
        rows.iter().map(|row| get(row, "run_id")).collect()
    }

    async fn slots(&self, pipeline: &str, limit: usize) -> Result<Vec<SlotRecord>> {
        let limit = match limit {
            0 => i64::MAX,
            n => i64::try_from(n).unwrap_or(i64::MAX),
        };
        let rows = sqlx::query(&self.q(
            "SELECT pipeline, slot, state, run_id, skipped, recorded_at FROM schedule_slots \
             WHERE pipeline = $1 ORDER BY slot DESC LIMIT $2",
        ))
        .bind(pipeline)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading schedule slots"))?;
        rows.iter()
            .map(|row| {
                Ok(SlotRecord {
                    pipeline: get(row, "pipeline")?,
                    slot: get(row, "slot")?,
                    state: parse(&get::<String>(row, "state")?)?,
                    run_id: get(row, "run_id")?,
                    skipped: get::<i64>(row, "skipped")? as u64,
                    recorded_at: get(row, "recorded_at")?,
                })
            })
            .collect()
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = sqlx::query(&self.q(&sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading a run"))?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let limit = match filter.limit {
            0 => i64::MAX,
            n => i64::try_from(n).unwrap_or(i64::MAX),
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE ($1 = '' OR pipeline = $1) AND ($2 = '' OR state = $2) \
             ORDER BY started_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(&self.q(&sql))
            .bind(filter.pipeline.clone().unwrap_or_default())
            .bind(filter.state.map(|s| s.as_str()).unwrap_or_default())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("listing runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    async fn task_runs(&self, run_id: &str) -> Result<Vec<TaskRunRecord>> {
        let rows = sqlx::query(&self.q(
            "SELECT run_id, task, state, attempts, fingerprint, started_at, ended_at, error \
             FROM task_runs WHERE run_id = $1 ORDER BY started_at IS NULL, started_at, task",
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading task states"))?;
        rows.iter()
            .map(|row| {
                Ok(TaskRunRecord {
                    run_id: get(row, "run_id")?,
                    task: get(row, "task")?,
                    state: parse(&get::<String>(row, "state")?)?,
                    attempts: get::<i64>(row, "attempts")? as u32,
                    fingerprint: get(row, "fingerprint")?,
                    started_at: get(row, "started_at")?,
                    ended_at: get(row, "ended_at")?,
                    error: get(row, "error")?,
                })
            })
            .collect()
    }

    async fn attempts(&self, run_id: &str, task: Option<&str>) -> Result<Vec<AttemptRecord>> {
        let rows = sqlx::query(&self.q(
            "SELECT run_id, task, attempt, state, ready_at, started_at, ended_at, exit_code, error, log_path, pid, metrics \
             FROM attempts WHERE run_id = $1 AND ($2 = '' OR task = $2) ORDER BY task, attempt",
        ))
        .bind(run_id)
        .bind(task.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading attempts"))?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRecord {
                    run_id: get(row, "run_id")?,
                    task: get(row, "task")?,
                    attempt: get::<i64>(row, "attempt")? as u32,
                    state: parse(&get::<String>(row, "state")?)?,
                    ready_at: get(row, "ready_at")?,
                    started_at: get(row, "started_at")?,
                    ended_at: get(row, "ended_at")?,
                    exit_code: get::<Option<i64>>(row, "exit_code")?.map(|c| c as i32),
                    error: get(row, "error")?,
                    log_path: get(row, "log_path")?,
                    pid: get(row, "pid")?,
                    metrics: match get::<Option<String>>(row, "metrics")? {
                        Some(text) => {
                            Some(serde_json::from_str(&text).map_err(|e| {
                                StoreError::Corrupt(format!("attempt metrics: {e}"))
                            })?)
                        }
                        None => None,
                    },
                })
            })
            .collect()
    }

    async fn dataset_versions(
        &self,
        pipeline: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<DatasetVersionRecord>> {
        let sql = format!(
            "SELECT {DATASET_COLUMNS} FROM dataset_versions v LEFT JOIN datasets_latest l \
             ON l.pipeline = v.pipeline AND l.task = v.task AND l.version = v.version \
             WHERE ($1 = '' OR v.pipeline = $1) AND ($2 = '' OR v.task = $2) \
             ORDER BY v.pipeline, v.task, v.created_at DESC, v.version"
        );
        let rows = sqlx::query(&self.q(&sql))
            .bind(pipeline.unwrap_or_default())
            .bind(task.unwrap_or_default())
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("listing dataset versions"))?;
        rows.iter().map(dataset_from_row).collect()
    }

    async fn aliases(
        &self,
        pipeline: Option<&str>,
        task: Option<&str>,
        history: bool,
    ) -> Result<Vec<AliasRecord>> {
        let current = if history {
            ""
        } else {
            "AND a.set_at = (SELECT MAX(b.set_at) FROM version_aliases b WHERE b.pipeline = a.pipeline \
             AND b.task = a.task AND b.alias = a.alias)"
        };
        let sql = format!(
            "SELECT a.pipeline, a.task, a.alias, a.version, a.set_at, a.set_by, a.note \
             FROM version_aliases a WHERE ($1 = '' OR a.pipeline = $1) AND ($2 = '' OR a.task = $2) \
             {current} ORDER BY a.pipeline, a.task, a.alias, a.set_at DESC"
        );
        let rows = sqlx::query(&self.q(&sql))
            .bind(pipeline.unwrap_or_default())
            .bind(task.unwrap_or_default())
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("listing aliases"))?;
        rows.iter()
            .map(|row| {
                Ok(AliasRecord {
                    pipeline: get(row, "pipeline")?,
                    task: get(row, "task")?,
                    alias: get(row, "alias")?,
                    version: get(row, "version")?,
                    set_at: get(row, "set_at")?,
                    set_by: get(row, "set_by")?,
                    note: get(row, "note")?,
                })
            })
            .collect()
    }

    async fn lineage(&self, pipeline: Option<&str>) -> Result<Vec<LineageRecord>> {
        let rows = sqlx::query(&self.q(
            "SELECT pipeline, task, run_id, attempt, recorded_at, facts FROM task_lineage \
             WHERE ($1 = '' OR pipeline = $1) ORDER BY pipeline, task",
        ))
        .bind(pipeline.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading lineage"))?;
        rows.iter()
            .map(|row| {
                Ok(LineageRecord {
                    pipeline: get(row, "pipeline")?,
                    task: get(row, "task")?,
                    run_id: get(row, "run_id")?,
                    attempt: get::<i64>(row, "attempt")? as u32,
                    recorded_at: get(row, "recorded_at")?,
                    facts: get(row, "facts")?,
                })
            })
            .collect()
    }

    async fn pipeline_docs(&self, pipeline: Option<&str>) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(&self.q(
            "SELECT pipeline, tasks FROM pipeline_docs WHERE ($1 = '' OR pipeline = $1) \
             ORDER BY pipeline",
        ))
        .bind(pipeline.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading pipeline docs"))?;
        rows.iter()
            .map(|row| Ok((get(row, "pipeline")?, get(row, "tasks")?)))
            .collect()
    }

    async fn latest_datasets(&self, pipeline: Option<&str>) -> Result<Vec<DatasetVersionRecord>> {
        let sql = format!(
            "SELECT {DATASET_COLUMNS} FROM datasets_latest l JOIN dataset_versions v \
             ON l.pipeline = v.pipeline AND l.task = v.task AND l.version = v.version \
             WHERE ($1 = '' OR l.pipeline = $1) ORDER BY l.pipeline, l.task"
        );
        let rows = sqlx::query(&self.q(&sql))
            .bind(pipeline.unwrap_or_default())
            .fetch_all(&self.pool)
            .await
            .map_err(query_err("listing datasets"))?;
        rows.iter().map(dataset_from_row).collect()
    }

    async fn fingerprints(&self, pipeline: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query(&self.q("SELECT task, fingerprint FROM fingerprints WHERE pipeline = $1"))
                .bind(pipeline)
                .fetch_all(&self.pool)
                .await
                .map_err(query_err("reading fingerprints"))?;
        rows.iter()
            .map(|r| Ok((get(r, "task")?, get(r, "fingerprint")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///x/state.db"), "sqlite:///x/state.db");
    }
}
