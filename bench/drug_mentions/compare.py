#!/usr/bin/env python3
"""Compare two drug-mentions graphs.

    compare.py A.json B.json [--max-diffs N]

Exits 0 when both files hold the same graph: the same drugs in the same order, and for each
drug the same atccode and the same pubmed / clinical_trials / journals lists, element by
element in the same order (objects compared by value: key order and JSON formatting do not
matter). Otherwise prints the first differences (default 20) and a summary, and exits 1.
Exit 2 on unreadable input. Standard library only.
"""

import argparse
import json
import sys

LISTS = ("pubmed", "clinical_trials", "journals")


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            g = json.load(f)
    except (OSError, ValueError) as e:
        print("%s: cannot read: %s" % (path, e), file=sys.stderr)
        sys.exit(2)
    if not isinstance(g, list) or not all(isinstance(d, dict) for d in g):
        print("%s: not a JSON array of objects" % path, file=sys.stderr)
        sys.exit(2)
    return g


def short(v, n=240):
    s = json.dumps(v, ensure_ascii=False, sort_keys=True)
    return s if len(s) <= n else s[: n - 3] + "..."


def compare(a, b, max_diffs):
    diffs = []

    def diff(msg):
        diffs.append(msg)
        return len(diffs) >= max_diffs

    names_a = [d.get("drug") for d in a]
    names_b = [d.get("drug") for d in b]
    if names_a != names_b:
        sa, sb = set(names_a), set(names_b)
        only_a, only_b = sorted(sa - sb, key=str), sorted(sb - sa, key=str)
        if only_a:
            diff("drugs only in A (%d): %s" % (len(only_a), short(only_a)))
        if only_b:
            diff("drugs only in B (%d): %s" % (len(only_b), short(only_b)))
        for i, (x, y) in enumerate(zip(names_a, names_b)):
            if x != y:
                diff("drug order differs first at index %d: A %r, B %r" % (i, x, y))
                break
        if len(names_a) != len(names_b):
            diff("number of drugs: A %d, B %d" % (len(names_a), len(names_b)))

    b_by_name = {}
    for d in b:
        b_by_name.setdefault(d.get("drug"), d)
    for da in a:
        name = da.get("drug")
        db = b_by_name.get(name)
        if db is None:
            continue
        keys = set(da) | set(db)
        for k in sorted(keys - {"drug", *LISTS}):
            if da.get(k) != db.get(k):
                if diff("%s: %s: A %s, B %s" % (name, k, short(da.get(k)), short(db.get(k)))):
                    return diffs
        for k in LISTS:
            la, lb = da.get(k), db.get(k)
            if la == lb:
                continue
            if not isinstance(la, list) or not isinstance(lb, list):
                if diff("%s: %s: A %s, B %s" % (name, k, short(la), short(lb))):
                    return diffs
                continue
            if len(la) != len(lb):
                if diff("%s: %s: %d items in A, %d in B" % (name, k, len(la), len(lb))):
                    return diffs
            for i, (x, y) in enumerate(zip(la, lb)):
                if x != y:
                    if diff("%s: %s[%d]:\n    A %s\n    B %s" % (name, k, i, short(x), short(y))):
                        return diffs
                    break
            if len(la) != len(lb):
                ids_a = {json.dumps(x, sort_keys=True) for x in la}
                ids_b = {json.dumps(x, sort_keys=True) for x in lb}
                for x in la:
                    if json.dumps(x, sort_keys=True) not in ids_b:
                        if diff("%s: %s: only in A: %s" % (name, k, short(x))):
                            return diffs
                        break
                for y in lb:
                    if json.dumps(y, sort_keys=True) not in ids_a:
                        if diff("%s: %s: only in B: %s" % (name, k, short(y))):
                            return diffs
                        break
    return diffs


def summary(g):
    pm = sum(len(d.get("pubmed") or []) for d in g)
    ct = sum(len(d.get("clinical_trials") or []) for d in g)
    j = sum(len(d.get("journals") or []) for d in g)
    return "%d drugs, %d pubmed + %d clinical_trials mentions, %d journal entries" % (len(g), pm, ct, j)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare two drug-mentions graphs (exit 0 = equal).")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--max-diffs", type=int, default=20)
    args = ap.parse_args(argv)
    a, b = load(args.a), load(args.b)
    if a == b:
        print("equal: %s" % summary(a))
        return 0
    diffs = compare(a, b, max(1, args.max_diffs))
    print("DIFFERENT: A = %s: %s" % (args.a, summary(a)))
    print("           B = %s: %s" % (args.b, summary(b)))
    for d in diffs or ["(graphs differ in some other way)"]:
        print("  - " + d)
    return 1


if __name__ == "__main__":
    sys.exit(main())
