//! From Arrow record batches to the numbers learners read, and back: which columns are
//! features and of what kind ([`FeatureSchema`], kept in the model so that predicting checks
//! new rows against it), the label ([`LabelSchema`]: classes or values), and the
//! preprocessing of the dense learners ([`Preprocess`]: one-hot categories, mean imputation,
//! standardisation).

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use crate::{Frame, Matrix, MlError, Result};

/// Categories kept for a categorical column, at most: more distinct values than that is an
/// identifier, not a category.
pub const MAX_CATEGORIES: usize = 10_000;

/// What a feature column holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number (integer, float or boolean).
    Numeric,
    /// A fixed-size list of numbers (an embedding), expanded to `dim` features.
    Vector {
        /// Values per row.
        dim: usize,
    },
    /// A string (or dictionary) column; categories seen in training, in sorted order. Unknown
    /// values are treated as missing.
    Categorical {
        /// The categories, sorted.
        categories: Vec<String>,
    },
}

/// A feature column: its name in the input and its kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// Column name.
    pub name: String,
    /// What it holds.
    #[serde(flatten)]
    pub kind: FeatureKind,
}

/// The feature columns of a model, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// The columns.
    pub columns: Vec<FeatureColumn>,
}

pub(crate) fn column_of<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        let have: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        MlError::Data(format!(
            "the input has no column `{name}` (its columns: {})",
            have.join(", ")
        ))
    })
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Boolean)
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn to_f32(array: &ArrayRef, name: &str) -> Result<Vec<f32>> {
    let cast = arrow_cast::cast(array, &DataType::Float32)
        .map_err(|e| MlError::Data(format!("column `{name}`: cannot read as numbers: {e}")))?;
    let values = cast.as_primitive::<arrow_array::types::Float32Type>();
    Ok((0..values.len())
        .map(|i| {
            if values.is_null(i) {
                f32::NAN
            } else {
                values.value(i)
            }
        })
        .collect())
}

pub(crate) fn to_strings(array: &ArrayRef, name: &str) -> Result<Vec<Option<String>>> {
    let cast = arrow_cast::cast(array, &DataType::Utf8)
        .map_err(|e| MlError::Data(format!("column `{name}`: cannot read as text: {e}")))?;
    let values = cast.as_string::<i32>();
    Ok((0..values.len())
        .map(|i| (!values.is_null(i)).then(|| values.value(i).to_string()))
        .collect())
}

/// The distinct non-null values of column `name`, as text (stops past [`MAX_CATEGORIES`]).
fn distinct_texts(batches: &[RecordBatch], name: &str) -> Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    for batch in batches {
        seen.extend(
            to_strings(column_of(batch, name)?, name)?
                .into_iter()
                .flatten(),
        );
        if seen.len() > MAX_CATEGORIES {
            break;
        }
    }
    Ok(seen)
}

/// The values of a fixed-size list column, row-major, `NaN` for a null row or value.
fn vector_values(array: &ArrayRef, name: &str, dim: usize) -> Result<Vec<f32>> {
    let DataType::FixedSizeList(_, size) = array.data_type() else {
        return Err(MlError::Data(format!(
            "column `{name}` is {}, the model expects a vector of {dim} numbers",
            array.data_type()
        )));
    };
    if *size as usize != dim {
        return Err(MlError::Data(format!(
            "column `{name}` has {size} values per row; the model expects {dim}"
        )));
    }
    let list = array.as_fixed_size_list();
    let values = to_f32(list.values(), name)?;
    let mut out = Vec::with_capacity(list.len() * dim);
    for r in 0..list.len() {
        if list.is_null(r) {
            out.extend(std::iter::repeat_n(f32::NAN, dim));
        } else {
            let start = (list.offset() + r) * dim;
            out.extend_from_slice(&values[start..start + dim]);
        }
    }
    Ok(out)
}

impl FeatureSchema {
    /// The schema of `names` in the training batches: numbers, vectors (fixed-size lists of
    /// numbers) and text (categories, collected from the batches).
    pub fn infer(batches: &[RecordBatch], names: &[String]) -> Result<FeatureSchema> {
        let first = batches
            .first()
            .ok_or_else(|| MlError::Data("the input has no rows".into()))?;
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let array = column_of(first, name)?;
            let kind = match array.data_type() {
                t if is_numeric(t) => FeatureKind::Numeric,
                DataType::FixedSizeList(item, dim) if is_numeric(item.data_type()) => {
                    FeatureKind::Vector { dim: *dim as usize }
                }
                t if is_text(t) => {
                    let seen = distinct_texts(batches, name)?;
                    if seen.len() > MAX_CATEGORIES {
                        return Err(MlError::Data(format!(
                            "column `{name}` has more than {MAX_CATEGORIES} distinct values: \
                             an identifier is not a feature (leave it out of `features`)"
                        )));
                    }
                    FeatureKind::Categorical {
                        categories: seen.into_iter().collect(),
                    }
                }
                other => {
                    return Err(MlError::Data(format!(
                        "column `{name}` is {other}: features are numbers, text (categories) \
                         or fixed-size lists of numbers (vectors)"
                    )));
                }
            };
            columns.push(FeatureColumn {
                name: name.clone(),
                kind,
            });
        }
        Ok(FeatureSchema { columns })
    }

    /// Number of frame columns (a vector counts its dimension).
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c.kind {
                FeatureKind::Vector { dim } => dim,
                _ => 1,
            })
            .sum()
    }

    /// The feature columns of `batches` as a [`Frame`], checked against this schema (a missing
    /// column or a vector of another dimension is an error naming it).
    pub fn frame(&self, batches: &[RecordBatch]) -> Result<Frame> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut columns: Vec<Vec<f32>> = Vec::with_capacity(self.width());
        let mut categorical = Vec::with_capacity(self.width());
        let mut names = Vec::with_capacity(self.width());
        for col in &self.columns {
            match &col.kind {
                FeatureKind::Numeric => {
                    let mut values = Vec::with_capacity(rows);
                    for batch in batches {
                        let array = column_of(batch, &col.name)?;
                        if !is_numeric(array.data_type()) {
                            return Err(MlError::Data(format!(
                                "column `{}` is {}; the model expects numbers",
                                col.name,
                                array.data_type()
                            )));
                        }
                        values.extend(to_f32(array, &col.name)?);
                    }
                    columns.push(values);
                    categorical.push(None);
                    names.push(col.name.clone());
                }
                FeatureKind::Vector { dim } => {
                    let first = columns.len();
                    for j in 0..*dim {
                        columns.push(Vec::with_capacity(rows));
                        categorical.push(None);
                        names.push(format!("{}[{j}]", col.name));
                    }
                    for batch in batches {
                        let values = vector_values(column_of(batch, &col.name)?, &col.name, *dim)?;
                        for row in values.chunks_exact(*dim) {
                            for (j, v) in row.iter().enumerate() {
                                columns[first + j].push(*v);
                            }
                        }
                    }
                }
                FeatureKind::Categorical { categories } => {
                    let mut values = Vec::with_capacity(rows);
                    for batch in batches {
                        for v in to_strings(column_of(batch, &col.name)?, &col.name)? {
                            let code = v
                                .and_then(|v| categories.binary_search(&v).ok())
                                .map_or(f32::NAN, |c| c as f32);
                            values.push(code);
                        }
                    }
                    columns.push(values);
                    categorical.push(Some(categories.len() as u32));
                    names.push(col.name.clone());
                }
            }
        }
        Ok(Frame {
            rows,
            columns,
            categorical,
            names,
        })
    }
}

impl FeatureSchema {
    /// Rows given as JSON objects (a prediction request) as a [`Frame`]: a number (or null)
    /// for a numeric column, text (or null) for a categorical one, an array of numbers for a
    /// vector. A missing column, a value of the wrong kind or a vector of another length is
    /// an error naming the row (1-based) and the column.
    pub fn frame_from_json(
        &self,
        rows: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<Frame> {
        use serde_json::Value;
        let mut frame = Frame {
            rows: rows.len(),
            ..Frame::default()
        };
        for col in &self.columns {
            let name = &col.name;
            let get = |r: usize| -> Result<&Value> {
                rows[r]
                    .get(name)
                    .ok_or_else(|| MlError::Data(format!("row {}: missing column `{name}`", r + 1)))
            };
            match &col.kind {
                FeatureKind::Numeric => {
                    let mut values = Vec::with_capacity(rows.len());
                    for r in 0..rows.len() {
                        values.push(match get(r)? {
                            Value::Null => f32::NAN,
                            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN) as f32,
                            Value::Bool(b) => f32::from(u8::from(*b)),
                            other => {
                                return Err(MlError::Data(format!(
                                    "row {}: column `{name}` is {other}; the model expects a number",
                                    r + 1
                                )));
                            }
                        });
                    }
                    frame.columns.push(values);
                    frame.categorical.push(None);
                    frame.names.push(name.clone());
                }
                FeatureKind::Vector { dim } => {
                    let first = frame.columns.len();
                    for j in 0..*dim {
                        frame.columns.push(Vec::with_capacity(rows.len()));
                        frame.categorical.push(None);
                        frame.names.push(format!("{name}[{j}]"));
                    }
                    for r in 0..rows.len() {
                        let items = get(r)?.as_array().ok_or_else(|| {
                            MlError::Data(format!(
                                "row {}: column `{name}` must be an array of {dim} numbers",
                                r + 1
                            ))
                        })?;
                        if items.len() != *dim {
                            return Err(MlError::Data(format!(
                                "row {}: column `{name}` has {} values; the model expects {dim}",
                                r + 1,
                                items.len()
                            )));
                        }
                        for (j, v) in items.iter().enumerate() {
                            let v = v.as_f64().ok_or_else(|| {
                                MlError::Data(format!(
                                    "row {}: column `{name}` value {j} is not a number",
                                    r + 1
                                ))
                            })?;
                            frame.columns[first + j].push(v as f32);
                        }
                    }
                }
                FeatureKind::Categorical { categories } => {
                    let mut values = Vec::with_capacity(rows.len());
                    for r in 0..rows.len() {
                        let code = match get(r)? {
                            Value::Null => None,
                            Value::String(s) => categories.binary_search(s).ok(),
                            other => categories.binary_search(&other.to_string()).ok(),
                        };
                        values.push(code.map_or(f32::NAN, |c| c as f32));
                    }
                    frame.columns.push(values);
                    frame.categorical.push(Some(categories.len() as u32));
                    frame.names.push(name.clone());
                }
            }
        }
        Ok(frame)
    }
}

/// What the label of a supervised model is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LabelSchema {
    /// Classes, in sorted order (numerically for integer labels); the Arrow type of the label
    /// is kept so that predictions are written back in it.
    Classes {
        /// The label column.
        name: String,
        /// The classes as text.
        classes: Vec<String>,
        /// `int64`, `bool` or `utf8`.
        r#type: String,
    },
    /// A number to predict (regression).
    Values {
        /// The label column.
        name: String,
    },
}

impl LabelSchema {
    /// The label column `name` of the training batches: floats are values to regress (unless
    /// `classes` is asked), integers, booleans and text are classes.
    pub fn infer(batches: &[RecordBatch], name: &str, classes: bool) -> Result<LabelSchema> {
        let first = batches
            .first()
            .ok_or_else(|| MlError::Data("the input has no rows".into()))?;
        let t = column_of(first, name)?.data_type().clone();
        if matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64) && !classes {
            return Ok(LabelSchema::Values { name: name.into() });
        }
        let kind = if t.is_integer() {
            "int64"
        } else if t == DataType::Boolean {
            "bool"
        } else if is_text(&t) || t.is_floating() {
            "utf8"
        } else {
            return Err(MlError::Data(format!(
                "label `{name}` is {t}: a label is a number, a boolean or text"
            )));
        };
        let seen = distinct_texts(batches, name)?;
        if seen.len() > MAX_CATEGORIES {
            return Err(MlError::Data(format!(
                "label `{name}` has more than {MAX_CATEGORIES} distinct values: too many classes \
                 (to predict a number, give the label as a float column)"
            )));
        }
        let mut classes: Vec<String> = seen.into_iter().collect();
        if kind == "int64" {
            classes.sort_by_key(|c| c.parse::<i64>().unwrap_or(i64::MAX));
        }
        if classes.len() < 2 {
            return Err(MlError::Data(format!(
                "label `{name}` has {} class{} in the training rows: a classifier needs at least two",
                classes.len(),
                if classes.len() == 1 { "" } else { "es" }
            )));
        }
        Ok(LabelSchema::Classes {
            name: name.into(),
            classes,
            r#type: kind.into(),
        })
    }

    /// The label column's name.
    pub fn name(&self) -> &str {
        match self {
            LabelSchema::Classes { name, .. } | LabelSchema::Values { name } => name,
        }
    }

    /// The classes, when it has some.
    pub fn classes(&self) -> Option<&[String]> {
        match self {
            LabelSchema::Classes { classes, .. } => Some(classes),
            LabelSchema::Values { .. } => None,
        }
    }

    /// The label of every row: a class code (as `f32`) or the value. A missing label, or a class
    /// not seen in training, is an error naming the row.
    pub fn targets(&self, batches: &[RecordBatch]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        match self {
            LabelSchema::Values { name } => {
                for batch in batches {
                    out.extend(to_f32(column_of(batch, name)?, name)?);
                }
                if let Some(row) = out.iter().position(|v| !v.is_finite()) {
                    return Err(MlError::Data(format!(
                        "label `{name}` is missing or not finite at row {}: drop those rows first",
                        row + 1
                    )));
                }
            }
            LabelSchema::Classes { name, classes, .. } => {
                for batch in batches {
                    for v in to_strings(column_of(batch, name)?, name)? {
                        let row = out.len() + 1;
                        let v = v.ok_or_else(|| {
                            MlError::Data(format!(
                                "label `{name}` is missing at row {row}: drop those rows first"
                            ))
                        })?;
                        let code = classes.iter().position(|c| *c == v).ok_or_else(|| {
                            MlError::Data(format!(
                                "label `{name}` at row {row} is `{v}`, a class the model does not know"
                            ))
                        })?;
                        out.push(code as f32);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// How the dense learners (logistic, MLP, k-means, PCA) see a [`Frame`]: categorical columns
/// one-hot, missing values replaced by the training mean, every column standardised (or only
/// centred, or left alone). Fitted on the training rows and kept in the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Per frame column: `Some(n)` categories to one-hot, `None` numeric.
    pub categorical: Vec<Option<u32>>,
    /// Mean of each output column (imputes missing values, centres).
    pub mean: Vec<f32>,
    /// `1 / standard deviation` of each output column (1 for a constant one, or when not
    /// scaling).
    pub inv_std: Vec<f32>,
    /// What is done to the columns.
    #[serde(default)]
    pub scaling: Scaling,
}

/// What [`Preprocess`] does to the columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// Centre and divide by the standard deviation (the default of logistic and MLP).
    #[default]
    Standard,
    /// Centre only (PCA).
    Center,
    /// Leave values as they are (missing values still take the mean).
    None,
}

impl Preprocess {
    /// Fits the means and deviations on `frame`.
    pub fn fit(frame: &Frame, scaling: Scaling) -> Preprocess {
        let mut p = Preprocess {
            categorical: frame.categorical.clone(),
            scaling,
            ..Preprocess::default()
        };
        let width = p.width();
        let mut sum = vec![0f64; width];
        let mut sq = vec![0f64; width];
        let mut count = vec![0u64; width];
        let mut out = 0;
        for (col, cat) in frame.columns.iter().zip(&frame.categorical) {
            match cat {
                None => {
                    for &v in col.iter().filter(|v| !v.is_nan()) {
                        sum[out] += v as f64;
                        sq[out] += (v as f64) * (v as f64);
                        count[out] += 1;
                    }
                    out += 1;
                }
                Some(k) => {
                    for &v in col.iter().filter(|v| !v.is_nan()) {
                        sum[out + v as usize] += 1.0;
                        sq[out + v as usize] += 1.0;
                    }
                    for c in &mut count[out..out + *k as usize] {
                        *c = frame.rows as u64;
                    }
                    out += *k as usize;
                }
            }
        }
        for j in 0..width {
            let c = count[j].max(1) as f64;
            let mean = sum[j] / c;
            let var = (sq[j] / c - mean * mean).max(0.0);
            p.mean.push(mean as f32);
            p.inv_std.push(match scaling {
                Scaling::Standard if var > 1e-12 => (1.0 / var.sqrt()) as f32,
                _ => 1.0,
            });
        }
        p
    }

    /// Number of output columns.
    pub fn width(&self) -> usize {
        self.categorical
            .iter()
            .map(|c| c.map_or(1, |k| k as usize))
            .sum()
    }

    /// The frame as a dense row-major matrix: one-hot, imputed, and centred and scaled as
    /// [`Preprocess::scaling`] says.
    pub fn apply(&self, frame: &Frame) -> Matrix {
        let center = self.scaling != Scaling::None;
        let width = self.width();
        let mut m = Matrix::zeros(frame.rows, width);
        let mut out = 0;
        for (col, cat) in frame.columns.iter().zip(&self.categorical) {
            match cat {
                None => {
                    let (mean, inv) = (self.mean[out], self.inv_std[out]);
                    let shift = if center { mean } else { 0.0 };
                    for (r, &v) in col.iter().enumerate() {
                        let v = if v.is_nan() { mean } else { v };
                        m.data[r * width + out] = (v - shift) * inv;
                    }
                    out += 1;
                }
                Some(k) => {
                    for (r, &v) in col.iter().enumerate() {
                        let row = &mut m.data[r * width + out..r * width + out + *k as usize];
                        for (j, cell) in row.iter_mut().enumerate() {
                            let hot = if v.is_nan() {
                                self.mean[out + j]
                            } else if v as usize == j {
                                1.0
                            } else {
                                0.0
                            };
                            let shift = if center { self.mean[out + j] } else { 0.0 };
                            *cell = (hot - shift) * self.inv_std[out + j];
                        }
                    }
                    out += *k as usize;
                }
            }
        }
        m
    }
}
