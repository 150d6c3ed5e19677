#!/usr/bin/env python3
"""Input files of the ML benchmark: one Parquet file per case, with its train / valid / test
split written in the file, so that sluice and its peers (scikit-learn, LightGBM, PyTorch) read
the same rows and fit on the same split.

    .venv-bench/bin/python bench/ml/prepare.py --out DIR [--seed 1] [--docs-rows 50000]
        [--ranking-rows 200000] [--cluster-rows 100000] [--lowrank-rows 20000]
        [--cases breast_cancer,wine,...]

Writes into DIR (created if needed), with pyarrow, zstd compression:

  CASE.parquet   one file per case: its feature columns, its label column `label` (int64)
                 where it has one, and a string column `split` whose values are exactly
                 "train", "valid" and "test": 70 / 20 / 10 % of the rows, stratified by label
                 (within each class, a permutation drawn from the seed: the first 70 % train,
                 the next 20 % valid, the rest test; counts rounded per class).
  manifest.json  one entry per case: file, rows, seed, rows per split, feature columns
                 (numeric, categorical with their categories, embedding with its dimension),
                 label column, classes and their names, how the data was made; and at the
                 top the seed (null if the cases were written with different seeds), the
                 split fractions and the size options used.

Cases:

  breast_cancer  569 x 30 numeric, 2 classes   } the files shipped inside the installed
  wine           178 x 13 numeric, 3 classes   } scikit-learn package (load_breast_cancer,
  digits         1,797 x 64 numeric, 10 classes} load_wine, load_digits; nothing downloaded).
                 Column names are scikit-learn's feature names as lowercase snake_case
                 identifiers: "mean radius" -> mean_radius, "od280/od315_of_diluted_wines" ->
                 od280_od315_of_diluted_wines, digits' pixel_0_0 ... pixel_7_7.
  docs16         --docs-rows synthetic "document embeddings": `embedding`
                 fixed_size_list<float32, 1024>, `label` 0..15. make_classification with 48
                 informative directions, 3 Gaussian clusters per class and 3 % of labels
                 flipped, then turned by a random rotation of R^1024 so that every coordinate
                 carries some signal, as in a real embedding. Tuned so that a 512-128-32 MLP
                 beats logistic regression clearly (see README.md for the figures).
  ranking        --ranking-rows impressions of an offer to a user: 20 float64 columns (some
                 with about 5 % nulls), 2 categorical string columns `context` (6 values) and
                 `offer_subcategory_id` (60 values), `label` 0 = seen, 1 = consulted,
                 2 = booked (70 / 20 / 10 %). The label is a latent score cut at its 70th and
                 90th percentiles; the score is nonlinear in the numbers (thresholds, a bump
                 of the hour of day, saturations, interactions) and in the categories (an
                 effect per subcategory with no order, distance mattering only for physical
                 offers, a context x subcategory-family interaction), plus logistic noise.
                 Nulls are drawn after the score: a null loses the information it held.
  blobs32        --cluster-rows points in R^32 from 50 Gaussian blobs of differing spreads
                 (std 0.5 to 3.0) and sizes: `embedding` fixed_size_list<float32, 32>, no
                 label; every row is "train". The manifest gives the inertia of all rows
                 around the 50 generating centres, a reference for k-means with k = 50.
  lowrank384     --lowrank-rows vectors in R^384 with a decaying spectrum (standard deviation
                 of the i-th principal direction proportional to i^-0.6, random orientation,
                 plus isotropic noise of std 0.01): `embedding` fixed_size_list<float32, 384>,
                 no label, every row "train". For PCA with 32 components (which explain
                 about 76 % of the variance).

Same seed and sizes, same package versions: same bytes. --cases writes only the listed cases
(the manifest is then updated: entries of other cases already in DIR/manifest.json are kept,
and only the size options of the cases written change).
Runs on the .venv-bench of bench/ml/requirements.txt (numpy, scikit-learn, pyarrow); torch
is not needed. About 10 s and 230 MB on disk at the default sizes (docs16: 190 MB).
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CASES = ("breast_cancer", "wine", "digits", "docs16", "ranking", "blobs32", "lowrank384")
SPLITS = (("train", 0.7), ("valid", 0.2), ("test", 0.1))

# docs16: make_classification settings (tuned, see README.md)
DOCS_DIM = 1024
DOCS_CLASSES = 16
DOCS_INFORMATIVE = 48
DOCS_CLUSTERS_PER_CLASS = 3
DOCS_CLASS_SEP = 2.5
DOCS_FLIP_Y = 0.03

# ranking
RANKING_CONTEXTS = ("home", "search", "similar_offers", "recommendation", "venue_page",
                    "notification")
RANKING_SUBCATEGORIES = (
    # physical, on-site
    "CINE_SALLE", "SEANCE_CINE", "EVENEMENT_CINE", "FESTIVAL_CINE", "CARTE_CINE_ILLIMITE",
    "CONCERT", "FESTIVAL_MUSIQUE", "EVENEMENT_MUSIQUE", "LIVESTREAM_MUSIQUE", "ABO_CONCERT",
    "SPECTACLE_REPRESENTATION", "FESTIVAL_SPECTACLE", "ABO_SPECTACLE", "SPECTACLE_VENTE_DISTANCE",
    "VISITE", "VISITE_GUIDEE", "EVENEMENT_PATRIMOINE", "VISITE_VIRTUELLE", "MUSEE_VENTE_DISTANCE",
    "CARTE_MUSEE", "ATELIER_PRATIQUE_ART", "SEANCE_ESSAI_PRATIQUE_ART", "ABO_PRATIQUE_ART",
    "CONFERENCE", "RENCONTRE", "DECOUVERTE_METIERS", "SALON", "RENCONTRE_JEU", "CONCOURS",
    "ESCAPE_GAME", "EVENEMENT_JEU", "FESTIVAL_LIVRE", "RENCONTRE_EN_LIGNE", "LIVESTREAM_EVENEMENT",
    "CAPTATION_MUSIQUE", "LIVRE_PAPIER", "LIVRE_AUDIO_PHYSIQUE", "BON_ACHAT_INSTRUMENT",
    "ACHAT_INSTRUMENT", "LOCATION_INSTRUMENT", "PARTITION", "SUPPORT_PHYSIQUE_MUSIQUE_CD",
    "SUPPORT_PHYSIQUE_MUSIQUE_VINYLE", "SUPPORT_PHYSIQUE_FILM", "MATERIEL_ART_CREATIF",
    "ABO_BIBLIOTHEQUE", "ABO_MEDIATHEQUE", "ABO_LUDOTHEQUE", "JEU_SUPPORT_PHYSIQUE",
    "ABO_LIVRE_NUMERIQUE",
    # digital
    "LIVRE_NUMERIQUE", "TELECHARGEMENT_LIVRE_AUDIO", "TELECHARGEMENT_MUSIQUE",
    "ABO_PLATEFORME_MUSIQUE", "ABO_PLATEFORME_VIDEO", "VOD", "PODCAST", "APP_CULTURELLE",
    "ABO_JEU_VIDEO", "ABO_PRESSE_EN_LIGNE",
)
RANKING_N_PHYSICAL = 50          # the first 50 subcategories are physical offers
RANKING_NOISE = 0.6              # scale of the logistic noise added to the latent score
RANKING_NULL_RATE = 0.05
RANKING_NULL_COLUMNS = ("distance_km", "booking_window_days", "venue_rating",
                        "user_offer_category_affinity", "offer_stock_remaining",
                        "user_days_since_last_booking")

BLOBS_DIM, BLOBS_K = 32, 50
LOWRANK_DIM, LOWRANK_DECAY, LOWRANK_NOISE = 384, 0.6, 0.01


def say(msg=""):
    print(msg, file=sys.stderr, flush=True)


def snake(name):
    """scikit-learn feature name -> lowercase snake_case identifier."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip()).strip("_").lower()
    if not s or s[0].isdigit():
        s = "f_" + s
    return s


def split_column(labels, n, rng):
    """The `split` values (numpy array of str) of n rows: 70 / 20 / 10 % within each class of
    `labels` (all rows one class when labels is None), from a permutation drawn from rng."""
    out = np.empty(n, dtype=object)
    groups = [np.arange(n)] if labels is None else [
        np.flatnonzero(labels == c) for c in np.unique(labels)]
    for idx in groups:
        idx = idx[rng.permutation(len(idx))]
        n_train = int(round(len(idx) * SPLITS[0][1]))
        n_valid = int(round(len(idx) * SPLITS[1][1]))
        out[idx[:n_train]] = "train"
        out[idx[n_train:n_train + n_valid]] = "valid"
        out[idx[n_train + n_valid:]] = "test"
    return out


def embedding_array(x):
    """2-D numpy array -> pyarrow fixed_size_list<float32, dim>."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), type=pa.float32()),
                                             x.shape[1])


def float_column(v):
    """float64 numpy array -> pyarrow float64 with NaN written as null."""
    return pa.array(v, type=pa.float64(), from_pandas=True)


def split_counts(split):
    return {name: int(np.sum(split == name)) for name, _ in SPLITS}


def class_counts(labels):
    vals, counts = np.unique(labels, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(vals, counts)}


# --- cases -----------------------------------------------------------------------------------

def sklearn_case(name, seed):
    """breast_cancer / wine / digits from the files inside the scikit-learn package."""
    from sklearn import datasets
    loader = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine,
              "digits": datasets.load_digits}[name]
    ds = loader()                                   # reads sklearn/datasets/data/*, no network
    cols = [snake(f) for f in ds.feature_names]
    if len(set(cols)) != len(cols):
        raise RuntimeError("%s: feature names collide once sanitised: %s" % (name, cols))
    y = ds.target.astype(np.int64)
    split = split_column(y, len(y), np.random.default_rng(seed))
    arrays = [float_column(ds.data[:, j].astype(np.float64)) for j in range(len(cols))]
    table = pa.table(arrays + [pa.array(y, pa.int64()), pa.array(split, pa.string())],
                     names=cols + ["label", "split"])
    entry = {"features": cols, "numeric": cols, "categorical": [], "embedding": None,
             "label": "label", "classes": sorted(int(c) for c in np.unique(y)),
             "class_names": [str(n) for n in ds.target_names],
             "source": "sklearn.datasets.load_%s() (files shipped in scikit-learn)" % name}
    return table, entry, y, split


def docs16(n, seed):
    """Synthetic 1024-d document embeddings, 16 classes."""
    from sklearn.datasets import make_classification
    x, y = make_classification(
        n_samples=n, n_features=DOCS_DIM, n_informative=DOCS_INFORMATIVE, n_redundant=0,
        n_repeated=0, n_classes=DOCS_CLASSES, n_clusters_per_class=DOCS_CLUSTERS_PER_CLASS,
        class_sep=DOCS_CLASS_SEP, flip_y=DOCS_FLIP_Y, shuffle=True, random_state=seed)
    x = x.astype(np.float32)
    rng = np.random.default_rng(seed + 1000)
    q, r = np.linalg.qr(rng.standard_normal((DOCS_DIM, DOCS_DIM)))
    q *= np.sign(np.diag(r))                        # Haar-distributed rotation
    x = x @ q.astype(np.float32)
    y = y.astype(np.int64)
    split = split_column(y, n, np.random.default_rng(seed))
    table = pa.table([embedding_array(x), pa.array(y, pa.int64()), pa.array(split, pa.string())],
                     names=["embedding", "label", "split"])
    entry = {"features": ["embedding"], "numeric": [], "categorical": [],
             "embedding": {"column": "embedding", "dim": DOCS_DIM},
             "label": "label", "classes": list(range(DOCS_CLASSES)),
             "class_names": ["topic_%d" % c for c in range(DOCS_CLASSES)],
             "source": ("sklearn make_classification(n_features=%d, n_informative=%d, "
                        "n_classes=%d, n_clusters_per_class=%d, class_sep=%s, flip_y=%s, "
                        "random_state=seed) then a random rotation of R^%d"
                        % (DOCS_DIM, DOCS_INFORMATIVE, DOCS_CLASSES, DOCS_CLUSTERS_PER_CLASS,
                           DOCS_CLASS_SEP, DOCS_FLIP_Y, DOCS_DIM))}
    return table, entry, y, split


def ranking(n, seed):
    """Impressions of offers: 20 numbers, 2 categories, label seen / consulted / booked."""
    rng = np.random.default_rng(seed)
    n_sub = len(RANKING_SUBCATEGORIES)
    # categories, with skewed frequencies
    ctx_p = np.array([0.35, 0.25, 0.12, 0.15, 0.08, 0.05])
    ctx = rng.choice(len(RANKING_CONTEXTS), size=n, p=ctx_p)
    sub_p = rng.dirichlet(np.full(n_sub, 0.8))
    sub = rng.choice(n_sub, size=n, p=sub_p)
    physical = sub < RANKING_N_PHYSICAL
    family = np.arange(n_sub) % 5                   # 5 hidden families of subcategories
    sub_effect = rng.normal(0.0, 1.2, n_sub)        # no order: needs the category itself
    ctx_family = rng.normal(0.0, 0.7, (len(RANKING_CONTEXTS), 5))

    f = {}
    f["user_age"] = np.clip(rng.normal(19.0, 1.5, n), 15, 25).round()
    f["user_days_since_signup"] = rng.gamma(1.5, 120.0, n).round()
    f["user_deposit_remaining"] = np.clip(300.0 - rng.gamma(2.0, 60.0, n), 0, 300).round(2)
    f["user_bookings_count"] = rng.negative_binomial(1.2, 0.15, n).astype(np.float64)
    f["user_clicks_count"] = (f["user_bookings_count"] * rng.gamma(3.0, 2.0, n)
                              + rng.poisson(8.0, n)).round()
    f["user_favorites_count"] = rng.poisson(0.3 + 0.2 * f["user_bookings_count"]).astype(float)
    f["user_days_since_last_booking"] = rng.gamma(1.2, 40.0, n).round()
    f["user_offer_category_affinity"] = rng.beta(1.5, 4.0, n)
    f["distance_km"] = np.where(physical, rng.lognormal(1.8, 1.0, n), 0.0).round(2)
    f["price"] = np.where(rng.random(n) < 0.15, 0.0, rng.lognormal(2.6, 0.8, n)).round(2)
    f["booking_window_days"] = np.floor(rng.gamma(1.3, 15.0, n))
    f["hour_of_day"] = rng.integers(0, 24, n).astype(np.float64)
    f["day_of_week"] = rng.integers(0, 7, n).astype(np.float64)
    f["offer_age_days"] = rng.gamma(1.5, 25.0, n).round()
    f["offer_stock_remaining"] = rng.negative_binomial(2.0, 0.05, n).astype(np.float64)
    f["offer_popularity_7d"] = rng.gamma(1.0, 30.0, n).round()
    f["offer_bookings_30d"] = rng.poisson(f["offer_popularity_7d"] * 0.4).astype(np.float64)
    f["venue_rating"] = np.clip(rng.normal(4.0, 0.6, n), 1, 5).round(1)
    f["search_rank_position"] = np.minimum(rng.geometric(0.12, n), 50).astype(np.float64)
    f["semantic_similarity"] = np.clip(rng.normal(0.35, 0.2, n), -1, 1)

    # latent engagement score: nonlinear in each number, interactions, categories
    s = np.zeros(n)
    s += 1.2 * np.tanh(f["user_bookings_count"] / 5.0)                      # saturates
    s += 0.8 * np.log1p(f["user_clicks_count"]) / 3.0
    s -= 0.9 * (f["user_days_since_last_booking"] > 60)                     # threshold
    s += 1.5 * (f["user_offer_category_affinity"] - 0.3) * (1 + (ctx == 1))  # stronger in search
    dist_effect = -0.9 * np.log1p(f["distance_km"]) + 1.2
    s += np.where(physical, dist_effect, 0.3)                                # physical only
    price_left = f["user_deposit_remaining"] - f["price"]
    s += np.where(price_left < 0, -1.5, 0.0)                                 # cannot afford
    s += np.where(f["price"] == 0, 0.5, -0.25 * np.log1p(f["price"]) / 3.0)
    hour = f["hour_of_day"]
    s += 0.6 * np.exp(-((hour - 19.0) ** 2) / 8.0) - 0.5 * ((hour >= 1) & (hour <= 6))
    s += 0.3 * ((f["day_of_week"] >= 5) & physical)
    bw = f["booking_window_days"]
    s += np.where(bw <= 2, 0.6, np.where(bw > 45, -0.7, 0.0))               # urgency, far away
    s -= 0.8 * np.log1p(f["search_rank_position"]) / 2.0
    s += 1.8 * np.maximum(f["semantic_similarity"] - 0.3, 0.0)
    s += 0.4 * np.log1p(f["offer_bookings_30d"]) / 2.0
    s -= 1.0 * (f["offer_stock_remaining"] < 3)
    s += 0.5 * (f["venue_rating"] - 4.0) * physical
    s -= 0.3 * (f["offer_age_days"] > 90)
    s += 0.2 * np.sin(f["user_age"])                                         # weak, wiggly
    s += sub_effect[sub] + ctx_family[ctx, family[sub]]
    s += np.where((ctx == 5) & ((hour < 9) | (hour > 21)), -1.0, 0.0)        # notification at night
    s += rng.logistic(0.0, RANKING_NOISE, n)
    t1, t2 = np.quantile(s, [0.70, 0.90])
    y = np.where(s >= t2, 2, np.where(s >= t1, 1, 0)).astype(np.int64)

    for name in RANKING_NULL_COLUMNS:               # nulls drawn after the score
        v = f[name]
        v[rng.random(n) < RANKING_NULL_RATE] = np.nan

    numeric = ["user_bookings_count", "user_clicks_count", "user_favorites_count", "user_age",
               "user_deposit_remaining", "user_days_since_signup", "user_days_since_last_booking",
               "user_offer_category_affinity", "distance_km", "price", "booking_window_days",
               "hour_of_day", "day_of_week", "offer_age_days", "offer_stock_remaining",
               "offer_popularity_7d", "offer_bookings_30d", "venue_rating",
               "search_rank_position", "semantic_similarity"]
    assert sorted(numeric) == sorted(f) and len(numeric) == 20
    categorical = ["context", "offer_subcategory_id"]
    split = split_column(y, n, np.random.default_rng(seed + 1))
    ctx_s = pa.array(RANKING_CONTEXTS, pa.string()).take(pa.array(ctx))
    sub_s = pa.array(RANKING_SUBCATEGORIES, pa.string()).take(pa.array(sub))
    table = pa.table([float_column(f[c]) for c in numeric]
                     + [ctx_s, sub_s, pa.array(y, pa.int64()), pa.array(split, pa.string())],
                     names=numeric + categorical + ["label", "split"])
    entry = {"features": numeric + categorical, "numeric": numeric, "categorical": categorical,
             "categories": {"context": list(RANKING_CONTEXTS),
                            "offer_subcategory_id": list(RANKING_SUBCATEGORIES)},
             "embedding": None, "label": "label", "classes": [0, 1, 2],
             "class_names": ["seen", "consulted", "booked"],
             "null_columns": list(RANKING_NULL_COLUMNS),
             "source": ("synthetic: latent score nonlinear in the numbers and the categories "
                        "+ logistic noise (scale %s), cut at its 70th / 90th percentiles; "
                        "about %d %% nulls in %d columns drawn after the score"
                        % (RANKING_NOISE, round(100 * RANKING_NULL_RATE),
                           len(RANKING_NULL_COLUMNS)))}
    return table, entry, y, split


def blobs32(n, seed):
    """50 Gaussian blobs in R^32 of differing spreads and sizes, for k-means (k = 50)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10.0, 10.0, (BLOBS_K, BLOBS_DIM))
    stds = rng.uniform(0.5, 3.0, BLOBS_K)
    sizes = rng.multinomial(n, rng.dirichlet(np.full(BLOBS_K, 5.0)))
    blob = np.repeat(np.arange(BLOBS_K), sizes)
    blob = blob[rng.permutation(n)]
    x = centres[blob] + rng.standard_normal((n, BLOBS_DIM)) * stds[blob, None]
    x32 = x.astype(np.float32)
    true_inertia = float(np.sum((x32.astype(np.float64) - centres[blob]) ** 2))
    split = np.full(n, "train", dtype=object)
    table = pa.table([embedding_array(x32), pa.array(split, pa.string())],
                     names=["embedding", "split"])
    entry = {"features": ["embedding"], "numeric": [], "categorical": [],
             "embedding": {"column": "embedding", "dim": BLOBS_DIM}, "label": None,
             "classes": None, "class_names": None,
             "blobs": BLOBS_K, "blob_std_range": [0.5, 3.0],
             "inertia_true_centres": true_inertia,
             "source": ("synthetic: %d Gaussian blobs in R^%d, centres uniform in [-10, 10], "
                        "std uniform in [0.5, 3.0], sizes multinomial(Dirichlet(5))"
                        % (BLOBS_K, BLOBS_DIM))}
    return table, entry, None, split


def lowrank384(n, seed):
    """Vectors in R^384 with a decaying spectrum, for PCA (32 components)."""
    rng = np.random.default_rng(seed)
    stds = np.arange(1, LOWRANK_DIM + 1, dtype=np.float64) ** -LOWRANK_DECAY
    q, r = np.linalg.qr(rng.standard_normal((LOWRANK_DIM, LOWRANK_DIM)))
    q *= np.sign(np.diag(r))
    mean = rng.normal(0.0, 0.5, LOWRANK_DIM)
    x = (rng.standard_normal((n, LOWRANK_DIM)) * stds) @ q.T + mean
    x += rng.normal(0.0, LOWRANK_NOISE, x.shape)
    var = stds ** 2 + LOWRANK_NOISE ** 2
    split = np.full(n, "train", dtype=object)
    table = pa.table([embedding_array(x), pa.array(split, pa.string())],
                     names=["embedding", "split"])
    entry = {"features": ["embedding"], "numeric": [], "categorical": [],
             "embedding": {"column": "embedding", "dim": LOWRANK_DIM}, "label": None,
             "classes": None, "class_names": None,
             "population_explained_variance_ratio_32": float(var[:32].sum() / var.sum()),
             "source": ("synthetic: std of the i-th principal direction i^-%s (i = 1..%d), "
                        "random orthogonal orientation, mean N(0, 0.5^2), isotropic noise "
                        "std %s" % (LOWRANK_DECAY, LOWRANK_DIM, LOWRANK_NOISE))}
    return table, entry, None, split


def make_case(name, a):
    if name in ("breast_cancer", "wine", "digits"):
        return sklearn_case(name, a.seed)
    if name == "docs16":
        return docs16(a.docs_rows, a.seed)
    if name == "ranking":
        return ranking(a.ranking_rows, a.seed)
    if name == "blobs32":
        return blobs32(a.cluster_rows, a.seed)
    if name == "lowrank384":
        return lowrank384(a.lowrank_rows, a.seed)
    raise ValueError("unknown case %r" % name)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Write the Parquet files (one per case, with a train/valid/test `split` "
                    "column) and manifest.json of the ML benchmark.",
        epilog="Cases: " + ", ".join(CASES) + ". Example: .venv-bench/bin/python "
               "bench/ml/prepare.py --out /tmp/ml-data")
    ap.add_argument("--out", required=True, help="folder to write into (created if needed)")
    ap.add_argument("--seed", type=int, default=1, help="seed of every random draw (default 1)")
    ap.add_argument("--docs-rows", type=int, default=50000, help="rows of docs16 (default 50000)")
    ap.add_argument("--ranking-rows", type=int, default=200000,
                    help="rows of ranking (default 200000)")
    ap.add_argument("--cluster-rows", type=int, default=100000,
                    help="rows of blobs32 (default 100000)")
    ap.add_argument("--lowrank-rows", type=int, default=20000,
                    help="rows of lowrank384 (default 20000)")
    ap.add_argument("--cases", default=",".join(CASES),
                    help="comma-separated cases to write (default: all)")
    a = ap.parse_args(argv)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error("unknown case(s) %s; known: %s" % (", ".join(unknown), ", ".join(CASES)))
    for opt in ("docs_rows", "ranking_rows", "cluster_rows", "lowrank_rows"):
        if getattr(a, opt) < 100:
            ap.error("--%s must be >= 100" % opt.replace("_", "-"))

    os.makedirs(a.out, exist_ok=True)
    manifest_path = os.path.join(a.out, "manifest.json")
    manifest = {"cases": {}}
    if set(cases) != set(CASES) and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    manifest["splits"] = {name: frac for name, frac in SPLITS}
    size_option = {"docs16": "docs_rows", "ranking": "ranking_rows", "blobs32": "cluster_rows",
                   "lowrank384": "lowrank_rows"}
    arguments = manifest.setdefault("arguments", {})
    for name in cases:                              # only the sizes of the cases written now
        if name in size_option:
            arguments[size_option[name]] = getattr(a, size_option[name])
    for name in cases:
        t0 = time.perf_counter()
        path = os.path.join(a.out, name + ".parquet")
        try:
            table, entry, y, split = make_case(name, a)
            pq.write_table(table, path, compression="zstd")
        except (OSError, ValueError, RuntimeError, pa.ArrowException) as e:
            raise SystemExit("prepare.py: case %s (%s) failed: %s" % (name, path, e))
        entry = dict({"file": name + ".parquet", "rows": table.num_rows, "seed": a.seed,
                      "splits": split_counts(split)}, **entry)
        if y is not None:
            entry["class_counts"] = class_counts(y)
        manifest["cases"][name] = entry
        say("%-13s %8d rows  %s  %.1f MB  %.1f s" % (
            name, table.num_rows, entry["splits"], os.path.getsize(path) / 1e6,
            time.perf_counter() - t0))
    manifest["cases"] = {c: manifest["cases"][c] for c in CASES if c in manifest["cases"]}
    seeds = {e.get("seed") for e in manifest["cases"].values()}
    manifest["seed"] = seeds.pop() if len(seeds) == 1 else None    # None: cases differ
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    say("manifest: %s" % manifest_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
