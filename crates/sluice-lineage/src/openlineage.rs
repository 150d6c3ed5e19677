//! OpenLineage RunEvents (spec 2-0-2) from what the engine observes.
//!
//! - A pipeline run is a job named after the pipeline; each task attempt is a job named
//!   `pipeline.task` whose `parent` run facet points to the pipeline run.
//! - Run ids are UUIDs derived from sluice's ids (the run; the run, task and attempt), so the
//!   START and the COMPLETE of an attempt share one, and an export finds them again.
//! - A task's own dataset is `pipeline.task` in the warehouse's namespace; outside datasets
//!   (files, tables, URLs) are named as the op reports them ([`sluice_op::lineage`]).

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sluice_engine::observe::{AttemptEvent, Observed, Phase, RunEvent};
use sluice_op::lineage::{ColumnLineage, DatasetRef, External, Source, schema_fields};

/// The producer every event and facet names.
pub const PRODUCER: &str = concat!("urn:sluice:", env!("CARGO_PKG_VERSION"));
/// The RunEvent schema.
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// How events name things.
#[derive(Debug, Clone)]
pub struct Naming {
    /// The namespace of jobs (`OPENLINEAGE_NAMESPACE`, default `sluice`).
    pub jobs: String,
    /// The namespace of the warehouse's datasets.
    pub warehouse: String,
    /// The warehouse folder, for the `dataSource` facet.
    pub warehouse_dir: std::path::PathBuf,
}

impl Naming {
    /// Names for a home's warehouse: datasets in `sluice://HOST/abs/warehouse`.
    pub fn for_warehouse(jobs: &str, warehouse_dir: &std::path::Path) -> Self {
        let dir = std::path::absolute(warehouse_dir).unwrap_or_else(|_| warehouse_dir.into());
        Naming {
            jobs: jobs.to_string(),
            warehouse: format!("sluice://{}{}", sluice_engine::hostname(), dir.display()),
            warehouse_dir: dir,
        }
    }

    /// The namespace and name of task `task`'s dataset of pipeline `pipeline`.
    pub fn dataset(&self, pipeline: &str, task: &str) -> (String, String) {
        (self.warehouse.clone(), format!("{pipeline}.{task}"))
    }
}

/// The run id of a pipeline run.
pub fn run_uuid(run_id: &str) -> String {
    uuid_of(&format!("sluice run {run_id}"))
}

/// The run id of a task attempt.
pub fn attempt_uuid(run_id: &str, task: &str, attempt: u32) -> String {
    uuid_of(&format!("sluice attempt {run_id} {task} {attempt}"))
}

/// A name-based UUID (RFC 9562 version 8) from SHA-256 of `name`.
fn uuid_of(name: &str) -> String {
    let h = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `micros` since the epoch as an RFC 3339 time, UTC, to the microsecond.
pub fn time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The schema URL of a standard facet: its file, version and definition.
macro_rules! facet_url {
    ($file:literal, $version:literal, $def:literal) => {
        concat!(
            "https://openlineage.io/spec/facets/",
            $version,
            "/",
            $file,
            ".json#/$defs/",
            $def
        )
    };
}

const PROCESSING_ENGINE: &str = facet_url!(
    "ProcessingEngineRunFacet",
    "1-1-1",
    "ProcessingEngineRunFacet"
);
const NOMINAL_TIME: &str = facet_url!("NominalTimeRunFacet", "1-0-1", "NominalTimeRunFacet");
const ERROR_MESSAGE: &str = facet_url!("ErrorMessageRunFacet", "1-0-1", "ErrorMessageRunFacet");
const PARENT: &str = facet_url!("ParentRunFacet", "1-2-0", "ParentRunFacet");
const JOB_TYPE: &str = facet_url!("JobTypeJobFacet", "2-0-4", "JobTypeJobFacet");
const DOCUMENTATION: &str = facet_url!("DocumentationJobFacet", "1-1-0", "DocumentationJobFacet");
const SQL: &str = facet_url!("SQLJobFacet", "1-1-0", "SQLJobFacet");
const DATA_SOURCE: &str = facet_url!("DatasourceDatasetFacet", "1-0-1", "DatasourceDatasetFacet");
const VERSION: &str = facet_url!(
    "DatasetVersionDatasetFacet",
    "1-0-1",
    "DatasetVersionDatasetFacet"
);
const SCHEMA: &str = facet_url!("SchemaDatasetFacet", "1-2-0", "SchemaDatasetFacet");
const COLUMN_LINEAGE: &str = facet_url!(
    "ColumnLineageDatasetFacet",
    "1-2-0",
    "ColumnLineageDatasetFacet"
);
const DATASET_DOCUMENTATION: &str = facet_url!(
    "DocumentationDatasetFacet",
    "1-1-0",
    "DocumentationDatasetFacet"
);
const OWNERSHIP: &str = facet_url!("OwnershipDatasetFacet", "1-0-1", "OwnershipDatasetFacet");
const TAGS: &str = facet_url!("TagsDatasetFacet", "1-0-0", "TagsDatasetFacet");
const OUTPUT_STATISTICS: &str = facet_url!(
    "OutputStatisticsOutputDatasetFacet",
    "1-0-2",
    "OutputStatisticsOutputDatasetFacet"
);

/// A facet: its body with the producer and schema URL every facet carries.
#[derive(Serialize)]
struct Facet<T> {
    #[serde(rename = "_producer")]
    producer: &'static str,
    #[serde(rename = "_schemaURL")]
    schema_url: &'static str,
    #[serde(flatten)]
    body: T,
}

fn facet<T>(schema_url: &'static str, body: T) -> Facet<T> {
    Facet {
        producer: PRODUCER,
        schema_url,
        body,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    event_type: &'static str,
    event_time: String,
    producer: &'static str,
    #[serde(rename = "schemaURL")]
    schema_url: &'static str,
    run: Run<'a>,
    job: Job<'a>,
    inputs: Vec<OutDataset<'a>>,
    outputs: Vec<OutDataset<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    run_id: String,
    facets: RunFacets<'a>,
}

#[derive(Serialize)]
struct RunFacets<'a> {
    processing_engine: Facet<Engine>,
    #[serde(rename = "nominalTime", skip_serializing_if = "Option::is_none")]
    nominal_time: Option<Facet<NominalTime>>,
    #[serde(rename = "errorMessage", skip_serializing_if = "Option::is_none")]
    error_message: Option<Facet<ErrorMessage<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<Facet<Parent<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Engine {
    name: &'static str,
    version: &'static str,
    openlineage_adapter_version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NominalTime {
    nominal_start_time: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorMessage<'a> {
    message: &'a str,
    programming_language: &'static str,
}

#[derive(Serialize)]
struct Parent<'a> {
    run: RunRef,
    job: JobRef<'a>,
    root: Root<'a>,
}

#[derive(Serialize)]
struct Root<'a> {
    run: RunRef,
    job: JobRef<'a>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RunRef {
    run_id: String,
}

#[derive(Serialize, Clone, Copy)]
struct JobRef<'a> {
    namespace: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct Job<'a> {
    namespace: &'a str,
    name: String,
    facets: JobFacets<'a>,
}

#[derive(Serialize)]
struct JobFacets<'a> {
    #[serde(rename = "jobType")]
    job_type: Facet<JobType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    documentation: Option<Facet<Documentation<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sql: Option<Facet<Sql<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobType {
    processing_type: &'static str,
    integration: &'static str,
    job_type: &'static str,
}

#[derive(Serialize)]
struct Documentation<'a> {
    description: &'a str,
}

#[derive(Serialize)]
struct Sql<'a> {
    query: &'a str,
    dialect: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutDataset<'a> {
    namespace: String,
    name: String,
    facets: DatasetFacets,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_facets: Option<OutputFacets>,
    #[serde(skip)]
    _life: std::marker::PhantomData<&'a ()>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct DatasetFacets {
    #[serde(skip_serializing_if = "Option::is_none")]
    documentation: Option<Facet<DatasetDocumentation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ownership: Option<Facet<Ownership>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Facet<Tags>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_source: Option<Facet<DataSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<Facet<Version>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<Facet<Schema>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column_lineage: Option<Facet<Columns>>,
}

#[derive(Serialize)]
struct DatasetDocumentation {
    description: String,
}

#[derive(Serialize)]
struct Ownership {
    owners: Vec<Owner>,
}

#[derive(Serialize)]
struct Owner {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Tags {
    tags: Vec<Tag>,
}

#[derive(Serialize)]
struct Tag {
    key: String,
    value: String,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

#[derive(Serialize)]
struct DataSource {
    name: String,
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    dataset_version: String,
}

#[derive(Serialize)]
struct Schema {
    fields: Vec<SchemaField>,
}

#[derive(Serialize)]
struct SchemaField {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Serialize)]
struct Columns {
    fields: BTreeMap<String, InputFields>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dataset: Vec<InputField>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InputFields {
    input_fields: Vec<InputField>,
}

#[derive(Serialize)]
struct InputField {
    namespace: String,
    name: String,
    field: String,
    transformations: [Transformation; 1],
}

#[derive(Serialize)]
struct Transformation {
    #[serde(rename = "type")]
    kind: &'static str,
    subtype: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    masking: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputFacets {
    output_statistics: Facet<Statistics>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Statistics {
    row_count: u64,
    size: u64,
}

fn event_type(phase: Phase) -> &'static str {
    match phase {
        Phase::Started => "START",
        Phase::Succeeded => "COMPLETE",
        Phase::Failed => "FAIL",
        Phase::Cancelled => "ABORT",
    }
}

/// The schema (the engine's JSON) of version `.1` of task `.0`'s dataset, when known.
pub type Schemas<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// The RunEvent of `observed`, as one line of JSON; `schemas` gives the schemas of the
/// datasets it reads.
pub fn event(observed: &Observed, naming: &Naming, schemas: Schemas) -> String {
    match observed {
        Observed::Run(r) => line(&run_event(r, naming)),
        Observed::Attempt(a) => attempt_event_line(a, naming, schemas),
    }
}

fn line(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

fn run_facets<'a>(nominal: Option<i64>, phase: Phase, error: Option<&'a str>) -> RunFacets<'a> {
    RunFacets {
        processing_engine: facet(
            PROCESSING_ENGINE,
            Engine {
                name: "sluice",
                version: env!("CARGO_PKG_VERSION"),
                openlineage_adapter_version: env!("CARGO_PKG_VERSION"),
            },
        ),
        nominal_time: nominal.map(|t| {
            facet(
                NOMINAL_TIME,
                NominalTime {
                    nominal_start_time: time(t),
                },
            )
        }),
        error_message: match (error, phase) {
            (Some(message), Phase::Failed | Phase::Cancelled) => Some(facet(
                ERROR_MESSAGE,
                ErrorMessage {
                    message,
                    programming_language: "rust",
                },
            )),
            _ => None,
        },
        parent: None,
    }
}

fn job_facets<'a>(kind: &'static str, description: Option<&'a str>) -> JobFacets<'a> {
    JobFacets {
        job_type: facet(
            JOB_TYPE,
            JobType {
                processing_type: "BATCH",
                integration: "SLUICE",
                job_type: kind,
            },
        ),
        documentation: description
            .map(|description| facet(DOCUMENTATION, Documentation { description })),
        sql: None,
    }
}

fn run_event<'a>(r: &'a RunEvent, naming: &'a Naming) -> Event<'a> {
    pipeline_event(
        PipelineRun {
            pipeline: &r.pipeline.name,
            description: r.pipeline.description.as_deref(),
            run_id: &r.run_id,
            nominal_time: r.nominal_time,
        },
        r.phase,
        r.at,
        r.error.as_deref(),
        naming,
    )
}

/// A pipeline run, as its events name it.
#[derive(Debug, Clone, Copy)]
pub struct PipelineRun<'a> {
    /// The pipeline.
    pub pipeline: &'a str,
    /// Its description.
    pub description: Option<&'a str>,
    /// The run.
    pub run_id: &'a str,
    /// Its scheduled slot.
    pub nominal_time: Option<i64>,
}

fn pipeline_event<'a>(
    r: PipelineRun<'a>,
    phase: Phase,
    at: i64,
    error: Option<&'a str>,
    naming: &'a Naming,
) -> Event<'a> {
    Event {
        event_type: event_type(phase),
        event_time: time(at),
        producer: PRODUCER,
        schema_url: SCHEMA_URL,
        run: Run {
            run_id: run_uuid(r.run_id),
            facets: run_facets(r.nominal_time, phase, error),
        },
        job: Job {
            namespace: &naming.jobs,
            name: r.pipeline.to_string(),
            facets: job_facets("DAG", r.description),
        },
        inputs: Vec::new(),
        outputs: Vec::new(),
    }
}

/// The event of pipeline run `r` reaching `phase` at `at`, as one line of JSON.
pub fn pipeline_run_event(r: PipelineRun, phase: Phase, at: i64, naming: &Naming) -> String {
    line(&pipeline_event(r, phase, at, None, naming))
}

/// The event of attempt `a`, as one line of JSON.
pub fn attempt_event_line(a: &AttemptEvent, naming: &Naming, schemas: Schemas) -> String {
    line(&attempt_event(a, naming, schemas))
}

fn attempt_event<'a>(a: &'a AttemptEvent, naming: &'a Naming, schemas: Schemas) -> Event<'a> {
    let pipeline = &a.meta.pipeline;
    let task = &a.meta;
    let mut run_facets = run_facets(a.nominal_time, a.phase, a.error.as_deref());
    let parent_run = RunRef {
        run_id: run_uuid(&a.run_id),
    };
    let parent_job = JobRef {
        namespace: &naming.jobs,
        name: pipeline,
    };
    run_facets.parent = Some(facet(
        PARENT,
        Parent {
            run: parent_run.clone(),
            job: parent_job,
            root: Root {
                run: parent_run,
                job: parent_job,
            },
        },
    ));
    let mut job_facets = job_facets("TASK", task.description.as_deref());
    job_facets.sql = a.lineage.sql.as_deref().map(|query| {
        facet(
            SQL,
            Sql {
                query,
                dialect: "datafusion",
            },
        )
    });

    let mut inputs: Vec<OutDataset> = a
        .inputs
        .iter()
        .map(|(t, version)| {
            let (namespace, name) = naming.dataset(pipeline, t);
            let schema = schemas(t, version);
            out_dataset(
                namespace,
                name,
                warehouse_facets(naming, pipeline, t, Some(version), schema.as_deref()),
            )
        })
        .collect();
    inputs.extend(a.lineage.inputs.iter().map(external));

    let columns_of = |r: &DatasetRef| {
        a.lineage
            .columns
            .iter()
            .find(|c| &c.output == r)
            .map(|c| column_lineage(c, naming, pipeline))
    };
    let mut outputs = Vec::new();
    if let Some(version) = &a.output {
        let (namespace, name) = naming.dataset(pipeline, &task.task);
        let schema = a.dataset.as_ref().map(|d| d.schema.as_str());
        let mut facets = warehouse_facets(naming, pipeline, &task.task, Some(version), schema);
        documented(&mut facets, task.description.as_deref(), &task.docs);
        facets.column_lineage = columns_of(&DatasetRef::Own);
        let mut out = out_dataset(namespace, name, facets);
        out.output_facets = a.dataset.as_ref().map(|d| OutputFacets {
            output_statistics: facet(
                OUTPUT_STATISTICS,
                Statistics {
                    row_count: d.rows,
                    size: d.bytes,
                },
            ),
        });
        outputs.push(out);
    }
    for e in &a.lineage.outputs {
        let mut out = external(e);
        out.facets.column_lineage = columns_of(&DatasetRef::external(e));
        outputs.push(out);
    }
    Event {
        event_type: event_type(a.phase),
        event_time: time(a.at),
        producer: PRODUCER,
        schema_url: SCHEMA_URL,
        run: Run {
            run_id: attempt_uuid(&a.run_id, &task.task, a.attempt),
            facets: run_facets,
        },
        job: Job {
            namespace: &naming.jobs,
            name: format!("{pipeline}.{}", task.task),
            facets: job_facets,
        },
        inputs,
        outputs,
    }
}

/// The task's description, owners, tags and column docs on its dataset's facets.
fn documented(facets: &mut DatasetFacets, description: Option<&str>, docs: &sluice_core::Docs) {
    facets.documentation = description.map(|d| {
        facet(
            DATASET_DOCUMENTATION,
            DatasetDocumentation {
                description: d.to_string(),
            },
        )
    });
    if !docs.owners.is_empty() {
        let owners = docs
            .owners
            .iter()
            .map(|o| Owner {
                name: o.clone(),
                kind: "OWNER",
            })
            .collect();
        facets.ownership = Some(facet(OWNERSHIP, Ownership { owners }));
    }
    let tag = |key: &str, field: Option<&str>| Tag {
        key: key.to_string(),
        value: "true".into(),
        source: "SLUICE",
        field: field.map(str::to_string),
    };
    let mut tags: Vec<Tag> = docs.tags.iter().map(|t| tag(t, None)).collect();
    for (column, doc) in &docs.columns {
        tags.extend(doc.tags.iter().map(|t| tag(t, Some(column))));
        if doc.pii {
            tags.push(tag("pii", Some(column)));
        }
    }
    if !tags.is_empty() {
        facets.tags = Some(facet(TAGS, Tags { tags }));
    }
    if let Some(schema) = &mut facets.schema {
        for f in &mut schema.body.fields {
            f.description = docs
                .columns
                .get(&f.name)
                .and_then(|d| d.description.clone());
        }
    }
}

fn out_dataset<'a>(namespace: String, name: String, facets: DatasetFacets) -> OutDataset<'a> {
    OutDataset {
        namespace,
        name,
        facets,
        output_facets: None,
        _life: std::marker::PhantomData,
    }
}

/// The facets of a warehouse dataset: where it is, its version, its schema (the JSON the
/// engine records: `[{"name", "type", "nullable"}]`).
fn warehouse_facets(
    naming: &Naming,
    pipeline: &str,
    task: &str,
    version: Option<&str>,
    schema: Option<&str>,
) -> DatasetFacets {
    let dir = naming.warehouse_dir.join(pipeline).join(task);
    DatasetFacets {
        data_source: Some(facet(
            DATA_SOURCE,
            DataSource {
                name: "sluice warehouse".into(),
                uri: format!("file://{}", dir.display()),
            },
        )),
        version: version.map(|v| {
            facet(
                VERSION,
                Version {
                    dataset_version: v.to_string(),
                },
            )
        }),
        schema: schema.map(|s| {
            let fields = schema_fields(s)
                .into_iter()
                .map(|f| SchemaField {
                    name: f.name,
                    data_type: f.data_type,
                    description: None,
                })
                .collect();
            facet(SCHEMA, Schema { fields })
        }),
        column_lineage: None,
        ..DatasetFacets::default()
    }
}

fn external<'a>(e: &External) -> OutDataset<'a> {
    let facets = DatasetFacets {
        data_source: Some(facet(
            DATA_SOURCE,
            DataSource {
                name: e.namespace.clone(),
                uri: external_uri(e),
            },
        )),
        schema: (!e.fields.is_empty()).then(|| {
            let fields = e
                .fields
                .iter()
                .map(|f| SchemaField {
                    name: f.name.clone(),
                    data_type: f.data_type.clone(),
                    description: None,
                })
                .collect();
            facet(SCHEMA, Schema { fields })
        }),
        ..DatasetFacets::default()
    };
    out_dataset(e.namespace.clone(), e.name.clone(), facets)
}

fn external_uri(e: &External) -> String {
    match e.namespace.as_str() {
        "file" => format!("file://{}", e.name),
        ns if e.name.starts_with('/') => format!("{ns}{}", e.name),
        ns => ns.to_string(),
    }
}

fn column_lineage(c: &ColumnLineage, naming: &Naming, pipeline: &str) -> Facet<Columns> {
    // Sources naming the task's own dataset say nothing to a reader of the event.
    let field = |s: &Source| {
        let (namespace, name) = match &s.dataset {
            DatasetRef::Own => return None,
            DatasetRef::Task { task } => naming.dataset(pipeline, task),
            DatasetRef::External { namespace, name } => (namespace.clone(), name.clone()),
        };
        Some(InputField {
            namespace,
            name,
            field: s.field.clone(),
            transformations: [Transformation {
                kind: s.how.kind(),
                subtype: s.how.subtype(),
                masking: s.masking,
            }],
        })
    };
    let fields = c
        .fields
        .iter()
        .map(|(name, sources)| {
            let input_fields = sources.iter().filter_map(field).collect();
            (name.clone(), InputFields { input_fields })
        })
        .collect();
    let dataset = c.dataset.iter().filter_map(field).collect();
    facet(COLUMN_LINEAGE, Columns { fields, dataset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_stable_for_one_attempt() {
        let a = attempt_uuid("20261206-120000-0000abcd", "graph", 1);
        assert_eq!(a, attempt_uuid("20261206-120000-0000abcd", "graph", 1));
        assert_ne!(a, attempt_uuid("20261206-120000-0000abcd", "graph", 2));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant: {a}");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
    }
}
