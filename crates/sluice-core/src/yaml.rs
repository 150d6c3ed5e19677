//! A YAML tree that remembers where every node came from.
//!
//! Pipeline files are parsed into [`Node`]s (not straight into structs) so that every later
//! check can point at `file:line:column`. Scalars keep their source text; their type (bool,
//! integer, float, null, string) is resolved on demand with the YAML 1.2 core schema.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a source file: 1-based line and column.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Mark {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Self {
        Mark {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// One YAML node with its position (serialisable: a task's config travels with the
/// description of an attempt, positions included for messages).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where the node starts.
    pub mark: Mark,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NodeKind {
    /// A scalar; `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        /// The scalar's text, without quotes.
        text: String,
        /// Whether the scalar was written without quotes (so `true`, `1`, `~` get their YAML type).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping; entries in source order, duplicates kept so validation can report them.
    Map(Vec<(Node, Node)>),
}

/// A scalar resolved with the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `~`, `null` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Anything else, and every quoted scalar.
    Str(&'a str),
}

impl Node {
    /// A plain string scalar at `mark` (used to build synthetic nodes).
    pub fn string(text: impl Into<String>, mark: Mark) -> Node {
        Node {
            kind: NodeKind::Scalar {
                text: text.into(),
                plain: false,
            },
            mark,
        }
    }

    /// An empty mapping at `mark`.
    pub fn empty_map(mark: Mark) -> Node {
        Node {
            kind: NodeKind::Map(Vec::new()),
            mark,
        }
    }

    /// The resolved scalar, or `None` for sequences and mappings.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        match &self.kind {
            NodeKind::Scalar { text, plain } => Some(if *plain {
                resolve_plain(text)
            } else {
                Scalar::Str(text)
            }),
            _ => None,
        }
    }

    /// The scalar's text whatever its type (`30`, `true` and `"x"` all give their text).
    pub fn as_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entries if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The items if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// True for a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }

    /// A word for the node's type, for error messages ("a mapping", "a string"…).
    pub fn describe(&self) -> &'static str {
        match self.scalar() {
            None if self.as_seq().is_some() => "a list",
            None => "a mapping",
            Some(Scalar::Null) => "null",
            Some(Scalar::Bool(_)) => "a boolean",
            Some(Scalar::Int(_)) => "an integer",
            Some(Scalar::Float(_)) => "a number",
            Some(Scalar::Str(_)) => "a string",
        }
    }

    /// Converts to JSON: used for canonical fingerprints of configs.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) | None => Value::Null,
                Some(Scalar::Bool(b)) => Value::Bool(b),
                Some(Scalar::Int(i)) => Value::from(i),
                Some(Scalar::Float(f)) => Value::from(f),
                Some(Scalar::Str(s)) => Value::from(s),
            },
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_text().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Applies `f` to the text of every string scalar (quoted or plain string), in place; `f`
    /// also gets the scalar's position and the key of the mapping entry it is in.
    pub fn map_strings<E>(
        &mut self,
        f: &mut impl FnMut(&str, Mark, Option<&str>) -> Result<String, E>,
    ) -> Result<(), E> {
        self.map_strings_in(None, f)
    }

    fn map_strings_in<E>(
        &mut self,
        key: Option<&str>,
        f: &mut impl FnMut(&str, Mark, Option<&str>) -> Result<String, E>,
    ) -> Result<(), E> {
        let mark = self.mark;
        match &mut self.kind {
            NodeKind::Scalar { text, plain } => {
                let is_string = !*plain || matches!(resolve_plain(text), Scalar::Str(_));
                if is_string {
                    *text = f(text, mark, key)?;
                }
                Ok(())
            }
            NodeKind::Seq(items) => items.iter_mut().try_for_each(|n| n.map_strings_in(key, f)),
            NodeKind::Map(entries) => entries
                .iter_mut()
                .try_for_each(|(k, v)| v.map_strings_in(k.as_text(), f)),
        }
    }
}

fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Scalar::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Scalar::Int(i);
    }
    let numeric = text
        .trim_start_matches(['-', '+'])
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.');
    if numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Scalar::Int(i);
        }
        if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
            && let Ok(f) = text.parse::<f64>()
        {
            return Scalar::Float(f);
        }
    }
    Scalar::Str(text)
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub mark: Mark,
    /// The parser's explanation.
    pub message: String,
}

/// Deepest nesting of lists and mappings in a pipeline file (a handful is typical). Deeper
/// documents are refused while parsing, so that no later walk of the tree (validation,
/// fingerprints, dropping it) can overflow the stack.
pub const MAX_DEPTH: usize = 128;

/// Most nodes that anchors and aliases may copy in one file: a guard against "billion laughs"
/// files (each alias is a copy of its anchor's value, and so is each anchor's saved value).
pub const MAX_COPIED_NODES: usize = 100_000;

fn too_deep() -> String {
    format!(
        "lists and mappings nested deeper than {MAX_DEPTH} levels; a pipeline file needs far fewer"
    )
}

/// Parses one YAML document into a [`Node`]. An empty document gives an empty mapping.
///
/// Events are pulled one at a time (yaml-rust2's `Parser::load` recurses once per level of
/// nesting, so a `- - - …` line 100,000 deep overflowed the stack), and parsing stops at the
/// first problem: nesting past [`MAX_DEPTH`], anchors and aliases copying more than
/// [`MAX_COPIED_NODES`] nodes, a second document.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    loop {
        let (event, marker) = parser.next_token().map_err(|e| SyntaxError {
            mark: (*e.marker()).into(),
            // The scanner's own limit, 255 levels of `[` and `{`, says the same as ours.
            message: match e.info() {
                "recursion limit exceeded" => too_deep(),
                info => info.to_string(),
            },
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.on_event(event, marker);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
    }
    Ok(builder
        .root
        .unwrap_or(Node::empty_map(Mark { line: 1, col: 1 })))
}

/// How big a node is: its nodes, and how many lists and mappings deep it goes (0 for a scalar).
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    depth: usize,
}

/// One open list or mapping.
struct Frame {
    node: Node,
    anchor: usize,
    /// The pending mapping key.
    key: Option<Node>,
    /// Entries of `<<` merge keys, added when the mapping ends.
    merged: Vec<(Node, Node)>,
    /// The nodes of the children so far, and the deepest of them.
    children: Size,
}

#[derive(Default)]
struct Builder {
    documents: usize,
    copied_nodes: usize,
    /// The open lists and mappings, outermost first.
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Size)>,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, mark: Mark, message: String) {
        self.error.get_or_insert(SyntaxError { mark, message });
    }

    /// Counts `nodes` more copied nodes; false (and an error at `mark`) past the limit.
    fn copy(&mut self, nodes: usize, mark: Mark, what: &str) -> bool {
        self.copied_nodes = self.copied_nodes.saturating_add(nodes);
        if self.copied_nodes > MAX_COPIED_NODES {
            self.fail(mark, format!("{what} more than {MAX_COPIED_NODES} nodes"));
            return false;
        }
        true
    }

    fn open(&mut self, kind: NodeKind, mark: Mark, anchor: usize) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(mark, too_deep());
            return;
        }
        self.stack.push(Frame {
            node: Node { kind, mark },
            anchor,
            key: None,
            merged: Vec::new(),
            children: Size::default(),
        });
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let mut node = frame.node;
        if let NodeKind::Map(entries) = &mut node.kind {
            for (k, v) in frame.merged {
                if !entries.iter().any(|(ek, _)| ek.as_text() == k.as_text()) {
                    entries.push((k, v));
                }
            }
        }
        let size = Size {
            nodes: frame.children.nodes.saturating_add(1),
            depth: frame.children.depth + 1,
        };
        self.push_value(node, frame.anchor, size);
    }

    fn push_value(&mut self, node: Node, anchor: usize, size: Size) {
        if anchor > 0 {
            if !self.copy(size.nodes, node.mark, "anchored values hold") {
                return;
            }
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        parent.children.nodes = parent.children.nodes.saturating_add(size.nodes);
        parent.children.depth = parent.children.depth.max(size.depth);
        match &mut parent.node.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match parent.key.take() {
                None => parent.key = Some(node),
                Some(key)
                    if key.as_text() == Some("<<")
                        && matches!(&key.kind, NodeKind::Scalar { plain: true, .. }) =>
                {
                    if let Err(message) = collect_merge(&mut parent.merged, node) {
                        self.fail(key.mark, message);
                    }
                }
                Some(key) => entries.push((key, node)),
            },
            NodeKind::Scalar { .. } => {}
        }
    }
}

/// YAML merge keys (`<<: *defaults`): collects the merged entries; they are added when the
/// mapping ends, only for keys the mapping does not set itself.
fn collect_merge(merged: &mut Vec<(Node, Node)>, source: Node) -> Result<(), String> {
    let sources = match source.kind {
        NodeKind::Seq(items) => items,
        _ => vec![source],
    };
    for src in sources {
        match src.kind {
            NodeKind::Map(src_entries) => merged.extend(src_entries),
            _ => return Err(format!("`<<` merges mappings, found {}", src.describe())),
        }
    }
    Ok(())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = Mark::from(marker);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                let node = Node {
                    kind: NodeKind::Scalar { text, plain },
                    mark,
                };
                self.push_value(node, anchor, Size { nodes: 1, depth: 0 });
            }
            Event::SequenceStart(anchor, _) => self.open(NodeKind::Seq(Vec::new()), mark, anchor),
            Event::MappingStart(anchor, _) => self.open(NodeKind::Map(Vec::new()), mark, anchor),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => {
                let Some(size) = self.anchors.get(&id).map(|(_, size)| *size) else {
                    self.fail(mark, "alias refers to an unknown anchor".into());
                    return;
                };
                // Checked before the copy is made: the limits bound the memory too.
                if self.stack.len() + size.depth > MAX_DEPTH {
                    self.fail(mark, too_deep());
                    return;
                }
                if !self.copy(size.nodes, mark, "aliases expand to") {
                    return;
                }
                let Some(mut node) = self.anchors.get(&id).map(|(node, _)| node.clone()) else {
                    return;
                };
                node.mark = mark;
                self.push_value(node, 0, size);
            }
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.fail(mark, "a pipeline file holds one YAML document; remove the `---` that starts a second one".into());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based() {
        let node = parse("a: 1\nbb:\n  - x\n").expect("valid yaml");
        let entries = node.as_map().expect("map");
        assert_eq!(entries[0].0.mark, Mark { line: 1, col: 1 });
        assert_eq!(entries[1].0.mark, Mark { line: 2, col: 1 });
        let seq = entries[1].1.as_seq().expect("seq");
        assert_eq!(seq[0].mark, Mark { line: 3, col: 5 });
    }

    #[test]
    fn scalars_resolve_with_core_schema() {
        let node = parse("a: 1\nb: '1'\nc: true\nd: 1.5\ne: ~\nf: 1h\n").expect("valid yaml");
        let v: Vec<_> = node
            .as_map()
            .expect("map")
            .iter()
            .map(|(_, v)| v.scalar())
            .collect();
        assert_eq!(
            v,
            vec![
                Some(Scalar::Int(1)),
                Some(Scalar::Str("1")),
                Some(Scalar::Bool(true)),
                Some(Scalar::Float(1.5)),
                Some(Scalar::Null),
                Some(Scalar::Str("1h")),
            ]
        );
    }

    #[test]
    fn merge_keys_and_aliases() {
        let node = parse("base: &b {retries: 2, timeout: 1m}\nt:\n  <<: *b\n  retries: 5\n")
            .expect("valid");
        let t = &node.as_map().expect("map")[1].1;
        let json = t.to_json();
        assert_eq!(json, serde_json::json!({"retries": 5, "timeout": "1m"}));
    }

    #[test]
    fn rejects_second_documents_bad_merges_and_alias_bombs() {
        let e = parse("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert_eq!(e.mark.line, 2);
        assert!(
            e.message
                .starts_with("a pipeline file holds one YAML document"),
            "{e:?}"
        );
        let e = parse("x: &s 5\ny:\n  <<: *s\n").expect_err("scalar merge");
        assert_eq!(
            (e.mark.line, e.message.as_str()),
            (3, "`<<` merges mappings, found an integer")
        );
        let q = parse("y:\n  '<<': 1\n").expect("a quoted << is a plain key");
        assert_eq!(q.to_json(), serde_json::json!({"y": {"<<": 1}}));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, next) in ["a", "b", "c", "d", "e", "f"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g"])
        {
            bomb.push_str(&format!("{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse(&bomb).expect_err("bomb");
        assert!(
            e.message.starts_with("aliases expand to more than"),
            "{e:?}"
        );
    }

    /// The message and position of a document that is too deep.
    fn too_deep_at(source: &str) -> (usize, usize, String) {
        let e = parse(source).expect_err("too deep");
        (e.mark.line, e.mark.col, e.message)
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let message = format!(
            "lists and mappings nested deeper than {MAX_DEPTH} levels; a pipeline file needs far fewer"
        );
        // 100,000 levels of block lists: yaml-rust2's `Parser::load` overflowed the stack.
        assert_eq!(
            too_deep_at(&"- ".repeat(100_000)),
            (1, 2 * MAX_DEPTH + 1, message.clone())
        );
        // Flow lists and mappings, closed or not. yaml-rust2's scanner looks ahead for a
        // possible key and stops first, at its own limit of 255 levels: the same message, at
        // the 256th bracket.
        assert_eq!(too_deep_at(&"[".repeat(100_000)), (1, 256, message.clone()));
        let closed = format!("{}x{}", "{a: ".repeat(1000), "}".repeat(1000));
        assert_eq!(too_deep_at(&closed), (1, 4 * 255 + 1, message.clone()));
        // Between the two limits, ours speaks.
        assert_eq!(
            too_deep_at(&"[".repeat(200)),
            (1, MAX_DEPTH + 1, message.clone())
        );
        // Block mappings by indentation: the 129th `a:` is on line 129 (yaml-rust2 marks a
        // block mapping one column into its first key).
        let mut indented = String::new();
        for level in 0..3000 {
            indented.push_str(&" ".repeat(level));
            indented.push_str("a:\n");
        }
        assert_eq!(
            too_deep_at(&indented),
            (MAX_DEPTH + 1, MAX_DEPTH + 2, message.clone())
        );
        // At the limit it parses.
        let ok = format!("{}x{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        // Aliases cannot add up past the limit: each alias below sits 100 levels deep and
        // holds a value 99 levels deep.
        let hundred = |inner: &str| format!("{}{inner}{}", "[".repeat(99), "]".repeat(99));
        let source = format!("a: &a {}\nb: {}\n", hundred("x"), hundred("*a"));
        assert_eq!(too_deep_at(&source), (2, 103, message));
    }

    #[test]
    fn anchors_copy_a_bounded_number_of_nodes() {
        // Each of 120 nested anchors would keep a copy of a 10,000-item list: 1.2 million
        // nodes from a 30 kB file.
        let items = vec!["x"; 10_000].join(", ");
        let source = format!(
            "a: {}[{items}]{}\n",
            (0..120).map(|i| format!("&a{i} [")).collect::<String>(),
            "]".repeat(120)
        );
        let e = parse(&source).expect_err("too many copies");
        assert_eq!(
            e.message,
            format!("anchored values hold more than {MAX_COPIED_NODES} nodes")
        );
        assert_eq!(e.mark.line, 1);
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("invalid");
        assert!(err.mark.line >= 1, "{err:?}");
    }
}
