//! The two shapes learners read: a [`Frame`] of feature columns (column-major, `NaN` for a
//! missing value, categorical columns as category codes) — what trees want — and a dense
//! row-major [`Matrix`] — what the matrix-product learners want.

use serde::{Deserialize, Serialize};

/// Feature columns of the same length, column-major. A missing value is `NaN`; a categorical
/// column holds category codes `0..n` as floats (and `NaN` for missing or unknown).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// Number of rows.
    pub rows: usize,
    /// One `Vec` of `rows` values per column.
    pub columns: Vec<Vec<f32>>,
    /// For each column, `Some(number of categories)` when it is categorical.
    pub categorical: Vec<Option<u32>>,
    /// Column names, for messages and feature importances.
    pub names: Vec<String>,
}

impl Frame {
    /// A frame of numeric columns only.
    pub fn numeric(names: Vec<String>, columns: Vec<Vec<f32>>) -> Frame {
        let rows = columns.first().map_or(0, Vec::len);
        let categorical = vec![None; columns.len()];
        Frame {
            rows,
            columns,
            categorical,
            names,
        }
    }

    /// The rows at `index`, in that order.
    pub fn take(&self, index: &[usize]) -> Frame {
        Frame {
            rows: index.len(),
            columns: self
                .columns
                .iter()
                .map(|c| index.iter().map(|&i| c[i]).collect())
                .collect(),
            categorical: self.categorical.clone(),
            names: self.names.clone(),
        }
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }
}

/// A dense row-major matrix of `f32`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows × cols` values, row after row.
    #[serde(deserialize_with = "crate::model::matrix_data")]
    pub data: Vec<f32>,
}

impl Matrix {
    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// The rows at `index`, in that order.
    pub fn take(&self, index: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(index.len() * self.cols);
        for &i in index {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: index.len(),
            cols: self.cols,
            data,
        }
    }

    /// The layout of this matrix for `sluice-kernels`' products.
    pub fn layout(&self) -> sluice_kernels::Layout {
        sluice_kernels::Layout::dense(self.rows, self.cols)
    }
}

/// Runs `work` over `0..n` split in chunks of `chunk` items on up to `threads` threads and
/// returns the results in chunk order: the split depends on `chunk` only, so results combined
/// in that order do not depend on the thread count.
pub(crate) fn par_chunks<T: Send>(
    n: usize,
    chunk: usize,
    threads: usize,
    work: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    let chunk = chunk.max(1);
    let ranges: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(chunk)
        .map(|s| s..(s + chunk).min(n))
        .collect();
    let threads = threads.clamp(1, ranges.len().max(1));
    if threads == 1 {
        return ranges.into_iter().map(&work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = (0..ranges.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, T)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(range) = ranges.get(i) else { break };
                        mine.push((i, work(range.clone())));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (i, t) in done.into_iter().flatten() {
        results[i] = Some(t);
    }
    results.into_iter().flatten().collect()
}

/// Runs `work` on disjoint row blocks of `data` (`width` values per row, `chunk` rows per
/// block) on up to `threads` threads.
pub(crate) fn par_rows_mut(
    data: &mut [f32],
    width: usize,
    chunk: usize,
    threads: usize,
    work: impl Fn(usize, &mut [f32]) + Sync,
) {
    let block = (chunk.max(1) * width).max(1);
    let blocks: Vec<(usize, &mut [f32])> = data
        .chunks_mut(block)
        .enumerate()
        .map(|(i, b)| (i * chunk.max(1), b))
        .collect();
    let threads = threads.clamp(1, blocks.len().max(1));
    if threads == 1 {
        for (start, b) in blocks {
            work(start, b);
        }
        return;
    }
    let queue = std::sync::Mutex::new(blocks);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let item = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                    let Some((start, b)) = item else { break };
                    work(start, b);
                }
            });
        }
    });
}
