//! `parse.service_public`: service-public.fr "vos droits" sheets (`F*.xml`, `N*.xml`, root
//! `Publication`) into one row per section.
//!
//! The text is walked into sections: a new one at each `Situation`, `Chapitre` and
//! `SousChapitre` (nothing deeper), whose `context` is the path of titles above it. Tables
//! become Markdown tables, lists bullets (`- `) or numbers (`1. `), cases `Cas : <title>`
//! lines, notes `(À noter : …)`. The first section holds the introduction followed by the
//! list of the chapters. Sheets whose surtitle is "Dossier" or "Recherche guidée" are
//! skipped; a sheet id seen twice (the "part" and "pro" feeds share sheets) is kept once,
//! from the first file that has it.

use std::collections::HashMap;

use async_trait::async_trait;
use sluice_data::rows::{ColumnType, RowWriter, Value};
use unicode_normalization::UnicodeNormalization;

use super::Sourced as _;
use super::xml::{self, Element, Node, squash};
use super::{base_name, for_each_input, read_all};
use crate::support::markdown;
use crate::{Op, OpError, OpOutput, TaskContext, blocking};

super::file_parser!(
    /// `op: parse.service_public`.
    ParseServicePublic,
    "parse.service_public",
    "The `fetch` task whose files to read (zips of sheets, or sheets)."
);

/// The columns written.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    ("doc_id", ColumnType::Text),
    ("url", ColumnType::Text),
    ("title", ColumnType::Text),
    ("surtitle", ColumnType::Text),
    ("audience", ColumnType::Text),
    ("theme", ColumnType::Text),
    ("description", ColumnType::Text),
    ("introduction", ColumnType::Text),
    ("date", ColumnType::Text),
    ("source", ColumnType::Text),
    ("related_questions", ColumnType::Text),
    ("web_services", ColumnType::Text),
    ("section", ColumnType::Int),
    ("context", ColumnType::Texts),
    ("text", ColumnType::Text),
];

/// One section of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Titles above it, outermost first.
    pub context: Vec<String>,
    /// Its text.
    pub text: String,
}

/// A parsed sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The sheet id (`F1234`).
    pub id: String,
    /// Its public URL.
    pub url: String,
    /// `dc:title`.
    pub title: String,
    /// `SurTitre`.
    pub surtitle: String,
    /// `Audience` values, `, `-joined.
    pub audience: String,
    /// `Theme` titles, `, `-joined.
    pub theme: String,
    /// `dc:description`.
    pub description: String,
    /// The introduction (the description when there is none).
    pub introduction: String,
    /// Last modification (`YYYY-MM-DD`).
    pub date: String,
    /// Related questions, JSON.
    pub related_questions: String,
    /// Online services, JSON.
    pub web_services: String,
    /// Its sections, in order.
    pub sections: Vec<Section>,
}

fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// The text of an element as one line: spaces collapsed, NFKC.
fn line(e: &Element) -> String {
    nfkc(&squash(&e.text()))
}

/// The text of a `Titre` (which may hold a `Paragraphe`).
fn title_of(e: &Element) -> String {
    e.child("Titre").map(line).unwrap_or_default()
}

fn audience_path(audience: &str) -> &'static str {
    let a = audience.to_lowercase();
    if a.contains("professionnel") || a.contains("entreprise") {
        "professionnels-entreprises"
    } else if a.contains("association") {
        "associations"
    } else {
        "particuliers"
    }
}

/// Renders block content (paragraphs, lists, tables, cases, notes) as text blocks.
fn blocks(e: &Element, out: &mut Vec<String>) {
    for child in e.elements() {
        block(child, out);
    }
}

fn block(e: &Element, out: &mut Vec<String>) {
    match e.name.as_str() {
        "Paragraphe" => {
            let t = line(e);
            if !t.is_empty() {
                out.push(t);
            }
        }
        "TitreFlottant" | "TitreAlternatif" => {
            let t = line(e);
            if !t.is_empty() {
                out.push(format!("{}:", t.trim_end_matches(':').trim_end()));
            }
        }
        "Liste" => {
            let numbered = e.attr("type") == Some("numero");
            let mut lines = Vec::new();
            list_items(e, numbered, 0, &mut lines);
            if !lines.is_empty() {
                out.push(lines.join("\n"));
            }
        }
        "Tableau" => {
            if let Some(t) = table(e) {
                out.push(t);
            }
        }
        "BlocCas" => {
            for cas in e.children_named("Cas") {
                let mut inner = Vec::new();
                for c in cas.elements().filter(|c| c.name != "Titre") {
                    block(c, &mut inner);
                }
                out.push(format!("Cas : {}", title_of(cas)));
                out.extend(inner);
            }
        }
        "ANoter" | "ASavoir" | "Attention" | "Rappel" | "Exemple" => {
            let mut inner = Vec::new();
            for c in e.elements().filter(|c| c.name != "Titre") {
                block(c, &mut inner);
            }
            let title = match title_of(e) {
                t if t.is_empty() => default_note_title(&e.name).to_string(),
                t => t,
            };
            if !inner.is_empty() {
                out.push(format!("({title} : {})", inner.join("\n")));
            }
        }
        "ServiceEnLigne" => {
            let t = title_of(e);
            match e.attr("URL") {
                Some(url) if !t.is_empty() => out.push(format!("{t} : {url}")),
                _ if !t.is_empty() => out.push(t),
                _ => {}
            }
        }
        // Addresses, news links and anchors carry no text to embed.
        "OuSAdresser" | "RefActualite" | "Titre" | "QuiPeutMAider" => {}
        "Texte" | "Introduction" | "Description" => blocks(e, out),
        _ => {
            let t = line(e);
            if !t.is_empty() {
                out.push(t);
            }
        }
    }
}

fn default_note_title(name: &str) -> &'static str {
    match name {
        "ANoter" => "À noter",
        "ASavoir" => "À savoir",
        "Attention" => "Attention",
        "Rappel" => "Rappel",
        _ => "Exemple",
    }
}

fn list_items(list: &Element, numbered: bool, depth: usize, out: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    for (n, item) in list.children_named("Item").enumerate() {
        let mut text = Vec::new();
        let mut nested = Vec::new();
        for c in item.elements() {
            if c.name == "Liste" {
                nested.push(c);
            } else {
                let mut b = Vec::new();
                block(c, &mut b);
                text.extend(b);
            }
        }
        let marker = if numbered {
            format!("{}.", n + 1)
        } else {
            "-".to_string()
        };
        out.push(format!("{indent}{marker} {}", text.join(" ")));
        for l in nested {
            list_items(l, l.attr("type") == Some("numero"), depth + 1, out);
        }
    }
}

/// A `Tableau` as a Markdown table, preceded by its title.
fn table(e: &Element) -> Option<String> {
    let rows: Vec<(bool, Vec<String>)> = e
        .children_named("Rangée")
        .map(|r| {
            let cells = r
                .children_named("Cellule")
                .map(|c| {
                    let mut b = Vec::new();
                    blocks(c, &mut b);
                    if b.is_empty() {
                        b.push(line(c));
                    }
                    markdown::cell(&b.join(" "))
                })
                .collect();
            (r.attr("type") == Some("header"), cells)
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let header_rows = rows.iter().take_while(|(h, _)| *h).count();
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, cells)| cells).collect();
    let mut lines = Vec::new();
    let title = title_of(e);
    if !title.is_empty() {
        lines.push(title);
    }
    lines.extend(markdown::table_lines(&rows, header_rows));
    Some(lines.join("\n"))
}

/// Walks `Texte` / `ListeSituations` into sections.
fn walk(e: &Element, context: &[String], sections: &mut Vec<Section>) {
    let mut here = Vec::new();
    let flush = |here: &mut Vec<String>, sections: &mut Vec<Section>| {
        if !here.is_empty() {
            sections.push(Section {
                context: context.to_vec(),
                text: here.join("\n\n"),
            });
            here.clear();
        }
    };
    for child in e.elements() {
        match child.name.as_str() {
            "Chapitre" | "Situation" => {
                flush(&mut here, sections);
                let mut ctx = context.to_vec();
                let t = title_of(child);
                if !t.is_empty() {
                    ctx.push(t);
                }
                walk(child, &ctx, sections);
            }
            "SousChapitre" => {
                flush(&mut here, sections);
                let mut ctx = context.to_vec();
                let t = title_of(child);
                if !t.is_empty() {
                    ctx.push(t);
                }
                let mut text = Vec::new();
                for c in child.elements().filter(|c| c.name != "Titre") {
                    block(c, &mut text);
                }
                if !text.is_empty() {
                    sections.push(Section {
                        context: ctx,
                        text: text.join("\n\n"),
                    });
                }
            }
            "Texte" | "ListeSituations" => {
                flush(&mut here, sections);
                walk(child, context, sections);
            }
            "Titre" => {}
            _ => block(child, &mut here),
        }
    }
    flush(&mut here, sections);
}

/// Parses one sheet. `Ok(None)`: not a sheet to keep (a Dossier, a guided search).
pub fn parse_sheet(bytes: &[u8]) -> Result<Option<Sheet>, String> {
    let root = xml::parse(bytes)?;
    if root.name != "Publication" {
        return Ok(None);
    }
    let text_of = |name: &str| root.child(name).map(line).unwrap_or_default();
    let surtitle = text_of("SurTitre");
    let kind = root.attr("type").unwrap_or_default();
    let skipped = ["Dossier", "Recherche guidée"];
    if skipped.contains(&surtitle.as_str()) || skipped.contains(&kind) {
        return Ok(None);
    }
    let id = root
        .attr("ID")
        .map(str::to_string)
        .or_else(|| root.child("dc:identifier").map(line))
        .filter(|s| !s.is_empty())
        .ok_or("the sheet has no ID attribute")?;
    let url = root.attr("spUrl").unwrap_or_default().to_string();
    let audience: Vec<String> = root.children_named("Audience").map(line).collect();
    let theme: Vec<String> = root
        .children_named("Theme")
        .map(|t| match t.child("Titre") {
            Some(title) => line(title),
            None => line(t),
        })
        .collect();
    let description = text_of("dc:description");
    let mut intro = Vec::new();
    if let Some(i) = root.child("Introduction") {
        blocks(i, &mut intro);
    }
    let introduction = if intro.is_empty() {
        description.clone()
    } else {
        intro.join("\n\n")
    };
    let date = text_of("dc:date");
    let date = date
        .split_whitespace()
        .find(|w| w.len() == 10 && w.as_bytes()[4] == b'-')
        .unwrap_or(&date)
        .to_string();

    let mut questions: Vec<serde_json::Value> = Vec::new();
    let mut found = Vec::new();
    root.descendants("QuestionReponse", &mut found);
    for q in found {
        let sid = q.attr("ID").unwrap_or_default();
        if sid.is_empty() || questions.iter().any(|v| v["sid"] == sid) {
            continue;
        }
        let audience = q.attr("audience").unwrap_or("Particuliers");
        questions.push(serde_json::json!({
            "question": title_of(q),
            "sid": sid,
            "url": format!("https://www.service-public.gouv.fr/{}/vosdroits/{sid}", audience_path(audience)),
        }));
    }
    let mut services: Vec<serde_json::Value> = Vec::new();
    let mut found = Vec::new();
    root.descendants("ServiceEnLigne", &mut found);
    for s in found {
        let Some(url) = s.attr("URL") else { continue };
        if services.iter().any(|v| v["url"] == url) {
            continue;
        }
        services.push(serde_json::json!({
            "title": title_of(s),
            "institution": s.child("Source").map(line).unwrap_or_default(),
            "url": url,
            "type": s.attr("type").unwrap_or_default(),
        }));
    }

    let mut body = Vec::new();
    for name in ["Texte", "ListeSituations"] {
        if let Some(e) = root.child(name) {
            let mut wrapper = Element::named("Texte");
            wrapper.children.push(Node::Element(e.clone()));
            walk(&wrapper, &[], &mut body);
        }
    }
    // The first section: the introduction, then what the sheet covers.
    let mut chapters: Vec<&str> = Vec::new();
    for s in &body {
        if let Some(first) = s.context.first()
            && chapters.last() != Some(&first.as_str())
            && !chapters.contains(&first.as_str())
        {
            chapters.push(first);
        }
    }
    let mut first = introduction.clone();
    if !chapters.is_empty() {
        first.push_str("\n\nCette fiche aborde les points suivants :\n");
        first.push_str(
            &chapters
                .iter()
                .map(|c| format!("- {c}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    let mut sections = Vec::with_capacity(body.len() + 1);
    if !first.trim().is_empty() {
        sections.push(Section {
            context: Vec::new(),
            text: first,
        });
    }
    sections.extend(body);
    Ok(Some(Sheet {
        id,
        url,
        title: text_of("dc:title"),
        surtitle,
        audience: audience.join(", "),
        theme: theme.join(", "),
        description,
        introduction,
        date,
        related_questions: serde_json::Value::from(questions).to_string(),
        web_services: serde_json::Value::from(services).to_string(),
        sections,
    }))
}

/// Whether an entry is a sheet: `F*.xml` or `N*.xml`.
fn is_sheet(name: &str) -> bool {
    let base = base_name(name);
    (base.starts_with('F') || base.starts_with('N'))
        && base.ends_with(".xml")
        && base[1..base.len() - 4].bytes().all(|b| b.is_ascii_digit())
        && base.len() > 5
}

/// Sheets read per batch handed to a parsing thread.
const BATCH: usize = 64;

/// What one sheet gave: its input file, entry name, the hash of its bytes, and its parse.
type Parsed = (
    std::path::PathBuf,
    String,
    u64,
    Result<Option<Sheet>, String>,
);

/// Reads the sheets of `files` (archives or files) on one thread, parses them on every core,
/// and calls `each` with each one's `(file, entry name, xxh64 of its bytes, parse)` in the
/// order of the inputs. The first error of `each`, of reading or of cancellation stops it.
fn parse_in_order(
    files: &[std::path::PathBuf],
    limits: &crate::support::archive::ArchiveLimits,
    cancel: &tokio_util::sync::CancellationToken,
    mut each: impl FnMut(
        &std::path::Path,
        &str,
        u64,
        Result<Option<Sheet>, String>,
    ) -> Result<(), String>,
) -> Result<(), OpError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, mpsc};
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = AtomicBool::new(false);
    let (jobs, queue) =
        mpsc::sync_channel::<(usize, Vec<(std::path::PathBuf, String, Vec<u8>)>)>(threads * 2);
    let queue = Mutex::new(queue);
    std::thread::scope(|scope| {
        let (done, results) = mpsc::sync_channel::<(usize, Vec<Parsed>)>(threads * 2);
        for _ in 0..threads {
            let (queue, done) = (&queue, done.clone());
            scope.spawn(move || {
                loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok((n, batch)) = job else { return };
                    let parsed = batch
                        .into_iter()
                        .map(|(file, name, bytes)| {
                            let hash = twox_hash::XxHash64::oneshot(0, &bytes);
                            let sheet = parse_sheet(&bytes);
                            (file, name, hash, sheet)
                        })
                        .collect();
                    if done.send((n, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done);
        let reader = scope.spawn(|| {
            let jobs = jobs;
            let mut batch = Vec::with_capacity(BATCH);
            let mut n = 0;
            let read = for_each_input(files, limits, |file, name, reader| {
                if cancel.is_cancelled() {
                    return Err("cancelled".into());
                }
                if stop.load(Ordering::Relaxed) {
                    return Err("stopped".into());
                }
                if !is_sheet(name) {
                    return Ok(());
                }
                batch.push((file.to_path_buf(), name.to_string(), read_all(reader)?));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    jobs.send((n, full)).map_err(|_| "stopped".to_string())?;
                    n += 1;
                }
                Ok(())
            });
            if read.is_ok() && !batch.is_empty() {
                let _ = jobs.send((n, batch));
            }
            read
        });
        // Batches come back in any order: each is taken in its turn.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        let mut failed = None;
        for (n, parsed) in results {
            waiting.insert(n, parsed);
            while let Some(parsed) = waiting.remove(&next) {
                next += 1;
                for (file, name, hash, sheet) in parsed {
                    if failed.is_some() {
                        break;
                    }
                    if let Err(e) = each(&file, &name, hash, sheet) {
                        failed = Some(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            if failed.is_some() {
                // Drain what is still coming so that the threads can end.
                waiting.clear();
            }
        }
        let read = reader
            .join()
            .map_err(|_| OpError::internal("the archive reader panicked"))?;
        match failed {
            Some(e) => Err(OpError::data(e)),
            None => read,
        }
    })
}

#[async_trait]
impl Op for ParseServicePublic {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let files = self.inputs().resolve(ctx)?;
        let limits = self.archive_limits();
        let out = ctx.output()?.clone();
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let (info, counts) = blocking(move || {
            let mut w = RowWriter::new(&out, COLUMNS);
            let mut seen: HashMap<String, (String, u64)> = HashMap::new();
            let (mut sheets, mut skipped, mut duplicates, mut differing, mut sections) =
                (0u64, 0u64, 0u64, 0u64, 0u64);
            // The archive is read on one thread, its sheets parsed on every core, and what
            // they give written here in the archive's order: the same rows, the same first
            // sheet kept of a duplicated id, the same first error.
            parse_in_order(&files, &limits, &cancel, |file, name, hash, parsed| {
                let sheet = match parsed {
                    Ok(Some(s)) => s,
                    Ok(None) => {
                        skipped += 1;
                        return Ok(());
                    }
                    Err(e) => return Err(format!("{name}: {e}")),
                };
                if let Some((first, h)) = seen.get(&sheet.id) {
                    duplicates += 1;
                    if *h != hash {
                        differing += 1;
                        let _ = log.line(&format!(
                            "sheet {} of {} differs from the one kept (from {first}); the first is kept",
                            sheet.id,
                            file.display()
                        ));
                    }
                    return Ok(());
                }
                seen.insert(sheet.id.clone(), (file.display().to_string(), hash));
                sheets += 1;
                for (i, s) in sheet.sections.iter().enumerate() {
                    sections += 1;
                    w.push(vec![
                        sheet.id.clone().into(),
                        sheet.url.clone().into(),
                        sheet.title.clone().into(),
                        sheet.surtitle.clone().into(),
                        sheet.audience.clone().into(),
                        sheet.theme.clone().into(),
                        sheet.description.clone().into(),
                        sheet.introduction.clone().into(),
                        sheet.date.clone().into(),
                        "service-public".into(),
                        sheet.related_questions.clone().into(),
                        sheet.web_services.clone().into(),
                        Value::Int(i as i64 + 1),
                        Value::Texts(s.context.clone()),
                        s.text.clone().into(),
                    ])
                    .map_err(|e| e.to_string())?;
                }
                Ok(())
            })?;
            let info = w.finish()?;
            Ok((info, [sheets, skipped, duplicates, differing, sections]))
        })
        .await?;
        let [sheets, skipped, duplicates, differing, sections] = counts;
        let _ = ctx.log.line(&format!(
            "{sheets} sheets, {sections} sections; {skipped} skipped (Dossier, Recherche guidée), {duplicates} duplicate ids ({differing} with different content)"
        ));
        let metrics = crate::counters(&[
            ("documents", sheets),
            ("sections", sections),
            ("skipped", skipped),
            ("duplicates", duplicates),
            ("duplicates_differing", differing),
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

    const NAMES: &[&str] = &[
        "Texte",
        "Chapitre",
        "SousChapitre",
        "Situation",
        "ListeSituations",
        "Titre",
        "Paragraphe",
        "TitreFlottant",
        "Liste",
        "Item",
        "Tableau",
        "Rangée",
        "Cellule",
        "BlocCas",
        "Cas",
        "ANoter",
        "ASavoir",
        "ServiceEnLigne",
        "Source",
        "QuestionReponse",
        "Introduction",
        "dc:title",
        "dc:description",
        "dc:date",
        "SurTitre",
        "Audience",
        "Theme",
        "OuSAdresser",
    ];

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Random sheets (and random bytes) parse or fail without a panic; the text is a
        /// bounded multiple of the sheet.
        #[test]
        fn fuzz_service_public(
            doc in prop_oneof![
                xml::generate::document(
                    "<Publication ID=\"F1\" spUrl=\"https://x/F1\">",
                    "</Publication>",
                    NAMES,
                    &["type", "ID", "URL", "audience"],
                ),
                xml::generate::xml_soup().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ]
        ) {
            if let Ok(Some(sheet)) = parse_sheet(doc.as_bytes()) {
                let size: usize = sheet.sections.iter().map(|s| s.text.len() + s.context.concat().len()).sum::<usize>()
                    + sheet.introduction.len()
                    + sheet.related_questions.len()
                    + sheet.web_services.len();
                prop_assert!(size <= 256 * doc.len() + 4096, "{size} bytes from {}", doc.len());
            }
        }
    }

    #[test]
    fn sheet_names_are_f_or_n_then_digits() {
        assert!(is_sheet("F1119.xml"));
        assert!(is_sheet("x/N19806.xml"));
        assert!(!is_sheet("menu.xml"));
        assert!(!is_sheet("Schemas/3.4/Publication.xsd"));
        assert!(!is_sheet("Fiche.xml"));
    }

    #[test]
    fn tables_become_markdown_and_lists_bullets() {
        let sheet = parse_sheet(
            r#"<Publication ID="F1" spUrl="https://x/F1"><dc:title>T</dc:title>
            <Texte><Chapitre><Titre><Paragraphe>Montant</Paragraphe></Titre>
            <Tableau><Titre>Plafonds</Titre>
              <Rangée type="header"><Cellule><Paragraphe>Enfants</Paragraphe></Cellule><Cellule><Paragraphe>Plafond</Paragraphe></Cellule></Rangée>
              <Rangée type="normal"><Cellule><Paragraphe>1</Paragraphe></Cellule><Cellule><Paragraphe>26 300 €</Paragraphe></Cellule></Rangée>
            </Tableau>
            <Liste type="puce"><Item><Paragraphe>un</Paragraphe></Item><Item><Paragraphe>deux</Paragraphe></Item></Liste>
            <ANoter><Titre>À noter</Titre><Paragraphe>Rien.</Paragraphe></ANoter>
            </Chapitre></Texte></Publication>"#
                .as_bytes(),
        )
        .expect("parse")
        .expect("kept");
        assert_eq!(sheet.sections.len(), 2);
        assert_eq!(sheet.sections[1].context, vec!["Montant"]);
        assert_eq!(
            sheet.sections[1].text,
            "Plafonds\n| Enfants | Plafond |\n| --- | --- |\n| 1 | 26 300 € |\n\n- un\n- deux\n\n(À noter : Rien.)"
        );
    }

    #[test]
    fn sheets_parsed_on_every_core_come_back_in_the_archive_order() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let zip = dir.path().join("sheets.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip).expect("create"));
        let opts = zip::write::SimpleFileOptions::default();
        // 1,000 sheets (many batches), ids in a shuffled order; sheet 700 is broken.
        let ids: Vec<u32> = (0..1000u32).map(|i| (i * 7919) % 1000 + 1).collect();
        for (n, id) in ids.iter().enumerate() {
            z.start_file(format!("F{n}.xml"), opts).expect("entry");
            let body = if n == 700 {
                "<Publication".to_string()
            } else {
                format!(
                    "<Publication ID=\"F{id}\"><dc:title>T{id}</dc:title><Texte>\
                     <Paragraphe>p</Paragraphe></Texte></Publication>"
                )
            };
            z.write_all(body.as_bytes()).expect("write");
        }
        z.finish().expect("zip");
        let mut got = Vec::new();
        let cancel = tokio_util::sync::CancellationToken::new();
        let limits = crate::support::archive::ArchiveLimits::default();
        let err = parse_in_order(&[zip], &limits, &cancel, |_, name, _, sheet| {
            let sheet = sheet.map_err(|e| format!("{name}: {e}"))?;
            got.push(sheet.map(|s| s.id).unwrap_or_default());
            Ok(())
        })
        .expect_err("sheet 700 is broken");
        // Every sheet before the broken one, in order; none after it; its error first.
        let expected: Vec<String> = ids[..700].iter().map(|id| format!("F{id}")).collect();
        assert_eq!(got, expected);
        assert!(err.message.starts_with("F700.xml: "), "{}", err.message);
    }
}
