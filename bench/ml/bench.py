#!/usr/bin/env python3
"""Machine-learning benchmark: sluice's `train` op against scikit-learn, LightGBM and PyTorch
on the same Parquet files, the same train / valid / test rows and the same threads.

    bench.py [--data DIR] [--runs NAME,NAME,...] [--threads 2] [--sluice PATH]
             [--cases bench/ml/cases.json] [--timeout 3600] [--workdir DIR] [--keep]
             [--json] [--out FILE.json]

1. Data: DIR/manifest.json and DIR/CASE.parquet as prepare.py writes them (bench/ml/README.md).
   When DIR lacks manifest.json, or the manifest lacks a case a selected run needs, prepare.py
   writes those cases into DIR at its default sizes (`prepare.py --out DIR --cases ...`).
   Without --data, DIR is WORKDIR/data, prepared that way. The Python side runs on
   .venv-bench (created or completed from bench/ml/requirements.txt by benchlib.ensure_venv
   when `import sklearn, lightgbm, pyarrow, pandas, threadpoolctl` fails there; torch is
   optional: without it peers.py reports the torch runs as skipped).
2. The runs: every run of --cases, or those named by --runs (names as in cases.json, or
   their indexes). For each run, each tool in turn, one process at a time, each under
   `timeout -k 30 TIMEOUT` and /usr/bin/time -v (benchlib.measure: wall time and peak RSS of
   the whole command):
     sluice  writes WORKDIR/RUN/pipeline.yaml (RUN = the run's name, "/" -> "__"):
               name: bench
               tasks:
                 data:  {op: read.parquet, path: DIR/CASE.parquet}
                 train: {op: train, input: data, label: <manifest label; none for kmeans/pca>,
                         features: <manifest features>, model: <the run's model, translated>,
                         split: {column: split}, seed: S, threads: THREADS}
             and runs `SLUICE run pipeline.yaml --home WORKDIR/RUN/home --force`. The model is
             cases.json's, in sluice's keys: keys sluice does not have are dropped and listed
             (`seed` of mlp / kmeans becomes the task's `seed:` S, 1 when absent;
             `optimizer: adam` is what sluice's mlp does); mlp `early_stopping: false` ->
             `early_stopping: 0` (sluice's default is 10 epochs); gbdt `early_stopping: false`
             -> left out (sluice's default is off). sluice standardises logistic / mlp
             features itself and leaves gbdt / kmeans / pca features as they are, which is
             what every run's `params.standardize` asks for (a run that asks otherwise is
             flagged). Figures read back:
               SLUICE --home H sql "select metric, value from bench.train where step is null"
                   --format json    -> fit_seconds, {train,valid,test}.{accuracy, f1_macro,
                                       logloss, auc} | .inertia | .explained_variance
               SLUICE --home H datasets --json   -> `path` of pipeline bench, task train,
                                       latest_since set: the version folder, whose
                                       model/model.json has `fitted` (kmeans `iterations`,
                                       pca `explained_variance_ratio`: a list, logistic
                                       `iterations`) and model/trials.json `[{trial, model,
                                       figures, epochs}]`.
             fit_seconds is sluice's own: the wall time of Model::fit (the scaler's fit and
             the scaling included, reading the file and scoring left out). k-means inertia:
             sluice records it per part (train / valid / test, squared distances summed over
             each part's rows); the figure used is their sum, the inertia over ALL rows, as
             peers.py computes it (blobs32 has every row in train). PCA: the 32 ratios come from
             model.json, their sum is `train.explained_variance`.
             When the train task fails (a learner not in this build: "gbdt: not yet"), the
             tool's line says "failed: <last line of the attempt's error>" and the run goes
             on; sluice's failures do not change the exit status.
     peers   `.venv-bench/bin/python bench/ml/peers.py --data DIR --run NAME --tool T
             --threads THREADS --cases CASES` for each of the run's `peers`; one JSON line
             (fields in peers.py's docstring); {"skipped": why} is reported as skipped.
   SLUICE is --sluice, by default target/release/sluice when it exists, else
   target/debug/sluice; its build kind (release / debug, from the path) is printed: a debug
   build is labelled "debug build: timings not representative" (sluice-ml is compiled
   optimised in every profile, the Parquet reader and the rest are not).
3. Prints the machine (CPU model from /proc/cpuinfo, CPUs, threads given to each tool, date
   UTC, load average before / after), then one table per run:
     classifiers  tool, valid / test accuracy, test macro F1, fit seconds, samples/s, and on
                  each peer's line speed x (peer fit s / sluice fit s: above 1, sluice is
                  faster) and the accuracy difference sluice - peer in points, valid / test;
     kmeans       tool, inertia over all rows, passes / mini-batches, fit seconds,
                  samples/s, speed x, inertia difference sluice vs peer in %; plus the
                  reference KMeans line of peers.py (not a bar);
     pca          tool, sum of the explained variance ratios, the first four ratios, fit
                  seconds, samples/s, speed x, largest |ratio difference| over the components.
   samples/s = train rows x epochs / fit seconds for mlp, train rows / fit seconds otherwise
   (peers.py's definition), for sluice too.
   Then the quality bars, each PASS / FAIL with every run it covers:
     accuracy within 1 point of LogisticRegression / MLPClassifier /
       HistGradientBoostingClassifier (scikit-learn) / LightGBM: sluice's test accuracy >=
       the peer's - 1 point (higher passes);
     k-means inertia within 1 % of MiniBatchKMeans: sluice's all-rows inertia <= 1.01 x
       scikit-learn's (lower passes);
     PCA explained variance ratios within 1e-4: max |sluice_i - sklearn_i| <= 1e-4 over the
       components.
   A bar FAILs on a run where sluice failed; a run whose peer failed or skipped is not counted.
   PyTorch has no bar (it is the speed reference of the MLP).
4. --json prints every figure as one JSON line at the end, --out writes them (indented) to a
   file: {machine, sluice: {path, build}, data, threads, runs: {NAME: {case, rows, model,
   sluice_model, dropped, tools: {TOOL: {status, ...figures}}, ratios}}, bars}.

Exit status: 0 when every peer gave a result or a skip, 1 when a peer failed (non-zero exit,
time limit, no JSON line), 2 on wrong options (unknown run, no sluice binary, prepare.py
failed). The work folder (a new temporary folder unless --workdir) is removed at the end
unless --keep or --workdir; it holds each run's pipeline, sluice home and logs.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
DEFAULT_CASES = os.path.join(HERE, "cases.json")
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (VENV_PY, say, ensure_venv, last_json_object, measure,  # noqa: E402
                      say_load_average, write_figures, work_folder, leave_work_folder,
                      cpu_model)

IMPORTS = "import sklearn, lightgbm, pyarrow, pandas, threadpoolctl"
TOOL_NAMES = {"sluice": "sluice", "sklearn": "scikit-learn", "lightgbm": "LightGBM",
              "torch": "PyTorch"}
# sluice's keys per model type (crates/sluice-ml: LogisticParams, MlpParams, GbdtParams,
# KMeansParams, PcaParams; `deny_unknown_fields`, so anything else is refused)
SLUICE_KEYS = {
    "logistic": ("l2", "max_iter", "tol"),
    "mlp": ("hidden", "activation", "negative_slope", "dropout", "learning_rate",
            "batch_size", "epochs", "early_stopping", "l2"),
    "gbdt": ("max_iter", "learning_rate", "max_leaves", "max_depth", "min_samples_leaf", "l2",
             "max_bins", "early_stopping"),
    "kmeans": ("k", "batch_size", "max_iter", "tol", "init_size"),
    "pca": ("components",),
}
# the bars: (title, model type, peer tool)
ACCURACY_BARS = (("LogisticRegression", "logistic", "sklearn"),
                 ("MLPClassifier", "mlp", "sklearn"),
                 ("HistGradientBoostingClassifier", "gbdt", "sklearn"),
                 ("LightGBM", "gbdt", "lightgbm"))
ACCURACY_POINTS = 1.0
INERTIA_FRACTION = 0.01
PCA_TOLERANCE = 1e-4


class Usage(Exception):
    """Wrong options or data: one message, exit 2."""


# --- setup -----------------------------------------------------------------------------------

def sluice_binary(opt):
    """(absolute path, build kind, label) of --sluice, or of the default binary."""
    if opt:
        path = opt if os.path.isabs(opt) else os.path.join(REPO, opt)
    else:
        release = os.path.join(REPO, "target", "release", "sluice")
        path = release if os.path.isfile(release) else os.path.join(REPO, "target", "debug",
                                                                    "sluice")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise Usage("sluice binary %s does not exist (cargo build --release, or --sluice PATH)"
                    % path)
    parts = os.path.realpath(path).split(os.sep)
    kind = "release" if "release" in parts else "debug" if "debug" in parts else "unknown"
    label = {"release": "release build",
             "debug": "debug build: timings not representative",
             "unknown": "build kind unknown (not under target/release or target/debug)"}[kind]
    return path, kind, label


def select_runs(all_runs, spec):
    if not spec:
        return list(all_runs)
    out = []
    for key in (k.strip() for k in spec.split(",") if k.strip()):
        if key.isdigit() and int(key) < len(all_runs):
            run = all_runs[int(key)]
        else:
            run = next((r for r in all_runs if r["name"] == key), None)
        if run is None:
            raise Usage("no run %r in cases.json; runs: %s"
                        % (key, ", ".join(r["name"] for r in all_runs)))
        if run not in out:
            out.append(run)
    return out


def ensure_data(data, cases):
    """Prepare the cases DIR's manifest lacks; returns the manifest."""
    path = os.path.join(data, "manifest.json")
    have = {}
    if os.path.isfile(path):
        with open(path) as f:
            have = json.load(f).get("cases", {})
    missing = [c for c in cases if c not in have
               or not os.path.isfile(os.path.join(data, have[c]["file"]))]
    if missing:
        say("preparing %s into %s (prepare.py, default sizes)" % (", ".join(missing), data))
        cp = subprocess.run([VENV_PY, os.path.join(HERE, "prepare.py"), "--out", data,
                             "--cases", ",".join(missing)], cwd=REPO)
        if cp.returncode != 0:
            raise Usage("prepare.py --out %s --cases %s failed (exit %d)"
                        % (data, ",".join(missing), cp.returncode))
    with open(path) as f:
        return json.load(f)


# --- sluice ----------------------------------------------------------------------------------

def sluice_model(model):
    """(the model in sluice's keys, [dropped key: why], task seed)."""
    kind = model["type"]
    keys = SLUICE_KEYS.get(kind)
    if keys is None:
        raise Usage("model type %s is not a sluice learner" % kind)
    out, dropped = {"type": kind}, []
    seed = model.get("seed", 1)
    for k, v in model.items():
        if k == "type":
            continue
        if k == "seed":
            dropped.append("seed (the train task's `seed: %s`)" % v)
        elif k == "optimizer":
            dropped.append("optimizer (%s)" % ("sluice's mlp is Adam" if v == "adam"
                                               else "sluice has Adam only, NOT %s" % v))
        elif k == "early_stopping" and v is False:
            if kind == "mlp":
                out[k] = 0
            else:
                dropped.append("early_stopping: false (sluice's %s default: off)" % kind)
        elif k == "early_stopping" and v is True:
            dropped.append("early_stopping: true (sluice's default patience)")
        elif k in keys:
            out[k] = v
        else:
            dropped.append("%s (not a sluice %s key)" % (k, kind))
    return out, dropped, seed


def pipeline_yaml(case_path, entry, model, seed, threads):
    j = json.dumps
    lines = ["# written by bench/ml/bench.py", "name: bench", "tasks:",
             "  data:", "    op: read.parquet", "    path: %s" % j(case_path),
             "  train:", "    op: train", "    input: data"]
    if model["type"] not in ("kmeans", "pca") and entry.get("label"):
        lines.append("    label: %s" % j(entry["label"]))
    lines += ["    features: %s" % j(entry["features"]),
              "    model: %s" % j(model),
              "    split: {column: split}",
              "    seed: %d" % seed,
              "    threads: %d" % threads]
    return "\n".join(lines) + "\n"


def sluice_cli(sluice, home, args):
    cp = subprocess.run([sluice, "--home", home] + args, cwd=REPO, capture_output=True,
                        text=True)
    if cp.returncode != 0:
        raise RuntimeError("sluice %s failed (exit %d): %s" % (
            " ".join(args), cp.returncode, (cp.stderr + cp.stdout).strip()[-1000:]))
    return json.loads(cp.stdout)


def sluice_error(sluice, home, log_path):
    """One line saying why sluice failed: the last `file:line:col: error: ...` line of its
    output (the file was refused), else the last line of the failed attempt's error (from
    `sluice show RUN --json`), else the output's last line."""
    lines = output_lines(log_path)
    refused = [ln for ln in lines if ": error: " in ln]
    if refused:
        return os.path.basename(refused[-1])
    try:
        runs = sluice_cli(sluice, home, ["runs", "bench", "--limit", "1", "--json"])
        show = sluice_cli(sluice, home, ["show", runs[0]["id"], "--json"])
        errors = [a["error"] for a in show.get("attempts", [])
                  if a.get("state") == "failed" and a.get("error")]
        if errors:
            return errors[-1].strip().splitlines()[-1]
    except (RuntimeError, ValueError, KeyError, IndexError, OSError):
        pass
    return (lines or ["no output"])[-1]


def output_lines(log_path):
    """The non-blank lines of a command's log."""
    try:
        with open(log_path, "rb") as f:
            return [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()
                    if ln.strip()]
    except OSError:
        return []


def run_sluice(sluice, run, entry, data, threads, timeout, workdir):
    model, dropped, seed = sluice_model(run["model"])
    rdir = os.path.join(workdir, run["name"].replace("/", "__"))
    home = os.path.join(rdir, "home")
    shutil.rmtree(rdir, ignore_errors=True)
    os.makedirs(rdir)
    pipeline = os.path.join(rdir, "pipeline.yaml")
    with open(pipeline, "w") as f:
        f.write(pipeline_yaml(os.path.join(data, entry["file"]), entry, model, seed, threads))
    cmd = [sluice, "run", pipeline, "--home", home, "--force"]
    say("  sluice: %s" % " ".join(cmd))
    res = measure("sluice", ["timeout", "-k", "30", str(timeout)] + cmd,
                  os.path.join(rdir, "sluice.log"))
    res.update(command=cmd, pipeline=pipeline, model=model, dropped=dropped)
    if not res["ok"]:
        why = ("did not finish in %d s" % timeout if res["rc"] == 124
               else sluice_error(sluice, home, res["log"]))
        res.update(status="failed", why=why)
        return res
    try:
        rows = sluice_cli(sluice, home, ["sql", "select metric, value from bench.train "
                                         "where step is null", "--format", "json"])
        figures = {r["metric"]: r["value"] for r in rows}
        versions = sluice_cli(sluice, home, ["datasets", "--json"])
        latest = [v for v in versions if v.get("pipeline") == "bench"
                  and v.get("task") == "train" and v.get("latest_since")]
        if not latest:
            raise RuntimeError("no latest version of bench.train in `sluice datasets --json`")
        mdir = os.path.join(latest[-1]["path"], "model")
        with open(os.path.join(mdir, "model.json")) as f:
            fitted = json.load(f)["fitted"]
        with open(os.path.join(mdir, "trials.json")) as f:
            trials = json.load(f)
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        res.update(ok=False, status="failed", why="figures: %s" % e)
        return res
    res.update(status="ok", figures=figures, fit_seconds=figures.get("fit_seconds"),
               model_dir=mdir, epochs=trials[0].get("epochs") if trials else None)
    if "iterations" in fitted:
        res["iterations"] = fitted["iterations"]
    for part in ("valid", "test"):
        if "%s.accuracy" % part in figures:
            res[part] = {k: figures.get("%s.%s" % (part, k))
                         for k in ("accuracy", "f1_macro", "logloss", "auc")}
        else:
            res[part] = None
    kind = model["type"]
    if kind == "kmeans":
        parts = {p: figures["%s.inertia" % p] for p in ("train", "valid", "test")
                 if "%s.inertia" % p in figures}
        res["inertia_by_part"] = parts
        res["inertia"] = sum(parts.values()) if parts else None
    if kind == "pca":
        ratio = fitted.get("explained_variance_ratio")
        res["explained_variance_ratio"] = ratio
        res["explained_variance_ratio_sum"] = sum(ratio) if ratio else \
            figures.get("train.explained_variance")
    return res


# --- peers -----------------------------------------------------------------------------------

def run_peer(tool, run, data, threads, cases, timeout, workdir):
    rdir = os.path.join(workdir, run["name"].replace("/", "__"))
    os.makedirs(rdir, exist_ok=True)
    cmd = [VENV_PY, os.path.join(HERE, "peers.py"), "--data", data, "--run", run["name"],
           "--tool", tool, "--threads", str(threads), "--cases", cases]
    say("  %s: %s" % (tool, " ".join(cmd[1:])))
    res = measure(tool, ["timeout", "-k", "30", str(timeout)] + cmd,
                  os.path.join(rdir, "%s.log" % tool))
    res["command"] = cmd
    with open(res["log"], "rb") as f:
        text = f.read().decode("utf-8", "replace")
    fig = last_json_object(text)
    if not res["ok"] or fig is None:
        last = (output_lines(res["log"]) or ["no output"])[-1]
        why = ("did not finish in %d s" % timeout if res["rc"] == 124
               else "exit %d: %s (%s)" % (res["rc"], last, res["log"]) if not res["ok"]
               else "no JSON line in %s" % res["log"])
        res.update(ok=False, status="failed", why=why)
    elif fig.get("skipped"):
        res.update(status="skipped", why=fig["skipped"])
    else:
        res.update(fig)
        res["status"] = "ok"
    return res


# --- report ----------------------------------------------------------------------------------

def samples_per_second(run, train_rows, fit_s):
    epochs = run["model"].get("epochs", 1) if run["model"]["type"] == "mlp" else 1
    return train_rows * epochs / fit_s if fit_s else None


def compare(run, sl, peer):
    """Figures of sluice against one peer (both ok)."""
    out = {}
    if sl.get("fit_seconds") and peer.get("fit_seconds"):
        out["speed"] = peer["fit_seconds"] / sl["fit_seconds"]
    kind = run["model"]["type"]
    if kind in ("logistic", "mlp", "gbdt"):
        for part in ("valid", "test"):
            if sl.get(part) and peer.get(part):
                out["%s_accuracy_points" % part] = 100 * (sl[part]["accuracy"]
                                                         - peer[part]["accuracy"])
    elif kind == "kmeans" and sl.get("inertia") and peer.get("inertia"):
        out["inertia_percent"] = 100 * (sl["inertia"] / peer["inertia"] - 1)
    elif kind == "pca":
        a, b = sl.get("explained_variance_ratio"), peer.get("explained_variance_ratio")
        if a and b and len(a) == len(b):
            out["max_ratio_difference"] = max(abs(x - y) for x, y in zip(a, b))
        elif a and b:
            out["components_differ"] = [len(a), len(b)]
    return out


def fnum(v, fmt):
    return fmt % v if isinstance(v, (int, float)) else "n/a"


def fint(v):
    return "{:,}".format(int(round(v))) if isinstance(v, (int, float)) else "n/a"


def fsec(v):
    if not isinstance(v, (int, float)):
        return "n/a"
    return "%.4f" % v if v < 1 else "%.2f" % v if v < 100 else "%.0f" % v


def print_run(name, entry):
    run, tools = entry["run"], entry["tools"]
    kind = run["model"]["type"]
    rows = entry["rows"]
    say()
    head = "%s  (%s: %s train / %s valid / %s test rows; metric %s" % (
        name, run["case"], fint(rows.get("train")), fint(rows.get("valid")),
        fint(rows.get("test")), run["metric"])
    if kind in ("logistic", "mlp", "gbdt") and rows.get("test"):
        head += "; 1 test row = %.2f points" % (100.0 / rows["test"])
    say(head + ")")
    say("  sluice model: %s" % json.dumps(entry["sluice_model"]))
    if entry["dropped"]:
        say("  dropped for sluice: %s" % "; ".join(entry["dropped"]))
    for note in entry.get("notes", []):
        say("  note: %s" % note)
    if kind in ("logistic", "mlp", "gbdt"):
        say("  %-13s %9s %9s %8s %9s %11s %8s %15s" % (
            "tool", "valid acc", "test acc", "test F1", "fit s", "samples/s", "speed x",
            "d acc pts v/t"))
    elif kind == "kmeans":
        say("  %-13s %15s %14s %9s %11s %8s %10s" % (
            "tool", "inertia (all)", "passes/steps", "fit s", "samples/s", "speed x",
            "d inertia"))
    else:
        say("  %-13s %10s %31s %9s %11s %8s %12s" % (
            "tool", "ratio sum", "first 4 ratios", "fit s", "samples/s", "speed x",
            "max |d ratio|"))
    for tool, r in tools.items():
        label = TOOL_NAMES.get(tool, tool)
        if r.get("status") != "ok":
            say("  %-13s %s: %s" % (label, r.get("status", "failed"), r.get("why", "")))
            continue
        c = entry["compare"].get(tool, {})
        speed = fnum(c.get("speed"), "%.2f") if tool != "sluice" else ""
        sps = samples_per_second(run, rows.get("train") or 0, r.get("fit_seconds"))
        if kind in ("logistic", "mlp", "gbdt"):
            v, t = r.get("valid") or {}, r.get("test") or {}
            diff = ""
            if tool != "sluice" and "test_accuracy_points" in c:
                diff = "%+.2f / %+.2f" % (c.get("valid_accuracy_points", float("nan")),
                                          c["test_accuracy_points"])
            say("  %-13s %9s %9s %8s %9s %11s %8s %15s" % (
                label, fnum(v.get("accuracy"), "%.4f"), fnum(t.get("accuracy"), "%.4f"),
                fnum(t.get("f1_macro"), "%.4f"), fsec(r.get("fit_seconds")), fint(sps),
                speed, diff))
        elif kind == "kmeans":
            passes = "%s/%s" % (r.get("iterations", "?"), r.get("steps", "-"))
            diff = "%+.2f %%" % c["inertia_percent"] if "inertia_percent" in c else ""
            say("  %-13s %15s %14s %9s %11s %8s %10s" % (
                label, fint(r.get("inertia")), passes, fsec(r.get("fit_seconds")), fint(sps),
                speed, diff))
        else:
            ratio = r.get("explained_variance_ratio") or []
            first = " ".join("%.4f" % x for x in ratio[:4])
            diff = "%.2e" % c["max_ratio_difference"] if "max_ratio_difference" in c else ""
            say("  %-13s %10s %31s %9s %11s %8s %12s" % (
                label, fnum(r.get("explained_variance_ratio_sum"), "%.5f"), first,
                fsec(r.get("fit_seconds")), fint(sps), speed, diff))
    if kind == "kmeans":
        ref = tools.get("sklearn", {}).get("reference")
        if ref:
            say("  %-13s %15s %14s %9s   (reference, not a bar: %s)" % (
                "KMeans", fint(ref.get("inertia")), "%s/-" % ref.get("iterations"),
                fsec(ref.get("fit_seconds")), ref.get("model")))
        sl = tools.get("sluice", {})
        if sl.get("inertia_by_part"):
            say("  sluice inertia by part: %s (summed: all rows)" % ", ".join(
                "%s %s" % (k, fint(v)) for k, v in sl["inertia_by_part"].items()))
        true = tools.get("sklearn", {}).get("inertia_true_centres")
        if true:
            say("  around the generating centres: %s" % fint(true))


def bars(results):
    """The quality bars over the runs measured: [{bar, verdict, runs: [...]}]."""
    out = []

    def verdict(items):
        if any(i["verdict"] == "FAIL" for i in items):
            return "FAIL"
        return "PASS" if any(i["verdict"] == "PASS" for i in items) else "n/a"

    for title, kind, tool in ACCURACY_BARS:
        items = []
        for name, e in results["runs"].items():
            if e["run"]["model"]["type"] != kind or tool not in e["run"].get("peers", []):
                continue
            sl, peer = e["tools"].get("sluice", {}), e["tools"].get(tool, {})
            if peer.get("status") != "ok" or not peer.get("test"):
                items.append({"run": name, "verdict": "n/a",
                              "why": "%s %s" % (tool, peer.get("status", "not run"))})
            elif sl.get("status") != "ok" or not sl.get("test"):
                items.append({"run": name, "verdict": "FAIL",
                              "why": "sluice %s" % sl.get("why", sl.get("status"))})
            else:
                d = 100 * (sl["test"]["accuracy"] - peer["test"]["accuracy"])
                items.append({"run": name, "sluice": sl["test"]["accuracy"],
                              "peer": peer["test"]["accuracy"], "points": d,
                              "verdict": "PASS" if d >= -ACCURACY_POINTS - 1e-9 else "FAIL"})
        if items:
            out.append({"bar": "test accuracy within %g point of %s" % (ACCURACY_POINTS, title),
                        "verdict": verdict(items), "runs": items})
    for kind, title in (("kmeans", "k-means inertia within 1 % of MiniBatchKMeans (lower "
                                   "passes)"),
                        ("pca", "PCA explained variance ratios within %g" % PCA_TOLERANCE)):
        items = []
        for name, e in results["runs"].items():
            if e["run"]["model"]["type"] != kind:
                continue
            sl, peer = e["tools"].get("sluice", {}), e["tools"].get("sklearn", {})
            c = e["compare"].get("sklearn", {})
            if peer.get("status") != "ok":
                items.append({"run": name, "verdict": "n/a",
                              "why": "sklearn %s" % peer.get("status", "not run")})
            elif sl.get("status") != "ok":
                items.append({"run": name, "verdict": "FAIL",
                              "why": "sluice %s" % sl.get("why", sl.get("status"))})
            elif kind == "kmeans":
                ok = sl["inertia"] <= (1 + INERTIA_FRACTION) * peer["inertia"]
                items.append({"run": name, "sluice": sl["inertia"], "peer": peer["inertia"],
                              "percent": c.get("inertia_percent"),
                              "verdict": "PASS" if ok else "FAIL"})
            else:
                d = c.get("max_ratio_difference")
                items.append({"run": name, "max_difference": d,
                              "verdict": "PASS" if d is not None and d <= PCA_TOLERANCE
                              else "FAIL",
                              **({"why": "components %s vs %s" % tuple(c["components_differ"])}
                                 if "components_differ" in c else {})})
        if items:
            out.append({"bar": title, "verdict": verdict(items), "runs": items})
    return out


def print_bars(bar_list):
    say()
    say("quality bars (sluice against the peer; accuracy on the test rows)")
    for b in bar_list:
        say("  %-4s  %s" % (b["verdict"], b["bar"]))
        for i in b["runs"]:
            if "points" in i:
                detail = "sluice %.4f, peer %.4f, %+.2f points" % (i["sluice"], i["peer"],
                                                                   i["points"])
            elif "percent" in i:
                detail = "sluice %s, peer %s, %+.2f %%" % (fint(i["sluice"]), fint(i["peer"]),
                                                           i["percent"])
            elif i.get("max_difference") is not None:
                detail = "largest |difference| %.2e" % i["max_difference"]
            else:
                detail = i.get("why", "")
            say("          %-4s %-24s %s" % (i["verdict"], i["run"], detail))


# --- main ------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="sluice train vs scikit-learn / LightGBM / PyTorch on the same files, "
                    "splits and threads (see the module docstring)")
    ap.add_argument("--data", help="folder of prepare.py (prepared there when it lacks "
                                   "manifest.json or a case; default: WORKDIR/data)")
    ap.add_argument("--runs", help="comma-separated run names or indexes of cases.json "
                                   "(default: all)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of every tool (default 2)")
    ap.add_argument("--sluice", help="sluice binary (default target/release/sluice if it "
                                     "exists, else target/debug/sluice)")
    ap.add_argument("--cases", default=DEFAULT_CASES, help="the runs file (default "
                                                           "bench/ml/cases.json)")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="time limit of each tool's command in seconds (default 3600)")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", action="store_true", help="also print the results as one "
                                                        "JSON line")
    ap.add_argument("--out", help="write every figure as JSON to this file")
    a = ap.parse_args(argv)
    if a.threads < 1:
        ap.error("--threads must be >= 1")

    tmp, keep = work_folder(a, "ml_bench_")
    try:
        try:
            sluice, build, build_label = sluice_binary(a.sluice)
            with open(a.cases) as f:
                runs = select_runs(json.load(f)["runs"], a.runs)
            ensure_venv(REQUIREMENTS, IMPORTS)
            data = os.path.abspath(a.data or os.path.join(tmp, "data"))
            os.makedirs(data, exist_ok=True)
            manifest = ensure_data(data, sorted({r["case"] for r in runs}))
        except (Usage, OSError, ValueError, KeyError) as e:
            say("bench.py: %s" % e)
            return 2
        version = subprocess.run([sluice, "--version"], capture_output=True,
                                 text=True).stdout.strip()
        machine = {"cpu": cpu_model(), "cpus": os.cpu_count(),
                   "date": datetime.datetime.now(datetime.timezone.utc)
                   .strftime("%Y-%m-%d %H:%M UTC")}
        results = {"machine": machine, "threads": a.threads, "data": data, "workdir": tmp,
                   "sluice": {"path": sluice, "version": version, "build": build,
                              "label": build_label},
                   "runs": {}}
        say("ML benchmark: %s, %d CPUs; %d threads per tool; %s" % (
            machine["cpu"], machine["cpus"], a.threads, machine["date"]))
        say("sluice: %s (%s; %s)" % (os.path.relpath(sluice, REPO), version, build_label))
        say("data: %s" % data)
        results["load_average_before"] = list(os.getloadavg())
        for run in runs:
            entry_m = manifest["cases"][run["case"]]
            splits = entry_m.get("splits", {})
            model, dropped, _ = sluice_model(run["model"])
            notes = []
            std = run.get("params", {}).get("standardize")
            if std is not None and std != (run["model"]["type"] in ("logistic", "mlp")):
                notes.append("params.standardize is %s but sluice %s %s features" % (
                    std, "standardises" if run["model"]["type"] in ("logistic", "mlp")
                    else "does not standardise", run["model"]["type"]))
            entry = {"run": run, "case": run["case"], "rows": splits, "sluice_model": model,
                     "dropped": dropped, "notes": notes, "tools": {}, "compare": {}}
            results["runs"][run["name"]] = entry
            say()
            say("%s" % run["name"])
            entry["tools"]["sluice"] = run_sluice(sluice, run, entry_m, data, a.threads,
                                                  a.timeout, tmp)
            for tool in run.get("peers", []):
                entry["tools"][tool] = run_peer(tool, run, data, a.threads, a.cases,
                                                a.timeout, tmp)
            sl = entry["tools"]["sluice"]
            for tool in run.get("peers", []):
                peer = entry["tools"][tool]
                if sl.get("status") == "ok" and peer.get("status") == "ok":
                    entry["compare"][tool] = compare(run, sl, peer)
        results["load_average_after"] = list(os.getloadavg())

        say()
        say("=" * 100)
        say("ML benchmark: sluice train vs Python peers, %d threads each; %s, %d CPUs; %s"
            % (a.threads, machine["cpu"], machine["cpus"], machine["date"]))
        say("sluice %s: %s" % (os.path.relpath(sluice, REPO), build_label))
        peer_versions = {}
        for e in results["runs"].values():
            for tool, r in e["tools"].items():
                if tool != "sluice" and r.get("version"):
                    peer_versions[TOOL_NAMES[tool]] = r["version"]
        if peer_versions:
            say("peers: %s" % ", ".join("%s %s" % kv for kv in sorted(peer_versions.items())))
        say("fit s: the fit alone (each tool's own timer; sluice: its fit_seconds figure); "
            "speed x: peer fit s / sluice fit s (above 1: sluice faster); d: sluice - peer")
        for name, entry in results["runs"].items():
            print_run(name, entry)
        results["bars"] = bars(results)
        print_bars(results["bars"])
        say_load_average(results["load_average_before"], results["load_average_after"])
        for e in results["runs"].values():          # JSON-friendly: the run as cases.json has it
            e["name"] = e["run"]["name"]
        write_figures(results, a.out)
        if a.json:
            print(json.dumps(results), flush=True)
        failed = [(name, tool) for name, e in results["runs"].items()
                  for tool, r in e["tools"].items()
                  if tool != "sluice" and r.get("status") not in ("ok", "skipped")]
        if failed:
            say("peer failures: %s" % ", ".join("%s %s" % f for f in failed))
        return 1 if failed else 0
    finally:
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
