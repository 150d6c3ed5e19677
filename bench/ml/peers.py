#!/usr/bin/env python3
"""The Python peers of the ML benchmark: one run of bench/ml/cases.json by one tool
(scikit-learn, LightGBM or PyTorch) on the files that prepare.py wrote, as one JSON line.

    .venv-bench/bin/python bench/ml/peers.py --data DIR --run INDEX_OR_NAME
        --tool sklearn|lightgbm|torch [--threads N] [--cases FILE] [--kmeans-all-epochs]
    .venv-bench/bin/python bench/ml/peers.py --data DIR --list [--cases FILE]

--data DIR   the folder of prepare.py --out (DIR/manifest.json and DIR/CASE.parquet).
--run R      a run of --cases (default bench/ml/cases.json): its index in the list (from 0,
             as --list shows it) or its name, e.g. "docs16/mlp".
--tool T     sklearn, lightgbm or torch.
--threads N  threads of the tool (default: the number of CPUs): OMP_NUM_THREADS,
             OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set to N before numpy is imported,
             and every fit and prediction runs under threadpoolctl.threadpool_limits(N);
             LightGBM also gets n_jobs=N, PyTorch torch.set_num_threads(N).
--list       prints the runs, one a line: index, name, case, model type, metric, peers.
--kmeans-all-epochs   kmeans runs: also the MiniBatchKMeans that runs every epoch (below).

What a run does: reads DIR/CASE.parquet (pyarrow); fits on the rows whose `split` is
"train"; scores the "valid" and "test" rows. The features are the case's columns listed in
the manifest: numeric columns as float64 (a null is NaN), categorical columns as pandas
category with the manifest's categories, an embedding column (fixed_size_list<float32, D>) as a
float32 matrix. Where the run's params say "standardize", a StandardScaler fitted on the train
rows is applied to every split. The mapping of each model (sluice's terms) to each tool:

  logistic {l2, max_iter}
      sklearn   LogisticRegression(C=1/l2, solver="lbfgs", max_iter): multinomial loss for 3
                classes or more; minimises sum(loss) + l2/2 * ||W||^2 (intercept not penalised).
  mlp {hidden, activation, negative_slope, dropout, optimizer, learning_rate, batch_size,
       epochs, early_stopping, seed}
      sklearn   MLPClassifier(hidden_layer_sizes=hidden, activation, solver="adam", alpha=0,
                batch_size, learning_rate_init=learning_rate, max_iter=epochs, shuffle=True,
                random_state=seed, early_stopping=False, n_iter_no_change=epochs+1, tol=0): so
                exactly `epochs` passes. Not for dropout or leaky_relu (skipped).
      torch     nn.Sequential(Linear, activation, [Dropout]) per hidden layer, then Linear to
                the classes; CrossEntropyLoss (mean over the batch), Adam(lr) with PyTorch's
                default betas / eps, PyTorch's default initialisation, torch.manual_seed(seed);
                each epoch a permutation from a torch.Generator seeded with seed, batches of
                batch_size in that order (the last one shorter); no DataLoader.
  gbdt {max_iter, learning_rate, max_leaves, min_samples_leaf, l2, max_bins, early_stopping}
      sklearn   HistGradientBoostingClassifier(max_iter, learning_rate,
                max_leaf_nodes=max_leaves, min_samples_leaf, l2_regularization=l2, max_bins,
                early_stopping=False, categorical_features="from_dtype", random_state=1).
      lightgbm  LGBMClassifier(n_estimators=max_iter, learning_rate, num_leaves=max_leaves,
                min_child_samples=min_samples_leaf, reg_lambda=l2, max_bin=max_bins,
                n_jobs=N, random_state=1, verbose=-1); categorical columns found from their
                pandas category dtype.
  kmeans {k, batch_size, max_iter, seed}
      sklearn   MiniBatchKMeans(n_clusters=k, batch_size, max_iter, random_state=seed,
                n_init=1), with its default stopping rule (10 mini-batches without
                improvement of the smoothed batch inertia: it may stop within the first
                epoch); then the reference KMeans(n_clusters=k, n_init=1, random_state=seed);
                with --kmeans-all-epochs also `all_epochs`, the same MiniBatchKMeans with
                max_no_improvement=None, tol=0: exactly max_iter epochs (slow: minutes).
  pca {components}
      sklearn   PCA(n_components=components, svd_solver="full").

A tool that does not run a run (not among its `peers`, or torch / lightgbm not importable)
prints {"run", "case", "tool", "skipped": REASON} and exits 0; torch missing reads
"skipped": "torch not installed".

Output, one JSON line on stdout (messages go to stderr):
  run, case, tool, version (of the tool), model (the run's model, sluice's terms), peer_model
  (the peer's estimator with every argument peers.py gives it), threads, train_rows,
  fit_seconds (wall time of the fit alone, time.perf_counter, after the data is loaded and
  scaled), samples_per_second (train_rows * epochs / fit_seconds for mlp, train_rows /
  fit_seconds for the others), predict_seconds (scoring valid + test), iterations (lbfgs
  iterations of logistic, epochs of scikit-learn's mlp), and
    classifiers: valid and test, each {rows, accuracy, f1_macro, logloss} (null where a split
                 is empty);
    kmeans:      inertia (sum over ALL rows of the squared distance to the nearest centre, in
                 float64), iterations (n_iter_, epochs begun), steps (n_steps_, mini-batches),
                 samples_seen (steps * batch_size), inertia_true_centres (from the manifest),
                 reference {model, fit_seconds, inertia, iterations} of the full KMeans,
                 with --kmeans-all-epochs all_epochs {model, fit_seconds, inertia,
                 iterations, steps, samples_per_second (train_rows * epochs / fit_seconds)};
    pca:         explained_variance_ratio (every component), explained_variance_ratio_sum.
Exit status: 0 for a result or a skip; 2 when the data, the run or the options are wrong (the
message names the file / case); a failure inside a tool ends with its traceback (1).
Deterministic: every random_state / seed is the run's seed (1 where the model has none).
"""

import argparse
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = os.path.join(HERE, "cases.json")
TOOLS = ("sklearn", "lightgbm", "torch")


class BenchError(Exception):
    """Wrong data, run or options: reported as one message, exit 2."""


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def load_runs(path):
    try:
        with open(path) as f:
            runs = json.load(f)["runs"]
    except (OSError, ValueError, KeyError) as e:
        raise BenchError("cannot read the runs of %s: %s" % (path, e))
    return runs


def find_run(runs, key, path):
    if key.isdigit():
        i = int(key)
        if i >= len(runs):
            raise BenchError("run index %d out of range: %s has runs 0..%d"
                             % (i, path, len(runs) - 1))
        return runs[i]
    for r in runs:
        if r["name"] == key:
            return r
    raise BenchError("no run named %r in %s (see --list)" % (key, path))


def load_manifest(data):
    path = os.path.join(data, "manifest.json")
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise BenchError("cannot read %s (%s): write it with prepare.py --out %s"
                         % (path, e.strerror, data))
    except ValueError as e:
        raise BenchError("%s is not valid JSON: %s" % (path, e))


# --- data ------------------------------------------------------------------------------------

class Split:
    """The rows of one split: X (numpy matrix or pandas DataFrame) and y (int64 or None)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)


def load_case(data, manifest, case):
    """{"train": Split, "valid": Split, "test": Split} of a case, and its manifest entry."""
    import numpy as np
    import pyarrow.parquet as pq
    entry = manifest.get("cases", {}).get(case)
    if entry is None:
        raise BenchError("case %s is not in %s/manifest.json (prepare.py --out %s --cases %s)"
                         % (case, data, data, case))
    path = os.path.join(data, entry["file"])
    label = entry.get("label")
    cols = list(entry["features"]) + ([label] if label else []) + ["split"]
    if not os.path.isfile(path):
        raise BenchError("case %s: %s does not exist (prepare.py --out %s --cases %s)"
                         % (case, path, data, case))
    try:
        table = pq.read_table(path, columns=cols)
    except (OSError, ValueError) as e:         # pyarrow's errors derive from these
        raise BenchError("case %s: cannot read %s: %s" % (case, path, e))
    split = np.asarray(table.column("split").to_numpy(zero_copy_only=False), dtype=object)
    y = table.column(label).to_numpy().astype(np.int64) if label else None
    emb = entry.get("embedding")
    if emb:
        col = table.column(emb["column"]).combine_chunks()
        if col.null_count:
            raise BenchError("case %s: %s has %d null vectors" % (case, emb["column"],
                                                                  col.null_count))
        x = np.asarray(col.flatten().to_numpy(), dtype=np.float32).reshape(len(col), emb["dim"])
    else:
        import pandas as pd
        x = table.select(entry["features"]).to_pandas()
        for c in entry.get("numeric", []):
            x[c] = x[c].astype(np.float64)
        for c in entry.get("categorical", []):
            x[c] = pd.Categorical(x[c], categories=entry["categories"][c])
    out = {}
    for name in ("train", "valid", "test"):
        idx = np.flatnonzero(split == name)
        xs = x.iloc[idx].reset_index(drop=True) if hasattr(x, "iloc") else x[idx]
        out[name] = Split(xs, y[idx] if y is not None else None)
    if len(out["train"]) == 0:
        raise BenchError("case %s: no row of %s has split == \"train\"" % (case, path))
    return out, entry


def standardize(splits):
    """StandardScaler fitted on train, applied to every split (float32 stays float32)."""
    from sklearn.preprocessing import StandardScaler
    sc = StandardScaler().fit(splits["train"].x)
    for s in splits.values():
        if len(s):
            s.x = sc.transform(s.x)


def classifier_metrics(y, proba, classes):
    """{rows, accuracy, f1_macro, logloss} from class probabilities (rows x classes)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    if len(y) == 0:
        return None
    proba = np.asarray(proba, dtype=np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)
    pred = np.asarray(classes)[np.argmax(proba, axis=1)]
    return {"rows": int(len(y)),
            "accuracy": float(accuracy_score(y, pred)),
            "f1_macro": float(f1_score(y, pred, labels=classes, average="macro",
                                       zero_division=0)),
            "logloss": float(log_loss(y, proba, labels=classes))}


# --- tools -----------------------------------------------------------------------------------

def skip_reason(run, tool):
    """Why `tool` does not run `run`, or None."""
    if tool not in run.get("peers", []):
        return "%s is not a %s run (peers: %s)" % (run["name"], tool,
                                                  ", ".join(run.get("peers", [])) or "none")
    m = run["model"]
    if m["type"] == "mlp" and tool == "sklearn":
        if m.get("activation") not in ("relu", "tanh", "logistic", "identity"):
            return "scikit-learn's MLPClassifier has no %s activation" % m.get("activation")
        if any(_dropouts(m)):
            return "scikit-learn's MLPClassifier has no dropout"
    try:
        if tool == "torch":
            import torch  # noqa: F401
        elif tool == "lightgbm":
            import lightgbm  # noqa: F401
    except ImportError:
        return "%s not installed" % tool
    return None


def _dropouts(m):
    d = m.get("dropout") or 0
    return list(d) if isinstance(d, (list, tuple)) else [d] * len(m["hidden"])


def build(cls, **kw):
    """(cls(**kw), the call spelled out with every argument given: the `peer_model` field)."""
    return cls(**kw), "%s(%s)" % (cls.__name__, ", ".join("%s=%r" % kv for kv in kw.items()))


def sklearn_classifier(run, seed):
    """(estimator, spelled) of a logistic / mlp / gbdt model with scikit-learn."""
    m = run["model"]
    if m["type"] == "logistic":
        from sklearn.linear_model import LogisticRegression
        return build(LogisticRegression, C=1.0 / m["l2"], solver="lbfgs", max_iter=m["max_iter"])
    if m["type"] == "mlp":
        from sklearn.neural_network import MLPClassifier
        return build(MLPClassifier, hidden_layer_sizes=tuple(m["hidden"]),
                     activation=m["activation"], solver="adam", alpha=0.0,
                     batch_size=m["batch_size"], learning_rate_init=m["learning_rate"],
                     max_iter=m["epochs"], shuffle=True, random_state=seed,
                     early_stopping=False, n_iter_no_change=m["epochs"] + 1, tol=0.0)
    if m["type"] == "gbdt":
        from sklearn.ensemble import HistGradientBoostingClassifier
        return build(
            HistGradientBoostingClassifier, max_iter=m["max_iter"], learning_rate=m["learning_rate"],
            max_leaf_nodes=m["max_leaves"], min_samples_leaf=m["min_samples_leaf"],
            l2_regularization=m["l2"], max_bins=m["max_bins"], early_stopping=False,
            categorical_features="from_dtype", random_state=seed)
    raise BenchError("sklearn: no classifier for model type %s" % m["type"])


def lightgbm_classifier(run, threads, seed):
    """(estimator, spelled) of a gbdt model with LightGBM."""
    import lightgbm
    m = run["model"]
    if m["type"] != "gbdt":
        raise BenchError("lightgbm: no classifier for model type %s" % m["type"])
    return build(
        lightgbm.LGBMClassifier, n_estimators=m["max_iter"], learning_rate=m["learning_rate"], num_leaves=m["max_leaves"],
        min_child_samples=m["min_samples_leaf"], reg_lambda=m["l2"], max_bin=m["max_bins"],
        n_jobs=threads, random_state=seed, verbose=-1)


def run_estimator(est, splits, classes, threads):
    """fit on train, predict_proba on valid and test; (fit_s, predict_s, metrics by split)."""
    from threadpoolctl import threadpool_limits
    from sklearn.exceptions import ConvergenceWarning
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # mlp: `epochs` passes, on purpose
        t0 = time.perf_counter()
        est.fit(splits["train"].x, splits["train"].y)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        probas = {name: est.predict_proba(splits[name].x) if len(splits[name]) else None
                  for name in ("valid", "test")}
        predict_s = time.perf_counter() - t0
    if list(est.classes_) != list(classes):
        raise BenchError("the train rows hold classes %s, the manifest says %s"
                         % (list(est.classes_), classes))
    metrics = {name: classifier_metrics(splits[name].y, probas[name], classes)
               if probas[name] is not None else None for name in ("valid", "test")}
    return fit_s, predict_s, metrics


def torch_mlp(run, splits, classes, threads, seed):
    """The mlp with PyTorch on CPU; (fit_s, predict_s, metrics, peer_model)."""
    import numpy as np
    import torch
    from torch import nn
    m = run["model"]
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    acts = {"relu": lambda: nn.ReLU(), "tanh": lambda: nn.Tanh(),
            "logistic": lambda: nn.Sigmoid(), "identity": lambda: nn.Identity(),
            "leaky_relu": lambda: nn.LeakyReLU(m.get("negative_slope", 0.01))}
    if m["activation"] not in acts:
        raise BenchError("torch: unknown activation %s" % m["activation"])
    if m.get("optimizer", "adam") != "adam":
        raise BenchError("torch: only the adam optimizer is mapped, not %s" % m["optimizer"])
    dropouts = _dropouts(m)
    layers, width = [], splits["train"].x.shape[1]
    for h, p in zip(m["hidden"], dropouts):
        layers += [nn.Linear(width, h), acts[m["activation"]]()]
        if p:
            layers.append(nn.Dropout(p))
        width = h
    layers.append(nn.Linear(width, len(classes)))
    net = nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=m["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    index = {c: i for i, c in enumerate(classes)}
    x = torch.from_numpy(np.ascontiguousarray(splits["train"].x, dtype=np.float32))
    y = torch.from_numpy(np.array([index[c] for c in splits["train"].y], dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    n, bs = len(x), m["batch_size"]

    t0 = time.perf_counter()
    net.train()
    for _ in range(m["epochs"]):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    fit_s = time.perf_counter() - t0

    net.eval()
    t0 = time.perf_counter()
    probas = {}
    with torch.inference_mode():
        for name in ("valid", "test"):
            s = splits[name]
            if len(s):
                xs = torch.from_numpy(np.ascontiguousarray(s.x, dtype=np.float32))
                probas[name] = torch.softmax(net(xs), dim=1).double().numpy()
    predict_s = time.perf_counter() - t0
    metrics = {name: classifier_metrics(splits[name].y, probas[name], classes)
               if name in probas else None for name in ("valid", "test")}
    spelled = "%s; CrossEntropyLoss; Adam(lr=%r); batch_size=%d; epochs=%d; seed=%d" % (
        " ".join(str(net).split()), m["learning_rate"], bs, m["epochs"], seed)
    return fit_s, predict_s, metrics, spelled


def sklearn_kmeans(run, splits, entry, threads, all_epochs):
    import numpy as np
    from threadpoolctl import threadpool_limits
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import pairwise_distances_argmin_min
    m = run["model"]
    seed = m.get("seed", 1)
    x_all = np.concatenate([splits[s].x for s in ("train", "valid", "test") if len(splits[s])])
    x_all64 = x_all.astype(np.float64)

    def inertia(centres):
        _, d = pairwise_distances_argmin_min(x_all64, np.asarray(centres, dtype=np.float64))
        return float(np.sum(d ** 2))

    def mini_batch(**stop):
        return build(MiniBatchKMeans, n_clusters=m["k"], batch_size=m["batch_size"],
                     max_iter=m["max_iter"], random_state=seed, n_init=1, **stop)

    def timed_fit(model):
        t0 = time.perf_counter()
        model.fit(splits["train"].x)
        return time.perf_counter() - t0

    est, spelled = mini_batch()
    ref, ref_spelled = build(KMeans, n_clusters=m["k"], n_init=1, random_state=seed)
    with threadpool_limits(limits=threads):
        fit_s = timed_fit(est)
        t0 = time.perf_counter()
        out = {"inertia": inertia(est.cluster_centers_)}
        predict_s = time.perf_counter() - t0
        ref_s = timed_fit(ref)
    out.update({
        "iterations": int(est.n_iter_), "steps": int(est.n_steps_),
        "samples_seen": int(est.n_steps_) * m["batch_size"],
        "inertia_true_centres": entry.get("inertia_true_centres"),
        "reference": {"model": ref_spelled, "fit_seconds": round(ref_s, 4),
                      "inertia": inertia(ref.cluster_centers_), "iterations": int(ref.n_iter_)}})
    if all_epochs:
        every, every_spelled = mini_batch(max_no_improvement=None, tol=0.0)  # max_iter epochs
        with threadpool_limits(limits=threads):
            every_s = timed_fit(every)
            out["all_epochs"] = {
                "model": every_spelled, "fit_seconds": round(every_s, 4),
                "inertia": inertia(every.cluster_centers_), "iterations": int(every.n_iter_),
                "steps": int(every.n_steps_),
                "samples_per_second": round(len(splits["train"]) * int(every.n_iter_)
                                            / every_s, 1)}
    return est, spelled, fit_s, predict_s, out


def sklearn_pca(run, splits, threads):
    from threadpoolctl import threadpool_limits
    from sklearn.decomposition import PCA
    est, spelled = build(PCA, n_components=run["model"]["components"], svd_solver="full")
    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        est.fit(splits["train"].x)
        fit_s = time.perf_counter() - t0
    ratio = [float(v) for v in est.explained_variance_ratio_]
    return spelled, fit_s, {"explained_variance_ratio": ratio,
                        "explained_variance_ratio_sum": float(sum(ratio))}


def tool_version(tool):
    mod = {"sklearn": "sklearn", "lightgbm": "lightgbm", "torch": "torch"}[tool]
    return __import__(mod).__version__


def run_one(a, run, manifest):
    """The result dict of one run by one tool."""
    base = {"run": run["name"], "case": run["case"], "tool": a.tool}
    why = skip_reason(run, a.tool)
    if why:
        return dict(base, skipped=why)
    m = run["model"]
    seed = m.get("seed", 1)
    if m.get("early_stopping"):
        raise BenchError("%s: early_stopping: true is not mapped to the peers" % run["name"])
    splits, entry = load_case(a.data, manifest, run["case"])
    params = run.get("params", {})
    if params.get("standardize"):
        standardize(splits)
    train_rows = len(splits["train"])
    res = dict(base, version=tool_version(a.tool), model=m, threads=a.threads,
               train_rows=train_rows)
    epochs = 1
    if m["type"] in ("logistic", "mlp", "gbdt"):
        classes = entry.get("classes")
        if not classes:
            raise BenchError("case %s has no classes in the manifest: %s needs a label"
                             % (run["case"], m["type"]))
        if a.tool == "torch":
            if m["type"] != "mlp":
                raise BenchError("torch: only mlp is mapped, not %s" % m["type"])
            fit_s, predict_s, metrics, peer = torch_mlp(run, splits, classes, a.threads, seed)
        else:
            est, peer = (lightgbm_classifier(run, a.threads, seed) if a.tool == "lightgbm"
                         else sklearn_classifier(run, seed))
            fit_s, predict_s, metrics = run_estimator(est, splits, classes, a.threads)
            if m["type"] == "mlp":
                res["iterations"] = int(est.n_iter_)
            elif m["type"] == "logistic":
                res["iterations"] = int(max(est.n_iter_))
        if m["type"] == "mlp":
            epochs = m["epochs"]
        res.update(peer_model=peer, valid=metrics["valid"], test=metrics["test"])
    elif m["type"] == "kmeans" and a.tool == "sklearn":
        est, peer, fit_s, predict_s, out = sklearn_kmeans(run, splits, entry, a.threads,
                                                          a.kmeans_all_epochs)
        res.update(peer_model=peer, valid=None, test=None, **out)
    elif m["type"] == "pca" and a.tool == "sklearn":
        peer, fit_s, out = sklearn_pca(run, splits, a.threads)
        predict_s = 0.0
        res.update(peer_model=peer, valid=None, test=None, **out)
    else:
        raise BenchError("%s: model type %s is not mapped for %s" % (run["name"], m["type"], a.tool))
    res["fit_seconds"] = round(fit_s, 4)
    res["samples_per_second"] = round(train_rows * epochs / fit_s, 1) if fit_s > 0 else None
    res["predict_seconds"] = round(predict_s, 4)
    order = ["run", "case", "tool", "version", "model", "peer_model", "threads", "train_rows",
             "fit_seconds", "samples_per_second", "predict_seconds", "iterations", "valid", "test"]
    first = {k: res[k] for k in order if k in res}
    first.update((k, v) for k, v in res.items() if k not in first)
    return first


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="One run of bench/ml/cases.json by one Python peer (scikit-learn, LightGBM "
                    "or PyTorch) on the files of prepare.py; prints one JSON line.",
        epilog="Examples: peers.py --data /tmp/ml-data --list;  peers.py --data /tmp/ml-data "
               "--run docs16/mlp --tool torch --threads 2.  See the module docstring "
               "(or bench/ml/README.md) for the mapping of each model and the output fields.")
    ap.add_argument("--data", required=True, help="folder written by prepare.py --out")
    ap.add_argument("--run", help="run index (from 0, as --list shows) or name, e.g. docs16/mlp")
    ap.add_argument("--tool", choices=TOOLS, help="the peer that runs it")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="threads of the tool (default: the number of CPUs, %d here)"
                    % os.cpu_count())
    ap.add_argument("--cases", default=DEFAULT_CASES,
                    help="the runs file (default bench/ml/cases.json next to this script)")
    ap.add_argument("--list", action="store_true", help="print the runs and exit")
    ap.add_argument("--kmeans-all-epochs", action="store_true",
                    help="kmeans runs: also fit MiniBatchKMeans for exactly max_iter epochs "
                         "(no early stop) and report it as all_epochs (takes minutes)")
    a = ap.parse_args(argv)
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    try:
        runs = load_runs(a.cases)
        if a.list:
            for i, r in enumerate(runs):
                print("%2d  %-22s %-14s %-9s %-25s %s" % (
                    i, r["name"], r["case"], r["model"]["type"], r["metric"],
                    ",".join(r.get("peers", []))))
            return 0
        if a.run is None or a.tool is None:
            ap.error("--run and --tool are required (or --list)")
        run = find_run(runs, a.run, a.cases)
        # before numpy / torch are imported, so that their thread pools start at this size
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(a.threads)
        manifest = load_manifest(a.data) if a.tool in run.get("peers", []) else {}
        res = run_one(a, run, manifest)
    except BenchError as e:
        say("peers.py: %s" % e)
        return 2
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
