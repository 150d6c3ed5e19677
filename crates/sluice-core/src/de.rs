//! Serde support for [`Node`]: op configs deserialize straight from the YAML tree, so their
//! errors point at the exact line and column and name the key path.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use crate::diag::{Diagnostic, did_you_mean};
use crate::yaml::{Mark, Node, NodeKind, Scalar};

/// An error deserializing a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    /// Where, once known.
    pub mark: Option<Mark>,
    /// Key path from the deserialized root (`options.delimiter`).
    pub path: Vec<String>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
    /// Set when the error is an unknown key: the key as written.
    pub unknown_key: Option<String>,
}

impl DeError {
    fn at(mut self, mark: Mark) -> Self {
        self.mark.get_or_insert(mark);
        self
    }

    fn under(mut self, key: &str) -> Self {
        self.path.insert(0, key.to_string());
        self
    }

    /// Turns the error into a diagnostic, with `prefix` (e.g. `tasks.load`) before the key path.
    pub fn into_diagnostic(self, prefix: &str, fallback: Mark) -> Diagnostic {
        let mut key = prefix.to_string();
        for p in &self.path {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(p);
        }
        Diagnostic::new(self.mark.unwrap_or(fallback), key, self.message).with_hint_opt(self.hint)
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            mark: None,
            path: Vec::new(),
            message: msg.to_string(),
            hint: None,
            unknown_key: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!("expected {exp}, found {unexp}"))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = Self::custom(format_args!("unknown key `{field}`"));
        e.unknown_key = Some(field.to_string());
        e.hint = did_you_mean(field, expected.iter().copied()).or_else(|| {
            (!expected.is_empty()).then(|| {
                let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
                format!("valid keys: {}", list.join(", "))
            })
        });
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
        let mut e = Self::custom(format_args!(
            "unknown value `{variant}`, expected one of {}",
            list.join(", ")
        ));
        e.hint = did_you_mean(variant, expected.iter().copied());
        e
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("missing required key `{field}`"))
    }
}

/// Deserializes `T` from a node.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, DeError> {
    T::deserialize(node).map_err(|e| e.at(node.mark))
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) | None => visitor.visit_unit(),
                Some(Scalar::Bool(b)) => visitor.visit_bool(b),
                Some(Scalar::Int(i)) => visitor.visit_i64(i),
                Some(Scalar::Float(f)) => visitor.visit_f64(f),
                Some(Scalar::Str(s)) => visitor.visit_borrowed_str(s),
            },
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                key: None,
            }),
        }
        .map_err(|e| e.at(self.mark))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Scalar { text, .. } if !self.is_null() => visitor
                .visit_borrowed_str::<DeError>(text)
                .map_err(|e| e.at(self.mark)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(self.mark)),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                visitor.visit_enum(EnumAccess { key: k, value: v })
            }
            _ => Err(de::Error::custom(format_args!(
                "expected a name or a one-key mapping, found {}",
                self.describe()
            )))
            .map_err(|e: DeError| e.at(self.mark)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct SeqAccess<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(node)
                .map(Some)
                .map_err(|e| e.at(node.mark)),
            None => Ok(None),
        }
    }
}

struct MapAccess<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    key: Option<&'de (Node, Node)>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some(entry) => {
                self.key = Some(entry);
                seed.deserialize(&entry.0)
                    .map(Some)
                    .map_err(|e| e.at(entry.0.mark))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let Some((k, v)) = self.key.take() else {
            return Err(de::Error::custom("value without a key"));
        };
        seed.deserialize(v)
            .map_err(|e| e.at(v.mark).under(k.as_text().unwrap_or("?")))
    }
}

struct EnumAccess<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let v = seed
            .deserialize(self.key)
            .map_err(|e| e.at(self.key.mark))?;
        Ok((
            v,
            VariantAccess {
                value: self.value,
                name: self.key.as_text().unwrap_or("?"),
            },
        ))
    }
}

struct VariantAccess<'de> {
    value: &'de Node,
    name: &'de str,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DeError> {
        seed.deserialize(self.value)
            .map_err(|e| e.at(self.value.mark).under(self.name))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value, visitor).map_err(|e| e.under(self.name))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self.value, visitor).map_err(|e| e.under(self.name))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::yaml::parse;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Conf {
        path: String,
        #[serde(default)]
        limit: Option<u32>,
        mode: Mode,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Safe,
    }

    #[test]
    fn deserializes_structs() {
        let node = parse("path: 12\nlimit: 3\nmode: safe\n").expect("yaml");
        let c: Conf = from_node(&node).expect("valid");
        assert_eq!(
            c,
            Conf {
                path: "12".into(),
                limit: Some(3),
                mode: Mode::Safe
            }
        );
    }

    #[test]
    fn unknown_key_points_at_key_with_hint() {
        let node = parse("path: a\nmode: fast\nlimt: 3\n").expect("yaml");
        let e = from_node::<Conf>(&node).expect_err("invalid");
        assert_eq!(e.mark, Some(Mark { line: 3, col: 1 }));
        assert_eq!(e.message, "unknown key `limt`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `limit`?"));
    }

    #[test]
    fn wrong_type_points_at_value_with_path() {
        let node = parse("path: a\nmode: fast\nlimit: lots\n").expect("yaml");
        let e = from_node::<Conf>(&node).expect_err("invalid");
        assert_eq!(e.mark, Some(Mark { line: 3, col: 8 }));
        assert_eq!(e.path, vec!["limit".to_string()]);
        assert_eq!(e.message, "expected u32, found string \"lots\"");
    }

    #[test]
    fn missing_key_and_bad_variant() {
        let node = parse("path: a\n").expect("yaml");
        let e = from_node::<Conf>(&node).expect_err("invalid");
        assert_eq!(e.message, "missing required key `mode`");
        let node = parse("path: a\nmode: fsat\n").expect("yaml");
        let e = from_node::<Conf>(&node).expect_err("invalid");
        assert_eq!(
            e.message,
            "unknown value `fsat`, expected one of `fast`, `safe`"
        );
        assert_eq!(e.hint.as_deref(), Some("did you mean `fast`?"));
    }
}
