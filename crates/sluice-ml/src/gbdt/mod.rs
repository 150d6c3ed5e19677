//! Placeholder until the histogram GBDT lands (same API).
#![allow(missing_docs, dead_code)]
use serde::{Deserialize, Serialize};

use crate::{Frame, MlError, Result, Run};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GbdtParams {
    pub max_iter: usize,
    pub learning_rate: f64,
    pub max_leaves: usize,
    pub max_depth: Option<usize>,
    pub min_samples_leaf: usize,
    pub l2: f64,
    pub max_bins: usize,
    pub early_stopping: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Objective {
    Binary,
    Multiclass { classes: usize },
    Regression,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    outputs: usize,
}

impl Gbdt {
    pub fn fit(
        _params: &GbdtParams,
        _objective: Objective,
        _train: &Frame,
        _y: &[f32],
        _valid: Option<(&Frame, &[f32])>,
        _run: &mut Run,
    ) -> Result<Gbdt> {
        Err(MlError::Config("gbdt: not yet".into()))
    }
    pub fn predict_raw(&self, x: &Frame, _threads: usize) -> Vec<f32> {
        vec![0.0; x.rows * self.outputs]
    }
    pub fn outputs(&self) -> usize {
        self.outputs
    }
}
