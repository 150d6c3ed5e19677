//! Date functions that dbt projects use and DataFusion lacks: `datediff(part, start, end)`
//! (the number of `part` boundaries crossed, as DuckDB's `date_diff` and Snowflake's
//! `datediff` count them) and `dateadd(part, n, date)` (a timestamp).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDateTime};
use datafusion::arrow::array::{
    Array, Int64Array, Int64Builder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::cast::as_string_array;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The parts `datediff` and `dateadd` know.
const PARTS: &str =
    "year, quarter, month, week, day, hour, minute, second, millisecond, microsecond";

/// Registers `datediff` and `dateadd`.
pub fn register(ctx: &SessionContext) {
    for name in ["datediff", "dateadd"] {
        ctx.register_udf(ScalarUDF::new_from_impl(DateFn {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
        }));
    }
}

/// `datediff` or `dateadd`: dates and timestamps of any unit are cast to microseconds.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFn {
    name: &'static str,
    signature: Signature,
}

fn micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

impl ScalarUDFImpl for DateFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.name == "datediff" {
            DataType::Int64
        } else {
            micros()
        })
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let usage = if self.name == "datediff" {
            "datediff(part, start, end)"
        } else {
            "dateadd(part, n, date)"
        };
        if arg_types.len() != 3 {
            return Err(DataFusionError::Plan(format!("{usage} takes 3 arguments")));
        }
        let date = |t: &DataType| {
            matches!(
                t,
                DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(_, _)
                    | DataType::Utf8
                    | DataType::Null
            )
        };
        let middle_ok = if self.name == "datediff" {
            date(&arg_types[1])
        } else {
            arg_types[1].is_integer() || arg_types[1] == DataType::Null
        };
        if !middle_ok || !date(&arg_types[2]) {
            return Err(DataFusionError::Plan(format!(
                "{usage}: cannot take ({}, {}, {})",
                arg_types[0], arg_types[1], arg_types[2]
            )));
        }
        let middle = if self.name == "datediff" {
            micros()
        } else {
            DataType::Int64
        };
        Ok(vec![DataType::Utf8, middle, micros()])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.name == "datediff" {
            datediff(&args.args)
        } else {
            dateadd(&args.args)
        }
    }
}

fn unknown(f: &str, part: &str) -> DataFusionError {
    DataFusionError::Execution(format!("{f}: unknown date part `{part}` (use {PARTS})"))
}

fn timestamps(a: &dyn Array, f: &str) -> Result<TimestampMicrosecondArray> {
    a.as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Execution(format!("{f}: expected dates or timestamps")))
}

fn datetime(us: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(us).map(|d| d.naive_utc())
}

const DAY: i64 = 86_400_000_000;

/// A date part, named once per distinct text of the column (usually one literal).
#[derive(Debug, Clone, Copy)]
enum Part {
    Year,
    Quarter,
    Month,
    /// Weeks start on Mondays.
    Week,
    /// A fixed length, in microseconds: day, hour, minute, second, millisecond, microsecond.
    Fixed(i64),
}

impl Part {
    fn parse(f: &str, name: &str) -> Result<Part> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "year" | "years" | "yy" | "yyyy" => Part::Year,
            "quarter" | "quarters" => Part::Quarter,
            "month" | "months" | "mon" | "mm" => Part::Month,
            "week" | "weeks" | "w" => Part::Week,
            "day" | "days" | "d" | "dd" => Part::Fixed(DAY),
            "hour" | "hours" | "h" | "hh" => Part::Fixed(3_600_000_000),
            "minute" | "minutes" | "mi" => Part::Fixed(60_000_000),
            "second" | "seconds" | "s" | "ss" => Part::Fixed(1_000_000),
            "millisecond" | "milliseconds" | "ms" => Part::Fixed(1000),
            "microsecond" | "microseconds" | "us" => Part::Fixed(1),
            _ => return Err(unknown(f, name)),
        })
    }
}

/// The part of each row: parsed again only when the text changes.
struct Parts<'a> {
    f: &'static str,
    last: Option<(&'a str, Part)>,
}

impl<'a> Parts<'a> {
    fn of(&mut self, name: &'a str) -> Result<Part> {
        match self.last {
            Some((n, p)) if n == name => Ok(p),
            _ => {
                let p = Part::parse(self.f, name)?;
                self.last = Some((name, p));
                Ok(p)
            }
        }
    }
}

/// Boundaries of `part` crossed from `a` to `b` (microseconds since 1970).
fn diff(part: Part, a: i64, b: i64) -> Option<i64> {
    let floor = |us: i64, unit: i64| us.div_euclid(unit);
    let (x, y) = (datetime(a)?, datetime(b)?);
    let months = |d: &NaiveDateTime| i64::from(d.year()) * 12 + i64::from(d.month0());
    Some(match part {
        Part::Year => i64::from(y.year() - x.year()),
        Part::Quarter => {
            let q = |d: &NaiveDateTime| i64::from(d.year()) * 4 + i64::from(d.month0() / 3);
            q(&y) - q(&x)
        }
        Part::Month => months(&y) - months(&x),
        // 1970-01-01 was a Thursday.
        Part::Week => floor(b + 3 * DAY, 7 * DAY) - floor(a + 3 * DAY, 7 * DAY),
        Part::Fixed(unit) => floor(b, unit) - floor(a, unit),
    })
}

/// `us` plus `n` `part`s.
fn add(part: Part, n: i64, us: i64) -> Option<i64> {
    let d = datetime(us)?;
    let months = |m: i64| -> Option<i64> {
        let shifted = if m >= 0 {
            d.checked_add_months(Months::new(u32::try_from(m).ok()?))
        } else {
            d.checked_sub_months(Months::new(u32::try_from(-m).ok()?))
        };
        Some(shifted?.and_utc().timestamp_micros())
    };
    let plus = |unit: i64| n.checked_mul(unit).and_then(|v| us.checked_add(v));
    match part {
        Part::Year => n.checked_mul(12).and_then(months),
        Part::Quarter => n.checked_mul(3).and_then(months),
        Part::Month => months(n),
        Part::Week => plus(7 * DAY),
        Part::Fixed(unit) => plus(unit),
    }
}

fn datediff(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let names = as_string_array(&arrays[0])?;
    let a = timestamps(&arrays[1], "datediff")?;
    let b = timestamps(&arrays[2], "datediff")?;
    let mut parts = Parts {
        f: "datediff",
        last: None,
    };
    let mut out = Int64Builder::with_capacity(a.len());
    for i in 0..a.len() {
        if names.is_null(i) || a.is_null(i) || b.is_null(i) {
            out.append_null();
            continue;
        }
        out.append_option(diff(parts.of(names.value(i))?, a.value(i), b.value(i)));
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

fn dateadd(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let names = as_string_array(&arrays[0])?;
    let n = arrays[1]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| DataFusionError::Execution("dateadd: expected a whole number".into()))?;
    let d = timestamps(&arrays[2], "dateadd")?;
    let mut parts = Parts {
        f: "dateadd",
        last: None,
    };
    let mut out = TimestampMicrosecondBuilder::with_capacity(d.len());
    for i in 0..d.len() {
        if names.is_null(i) || n.is_null(i) || d.is_null(i) {
            out.append_null();
            continue;
        }
        out.append_option(add(parts.of(names.value(i))?, n.value(i), d.value(i)));
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    #[tokio::test]
    async fn datediff_counts_boundaries_and_dateadd_moves_dates() {
        let ctx = crate::session::session();
        let df = ctx
            .sql(
                "select datediff('day', date '2024-01-31', date '2024-03-01') as days, \
                 datediff('month', date '2024-01-31', date '2024-02-01') as months, \
                 datediff('year', timestamp '2023-12-31 23:59:59', timestamp '2024-01-01 00:00:00') as years, \
                 datediff('week', date '2024-01-07', date '2024-01-08') as weeks, \
                 datediff('hour', timestamp '2024-01-01 10:59:00', timestamp '2024-01-01 12:00:00') as hours, \
                 dateadd('month', 1, date '2024-01-31') as next_month, \
                 dateadd('day', -1, timestamp '2024-03-01 06:00:00') as yesterday",
            )
            .await
            .expect("plan");
        let batches = df.collect().await.expect("run");
        let text = pretty_format_batches(&batches).expect("fmt").to_string();
        assert!(
            text.contains(
                "| 30   | 1      | 1     | 1     | 2     | 2024-02-29T00:00:00 | 2024-02-29T06:00:00 |"
            ),
            "{text}"
        );
        let err = ctx
            .sql("select datediff('fortnight', date '2024-01-01', date '2024-02-01')")
            .await
            .expect("plan")
            .collect()
            .await
            .expect_err("unknown part")
            .to_string();
        assert!(
            err.contains("datediff: unknown date part `fortnight`"),
            "{err}"
        );
    }
}
