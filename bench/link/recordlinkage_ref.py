#!/usr/bin/env python3
"""Reference record linkage with the Python `recordlinkage` package (0.16), on a FEBRL4-shaped
pair of files: the same blocking and comparisons as bench/link/febrl4.yaml / synthetic.yaml.

    recordlinkage_ref.py DATA_DIR [--rules febrl4|synthetic] [--a dataset4a.csv] [--b dataset4b.csv]

Reads DATA_DIR/dataset4a.csv and DATA_DIR/dataset4b.csv (", "-separated, every value as text,
blanks trimmed, an empty value = missing), indexed by rec_id, then, each phase timed with
time.perf_counter:

  index     recordlinkage.Index(): the union of one block() per rule, equality on the rule's
            columns (a record with a missing value in them is in no block of that rule):
              febrl4     given_name | surname | soc_sec_id
              synthetic  date_of_birth | soc_sec_id | given_name + surname | surname + postcode
  compare   recordlinkage.Compare(): string(jarowinkler) on given_name, surname, address_1,
            address_2, suburb; exact on street_number, postcode, state; string(damerau_levenshtein)
            on date_of_birth and soc_sec_id (missing -> 0)
  classify  the unsupervised ECMClassifier(binarize=0.8).fit_predict

and scores the links against the truth hidden in the ids: two records match when they share
<n> in rec-<n>-org / rec-<n>-dup-<k>. Prints ONE JSON line on stdout:

  {"tool": "recordlinkage", "rules": ..., "records": ..., "candidates": ..., "links": ...,
   "true_pairs": ..., "precision": ..., "recall": ..., "f1": ..., "coverage": ...,
   "read_s": ..., "index_s": ..., "compare_s": ..., "classify_s": ..., "total_s": ...,
   "pairs_per_s": ...}

total_s = index_s + compare_s + classify_s (reading the files is read_s, apart, like sluice's
read_seconds / link_seconds); pairs_per_s = candidates / total_s; coverage = the share of the
true pairs among the candidates. Progress goes to stderr.
"""

import argparse
import json
import os
import re
import sys
import time
import warnings

import numpy as np
import pandas as pd
import recordlinkage

RULES = {
    "febrl4": [["given_name"], ["surname"], ["soc_sec_id"]],
    "synthetic": [["date_of_birth"], ["soc_sec_id"], ["given_name", "surname"],
                  ["surname", "postcode"]],
}
JARO_WINKLER = ["given_name", "surname", "address_1", "address_2", "suburb"]
EXACT = ["street_number", "postcode", "state"]
DAMERAU = ["date_of_birth", "soc_sec_id"]
ENTITY = re.compile(r"^rec-(\d+)-")


def log(msg, _t0=[time.perf_counter()]):
    print("[%7.2fs] %s" % (time.perf_counter() - _t0[0], msg), file=sys.stderr, flush=True)


def read(path):
    """A FEBRL file: every value a string, trimmed, "" -> NaN; indexed by rec_id."""
    df = pd.read_csv(path, sep=",", skipinitialspace=True, dtype=str, keep_default_na=False,
                     engine="c")
    df.columns = [c.strip() for c in df.columns]
    for c in df.columns:
        df[c] = df[c].str.strip()
    df = df.replace("", np.nan)
    return df.set_index("rec_id")


def entities(index):
    """The <n> of each rec-<n>-… id, as a numpy array of strings."""
    return index.str.extract(ENTITY, expand=False).to_numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="folder holding the two files")
    ap.add_argument("--rules", choices=sorted(RULES), default="febrl4",
                    help="blocking rules (default febrl4)")
    ap.add_argument("--a", default="dataset4a.csv", help="left file in DATA (default dataset4a.csv)")
    ap.add_argument("--b", default="dataset4b.csv", help="right file in DATA (default dataset4b.csv)")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)

    t = time.perf_counter()
    df_a = read(os.path.join(a.data, a.a))
    df_b = read(os.path.join(a.data, a.b))
    read_s = time.perf_counter() - t
    log("read %d + %d records" % (len(df_a), len(df_b)))

    t = time.perf_counter()
    indexer = recordlinkage.Index()
    for cols in RULES[a.rules]:
        indexer.block(left_on=cols if len(cols) > 1 else cols[0],
                      right_on=cols if len(cols) > 1 else cols[0])
    pairs = indexer.index(df_a, df_b)
    index_s = time.perf_counter() - t
    log("index: %d candidate pairs (%s)" % (len(pairs), " | ".join(
        " + ".join(c) for c in RULES[a.rules])))

    t = time.perf_counter()
    cmp = recordlinkage.Compare()
    for c in JARO_WINKLER:
        cmp.string(c, c, method="jarowinkler", label=c)
    for c in EXACT:
        cmp.exact(c, c, label=c)
    for c in DAMERAU:
        cmp.string(c, c, method="damerau_levenshtein", label=c)
    features = cmp.compute(pairs, df_a, df_b)
    compare_s = time.perf_counter() - t
    log("compare: %d x %d features" % features.shape)

    t = time.perf_counter()
    ecm = recordlinkage.ECMClassifier(binarize=0.8)
    links = ecm.fit_predict(features)
    classify_s = time.perf_counter() - t
    log("classify: %d links" % len(links))

    # truth
    ent_a = pd.Series(entities(df_a.index)).value_counts()
    ent_b = pd.Series(entities(df_b.index)).value_counts()
    true_pairs = int((ent_a * ent_b.reindex(ent_a.index, fill_value=0)).sum())

    def n_true(mi):
        if len(mi) == 0:
            return 0
        return int((entities(mi.get_level_values(0)) == entities(mi.get_level_values(1))).sum())

    tp = n_true(links)
    covered = n_true(pairs)
    precision = tp / len(links) if len(links) else 0.0
    recall = tp / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total_s = index_s + compare_s + classify_s
    out = {
        "tool": "recordlinkage", "version": recordlinkage.__version__, "rules": a.rules,
        "records": len(df_a) + len(df_b), "candidates": len(pairs), "links": len(links),
        "true_pairs": true_pairs, "true_links": tp,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "coverage": round(covered / true_pairs, 4) if true_pairs else None,
        "read_s": round(read_s, 3), "index_s": round(index_s, 3),
        "compare_s": round(compare_s, 3), "classify_s": round(classify_s, 3),
        "total_s": round(total_s, 3),
        "pairs_per_s": round(len(pairs) / total_s) if total_s else None,
    }
    log("precision %.4f recall %.4f F1 %.4f" % (precision, recall, f1))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
