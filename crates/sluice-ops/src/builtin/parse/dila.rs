//! `parse.dila`: the DILA open-data XML bases (LEGI articles, CNIL deliberations, Conseil
//! constitutionnel decisions, DOLE legislative files) into documents, applied incrementally.
//!
//! The input is the files dataset of a `fetch` in listing mode: a full dump
//! (`Freemium_*`) then dated deltas. Archives already applied by an earlier run are skipped
//! (they are kept in the op's state with their checksum), the others are applied in order on
//! top of the previous version of this dataset: a document in an archive replaces the one
//! with the same id, the `liste_suppression*` files remove documents (a line may end with a
//! flag such as ` D`, and may name a folder, which removes every document below it), and a
//! full dump replaces everything before it. If a run fails, nothing is recorded: the next run
//! applies the same archives again.
//!
//! One row per document, except DOLE: one row per part of a legislative file (the
//! introduction of the explanatory memorandum, each article with its synthesis, each part of
//! the dossier without an article number), so that chunks can say which article they are.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_data::datafusion::arrow::array::{AsArray, BooleanArray};
use sluice_data::datafusion::arrow::compute::filter_record_batch;
use sluice_data::export::for_each_batch;
use sluice_data::rows::{ColumnType, RowWriter, Value};
use unicode_normalization::UnicodeNormalization;

use super::xml::{self, Element, Node, squash};
use super::{base_name, read_all};
use crate::support::archive::ArchiveLimits;
use crate::support::markdown;
use crate::{Op, OpError, OpOutput, TaskContext, blocking};

/// Which base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Consolidated legislation: `LEGIARTI*` articles.
    Legi,
    /// CNIL deliberations: `CNILTEXT*`.
    Cnil,
    /// Conseil constitutionnel decisions: `CONSTEXT*`.
    Constit,
    /// Legislative files: `JORFDOLE*`.
    Dole,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Legi => "LEGIARTI",
            Kind::Cnil => "CNILTEXT",
            Kind::Constit => "CONSTEXT",
            Kind::Dole => "JORFDOLE",
        }
    }

    /// The columns of each kind; `doc_id`, `path` and `archive` first, `text` last.
    fn columns(self) -> Vec<(&'static str, ColumnType)> {
        use ColumnType::{Int, Text};
        let specific: &[(&str, ColumnType)] = match self {
            Kind::Legi => &[
                ("nature", Text),
                ("category", Text),
                ("ministry", Text),
                ("status", Text),
                ("title", Text),
                ("full_title", Text),
                ("subtitles", Text),
                ("number", Text),
                ("start_date", Text),
                ("end_date", Text),
                ("nota", Text),
                ("links", Text),
            ],
            Kind::Cnil => &[
                ("nature", Text),
                ("status", Text),
                ("nature_delib", Text),
                ("title", Text),
                ("full_title", Text),
                ("number", Text),
                ("date", Text),
            ],
            Kind::Constit => &[
                ("nature", Text),
                ("solution", Text),
                ("title", Text),
                ("number", Text),
                ("decision_date", Text),
            ],
            Kind::Dole => &[
                ("category", Text),
                ("content_type", Text),
                ("title", Text),
                ("number", Text),
                ("wording", Text),
                ("creation_date", Text),
                ("article_number", Int),
                ("article_title", Text),
                ("article_synthesis", Text),
            ],
        };
        let mut cols = vec![("doc_id", Text), ("path", Text), ("archive", Text)];
        cols.extend_from_slice(specific);
        cols.push(("text", Text));
        cols
    }
}

fn default_full() -> String {
    "Freemium_*".into()
}

/// `op: parse.dila`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseDila {
    /// `legi`, `cnil`, `constit` or `dole`.
    pub kind: Kind,
    /// The `fetch` task (listing mode) whose archives to apply, in its order.
    #[serde(default)]
    pub files: Option<String>,
    /// Or archives given by a glob (applied in name order: dump first, then by date).
    #[serde(default)]
    pub path: Option<String>,
    /// Glob naming full dumps (default `Freemium_*`).
    #[serde(default = "default_full")]
    pub full: String,
    /// Refuse an archive that decompresses to more than this in all (default `64GiB`;
    /// `500MB`, `2GiB` or bytes).
    #[serde(default, deserialize_with = "crate::support::size::de_size")]
    pub max_unpacked: Option<u64>,
    /// Refuse an archive entry (zip) or stream (tar) that decompresses to more than this many
    /// times its compressed size (default 200).
    #[serde(default)]
    pub max_ratio: Option<u64>,
}

/// Builds `parse.dila`.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: ParseDila = sluice_core::from_node(config)?;
    glob::Pattern::new(&op.full).map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    super::build_parser::<ParseDila>(config)
}

impl super::Sourced for ParseDila {
    fn keys(&self) -> (&Option<String>, &Option<String>) {
        (&self.files, &self.path)
    }

    fn archive_limits(&self) -> ArchiveLimits {
        ArchiveLimits::from_keys(self.max_unpacked, self.max_ratio)
    }
}

/// What the op keeps between runs: the archives already applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    applied: Vec<Applied>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Applied {
    name: String,
    sha256: String,
}

/// One archive to apply.
#[derive(Debug, Clone)]
struct Archive {
    path: PathBuf,
    name: String,
    sha256: String,
}

fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

fn one_line(e: &Element) -> String {
    nfkc(&squash(&e.text()))
}

/// HTML-like content (`p`, `br`, `table`, lists) as text: one block per paragraph, lines kept,
/// tables as Markdown, empty lines dropped.
pub fn content_text(e: &Element) -> String {
    let mut out = String::new();
    render(e, &mut out);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    nfkc(&lines.join("\n"))
}

fn render(e: &Element, out: &mut String) {
    for n in &e.children {
        match n {
            Node::Text(t) => out.push_str(&t.replace(['\n', '\r'], " ")),
            Node::Element(c) => match c.name.to_ascii_lowercase().as_str() {
                "br" => out.push('\n'),
                "p" | "div" | "h1" | "h2" | "h3" | "h4" | "blockquote" => {
                    out.push('\n');
                    render(c, out);
                    out.push('\n');
                }
                "li" => {
                    out.push_str("\n- ");
                    render(c, out);
                    out.push('\n');
                }
                "table" => {
                    out.push('\n');
                    out.push_str(&markdown_table(c));
                    out.push('\n');
                }
                _ => render(c, out),
            },
        }
    }
}

/// The rows of `table` (`tr`, any case), in `thead`, `tbody`… included, those of the tables
/// nested in its cells excluded: a nested table is rendered once, inside its cell (its rows
/// counted again at every level above made the work exponential in the nesting).
fn table_rows<'a>(e: &'a Element, out: &mut Vec<&'a Element>) {
    for c in e.elements() {
        if c.name.eq_ignore_ascii_case("tr") {
            out.push(c);
        } else if !c.name.eq_ignore_ascii_case("table") {
            table_rows(c, out);
        }
    }
}

fn markdown_table(table: &Element) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut trs = Vec::new();
    table_rows(table, &mut trs);
    for tr in trs {
        let cells: Vec<String> = tr
            .elements()
            .filter(|c| matches!(c.name.to_ascii_lowercase().as_str(), "td" | "th"))
            .map(|c| {
                let mut s = String::new();
                render(c, &mut s);
                markdown::cell(&squash(&s))
            })
            .collect();
        if !cells.is_empty() {
            rows.push(cells);
        }
    }
    markdown::table_lines(&rows, 1).join("\n")
}

/// The text of the first element named `name` below `root`.
fn field(root: &Element, name: &str) -> Option<String> {
    root.find(name).map(one_line).filter(|s| !s.is_empty())
}

/// `12 Article 1er` → the article number of a heading paragraph (`1er`, `premier` and
/// `unique` are 1), if it is one.
fn article_number(line: &str) -> Option<i64> {
    let rest = line.trim().strip_prefix("Article")?.trim_start();
    let word = rest
        .split(|c: char| c.is_whitespace() || c == ':' || c == '.')
        .next()?;
    let n = match word.to_lowercase().as_str() {
        "1er" | "premier" | "unique" => 1,
        w => w.parse().ok()?,
    };
    // A heading, not a sentence that starts with "Article 3 du code…".
    (rest.len() <= word.len() + 40 && !rest.contains(" du ") && !rest.contains(" de la "))
        .then_some(n)
}

fn is_title_heading(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("TITRE ") || t.starts_with("Titre ") || t.starts_with("CHAPITRE ")
}

/// Paragraph texts of an HTML-like element.
fn paragraphs(e: &Element) -> Vec<String> {
    content_text(e).lines().map(str::to_string).collect()
}

/// A row of a document: its values after `doc_id`, `path`, `archive`.
type Row = Vec<Value>;

fn legi(root: &Element) -> Result<Vec<Row>, String> {
    let texte = root.find("CONTEXTE").and_then(|c| c.find("TEXTE"));
    let titles: Vec<&Element> = texte
        .map(|t| {
            let mut v = Vec::new();
            t.descendants("TITRE_TXT", &mut v);
            v
        })
        .unwrap_or_default();
    let title = titles
        .first()
        .and_then(|t| t.attr("c_titre_court"))
        .map(|s| nfkc(s.trim()).trim_end_matches('.').trim_end().to_string());
    let full_title = titles
        .first()
        .map(|t| one_line(t))
        .filter(|s| !s.is_empty());
    let mut tm = Vec::new();
    if let Some(t) = texte {
        t.descendants("TITRE_TM", &mut tm);
    }
    let subtitles: Vec<String> = tm
        .iter()
        .map(|t| one_line(t))
        .filter(|s| !s.is_empty())
        .collect();
    let nota = root.find("NOTA").map(|n| {
        let mut ps = Vec::new();
        n.descendants("p", &mut ps);
        if ps.is_empty() {
            content_text(n)
        } else {
            ps.iter()
                .map(|p| one_line(p))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        }
    });
    let links: Vec<serde_json::Value> = root
        .find("LIENS")
        .map(|l| {
            l.children_named("LIEN")
                .map(|lien| {
                    let a = |k: &str| lien.attr(k).unwrap_or_default().to_string();
                    serde_json::json!({
                        "text_doc_id": a("cidtexte"),
                        "text_signature_date": a("datesignatexte"),
                        "doc_id": a("id"),
                        "category": a("naturetexte"),
                        "nor": a("nortexte"),
                        "number": a("num"),
                        "text_number": a("numtexte"),
                        "link_direction": a("sens"),
                        "link_type": a("typelien"),
                        "title": one_line(lien),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(vec![vec![
        field(root, "NATURE").into(),
        texte
            .and_then(|t| t.attr("nature"))
            .map(str::to_string)
            .into(),
        texte
            .and_then(|t| t.attr("ministere"))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .into(),
        field(root, "ETAT").into(),
        title.into(),
        full_title.into(),
        (!subtitles.is_empty())
            .then(|| subtitles.join(" - "))
            .into(),
        field(root, "NUM").into(),
        field(root, "DATE_DEBUT").into(),
        field(root, "DATE_FIN").into(),
        nota.filter(|s| !s.is_empty()).into(),
        serde_json::Value::from(links).to_string().into(),
        body(root).into(),
    ]])
}

/// The text of `BLOC_TEXTUEL/CONTENU`.
fn body(root: &Element) -> String {
    root.find("BLOC_TEXTUEL")
        .and_then(|b| b.find("CONTENU"))
        .map(content_text)
        .unwrap_or_default()
}

fn cnil(root: &Element) -> Result<Vec<Row>, String> {
    Ok(vec![vec![
        field(root, "NATURE").into(),
        field(root, "ETAT_JURIDIQUE").into(),
        field(root, "NATURE_DELIB").into(),
        field(root, "TITRE").into(),
        field(root, "TITREFULL").into(),
        field(root, "NUMERO").into(),
        field(root, "DATE_TEXTE").into(),
        body(root).into(),
    ]])
}

fn constit(root: &Element) -> Result<Vec<Row>, String> {
    Ok(vec![vec![
        field(root, "NATURE").into(),
        field(root, "SOLUTION").into(),
        field(root, "TITRE").into(),
        field(root, "NUMERO").into(),
        field(root, "DATE_DEC").into(),
        body(root).into(),
    ]])
}

/// An article of a legislative file: number, title of the enclosing `TITRE` block, its
/// synthesis in the explanatory memorandum, its texts in the parts of the dossier.
type Article = (i64, Option<String>, Vec<String>, Vec<String>);

/// DOLE: the introduction of the explanatory memorandum, then one row per article number
/// (its synthesis and its text in each part of the dossier, merged), then the parts of the
/// dossier that carry no article number.
fn dole(root: &Element) -> Result<Vec<Row>, String> {
    let title = field(root, "TITRE");
    let legislature = root.find("LEGISLATURE");
    let number = legislature.and_then(|l| field(l, "NUMERO"));
    let wording = legislature.and_then(|l| field(l, "LIBELLE"));
    let meta = |content_type: &str| -> Vec<Value> {
        vec![
            field(root, "TYPE").into(),
            content_type.into(),
            title.clone().into(),
            number.clone().into(),
            wording.clone().into(),
            field(root, "DATE_CREATION").into(),
        ]
    };
    let mut intro: Vec<String> = Vec::new();
    let mut articles: Vec<Article> = Vec::new();
    // Where each article number is in `articles`.
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut article = |n: i64, articles: &mut Vec<Article>| {
        *index.entry(n).or_insert_with(|| {
            articles.push((n, None, Vec::new(), Vec::new()));
            articles.len() - 1
        })
    };
    if let Some(memo) = root.find("EXPOSE_MOTIF") {
        let mut current: Option<usize> = None;
        let mut block_title: Option<String> = None;
        for p in paragraphs(memo) {
            if is_title_heading(&p) {
                block_title = Some(p);
                current = None;
            } else if let Some(n) = article_number(&p) {
                let i = article(n, &mut articles);
                if articles[i].1.is_none() {
                    articles[i].1 = block_title.clone();
                }
                current = Some(i);
            } else if let Some(i) = current {
                articles[i].2.push(p);
            } else if block_title.is_none() {
                intro.push(p);
            }
        }
    }
    let mut dossier: Vec<String> = Vec::new();
    for part in 1..=5 {
        let Some(content) = root.find(&format!("CONTENU_DOSSIER_{part}")) else {
            continue;
        };
        let mut current: Option<usize> = None;
        let mut loose = Vec::new();
        for p in paragraphs(content) {
            if let Some(n) = article_number(&p) {
                current = Some(article(n, &mut articles));
            } else if let Some(i) = current {
                articles[i].3.push(p);
            } else {
                loose.push(p);
            }
        }
        if !loose.is_empty() {
            dossier.push(loose.join("\n"));
        }
    }
    let mut rows = Vec::new();
    let intro_text = if intro.is_empty() {
        title.clone().unwrap_or_default()
    } else {
        intro.join("\n")
    };
    let mut r = meta("explanatory_memorandum");
    r.extend([Value::Null, Value::Null, Value::Null, intro_text.into()]);
    rows.push(r);
    articles.sort_by_key(|a| a.0);
    for (n, block_title, synthesis, texts) in articles {
        let synthesis = synthesis.join("\n");
        let mut text = format!("Article {n}");
        if !synthesis.is_empty() {
            text.push_str(&format!("\nSynthèse : {synthesis}"));
        }
        for t in &texts {
            text.push('\n');
            text.push_str(t);
        }
        let mut r = meta("article");
        r.extend([
            Value::Int(n),
            block_title.into(),
            (!synthesis.is_empty()).then_some(synthesis).into(),
            text.into(),
        ]);
        rows.push(r);
    }
    for d in dossier {
        let mut r = meta("dossier_content");
        r.extend([Value::Null, Value::Null, Value::Null, d.into()]);
        rows.push(r);
    }
    Ok(rows)
}

/// The document in one XML entry: its id and rows.
fn parse_doc(kind: Kind, bytes: &[u8]) -> Result<(String, Vec<Row>), String> {
    let root = xml::parse(bytes)?;
    let id = root
        .find("ID")
        .map(one_line)
        .filter(|s| !s.is_empty())
        .ok_or("no ID element")?;
    let rows = match kind {
        Kind::Legi => legi(&root)?,
        Kind::Cnil => cnil(&root)?,
        Kind::Constit => constit(&root)?,
        Kind::Dole => dole(&root)?,
    };
    Ok((id, rows))
}

/// A suppression line: the path (from the base's root, without `.xml`) and the id it
/// names (its last segment). A trailing flag (` D`) and spaces are dropped.
pub fn suppression_entry(line: &str) -> Option<(String, String)> {
    let path = line.split_whitespace().next()?;
    let path = path.trim_end_matches('/').trim_end_matches(".xml");
    let id = path.rsplit('/').next()?.to_string();
    (!id.is_empty()).then(|| (path.to_string(), id))
}

/// The path of an entry from the base's root: without the archive's `<stamp>/` folder and
/// without `.xml`.
fn doc_path(entry: &str) -> String {
    let trimmed = entry.trim_end_matches(".xml");
    match trimmed.split_once('/') {
        Some((first, rest))
            if first.len() == 15
                && first.as_bytes()[8] == b'-'
                && first.bytes().filter(u8::is_ascii_digit).count() == 14 =>
        {
            rest.to_string()
        }
        _ => trimmed.to_string(),
    }
}

/// What an archive says: documents written to a temporary dataset, deletions.
struct Applying {
    docs: PathBuf,
    ids: Vec<String>,
    deleted_ids: Vec<String>,
    deleted_dirs: Vec<String>,
}

impl ParseDila {
    fn archives(&self, ctx: &TaskContext) -> Result<Vec<Archive>, OpError> {
        match &self.files {
            Some(task) => Ok(super::fetched_files(ctx, task)?
                .into_iter()
                .map(|f| Archive {
                    path: f.path,
                    name: f.name,
                    sha256: f.sha256,
                })
                .collect()),
            None => {
                let mut files =
                    sluice_data::expand_paths(&ctx.workdir, self.path.as_deref().unwrap_or(""))?;
                let full =
                    glob::Pattern::new(&self.full).map_err(|e| OpError::config(e.to_string()))?;
                files.sort_by_key(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (
                        !full.matches(&name),
                        crate::support::listing::stamp(&name),
                        name,
                    )
                });
                Ok(files
                    .into_iter()
                    .map(|p| Archive {
                        name: p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        // Local archives are told apart by size and time.
                        sha256: crate::file_stamp(std::slice::from_ref(&p)),
                        path: p,
                    })
                    .collect())
            }
        }
    }

    /// Reads one archive: documents into `tmp`, deletions listed.
    fn read_archive(
        &self,
        archive: &Archive,
        tmp: &Path,
        index: usize,
        log: &crate::TaskLog,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Applying, OpError> {
        let dir = tmp.join(format!("{index:05}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpError::internal(format!("{}: {e}", dir.display())))?;
        let columns = self.kind.columns();
        let mut writer = RowWriter::new(&sluice_data::DatasetTarget::new(&dir), &columns);
        let mut applying = Applying {
            docs: dir,
            ids: Vec::new(),
            deleted_ids: Vec::new(),
            deleted_dirs: Vec::new(),
        };
        let prefix = self.kind.prefix();
        let mut errors = 0u64;
        super::for_each_input(
            std::slice::from_ref(&archive.path),
            &super::Sourced::archive_limits(self),
            |_, name, reader| {
                if cancel.is_cancelled() {
                    return Err("cancelled".into());
                }
                let base = base_name(name);
                if base.starts_with("liste_suppression") {
                    let mut text = String::new();
                    std::io::Read::read_to_string(reader, &mut text)
                        .map_err(|e| format!("cannot read: {e}"))?;
                    for line in text.lines() {
                        let Some((path, id)) = suppression_entry(line) else {
                            continue;
                        };
                        if id.starts_with(prefix) {
                            applying.deleted_ids.push(id);
                        } else {
                            // A folder (a whole text): every document below it goes.
                            applying.deleted_dirs.push(format!("{path}/"));
                        }
                    }
                    return Ok(());
                }
                if !(base.starts_with(prefix) && base.ends_with(".xml")) {
                    return Ok(());
                }
                let bytes = read_all(reader)?;
                match parse_doc(self.kind, &bytes) {
                    Ok((id, rows)) => {
                        let path = doc_path(name);
                        for row in rows {
                            let mut values: Vec<Value> = vec![
                                id.clone().into(),
                                path.clone().into(),
                                archive.name.clone().into(),
                            ];
                            values.extend(row);
                            writer.push(values).map_err(|e| e.to_string())?;
                        }
                        applying.ids.push(id);
                    }
                    Err(e) => {
                        // One broken document does not stop the base: it is named and counted.
                        errors += 1;
                        let _ = log.line(&format!("{}: {}: {e}; skipped", archive.name, name));
                    }
                }
                Ok(())
            },
        )
        .map_err(|e| OpError::data(e.to_string()))?;
        writer.finish()?;
        if errors > 0 {
            let _ = log.line(&format!(
                "{}: {errors} documents could not be read",
                archive.name
            ));
        }
        Ok(applying)
    }
}

/// Counters of a run.
#[derive(Debug, Default)]
struct Counts {
    archives: u64,
    documents: u64,
    new: u64,
    replaced: u64,
    deleted: u64,
}

/// Which rows the applied sources supersede: the last source that mentions each id (to
/// delete or to replace it), and the folders each source deletes.
struct Superseded<'a> {
    last: HashMap<&'a str, usize>,
    dirs: Vec<(usize, &'a str)>,
}

impl<'a> Superseded<'a> {
    fn new(sources: &'a [Applying]) -> Self {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, s) in sources.iter().enumerate() {
            for id in s.deleted_ids.iter().chain(&s.ids) {
                last.insert(id, i);
            }
        }
        let dirs = sources
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.deleted_dirs.iter().map(move |d| (i, d.as_str())))
            .collect();
        Superseded { last, dirs }
    }

    /// A row from source `from` (None: the previous version) is kept when no later source
    /// deletes or replaces its document, and no later folder deletion covers it.
    fn keeps(&self, id: &str, path: &str, from: Option<usize>) -> bool {
        let later = |i: usize| from.is_none_or(|f| i > f);
        if self.last.get(id).is_some_and(|&i| later(i)) {
            return false;
        }
        !self
            .dirs
            .iter()
            .any(|&(i, d)| later(i) && path.starts_with(d))
    }
}

impl ParseDila {
    /// Applies the archives not applied yet, from the last full dump among them, over the
    /// previous version (unless a full dump restarts it); returns the dataset, the counts and
    /// the state to remember.
    fn apply(
        &self,
        archives: &[Archive],
        state: &State,
        previous: Option<&Path>,
        out: &sluice_data::DatasetTarget,
        log: &crate::TaskLog,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<(sluice_data::DatasetInfo, Counts, State), OpError> {
        let tmp = out.dir.join(".archives");
        let todo: Vec<&Archive> = archives
            .iter()
            .filter(|a| {
                !state
                    .applied
                    .iter()
                    .any(|s| s.name == a.name && s.sha256 == a.sha256)
            })
            .collect();
        // A full dump replaces everything before it: start from the last one.
        let full = glob::Pattern::new(&self.full).map_err(|e| OpError::config(e.to_string()))?;
        let first = todo.iter().rposition(|a| full.matches(&a.name));
        let mut counts = Counts::default();
        let mut sources: Vec<Applying> = Vec::new();
        for (i, a) in todo.iter().enumerate().skip(first.unwrap_or(0)) {
            let _ = log.line(&format!("applying {}", a.name));
            sources.push(self.read_archive(a, &tmp, i, log, cancel)?);
            counts.archives += 1;
        }
        let superseded = Superseded::new(&sources);
        let mut writer = RowWriter::new(out, &self.kind.columns());
        let mut previous_ids: HashSet<String> = HashSet::new();
        let mut previous_kept: HashSet<String> = HashSet::new();
        let mut written: HashSet<String> = HashSet::new();
        if let Some(prev) = previous {
            let restart = first.is_some();
            for_each_batch(prev, |_, batch| {
                let ids = batch.column(0).as_string::<i32>();
                let paths = batch.column(1).as_string::<i32>();
                let mask: BooleanArray = (0..batch.num_rows())
                    .map(|r| {
                        let id = ids.value(r);
                        previous_ids.insert(id.to_string());
                        let k = !restart && superseded.keeps(id, paths.value(r), None);
                        if k {
                            previous_kept.insert(id.to_string());
                        }
                        Some(k)
                    })
                    .collect();
                writer.write_batch(&filter_record_batch(&batch, &mask)?)
            })?;
        }
        for (i, s) in sources.iter().enumerate() {
            for_each_batch(&s.docs, |_, batch| {
                let ids = batch.column(0).as_string::<i32>();
                let paths = batch.column(1).as_string::<i32>();
                let mask: BooleanArray = (0..batch.num_rows())
                    .map(|r| {
                        let k = superseded.keeps(ids.value(r), paths.value(r), Some(i));
                        if k {
                            written.insert(ids.value(r).to_string());
                        }
                        Some(k)
                    })
                    .collect();
                writer.write_batch(&filter_record_batch(&batch, &mask)?)
            })?;
        }
        counts.new = written
            .iter()
            .filter(|id| !previous_ids.contains(*id))
            .count() as u64;
        counts.replaced = written.len() as u64 - counts.new;
        counts.deleted = previous_ids
            .iter()
            .filter(|id| !previous_kept.contains(*id) && !written.contains(*id))
            .count() as u64;
        let _ = std::fs::remove_dir_all(&tmp);
        let info = writer.finish()?;
        let mut applied: Vec<Applied> = if first.is_some() {
            Vec::new()
        } else {
            state.applied.clone()
        };
        applied.extend(todo.iter().map(|a| Applied {
            name: a.name.clone(),
            sha256: a.sha256.clone(),
        }));
        counts.documents = info.rows;
        Ok((info, counts, State { applied }))
    }
}

#[async_trait]
impl Op for ParseDila {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let archives = self.archives(ctx)?;
        let state: State = ctx
            .previous
            .as_ref()
            .and_then(|p| p.state.clone())
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default();
        let previous = ctx.previous.as_ref().map(|p| p.dir.clone());
        let out = ctx.output()?.clone();
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let op = self.clone();
        let (info, counts, state) =
            blocking(move || op.apply(&archives, &state, previous.as_deref(), &out, &log, &cancel))
                .await?;
        let _ = ctx.log.line(&format!(
            "{} archives applied: {} new documents, {} replaced, {} deleted; {} rows",
            counts.archives, counts.new, counts.replaced, counts.deleted, counts.documents
        ));
        let metrics = crate::counters(&[
            ("archives", counts.archives),
            ("rows", counts.documents),
            ("new", counts.new),
            ("replaced", counts.replaced),
            ("deleted", counts.deleted),
        ]);
        Ok(OpOutput {
            dataset: Some(info.into()),
            metrics,
            state: Some(
                serde_json::to_value(&state).map_err(|e| OpError::internal(e.to_string()))?,
            ),
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
    fn suppression_lines_drop_flags_and_name_ids() {
        assert_eq!(
            suppression_entry("cnil/global/CNIL/TEXT/00/00/26/02/62/CNILTEXT000026026270 D"),
            Some((
                "cnil/global/CNIL/TEXT/00/00/26/02/62/CNILTEXT000026026270".into(),
                "CNILTEXT000026026270".into()
            ))
        );
        assert_eq!(
            suppression_entry("  legi/x/LEGIARTI000006398122.xml  \r"),
            Some((
                "legi/x/LEGIARTI000006398122".into(),
                "LEGIARTI000006398122".into()
            ))
        );
        assert_eq!(suppression_entry("   "), None);
    }

    #[test]
    fn entry_paths_lose_the_stamp_folder() {
        assert_eq!(
            doc_path(
                "20250711-212007/cnil/global/CNIL/TEXT/00/00/26/02/62/CNILTEXT000026026270.xml"
            ),
            "cnil/global/CNIL/TEXT/00/00/26/02/62/CNILTEXT000026026270"
        );
        assert_eq!(doc_path("cnil/x/CNILTEXT1.xml"), "cnil/x/CNILTEXT1");
    }

    #[test]
    fn article_headings_are_told_from_sentences() {
        assert_eq!(article_number("Article 1er"), Some(1));
        assert_eq!(article_number("Article unique"), Some(1));
        assert_eq!(article_number("Article 12 :"), Some(12));
        assert_eq!(
            article_number("Article 3 du code civil est ainsi modifié"),
            None
        );
        assert_eq!(article_number("L'article 2"), None);
    }

    #[test]
    fn nested_tables_are_rendered_once_inside_their_cell() {
        let e = xml::parse(
            b"<CONTENU><table><tr><td>a<table><tr><td>x</td></tr></table></td></tr></table></CONTENU>",
        )
        .expect("xml");
        assert_eq!(content_text(&e), "| a \\| x \\| \\| --- \\| |\n| --- |");
        // 40 levels: the rows of each table were rendered again at every level above
        // (2^40 renderings); now once each.
        let mut doc = String::from("<CONTENU>");
        doc.push_str(&"<table><tr><td>".repeat(40));
        doc.push('x');
        doc.push_str(&"</td></tr></table>".repeat(40));
        doc.push_str("</CONTENU>");
        let text = content_text(&xml::parse(doc.as_bytes()).expect("xml"));
        assert_eq!(text.lines().count(), 2);
        assert_eq!(text.matches('x').count(), 1);
    }

    const NAMES: &[&str] = &[
        "CONTEXTE",
        "TEXTE",
        "TITRE_TXT",
        "TITRE_TM",
        "NOTA",
        "p",
        "br",
        "div",
        "li",
        "table",
        "tr",
        "td",
        "th",
        "TR",
        "TD",
        "LIENS",
        "LIEN",
        "BLOC_TEXTUEL",
        "CONTENU",
        "NATURE",
        "ETAT",
        "NUM",
        "DATE_DEBUT",
        "EXPOSE_MOTIF",
        "CONTENU_DOSSIER_1",
        "CONTENU_DOSSIER_3",
        "LEGISLATURE",
        "NUMERO",
        "LIBELLE",
        "TITRE",
        "TYPE",
    ];

    fn size(rows: &[Row]) -> usize {
        rows.iter()
            .flatten()
            .map(|v| match v {
                Value::Text(t) => t.len(),
                Value::Texts(t) => t.iter().map(String::len).sum(),
                Value::Bytes(b) => b.len(),
                Value::Vector(v) => v.len() * 4,
                Value::Null | Value::Int(_) | Value::Float(_) => 8,
            })
            .sum()
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Random documents of each base parse or fail without a panic; the rows are a
        /// bounded multiple of the document.
        #[test]
        fn fuzz_dila(
            doc in prop_oneof![
                xml::generate::document(
                    "<ARTICLE><META><META_COMMUN><ID>LEGIARTI1</ID></META_COMMUN></META>",
                    "</ARTICLE>",
                    NAMES,
                    &["c_titre_court", "nature", "ministere", "id", "sens", "typelien"],
                ),
                xml::generate::xml_soup().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ]
        ) {
            for kind in [Kind::Legi, Kind::Cnil, Kind::Constit, Kind::Dole] {
                if let Ok((_, rows)) = parse_doc(kind, doc.as_bytes()) {
                    let size = size(&rows);
                    prop_assert!(size <= 256 * doc.len() + 4096, "{kind:?}: {size} bytes from {}", doc.len());
                }
            }
        }
    }

    #[test]
    fn content_keeps_paragraphs_breaks_and_tables() {
        let e = xml::parse(
            b"<CONTENU><p>Un <b>deux</b></p><p>trois<br/>quatre</p><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table></CONTENU>",
        )
        .expect("xml");
        assert_eq!(
            content_text(&e),
            "Un deux\ntrois\nquatre\n| a | b |\n| --- | --- |\n| 1 | 2 |"
        );
    }
}
