#!/usr/bin/env python3
"""OCR benchmark: sluice's `ocr` op against the document team's chain (Pillow + pytesseract,
bench/docs/peer.py) on the same generated scans, same Tesseract, same settings (bench/docs/README.md).

    python3 bench/docs/bench.py [--sluice PATH] [--docs 200] [--workers 2] [--workdir DIR]
                                [--keep] [--out FILE]

1. DOCS pages from examples/document_classification/generate.py (13 a class, PNG, JPEG, TIFF
   and BMP in turn, 100 dpi), their ground-truth text beside.
2. sluice: `read.files` → `ocr` (eng, psm 3, 100 dpi), a cold OCR cache; the figure is the
   `ocr` task's own duration (from `sluice show --json`) and the run's wall time.
3. The peer: pytesseract + Pillow over the same files, in WORKERS processes (the same cores)
   and in one; the figure is its OCR loop.
4. Same engine, same text: sluice's text of every page against the `tesseract` command's on
   the same file (without its form feed), and against pytesseract's by format (pytesseract
   gives Tesseract a PNG re-encoded by Pillow); the character error rate against the truth.
Prints documents/s and the ratio. Runs on .venv-bench (Pillow, pytesseract); Tesseract from
scripts/tesseract.sh. Exit 0 when every text is equal, 1 otherwise, 2 on an error.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from benchlib import (REPO, say, ensure_venv, leave_work_folder, measure,  # noqa: E402
                      say_load_average, work_folder, write_figures)

IMPORTS = "import PIL, pytesseract, numpy"
PIPELINE = """name: ocr_bench
tasks:
  ingest:
    op: read.files
    path: docs
  texts:
    op: ocr
    input: ingest
    lang: eng
    psm: 3
    dpi: 100
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sluice", default=os.path.join(REPO, "target", "release", "sluice"))
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    if not os.access(args.sluice, os.X_OK):
        say("error: %s is missing: cargo build --release -p sluice" % args.sluice)
        return 2
    if subprocess.run(["tesseract", "--version"], capture_output=True).returncode != 0:
        say("error: tesseract is missing: scripts/tesseract.sh")
        return 2
    py = ensure_venv(os.path.join(HERE, "requirements.txt"), IMPORTS)
    if os.path.abspath(sys.executable) != os.path.abspath(py):
        # The character error rate needs numpy: go on in the bench's environment.
        os.execv(py, [py] + sys.argv)
    from cer import cer
    tmp, keep = work_folder(args, "sluice-bench-docs-")
    load_before = os.getloadavg()

    docs = os.path.join(tmp, "docs")
    per_class = -(-args.docs // 16)
    subprocess.run([py, os.path.join(REPO, "examples", "document_classification", "generate.py"),
                    docs, "--per-class", str(per_class), "--formats", "png,jpg,tif,bmp"],
                   check=True, stdout=subprocess.DEVNULL)
    # Exactly --docs: drop the last ones of the last classes.
    folders = sorted(os.listdir(docs))
    for extra in sorted(folders, key=lambda f: (f.split("-")[2], f))[args.docs:]:
        subprocess.run(["rm", "-rf", os.path.join(docs, extra)], check=True)
    folders = sorted(os.listdir(docs))
    pages = [os.path.join(docs, f, next(n for n in sorted(os.listdir(os.path.join(docs, f)))
                                        if n.startswith("page.")))
             for f in folders]
    say("%d pages (%s) in %s" % (len(pages), ", ".join(sorted({os.path.splitext(p)[1] for p in pages})), docs))

    # sluice, cold cache.
    with open(os.path.join(tmp, "pipeline.yaml"), "w") as f:
        f.write(PIPELINE)
    env_home = os.path.join(tmp, ".sluice")
    cmd = [args.sluice, "--home", env_home, "run", os.path.join(tmp, "pipeline.yaml"), "--force"]
    subprocess.run(["rm", "-rf", env_home], check=True)
    r = measure("sluice", cmd, os.path.join(tmp, "sluice.log"), cwd=tmp)
    if not r["ok"]:
        say("error: sluice failed, see %s" % r["log"])
        return 2
    show = json.loads(subprocess.run([args.sluice, "--home", env_home, "show", "--json",
                                      _last_run(args.sluice, env_home)],
                                     capture_output=True, check=True, text=True).stdout)
    attempt = [a for a in show["attempts"] if a["task"] == "texts"][-1]
    ocr_s = (attempt["ended_at"] - attempt["started_at"]) / 1e6
    rows = json.loads(subprocess.run(
        [args.sluice, "--home", env_home, "sql", "--format", "json",
         "select source, text from ocr_bench.texts order by source"],
        capture_output=True, check=True, text=True, cwd=tmp).stdout)
    ours = {os.path.join(tmp, r["source"]): r["text"] for r in rows}

    # The peer, with WORKERS processes and with one.
    listing = os.path.join(tmp, "pages.txt")
    with open(listing, "w") as f:
        f.write("\n".join(pages) + "\n")
    peer = {}
    for workers in sorted({args.workers, 1}, reverse=True):
        out = os.path.join(tmp, "peer-%d.jsonl" % workers)
        p = subprocess.run([py, os.path.join(HERE, "peer.py"), "--files", listing, "--lang", "eng",
                            "--psm", "3", "--dpi", "100", "--workers", str(workers), "--out", out],
                           capture_output=True, text=True, env=dict(os.environ, OMP_THREAD_LIMIT="1"))
        if p.returncode != 0:
            say("error: peer.py failed:\n" + p.stderr)
            return 2
        peer[workers] = json.loads(p.stdout.strip().splitlines()[-1])
        if workers == args.workers:
            with open(out) as f:
                theirs = {j["path"]: j["text"] for j in map(json.loads, f)}

    # The tesseract command on the original files (pytesseract hands Tesseract a PNG that
    # Pillow re-encoded, not the file: its text may differ on JPEG, TIFF and BMP pages).
    def command(path):
        out = subprocess.run(["tesseract", path, "stdout", "-l", "eng", "--psm", "3", "--dpi", "100"],
                             capture_output=True, env=dict(os.environ, OMP_THREAD_LIMIT="1"))
        return out.stdout.decode("utf-8", "replace").removesuffix("\f")
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(args.workers) as pool:
        cli = dict(zip(pages, pool.map(command, pages)))
    equal = sum(1 for p in pages if ours.get(p) == cli[p])
    by_ext = {}
    for p in pages:
        ext = os.path.splitext(p)[1]
        same, total = by_ext.get(ext, (0, 0))
        by_ext[ext] = (same + (ours.get(p) == theirs.get(p, "").removesuffix("\f")), total + 1)
    truth_dir = os.path.join(tmp, "truth")

    def truth(p):
        with open(os.path.join(truth_dir, os.path.basename(os.path.dirname(p)) + ".txt")) as f:
            return f.read()
    cer_ours = sum(cer(truth(p), ours.get(p, "")) for p in pages) / len(pages)
    cer_theirs = sum(cer(truth(p), theirs.get(p, "")) for p in pages) / len(pages)

    n = len(pages)
    ours_rate = n / ocr_s
    say()
    say("same text as the tesseract command on the file: %d of %d pages" % (equal, n))
    say("same text as pytesseract (Pillow's re-encoded PNG): %s"
        % ", ".join("%s %d/%d" % (e, a, b) for e, (a, b) in sorted(by_ext.items())))
    say("character error rate against the truth: sluice %.4f, peer %.4f" % (cer_ours, cer_theirs))
    say("sluice ocr task      %7.2f s  %6.2f pages/s  (whole run %.2f s, peak %s MiB)"
        % (ocr_s, ours_rate, r["wall_s"], r.get("peak_mib")))
    for workers, fig in sorted(peer.items(), reverse=True):
        say("pytesseract+Pillow  %7.2f s  %6.2f pages/s  (%d process%s)"
            % (fig["seconds"], fig["per_second"], workers, "es" if workers > 1 else ""))
    best = peer[args.workers]["per_second"]
    say("ratio sluice / pytesseract (%d processes): %.2fx; against one process: %.2fx"
        % (args.workers, ours_rate / best, ours_rate / peer[1]["per_second"]))
    say_load_average(load_before, os.getloadavg())
    write_figures({"pages": n, "equal": equal,
                   "equal_pytesseract": {e: a for e, (a, _) in by_ext.items()}, "cer_sluice": cer_ours, "cer_peer": cer_theirs,
                   "sluice_ocr_s": ocr_s, "sluice_run_s": r["wall_s"],
                   "peer": {str(k): v for k, v in peer.items()},
                   "ratio": ours_rate / best, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                  args.out)
    leave_work_folder(tmp, keep)
    return 0 if equal == n else 1


def _last_run(sluice, home):
    runs = json.loads(subprocess.run([sluice, "--home", home, "runs", "--json", "--limit", "1"],
                                     capture_output=True, check=True, text=True).stdout)
    return runs[0]["id"]


if __name__ == "__main__":
    sys.exit(main())
