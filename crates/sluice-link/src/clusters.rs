//! `link.clusters`: the connected components of the pairs found by `link`, one row per
//! record: its source task, id, cluster id (the smallest id of the cluster) and cluster size.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::datafusion::arrow::array::{
    ArrayBuilder, AsArray, Int64Builder, RecordBatch, StringBuilder,
};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use sluice_data::export::for_each_batch;

use super::records::Records;
use sluice_op::Names;
use sluice_op::{Op, OpError, OpOutput, TaskContext, blocking, counters};

/// `op: link.clusters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkClusters {
    /// The `link` task whose pairs are clustered.
    pub pairs: String,
    /// The tasks whose records get a cluster, as given to `link`'s `input`.
    pub records: Names,
    /// Their id column.
    pub id: String,
    /// Only pairs with at least this probability join records (default: every pair kept).
    #[serde(default)]
    pub threshold: Option<f64>,
}

/// Builds `link.clusters`, checking its keys.
pub fn build_clusters(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    use serde::de::Error as _;
    let op: LinkClusters = sluice_core::from_node(config)?;
    let n = op.records.to_vec().len();
    if n == 0 || n > 2 {
        return Err(sluice_core::DeError::custom(format!(
            "`records` takes the one or two tasks given to `link`, got {n}"
        )));
    }
    if let Some(t) = op.threshold
        && !(0.0..=1.0).contains(&t)
    {
        return Err(sluice_core::DeError::custom(format!(
            "`threshold` is a match probability between 0 and 1, got {t}"
        )));
    }
    Ok(Box::new(op))
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let up = parent[parent[x as usize] as usize];
        parent[x as usize] = up;
        x = up;
    }
    x
}

impl LinkClusters {
    fn cluster(
        &self,
        pairs: PathBuf,
        inputs: Vec<(String, PathBuf)>,
        out: sluice_data::DatasetTarget,
    ) -> Result<OpOutput, OpError> {
        let sides: Vec<Records> = inputs
            .iter()
            .map(|(task, dir)| Records::read(dir, task, &self.id, &[]))
            .collect::<Result<_, _>>()?;
        let offset = [0usize, sides[0].len()];
        let total: usize = sides.iter().map(Records::len).sum();
        let index: Vec<HashMap<&str, u32>> = sides
            .iter()
            .enumerate()
            .map(|(s, r)| {
                (0..r.len())
                    .map(|i| (r.ids.value(i), (offset[s] + i) as u32))
                    .collect()
            })
            .collect();
        let right = index.len() - 1;
        let mut parent: Vec<u32> = (0..total as u32).collect();
        let mut joined = 0u64;
        for_each_batch(&pairs, |schema, batch| {
            let col = |name: &str| {
                schema
                    .column_with_name(name)
                    .map(|(i, _)| batch.column(i).clone())
                    .ok_or_else(|| {
                        sluice_data::DataError::Query(format!(
                            "`{}` has no column `{name}`: give `pairs` the task of a `link` op",
                            self.pairs
                        ))
                    })
            };
            let (l, r, p) = (col("id_l")?, col("id_r")?, col("probability")?);
            let (l, r) = (l.as_string::<i32>(), r.as_string::<i32>());
            let p = p.as_primitive::<Float64Type>();
            for i in 0..batch.num_rows() {
                if self.threshold.is_some_and(|t| p.value(i) < t) {
                    continue;
                }
                let (Some(&a), Some(&b)) = (index[0].get(l.value(i)), index[right].get(r.value(i)))
                else {
                    return Err(sluice_data::DataError::Query(format!(
                        "pair ({}, {}) of `{}` names a record that is not in `records`: give \
                         the same tasks as the `link` op's `input`",
                        l.value(i),
                        r.value(i),
                        self.pairs
                    )));
                };
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                if ra != rb {
                    parent[ra.max(rb) as usize] = ra.min(rb);
                    joined += 1;
                }
            }
            Ok(())
        })?;
        let id_of = |node: usize| {
            let s = usize::from(node >= offset[1] && sides.len() == 2);
            sides[s].ids.value(node - offset[s])
        };
        let mut size: HashMap<u32, i64> = HashMap::new();
        let mut name: HashMap<u32, &str> = HashMap::new();
        for node in 0..total {
            let root = find(&mut parent, node as u32);
            *size.entry(root).or_default() += 1;
            let id = id_of(node);
            name.entry(root)
                .and_modify(|n| {
                    if id < *n {
                        *n = id;
                    }
                })
                .or_insert(id);
        }
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("id", DataType::Utf8, false),
            Field::new("cluster_id", DataType::Utf8, false),
            Field::new("cluster_size", DataType::Int64, false),
        ]));
        let mut writer = sluice_data::DatasetWriter::new(&out, schema.clone());
        let (mut src, mut ids, mut cl, mut sz) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            Int64Builder::new(),
        );
        for (node, &root) in parent.iter().enumerate() {
            let s = usize::from(node >= offset[1] && sides.len() == 2);
            src.append_value(&sides[s].task);
            ids.append_value(id_of(node));
            cl.append_value(name[&root]);
            sz.append_value(size[&root]);
            if src.len() == 8192 || node + 1 == total {
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(src.finish()),
                        Arc::new(ids.finish()),
                        Arc::new(cl.finish()),
                        Arc::new(sz.finish()),
                    ],
                )
                .map_err(|e| OpError::internal(format!("clusters dataset: {e}")))?;
                writer.write(&batch)?;
            }
        }
        let clusters = size.values().filter(|&&n| n > 1).count() as u64;
        Ok(OpOutput {
            dataset: Some(writer.finish()?.into()),
            metrics: counters(&[
                ("records", total as u64),
                ("clusters", clusters),
                (
                    "records_in_clusters",
                    size.values().filter(|&&n| n > 1).sum::<i64>() as u64,
                ),
                ("pairs_joining", joined),
            ]),
            ..OpOutput::default()
        })
    }
}

#[async_trait]
impl Op for LinkClusters {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let pairs = ctx.input(&self.pairs)?.to_path_buf();
        let mut inputs = Vec::new();
        for task in self.records.to_vec() {
            inputs.push((task.clone(), ctx.input(&task)?.to_path_buf()));
        }
        let out = ctx.output()?.clone();
        let op = self.clone();
        blocking(move || op.cluster(pairs, inputs, out)).await
    }

    fn reads(&self) -> Vec<String> {
        let mut r = vec![self.pairs.clone()];
        r.extend(self.records.to_vec());
        r
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}
