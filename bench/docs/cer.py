#!/usr/bin/env python3
"""Character error rate of OCR output against ground truth.

    cer.py TRUTH_DIR RESULTS.jsonl [-v]

cer(reference, hypothesis) = Levenshtein distance / len(reference), both texts with their
whitespace runs collapsed to one space and stripped. RESULTS.jsonl holds {"name" or "path",
"text"}; the truth of a result is TRUTH_DIR/<name>.txt, name being "name", else the folder
of "path" when the file is named page.* (OUT/doc-06-0001/page.png -> doc-06-0001), else the
file name without its extension. Prints the mean CER (with -v also one line per document and
the mean per class doc-CC). Needs numpy.
"""

import json
import os
import re
import sys

import numpy as np

_WS = re.compile(r"\s+")


def normalize(s):
    """Whitespace runs collapsed to one space, stripped."""
    return _WS.sub(" ", s).strip()


def levenshtein(a, b):
    """Edit distance: one numpy row per character of the shorter string; insertions within a
    row resolved with a running minimum (cur[j] = min_k<=j tmp[k] + j - k)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    av = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(a) + 1, dtype=np.int64)
    prev = idx.copy()
    tmp = np.empty_like(prev)
    for i, ch in enumerate(b, 1):
        tmp[0] = i
        np.minimum(prev[1:] + 1, prev[:-1] + (av != ord(ch)), out=tmp[1:])
        prev = np.minimum.accumulate(tmp - idx) + idx
    return int(prev[-1])


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of hypothesis against reference (0.0 when both are empty, 1.0
    when only the reference is)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)


def doc_name(obj):
    """The truth name of one result line."""
    if obj.get("name"):
        return obj["name"]
    p = obj["path"]
    base = os.path.basename(p)
    if base.startswith("page."):
        return os.path.basename(os.path.dirname(p))
    return os.path.splitext(base)[0]


def main(argv):
    verbose = "-v" in argv
    args = [x for x in argv if x != "-v"]
    if len(args) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    truth, results = args
    scores, per_class = [], {}
    with open(results, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            name = doc_name(obj)
            with open(os.path.join(truth, name + ".txt"), encoding="utf-8") as t:
                c = cer(t.read(), obj.get("text") or "")
            scores.append(c)
            per_class.setdefault(name[:6], []).append(c)
            if verbose:
                print("%s %.4f" % (name, c))
    if verbose:
        for k in sorted(per_class):
            print("%s mean %.4f (%d)" % (k, sum(per_class[k]) / len(per_class[k]),
                                         len(per_class[k])))
    print("mean CER %.4f over %d documents" % (sum(scores) / max(1, len(scores)), len(scores)))


if __name__ == "__main__":
    main(sys.argv[1:])
