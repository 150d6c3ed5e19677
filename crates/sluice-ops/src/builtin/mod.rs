//! Built-in ops, one file each (or one file per family). Adding an op: a file here, one entry
//! in `specs()`, its tests.

mod chunk;
mod embed;
pub(crate) mod export_parquet;
pub mod fetch;
pub(crate) mod load_postgres;
pub mod metadata;
pub mod ml;
mod noop;
pub mod parse;
pub mod publish;
mod read;
mod sleep;
mod snapshot;
pub mod split;
mod sql;
mod sql_test;
mod terms;
mod write;

pub use chunk::{Chunk, load_tokenizer};
pub use embed::Embed;
pub use noop::Noop;
pub use read::{ReadCsv, ReadJson, ReadParquet};
pub use sleep::Sleep;
pub use sql::Sql;
pub use terms::MatchTerms;
pub use write::Write;

use sluice_op::{OpSpec, build};

/// The registry's list.
pub(crate) fn specs() -> Vec<OpSpec> {
    let mut specs = vec![
        OpSpec {
            name: "noop",
            summary: "Does nothing and succeeds: a join point, or a stand-in in tests and benchmarks.",
            build: build::<Noop>,
        },
        OpSpec {
            name: "sleep",
            summary: "Waits for `duration` (e.g. `2s`), then succeeds; stops at once when cancelled.",
            build: build::<Sleep>,
        },
        OpSpec {
            name: "fetch",
            summary: "Downloads `url`/`urls` (or the new files of a `listing`) into the task's raw folder: retries, resume, conditional requests, SHA-256; writes a dataset of the files.",
            build: fetch::build_fetch,
        },
        OpSpec {
            name: "metadata.pull",
            summary: "Pulls an MLflow tracking server's experiments, runs and registered models into DataHub metadata change proposals (an MCP file or a GMS): every run an mlModel with its parameters and metrics.",
            build: metadata::build_metadata_pull,
        },
        OpSpec {
            name: "read.csv",
            summary: "Reads CSV files (`path`, globs allowed) into a dataset: types inferred or declared, blank lines skipped, `\\xNN` escapes repaired.",
            build: read::build_read_csv,
        },
        OpSpec {
            name: "read.json",
            summary: "Reads a JSON array or one object per line into a dataset; `lenient: true` accepts trailing commas and mixed types.",
            build: build::<ReadJson>,
        },
        OpSpec {
            name: "read.parquet",
            summary: "Reads Parquet files (`path`, globs allowed) into a dataset.",
            build: build::<ReadParquet>,
        },
        OpSpec {
            name: "sql",
            summary: "Runs a SQL query (DataFusion) over upstream datasets, each a table named after its task; writes the result as a dataset.",
            build: sql::build_sql,
        },
        OpSpec {
            name: "test",
            summary: "Runs a SQL query whose rows break a rule (a dbt test); fails showing them, or warns with `severity: warn`.",
            build: sql_test::build_test,
        },
        OpSpec {
            name: "unit_test",
            summary: "Runs a model's SQL on rows given for its inputs and compares its output with the rows expected, in any order (a dbt unit test).",
            build: sql_test::build_unit_test,
        },
        OpSpec {
            name: "snapshot",
            summary: "Keeps the history of a query's rows by `unique_key` (dbt snapshots: `timestamp` or `check` strategy), with dbt_valid_from / dbt_valid_to.",
            build: snapshot::build_snapshot,
        },
        OpSpec {
            name: "match.terms",
            summary: "Finds the terms of `terms` (column `term`) in the texts of `texts` (column `text`): whole words, any case; one row per text and term found.",
            build: build::<MatchTerms>,
        },
        OpSpec {
            name: "parse.service_public",
            summary: "Reads service-public.fr \"vos droits\" sheets (zips from `files`, or `path`) into one row per section: metadata, context (titles above), text with Markdown tables and bullets.",
            build: parse::service_public::build,
        },
        OpSpec {
            name: "parse.travail_emploi",
            summary: "Reads the labour ministry's sheets (`fiches-travail.json` from `files`, or `path`) into one row per section, the introduction first: metadata, context (section title), text from the HTML with Markdown tables and bullets, legal references as JSON.",
            build: parse::travail_emploi::build,
        },
        OpSpec {
            name: "parse.directory",
            summary: "Reads the directories of public services (`{\"service\": [...]}` JSON, alone or in a zip / tar.bz2, from `files` or `path`), record by record, into one row per service: contacts, addresses, opening hours, people in charge, hierarchy, and the text to embed.",
            build: parse::directory::build,
        },
        OpSpec {
            name: "parse.dila",
            summary: "Applies DILA archives (`kind`: legi, cnil, constit, dole) from a fetch listing in order onto the previous documents: replaced and new documents, suppression lists, full dumps.",
            build: parse::dila::build,
        },
        OpSpec {
            name: "chunk",
            summary: "Splits the `text` of each document of `input` into chunks of at most `size` tokens (`tokenizer`) or characters: ids `<doc_id>_<n>`, a `template` for the text to embed, its hash; unchanged documents reuse their chunks.",
            build: chunk::build_chunk,
        },
        OpSpec {
            name: "embed",
            summary: "Adds a vector column (`column`, default `embedding`) for the `text` of each row of `input`: a local sentence-transformers `model` run on the CPU cores, or an OpenAI-compatible `endpoint`; texts embedded before (any pipeline, same model) come from the cache.",
            build: embed::build_embed,
        },
        OpSpec {
            name: "load.postgres",
            summary: "Loads the dataset of `input` into the PostgreSQL `table` (pgvector `vector(N)` for vector columns): binary COPY, then one transaction that upserts changed rows by `key` and deletes rows that left the dataset; HNSW and `document` indexes; `url` or SLUICE_PG_URL.",
            build: load_postgres::build_load_postgres,
        },
        OpSpec {
            name: "split",
            summary: "Splits the dataset of `input` into parts, one per value of a rule's `column` (or per named regex of its `patterns`): names normalised and unique within 63 bytes; the dataset is the mapping, the parts are taken one by one by `load.postgres` and `export.parquet` with `parts: true`.",
            build: split::build_split,
        },
        OpSpec {
            name: "export.parquet",
            summary: "Writes the dataset of `input` as a folder (`path`) of Parquet files of at most `max_rows` rows that never split a `group`, ordered by `order_by`, zstd, vectors as FixedSizeList<Float32>, with a manifest.json (files, rows, bytes, sha256); the folder is replaced when complete.",
            build: export_parquet::build_export_parquet,
        },
        OpSpec {
            name: "publish.object_store",
            summary: "Publishes an `export.parquet` folder (`path`) to `url` (a folder, s3://, gs://, az://): an immutable `<name>/<version>/` folder, then `<name>/latest.json` pointing at it; nothing uploaded when the files' sha256 are unchanged.",
            build: publish::object_store::build,
        },
        OpSpec {
            name: "publish.huggingface",
            summary: "Publishes an `export.parquet` folder (`path`) to the Hugging Face dataset `repo` in one commit: `data/<name>-latest/` replaced, the previous version kept under `data/<name>-<version>/`, a dataset card; nothing sent when unchanged; token from HF_TOKEN.",
            build: publish::huggingface::build,
        },
        OpSpec {
            name: "train",
            summary: "Fits a `model` (logistic, mlp, gbdt, kmeans, pca) on the `features` and `label` of `input`, split into train/valid/test rows (`split`); with `search`, tries several configurations and keeps the best by the validation `metric`. The dataset is the figures per trial and epoch; the model is kept in the version's `model/` folder.",
            build: ml::train::build_train,
        },
        OpSpec {
            name: "predict",
            summary: "Scores every row of `input` with the model of the `train` task `model`: the input's columns (or `keep`) then `label` and `probas`, `prediction`, `cluster` and `distance`, or `projection`.",
            build: build::<ml::Predict>,
        },
        OpSpec {
            name: "write.json",
            summary: "Writes the dataset of `input` to `path` as one JSON array (nested from structs and lists; `pretty: false` for compact).",
            build: write::build_json,
        },
        OpSpec {
            name: "write.ndjson",
            summary: "Writes the dataset of `input` to `path`, one JSON object per line.",
            build: write::build_ndjson,
        },
        OpSpec {
            name: "write.csv",
            summary: "Writes the dataset of `input` to `path` as CSV with a header.",
            build: write::build_csv,
        },
        OpSpec {
            name: "write.parquet",
            summary: "Writes the dataset of `input` to `path` as one Parquet file (zstd).",
            build: write::build_parquet,
        },
    ];
    // The families in crates of their own.
    specs.extend(sluice_link::specs());
    specs.extend(sluice_docs::specs());
    specs
}
