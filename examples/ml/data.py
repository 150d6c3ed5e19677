#!/usr/bin/env python3
"""The labelled tables of examples/ml/: two real data sets that ship inside the scikit-learn
wheel, written as CSV files with snake_case headers and a text `label` column.

    python3 examples/ml/data.py [--out examples/ml/data] [--cache DIR]

  breast_cancer.csv  569 rows: 30 measurements of cell nuclei (`mean_radius` ...
                     `worst_fractal_dimension`), `label` "malignant" (212) or "benign" (357)
                     (Wisconsin Diagnostic Breast Cancer, UCI).
  wine.csv           178 rows: 13 chemical measurements (`alcohol` ... `proline`), `label`
                     "class_0" (59), "class_1" (71) or "class_2" (48): three cultivars
                     (UCI Wine).

Where the files come from: scikit-learn's `sklearn/datasets/data/breast_cancer.csv` and
`wine_data.csv`. Their first line is `rows,features,class name,class name,...`, then one row
per sample: the features, then the class as an integer code (an index into the class
names). The feature names are not in the files (scikit-learn's loaders hold them): they are
below, as scikit-learn spells them, turned into snake_case ("mean concave points" ->
mean_concave_points, "od280/od315_of_diluted_wines" -> od280_od315_of_diluted_wines).

1. An installed scikit-learn (found with importlib, not imported: neither it nor numpy is
   needed): the files are read from its package folder.
2. Otherwise `python3 -m pip download scikit-learn==1.9.1 --no-deps --only-binary=:all: -d
   CACHE` (default CACHE: OUT/.wheel), and the two files are read straight from the wheel
   with zipfile: nothing is installed, nothing but PyPI is reached. When pip finds no wheel
   for this Python, it asks for the manylinux x86_64 CPython 3.12 wheel (the data files are
   the same in every wheel).

Values are copied as the files have them (no float formatting). Standard library only.
Exit status 0, or 1 with the reason (no scikit-learn and no pip / no network, a file that
does not have the expected shape).
"""

import argparse
import csv
import glob
import importlib.util
import io
import os
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "1.9.1"

BREAST_CANCER = [
    "mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
    "mean compactness", "mean concavity", "mean concave points", "mean symmetry",
    "mean fractal dimension", "radius error", "texture error", "perimeter error",
    "area error", "smoothness error", "compactness error", "concavity error",
    "concave points error", "symmetry error", "fractal dimension error", "worst radius",
    "worst texture", "worst perimeter", "worst area", "worst smoothness",
    "worst compactness", "worst concavity", "worst concave points", "worst symmetry",
    "worst fractal dimension"]
WINE = [
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
    "od280/od315_of_diluted_wines", "proline"]
# output file: (file in sklearn/datasets/data/, feature names)
SETS = {"breast_cancer.csv": ("breast_cancer.csv", BREAST_CANCER),
        "wine.csv": ("wine_data.csv", WINE)}


class Failure(Exception):
    pass


def snake(name):
    out, prev = [], "_"
    for ch in name.strip().lower():
        ch = ch if ch.isalnum() else "_"
        if ch != "_" or prev != "_":
            out.append(ch)
        prev = ch
    return "".join(out).strip("_")


def from_installed():
    """{file name: text} from an installed scikit-learn, or None."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    try:
        texts = {}
        for src, _ in SETS.values():
            with open(os.path.join(folder, src), encoding="utf-8") as f:
                texts[src] = f.read()
    except OSError:
        return None
    print("reading scikit-learn's files in %s" % folder, file=sys.stderr)
    return texts


def from_wheel(cache):
    """{file name: text} read from the scikit-learn wheel, downloaded into cache if needed."""
    os.makedirs(cache, exist_ok=True)
    pattern = os.path.join(cache, "scikit_learn-%s-*.whl" % VERSION)
    if not glob.glob(pattern):
        base = [sys.executable, "-m", "pip", "download", "scikit-learn==%s" % VERSION,
                "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                "--quiet", "-d", cache]
        print("downloading the scikit-learn %s wheel from PyPI into %s (not installed)"
              % (VERSION, cache), file=sys.stderr)
        tries = (base, base + ["--platform", "manylinux_2_28_x86_64",
                               "--python-version", "3.12", "--implementation", "cp",
                               "--abi", "cp312"])
        for cmd in tries:
            try:
                if subprocess.run(cmd).returncode == 0 and glob.glob(pattern):
                    break
            except OSError as e:
                raise Failure("cannot run pip (%s): install scikit-learn or pip" % e)
        else:
            raise Failure("pip could not download scikit-learn==%s (no pip, or no access to "
                          "pypi.org?); or install scikit-learn and run this again" % VERSION)
    wheel = sorted(glob.glob(pattern))[0]
    texts = {}
    with zipfile.ZipFile(wheel) as z:
        for src, _ in SETS.values():
            name = "sklearn/datasets/data/" + src
            try:
                texts[src] = z.read(name).decode("utf-8")
            except KeyError:
                raise Failure("%s has no %s" % (wheel, name))
    print("reading %s" % wheel, file=sys.stderr)
    return texts


def convert(text, names, src):
    """Rows of the output CSV (header first) from one of scikit-learn's files."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    head = rows[0]
    n, width, classes = int(head[0]), int(head[1]), [c.strip() for c in head[2:]]
    if width != len(names) or len(rows) - 1 != n:
        raise Failure("%s: the first line says %d rows x %d features, the file has %d rows "
                      "and %d names are known" % (src, n, width, len(rows) - 1, len(names)))
    out = [[snake(x) for x in names] + ["label"]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != width + 1:
            raise Failure("%s line %d: %d fields, expected %d" % (src, i, len(r), width + 1))
        code = int(float(r[-1]))
        out.append([v.strip() for v in r[:-1]] + [classes[code]])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write breast_cancer.csv and wine.csv (from the "
                                             "files inside scikit-learn) for examples/ml/")
    ap.add_argument("--out", default=os.path.join(HERE, "data"),
                    help="output folder (default examples/ml/data)")
    ap.add_argument("--cache", help="where the wheel is downloaded when scikit-learn is not "
                                    "installed (default OUT/.wheel)")
    a = ap.parse_args(argv)
    try:
        texts = from_installed() or from_wheel(a.cache or os.path.join(a.out, ".wheel"))
        os.makedirs(a.out, exist_ok=True)
        for out_name, (src, names) in SETS.items():
            rows = convert(texts[src], names, src)
            path = os.path.join(a.out, out_name)
            tmp = path + ".tmp"
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                csv.writer(f, lineterminator="\n").writerows(rows)
            os.replace(tmp, path)
            counts = {}
            for r in rows[1:]:
                counts[r[-1]] = counts.get(r[-1], 0) + 1
            print("%s: %d rows, %d features, %s" % (
                os.path.relpath(path), len(rows) - 1, len(names),
                ", ".join("%s %d" % kv for kv in counts.items())))
    except Failure as e:
        print("data.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
