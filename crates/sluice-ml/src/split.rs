//! Training, validation and test rows: a seeded shuffle, stratified by class when asked, or
//! the values of a column the user already split by.

use serde::{Deserialize, Serialize};

use crate::features::{column_of, to_strings};
use crate::rng::{SliceRandom, rng};
use crate::{MlError, Result};

/// How rows are split (the `split:` of `train`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitSpec {
    /// Share of rows for validation (model choice, early stopping).
    pub valid: f64,
    /// Share of rows held out for the final test figures.
    pub test: f64,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Keep each class's share in every part (classification only).
    pub stratify: bool,
    /// A column that already says `train`, `valid` or `test` for each row; the shares and the
    /// seed are then unused.
    pub column: Option<String>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            valid: 0.2,
            test: 0.0,
            seed: 0,
            stratify: true,
            column: None,
        }
    }
}

/// Row indexes of each part, each in increasing order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (may be empty).
    pub valid: Vec<usize>,
    /// Test rows (may be empty).
    pub test: Vec<usize>,
}

impl SplitSpec {
    /// Checks the shares.
    pub fn check(&self) -> Result<()> {
        let ok = |v: f64| (0.0..1.0).contains(&v);
        if !ok(self.valid) || !ok(self.test) || self.valid + self.test >= 1.0 {
            return Err(MlError::Config(format!(
                "split: valid ({}) and test ({}) are shares of the rows, each in [0, 1), \
                 leaving some for training",
                self.valid, self.test
            )));
        }
        Ok(())
    }

    /// Splits `rows` rows; `classes` (a class code per row) makes it stratified when
    /// `stratify` is set.
    pub fn split(&self, rows: usize, classes: Option<&[f32]>) -> Result<Split> {
        self.check()?;
        let mut groups: Vec<Vec<usize>> = match classes.filter(|_| self.stratify) {
            Some(codes) => {
                let k = codes.iter().fold(0usize, |m, &c| m.max(c as usize + 1));
                let mut g = vec![Vec::new(); k];
                for (i, &c) in codes.iter().enumerate() {
                    g[c as usize].push(i);
                }
                g
            }
            None => vec![(0..rows).collect()],
        };
        let mut r = rng(self.seed, 1);
        let mut split = Split::default();
        for group in &mut groups {
            group.shuffle(&mut r);
            let n = group.len();
            let n_test = (n as f64 * self.test).round() as usize;
            let n_valid = ((n as f64 * self.valid).round() as usize).min(n - n_test);
            split.test.extend_from_slice(&group[..n_test]);
            split
                .valid
                .extend_from_slice(&group[n_test..n_test + n_valid]);
            split.train.extend_from_slice(&group[n_test + n_valid..]);
        }
        split.finish()
    }
}

impl SplitSpec {
    /// Splits the rows of `batches`: by the values of [`SplitSpec::column`] when it is set,
    /// else by [`SplitSpec::split`] (`classes` as there).
    pub fn split_batches(
        &self,
        batches: &[arrow_array::RecordBatch],
        classes: Option<&[f32]>,
    ) -> Result<Split> {
        let Some(column) = &self.column else {
            let rows = batches.iter().map(arrow_array::RecordBatch::num_rows).sum();
            return self.split(rows, classes);
        };
        let mut values = Vec::new();
        for batch in batches {
            values.extend(to_strings(column_of(batch, column)?, column)?);
        }
        Split::from_labels(column, values.iter().map(Option::as_deref))
    }
}

impl Split {
    /// The split given by a column of `train` / `valid` / `test` values (`None` for a null).
    pub fn from_labels<'a>(
        column: &str,
        values: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<Split> {
        let mut split = Split::default();
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Some("train") => split.train.push(i),
                Some("valid") | Some("validation") => split.valid.push(i),
                Some("test") => split.test.push(i),
                other => {
                    return Err(MlError::Data(format!(
                        "split column `{column}` at row {} is {}: expected train, valid or test",
                        i + 1,
                        other.map_or("null".to_string(), |v| format!("`{v}`"))
                    )));
                }
            }
        }
        split.finish()
    }

    fn finish(mut self) -> Result<Split> {
        self.train.sort_unstable();
        self.valid.sort_unstable();
        self.test.sort_unstable();
        if self.train.is_empty() {
            return Err(MlError::Data(
                "no rows left for training after the split: give more rows or smaller valid/test shares"
                    .into(),
            ));
        }
        Ok(self)
    }
}
