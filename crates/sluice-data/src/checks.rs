//! Data checks: each check is a query returning the offending rows of a dataset (exposed as
//! table `data`); a check passes when it returns none.

use std::path::Path;

use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::session::{register_dataset, session};
use crate::{DataError, Result};

/// Rows shown when a check fails.
pub const SHOWN_ROWS: usize = 10;

pub use sluice_op::CheckQuery;

/// Runs the checks on the dataset in `dir`. The first failing check is an error listing how
/// many rows fail and the first [`SHOWN_ROWS`] of them.
pub async fn run_checks(dir: &Path, checks: &[CheckQuery]) -> Result<()> {
    if checks.is_empty() {
        return Ok(());
    }
    let ctx = session();
    register_dataset(&ctx, "data", dir).await?;
    for check in checks {
        let could_not_run = |e: datafusion::error::DataFusionError| {
            DataError::Check(format!(
                "check `{}` could not run: {}",
                check.name,
                e.strip_backtrace()
            ))
        };
        let df = ctx.sql(&check.sql).await.map_err(could_not_run)?;
        if let Some((_, rows)) = failing_rows(df).await.map_err(could_not_run)? {
            return Err(DataError::Check(format!(
                "check `{}` failed: {rows}",
                check.name
            )));
        }
    }
    Ok(())
}

/// `None` when the query returns no row; otherwise how many, and that number (`3 rows`)
/// with a table of the first [`SHOWN_ROWS`].
pub async fn failing_rows(
    df: datafusion::dataframe::DataFrame,
) -> datafusion::error::Result<Option<(usize, String)>> {
    let count = df.clone().count().await?;
    if count == 0 {
        return Ok(None);
    }
    let batches = df.limit(0, Some(SHOWN_ROWS))?.collect().await?;
    let table = pretty_format_batches(&batches)?.to_string();
    let more = if count > SHOWN_ROWS {
        format!("\n(first {SHOWN_ROWS} of {count} rows)")
    } else {
        String::new()
    };
    Ok(Some((
        count,
        format!(
            "{count} row{}\n{table}{more}",
            if count == 1 { "" } else { "s" }
        ),
    )))
}
