//! What the tests of pipeline files share: a small op catalog.

use serde::Deserialize;
use sluice_core::{DeError, Node, OpCatalog, OpInfo, from_node};

/// A catalog with `noop` (no keys), `sleep` (`duration`) and `query` (reads `from`).
pub struct TestOps;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Sleep {
    duration: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Noop {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    from: Vec<String>,
    #[allow(dead_code)]
    #[serde(default)]
    options: Option<serde_json::Value>,
}

impl OpCatalog for TestOps {
    fn op_names(&self) -> Vec<&'static str> {
        vec!["noop", "query", "sleep"]
    }
    fn check(&self, op: &str, config: &Node) -> Option<Result<OpInfo, DeError>> {
        match op {
            "noop" => Some(from_node::<Noop>(config).map(|_| OpInfo::default())),
            "sleep" => Some(from_node::<Sleep>(config).map(|_| OpInfo::default())),
            "query" => Some(from_node::<Query>(config).map(|q| OpInfo {
                reads: q.from,
                produces_dataset: true,
            })),
            _ => None,
        }
    }
}
