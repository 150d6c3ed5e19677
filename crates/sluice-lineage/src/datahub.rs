//! DataHub metadata change proposals (MCPs) for the whole catalog, and their two sinks: an
//! MCP JSON file (what `datahub ingest` and the `file` source read) and the REST emitter
//! (`POST {gms}/aspects?action=ingestProposal`).
//!
//! - A pipeline is a `dataFlow` (`dataFlowInfo`, `status`); each task a `dataJob`
//!   (`dataJobInfo`, `dataJobInputOutput` with fine-grained lineage, `status`).
//! - A task's dataset is `urn:li:dataset:(urn:li:dataPlatform:sluice,PIPELINE.TASK,ENV)` with
//!   `datasetProperties`, `schemaMetadata`, `upstreamLineage` (fine-grained, column to
//!   column) and `status`; files, tables and repositories a task writes get the same, on their
//!   own platform (`file`, `postgres`, `s3`…).
//! - The latest successful attempt of each task is a `dataProcessInstance` of its job, with
//!   its properties, its relationship to the job and its run event.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sluice_core::Docs;
use sluice_datahub::{ACTOR, dataset_urn, mcp, ml_model_group_urn, ml_model_urn};
use sluice_datahub::{ENV, Mcp};
use sluice_engine::observe::AttemptEvent;
use sluice_op::lineage::{ColumnLineage, DatasetRef, External, schema_fields};

use crate::catalog::Catalog;

fn flow_urn(pipeline: &str) -> String {
    format!("urn:li:dataFlow:(sluice,{pipeline},{ENV})")
}

fn job_urn(pipeline: &str, task: &str) -> String {
    format!("urn:li:dataJob:({},{task})", flow_urn(pipeline))
}

fn field_urn(dataset: &str, field: &str) -> String {
    format!("urn:li:schemaField:({dataset},{field})")
}

/// The URN of task `task`'s dataset.
pub fn task_dataset_urn(pipeline: &str, task: &str) -> String {
    dataset_urn("sluice", &format!("{pipeline}.{task}"))
}

/// The URN of an outside dataset: its platform from its namespace.
pub fn external_urn(e: &External) -> String {
    let (platform, name) = external_platform(e);
    dataset_urn(platform, &name)
}

/// An outside dataset's DataHub platform and name within it.
fn external_platform(e: &External) -> (&'static str, String) {
    match e.namespace.split_once("://") {
        None if e.namespace == "file" => ("file", e.name.clone()),
        Some(("postgres" | "postgresql", _)) => ("postgres", e.name.clone()),
        Some(("s3" | "s3a", bucket)) => ("s3", format!("{bucket}{}", e.name)),
        Some(("gs", bucket)) => ("gcs", format!("{bucket}{}", e.name)),
        Some(("az" | "abfs" | "abfss", container)) => ("abs", format!("{container}{}", e.name)),
        Some((_, "huggingface.co")) => ("huggingface", e.name.clone()),
        Some((_, host)) => ("http", format!("{host}{}", e.name)),
        None => ("external", format!("{}/{}", e.namespace, e.name)),
    }
}

fn millis(micros: i64) -> i64 {
    micros / 1000
}

fn stamp(micros: i64) -> Value {
    json!({"time": millis(micros), "actor": ACTOR})
}

/// DataHub's type of an Arrow type (as Arrow prints it).
fn field_type(arrow: &str) -> &'static str {
    let t = arrow.trim();
    let head = t.split(['(', '<']).next().unwrap_or(t);
    match head {
        "Utf8" | "LargeUtf8" | "Utf8View" => "com.linkedin.schema.StringType",
        "Boolean" => "com.linkedin.schema.BooleanType",
        "Date32" | "Date64" => "com.linkedin.schema.DateType",
        "Timestamp" | "Time32" | "Time64" | "Duration" | "Interval" => {
            "com.linkedin.schema.TimeType"
        }
        "List" | "LargeList" | "FixedSizeList" | "ListView" => "com.linkedin.schema.ArrayType",
        "Struct" => "com.linkedin.schema.RecordType",
        "Map" => "com.linkedin.schema.MapType",
        "Binary" | "LargeBinary" | "FixedSizeBinary" | "BinaryView" => {
            "com.linkedin.schema.BytesType"
        }
        "Null" => "com.linkedin.schema.NullType",
        h if h.starts_with("Int")
            || h.starts_with("UInt")
            || h.starts_with("Float")
            || h.starts_with("Decimal") =>
        {
            "com.linkedin.schema.NumberType"
        }
        _ => "com.linkedin.schema.StringType",
    }
}

fn schema_metadata(
    name: &str,
    platform: &str,
    fields: &[(String, String)],
    docs: &Docs,
    at: i64,
) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(name, native)| {
            let mut f = json!({
                "fieldPath": name,
                "nullable": true,
                "type": {"type": {field_type(native): {}}},
                "nativeDataType": native,
                "recursive": false,
                "isPartOfKey": false,
            });
            if let Some(doc) = docs.columns.get(name) {
                if let Some(d) = &doc.description {
                    f["description"] = d.clone().into();
                }
                let mut tags: Vec<&str> = doc.tags.iter().map(String::as_str).collect();
                if doc.pii {
                    tags.push("pii");
                }
                if !tags.is_empty() {
                    f["globalTags"] = global_tags(&tags);
                }
            }
            f
        })
        .collect();
    json!({
        "schemaName": name,
        "platform": format!("urn:li:dataPlatform:{platform}"),
        "version": 0,
        "created": stamp(at),
        "lastModified": stamp(at),
        "hash": "",
        "platformSchema": {"com.linkedin.schema.OtherSchema": {"rawSchema": ""}},
        "fields": fields,
    })
}

fn global_tags(tags: &[&str]) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|t| json!({"tag": format!("urn:li:tag:{t}")}))
        .collect();
    json!({ "tags": tags })
}

/// A catalog owner's URN: `team:NAME` or `group:NAME` is a group, anything else a user.
fn owner_urn(owner: &str) -> String {
    match owner.split_once(':') {
        Some(("team" | "group", name)) => format!("urn:li:corpGroup:{name}"),
        _ => format!("urn:li:corpuser:{owner}"),
    }
}

/// Resolves the datasets a task's lineage names.
struct Resolver<'a> {
    task: &'a AttemptEvent,
}

impl Resolver<'_> {
    fn urn(&self, r: &DatasetRef) -> String {
        match r {
            DatasetRef::Own => task_dataset_urn(&self.task.meta.pipeline, &self.task.meta.task),
            DatasetRef::Task { task } => task_dataset_urn(&self.task.meta.pipeline, task),
            DatasetRef::External { namespace, name } => external_urn(&External {
                namespace: namespace.clone(),
                name: name.clone(),
                fields: Vec::new(),
            }),
        }
    }

    /// One fine-grained lineage per output column: its sources, how they are used.
    fn fine_grained(&self, c: &ColumnLineage) -> Vec<Value> {
        let output = self.urn(&c.output);
        c.fields
            .iter()
            .filter(|(_, sources)| !sources.is_empty())
            .map(|(field, sources)| {
                let upstreams: BTreeSet<String> = sources
                    .iter()
                    .map(|s| field_urn(&self.urn(&s.dataset), &s.field))
                    .collect();
                let hows: BTreeSet<&str> = sources.iter().map(|s| s.how.subtype()).collect();
                let direct = sources.iter().any(|s| s.how.kind() == "DIRECT");
                json!({
                    "upstreamType": "FIELD_SET",
                    "upstreams": upstreams,
                    "downstreamType": "FIELD",
                    "downstreams": [field_urn(&output, field)],
                    "transformOperation": hows.into_iter().collect::<Vec<_>>().join(","),
                    "confidenceScore": if direct { 1.0 } else { 0.5 },
                })
            })
            .collect()
    }
}

/// Every MCP of `catalog`.
pub fn mcps(catalog: &Catalog) -> Vec<Mcp> {
    let mut out = Vec::new();
    for (pipeline, description) in catalog.pipelines() {
        let flow = flow_urn(pipeline);
        let mut info = json!({"name": pipeline, "customProperties": {"producer": "sluice"}});
        if let Some(d) = description {
            info["description"] = d.into();
        }
        out.push(mcp("dataFlow", &flow, "dataFlowInfo", info));
        out.push(mcp("dataFlow", &flow, "status", json!({"removed": false})));
    }
    for t in &catalog.tasks {
        task_mcps(catalog, t, &mut out);
    }
    out
}

fn task_mcps(catalog: &Catalog, t: &AttemptEvent, out: &mut Vec<Mcp>) {
    let (pipeline, task) = (&t.meta.pipeline, &t.meta.task);
    let resolver = Resolver { task: t };
    let job = job_urn(pipeline, task);
    let own = task_dataset_urn(pipeline, task);

    // What the task read: upstream tasks' datasets and outside ones.
    let mut inputs: Vec<String> = t
        .inputs
        .iter()
        .map(|(u, _)| task_dataset_urn(pipeline, u))
        .collect();
    inputs.extend(t.lineage.inputs.iter().map(external_urn));
    let mut outputs = Vec::new();
    // The fine-grained lineage of each output, computed once: on the output's
    // `upstreamLineage`, and all of it on the job's `dataJobInputOutput`.
    let fine_of: Vec<(&DatasetRef, Vec<Value>)> = t
        .lineage
        .columns
        .iter()
        .map(|c| (&c.output, resolver.fine_grained(c)))
        .collect();
    let fine_for = |r: &DatasetRef| -> Vec<Value> {
        fine_of
            .iter()
            .filter(|(o, _)| *o == r)
            .flat_map(|(_, f)| f.iter().cloned())
            .collect()
    };

    // Its own dataset.
    if t.output.is_some() {
        outputs.push(own.clone());
        let key = format!("{pipeline}.{task}");
        let latest = catalog.datasets.get(&key);
        let mut props = json!({
            "name": task,
            "qualifiedName": key,
            "customProperties": {"pipeline": pipeline, "task": task},
        });
        if let Some(d) = &t.meta.description {
            props["description"] = d.clone().into();
        }
        if let Some(v) = latest {
            let custom = &mut props["customProperties"];
            custom["version"] = v.version.clone().into();
            custom["rows"] = v.rows.to_string().into();
            custom["bytes"] = v.bytes.to_string().into();
            custom["path"] = v.path.clone().into();
        }
        out.push(mcp("dataset", &own, "datasetProperties", props));
        let schema = latest
            .map(|v| v.schema.clone())
            .or_else(|| t.dataset.as_ref().map(|d| d.schema.clone()));
        if let Some(schema) = schema {
            let fields: Vec<(String, String)> = schema_fields(&schema)
                .into_iter()
                .map(|f| (f.name, f.data_type))
                .collect();
            out.push(mcp(
                "dataset",
                &own,
                "schemaMetadata",
                schema_metadata(&key, "sluice", &fields, &t.meta.docs, t.at),
            ));
        }
        if !t.meta.docs.owners.is_empty() {
            let owners: Vec<Value> = t
                .meta
                .docs
                .owners
                .iter()
                .map(|o| json!({"owner": owner_urn(o), "type": "DATAOWNER"}))
                .collect();
            out.push(mcp(
                "dataset",
                &own,
                "ownership",
                json!({"owners": owners, "ownerTypes": {}, "lastModified": stamp(t.at)}),
            ));
        }
        if !t.meta.docs.tags.is_empty() {
            let tags: Vec<&str> = t.meta.docs.tags.iter().map(String::as_str).collect();
            out.push(mcp("dataset", &own, "globalTags", global_tags(&tags)));
        }
        out.push(mcp(
            "dataset",
            &own,
            "upstreamLineage",
            upstream_lineage(&inputs, fine_for(&DatasetRef::Own), t.at),
        ));
        out.push(mcp("dataset", &own, "status", json!({"removed": false})));
    }
    // Files, tables and repositories it wrote.
    for e in &t.lineage.outputs {
        let urn = external_urn(e);
        outputs.push(urn.clone());
        let name = e.name.rsplit('/').next().unwrap_or(&e.name);
        out.push(mcp(
            "dataset",
            &urn,
            "datasetProperties",
            json!({"name": name, "qualifiedName": format!("{}{}", e.namespace, e.name),
                   "customProperties": {"written_by": format!("{pipeline}.{task}")}}),
        ));
        if !e.fields.is_empty() {
            let fields: Vec<(String, String)> = e
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.data_type.clone()))
                .collect();
            let (platform, _) = external_platform(e);
            out.push(mcp(
                "dataset",
                &urn,
                "schemaMetadata",
                schema_metadata(&e.name, platform, &fields, &Docs::default(), t.at),
            ));
        }
        let mut upstreams = inputs.clone();
        if t.output.is_some() {
            upstreams.push(own.clone());
        }
        out.push(mcp(
            "dataset",
            &urn,
            "upstreamLineage",
            upstream_lineage(&upstreams, fine_for(&DatasetRef::external(e)), t.at),
        ));
        out.push(mcp("dataset", &urn, "status", json!({"removed": false})));
    }

    // A model it trained: a version of the task's model group.
    if let (Some(model), Some(version)) = (&t.lineage.model, &t.output) {
        let group = ml_model_group_urn("sluice", &format!("{pipeline}.{task}"));
        let urn = ml_model_urn("sluice", &format!("{pipeline}.{task}_{version}"));
        let mut group_props = json!({
            "name": format!("{pipeline}.{task}"),
            "customProperties": {"pipeline": pipeline, "task": task, "kind": model.kind},
        });
        if let Some(d) = &t.meta.description {
            group_props["description"] = d.clone().into();
        }
        out.push(mcp(
            "mlModelGroup",
            &group,
            "mlModelGroupProperties",
            group_props,
        ));
        out.push(mcp(
            "mlModelGroup",
            &group,
            "status",
            json!({"removed": false}),
        ));
        let named = |pairs: Vec<(String, String)>| -> Vec<Value> {
            pairs
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect()
        };
        let mut props = json!({
            "name": format!("{pipeline}.{task}_{version}"),
            "customProperties": {"kind": model.kind, "version": version, "run_id": t.run_id},
            "date": millis(t.at),
            "version": {"versionTag": version},
            "hyperParams": named(model.params.clone()),
            "trainingMetrics": named(
                model.metrics.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
            ),
            "groups": [group],
            "trainingJobs": [job],
            "tags": [],
        });
        if let Some(d) = &t.meta.description {
            props["description"] = d.clone().into();
        }
        out.push(mcp("mlModel", &urn, "mlModelProperties", props));
        let data: Vec<Value> = inputs.iter().map(|d| json!({ "dataset": d })).collect();
        out.push(mcp(
            "mlModel",
            &urn,
            "mlModelTrainingData",
            json!({ "trainingData": data }),
        ));
        out.push(mcp("mlModel", &urn, "status", json!({"removed": false})));
    }

    // The task as a job.
    let mut custom = BTreeMap::from([("pipeline", pipeline.as_str())]);
    if let Some(op) = &t.meta.op {
        custom.insert("op", op);
    }
    let mut info = json!({
        "name": task,
        "type": {"string": "COMMAND"},
        "flowUrn": flow_urn(pipeline),
        "customProperties": custom,
    });
    if let Some(d) = &t.meta.description {
        info["description"] = d.clone().into();
    }
    out.push(mcp("dataJob", &job, "dataJobInfo", info));
    let upstream_jobs: Vec<String> = t
        .meta
        .upstream
        .iter()
        .map(|u| job_urn(pipeline, u))
        .collect();
    let mut io = json!({
        "inputDatasets": inputs,
        "outputDatasets": outputs,
        "inputDatajobs": upstream_jobs,
    });
    let fine: Vec<Value> = fine_of.into_iter().flat_map(|(_, f)| f).collect();
    if !fine.is_empty() {
        io["fineGrainedLineages"] = fine.into();
    }
    out.push(mcp("dataJob", &job, "dataJobInputOutput", io));
    out.push(mcp("dataJob", &job, "status", json!({"removed": false})));

    // Its latest success as a run instance of the job.
    let instance = format!(
        "urn:li:dataProcessInstance:{}",
        crate::openlineage::attempt_uuid(&t.run_id, task, t.attempt)
    );
    let kind = if t.nominal_time.is_some() {
        "BATCH_SCHEDULED"
    } else {
        "BATCH_AD_HOC"
    };
    out.push(mcp(
        "dataProcessInstance",
        &instance,
        "dataProcessInstanceProperties",
        json!({
            "name": format!("{} attempt {}", t.run_id, t.attempt),
            "type": kind,
            "created": stamp(t.started_at),
            "customProperties": {"run_id": t.run_id, "attempt": t.attempt.to_string()},
        }),
    ));
    out.push(mcp(
        "dataProcessInstance",
        &instance,
        "dataProcessInstanceRelationships",
        json!({"parentTemplate": job, "upstreamInstances": []}),
    ));
    out.push(mcp(
        "dataProcessInstance",
        &instance,
        "dataProcessInstanceRunEvent",
        json!({
            "timestampMillis": millis(t.at),
            "partitionSpec": {"partition": "FULL_TABLE_SNAPSHOT", "type": "FULL_TABLE"},
            "status": "COMPLETE",
            "result": {"type": "SUCCESS", "nativeResultType": "sluice"},
            "durationMillis": millis(t.at - t.started_at),
        }),
    ));
}

fn upstream_lineage(upstreams: &[String], fine: Vec<Value>, at: i64) -> Value {
    let list: Vec<Value> = upstreams
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|u| json!({"auditStamp": stamp(at), "dataset": u, "type": "TRANSFORMED"}))
        .collect();
    let mut v = json!({ "upstreams": list });
    if !fine.is_empty() {
        v["fineGrainedLineages"] = fine.into();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_datasets_land_on_their_platform() {
        let e = |ns: &str, name: &str| External {
            namespace: ns.into(),
            name: name.into(),
            fields: Vec::new(),
        };
        assert_eq!(
            external_urn(&e("postgres://db:5432", "app.public.chunks")),
            "urn:li:dataset:(urn:li:dataPlatform:postgres,app.public.chunks,PROD)"
        );
        assert_eq!(
            external_urn(&e("file", "/data/out/graph.json")),
            "urn:li:dataset:(urn:li:dataPlatform:file,/data/out/graph.json,PROD)"
        );
        assert_eq!(
            external_urn(&e("s3://bucket", "/releases/x")),
            "urn:li:dataset:(urn:li:dataPlatform:s3,bucket/releases/x,PROD)"
        );
        assert_eq!(
            external_urn(&e("https://huggingface.co", "datasets/org/name")),
            "urn:li:dataset:(urn:li:dataPlatform:huggingface,datasets/org/name,PROD)"
        );
    }

    #[test]
    fn arrow_types_map_to_datahub_types() {
        assert_eq!(field_type("Utf8"), "com.linkedin.schema.StringType");
        assert_eq!(field_type("Int64"), "com.linkedin.schema.NumberType");
        assert_eq!(
            field_type("Decimal128(10, 2)"),
            "com.linkedin.schema.NumberType"
        );
        assert_eq!(field_type("Date32"), "com.linkedin.schema.DateType");
        assert_eq!(
            field_type("List(Field { name: \"item\", data_type: Float32 })"),
            "com.linkedin.schema.ArrayType"
        );
        assert_eq!(field_type("Struct([])"), "com.linkedin.schema.RecordType");
    }
}
