#!/usr/bin/env python3
"""Reference implementation of the drug-mentions graph in pandas.

    pandas_ref.py DATA_DIR OUT_JSON

Reads DATA_DIR/{drugs.csv, pubmed.csv, pubmed.json, clinical_trials.csv}, applies the rules of
README.md and writes the graph (a JSON array, one object per drug, sorted by drug name) to
OUT_JSON. Written the way a data engineer would write it: pandas readers, .str cleaning,
mentions by tokenising the titles and joining the words with the drug names
(explode + merge), groupby for the trial merge and the per-drug lists.
"""

import hashlib
import json
import os
import re
import sys
import time

import pandas as pd

ESCAPE_RUN = re.compile(r"(?:\\x[0-9A-Fa-f]{2})+")
TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[\]}])')
MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"])}

FIELDS = ["id", "title", "date", "journal"]


def log(msg, _t0=[time.perf_counter()]):
    print("[%6.2fs] %s" % (time.perf_counter() - _t0[0], msg), file=sys.stderr)


# ---------------------------------------------------------------- cleaning

def _decode_run(m):
    """A maximal run of literal \\xNN escapes: its bytes as UTF-8, or nothing if invalid."""
    raw = bytes.fromhex(m.group(0).replace("\\x", "").replace("\\X", ""))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def clean_text(s):
    """Rule 1: decode \\xNN runs, trim, blank -> null. Returns an object Series (None = null)."""
    s = s.astype(object)
    s = s.where(s.notna(), "").astype(str)
    has_escape = s.str.contains("\\x", regex=False)
    if has_escape.any():
        s[has_escape] = s[has_escape].str.replace(ESCAPE_RUN, _decode_run, regex=True)
    s = s.str.strip()
    return s.where(s != "", None)


def parse_dates(s):
    """Rule 3: dd/mm/yyyy, yyyy-mm-dd, d Month yyyy -> yyyy-mm-dd. Unparseable -> error."""
    uniq = pd.Series(s.dropna().unique(), dtype=object)
    out = pd.Series(index=uniq.index, dtype=object)
    dmy = uniq.str.fullmatch(r"\d{2}/\d{2}/\d{4}")
    iso = uniq.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    long_ = uniq.str.fullmatch(r"\d{1,2} [A-Za-z]+ \d{4}")
    if dmy.any():
        out[dmy] = pd.to_datetime(uniq[dmy], format="%d/%m/%Y").dt.strftime("%Y-%m-%d")
    if iso.any():
        out[iso] = pd.to_datetime(uniq[iso], format="%Y-%m-%d").dt.strftime("%Y-%m-%d")
    if long_.any():
        parts = uniq[long_].str.split(" ", expand=True)
        month = parts[1].str.lower().map(MONTHS)
        if month.isna().any():
            raise ValueError("unknown month name in date(s): %r"
                             % list(uniq[long_][month.isna()][:5]))
        ymd = pd.DataFrame({"year": parts[2].astype(int), "month": month.astype(int),
                            "day": parts[0].astype(int)})
        out[long_] = pd.to_datetime(ymd).dt.strftime("%Y-%m-%d")
    bad = ~(dmy | iso | long_)
    if bad.any():
        raise ValueError("unparseable date(s): %r" % list(uniq[bad][:5]))
    mapping = dict(zip(uniq, out))
    return s.map(mapping).astype(object).where(s.notna(), None)


def drop_blank_rows(df):
    """Rule 1: a CSV row whose fields are all empty/whitespace is skipped."""
    blank = df.apply(lambda c: c.isna() | c.astype(str).str.strip().eq("")).all(axis=1)
    return df[~blank]


def read_csv(path, columns):
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                     encoding="utf-8")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError("%s: missing column(s) %s" % (path, missing))
    return drop_blank_rows(df[columns]).reset_index(drop=True)


def read_json_lenient(path):
    """A JSON array of objects; tolerates trailing commas before ] and } (outside strings)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = json.loads(TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text))
    if not isinstance(data, list):
        raise ValueError("%s: not a JSON array" % path)

    def as_text(v):  # rule 2: JSON numbers become their decimal text
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("%s: unexpected value %r" % (path, v))
        return str(v)

    rows = [[as_text(o.get(k)) for k in FIELDS] for o in data]
    return pd.DataFrame(rows, columns=FIELDS, dtype=object)


def clean_publications(df):
    for c in FIELDS:
        df[c] = clean_text(df[c])
    df["date"] = parse_dates(df["date"])
    return df


def generate_ids(df, source):
    """Rule 6: id = "gen-" + sha256("source|title|date|journal")[:12] where id is null."""
    missing = df["id"].isna()
    if missing.any():
        def gen(r):
            key = "%s|%s|%s|%s" % (source, r.title or "", r.date or "", r.journal or "")
            return "gen-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
        df.loc[missing, "id"] = [gen(r) for r in df[missing].itertuples()]
    return df


# ---------------------------------------------------------------- pipeline

def load(data_dir):
    drugs = read_csv(os.path.join(data_dir, "drugs.csv"), ["atccode", "drug"])
    drugs["atccode"] = clean_text(drugs["atccode"])
    drugs["drug"] = clean_text(drugs["drug"])
    if drugs["drug"].isna().any():
        log("warning: %d drug row(s) without a name skipped" % drugs["drug"].isna().sum())
        drugs = drugs[drugs["drug"].notna()]

    pm_csv = read_csv(os.path.join(data_dir, "pubmed.csv"), FIELDS)
    pm_json = read_json_lenient(os.path.join(data_dir, "pubmed.json"))
    pubmed = pd.concat([pm_csv, pm_json], ignore_index=True)       # rule 4
    pubmed = clean_publications(pubmed)
    pubmed["seq"] = range(len(pubmed))

    ct = read_csv(os.path.join(data_dir, "clinical_trials.csv"),
                  ["id", "scientific_title", "date", "journal"])
    ct = ct.rename(columns={"scientific_title": "title"})
    ct = clean_publications(ct)
    ct["seq"] = range(len(pubmed), len(pubmed) + len(ct))
    # rule 5: same (title, date) -> one trial, each field the first non-null in file order
    trials = (ct.groupby(["title", "date"], dropna=False, sort=False)
                .agg({"id": "first", "journal": "first", "seq": "min"})
                .reset_index())
    trials = trials.astype(object).where(trials.notna(), None)
    log("read: %d drugs, %d pubmed rows, %d trial rows -> %d trials"
        % (len(drugs), len(pubmed), len(ct), len(trials)))

    pubmed = generate_ids(pubmed, "pubmed")
    trials = generate_ids(trials, "clinical_trials")
    pubmed["source"] = "pubmed"
    trials["source"] = "clinical_trials"
    pubs = pd.concat([pubmed, trials[pubmed.columns]], ignore_index=True)
    return drugs, pubs


def mentions(drugs, pubs):
    """Rule 7: (drug, publication) pairs where the lower-cased drug name is a title word."""
    words = (pubs["title"].dropna().str.lower()
             .str.split(r"[\W_]+", regex=True)
             .explode())
    words = words[words.isin(set(drugs["drug"].str.lower()))]
    words = words.rename("word").rename_axis("pub").reset_index().drop_duplicates()
    d = drugs.assign(word=drugs["drug"].str.lower())[["drug", "word"]]
    m = words.merge(d, on="word")[["drug", "pub"]]
    return m.merge(pubs, left_on="pub", right_index=True).drop(columns=["pub"])


def build_graph(drugs, m):
    m = m.sort_values(["drug", "source", "date", "id", "seq"], na_position="first")
    m = m.astype(object).where(m.notna(), None)
    per_drug = {}
    for (drug, source), g in m.groupby(["drug", "source"], sort=False):
        per_drug.setdefault(drug, {})[source] = g[FIELDS].to_dict("records")
    j = (m.loc[m["journal"].notna(), ["drug", "journal", "date"]]
          .drop_duplicates()
          .sort_values(["drug", "journal", "date"], na_position="first"))
    journals = {drug: g[["journal", "date"]].to_dict("records")
                for drug, g in j.groupby("drug", sort=False)}

    graph = []
    for r in sorted(drugs.itertuples(index=False), key=lambda r: r.drug):
        got = per_drug.get(r.drug, {})
        graph.append({
            "drug": r.drug,
            "atccode": r.atccode,
            "pubmed": got.get("pubmed", []),
            "clinical_trials": got.get("clinical_trials", []),
            "journals": journals.get(r.drug, []),
        })
    return graph


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    data_dir, out = argv[1], argv[2]
    drugs, pubs = load(data_dir)
    m = mentions(drugs, pubs)
    log("%d publications, %d mentions" % (len(pubs), len(m)))
    graph = build_graph(drugs, m)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(graph, f, ensure_ascii=False)
        f.write("\n")
    log("wrote %s (%d drugs)" % (out, len(graph)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
