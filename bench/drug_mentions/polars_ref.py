#!/usr/bin/env python3
"""The drug-mentions graph in Polars, with the lazy API.

    polars_ref.py DATA_DIR OUT_JSON

Reads DATA_DIR/{drugs.csv, pubmed.csv, pubmed.json, clinical_trials.csv}, applies the rules of
README.md and writes the graph (a JSON array, one object per drug, sorted by drug name) to
OUT_JSON, equal to pandas_ref.py's under compare.py. Written the way a Polars user would write
it: scan_csv, .str expressions for the cleaning, extract_all + explode + join for the mentions,
group_by for the trial merge and the per-drug lists; three collects (the cleaned inputs, whose
dates are checked there; the publications, used twice; the graph). Python per value
(map_elements) only where Polars has no expression, each said where it is: the \\xNN escape
decoding (on the values holding an escape only) and the sha256 of the generated ids (on the
publications without id only).
"""

import hashlib
import io
import os
import re
import sys
import time

import polars as pl

ESCAPE_RUN = re.compile(r"(?:\\x[0-9A-Fa-f]{2})+")
TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[\]}])')
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
# The characters Python's str.isspace() accepts, i.e. what pandas' .str.strip() trims
# (.str.strip_chars() without argument trims Rust's whitespace, which lacks \x1c-\x1f).
WHITESPACE = "".join(map(chr, [
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
    *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))

FIELDS = ["id", "title", "date", "journal"]


def log(msg, _t0=[time.perf_counter()]):
    print("[%6.2fs] %s" % (time.perf_counter() - _t0[0], msg), file=sys.stderr)


# ---------------------------------------------------------------- cleaning

def _decode_run(m):
    """A maximal run of literal \\xNN escapes: its bytes as UTF-8, or nothing if invalid."""
    try:
        return bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _decode_escapes(s):
    return ESCAPE_RUN.sub(_decode_run, s)


def clean_text(c):
    """Rule 1: decode \\xNN runs, trim, blank -> null."""
    # map_elements, unavoidable here: Polars has no regex replace with a function of the
    # match, and no lenient bytes -> text (a Binary -> String cast raises on invalid UTF-8,
    # even non-strict). Only the values holding "\x" reach Python: the others are null in
    # `escaped`, which map_elements skips, and coalesce keeps them as they are.
    escaped = pl.when(c.str.contains("\\x", literal=True)).then(c)
    decoded = pl.coalesce(escaped.map_elements(_decode_escapes, return_dtype=pl.String), c)
    stripped = decoded.str.strip_chars(WHITESPACE)
    return pl.when(stripped != "").then(stripped)


def iso_date(c):
    """Rule 3: dd/mm/yyyy, yyyy-mm-dd, d Month yyyy (full English month name, any case) ->
    a Date. Each form is told by its regex, then parsed non-strict: a value no form takes, an
    unknown month or an impossible day is left null here, and reported by bad_dates()."""
    months = "|".join(MONTHS)
    return (pl.when(c.str.contains(r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"))
              .then(c.str.to_date("%d/%m/%Y", strict=False))
              .when(c.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
              .then(c.str.to_date("%Y-%m-%d", strict=False))
              .when(c.str.contains(r"^[0-9]{1,2} (?i:%s) [0-9]{4}$" % months))
              .then(c.str.to_date("%d %B %Y", strict=False)))


def clean_publications(lf):
    """Rule 1 on every field, rule 3 on the date (the cleaned text kept as date_text for the
    error message)."""
    lf = lf.with_columns(clean_text(pl.col(c)) for c in FIELDS)
    return lf.with_columns(date_text=pl.col("date"),
                           date=iso_date(pl.col("date")).dt.to_string("%Y-%m-%d"))


def bad_dates(df):
    """The non-null dates that are not one of the accepted forms."""
    return df.filter(pl.col("date_text").is_not_null() & pl.col("date").is_null())["date_text"]


def _gen_id(key):
    return "gen-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def with_generated_ids(lf, source):
    """Rule 6: id = "gen-" + sha256("source|title|date|journal")[:12] where id is null."""
    # map_elements, unavoidable here: Polars has no sha256 expression (.hash() is not a
    # cryptographic digest). The key is null, so skipped, where the id is present.
    key = pl.when(pl.col("id").is_null()).then(pl.concat_str(
        [pl.lit(source)] + [pl.col(c).fill_null("") for c in ("title", "date", "journal")],
        separator="|"))
    return lf.with_columns(
        id=pl.coalesce("id", key.map_elements(_gen_id, return_dtype=pl.String)),
        source=pl.lit(source))


# ---------------------------------------------------------------- inputs

def scan_csv(path, columns):
    """Every field as text; the rows whose fields are all empty/whitespace skipped (rule 1).
    seq = the row's position in the file; a short row (the last line holding only a tab) is
    padded with nulls."""
    lf = (pl.scan_csv(path, infer_schema=False, row_index_name="seq",
                      truncate_ragged_lines=True)
            .select(["seq"] + columns))
    blank = [pl.col(c).str.strip_chars(WHITESPACE).fill_null("") == "" for c in columns]
    return lf.filter(~pl.all_horizontal(blank))


def scan_json_lenient(path):
    """A JSON array of objects; tolerates trailing commas before ] and } (outside strings).
    Read eagerly (Polars has no lazy reader for a JSON array), and Polars' JSON reader is
    strict, so on failure the text is fixed with the regex of pandas_ref.py (unmatched groups
    of the template are empty). Read as String, JSON numbers become their decimal text
    (rule 2; but Polars writes an integral float such as 1e3 as "1000", Python "1000.0")."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    schema = {c: pl.String for c in FIELDS}
    try:
        df = pl.read_json(io.StringIO(text), schema=schema)
    except pl.exceptions.PolarsError:
        df = pl.read_json(io.StringIO(TRAILING_COMMA.sub(r"\1\2", text)), schema=schema)
    return df.lazy().with_row_index("seq")


def load(data_dir):
    """The drugs (named ones) and the publications of both sources, as DataFrames: the reads
    and the cleaning run as one collect_all, the trial merge and the ids as a second collect
    (the publications are used twice by mentions(), so they are materialized once)."""
    drugs = scan_csv(os.path.join(data_dir, "drugs.csv"), ["atccode", "drug"])
    drugs = drugs.with_columns(clean_text(pl.col("atccode")), clean_text(pl.col("drug")))

    # rule 4: the rows of pubmed.csv, then the objects of pubmed.json
    pm_csv = scan_csv(os.path.join(data_dir, "pubmed.csv"), FIELDS)
    pm_json = scan_json_lenient(os.path.join(data_dir, "pubmed.json"))
    pubmed = (pl.concat([pm_csv.drop("seq"), pm_json.drop("seq")])
                .with_row_index("seq"))
    pubmed = clean_publications(pubmed)

    ct = (scan_csv(os.path.join(data_dir, "clinical_trials.csv"),
                   ["id", "scientific_title", "date", "journal"])
            .rename({"scientific_title": "title"}))
    ct = clean_publications(ct)

    drugs, pubmed, ct = pl.collect_all([drugs, pubmed, ct])
    bad = pl.concat([bad_dates(pubmed), bad_dates(ct)])
    if len(bad):
        raise ValueError("unparseable date(s) (unknown form, month name or day): %r"
                         % bad.to_list()[:5])
    if drugs["drug"].null_count():
        log("warning: %d drug row(s) without a name skipped" % drugs["drug"].null_count())
        drugs = drugs.filter(pl.col("drug").is_not_null())

    # rule 5: same (title, date) -> one trial, each field the first non-null in file order;
    # null keys group together; the trial sits where its first row was (seq)
    trials = (ct.lazy().group_by(["title", "date"], maintain_order=True)
                .agg(pl.col("id").drop_nulls().first(), pl.col("journal").drop_nulls().first(),
                     pl.col("seq").min()))
    columns = ["source", "seq"] + FIELDS
    pubs, n_trials = pl.collect_all([
        pl.concat([with_generated_ids(pubmed.lazy(), "pubmed").select(columns),
                   with_generated_ids(trials, "clinical_trials").select(columns)]),
        trials.select(pl.len())])
    log("read: %d drugs, %d pubmed rows, %d trial rows -> %d trials"
        % (len(drugs), len(pubmed), len(ct), n_trials.item()))
    return drugs, pubs


# ---------------------------------------------------------------- pipeline

def mentions(drugs, pubs):
    """Rule 7: (drug, publication) pairs where the lower-cased drug name is a title word. The
    words: runs of Unicode letters and digits, i.e. the pieces of Python's [\\W_]+ split."""
    d = drugs.select("drug", word=pl.col("drug").str.to_lowercase())
    words = (pubs.filter(pl.col("title").is_not_null())
                 .select("source", "seq",
                         word=pl.col("title").str.to_lowercase().str.extract_all(r"[\p{L}\p{N}]+"))
                 .explode("word")
                 .join(d, on="word", how="semi")
                 .unique())
    return words.join(d, on="word").join(pubs, on=["source", "seq"]).drop("word")


def build_graph(drugs, m):
    """Per drug: its publications of each source sorted by (date, id), ties in file order, and
    its distinct (journal, date) pairs; null first; strings by code point. group_by keeps
    the order of the rows within each group."""
    m = m.sort(["date", "id", "seq"], nulls_last=False)
    pub = pl.struct(FIELDS)
    lists = m.group_by("drug").agg(
        pubmed=pub.filter(pl.col("source") == "pubmed"),
        clinical_trials=pub.filter(pl.col("source") == "clinical_trials"))
    journals = (m.filter(pl.col("journal").is_not_null())
                 .select("drug", "journal", "date").unique()
                 .sort(["journal", "date"], nulls_last=False)
                 .group_by("drug").agg(journals=pl.struct("journal", "date")))
    return (drugs.join(lists, on="drug", how="left")
                 .join(journals, on="drug", how="left")
                 .sort(["drug", "seq"])
                 .select("drug", "atccode",
                         *(pl.col(c).fill_null([]) for c in ("pubmed", "clinical_trials",
                                                             "journals"))))


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    data_dir, out = argv[1], argv[2]
    drugs, pubs = load(data_dir)
    graph = build_graph(drugs.lazy(), mentions(drugs.lazy(), pubs.lazy())).collect()
    n_mentions = graph.select(pl.sum_horizontal(
        pl.col(c).list.len().sum() for c in ("pubmed", "clinical_trials"))).item()
    log("%d publications, %d mentions" % (len(pubs), n_mentions))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    graph.write_json(out)
    log("wrote %s (%d drugs)" % (out, len(graph)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
