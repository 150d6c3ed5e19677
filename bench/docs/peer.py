#!/usr/bin/env python3
"""The Python reference of the OCR chain of bench/docs: Pillow + pytesseract.

    peer.py --files LIST.txt [--lang eng] [--psm 3] [--dpi 100] [--workers 1] --out OUT.jsonl

LIST.txt holds image paths, one a line. Each one is opened with Pillow and read with
pytesseract.image_to_string(img, lang=LANG, config="--psm PSM --dpi DPI") (pytesseract
writes the image to a temporary file and runs the tesseract binary on it), in --workers
processes (multiprocessing.Pool, imap keeps the input order; 1 worker: in this process).
Tesseract's own threads follow the environment (OMP_THREAD_LIMIT), as with the seed's code.
Writes OUT.jsonl, one {"path", "text"} a file, in input order, and prints one JSON object
{"documents", "seconds", "per_second"}: the time of the OCR loop only (after the imports and
the reading of LIST.txt, pool start included).
"""

import argparse
import json
import time
from multiprocessing import Pool

import pytesseract
from PIL import Image

_ARGS = None


def _init(lang, config):
    """Per-worker settings."""
    global _ARGS
    _ARGS = (lang, config)


def ocr(path):
    """The Tesseract text of one image file."""
    lang, config = _ARGS
    with Image.open(path) as img:
        return pytesseract.image_to_string(img, lang=lang, config=config)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Pillow + pytesseract OCR throughput")
    ap.add_argument("--files", required=True, help="image paths, one a line")
    ap.add_argument("--lang", default="eng")
    ap.add_argument("--psm", type=int, default=3)
    ap.add_argument("--dpi", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", required=True, help="JSON Lines {path, text}")
    a = ap.parse_args(argv)
    with open(a.files, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    config = "--psm %d --dpi %d" % (a.psm, a.dpi)

    t0 = time.perf_counter()
    if a.workers <= 1:
        _init(a.lang, config)
        texts = [ocr(p) for p in paths]
    else:
        with Pool(a.workers, initializer=_init, initargs=(a.lang, config)) as pool:
            texts = list(pool.imap(ocr, paths, chunksize=1))
    seconds = time.perf_counter() - t0

    with open(a.out, "w", encoding="utf-8") as f:
        for p, t in zip(paths, texts):
            f.write(json.dumps({"path": p, "text": t}, ensure_ascii=False) + "\n")
    print(json.dumps({"documents": len(paths), "seconds": round(seconds, 3),
                      "per_second": round(len(paths) / seconds, 3) if seconds > 0 else None}))


if __name__ == "__main__":
    main()
