#!/usr/bin/env python3
"""Python reference for the service-public sheets benchmark: mediatech's parse + chunk.

    reference.py ZIP --tokenizer PATH/tokenizer.json [--size 256] --out OUT.parquet

Reads the vosdroits zip the way mediatech reads its unpacked folder (spec:
../shared/reference/mediatech.md section 3, "service-public sheets" and "Sheets chunking"):

 1. Members whose file name starts with F or N and ends with .xml, in zip order (the
    generator stores them in name order, which is mediatech's sorted() order). Each is parsed
    with BeautifulSoup(xml, "xml") (lxml).
 2. Metadata, each element removed from the tree once read: url = Publication@spUrl,
    sid = last segment of url; audience / theme = the texts of *all* Audience / Theme elements
    (anywhere, so also the Theme inside VoirAussi/Fiche), joined ", "; surtitle = first
    SurTitre; subject = dc:subject; title = dc:title; description = dc:description;
    introduction = Introduction (falls back to description). Texts are get_text(" ",
    strip=True), NFKC-normalised.
 3. OuSAdresser and RefActualite removed; related_questions from QuestionReponse (question,
    sid = @ID, url from @audience) and web_services from ServiceEnLigne with a URL (title,
    institution = Source, url, type), each de-duplicated (first kept) on question / title;
    then ServiceEnLigne, QuestionReponse (and again OuSAdresser, RefActualite) removed.
 4. Sections: walk of the Publication's Texte / ListeSituations children (see walk() below),
    the introduction opening the first section, which also gets the lead-in and a
    "- <title>" line per distinct top-level Chapitre title.
 5. Sheets are de-duplicated on sid (first kept, counted over every parsed sheet); sheets
    without sections, or with surtitle "Dossier" or "Recherche guidée", give no chunk.
 6. Each section is split with LangChain's RecursiveCharacterTextSplitter(separators=["\\n\\n",
    "\\n", " ", ""], chunk_size=SIZE, chunk_overlap=0, length_function=number of tokens of the
    HF tokenizer loaded from tokenizer.json, add_special_tokens=False, no truncation, no
    padding). chunk_index runs across the sheet from 1; chunk_id = <sid>_<chunk_index>;
    chunk_text = title + "\\n" + fragment; chunk_xxh64 = XXH64 (seed 2025, hex) of the UTF-8
    chunk_text; a chunk whose hash was already seen (in any sheet) is dropped, as in mediatech
    (which keeps the hashes in a list; a set here), and does not use up a chunk_index.
 7. All chunks are written to OUT.parquet (pyarrow, zstd), in row groups of 50,000 chunks.

Prints one JSON line on stdout: {"documents": sheets parsed (F*/N* members), "chunks",
"seconds" (from the start of main() to the parquet file closed, imports excluded),
"input_bytes" (uncompressed bytes of the parsed members), plus "sheets_chunked",
"skipped_surtitle", "skipped_empty", "duplicate_sids", "duplicate_chunks", "sections"}.
"""

import argparse
import json
import os
import string
import sys
import time
import unicodedata
import zipfile

from bs4 import BeautifulSoup
from bs4.element import NavigableString
from langchain_text_splitters import RecursiveCharacterTextSplitter
import pyarrow as pa
import pyarrow.parquet as pq
from tokenizers import Tokenizer
import xxhash

LEAD_IN = "\n\nVoici une liste de différentes questions ou thématiques relatives à ce sujet :\n"
SKIPPED_SURTITLES = ("Dossier", "Recherche guidée")
AUDIENCE_PATHS = {"Associations": "associations", "Particuliers": "particuliers",
                  "Professionnels": "professionnels-entreprises"}
SECTION_TAGS = ("Situation", "Chapitre", "SousChapitre")
NOTE_TAGS = ("ANoter", "ASavoir", "Attention", "Rappel")
ROW_GROUP = 50000


# ------------------------------------------------------------------ text helpers

def nfkc(s):
    return unicodedata.normalize("NFKC", s)


def text_of(node):
    """A string node stripped, or an element's text pieces joined by one space; NFKC."""
    if isinstance(node, NavigableString):
        return nfkc(node.strip())
    return nfkc(node.get_text(" ", strip=True))


def take(tag, name, direct=False):
    """Text of the first `name` element under `tag` (direct children only when `direct`),
    removed from the tree; "" when there is none."""
    found = tag.find(name, recursive=not direct)
    if found is None:
        return ""
    found.extract()
    return text_of(found)


def take_all(tag, name):
    out = []
    for found in tag.find_all(name):
        found.extract()
        out.append(text_of(found))
    return out


def no_final_punct(s):
    """True when s (stripped) ends with something else than ASCII punctuation; False for ""."""
    return s.strip()[-1:] not in string.punctuation


def unique_by(items, key):
    seen, out = set(), []
    for it in items:
        if it[key] not in seen:
            seen.add(it[key])
            out.append(it)
    return out


def table_markdown(tableau):
    """Header rows (each followed by a "- |" separator row), then the normal rows."""
    lines = []
    for row in tableau.find_all("Rangée", {"type": "header"}):
        cells = row.find_all("Cellule")
        lines.append("| " + "".join(text_of(c) + " | " for c in cells) + "\n")
        lines.append("| " + "- | " * len(cells) + "\n")
    for row in tableau.find_all("Rangée", {"type": "normal"}):
        lines.append("| " + "".join(text_of(c) + " | " for c in row.find_all("Cellule")) + "\n")
    return "".join(lines)


# ------------------------------------------------------------------ the structured walk

def walk(pending, context, nodes, split=True, top=True):
    """Cut the children of `nodes` into sections [{"text": [pieces], "context": [titles]}].

    `pending` holds the pieces not yet assigned to a section (they go in front of the next
    one). A Situation / Chapitre / SousChapitre child (while `split`) closes the pending
    section and opens its own, its direct Titre appended to the context; inside a
    SousChapitre nothing splits any more. BlocCas -> "\\nCas <titre>: <content>\\n..." and
    Liste -> "\\n- <content>\\n..." (content = the pieces of the Cas / Item joined by spaces),
    Tableau -> "\\n<titre>[:]\\n<markdown table>", ANoter / ASavoir / Attention / Rappel ->
    "(<titre>: <text>)\\n", a Titre met in the flow -> "<titre>[:]". Any other element is
    walked with the pending pieces flowing through it; its result in the same context is
    merged back into the pending pieces (a Paragraphe outside an Item / Cellule whose text
    does not end with punctuation gets ":", a non-split Chapitre / SousChapitre / Cas /
    Situation gets "\\n"), sections it opened in deeper contexts follow the pending section.
    At the top level the pieces of each section are glued (see glue()).
    """
    sections = []
    for node in nodes:
        if isinstance(node, NavigableString):
            pending.append(text_of(node))
            sections.append({"text": pending, "context": context})
            pending = []
            continue
        for child in node.children:
            pending = [p for p in pending if p]
            if isinstance(child, NavigableString):
                pending.append(text_of(child))
                continue
            name = child.name
            if split and name in SECTION_TAGS:
                if pending:
                    sections.append({"text": pending, "context": context})
                    pending = []
                title = take(child, "Titre", direct=True)
                sub_context = context + [title] if title else context
                sections.extend(walk([], sub_context, [child],
                                     split=name != "SousChapitre", top=False))
            elif name in ("BlocCas", "Liste"):
                wanted = "Cas" if name == "BlocCas" else "Item"
                block = "\n"
                for sub in child.children:
                    if sub.name != wanted:
                        continue
                    if name == "BlocCas":
                        title = take(sub, "Titre", direct=True)
                    inner = walk([], context, [sub], split=False, top=False)
                    content = " ".join(" ".join(s["text"]) for s in inner).strip()
                    block += ("Cas %s: %s\n" % (title, content) if name == "BlocCas"
                              else "- %s\n" % content)
                pending.append(block)
            elif name == "Tableau":
                title = take(child, "Titre", direct=True)
                colon = ":" if no_final_punct(title) else ""
                pending.append("\n%s%s\n%s" % (title, colon, table_markdown(child)))
            elif name in NOTE_TAGS:
                title = take(child, "Titre", direct=True)
                pending.append("(%s%s%s)\n" % (title, ": " if title else "", text_of(child)))
            elif name == "Titre":
                title = text_of(child)
                pending.append(title + (":" if no_final_punct(title) else ""))
            else:
                inner = walk(pending, context, [child], split=split, top=False)
                pending = []
                deeper = []
                for s in inner:
                    if len(s["context"]) != len(context):
                        deeper.append(s)
                        continue
                    pieces = s["text"]
                    if name in SECTION_TAGS or name == "Cas":
                        pieces[-1] += "\n"
                    elif (name == "Paragraphe" and child.parent.name not in ("Item", "Cellule")
                          and no_final_punct(pieces[-1])):
                        pieces[-1] += ":"
                    pending.extend(pieces)
                if deeper:
                    sections.append({"text": pending, "context": context})
                    pending = []
                    sections.extend(deeper)
        if pending:
            sections.append({"text": pending, "context": context})
            pending = []
    if top:
        sections = [s for s in sections if "".join(s["text"])]
        for s in sections:
            s["text"] = glue(s["text"])
    return sections


def glue(pieces):
    """Join pieces: no space before a piece starting with . , ; (except the first), none
    around a newline, one space otherwise; then strip."""
    out = ""
    for i, p in enumerate(pieces):
        if not p:
            continue
        if i > 0 and p.startswith((".", ",", ";")):
            out += p
        elif p.startswith("\n") or out.endswith("\n"):
            out += p
        else:
            out += " " + p
    return out.strip()


# ------------------------------------------------------------------ one sheet

def parse_sheet(xml):
    soup = BeautifulSoup(xml, "xml")
    pub = soup.find("Publication")
    url = pub.get("spUrl", "") if pub is not None else ""
    doc = {
        "url": url,
        "audience": ", ".join(take_all(soup, "Audience")),
        "theme": ", ".join(take_all(soup, "Theme")),
        "surtitle": take(soup, "SurTitre"),
        "subject": take(soup, "dc:subject"),
        "title": take(soup, "dc:title"),
        "description": take(soup, "dc:description"),
        "introduction": take(soup, "Introduction"),
    }
    if not doc["introduction"]:
        doc["introduction"] = doc["description"]
    doc["sid"] = url.split("/")[-1]

    take_all(soup, "OuSAdresser")
    take_all(soup, "RefActualite")
    questions = [{"question": text_of(q), "sid": q["ID"],
                  "url": "https://www.service-public.fr/%s/vosdroits/%s"
                         % (AUDIENCE_PATHS[q["audience"]], q["ID"])}
                 for q in soup.find_all("QuestionReponse")]
    doc["related_questions"] = unique_by(questions, "question")
    services = []
    for s in soup.find_all("ServiceEnLigne"):
        if not s.get("URL"):
            continue
        t = s.find("Titre")
        if t is None:
            continue
        src = s.find("Source")
        services.append({"title": nfkc(t.get_text(" ", strip=True)),
                         "institution": nfkc(src.get_text(" ", strip=True)) if src else "",
                         "url": s["URL"], "type": s["type"]})
    doc["web_services"] = unique_by(services, "title")
    for name in ("OuSAdresser", "ServiceEnLigne", "QuestionReponse", "RefActualite"):
        take_all(soup, name)

    # top-level Chapitre titles, read before the walk removes the Titre elements
    chapters = [text_of(c.Titre) for c in soup.find_all("Chapitre")
                if c.Titre and not c.find_parent("Chapitre")]
    chapters = list(dict.fromkeys(chapters))
    roots = [child for p in soup.find_all("Publication") for child in p.children
             if child.name in ("Texte", "ListeSituations")]
    sections = walk([doc["introduction"]], [], roots)
    if sections and chapters:
        sections[0]["text"] += LEAD_IN + "\n".join("- " + c for c in chapters)
    doc["sections"] = sections
    return doc


# ------------------------------------------------------------------ main

COLUMNS = ["chunk_id", "doc_id", "chunk_index", "source", "url", "title", "surtitle",
           "audience", "theme", "description", "introduction", "context", "text",
           "chunk_text", "chunk_xxh64", "related_questions", "web_services"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="mediatech-style parse + chunk of a vosdroits zip")
    ap.add_argument("zip")
    ap.add_argument("--tokenizer", required=True, help="HF tokenizer.json")
    ap.add_argument("--size", type=int, default=256, help="chunk size in tokens (default 256)")
    ap.add_argument("--out", required=True, help="output parquet file")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    tok = Tokenizer.from_file(a.tokenizer)
    tok.no_truncation()          # tokenizer.json may carry truncation / padding settings
    tok.no_padding()

    def n_tokens(text):
        return len(tok.encode(text, add_special_tokens=False).ids)

    splitter = RecursiveCharacterTextSplitter(separators=["\n\n", "\n", " ", ""],
                                              chunk_size=a.size, chunk_overlap=0,
                                              length_function=n_tokens)
    schema = pa.schema([
        ("chunk_id", pa.string()), ("doc_id", pa.string()), ("chunk_index", pa.int32()),
        ("source", pa.string()), ("url", pa.string()), ("title", pa.string()),
        ("surtitle", pa.string()), ("audience", pa.string()), ("theme", pa.string()),
        ("description", pa.string()), ("introduction", pa.string()),
        ("context", pa.list_(pa.string())), ("text", pa.string()), ("chunk_text", pa.string()),
        ("chunk_xxh64", pa.string()), ("related_questions", pa.string()),
        ("web_services", pa.string())])
    writer = pq.ParquetWriter(a.out, schema, compression="zstd")
    batch = {c: [] for c in COLUMNS}
    stats = {"documents": 0, "chunks": 0, "input_bytes": 0, "sheets_chunked": 0,
             "skipped_surtitle": 0, "skipped_empty": 0, "duplicate_sids": 0,
             "duplicate_chunks": 0, "sections": 0}
    seen_sids, seen_hashes = set(), set()

    def flush():
        if batch["chunk_id"]:
            writer.write_table(pa.table(batch, schema=schema))
            for c in COLUMNS:
                batch[c] = []

    with zipfile.ZipFile(a.zip) as zf:
        for info in zf.infolist():
            base = os.path.basename(info.filename)
            if info.is_dir() or not base.endswith(".xml") or not base.startswith(("F", "N")):
                continue
            xml = zf.read(info)
            stats["documents"] += 1
            stats["input_bytes"] += len(xml)
            doc = parse_sheet(xml)
            if doc["sid"] in seen_sids:
                stats["duplicate_sids"] += 1
                continue
            seen_sids.add(doc["sid"])
            if not doc["sections"]:
                stats["skipped_empty"] += 1
                continue
            if doc["surtitle"] in SKIPPED_SURTITLES:
                stats["skipped_surtitle"] += 1
                continue
            stats["sheets_chunked"] += 1
            stats["sections"] += len(doc["sections"])
            questions = json.dumps(doc["related_questions"], ensure_ascii=False)
            services = json.dumps(doc["web_services"], ensure_ascii=False)
            index = 1
            for section in doc["sections"]:
                for fragment in splitter.split_text(section["text"]):
                    if not fragment:
                        continue
                    chunk_text = doc["title"] + "\n" + fragment
                    h = xxhash.xxh64(chunk_text.encode("utf-8"), seed=2025).hexdigest()
                    if h in seen_hashes:
                        stats["duplicate_chunks"] += 1
                        continue
                    seen_hashes.add(h)
                    for c, v in (("chunk_id", "%s_%d" % (doc["sid"], index)),
                                 ("doc_id", doc["sid"]), ("chunk_index", index),
                                 ("source", "service-public"), ("url", doc["url"]),
                                 ("title", doc["title"]), ("surtitle", doc["surtitle"]),
                                 ("audience", doc["audience"]), ("theme", doc["theme"]),
                                 ("description", doc["description"]),
                                 ("introduction", doc["introduction"]),
                                 ("context", section["context"]), ("text", fragment),
                                 ("chunk_text", chunk_text), ("chunk_xxh64", h),
                                 ("related_questions", questions), ("web_services", services)):
                        batch[c].append(v)
                    stats["chunks"] += 1
                    index += 1
                    if len(batch["chunk_id"]) >= ROW_GROUP:
                        flush()
    flush()
    writer.close()
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    out = {k: stats[k] for k in ("documents", "chunks", "seconds", "input_bytes")}
    out.update({k: v for k, v in stats.items() if k not in out})
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
