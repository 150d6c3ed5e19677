//! The table a dataset becomes: each Arrow column's PostgreSQL type, and whether an
//! existing table can take the dataset (or how it must be migrated) — decided before any
//! data is changed.

use std::collections::{BTreeMap, BTreeSet};

use sluice_data::datafusion::arrow::datatypes::{DataType, Schema};

use crate::{Error, Result};

/// The PostgreSQL type of a loaded column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgType {
    /// `boolean`
    Bool,
    /// `smallint` (Int8, Int16, UInt8)
    Int2,
    /// `integer` (Int32, UInt16)
    Int4,
    /// `bigint` (Int64, UInt32; UInt64 when each value fits)
    Int8,
    /// `real`
    Float4,
    /// `double precision`
    Float8,
    /// `text`
    Text,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `timestamp without time zone`
    Timestamp,
    /// `timestamp with time zone`
    Timestamptz,
    /// `jsonb`: structs, maps, lists of non-strings, or text columns named in `jsonb`.
    Jsonb,
    /// `text[]`: lists of strings.
    TextArray,
    /// pgvector's `vector(N)`: fixed-size lists of floats.
    Vector(usize),
    /// pgvector's `halfvec(N)` (pgvector 0.7 or later): half the space of `vector`.
    HalfVec(usize),
}

impl PgType {
    /// The type as PostgreSQL's `format_type` writes it.
    pub fn sql(&self) -> String {
        match self {
            PgType::Bool => "boolean".into(),
            PgType::Int2 => "smallint".into(),
            PgType::Int4 => "integer".into(),
            PgType::Int8 => "bigint".into(),
            PgType::Float4 => "real".into(),
            PgType::Float8 => "double precision".into(),
            PgType::Text => "text".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Date => "date".into(),
            PgType::Timestamp => "timestamp without time zone".into(),
            PgType::Timestamptz => "timestamp with time zone".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::TextArray => "text[]".into(),
            PgType::Vector(n) => format!("vector({n})"),
            PgType::HalfVec(n) => format!("halfvec({n})"),
        }
    }

    /// Whether this is a pgvector type.
    pub fn is_vector(&self) -> bool {
        matches!(self, PgType::Vector(_) | PgType::HalfVec(_))
    }

    /// The vector length, for pgvector types.
    pub fn dimension(&self) -> Option<usize> {
        match self {
            PgType::Vector(n) | PgType::HalfVec(n) => Some(*n),
            _ => None,
        }
    }
}

/// One column of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name in PostgreSQL.
    pub name: String,
    /// Its name in the dataset.
    pub source: String,
    /// Its position in the dataset's schema.
    pub index: usize,
    /// Its type in PostgreSQL.
    pub ty: PgType,
    /// The dataset's column is text holding JSON, loaded as `jsonb`.
    pub json_text: bool,
    /// The dataset says it has no nulls (the table's column is then `NOT NULL`).
    pub not_null: bool,
}

/// Which dataset columns are loaded, under which names, as which types.
#[derive(Debug, Clone, Default)]
pub struct ColumnSpec {
    /// The dataset columns to load, in this order (default: all of them).
    pub columns: Option<Vec<String>>,
    /// Dataset name → table name.
    pub rename: BTreeMap<String, String>,
    /// Text columns (dataset names) that hold JSON, loaded as `jsonb`.
    pub jsonb: Vec<String>,
    /// Vectors as `halfvec` rather than `vector`.
    pub half: bool,
}

fn arrow_type(dt: &DataType, json_text: bool, half: bool) -> Option<PgType> {
    Some(match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if json_text => PgType::Jsonb,
        DataType::Boolean => PgType::Bool,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => PgType::Int2,
        DataType::Int32 | DataType::UInt16 => PgType::Int4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => PgType::Int8,
        DataType::Float16 | DataType::Float32 => PgType::Float4,
        DataType::Float64 => PgType::Float8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PgType::Text,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => PgType::Bytea,
        DataType::Date32 | DataType::Date64 => PgType::Date,
        DataType::Timestamp(_, None) => PgType::Timestamp,
        DataType::Timestamp(_, Some(_)) => PgType::Timestamptz,
        DataType::FixedSizeList(_, n) if crate::is_vector(dt) => {
            let n = *n as usize;
            if half {
                PgType::HalfVec(n)
            } else {
                PgType::Vector(n)
            }
        }
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item)
            if matches!(
                item.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            PgType::TextArray
        }
        DataType::Struct(_)
        | DataType::Map(_, _)
        | DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(_, _) => PgType::Jsonb,
        _ => return None,
    })
}

/// The table's columns for a dataset's schema.
pub fn plan(schema: &Schema, spec: &ColumnSpec) -> Result<Vec<Column>> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let missing = |what: &str, name: &str| {
        Error(format!(
            "{what} `{name}`, which is not a column of the dataset (it has: {})",
            names.join(", ")
        ))
    };
    for (key, list) in [
        ("`jsonb`", &spec.jsonb),
        ("`rename`", &spec.rename.keys().cloned().collect()),
    ] {
        if let Some(name) = list.iter().find(|n| schema.index_of(n).is_err()) {
            return Err(missing(&format!("{key} names"), name));
        }
    }
    let chosen: Vec<String> = match &spec.columns {
        Some(list) => list.clone(),
        None => names.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = Vec::with_capacity(chosen.len());
    let mut seen = BTreeSet::new();
    for source in chosen {
        let index = schema
            .index_of(&source)
            .map_err(|_| missing("`columns` names", &source))?;
        let field = schema.field(index);
        let json_text = spec.jsonb.contains(&source);
        if json_text
            && !matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        {
            return Err(Error(format!(
                "`jsonb` names `{source}`, which is {} rather than text; structs and lists \
                 become jsonb by themselves",
                field.data_type()
            )));
        }
        let ty = arrow_type(field.data_type(), json_text, spec.half).ok_or_else(|| {
            Error(format!(
                "column `{source}` has the type {}, which cannot be loaded into PostgreSQL: \
                 cast it in a `sql` task (to text, bigint, double, …) or leave it out with \
                 `columns`",
                field.data_type()
            ))
        })?;
        let name = spec.rename.get(&source).cloned().unwrap_or(source.clone());
        if name.is_empty() || name.len() > 63 {
            return Err(Error(format!(
                "column name `{name}` must have 1 to 63 bytes for PostgreSQL: rename it with \
                 `rename`"
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(Error(format!(
                "two columns would both be called `{name}` in the table: change `rename`"
            )));
        }
        out.push(Column {
            name,
            source,
            index,
            ty,
            json_text,
            not_null: !field.is_nullable(),
        });
    }
    if out.is_empty() {
        return Err(Error("no column to load: `columns` is empty".into()));
    }
    Ok(out)
}

/// A column of an existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Its name.
    pub name: String,
    /// Its type, as `format_type` writes it.
    pub ty: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// Whether it has a default value.
    pub has_default: bool,
}

/// How an existing table must change to take the dataset: the columns to add. Any
/// incompatibility is an error naming the column, the two types and what to do.
pub fn migration(table: &str, planned: &[Column], existing: &[Existing]) -> Result<Vec<Column>> {
    let by_name: BTreeMap<&str, &Existing> =
        existing.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut problems = Vec::new();
    let mut added = Vec::new();
    for column in planned {
        match by_name.get(column.name.as_str()) {
            None => added.push(column.clone()),
            Some(e) if e.ty == column.ty.sql() => {}
            Some(e) => {
                let both_vectors = e.ty.starts_with("vector(") || e.ty.starts_with("halfvec(");
                if both_vectors && column.ty.is_vector() {
                    problems.push(format!(
                        "column `{}` is {} in the table but the dataset's vectors (`{}`) have {} \
                         dimensions ({}): embed with the table's model, load into another \
                         table, or drop this one to re-create it",
                        column.name,
                        e.ty,
                        column.source,
                        column.ty.dimension().unwrap_or(0),
                        column.ty.sql()
                    ));
                } else {
                    problems.push(format!(
                        "column `{}` is {} in the table but {} in the dataset (`{}`): change \
                         the column (ALTER TABLE … ALTER COLUMN … TYPE {}), cast the dataset's \
                         column in a `sql` task, or load into another table",
                        column.name,
                        e.ty,
                        column.ty.sql(),
                        column.source,
                        column.ty.sql()
                    ));
                }
            }
        }
    }
    let loaded: BTreeSet<&str> = planned.iter().map(|c| c.name.as_str()).collect();
    for e in existing {
        if !loaded.contains(e.name.as_str()) && e.not_null && !e.has_default {
            problems.push(format!(
                "column `{}` of the table is NOT NULL without a default, and the dataset has \
                 no such column: add it to the dataset (or `rename` one to it), or drop the \
                 NOT NULL",
                e.name
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error(format!(
            "table {table} cannot take this dataset, nothing was changed:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_data::datafusion::arrow::datatypes::Field;
    use std::sync::Arc;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("meta", DataType::Utf8, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            Field::new(
                "embedding",
                DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 3),
                true,
            ),
        ])
    }

    #[test]
    fn maps_types_and_names() {
        let spec = ColumnSpec {
            jsonb: vec!["meta".into()],
            rename: [("embedding".to_string(), "vec".to_string())].into(),
            ..ColumnSpec::default()
        };
        let cols = plan(&schema(), &spec).expect("plan");
        let got: Vec<(String, String, bool)> = cols
            .iter()
            .map(|c| (c.name.clone(), c.ty.sql(), c.not_null))
            .collect();
        assert_eq!(
            got,
            vec![
                ("id".into(), "text".into(), true),
                ("n".into(), "bigint".into(), false),
                ("meta".into(), "jsonb".into(), false),
                ("tags".into(), "text[]".into(), false),
                ("vec".into(), "vector(3)".into(), false),
            ]
        );
    }

    #[test]
    fn refuses_incompatible_tables_with_every_reason() {
        let cols = plan(&schema(), &ColumnSpec::default()).expect("plan");
        let existing = vec![
            Existing {
                name: "id".into(),
                ty: "text".into(),
                not_null: true,
                has_default: false,
            },
            Existing {
                name: "n".into(),
                ty: "integer".into(),
                not_null: false,
                has_default: false,
            },
            Existing {
                name: "embedding".into(),
                ty: "vector(768)".into(),
                not_null: false,
                has_default: false,
            },
            Existing {
                name: "owner".into(),
                ty: "text".into(),
                not_null: true,
                has_default: false,
            },
        ];
        let err = migration("public.t", &cols, &existing).expect_err("incompatible");
        assert_eq!(
            err.0,
            "table public.t cannot take this dataset, nothing was changed:\n  \
             - column `n` is integer in the table but bigint in the dataset (`n`): change the \
             column (ALTER TABLE … ALTER COLUMN … TYPE bigint), cast the dataset's column in a \
             `sql` task, or load into another table\n  \
             - column `embedding` is vector(768) in the table but the dataset's vectors \
             (`embedding`) have 3 dimensions (vector(3)): embed with the table's model, load \
             into another table, or drop this one to re-create it\n  \
             - column `owner` of the table is NOT NULL without a default, and the dataset has \
             no such column: add it to the dataset (or `rename` one to it), or drop the NOT NULL"
        );
        let ok = vec![existing[0].clone()];
        let added = migration("public.t", &cols, &ok).expect("migration");
        let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["n", "meta", "tags", "embedding"]);
    }

    #[test]
    fn names_unknown_columns() {
        let spec = ColumnSpec {
            columns: Some(vec!["id".into(), "nope".into()]),
            ..ColumnSpec::default()
        };
        let err = plan(&schema(), &spec).expect_err("unknown");
        assert_eq!(
            err.0,
            "`columns` names `nope`, which is not a column of the dataset (it has: id, n, meta, \
             tags, \
             embedding)"
        );
    }
}
