//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// sluice: data and AI pipelines in one binary.
///
/// A pipeline is a YAML file: a DAG of named tasks, each a built-in op or a shell command.
/// State (runs, attempts, fingerprints) lives in `.sluice/` next to the pipeline file, or in
/// SLUICE_HOME; set SLUICE_STATE=postgres://… to share it in PostgreSQL, and
/// SLUICE_WAREHOUSE=s3://bucket/prefix (or gs://, az://, file://) to keep the datasets in an
/// object store, the home's warehouse then a cache of it.
///
/// Exit codes: 0 success, 1 run failed, 2 invalid input, 3 environment error (state store,
/// disk), 130 stopped by Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, propagate_version = true)]
pub struct Cli {
    /// Folder holding the state store and logs (default: `.sluice` next to the pipeline file,
    /// or the nearest `.sluice` above the current directory).
    #[arg(long, global = true, env = "SLUICE_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// State store URL (`sqlite:///path/state.db` or `postgres://user@host/db`); default:
    /// SQLite in the home folder.
    #[arg(
        long,
        global = true,
        env = "SLUICE_STATE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub state: Option<String>,

    /// The environment pipelines are loaded for (`dev`, `staging`, `prod`…): it picks the
    /// entry of `schedule:` maps, parameters' `by_env:` values and a dbt project's
    /// `target.name`. Default: dev.
    #[arg(long = "env", global = true, env = "SLUICE_ENV", value_name = "NAME")]
    pub environment: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `sluice new …`.
#[derive(Debug, Subcommand)]
pub enum NewAction {
    /// A runnable folder: the pipeline (or dbt project), sample input, a test and a README;
    /// its test runs once to show it passes.
    Pipeline {
        /// Its name: lower-case letters, digits and `_`.
        name: String,
        /// What it starts from.
        #[arg(long, value_enum, default_value = "etl")]
        template: Template,
        /// The folder to create (default: ./NAME); it must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The templates of `sluice new pipeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// A CSV file → SQL with checks → a CSV file.
    Etl,
    /// A CSV file → a classifier (logistic regression) → predictions.
    Ml,
    /// A dbt project: a seed, a staging view, a mart table, generic and singular tests.
    Dbt,
    /// Texts → chunks → embeddings with a local model, for `sluice search`.
    Embeddings,
}

impl Template {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Template::Etl => "etl",
            Template::Ml => "ml",
            Template::Dbt => "dbt",
            Template::Embeddings => "embeddings",
        }
    }
}

/// Where task attempts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Executor {
    /// In this process.
    #[default]
    Local,
    /// On `sluice worker` processes, through the state store's queue.
    Workers,
}

/// `sluice workers …`.
#[derive(Debug, Subcommand)]
pub enum WorkersAction {
    /// Limit how many attempts of the tasks with `pool: NAME` run at once, whatever the
    /// number of workers with that label.
    Pool {
        /// The pool (a worker label).
        name: String,
        /// At most this many at once.
        #[arg(long, value_name = "N", required_unless_present = "unlimited")]
        slots: Option<u32>,
        /// Remove the limit.
        #[arg(long, conflicts_with = "slots")]
        unlimited: bool,
    },
}

/// Output format of read commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Tasks by level, with what each waits for.
    Text,
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `sluice link …`.
#[derive(Debug, Subcommand)]
pub enum LinkAction {
    /// The comparison levels, m and u, and weights that give a pair its match probability,
    /// under the model of a `link` task, and which blocking rules make it a candidate.
    Explain {
        /// The `link` task's dataset, `pipeline.task`.
        dataset: String,
        /// Id of the first record (of the first input).
        left: String,
        /// Id of the second record (of the second input, or the same one when deduplicating).
        right: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Output format of `sluice search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchFormat {
    /// An aligned table: the score and a few columns.
    Table,
    /// One JSON object per line.
    Json,
}

/// Output format of `sluice sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet (needs --output).
    Parquet,
}

/// sluice's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files (or dbt projects) and report every problem with
    /// file:line:column.
    Validate {
        /// Pipeline files, or dbt project folders.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print JSON (one object per file).
        #[arg(long)]
        json: bool,
    },
    /// Create something new from a template: `sluice new pipeline NAME --template etl`.
    New {
        /// What to create.
        #[command(subcommand)]
        what: NewAction,
    },
    /// Run the tests of pipelines and dbt projects: each pipeline's `tests/*.yaml` cases
    /// (run in a fresh home, datasets checked), each dbt project's data tests; exit 1 when
    /// one fails.
    Test {
        /// Folders to search (and pipeline files, dbt projects); default: the current folder.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Only the pipelines with files changed since this git commit (and, in a dbt
        /// project, the models changed and what reads them), and the pipelines their
        /// datasets trigger.
        #[arg(long, value_name = "REF")]
        changed_since: Option<String>,
        /// Print what would be tested, and why, without running it.
        #[arg(long)]
        list: bool,
        /// Also write the results as JUnit XML to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Run a pipeline: tasks in dependency order, in parallel where possible.
    Run {
        /// Pipeline file, or a dbt project's folder (its `--param`s are the project's vars).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Override a parameter declared under `params:` (repeatable).
        #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Run only this task and what it waits for (repeatable).
        #[arg(long = "task", short = 't', value_name = "TASK")]
        tasks: Vec<String>,
        /// Run the tasks these select, as dbt's `--select`: `name`, `+name`, `name+`, `@name`,
        /// `tag:t`, `path:models/staging`, `a,b` (both); with what they wait for and their
        /// tests (repeatable, or several in one quoted argument).
        #[arg(long = "select", short = 's', value_name = "SELECTOR")]
        select: Vec<String>,
        /// Leave out the tasks these select (same syntax as --select).
        #[arg(long = "exclude", value_name = "SELECTOR")]
        exclude: Vec<String>,
        /// Continue a run: run again only the tasks that did not succeed.
        #[arg(long, value_name = "RUN_ID")]
        resume: Option<String>,
        /// Run every task even if its fingerprint is unchanged.
        #[arg(long)]
        force: bool,
        /// Run this task and everything downstream of it even if cached (repeatable).
        #[arg(long = "force-task", value_name = "TASK")]
        force_tasks: Vec<String>,
        /// Print the output of tasks as they run, each line prefixed with the task name.
        #[arg(long)]
        stream: bool,
        /// Print the run's summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Fail at once (exit 3) when another `sluice run` of the pipeline holds its lock,
        /// instead of waiting for it to end.
        #[arg(long)]
        no_wait: bool,
        /// Where task attempts run: here, or on `sluice worker` processes sharing the state
        /// store (PostgreSQL) and the home's files.
        #[arg(long, value_enum, env = "SLUICE_EXECUTOR", default_value = "local")]
        executor: Executor,
    },
    /// Run every slot of a pipeline's schedule from one day to another, oldest first, each
    /// with its `slot`/`slot_date` parameters when the pipeline declares them. Each slot is
    /// claimed in the state store first: asking twice (or a server's backfill of the same
    /// range) runs nothing twice.
    Backfill {
        /// Pipeline file (it needs a `schedule:`).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The first day (`2026-11-01`, in the schedule's time zone) or time (RFC 3339).
        #[arg(long)]
        from: String,
        /// The last day or time, included.
        #[arg(long)]
        to: String,
        /// Override a parameter declared under `params:` (repeatable).
        #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Where task attempts run (see `sluice run --help`).
        #[arg(long, value_enum, env = "SLUICE_EXECUTOR", default_value = "local")]
        executor: Executor,
    },
    /// List runs, newest first.
    Runs {
        /// Only runs of this pipeline.
        pipeline: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: each task's state, attempts and duration.
    Show {
        /// Run id (from `sluice runs`).
        run_id: String,
        /// Print JSON, with every attempt.
        #[arg(long)]
        json: bool,
    },
    /// Print the output of a task's attempt.
    Logs {
        /// Run id.
        run_id: String,
        /// Task name.
        task: String,
        /// Attempt number (default: the last one).
        #[arg(long)]
        attempt: Option<u32>,
    },
    /// Draw a pipeline's task graph.
    Graph {
        /// Pipeline file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Query the latest datasets of every pipeline with SQL (tables are `pipeline.task`).
    Sql {
        /// The query (or --file).
        #[arg(value_name = "QUERY", required_unless_present = "file")]
        query: Option<String>,
        /// Read the query from a file.
        #[arg(long, short = 'f', value_name = "FILE", conflicts_with = "query")]
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// Write the result to this file instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace `${params.KEY}` in the query (repeatable).
        #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Record linkage: explain the score of a pair of records.
    Link {
        #[command(subcommand)]
        action: LinkAction,
    },
    /// List datasets: latest version, rows, size, last update.
    Datasets {
        /// Only the datasets of this pipeline.
        pipeline: Option<String>,
        /// Print JSON, with every kept version.
        #[arg(long)]
        json: bool,
    },
    /// Models made by `train` tasks (`PIPELINE.TASK`): list, versions, show, promote,
    /// compare.
    Models {
        #[command(subcommand)]
        action: Option<ModelsAction>,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Print the first rows of a dataset (`pipeline.task`).
    Head {
        /// The dataset, `pipeline.task`.
        dataset: String,
        /// How many rows.
        #[arg(short = 'n', default_value_t = 20)]
        rows: usize,
    },
    /// The rows of a dataset nearest to a text: the query is embedded with the model that
    /// made the dataset's vectors, then searched in the dataset's embedded index (built on
    /// first use, kept beside its files) or in the PostgreSQL table it was loaded into.
    Search(SearchArgs),
    /// Embed texts with a local model or an OpenAI-compatible endpoint; prints one JSON object
    /// per text: `{"index", "text", "embedding"}` (or, with --bench, one object of figures).
    Embed(EmbedArgs),
    /// Serve the pipelines of a folder: their schedules, the REST API (`/api/…`, described at
    /// `/api/openapi.json`) and Prometheus metrics (`/metrics`). Every route but `/health`
    /// needs a login or a token: create a user first with `sluice user add`.
    Serve {
        /// The folder of pipeline files (`*.yaml`, `*.yml`), reloaded when they change. The
        /// state is kept in its `.sluice` folder unless --home is given.
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
        /// The address to listen on (another interface than 127.0.0.1 only behind a TLS
        /// proxy).
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        bind: std::net::SocketAddr,
        /// Mark the session cookie `Secure` (the server is reached through HTTPS).
        #[arg(long)]
        secure_cookies: bool,
        /// Where the runs' task attempts run (see `sluice run --help`).
        #[arg(long, value_enum, env = "SLUICE_EXECUTOR", default_value = "local")]
        executor: Executor,
    },
    /// Run task attempts queued by `sluice run --executor workers` or `sluice serve
    /// --executor workers`: claims them from the state store (--state postgres://…), renews
    /// its lease while each runs, records the outcome. The first SIGTERM or Ctrl-C drains it
    /// (running attempts finish, nothing new is taken); a second one stops them and hands
    /// them back to the queue. Either every worker sees the home's files at the same path
    /// (a shared file system), or the warehouse is in an object store: SLUICE_WAREHOUSE=
    /// s3://bucket/prefix (the same for the server, the runs and the workers), and --home is
    /// the worker's own folder for the datasets it downloads and its logs.
    Worker {
        /// Labels it offers: it also runs the tasks with `pool:` one of these
        /// (`--labels gpu,big-mem`).
        #[arg(long, value_delimiter = ',', value_name = "LABEL")]
        labels: Vec<String>,
        /// Attempts it runs at once (default: one per core).
        #[arg(long, value_name = "N")]
        slots: Option<u32>,
        /// How long a claim holds without a heartbeat (renewed every third of it): an
        /// attempt of a worker silent for longer is lost and retried elsewhere.
        #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = sluice_core::duration::parse_duration)]
        lease: std::time::Duration,
        /// How often it looks for work when idle (default: 1s on PostgreSQL, which also wakes
        /// it as soon as work is queued; 100ms on SQLite).
        #[arg(long, value_name = "DURATION", value_parser = sluice_core::duration::parse_duration)]
        poll: Option<std::time::Duration>,
        /// When draining, how long running attempts may go on before they are stopped and
        /// handed back (default: until they end).
        #[arg(long, value_name = "DURATION", value_parser = sluice_core::duration::parse_duration)]
        drain_timeout: Option<std::time::Duration>,
    },
    /// The workers (host, labels, slots, what each runs, last heartbeat) and the queue's
    /// depth per pool; `sluice workers pool NAME --slots N` limits a pool.
    Workers {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<WorkersAction>,
        /// Also workers silent for over 10 minutes (stopped or gone).
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where a dataset or a column comes from and what uses it, from the lineage every
    /// task's latest success recorded (through SQL, files, tables and ops): `sluice lineage
    /// drug_mentions.graph.journals --upstream`, or `--downstream` for what is affected if
    /// it changes.
    Lineage {
        /// `PIPELINE.TASK`, `PIPELINE.TASK.COLUMN`, or an outside dataset (`file:/abs/path`).
        #[arg(required_unless_present = "list")]
        target: Option<String>,
        /// Only what it comes from.
        #[arg(long, conflicts_with = "downstream")]
        upstream: bool,
        /// Only what it affects.
        #[arg(long)]
        downstream: bool,
        /// At most this many steps away.
        #[arg(long, default_value_t = usize::MAX, hide_default_value = true)]
        depth: usize,
        /// How to print it.
        #[arg(long, value_enum, default_value_t = LineageFormat::Text)]
        format: LineageFormat,
        /// List the datasets known, with their columns.
        #[arg(long)]
        list: bool,
    },
    /// Lineage and metadata: export the catalog (DataHub, OpenLineage), deliver the
    /// OpenLineage events waiting for a collector.
    Metadata {
        /// What to do.
        #[command(subcommand)]
        action: MetadataAction,
    },
    /// Users of the server (`sluice serve`).
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
    },
    /// API tokens of the server's users, for machines (`Authorization: Bearer …`).
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Remove what a home no longer needs and is older than AGE: ended runs that made no
    /// kept dataset version (their task states, attempts and logs), dataset versions beyond
    /// their pipeline's `retention`, raw downloads no kept version names, and what crashed
    /// attempts left. Each task's latest version, the versions an alias names and what a
    /// running task reads always stay.
    Gc {
        /// Only what ended or was written longer ago than this: `30d`, `12h`, `90m`.
        #[arg(long, value_name = "AGE", value_parser = sluice_core::duration::parse_duration)]
        older_than: std::time::Duration,
        /// Print what would go; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save a home in one archive (`.tar.zst`): a consistent copy of its state store and
    /// every file the store names (dataset versions, raw downloads, logs), taken while runs
    /// go on. Restore it with `sluice restore`.
    Backup {
        /// The archive to write (written aside, then renamed: never half an archive).
        output: PathBuf,
        /// Leave out the caches (`warehouse/.cache`: embeddings, OCR), which runs rebuild.
        #[arg(long)]
        without_caches: bool,
    },
    /// Restore a home from a `sluice backup` archive, checking every file against the
    /// archive's manifest first. Into `--home DIR` (default: `.sluice` in the current
    /// folder), which must not exist unless --replace.
    Restore {
        /// The archive.
        archive: PathBuf,
        /// Move an existing home aside (kept as `HOME.before-restore-TIME`) and restore in
        /// its place.
        #[arg(long)]
        replace: bool,
    },
    /// List the built-in ops.
    Ops {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A role of the server's users.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Reads everything.
    Viewer,
    /// Also triggers, cancels and resumes runs.
    Operator,
    /// Also manages users and every token.
    Admin,
}

/// `sluice user …`.
/// What `sluice models` does.
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Every model: type, versions, latest version's ranking figure, aliases (the default).
    List {
        /// Only the models of this pipeline.
        pipeline: Option<String>,
    },
    /// The versions of a model, newest first, with their figures and aliases.
    Versions {
        /// `PIPELINE.TASK`.
        model: String,
    },
    /// A model version's card: what it reads and predicts, its trials and figures.
    Show {
        /// `PIPELINE.TASK`, `PIPELINE.TASK@VERSION` or `PIPELINE.TASK@ALIAS` (latest by
        /// default).
        model: String,
    },
    /// Point an alias (`champion`, which the server predicts with) at a version.
    Promote {
        /// `PIPELINE.TASK`.
        model: String,
        /// The version.
        #[arg(value_name = "VERSION")]
        target: String,
        /// The alias.
        #[arg(long, default_value = "champion")]
        alias: String,
        /// Why, kept with the alias's history.
        #[arg(long)]
        note: Option<String>,
    },
    /// Write a model version as an ONNX file (logistic and MLP models on numbers and
    /// vectors; input `input` [N, features], output `probas` or `prediction`).
    Export {
        /// `PIPELINE.TASK`, `@VERSION` or `@ALIAS` (latest by default).
        model: String,
        /// The file to write.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
    },
    /// A version's model card as Markdown: intended use and limitations (the task's `card:`),
    /// features and label, figures per part, confusion matrix, search, data, energy and CO2.
    Card {
        /// `PIPELINE.TASK`, `@VERSION` or `@ALIAS` (latest by default).
        model: String,
        /// Write it to this file instead of printing it.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Two versions' figures side by side (the kept trial of each; `latest` or an alias
    /// works as a version).
    Compare {
        /// `PIPELINE.TASK`.
        model: String,
        /// A version or alias.
        a: String,
        /// Another version or alias.
        b: String,
    },
}

/// How `sluice lineage` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineageFormat {
    /// An indented tree.
    Text,
    /// JSON: the steps of each direction.
    Json,
    /// Graphviz dot.
    Dot,
}

/// A format of `sluice metadata export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetadataFormat {
    /// DataHub metadata change proposals (an MCP JSON file, or sent to a GMS).
    Datahub,
    /// OpenLineage RunEvents, one JSON object per line.
    Openlineage,
}

/// Where `sluice metadata pull` sends what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullTarget {
    /// An MCP JSON file (FILE).
    DatahubFile,
    /// A DataHub GMS (--datahub-url, token in DATAHUB_GMS_TOKEN).
    DatahubRest,
}

/// What `sluice metadata pull` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullSource {
    /// An MLflow tracking server.
    Mlflow,
}

#[derive(Debug, Subcommand)]
pub enum MetadataAction {
    /// Read another tool's metadata into DataHub: `mlflow` turns every run of each active
    /// experiment into an ML model (its parameters, latest metrics, end time; version = run
    /// id) and each registered model version into one too, as DataHub's own source names
    /// them. The same as `op: metadata.pull` in a pipeline, to run on a schedule.
    Pull {
        /// The tool.
        #[arg(value_enum)]
        source: PullSource,
        /// The MLflow tracking server (credentials in MLFLOW_TRACKING_USERNAME and
        /// MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN).
        #[arg(long, value_name = "URL")]
        tracking_uri: String,
        /// Experiments to read: a regular expression matching the whole name (repeatable;
        /// default every one).
        #[arg(long, value_name = "REGEX")]
        experiment_pattern: Vec<String>,
        /// Experiments to leave out (repeatable; default `Default`).
        #[arg(long, value_name = "REGEX")]
        deny_experiment: Vec<String>,
        /// Where the proposals go.
        #[arg(long, value_enum)]
        to: PullTarget,
        /// The GMS (`--to datahub-rest`).
        #[arg(long, value_name = "URL")]
        datahub_url: Option<String>,
        /// The MCP file (`--to datahub-file`).
        file: Option<PathBuf>,
    },
    /// Write what the home knows of every pipeline, task and dataset at once (the latest
    /// success of each task, with its column lineage): a DataHub MCP file (`datahub ingest
    /// mcps FILE`, or sent straight to DataHub with --datahub-url, token in
    /// DATAHUB_GMS_TOKEN), or OpenLineage events.
    Export {
        /// What to write.
        #[arg(long, value_enum)]
        format: MetadataFormat,
        /// Only this pipeline.
        #[arg(long)]
        pipeline: Option<String>,
        /// Send the proposals to this DataHub GMS (`http://localhost:8080`) instead of a file.
        #[arg(long, value_name = "URL", conflicts_with = "file")]
        datahub_url: Option<String>,
        /// The file to write.
        #[arg(required_unless_present = "datahub_url")]
        file: Option<PathBuf>,
    },
    /// Send the OpenLineage events that wait in the home's spool because their collector
    /// was down or refused to answer; they go in the order they happened, each once. Runs
    /// and `sluice serve` also send them, as soon as the collector answers again.
    Flush {
        /// Give up after this long if the collector answers but does not take them (5xx).
        #[arg(long, default_value = "30s", value_parser = sluice_core::duration::parse_duration)]
        timeout: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user, or change its password and role. The password is read from
    /// SLUICE_PASSWORD, else from the first line of stdin.
    Add {
        /// Login name.
        name: String,
        /// Its role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The server's pipeline folder (its `.sluice` holds the users unless --home is given).
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
    },
    /// Disable a user: it can no longer log in, and its sessions and tokens stop working.
    Disable {
        /// Login name.
        name: String,
        /// The server's pipeline folder.
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
    },
    /// List the users.
    List {
        /// The server's pipeline folder.
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
    },
}

/// `sluice token …`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create an API token; its secret is printed once.
    Create {
        /// Its user.
        #[arg(long)]
        user: String,
        /// What it is for (`ci`, `grafana`).
        #[arg(long)]
        label: String,
        /// Its role (default: the user's; never above it).
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Days before it expires (default: never), 1 to 36500.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        /// The server's pipeline folder.
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// The server's pipeline folder.
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// Its id (from `sluice token list`).
        id: String,
        /// The server's pipeline folder.
        #[arg(long, default_value = ".", value_name = "DIR")]
        pipelines: PathBuf,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// The arguments of `sluice search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// The dataset, `pipeline.task` (see `sluice datasets`).
    pub dataset: String,
    /// The text to search for.
    pub query: String,
    /// How many rows.
    #[arg(short = 'k', default_value_t = 10)]
    pub k: usize,
    /// Only rows where this SQL condition holds (`theme = 'Logement'`).
    #[arg(long = "where", value_name = "SQL")]
    pub filter: Option<String>,
    /// `table` (default) or `json` (one `{"score", "row"}` object per line).
    #[arg(long, value_enum, default_value_t = SearchFormat::Table)]
    pub format: SearchFormat,
    /// The vector column (default: the one `embed` wrote).
    #[arg(long)]
    pub column: Option<String>,
    /// The model embedding the query (default: the one `embed` used for the dataset).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// The columns shown in the table (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Candidates explored in the HNSW graph (more: better recall, slower); for
    /// `--postgres`, pgvector's `hnsw.ef_search`.
    #[arg(long, default_value_t = 128)]
    pub ef: usize,
    /// Search this PostgreSQL table (loaded by `load.postgres`) instead of the dataset.
    #[arg(long, value_name = "TABLE")]
    pub postgres: Option<String>,
    /// The server of --postgres (default: SLUICE_PG_URL).
    #[arg(long, value_name = "URL", requires = "postgres")]
    pub url: Option<String>,
}

/// The arguments of `sluice embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Texts to embed; without them (and without --input), one text per line of stdin.
    #[arg(value_name = "TEXT")]
    pub texts: Vec<String>,
    /// A model folder, a name under SLUICE_MODELS (default .models) or in the Hugging Face
    /// cache; with --endpoint, the model name sent to it.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: String,
    /// Read texts from a file: JSON Lines with a `text` field, or plain lines.
    #[arg(long, short = 'i', value_name = "FILE", conflicts_with = "texts")]
    pub input: Option<PathBuf>,
    /// An OpenAI-compatible endpoint (`https://…/v1`) instead of a local model.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The environment variable holding the endpoint's API key.
    #[arg(long, value_name = "VAR", requires = "endpoint")]
    pub api_key_env: Option<String>,
    /// Put before each text, for models trained with one (`"query: "` for e5).
    #[arg(long, default_value = "", value_name = "TEXT")]
    pub prefix: String,
    /// Worker threads of a local model (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Texts per batch (local) or per request (endpoint).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch_size: usize,
    /// Print timing figures (texts, tokens, seconds, texts/s) instead of vectors; a first
    /// batch warms up and is not timed.
    #[arg(long)]
    pub bench: bool,
    /// Run the element-wise kernels of a local model at a lower CPU level than the best
    /// available, to compare levels.
    #[arg(long, value_parser = ["avx2", "baseline"])]
    pub kernels: Option<String>,
    /// The number type of a local model's matrix products: `auto` (the default) is bf16 on a
    /// CPU with AVX-512 BF16, else int8 on one with AVX-512 VNNI, else f32; `f32` gives the
    /// reference vectors.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(sluice_embed::Precision::NAMES))]
    pub precision: Option<String>,
}
