//! A model as `train` makes it and `predict` and the server use it: its settings
//! ([`ModelSpec`]), the columns it reads ([`FeatureSchema`]) and predicts ([`LabelSchema`]),
//! its preprocessing and the fitted learner ([`Fitted`]); fitting on a split, scoring,
//! predicting into Arrow columns, and the artifact on disk (`model.json` plus
//! `weights.safetensors`: data, never code).

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int32Array, RecordBatch,
};
use arrow_schema::{DataType, Field};
use serde::{Deserialize, Serialize};

use crate::features::{FeatureSchema, LabelSchema, Preprocess, Scaling};
use crate::gbdt::{Gbdt, GbdtParams, Objective};
use crate::kmeans::{KMeans, KMeansParams};
use crate::linear::{Logistic, LogisticParams};
use crate::metrics::{self, Metric};
use crate::mlp::{Mlp, MlpParams};
use crate::pca::{Pca, PcaParams};
use crate::{Frame, Matrix, MlError, Result, Run, kernels};

/// Which learner, with its settings (`model:` of `train`, tagged by `type`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModelSpec {
    /// Multinomial logistic regression.
    Logistic(LogisticParams),
    /// Multi-layer perceptron.
    Mlp(MlpParams),
    /// Histogram gradient-boosted trees.
    Gbdt(GbdtParams),
    /// Mini-batch k-means.
    Kmeans(KMeansParams),
    /// Principal component analysis.
    Pca(PcaParams),
}

impl ModelSpec {
    /// The learner's name (`logistic`, `mlp`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Logistic(_) => "logistic",
            ModelSpec::Mlp(_) => "mlp",
            ModelSpec::Gbdt(_) => "gbdt",
            ModelSpec::Kmeans(_) => "kmeans",
            ModelSpec::Pca(_) => "pca",
        }
    }

    /// Whether it learns from a label.
    pub fn supervised(&self) -> bool {
        !matches!(self, ModelSpec::Kmeans(_) | ModelSpec::Pca(_))
    }

    /// Whether it only predicts classes (a float label is then read as classes).
    pub fn classifier_only(&self) -> bool {
        matches!(self, ModelSpec::Logistic(_))
    }

    /// The metric a search ranks by when none is given.
    pub fn default_metric(&self, regression: bool) -> Metric {
        match self {
            ModelSpec::Kmeans(_) => Metric::Inertia,
            ModelSpec::Pca(_) => Metric::ExplainedVariance,
            _ if regression => Metric::Rmse,
            _ => Metric::Accuracy,
        }
    }

    fn scaling(&self) -> Option<Scaling> {
        match self {
            ModelSpec::Logistic(_) | ModelSpec::Mlp(_) => Some(Scaling::Standard),
            ModelSpec::Kmeans(_) | ModelSpec::Pca(_) => Some(Scaling::None),
            ModelSpec::Gbdt(_) => None,
        }
    }
}

/// The fitted learner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fitted {
    /// Logistic regression.
    Logistic(Logistic),
    /// MLP.
    Mlp(Mlp),
    /// Boosted trees.
    Gbdt(Gbdt),
    /// k-means centres.
    Kmeans(KMeans),
    /// PCA components.
    Pca(Pca),
}

/// A trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The settings it was trained with.
    pub spec: ModelSpec,
    /// The columns it reads.
    pub features: FeatureSchema,
    /// What it predicts (supervised models).
    pub label: Option<LabelSchema>,
    /// Dense learners' preprocessing.
    pub preprocess: Option<Preprocess>,
    /// The learner.
    pub fitted: Fitted,
}

/// What a model says about rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Prediction {
    /// Class probabilities, `rows × classes`.
    Classes(Matrix),
    /// Predicted values.
    Values(Vec<f32>),
    /// Nearest centre and squared distance to it.
    Clusters(Vec<(u32, f32)>),
    /// Coordinates on the components, `rows × components`.
    Projection(Matrix),
}

/// Rows of one part of a split (training, validation, test): the features and, for a
/// supervised model, the label of each row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Part {
    /// Feature columns.
    pub frame: Frame,
    /// Class codes or values.
    pub targets: Option<Vec<f32>>,
}

impl Part {
    /// The rows at `index` of `frame` and `targets`.
    pub fn take(frame: &Frame, targets: Option<&[f32]>, index: &[usize]) -> Part {
        Part {
            frame: frame.take(index),
            targets: targets.map(|t| index.iter().map(|&i| t[i]).collect()),
        }
    }
}

impl Model {
    /// Fits `spec` on the `train` rows; the `valid` rows drive early stopping.
    pub fn fit(
        spec: &ModelSpec,
        features: FeatureSchema,
        label: Option<LabelSchema>,
        train_rows: &Part,
        valid_rows: &Part,
        run: &mut Run,
    ) -> Result<Model> {
        if spec.supervised() && (label.is_none() || train_rows.targets.is_none()) {
            return Err(MlError::Config(format!(
                "a {} model learns from a label: give `label`",
                spec.kind()
            )));
        }
        let (train, valid) = (&train_rows.frame, &valid_rows.frame);
        let classes = label
            .as_ref()
            .and_then(|l| l.classes())
            .map(<[String]>::len);
        if spec.classifier_only() && classes.is_none() {
            return Err(MlError::Data(format!(
                "label `{}` holds numbers: logistic regression predicts classes (use gbdt or mlp \
                 to predict a value)",
                label.as_ref().map_or("", |l| l.name())
            )));
        }
        let preprocess = spec.scaling().map(|s| Preprocess::fit(train, s));
        let dense = |f: &Frame| preprocess.as_ref().map(|p| p.apply(f));
        let y = train_rows.targets.as_deref().unwrap_or_default();
        let vy = valid_rows.targets.as_deref().unwrap_or_default();
        let fitted = match spec {
            ModelSpec::Logistic(p) => {
                let x = dense(train).unwrap_or_default();
                Fitted::Logistic(Logistic::fit(p, &x, y, classes.unwrap_or(2), run)?)
            }
            ModelSpec::Mlp(p) => {
                let x = dense(train).unwrap_or_default();
                let vx = dense(valid).unwrap_or_default();
                let valid = (vx.rows > 0).then_some((&vx, vy));
                Fitted::Mlp(Mlp::fit(p, &x, y, classes, valid, run)?)
            }
            ModelSpec::Gbdt(p) => {
                let objective = match classes {
                    Some(2) => Objective::Binary,
                    Some(k) => Objective::Multiclass { classes: k },
                    None => Objective::Regression,
                };
                let valid = (valid.rows > 0).then_some((valid, vy));
                Fitted::Gbdt(Gbdt::fit(p, objective, train, y, valid, run)?)
            }
            ModelSpec::Kmeans(p) => {
                let x = dense(train).unwrap_or_default();
                Fitted::Kmeans(KMeans::fit(p, &x, run)?)
            }
            ModelSpec::Pca(p) => {
                let x = dense(train).unwrap_or_default();
                Fitted::Pca(Pca::fit(p, &x, run.threads)?)
            }
        };
        Ok(Model {
            spec: spec.clone(),
            features,
            label,
            preprocess,
            fitted,
        })
    }

    /// What the model says about the rows of `frame`.
    pub fn predict(&self, frame: &Frame, threads: usize) -> Result<Prediction> {
        if frame.width() != self.features.width() {
            return Err(MlError::Data(format!(
                "the rows have {} feature values; the model reads {}",
                frame.width(),
                self.features.width()
            )));
        }
        let dense = || {
            self.preprocess
                .as_ref()
                .map(|p| p.apply(frame))
                .unwrap_or_default()
        };
        Ok(match &self.fitted {
            Fitted::Logistic(m) => Prediction::Classes(m.predict(&dense(), threads)),
            Fitted::Mlp(m) => {
                let out = m.predict(&dense(), threads);
                match m.classes {
                    Some(_) => Prediction::Classes(out),
                    None => Prediction::Values(out.data),
                }
            }
            Fitted::Gbdt(m) => {
                let raw = m.predict_raw(frame, threads);
                let k = m.outputs();
                match self
                    .label
                    .as_ref()
                    .and_then(|l| l.classes())
                    .map(<[String]>::len)
                {
                    Some(2) => {
                        let mut p = Matrix::zeros(frame.rows, 2);
                        for (r, z) in raw.iter().enumerate() {
                            let one = 1.0 / (1.0 + (-z).exp());
                            p.data[2 * r] = 1.0 - one;
                            p.data[2 * r + 1] = one;
                        }
                        Prediction::Classes(p)
                    }
                    Some(_) => {
                        let mut p = Matrix {
                            rows: frame.rows,
                            cols: k,
                            data: raw,
                        };
                        kernels().softmax_rows(&mut p.data, k);
                        Prediction::Classes(p)
                    }
                    None => Prediction::Values(raw),
                }
            }
            Fitted::Kmeans(m) => Prediction::Clusters(m.assign(&dense(), threads)),
            Fitted::Pca(m) => Prediction::Projection(m.transform(&dense(), threads)),
        })
    }

    /// Figures of the model on rows with known targets: accuracy, f1_macro, logloss, auc
    /// (classes), rmse (values), inertia (clusters), explained_variance (PCA).
    pub fn score(
        &self,
        frame: &Frame,
        targets: Option<&[f32]>,
        threads: usize,
    ) -> Result<Vec<(Metric, f64)>> {
        if frame.rows == 0 {
            return Ok(Vec::new());
        }
        let y = targets.unwrap_or_default();
        Ok(match self.predict(frame, threads)? {
            Prediction::Classes(p) => vec![
                (Metric::Accuracy, metrics::accuracy(&p, y)),
                (Metric::F1Macro, metrics::f1_macro(&p, y)),
                (Metric::Logloss, metrics::logloss(&p, y)),
                (Metric::Auc, metrics::auc(&p, y)),
            ],
            Prediction::Values(v) => vec![(Metric::Rmse, metrics::rmse(&v, y))],
            Prediction::Clusters(c) => {
                vec![(Metric::Inertia, c.iter().map(|(_, d)| *d as f64).sum())]
            }
            Prediction::Projection(_) => match &self.fitted {
                Fitted::Pca(p) => vec![(
                    Metric::ExplainedVariance,
                    p.explained_variance_ratio.iter().sum(),
                )],
                _ => Vec::new(),
            },
        })
    }

    /// `confusion[true][predicted]` on `frame` (a classifier with targets; otherwise none).
    pub fn confusion(
        &self,
        frame: &Frame,
        targets: Option<&[f32]>,
        threads: usize,
    ) -> Result<Option<Vec<Vec<u64>>>> {
        let Some(y) = targets.filter(|_| frame.rows > 0) else {
            return Ok(None);
        };
        Ok(match self.predict(frame, threads)? {
            Prediction::Classes(p) => Some(metrics::confusion(&p, y)),
            _ => None,
        })
    }

    /// The prediction as Arrow columns: `label` (in the label's type) and `probas` (a list of
    /// one probability per class) for a classifier, `prediction` for a regressor, `cluster`
    /// and `distance` for k-means, `projection` for PCA.
    pub fn columns(&self, prediction: &Prediction) -> Vec<(Field, ArrayRef)> {
        let list = |m: &Matrix, name: &str| -> (Field, ArrayRef) {
            let item = Arc::new(Field::new("item", DataType::Float32, true));
            let values = Arc::new(Float32Array::from(m.data.clone()));
            let array = FixedSizeListArray::new(item.clone(), m.cols as i32, values, None);
            (
                Field::new(name, DataType::FixedSizeList(item, m.cols as i32), false),
                Arc::new(array) as ArrayRef,
            )
        };
        match prediction {
            Prediction::Classes(p) => {
                let (classes, kind) = match &self.label {
                    Some(LabelSchema::Classes {
                        classes, r#type, ..
                    }) => (classes.clone(), r#type.as_str()),
                    _ => ((0..p.cols).map(|c| c.to_string()).collect(), "int64"),
                };
                let best = metrics::predicted(p);
                let (field, array): (Field, ArrayRef) = match kind {
                    "int64" => {
                        let mut b = Int64Builder::with_capacity(best.len());
                        for &c in &best {
                            b.append_option(classes[c].parse::<i64>().ok());
                        }
                        (
                            Field::new("label", DataType::Int64, true),
                            Arc::new(b.finish()),
                        )
                    }
                    "bool" => {
                        let mut b = BooleanBuilder::with_capacity(best.len());
                        for &c in &best {
                            b.append_value(classes[c] == "true");
                        }
                        (
                            Field::new("label", DataType::Boolean, true),
                            Arc::new(b.finish()),
                        )
                    }
                    _ => {
                        let mut b = StringBuilder::new();
                        for &c in &best {
                            b.append_value(&classes[c]);
                        }
                        (
                            Field::new("label", DataType::Utf8, true),
                            Arc::new(b.finish()),
                        )
                    }
                };
                vec![(field, array), list(p, "probas")]
            }
            Prediction::Values(v) => vec![(
                Field::new("prediction", DataType::Float64, false),
                Arc::new(Float64Array::from_iter_values(v.iter().map(|&x| x as f64))),
            )],
            Prediction::Clusters(c) => vec![
                (
                    Field::new("cluster", DataType::Int32, false),
                    Arc::new(Int32Array::from_iter_values(
                        c.iter().map(|(k, _)| *k as i32),
                    )),
                ),
                (
                    Field::new("distance", DataType::Float32, false),
                    Arc::new(Float32Array::from_iter_values(
                        c.iter().map(|(_, d)| d.sqrt()),
                    )),
                ),
            ],
            Prediction::Projection(m) => vec![list(m, "projection")],
        }
    }

    /// The classes of a classifier, in the order of its probabilities.
    pub fn classes(&self) -> Option<&[String]> {
        self.label.as_ref().and_then(|l| l.classes())
    }

    /// The prediction as one JSON object per row: `{label, probas, confidence}` (the label
    /// in its training type, the confidence as [`metrics::confidence`]), `{prediction}`, `{cluster, distance}` or `{projection}`.
    pub fn json(&self, prediction: &Prediction) -> Vec<serde_json::Value> {
        use serde_json::json;
        let floats = |row: &[f32]| -> Vec<f64> { row.iter().map(|&v| v as f64).collect() };
        match prediction {
            Prediction::Classes(p) => {
                let classes = self.label.as_ref().and_then(|l| l.classes());
                let kind = match &self.label {
                    Some(LabelSchema::Classes { r#type, .. }) => r#type.as_str(),
                    _ => "int64",
                };
                metrics::predicted(p)
                    .into_iter()
                    .enumerate()
                    .map(|(r, c)| {
                        let name = classes.map_or_else(|| c.to_string(), |k| k[c].clone());
                        let label = match kind {
                            "int64" => name.parse::<i64>().map_or(json!(name), |v| json!(v)),
                            "bool" => json!(name == "true"),
                            _ => json!(name),
                        };
                        json!({
                            "label": label,
                            "probas": floats(p.row(r)),
                            "confidence": metrics::confidence(p.row(r)),
                        })
                    })
                    .collect()
            }
            Prediction::Values(v) => v.iter().map(|&x| json!({"prediction": x as f64})).collect(),
            Prediction::Clusters(c) => c
                .iter()
                .map(|(k, d)| json!({"cluster": k, "distance": (d.sqrt()) as f64}))
                .collect(),
            Prediction::Projection(m) => (0..m.rows)
                .map(|r| json!({"projection": floats(m.row(r))}))
                .collect(),
        }
    }

    /// The rows of `batches` as the model reads them (columns checked against its schema).
    pub fn frame(&self, batches: &[RecordBatch]) -> Result<Frame> {
        self.features.frame(batches)
    }

    /// Writes the artifact into the folder `dir` (created): `model.json` (settings, schema,
    /// small values) and `weights.safetensors` (every matrix).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let err = |path: &Path, e: &dyn std::fmt::Display| MlError::Artifact {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
        let mut json = serde_json::to_value(self).map_err(|e| err(dir, &e))?;
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        extract_tensors(&mut json, "", &mut tensors);
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| err(dir, &e))?;
        let weights = dir.join("weights.safetensors");
        let bytes = safetensors::serialize(views, None).map_err(|e| err(&weights, &e))?;
        std::fs::write(&weights, bytes).map_err(|e| err(&weights, &e))?;
        let path = dir.join("model.json");
        let text = serde_json::to_string_pretty(&json).map_err(|e| err(&path, &e))?;
        std::fs::write(&path, text).map_err(|e| err(&path, &e))
    }

    /// Reads the artifact in `dir`: the matrices kept in `weights.safetensors` are read
    /// into place while `model.json` is parsed (no JSON value per weight).
    pub fn load(dir: &Path) -> Result<Model> {
        let err = |path: &Path, e: &dyn std::fmt::Display| MlError::Artifact {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path).map_err(|e| err(&path, &e))?;
        let weights = dir.join("weights.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| err(&weights, &e))?;
        let tensors =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(&weights, &e))?;
        let mut loaded = std::collections::HashMap::new();
        for (name, view) in tensors.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(err(
                    &weights,
                    &format!("tensor {name} is {:?}, not F32", view.dtype()),
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            loaded.insert(name, values);
        }
        /// Clears the tensors when the parse ends, by a panic too (a pooled thread would
        /// otherwise keep them).
        struct Loaded;
        impl Drop for Loaded {
            fn drop(&mut self) {
                LOADING.with(|l| *l.borrow_mut() = None);
            }
        }
        LOADING.with(|l| *l.borrow_mut() = Some(loaded));
        let _clear = Loaded;
        serde_json::from_str(&text).map_err(|e| err(&path, &e))
    }
}

thread_local! {
    /// The tensors of the `weights.safetensors` being read by [`Model::load`] on this thread.
    static LOADING: std::cell::RefCell<Option<std::collections::HashMap<String, Vec<f32>>>> =
        const { std::cell::RefCell::new(None) };
}

/// A matrix's `data` in `model.json`: its values (`null` for a missing one), or
/// `{"tensor": NAME}`, a tensor of the `weights.safetensors` that [`Model::load`] reads.
pub(crate) fn matrix_data<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<f32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Data {
        Values(Vec<Option<f32>>),
        Tensor { tensor: String },
    }
    match Data::deserialize(d)? {
        Data::Values(v) => Ok(v.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect()),
        Data::Tensor { tensor } => LOADING
            .with(|l| l.borrow_mut().as_mut().and_then(|m| m.remove(&tensor)))
            .ok_or_else(|| {
                <D::Error as serde::de::Error>::custom(format!(
                    "tensor {tensor} is not in weights.safetensors"
                ))
            }),
    }
}

/// Matrices (objects with `rows`, `cols`, `data`) whose data is larger than this go to the
/// safetensors file.
const INLINE: usize = 64;

fn extract_tensors(
    v: &mut serde_json::Value,
    path: &str,
    out: &mut Vec<(String, Vec<usize>, Vec<u8>)>,
) {
    match v {
        serde_json::Value::Object(map) => {
            let is_matrix = map.contains_key("rows")
                && map.contains_key("cols")
                && map
                    .get("data")
                    .and_then(|d| d.as_array())
                    .is_some_and(|d| d.len() > INLINE);
            if is_matrix {
                let rows = map.get("rows").and_then(|r| r.as_u64()).unwrap_or(0) as usize;
                let cols = map.get("cols").and_then(|r| r.as_u64()).unwrap_or(0) as usize;
                let data = map
                    .get("data")
                    .and_then(|d| d.as_array())
                    .cloned()
                    .unwrap_or_default();
                let bytes: Vec<u8> = data
                    .iter()
                    .flat_map(|x| (x.as_f64().unwrap_or(f64::NAN) as f32).to_le_bytes())
                    .collect();
                let name = if path.is_empty() {
                    "tensor".to_string()
                } else {
                    path.to_string()
                };
                out.push((name.clone(), vec![rows, cols], bytes));
                map.insert("data".into(), serde_json::json!({ "tensor": name }));
                return;
            }
            for (k, child) in map.iter_mut() {
                extract_tensors(child, &format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                extract_tensors(child, &format!("{path}.{i}"), out);
            }
        }
        _ => {}
    }
}
