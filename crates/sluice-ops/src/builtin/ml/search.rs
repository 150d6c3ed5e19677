//! The configurations a `train` task tries: its `model`, or the `search:` list (each entry
//! overrides keys of `model`) followed by random draws from a `space`.

use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_ml::ModelSpec;

/// `search:` of `train`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Search {
    /// Configurations tried first, each a set of keys overriding `model` (e.g. the known-good
    /// ones).
    pub trials: Vec<Map<String, Value>>,
    /// Random configurations drawn from `space` after those.
    pub random: usize,
    /// For each key of `model`: a list of choices, or `{uniform: [a, b]}`,
    /// `{log_uniform: [a, b]}`, `{int: [a, b]}`.
    pub space: Map<String, Value>,
}

/// Merges `over` into the JSON of `base` and reads the result as a model spec.
fn merged(base: &ModelSpec, over: &Map<String, Value>) -> Result<ModelSpec, String> {
    let mut json = serde_json::to_value(base).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut json {
        for (k, v) in over {
            if k == "type" {
                return Err("a trial cannot change the model's `type`".into());
            }
            map.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// One draw of `spec` (a space entry).
fn draw(key: &str, spec: &Value, r: &mut rand_chacha::ChaCha8Rng) -> Result<Value, String> {
    let pair = |v: &Value| -> Option<(f64, f64)> {
        let a = v.as_array()?;
        Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?))
    };
    match spec {
        Value::Array(choices) if !choices.is_empty() => {
            Ok(choices[r.gen_range(0..choices.len())].clone())
        }
        Value::Object(m) if m.len() == 1 => {
            let (kind, range) = m.iter().next().ok_or("empty")?;
            let (a, b) = pair(range).filter(|(a, b)| a <= b).ok_or_else(|| {
                format!("search.space.{key}.{kind}: give [low, high] with low ≤ high")
            })?;
            match kind.as_str() {
                "uniform" => Ok(serde_json::json!(r.gen_range(a..=b))),
                "log_uniform" if a > 0.0 => {
                    Ok(serde_json::json!((r.gen_range(a.ln()..=b.ln())).exp()))
                }
                "int" => Ok(serde_json::json!(r.gen_range(a as i64..=b as i64))),
                _ => Err(format!(
                    "search.space.{key}: `{kind}` is not a distribution: use a list of choices, \
                     uniform, log_uniform (low > 0) or int"
                )),
            }
        }
        _ => Err(format!(
            "search.space.{key}: give a list of choices or one of uniform, log_uniform, int"
        )),
    }
}

impl Search {
    /// Every configuration to try, in order; an override or a draw that does not make a valid
    /// model is an error naming it.
    pub fn configurations(&self, base: &ModelSpec, seed: u64) -> Result<Vec<ModelSpec>, String> {
        let mut out = Vec::new();
        for (i, over) in self.trials.iter().enumerate() {
            out.push(merged(base, over).map_err(|e| format!("search.trials[{i}]: {e}"))?);
        }
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        for i in 0..self.random {
            let mut over = Map::new();
            for (k, spec) in &self.space {
                over.insert(k.clone(), draw(k, spec, &mut r)?);
            }
            out.push(
                merged(base, &over).map_err(|e| format!("search random trial {}: {e}", i + 1))?,
            );
        }
        if self.random > 0 && self.space.is_empty() {
            return Err("search.random needs a `space` to draw from".into());
        }
        if out.is_empty() {
            out.push(base.clone());
        }
        Ok(out)
    }
}
