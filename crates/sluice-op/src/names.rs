//! Keys that take one column name or a list of them.

use serde::Deserialize;

/// One column name or several.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Names {
    /// One column.
    One(String),
    /// Several columns.
    Many(Vec<String>),
}

impl Names {
    /// The names, one or several.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Names::One(n) => vec![n.clone()],
            Names::Many(v) => v.clone(),
        }
    }
}
