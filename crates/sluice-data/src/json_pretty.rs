//! Indented JSON straight from Arrow arrays: structs become objects and lists arrays, two
//! spaces a level, keys in column order, nulls written as `null`. Scalars are formatted by
//! arrow-json's own encoders, so dates, timestamps, floats and escapes match the compact
//! writer exactly.

use datafusion::arrow::array::{
    Array, AsArray, GenericListArray, OffsetSizeTrait, RecordBatch, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::arrow::json::writer::{EncoderOptions, NullableEncoder, make_encoder};

use crate::Result;

/// How one array is written.
enum Node<'a> {
    /// A scalar (or a type written compactly, such as a map).
    Leaf(NullableEncoder<'a>),
    /// An object per row.
    Struct {
        /// `"name": ` of each field, escaped.
        keys: Vec<Vec<u8>>,
        children: Vec<Node<'a>>,
        nulls: Option<NullBuffer>,
    },
    /// An array per row: `offsets[i]..offsets[i + 1]` index `values`.
    List {
        offsets: Vec<usize>,
        values: Box<Node<'a>>,
        nulls: Option<NullBuffer>,
    },
}

fn key(name: &str) -> Vec<u8> {
    let mut k = serde_json::to_vec(name).unwrap_or_else(|_| b"\"\"".to_vec());
    k.extend(b": ");
    k
}

fn newline(out: &mut Vec<u8>, level: usize) {
    out.push(b'\n');
    out.resize(out.len() + level * 2, b' ');
}

impl<'a> Node<'a> {
    fn new(field: &'a FieldRef, array: &'a dyn Array, options: &'a EncoderOptions) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Struct(fields) => {
                let s = array.as_struct();
                Node::Struct {
                    keys: fields.iter().map(|f| key(f.name())).collect(),
                    children: fields
                        .iter()
                        .zip(s.columns())
                        .map(|(f, c)| Node::new(f, c.as_ref(), options))
                        .collect::<Result<_>>()?,
                    nulls: s.nulls().cloned(),
                }
            }
            DataType::List(item) => Node::list(array.as_list::<i32>(), item, options)?,
            DataType::LargeList(item) => Node::list(array.as_list::<i64>(), item, options)?,
            _ => Node::Leaf(make_encoder(field, array, options)?),
        })
    }

    fn list<O: OffsetSizeTrait>(
        list: &'a GenericListArray<O>,
        item: &'a FieldRef,
        options: &'a EncoderOptions,
    ) -> Result<Self> {
        Ok(Node::List {
            offsets: list.value_offsets().iter().map(|o| o.as_usize()).collect(),
            values: Box::new(Node::new(item, list.values().as_ref(), options)?),
            nulls: list.nulls().cloned(),
        })
    }

    fn encode(&mut self, idx: usize, level: usize, out: &mut Vec<u8>) {
        match self {
            Node::Leaf(e) => {
                if e.is_null(idx) {
                    out.extend(b"null");
                } else {
                    e.encode(idx, out);
                }
            }
            Node::Struct {
                keys,
                children,
                nulls,
            } => {
                if nulls.as_ref().is_some_and(|n| n.is_null(idx)) {
                    out.extend(b"null");
                } else if keys.is_empty() {
                    out.extend(b"{}");
                } else {
                    out.push(b'{');
                    for (i, (k, child)) in keys.iter().zip(children.iter_mut()).enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        newline(out, level + 1);
                        out.extend_from_slice(k);
                        child.encode(idx, level + 1, out);
                    }
                    newline(out, level);
                    out.push(b'}');
                }
            }
            Node::List {
                offsets,
                values,
                nulls,
            } => {
                let (start, end) = (offsets[idx], offsets[idx + 1]);
                if nulls.as_ref().is_some_and(|n| n.is_null(idx)) {
                    out.extend(b"null");
                } else if start == end {
                    out.extend(b"[]");
                } else {
                    out.push(b'[');
                    for i in start..end {
                        if i > start {
                            out.push(b',');
                        }
                        newline(out, level + 1);
                        values.encode(i, level + 1, out);
                    }
                    newline(out, level);
                    out.push(b']');
                }
            }
        }
    }
}

/// Appends the rows of `batch` to `out` as indented objects, each starting at nesting
/// `level` and preceded by `separator` (e.g. `",\n  "`), the first one by `first`.
pub(crate) fn write_rows(
    batch: &RecordBatch,
    level: usize,
    mut first: Option<&[u8]>,
    separator: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let rows = StructArray::from(batch.clone());
    let field: FieldRef = std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
        "row",
        rows.data_type().clone(),
        false,
    ));
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut node = Node::new(&field, &rows, &options)?;
    for i in 0..rows.len() {
        out.extend_from_slice(first.take().unwrap_or(separator));
        node.encode(i, level, out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::{Field, Int64Type, Schema};
    use std::sync::Arc;

    #[test]
    fn indents_structs_lists_and_nulls_in_column_order() {
        let z: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("x,\"y\":{"), Some("é")]));
        let l: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(3), None]),
            Some(vec![]),
        ]));
        let schema = Arc::new(Schema::new(vec![
            Field::new("z", DataType::Int64, true),
            Field::new("a", DataType::Utf8, true),
            Field::new("l", l.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![z, a, l]).expect("batch");
        let mut out = Vec::new();
        write_rows(&batch, 1, Some(b"\n  "), b",\n  ", &mut out).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "\n  {\n    \"z\": 1,\n    \"a\": \"x,\\\"y\\\":{\",\n    \"l\": [\n      3,\n      null\n    ]\n  },\n  {\n    \"z\": null,\n    \"a\": \"é\",\n    \"l\": []\n  }"
        );
    }
}
