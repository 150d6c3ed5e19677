//! Column types inferred from text or JSON values, and builders for them.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// A column's type, from the narrowest: `Null` (nothing seen yet) widens to the others;
/// incompatible kinds widen to `Str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only nulls so far.
    Null,
    /// `true` / `false`.
    Bool,
    /// 64-bit integers.
    Int,
    /// 64-bit floats.
    Float,
    /// Dates (declared only, never inferred).
    Date,
    /// Date and time without a zone, to the microsecond (declared only, never inferred).
    Timestamp,
    /// Text.
    Str,
}

impl Kind {
    /// The kind of a text value (`""` is null).
    pub fn of_text(s: &str) -> Kind {
        let leading_zero = s.len() > 1 && s.starts_with('0') && s.as_bytes()[1].is_ascii_digit();
        if s.is_empty() {
            Kind::Null
        } else if leading_zero {
            // `007` stays text: leading zeros are meaningful in codes.
            Kind::Str
        } else if s == "true" || s == "false" {
            Kind::Bool
        } else if s.parse::<i64>().is_ok() {
            Kind::Int
        } else if s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && s.parse::<f64>().is_ok_and(f64::is_finite)
        {
            Kind::Float
        } else {
            Kind::Str
        }
    }

    /// The narrowest kind holding both.
    pub fn merge(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, k) | (k, Null) => k,
            (Int, Float) | (Float, Int) => Float,
            _ => Str,
        }
    }

    /// The Arrow type (nulls only → text).
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Null | Kind::Str => DataType::Utf8,
        }
    }

    /// The kind declared by name in a pipeline (`string`, `int`, `float`, `bool`, `date`,
    /// `timestamp`).
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "string" | "text" | "str" => Kind::Str,
            "int" | "integer" | "bigint" => Kind::Int,
            "float" | "double" | "number" => Kind::Float,
            "bool" | "boolean" => Kind::Bool,
            "date" => Kind::Date,
            "timestamp" | "datetime" => Kind::Timestamp,
            _ => return None,
        })
    }
}

/// Parses a date written `dd/mm/yyyy`, `yyyy-mm-dd`, `yyyy/mm/dd`, `1 January 2020`,
/// `27 Apr 2020` or `January 1, 2020`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // Fast paths for the all-digit forms (most dates): no format-string parsing.
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| digits(b.get(r)?);
    if b.len() == 10 {
        if b[2] == b'/' && b[5] == b'/' {
            return NaiveDate::from_ymd_opt(num(6..10)? as i32, num(3..5)?, num(0..2)?);
        }
        if b[4] == b'-' && b[7] == b'-' {
            return NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?);
        }
    }
    // And for `1 January 2020` / `27 Apr 2020`: day, month name, year, one space apart.
    let mut parts = s.split(' ');
    if let (Some(day), Some(month), Some(year), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
        && (1..=2).contains(&day.len())
        && year.len() == 4
        && let (Some(day), Some(month), Some(year)) = (
            digits(day.as_bytes()),
            month_number(month),
            digits(year.as_bytes()),
        )
    {
        return NaiveDate::from_ymd_opt(year as i32, month, day);
    }
    const FORMATS: [&str; 6] = [
        "%d/%m/%Y",
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%d %B %Y",
        "%d %b %Y",
        "%B %d, %Y",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

/// Parses a date and time written `yyyy-mm-dd hh:mm:ss[.ffffff]` (or with a `T`), or a date
/// alone (midnight).
pub fn parse_timestamp(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim();
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| parse_date(s).and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// The number written with ASCII digits only.
fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// 1 to 12 for an English month name, full or in three letters, in any case.
fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let i = MONTHS.iter().position(|m| {
        m.eq_ignore_ascii_case(name) || (name.len() == 3 && m[..3].eq_ignore_ascii_case(name))
    })?;
    Some(i as u32 + 1)
}

/// Days since 1970-01-01, as Arrow's Date32 stores them.
pub fn date32(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// Builds one column of a batch.
pub enum ColumnBuilder {
    /// Booleans.
    Bool(BooleanBuilder),
    /// Integers.
    Int(Int64Builder),
    /// Floats.
    Float(Float64Builder),
    /// Dates.
    Date(Date32Builder),
    /// Timestamps (microseconds).
    Timestamp(TimestampMicrosecondBuilder),
    /// Text.
    Str(StringBuilder),
}

impl ColumnBuilder {
    /// A builder for `kind`.
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            Kind::Int => ColumnBuilder::Int(Int64Builder::new()),
            Kind::Float => ColumnBuilder::Float(Float64Builder::new()),
            Kind::Date => ColumnBuilder::Date(Date32Builder::new()),
            Kind::Timestamp => ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new()),
            Kind::Null | Kind::Str => ColumnBuilder::Str(StringBuilder::new()),
        }
    }

    /// Appends a text value (`None` is null); `Err` names the expected type.
    pub fn append_text(&mut self, v: Option<&str>) -> Result<(), String> {
        let bad = |what: &str, v: &str| format!("`{v}` is not {what}");
        match (self, v) {
            (ColumnBuilder::Str(b), v) => b.append_option(v),
            (ColumnBuilder::Bool(b), None) => b.append_null(),
            (ColumnBuilder::Int(b), None) => b.append_null(),
            (ColumnBuilder::Float(b), None) => b.append_null(),
            (ColumnBuilder::Date(b), None) => b.append_null(),
            (ColumnBuilder::Timestamp(b), None) => b.append_null(),
            (ColumnBuilder::Bool(b), Some(v)) => match v {
                "true" => b.append_value(true),
                "false" => b.append_value(false),
                _ => return Err(bad("a boolean (true/false)", v)),
            },
            (ColumnBuilder::Int(b), Some(v)) => {
                b.append_value(v.trim().parse().map_err(|_| bad("an integer", v))?)
            }
            (ColumnBuilder::Float(b), Some(v)) => {
                b.append_value(v.trim().parse().map_err(|_| bad("a number", v))?)
            }
            (ColumnBuilder::Date(b), Some(v)) => b
                .append_value(date32(parse_date(v).ok_or_else(|| {
                    bad("a date (dd/mm/yyyy, yyyy-mm-dd or `1 January 2020`)", v)
                })?)),
            (ColumnBuilder::Timestamp(b), Some(v)) => b.append_value(
                parse_timestamp(v)
                    .ok_or_else(|| bad("a timestamp (yyyy-mm-dd hh:mm:ss)", v))?
                    .and_utc()
                    .timestamp_micros(),
            ),
        }
        Ok(())
    }

    /// The finished array.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::Float(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_and_merges_kinds() {
        assert_eq!(Kind::of_text("12"), Kind::Int);
        assert_eq!(Kind::of_text("007"), Kind::Str);
        assert_eq!(Kind::of_text("1.5"), Kind::Float);
        assert_eq!(Kind::of_text("NCT01967433"), Kind::Str);
        assert_eq!(Kind::of_text("01/01/2019"), Kind::Str);
        assert_eq!(Kind::Int.merge(Kind::Float), Kind::Float);
        assert_eq!(Kind::Int.merge(Kind::Str), Kind::Str);
        assert_eq!(Kind::Null.merge(Kind::Bool), Kind::Bool);
    }

    #[test]
    fn parses_the_date_formats_of_the_inputs() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        assert_eq!(parse_date("01/03/2020"), d(2020, 3, 1));
        assert_eq!(parse_date("2020-01-01"), d(2020, 1, 1));
        assert_eq!(parse_date("1 January 2020"), d(2020, 1, 1));
        assert_eq!(parse_date("27 April 2020"), d(2020, 4, 27));
        assert_eq!(parse_date("25/05/2020"), d(2020, 5, 25));
        assert_eq!(parse_date("not a date"), None);
        // Month names: full or short, any case, the day on one or two digits; the same
        // answers as the general parser gives.
        for (s, want) in [
            ("3 mar 2021", d(2021, 3, 3)),
            ("03 MARCH 2021", d(2021, 3, 3)),
            ("31 February 2021", None),
            ("1 Janvier 2020", None),
            ("1 January 20", d(20, 1, 1)),
            ("+1 January 2020", None),
            ("January 1, 2020", d(2020, 1, 1)),
            ("1  January 2020", d(2020, 1, 1)),
        ] {
            assert_eq!(parse_date(s), want, "{s}");
            let general = ["%d %B %Y", "%B %d, %Y"]
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(s.trim(), f).ok());
            assert_eq!(parse_date(s), general, "{s}: differs from chrono");
        }
        assert_eq!(
            date32(NaiveDate::from_ymd_opt(1970, 1, 2).expect("date")),
            1
        );
    }
}
