//! `parse.travail_emploi`: the labour ministry's sheets (SocialGouv `fiches-travail.json`, one
//! JSON array of sheets) into one row per section.
//!
//! A sheet's rows are contiguous: first its introduction (`intro`, when there is one, with an
//! empty `context`), then one row per section, whose `context` is the section's title. Texts
//! come from the sections' HTML, rendered by [`html_to_text`] (paragraphs, `- ` bullets,
//! `1. ` numbers, Markdown tables); a section without HTML falls back on its plain `text`.
//! Sections left without any text are dropped. Sheets without a `pubId` are skipped and
//! counted; a `pubId` seen twice is kept once, the first time.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::Value as Json;
use sluice_data::rows::{ColumnType, RowWriter, Value};
use unicode_normalization::UnicodeNormalization;

use super::Sourced as _;
use super::xml::squash;
use super::{base_name, for_each_input, read_all};
use crate::support::dates::french_date;
use crate::support::markdown;
use crate::{Op, OpError, OpOutput, TaskContext, blocking};

super::file_parser!(
    /// `op: parse.travail_emploi`.
    ParseTravailEmploi,
    "parse.travail_emploi",
    "The `fetch` task whose files to read (`fiches-travail.json`, or archives holding it)."
);

/// The columns written.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    ("doc_id", ColumnType::Text),
    ("url", ColumnType::Text),
    ("title", ColumnType::Text),
    ("surtitle", ColumnType::Text),
    ("source", ColumnType::Text),
    ("date", ColumnType::Text),
    ("description", ColumnType::Text),
    ("introduction", ColumnType::Text),
    ("section", ColumnType::Int),
    ("context", ColumnType::Texts),
    ("text", ColumnType::Text),
    ("references", ColumnType::Text),
];

/// The `surtitle` of every row.
pub const SURTITLE: &str = "Travail-Emploi";

/// The `source` of every row.
pub const SOURCE: &str = "travail-emploi";

/// One row of a sheet: its introduction or one of its sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The section's title (empty for the introduction).
    pub context: Vec<String>,
    /// Its text.
    pub text: String,
    /// The section's legal references, JSON (`None` when it has none).
    pub references: Option<String>,
}

/// A parsed sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// `pubId` (`article376095`).
    pub id: String,
    /// Its public URL.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its date as `YYYY-MM-DD` (`None` when missing or not `DD/MM/YYYY`).
    pub date: Option<String>,
    /// Its description.
    pub description: String,
    /// The introduction, as text.
    pub introduction: String,
    /// Its rows, in order: the introduction (if any), then the sections.
    pub sections: Vec<Section>,
}

impl Sheet {
    /// The dataset rows of the sheet, in [`COLUMNS`] order; `section` counts from 1.
    pub fn rows(&self) -> Vec<Vec<Value>> {
        self.sections
            .iter()
            .enumerate()
            .map(|(i, s)| {
                vec![
                    self.id.clone().into(),
                    non_empty(&self.url),
                    non_empty(&self.title),
                    SURTITLE.into(),
                    SOURCE.into(),
                    self.date.clone().into(),
                    non_empty(&self.description),
                    non_empty(&self.introduction),
                    Value::Int(i as i64 + 1),
                    Value::Texts(s.context.clone()),
                    s.text.clone().into(),
                    s.references.clone().into(),
                ]
            })
            .collect()
    }
}

fn non_empty(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { s.into() }
}

/// NFKC, spaces collapsed, trimmed.
fn clean(s: &str) -> String {
    squash(&s.nfkc().collect::<String>())
}

/// A string (or number) field as one clean line; empty when missing.
fn field(record: &Json, key: &str) -> String {
    match record.get(key) {
        Some(Json::String(s)) => clean(s),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A section's `references` as JSON text; `None` when missing, null or empty. A string
/// holding JSON is decoded first.
fn references(v: Option<&Json>) -> Option<String> {
    let decoded;
    let v = match v? {
        Json::String(s) => {
            decoded = serde_json::from_str::<Json>(s).unwrap_or_else(|_| Json::String(s.clone()));
            &decoded
        }
        other => other,
    };
    let empty = match v {
        Json::Null => true,
        Json::Object(m) => m.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::String(s) => s.trim().is_empty(),
        _ => false,
    };
    (!empty).then(|| v.to_string())
}

/// Parses one record of the array. `Ok(None)`: it has no `pubId` (skipped).
pub fn parse_record(record: &Json) -> Result<Option<Sheet>, String> {
    if !record.is_object() {
        return Err("not an object (a sheet is a JSON object)".into());
    }
    let id = field(record, "pubId");
    if id.is_empty() {
        return Ok(None);
    }
    let listed: &[Json] = match record.get("sections") {
        None | Some(Json::Null) => &[],
        Some(Json::Array(items)) => items,
        Some(_) => return Err(format!("sheet {id}: `sections` is not a list")),
    };
    let introduction = match record.get("intro") {
        Some(Json::String(html)) => html_to_text(html),
        _ => String::new(),
    };
    let mut sections = Vec::with_capacity(listed.len() + 1);
    if !introduction.is_empty() {
        sections.push(Section {
            context: Vec::new(),
            text: introduction.clone(),
            references: None,
        });
    }
    for (k, s) in listed.iter().enumerate() {
        if !s.is_object() {
            return Err(format!("sheet {id}: section {} is not an object", k + 1));
        }
        let mut text = match s.get("html") {
            Some(Json::String(html)) => html_to_text(html),
            _ => String::new(),
        };
        if text.is_empty() {
            text = field(s, "text");
        }
        if text.is_empty() {
            continue;
        }
        let title = field(s, "title");
        sections.push(Section {
            context: if title.is_empty() {
                Vec::new()
            } else {
                vec![title]
            },
            text,
            references: references(s.get("references")),
        });
    }
    Ok(Some(Sheet {
        url: field(record, "url"),
        title: field(record, "title"),
        date: french_date(&field(record, "date")),
        description: field(record, "description"),
        introduction,
        sections,
        id,
    }))
}

/// Parses a whole file: a JSON array of sheets (a UTF-8 byte order mark is allowed).
pub fn parse_file(bytes: &[u8]) -> Result<Vec<Json>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| format!("not a JSON array of sheets: {e}"))
}

fn is_json(name: &str) -> bool {
    base_name(name).to_ascii_lowercase().ends_with(".json")
}

// ---------------------------------------------------------------------------------------
// HTML to text.

/// Elements that end a line (inside a list item) or a paragraph (elsewhere).
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "nav",
    "main",
    "figure",
    "figcaption",
    "address",
    "pre",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "center",
    "form",
    "fieldset",
    "details",
    "summary",
    "body",
    "html",
    "tr",
];

/// Renders simple HTML (the sheets' `p`, `br`, lists, tables, headings, inline `strong`,
/// `em`, `a`, `span`…) as text: paragraphs and headings separated by a blank line, `<br>` as
/// a line break, list items as `- item` lines (`1. item` in ordered lists, nested lists
/// indented, at most [`MAX_LIST_INDENT`] levels deep), tables as Markdown tables whose first
/// row is the header. Entities are decoded, spaces collapsed, the text NFKC-normalised;
/// `script`, `style` and comments are dropped, other tags keep only their text. Never fails:
/// what is not a tag is text.
///
/// One pass, linear in the input whatever it holds: a `<` that opens no tag costs one step,
/// a tag is scanned once and consumed. A tag the input ends inside has no `>` after it, so
/// the rest is text; if quotes hid a `>`, quotes stop counting from there on (each later tag
/// ends at its first `>`), so no stretch is scanned more than twice.
pub fn html_to_text(html: &str) -> String {
    let mut r = Renderer::default();
    let bytes = html.as_bytes();
    let (mut i, mut text_start) = (0, 0);
    let mut quotes = true;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &html[i..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            r.text(&html[text_start..i]);
            i = comment.find("-->").map_or(html.len(), |p| i + 4 + p + 3);
            text_start = i;
            continue;
        }
        let tag = match parse_tag(rest, quotes) {
            Scan::Tag(tag) => tag,
            // A `<` that opens no tag is text.
            Scan::NotATag => {
                i += 1;
                continue;
            }
            // No `>` from here to the end: nothing after is a tag.
            Scan::Unclosed { quoted: false } => break,
            // A quote hid the `>`s: this `<` again, quotes ignored.
            Scan::Unclosed { quoted: true } => {
                quotes = false;
                continue;
            }
        };
        r.text(&html[text_start..i]);
        i += tag.len;
        if !tag.closing && !tag.self_closing && matches!(tag.name.as_str(), "script" | "style") {
            // Raw text up to the closing tag, dropped.
            i = raw_text_end(html, i, &tag.name);
        } else {
            r.tag(&tag);
        }
        text_start = i;
    }
    r.text(&html[text_start..]);
    r.finish()
}

/// Where the raw text of a `script` or `style` element that starts at `from` ends: after
/// its closing tag (`</name`, any case, up to `>`), or at the end of the input.
fn raw_text_end(html: &str, from: usize, name: &str) -> usize {
    let b = html.as_bytes();
    let mut at = from;
    while let Some(p) = html[at..].find("</") {
        let after = at + p + 2;
        let end = after + name.len();
        if b.len() >= end && b[after..end].eq_ignore_ascii_case(name.as_bytes()) {
            return html[end..].find('>').map_or(html.len(), |q| end + q + 1);
        }
        at = after;
    }
    html.len()
}

/// A start or end tag.
struct Tag {
    /// Lowercase; empty for `<!DOCTYPE …>` and `<?…?>`.
    name: String,
    closing: bool,
    self_closing: bool,
    /// Bytes from `<` to `>` included.
    len: usize,
}

/// What a `<` starts.
enum Scan {
    /// A tag.
    Tag(Tag),
    /// Nothing: the `<` is text.
    NotATag,
    /// A tag the input ends inside. `quoted`: a quoted value was met (it may hide a `>`);
    /// otherwise there is no `>` from the `<` to the end.
    Unclosed { quoted: bool },
}

/// What the `<` at the start of `s` opens. With `quotes`, a `>` inside a quoted attribute
/// value does not end the tag.
fn parse_tag(s: &str, quotes: bool) -> Scan {
    let b = s.as_bytes();
    if matches!(b.get(1), Some(b'!' | b'?')) {
        return match s.find('>') {
            Some(end) => Scan::Tag(Tag {
                name: String::new(),
                closing: false,
                self_closing: true,
                len: end + 1,
            }),
            None => Scan::Unclosed { quoted: false },
        };
    }
    let closing = b.get(1) == Some(&b'/');
    let start = if closing { 2 } else { 1 };
    if !b.get(start).is_some_and(u8::is_ascii_alphabetic) {
        return Scan::NotATag;
    }
    let mut i = start;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
        i += 1;
    }
    let name = s[start..i].to_ascii_lowercase();
    // Attributes up to `>`; a quote opens a value only right after `=`.
    let (mut quote, mut after_eq, mut quoted) = (None, false, false);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'>' => break,
            None if quotes && (c == b'"' || c == b'\'') && after_eq => {
                quote = Some(c);
                quoted = true;
            }
            None => {}
        }
        if !c.is_ascii_whitespace() {
            after_eq = quote.is_none() && c == b'=';
        }
        i += 1;
    }
    if i >= b.len() {
        return Scan::Unclosed { quoted };
    }
    Scan::Tag(Tag {
        self_closing: i > 0 && b[i - 1] == b'/',
        name,
        closing,
        len: i + 1,
    })
}

/// Decodes character references (`&amp;`, `&#39;`, `&#x2019;`, `&eacute;`…) into `out`;
/// unknown ones are kept as written.
fn decode_entities(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        // A name is at most 32 bytes: the `;` is looked for that far only.
        let name = after
            .bytes()
            .take(33)
            .position(|b| b == b';')
            .filter(|&e| {
                (1..=32).contains(&e)
                    && after[..e]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'#')
            })
            .map(|e| &after[..e]);
        match name {
            Some(name) if push_entity(name, out) => rest = &after[name.len() + 1..],
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Pushes the character(s) of entity `name` (without `&` and `;`); false when unknown.
/// Accented letters are pushed decomposed (`e` + U+0301): NFKC composes them later.
fn push_entity(name: &str, out: &mut String) -> bool {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        };
        return match code.and_then(char::from_u32).filter(|&c| c != '\0') {
            Some(c) => {
                out.push(c);
                true
            }
            None => false,
        };
    }
    let upper = name.starts_with(|c: char| c.is_ascii_uppercase());
    let simple = match name.to_ascii_lowercase().as_str() {
        "nbsp" => "\u{a0}",
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "laquo" => "«",
        "raquo" => "»",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "hellip" => "…",
        "ndash" => "–",
        "mdash" => "—",
        "bull" => "•",
        "middot" => "·",
        "euro" => "€",
        "cent" => "¢",
        "pound" => "£",
        "deg" => "°",
        "sect" => "§",
        "para" => "¶",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "times" => "×",
        "divide" => "÷",
        "plusmn" => "±",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "sup2" => "²",
        "sup3" => "³",
        "ordm" => "º",
        "ordf" => "ª",
        "iexcl" => "¡",
        "iquest" => "¿",
        "ensp" | "emsp" | "thinsp" => " ",
        "shy" | "zwnj" | "zwj" => "",
        "aelig" if upper => "Æ",
        "aelig" => "æ",
        "oelig" if upper => "Œ",
        "oelig" => "œ",
        "oslash" if upper => "Ø",
        "oslash" => "ø",
        "szlig" => "ß",
        _ => {
            let mut chars = name.chars();
            let Some(letter) = chars.next().filter(char::is_ascii_alphabetic) else {
                return false;
            };
            let mark = match chars.as_str() {
                "acute" => '\u{301}',
                "grave" => '\u{300}',
                "circ" => '\u{302}',
                "uml" => '\u{308}',
                "tilde" => '\u{303}',
                "cedil" => '\u{327}',
                "ring" => '\u{30a}',
                _ => return false,
            };
            out.push(letter);
            out.push(mark);
            return true;
        }
    };
    out.push_str(simple);
    true
}

/// List levels indented deeper than the one before; deeper lists keep this indentation.
pub const MAX_LIST_INDENT: usize = 16;

#[derive(Default)]
struct List {
    ordered: bool,
    /// Items seen so far.
    items: u64,
    /// The indentation of the current item's continuation lines.
    indent: String,
}

#[derive(Default)]
struct Table {
    caption: String,
    in_caption: bool,
    rows: Vec<Vec<String>>,
    row: Option<Vec<String>>,
    cell: Option<String>,
    /// Tables open inside a cell: their cells are flattened into it.
    nested: usize,
}

impl Table {
    /// Separates words inside the current cell (or caption).
    fn space(&mut self) {
        if self.in_caption {
            self.caption.push(' ');
        } else if let Some(c) = &mut self.cell {
            c.push(' ');
        }
    }

    fn end_cell(&mut self) {
        if let Some(c) = self.cell.take() {
            self.row
                .get_or_insert_with(Vec::new)
                .push(markdown::cell(&clean(&c)));
        }
    }

    fn end_row(&mut self) {
        self.end_cell();
        if let Some(r) = self.row.take()
            && !r.is_empty()
        {
            self.rows.push(r);
        }
    }

    /// The caption, then a Markdown table whose first row is the header.
    fn render(mut self) -> Option<String> {
        self.end_row();
        let caption = clean(&self.caption);
        let mut lines = Vec::new();
        if !caption.is_empty() {
            lines.push(caption);
        }
        lines.extend(markdown::table_lines(&self.rows, 1));
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

#[derive(Default)]
struct Renderer {
    /// Finished paragraphs, lists and tables.
    blocks: Vec<String>,
    /// Finished lines of the current block.
    lines: Vec<String>,
    /// Text of the current line(s); `\n` marks a `<br>`.
    inline: String,
    lists: Vec<List>,
    /// The marker (`- `, `2. `, indented) of the item whose first line is pending.
    marker: Option<String>,
    table: Option<Table>,
}

impl Renderer {
    fn text(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        let mut decoded = String::with_capacity(raw.len());
        decode_entities(raw, &mut decoded);
        // Line breaks of the source are spaces; only `<br>` breaks a line.
        let decoded = decoded.replace(['\n', '\r'], " ");
        let sink = match &mut self.table {
            Some(t) if t.in_caption => Some(&mut t.caption),
            Some(t) => t.cell.as_mut(),
            None => Some(&mut self.inline),
        };
        if let Some(sink) = sink {
            sink.push_str(&decoded);
        }
    }

    /// Ends the current line(s): the first takes the pending item marker, the next ones
    /// the item's indentation.
    fn end_line(&mut self) {
        let inline = std::mem::take(&mut self.inline);
        for part in inline.split('\n') {
            let line = clean(part);
            if line.is_empty() {
                continue;
            }
            let prefix = match self.marker.take() {
                Some(m) => m,
                None => self
                    .lists
                    .last()
                    .map(|l| l.indent.clone())
                    .unwrap_or_default(),
            };
            self.lines.push(format!("{prefix}{line}"));
        }
    }

    fn end_block(&mut self) {
        self.end_line();
        if !self.lines.is_empty() {
            self.blocks.push(self.lines.join("\n"));
            self.lines.clear();
        }
    }

    /// A block element: a new line inside a list, a new paragraph elsewhere.
    fn block_break(&mut self) {
        if self.lists.is_empty() {
            self.end_block();
        } else {
            self.end_line();
        }
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        if name.is_empty() {
            return;
        }
        let open = !tag.closing;
        if self.table.is_some() {
            self.table_tag(name, open, tag.self_closing);
            return;
        }
        if tag.self_closing {
            match name {
                "br" => self.inline.push('\n'),
                _ if BLOCKS.contains(&name) => self.block_break(),
                _ => {}
            }
            return;
        }
        match name {
            "br" => self.inline.push('\n'),
            "ul" | "ol" if open => {
                self.block_break();
                self.lists.push(List {
                    ordered: name == "ol",
                    ..List::default()
                });
            }
            "ul" | "ol" => {
                self.end_line();
                self.marker = None;
                if self.lists.pop().is_some() && self.lists.is_empty() {
                    self.end_block();
                }
            }
            "li" if open => {
                self.end_line();
                let depth = self.lists.len();
                // Lists deeper than `MAX_LIST_INDENT` are indented as that level: the
                // indentation of every line stays bounded.
                let pad = match depth.min(MAX_LIST_INDENT) {
                    0 | 1 => String::new(),
                    d => self.lists[d - 2].indent.clone(),
                };
                let marker = match self.lists.last_mut() {
                    Some(l) => {
                        l.items += 1;
                        let m = if l.ordered {
                            format!("{pad}{}. ", l.items)
                        } else {
                            format!("{pad}- ")
                        };
                        l.indent = " ".repeat(m.len());
                        m
                    }
                    // An item outside any list.
                    None => "- ".to_string(),
                };
                self.marker = Some(marker);
            }
            "li" => {
                self.end_line();
                self.marker = None;
            }
            "table" if open => {
                self.end_block();
                self.marker = None;
                self.table = Some(Table::default());
            }
            "td" | "th" | "caption" => self.inline.push(' '),
            _ if BLOCKS.contains(&name) => self.block_break(),
            // Inline elements (strong, em, a, span…) and unknown ones: their text only.
            _ => {}
        }
    }

    /// A tag inside a table.
    fn table_tag(&mut self, name: &str, open: bool, self_closing: bool) {
        if name == "table"
            && !open
            && !self_closing
            && self.table.as_ref().is_some_and(|t| t.nested == 0)
        {
            if let Some(md) = self.table.take().and_then(Table::render) {
                self.blocks.push(md);
            }
            return;
        }
        let Some(t) = self.table.as_mut() else {
            return;
        };
        if self_closing {
            if name == "br" || BLOCKS.contains(&name) {
                t.space();
            }
            return;
        }
        match name {
            "table" if open => {
                t.nested += 1;
                t.space();
            }
            "table" => {
                t.nested = t.nested.saturating_sub(1);
                t.space();
            }
            "tr" | "td" | "th" if t.nested > 0 => t.space(),
            "tr" => {
                t.end_row();
                if open {
                    t.row = Some(Vec::new());
                }
            }
            "td" | "th" => {
                t.end_cell();
                if open {
                    t.cell = Some(String::new());
                }
            }
            "caption" => t.in_caption = open,
            "br" | "li" | "ul" | "ol" => t.space(),
            _ if BLOCKS.contains(&name) => t.space(),
            _ => {}
        }
    }

    fn finish(mut self) -> String {
        if let Some(md) = self.table.take().and_then(Table::render) {
            self.blocks.push(md);
        }
        self.end_block();
        self.blocks.join("\n\n")
    }
}

// ---------------------------------------------------------------------------------------
// The op.

#[async_trait]
impl Op for ParseTravailEmploi {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let files = self.inputs().resolve(ctx)?;
        let limits = self.archive_limits();
        let out = ctx.output()?.clone();
        let cancel = ctx.cancel.clone();
        let (info, counts) = blocking(move || {
            let mut w = RowWriter::new(&out, COLUMNS);
            let mut seen: HashSet<String> = HashSet::new();
            let (mut documents, mut sections, mut skipped, mut duplicates) =
                (0u64, 0u64, 0u64, 0u64);
            for_each_input(&files, &limits, |_, name, reader| {
                if cancel.is_cancelled() {
                    return Err("cancelled".into());
                }
                if !is_json(name) {
                    return Ok(());
                }
                let records = parse_file(&read_all(reader)?)?;
                for (index, record) in records.iter().enumerate() {
                    let sheet = match parse_record(record) {
                        Ok(Some(s)) => s,
                        Ok(None) => {
                            skipped += 1;
                            continue;
                        }
                        Err(e) => return Err(format!("record {index}: {e}")),
                    };
                    if !seen.insert(sheet.id.clone()) {
                        duplicates += 1;
                        continue;
                    }
                    documents += 1;
                    for row in sheet.rows() {
                        sections += 1;
                        w.push(row).map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            })?;
            let info = w.finish()?;
            Ok((info, [documents, sections, skipped, duplicates]))
        })
        .await?;
        let [documents, sections, skipped, duplicates] = counts;
        let _ = ctx.log.line(&format!(
            "{documents} sheets, {sections} rows (introductions and sections); {skipped} without pubId skipped, {duplicates} duplicate pubIds (the first is kept)"
        ));
        let metrics = crate::counters(&[
            ("documents", documents),
            ("sections", sections),
            ("skipped", skipped),
            ("duplicates", duplicates),
        ]);
        Ok(OpOutput {
            dataset: Some(info.into()),
            metrics,
            ..OpOutput::default()
        })
    }

    super::sourced_methods!();
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn paragraphs_are_separated_by_a_blank_line_and_br_breaks_a_line() {
        assert_eq!(
            html_to_text(
                "<p>Un <strong>deux</strong>.</p>\n<p>trois<br class=\"autobr\">quatre<br/>cinq</p>"
            ),
            "Un deux.\n\ntrois\nquatre\ncinq"
        );
        assert_eq!(
            html_to_text("texte   nu\n sur  deux lignes"),
            "texte nu sur deux lignes"
        );
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("<p> </p><p>&nbsp;</p>"), "");
    }

    #[test]
    fn lists_become_bullets_numbers_and_indented_sublists() {
        assert_eq!(
            html_to_text(
                "<p>Notamment&nbsp;:</p><ul class=\"spip\"><li> les conditions&nbsp;;</li><li> les plages.</li></ul><p>Fin</p>"
            ),
            "Notamment :\n\n- les conditions ;\n- les plages.\n\nFin"
        );
        assert_eq!(
            html_to_text(
                "<ol><li>un</li><li>deux<ul><li>a</li><li>b</li></ul></li><li>trois</li></ol>"
            ),
            "1. un\n2. deux\n   - a\n   - b\n3. trois"
        );
        assert_eq!(
            html_to_text("<ul><li>premier.<br>suite<p>autre paragraphe</p></li></ul>"),
            "- premier.\n  suite\n  autre paragraphe"
        );
    }

    #[test]
    fn tables_become_markdown_with_the_first_row_as_header() {
        let html = "<p>Congés&nbsp;:</p><table class=\"spip\"><caption>Barème</caption><thead><tr class=\"row_first\"><th id=\"id1\">Période</th><th>Congés <em>acquis</em></th></tr></thead>\
            <tbody><tr><td>1 mois</td><td>2,5 jours</td></tr><tr><td>12 mois</td><td>30 | jours</td></tr><tr><td>seul</td></tr></tbody></table><p>Après</p>";
        assert_eq!(
            html_to_text(html),
            "Congés :\n\nBarème\n| Période | Congés acquis |\n| --- | --- |\n| 1 mois | 2,5 jours |\n| 12 mois | 30 \\| jours |\n| seul |  |\n\nAprès"
        );
        assert_eq!(
            html_to_text(
                "<table><tr><td>a<table><tr><td>x</td><td>y</td></tr></table></td><td>b</td></tr></table>"
            ),
            "| a x y | b |\n| --- | --- |"
        );
    }

    #[test]
    fn headings_stand_alone_and_entities_are_decoded() {
        assert_eq!(
            html_to_text("<h2>Titre</h2>Texte<h3>Sous-titre</h3><p>x</p>"),
            "Titre\n\nTexte\n\nSous-titre\n\nx"
        );
        assert_eq!(
            html_to_text(
                "l&#39;état &amp; l&#x2019;emploi &lt;b&gt; &eacute;t&Eacute; &oelig;uvre &quot;q&quot; &inconnu; AT&T"
            ),
            "l'état & l’emploi <b> étÉ œuvre \"q\" &inconnu; AT&T"
        );
        // NFKC: ligatures and full-width letters, non-breaking spaces.
        assert_eq!(html_to_text("ﬁche Ｂ 30&nbsp;%"), "fiche B 30 %");
    }

    #[test]
    fn comments_scripts_and_stray_brackets() {
        assert_eq!(
            html_to_text(
                "<!-- <p>non</p> --><script>var a = '<p>';</script><style>p{}</style><p>oui</p>"
            ),
            "oui"
        );
        assert_eq!(html_to_text("a < b et c<3 <p>d</p>"), "a < b et c<3\n\nd");
        assert_eq!(
            html_to_text("<a title=l'avion href=x>lien</a> suite"),
            "lien suite"
        );
        assert_eq!(html_to_text("<p>non fermé <b"), "non fermé <b");
    }

    #[test]
    fn unclosed_brackets_and_stray_ampersands_take_one_pass() {
        // Each of these took time quadratic in its size (every `<` or `&` scanned the rest).
        let unclosed = "<a".repeat(200_000);
        assert_eq!(html_to_text(&unclosed), unclosed);
        let declarations = "<!".repeat(200_000);
        assert_eq!(html_to_text(&declarations), declarations);
        let ampersands = "&".repeat(200_000);
        assert_eq!(html_to_text(&ampersands), ampersands);
        let scripts = "<script>x</SCRIPT>".repeat(50_000);
        assert_eq!(html_to_text(&format!("{scripts}<p>fin</p>")), "fin");
        // A quote hiding every `>`: quotes stop counting, the tag ends at its first `>`.
        let quoted = format!("{}<a y=\">suite<p>fin</p>", "<b".repeat(100_000));
        assert_eq!(html_to_text(&quoted), "suite\n\nfin");
        assert_eq!(html_to_text("<a title=\"oops>lien</a> suite"), "lien suite");
    }

    #[test]
    fn deep_lists_and_wide_tables_give_text_linear_in_their_size() {
        // The indentation stops growing at 16 levels.
        let html = "<ul><li>x".repeat(10_000);
        let text = html_to_text(&html);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[1], "  - x");
        assert_eq!(lines[9_999], format!("{}- x", " ".repeat(30)));
        assert_eq!(lines[15], lines[9_999]);
        // Short rows are padded to 64 cells, not to the widest row's 1,000.
        let html = format!(
            "<table><tr>{}</tr>{}</table>",
            "<td>a</td>".repeat(1_000),
            "<tr><td>b</td></tr>".repeat(1_000)
        );
        let text = html_to_text(&html);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 1 + 1_000);
        assert_eq!(lines[2], format!("| b |{}", "  |".repeat(63)));
    }

    /// Pieces of HTML put together at random: unclosed tags, stray quotes and brackets,
    /// entities, lists and tables in any order.
    fn html_soup() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "<p>",
            "</p>",
            "<br>",
            "<br/>",
            "<ul>",
            "</ul>",
            "<ol>",
            "</ol>",
            "<li>",
            "</li>",
            "<table>",
            "</table>",
            "<tr>",
            "</tr>",
            "<td>",
            "</td>",
            "<th>",
            "<caption>",
            "</caption>",
            "<h2>",
            "</h2>",
            "<script>",
            "</script>",
            "<style>",
            "</STYLE>",
            "<!--",
            "-->",
            "<!DOCTYPE html>",
            "<?x?>",
            "<a href=\"x\">",
            "<a title='>'>",
            "</a>",
            "<b",
            "<",
            "</",
            ">",
            "\"",
            "'",
            "=",
            "&",
            "&amp;",
            "&#39;",
            "&#x2019;",
            "&#0;",
            "&#1114112;",
            "&eacute;",
            "&Oelig;",
            "&nope;",
            "texte",
            " ",
            "\n",
            "|",
            "é",
            "ﬁ",
            "\u{FDFA}",
        ]);
        prop::collection::vec(piece, 0..128).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text renders, and the text is at most a bounded multiple of the input (list
        /// indentation and table padding are capped; NFKC expands a character 18 times at
        /// most).
        #[test]
        fn fuzz_html_to_text(
            html in prop_oneof![html_soup(), any::<String>()]
        ) {
            let text = html_to_text(&html);
            prop_assert!(text.len() <= 128 * html.len() + 64, "{} bytes from {}", text.len(), html.len());
        }
    }

    #[test]
    fn a_sheet_gives_its_introduction_then_its_sections() {
        let record: Json = serde_json::from_str(
            r#"{"date": "03/06/2024", "description": "Combien\u00a0?", "intro": "<p>Tout salarié a droit.</p>",
                "pubId": "article101342", "title": "Les congés payés", "url": "https://x/conges",
                "sections": [
                  {"title": "Combien de jours\u00a0?", "html": "<p>2,5 jours</p><ul><li>a</li></ul>",
                   "references": {"LEGITEXT000006072050": {"name": "code du travail", "articles": [{"fmt": "L3141-3"}]}},
                   "text": "ignoré"},
                  {"title": "Vide", "html": "", "text": "Texte  brut.", "references": {}},
                  {"title": "Rien", "html": "<p> </p>"}
                ]}"#,
        )
        .expect("json");
        let sheet = parse_record(&record).expect("parse").expect("kept");
        assert_eq!(sheet.date.as_deref(), Some("2024-06-03"));
        assert_eq!(sheet.description, "Combien ?");
        assert_eq!(sheet.introduction, "Tout salarié a droit.");
        assert_eq!(
            sheet.sections,
            vec![
                Section {
                    context: vec![],
                    text: "Tout salarié a droit.".into(),
                    references: None
                },
                Section {
                    context: vec!["Combien de jours ?".into()],
                    text: "2,5 jours\n\n- a".into(),
                    references: sheet.sections[1].references.clone(),
                },
                Section {
                    context: vec!["Vide".into()],
                    text: "Texte brut.".into(),
                    references: None
                },
            ]
        );
        let refs: Json =
            serde_json::from_str(sheet.sections[1].references.as_deref().unwrap_or("null"))
                .expect("references are JSON");
        assert_eq!(
            refs,
            serde_json::json!({"LEGITEXT000006072050": {"name": "code du travail", "articles": [{"fmt": "L3141-3"}]}})
        );
        let rows = sheet.rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0], Value::Text("article101342".into()));
        assert_eq!(rows[0][3], Value::Text("Travail-Emploi".into()));
        assert_eq!(rows[0][4], Value::Text("travail-emploi".into()));
        assert_eq!(rows[2][8], Value::Int(3));
        assert_eq!(rows[2][9], Value::Texts(vec!["Vide".into()]));
    }

    #[test]
    fn records_without_pub_id_are_skipped_and_bad_shapes_are_errors() {
        let no_id: Json = serde_json::from_str(r#"{"title": "x", "sections": []}"#).expect("json");
        assert_eq!(parse_record(&no_id), Ok(None));
        let bad: Json = serde_json::from_str(r#"{"pubId": "a1", "sections": {}}"#).expect("json");
        assert_eq!(
            parse_record(&bad),
            Err("sheet a1: `sections` is not a list".to_string())
        );
        assert!(parse_record(&Json::from(3)).is_err());
        let no_date: Json =
            serde_json::from_str(r#"{"pubId": 7, "date": "", "intro": ""}"#).expect("json");
        let sheet = parse_record(&no_date).expect("parse").expect("kept");
        assert_eq!(
            (sheet.id.as_str(), sheet.date, sheet.sections.len()),
            ("7", None, 0)
        );
        assert!(parse_file(b"\xEF\xBB\xBF[]").expect("bom").is_empty());
        assert!(parse_file(b"{}").is_err());
    }

    #[test]
    fn the_real_sample_renders() {
        let html = "<p><strong>À NOTER&nbsp;!</strong><br class=\"autobr\">Le dispositif, «&nbsp;accords&nbsp;».</p><div class=\"doc-joint\"><span>pdf</span> <a href=\"x.pdf\"><span>Téléchargement</span></a></div>";
        assert_eq!(
            html_to_text(html),
            "À NOTER !\nLe dispositif, « accords ».\n\npdf Téléchargement"
        );
    }
}
