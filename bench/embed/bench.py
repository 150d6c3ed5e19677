#!/usr/bin/env python3
"""Embedding benchmark: sentence-transformers (the peer) against `sluice embed`, same texts,
same model, same number of threads, on CPU.

    bench.py [--texts FILE.jsonl | --count 2000 --seed 2] [--threads 2] [--batch 32]
             [--model .models/all-MiniLM-L6-v2] [--sluice target/release/sluice]
             [--skip-sluice] [--peer-python PATH] [--repeat 1] [--out FILE.json]
             [--workdir DIR] [--keep]

1. Python for the peer: --peer-python if given (e.g. .venv/bin/python, which already has
   sentence-transformers), otherwise the virtualenv .venv-bench at the repository root,
   installing bench/embed/requirements.txt into it (created if needed) when one of its
   packages does not import (torch from PyPI: several GB, see requirements.txt).
2. Input: --texts FILE, otherwise texts.py writes --count texts of kind "bench" (80 to 112
   words, French and English alternating, administrative / legal prose; --seed 2) into
   TMP/bench.jsonl.
3. Peer, in its own process:
     PY bench/embed/peer.py --model MODEL --texts TEXTS --threads T --batch B [--repeat R]
   torch.set_num_threads(T), SentenceTransformer(MODEL, device="cpu"), one warm-up batch of
   B texts not timed, then encode(all texts, batch_size=B) timed; it also counts the tokens
   with the model's tokenizer (special tokens included, truncated to max_seq_length). It
   prints one JSON line (texts, seconds, texts_per_second, tokens, tokens_per_second...).
4. sluice, in its own process (run_sluice below, from the repository root):
     SLUICE embed --model MODEL --input TEXTS --threads T --batch-size B --bench
   which prints one JSON object on stdout with at least texts, seconds, texts_per_second
   (its own timing: model loading excluded, as for the peer); skipped with --skip-sluice.
   The sluice binary is not built here: if it is missing, bench.py says to run
   `cargo build --release -p sluice` and exits 2.
   Once per --precisions entry (default: f32 bf16 int8), with `--precision P`; a precision
   the CPU lacks is reported as such.
5. Prints peer and sluice texts/s and tokens/s, and the ratio sluice / peer (texts/s) for each
   precision, the CPU model, and the rate of arithmetic each side reaches (GFLOP/s: 2 x the
   multiply-adds of the dense layers and of attention per token, from the model's config.json
   and the mean tokens per text) against the CPU's peak measured by
   `sluice-kernels`' `peak` example (--peak-bin, default target/release/examples/peak, built
   by `cargo build --release -p sluice-kernels --example peak`; skipped when missing). With
   --out writes all the figures as JSON.

Exit status: 0 when every side that ran succeeded, 1 otherwise, 2 when the model, the texts or
the sluice binary is missing.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (say, ensure_venv, last_json_object, say_load_average,  # noqa: E402
                      cpu_model, cpu_flags,
                      write_figures, work_folder, leave_work_folder)
MODEL = ".models/all-MiniLM-L6-v2"
IMPORTS = "import sentence_transformers, transformers, torch, tokenizers, numpy"

sys.path.insert(0, HERE)
import texts as texts_mod  # noqa: E402


def run_peer(python, model_dir, texts_file, threads, batch, repeat):
    cmd = [python, os.path.join(HERE, "peer.py"), "--model", model_dir, "--texts", texts_file,
           "--threads", str(threads), "--batch", str(batch), "--repeat", str(repeat)]
    say("peer: %s" % " ".join(cmd))
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    res = last_json_object(cp.stdout) if cp.returncode == 0 else None
    if res is None:
        say("peer FAILED (exit %d):\n%s" % (cp.returncode, (cp.stderr + cp.stdout)[-3000:]))
        return {"ok": False, "rc": cp.returncode}
    res.update({"ok": True, "wall_s": round(wall, 3), "command": cmd})
    return res


# ----------------------------------------------------------------------------------------
# sluice side. The CLI is implemented in the sluice crate; this is the contract bench.py
# expects:
#     SLUICE embed --model DIR --input TEXTS.jsonl --threads T --batch-size B --bench
# prints (on stdout, the last JSON line is read) one JSON object with at least
#     {"texts": N, "seconds": S, "texts_per_second": N / S}
# (optional: "tokens", "tokens_per_second", anything else; all kept in the results).
# ----------------------------------------------------------------------------------------
def run_sluice(binary, model_dir, texts_file, threads, batch, precision=None):
    cmd = [binary, "embed", "--model", model_dir, "--input", texts_file,
           "--threads", str(threads), "--batch-size", str(batch), "--bench"]
    if precision:
        cmd += ["--precision", precision]
    say("sluice: %s" % " ".join(cmd))
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    res = last_json_object(cp.stdout) if cp.returncode == 0 else None
    if res is None or not all(k in res for k in ("texts", "seconds", "texts_per_second")):
        if "needs a CPU with" in cp.stderr:
            say("sluice --precision %s: not supported by this CPU" % precision)
            return {"ok": False, "unsupported": True, "rc": cp.returncode, "command": cmd}
        say("sluice FAILED (exit %d)%s:\n%s" % (
            cp.returncode, "" if cp.returncode else ": no JSON object with texts, seconds, "
            "texts_per_second on stdout", (cp.stderr + cp.stdout)[-3000:]))
        return {"ok": False, "rc": cp.returncode, "command": cmd}
    res.update({"ok": True, "wall_s": round(wall, 3), "command": cmd})
    return res


def cpu_description():
    """The CPU's model name and which of AVX-512, AVX-512 BF16 / VNNI, AVX-VNNI and AMX it has."""
    have = cpu_flags(("avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16"))
    return "%s (%s)" % (cpu_model(), " ".join(have) or "no AVX-512")


def flops_per_token(model_dir, tokens_per_text):
    """Arithmetic per token of a BERT-like encoder: 2 x (the four dense products' weights,
    plus attention's two products over a text of the mean length), per layer."""
    try:
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    except (OSError, KeyError, ValueError):
        return None
    length = float(tokens_per_text or 0)
    return 2 * layers * (4 * h * h + 2 * h * inter + 2 * length * h)


def run_peak(binary, threads):
    """The peak example's figures (peak_f32_gops, ...), or None when it is not built."""
    if not os.path.isfile(binary):
        say("(no %s: build it with `cargo build --release -p sluice-kernels --example peak` "
            "for the share of the CPU's peak)" % binary)
        return None
    cp = subprocess.run([binary, str(threads)], capture_output=True, text=True)
    return last_json_object(cp.stdout) if cp.returncode == 0 else None


def main(argv=None):
    ap = argparse.ArgumentParser(description="sentence-transformers vs sluice embed, CPU")
    ap.add_argument("--texts", help="texts (JSON Lines {id, text}); default: generate them")
    ap.add_argument("--count", type=int, default=2000, help="texts to generate (default 2000)")
    ap.add_argument("--seed", type=int, default=2, help="texts.py seed (default 2)")
    ap.add_argument("--threads", type=int, default=2, help="threads of each side (default 2)")
    ap.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed passes of the peer, median kept (default 1)")
    ap.add_argument("--model", default=MODEL,
                    help="model folder (default %s, made by scripts/model.sh)" % MODEL)
    ap.add_argument("--sluice", default="target/release/sluice",
                    help="sluice binary (relative to the repository root unless absolute)")
    ap.add_argument("--skip-sluice", action="store_true", help="run the peer only")
    ap.add_argument("--peer-python",
                    help="Python with sentence-transformers for the peer "
                         "(default: .venv-bench, installed from requirements.txt if needed)")
    ap.add_argument("--precisions", nargs="+", default=["f32", "bf16", "int8"],
                    help="sluice's --precision values to run (default f32 bf16 int8)")
    ap.add_argument("--peak-bin", default="target/release/examples/peak",
                    help="sluice-kernels' peak example, for the share of the CPU's peak")
    ap.add_argument("--out", help="write the figures as JSON to this file")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args(argv)

    model = os.path.abspath(os.path.join(REPO, a.model))
    sluice = a.sluice if os.path.isabs(a.sluice) else os.path.join(REPO, a.sluice)
    if not os.path.isfile(os.path.join(model, "tokenizer.json")):
        say("model %s not found: run scripts/model.sh (or pass --model)" % model)
        return 2
    if not a.skip_sluice and not (os.path.isfile(sluice) and os.access(sluice, os.X_OK)):
        say("sluice binary %s not found: build it first with\n"
            "    cargo build --release -p sluice\n"
            "(or point --sluice at one; --skip-sluice runs the peer alone)" % sluice)
        return 2

    if a.peer_python:
        # relative to the current folder, else to the repository root (symlinks kept: a
        # virtualenv's python must be called by its own path)
        python = a.peer_python if os.path.isabs(a.peer_python) else (
            os.path.abspath(a.peer_python) if os.path.exists(a.peer_python)
            else os.path.join(REPO, a.peer_python))
    else:
        python = ensure_venv(REQUIREMENTS, IMPORTS)
    tmp, keep = work_folder(a, "embed_bench_")
    try:
        if a.texts:
            texts_file = os.path.abspath(a.texts)
            if not os.path.isfile(texts_file):
                say("texts %s not found" % texts_file)
                return 2
        else:
            texts_file = os.path.join(tmp, "bench.jsonl")
            texts_mod.write_jsonl(texts_mod.generate("bench", a.count, a.seed), texts_file)
        rows = texts_mod.read_jsonl(texts_file)
        words = sum(len(t.split()) for _, t in rows)
        say("input: %s, %d texts, %.1f words per text" % (texts_file, len(rows), words / len(rows)))
        results = {"texts_file": texts_file, "texts": len(rows),
                   "words_per_text": round(words / len(rows), 2), "model": model,
                   "threads": a.threads, "batch": a.batch, "cpus": os.cpu_count(),
                   "load_average_before": list(os.getloadavg())}

        peer = run_peer(python, model, texts_file, a.threads, a.batch, a.repeat)
        results["peer"] = peer
        results["cpu"] = cpu_description()
        sides = [("sentence-transformers", peer)]
        if not a.skip_sluice:
            for precision in a.precisions:
                sl = run_sluice(sluice, model, texts_file, a.threads, a.batch, precision)
                if sl["ok"] and peer.get("ok") and "tokens_per_second" not in sl and sl["seconds"]:
                    sl["tokens_per_second"] = round(peer["tokens"] / sl["seconds"], 1)
                    sl["tokens_per_second_from"] = "peer token count / sluice seconds"
                results.setdefault("sluice_by_precision", {})[precision] = sl
                sides.append(("sluice " + precision, sl))
            # The first precision keeps the figures' old place.
            sl = results["sluice_by_precision"][a.precisions[0]]
            results["sluice"] = sl
        else:
            sl = None
            results["sluice"] = {"skipped": "--skip-sluice"}
        flops = flops_per_token(model, peer.get("tokens_per_text"))
        peak_bin = a.peak_bin if os.path.isabs(a.peak_bin) else os.path.join(REPO, a.peak_bin)
        peak = run_peak(peak_bin, a.threads)
        results["flops_per_token"] = flops
        results["peak"] = peak

        say()
        say("embeddings, %s: %d texts (%.1f words, %s tokens per text), %d threads, batch %d"
            % (os.path.relpath(model, REPO), len(rows), words / len(rows),
               peer.get("tokens_per_text", "?"), a.threads, a.batch))
        say("  CPU: %s, %d threads" % (results["cpu"], a.threads))
        say("  %-22s %10s %12s %10s %8s %9s %s" % ("", "texts/s", "tokens/s", "seconds",
                                                 "vs peer", "GFLOP/s", "of peak"))
        for name, r in sides:
            if r is None:
                say("  %-22s %10s" % (name, "skipped"))
            elif r.get("unsupported"):
                say("  %-22s not supported by this CPU" % name)
            elif not r.get("ok"):
                say("  %-22s FAILED (exit %s)" % (name, r.get("rc")))
            else:
                ratio = (r["texts_per_second"] / peer["texts_per_second"]
                         if peer.get("ok") and peer["texts_per_second"] else float("nan"))
                gflops = (r.get("tokens_per_second", 0) * flops / 1e9) if flops else float("nan")
                r["gflops"] = round(gflops, 1)
                kind = name.split()[-1] if name.startswith("sluice") else "f32"
                top = peak.get("peak_%s_gops" % kind) if peak else None
                share = ("%.0f %% of %s peak" % (100 * gflops / top, kind)) if top else ""
                if top:
                    r["share_of_peak"] = round(gflops / top, 3)
                if name.startswith("sluice") and peer.get("ok"):
                    r["ratio_over_peer"] = round(ratio, 3)
                say("  %-22s %10.1f %12.0f %10.2f %8s %9.1f %s" % (
                    name, r["texts_per_second"], r.get("tokens_per_second", float("nan")),
                    r["seconds"], ("x%.2f" % ratio) if name.startswith("sluice") else "",
                    gflops, share))
        if peak:
            say("  peak of this CPU on %d threads (sluice-kernels' peak example): %s" % (
                a.threads, ", ".join("%s %.0f G/s" % (k[5:-5], v) for k, v in peak.items()
                                     if k.startswith("peak_"))))
        if sl and sl.get("ok") and peer.get("ok") and peer["texts_per_second"]:
            results["ratio_sluice_over_peer"] = round(
                sl["texts_per_second"] / peer["texts_per_second"], 3)
        results["load_average_after"] = list(os.getloadavg())
        say_load_average(results["load_average_before"], results["load_average_after"])
        write_figures(results, a.out)
        ok = peer.get("ok") and (sl is None or sl.get("ok"))
        return 0 if ok else 1
    finally:
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
