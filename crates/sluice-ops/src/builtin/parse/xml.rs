//! A small element tree over quick-xml, for documents that are read whole (a sheet, an
//! article: kilobytes each). Names keep their prefix (`dc:title`); text keeps its spaces;
//! entity and character references are resolved. Elements nest at most [`MAX_DEPTH`] deep,
//! and a tree is dropped without recursion, so a hostile document cannot overflow the stack.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// How deep elements may nest: real documents nest a few dozen levels; deeper is refused.
pub const MAX_DEPTH: usize = 512;

/// An element.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Its name, with its prefix.
    pub name: String,
    /// Its attributes, in order.
    pub attrs: Vec<(String, String)>,
    /// Its children, elements and text.
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Text.
    Text(String),
}

impl Drop for Element {
    /// Frees the tree with a heap stack of children, not one call per level.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.children);
        while let Some(node) = stack.pop() {
            if let Node::Element(mut e) = node {
                stack.append(&mut e.children);
            }
        }
    }
}

impl Element {
    /// An element without attributes or children.
    pub fn named(name: &str) -> Element {
        Element {
            name: name.to_string(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Child elements named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.elements().filter(move |e| e.name == name)
    }

    /// Every element named `name` below this one, in document order.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for e in self.elements() {
            if e.name == name {
                out.push(e);
            }
            e.descendants(name, out);
        }
    }

    /// The first element named `name` below this one, in document order.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for e in self.elements() {
            if e.name == name {
                return Some(e);
            }
            if let Some(found) = e.find(name) {
                return Some(found);
            }
        }
        None
    }

    /// Follows a path of child names (`META/META_COMMUN/ID`).
    pub fn path(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |e, name| e.child(name))
    }

    /// All the text below this element, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.push_text(&mut out);
        out
    }

    fn push_text(&self, out: &mut String) {
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.push_text(out),
            }
        }
    }
}

/// Spaces and line breaks collapsed to single spaces, trimmed.
pub fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// 1-based line and column of byte `pos` in `bytes`.
fn line_col(bytes: &[u8], pos: usize) -> (usize, usize) {
    let upto = &bytes[..pos.min(bytes.len())];
    let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = upto.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        _ => return None,
    })
}

/// Parses a whole document into its root element. Errors give the line and column; elements
/// nested more than [`MAX_DEPTH`] deep are an error.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = vec![Element::default()];
    let at = |reader: &Reader<&[u8]>| {
        let (l, c) = line_col(bytes, reader.buffer_position() as usize);
        format!("line {l}, column {c}")
    };
    let err = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
        format!("malformed XML at {}: {e}", at(reader))
    };
    loop {
        let event = reader.read_event().map_err(|e| err(&reader, &e))?;
        match event {
            Event::Start(s) => {
                // `stack` holds the document node, then the open elements.
                if stack.len() > MAX_DEPTH {
                    return Err(format!(
                        "XML nested too deep at {}: more than {MAX_DEPTH} elements open at once; the document is refused (real documents nest a few dozen levels: check that this file is the one expected)",
                        at(&reader)
                    ));
                }
                let e = element_of(&s).map_err(|e| err(&reader, &e))?;
                stack.push(e);
            }
            Event::Empty(s) => {
                let e = element_of(&s).map_err(|e| err(&reader, &e))?;
                attach(&mut stack, e);
            }
            Event::End(_) => {
                if stack.len() > 1
                    && let Some(e) = stack.pop()
                {
                    attach(&mut stack, e);
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| err(&reader, &e))?;
                push_text(&mut stack, &text);
            }
            Event::CData(c) => {
                let text = c.decode().map_err(|e| err(&reader, &e))?;
                push_text(&mut stack, &text);
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().map_err(|e| err(&reader, &e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| err(&reader, &e))?;
                        match predefined(&name) {
                            Some(s) => s.to_string(),
                            None => format!("&{name};"),
                        }
                    }
                };
                push_text(&mut stack, &text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() > 1 {
        return Err(format!(
            "malformed XML: the file ends inside element `{}`",
            stack.last().map_or("", |e| e.name.as_str())
        ));
    }
    let mut document = stack.pop().unwrap_or_default();
    std::mem::take(&mut document.children)
        .into_iter()
        .find_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
        .ok_or_else(|| "no root element: the file is empty or not XML".to_string())
}

fn element_of(s: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

fn attach(stack: &mut [Element], e: Element) {
    if let Some(top) = stack.last_mut() {
        top.children.push(Node::Element(e));
    }
}

fn push_text(stack: &mut [Element], text: &str) {
    if let Some(top) = stack.last_mut() {
        if let Some(Node::Text(prev)) = top.children.last_mut() {
            prev.push_str(text);
        } else {
            top.children.push(Node::Text(text.to_string()));
        }
    }
}

/// Well-formed documents of given element and attribute names, for the parsers' fuzz tests.
#[cfg(test)]
pub(crate) mod generate {
    use proptest::prelude::*;

    /// Text, escaped, with references and words the parsers look for.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 éÀ|:.-]{0,12}",
            prop::sample::select(vec![
                "&amp;",
                "&lt;",
                "&#233;",
                "&nbsp;",
                "Article 3",
                "Article 1er",
                "TITRE I",
                "numero",
                "header",
                "\n",
            ])
            .prop_map(str::to_string),
        ]
    }

    /// Pieces of XML put together at random: mostly malformed documents, some well formed.
    pub fn xml_soup() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop::sample::select(vec![
            "<a>",
            "</a>",
            "<b x=\"1 &amp; 2\">",
            "</b>",
            "<c/>",
            "<d:e y='&lt;'>",
            "</d:e>",
            "texte",
            " ",
            "\n",
            "&amp;",
            "&#233;",
            "&#x1F600;",
            "&#0;",
            "&#xD800;",
            "&#99999999999;",
            "&nope;",
            "&",
            "<![CDATA[x<y]]>",
            "<!-- c -->",
            "<?pi x?>",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE a [<!ENTITY e \"x\">]>",
            "<",
            ">",
            "\"",
            "'",
            "]]>",
            "é",
            "<a b>",
            "<a b=>",
            "<a b=\"1\" b=\"2\">",
            "</>",
            "\u{0}",
        ]);
        prop::collection::vec(piece, 0..64).prop_map(|p| p.concat().into_bytes())
    }

    /// `open`, then elements named from `names` (attributes from `attrs`, text between)
    /// nested at most 8 deep, then `close`.
    pub fn document(
        open: &'static str,
        close: &'static str,
        names: &'static [&'static str],
        attrs: &'static [&'static str],
    ) -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            text(),
            prop::sample::select(names).prop_map(|n| format!("<{n}/>")),
        ];
        let node = leaf.prop_recursive(8, 96, 6, move |inner| {
            (
                prop::sample::select(names),
                prop::collection::vec((prop::sample::select(attrs), text()), 0..3),
                prop::collection::vec(inner, 0..6),
            )
                .prop_map(|(name, attrs, children)| {
                    let attrs: String =
                        attrs.iter().map(|(k, v)| format!(" {k}=\"{v}\"")).collect();
                    format!("<{name}{attrs}>{}</{name}>", children.concat())
                })
        });
        prop::collection::vec(node, 0..8)
            .prop_map(move |children| format!("{open}{}{close}", children.concat()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn builds_the_tree_with_references_resolved() {
        let root = parse(
            br#"<?xml version="1.0"?><a x="1 &amp; 2"><b>caf&#233; &lt;ok&gt;</b><c/>tail</a>"#,
        )
        .expect("parse");
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("x"), Some("1 & 2"));
        assert_eq!(
            root.child("b").map(Element::text).as_deref(),
            Some("café <ok>")
        );
        assert!(root.child("c").is_some());
        assert_eq!(root.text(), "café <ok>tail");
    }

    #[test]
    fn malformed_documents_give_a_position() {
        let err = parse(b"<a>\n<b></c></a>").expect_err("mismatch");
        assert!(err.starts_with("malformed XML at line 2"), "{err}");
        let err = parse(b"<a><b>").expect_err("truncated");
        assert_eq!(err, "malformed XML: the file ends inside element `b`");
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut doc = b"<?xml version=\"1.0\"?>\n".to_vec();
        for _ in 0..depth {
            doc.extend_from_slice(b"<a>");
        }
        doc.extend_from_slice(b"x");
        for _ in 0..depth {
            doc.extend_from_slice(b"</a>");
        }
        doc
    }

    #[test]
    fn a_document_nested_deeper_than_the_limit_is_refused_with_its_position() {
        // 200,000 levels: an error, not a stack overflow (building, cloning or dropping).
        let err = parse(&nested(200_000)).expect_err("too deep");
        assert_eq!(
            err,
            "XML nested too deep at line 2, column 1540: more than 512 elements open at once; the document is refused (real documents nest a few dozen levels: check that this file is the one expected)"
        );
        // The limit itself is allowed.
        let root = parse(&nested(MAX_DEPTH)).expect("512 levels");
        assert_eq!(root.text(), "x");
        assert!(parse(&nested(MAX_DEPTH + 1)).is_err());
    }

    /// How deep a tree is, counted without recursion.
    fn depth(root: &Element) -> usize {
        let (mut deepest, mut stack) = (0, vec![(root, 1)]);
        while let Some((e, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(e.elements().map(|c| (c, d + 1)));
        }
        deepest
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any bytes: an error or a tree, never a panic; the tree within the depth limit and
        /// its text no longer than the document (references only shrink).
        #[test]
        fn fuzz_xml(
            doc in prop_oneof![generate::xml_soup(), prop::collection::vec(any::<u8>(), 0..512)]
        ) {
            if let Ok(root) = parse(&doc) {
                prop_assert!(depth(&root) <= MAX_DEPTH);
                prop_assert!(root.text().len() <= doc.len());
            }
        }

        /// The depth limit, exactly.
        #[test]
        fn fuzz_xml_depth(levels in 0usize..2_000) {
            prop_assert_eq!(parse(&nested(levels)).is_ok(), (1..=MAX_DEPTH).contains(&levels));
        }
    }

    #[test]
    fn a_deep_tree_is_dropped_without_recursion() {
        let mut root = Element::named("a");
        for _ in 0..1_000_000 {
            let mut parent = Element::named("a");
            parent.children.push(Node::Element(root));
            root = parent;
        }
        drop(root);
    }
}
