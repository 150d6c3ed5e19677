#!/usr/bin/env python3
"""Reference sentence-transformers embeddings of a texts file, as raw little-endian float32.

    reference.py --model DIR --texts FILE.jsonl --out FILE.f32 [--batch 32] [--stats FILE.json]

Regenerates the all-MiniLM-L6-v2 correctness fixture (from the repository root, with the
Python that has sentence-transformers, e.g. .venv/bin/python; the model folder comes from
scripts/model.sh):

    .venv/bin/python bench/embed/texts.py --kind varied --count 1000 --seed 1 \\
        --out crates/sluice-embed/tests/fixtures/minilm/texts.jsonl
    .venv/bin/python bench/embed/reference.py --model .models/all-MiniLM-L6-v2 \\
        --texts crates/sluice-embed/tests/fixtures/minilm/texts.jsonl \\
        --out crates/sluice-embed/tests/fixtures/minilm/vectors.f32

What it does:
  SentenceTransformer(DIR, device="cpu").encode(texts, batch_size=32,
      normalize_embeddings=False, convert_to_numpy=True)
  (the model's own modules.json pipeline: Transformer -> Pooling -> Normalize for MiniLM), then
  writes the matrix as float32, little-endian, row-major (row i = line i of the texts file),
  no header: rows x dim x 4 bytes. Prints the shape and the row norms' range.

It also counts the tokens of every text with the model's tokenizer (the tokenizer.json of DIR
through the `tokenizers` library, special tokens included, truncation and padding switched off)
and prints min / median / max and how many exceed the model's max_seq_length (256 for MiniLM).
--stats FILE writes those figures, with the package versions, as JSON. No network: HF_HUB_OFFLINE=1.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import statistics
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import texts as texts_mod  # noqa: E402


def token_counts(model_dir, texts):
    """Token count of each text (special tokens included, no truncation, no padding)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=True)]


def versions():
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "numpy": np.__version__}


def main(argv=None):
    ap = argparse.ArgumentParser(description="sentence-transformers embeddings -> raw f32 file")
    ap.add_argument("--model", required=True, help="sentence-transformers model folder")
    ap.add_argument("--texts", required=True, help="JSON Lines {id, text}")
    ap.add_argument("--out", required=True, help="output raw little-endian float32 file")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--stats", help="also write token statistics and versions as JSON here")
    a = ap.parse_args(argv)

    import torch
    from sentence_transformers import SentenceTransformer

    if a.threads:
        torch.set_num_threads(a.threads)
    rows = texts_mod.read_jsonl(a.texts)
    texts = [t for _, t in rows]
    model = SentenceTransformer(a.model, device="cpu")
    emb = model.encode(texts, batch_size=a.batch, normalize_embeddings=False,
                       convert_to_numpy=True, show_progress_bar=False)
    emb = np.ascontiguousarray(emb, dtype="<f4")
    with open(a.out, "wb") as f:
        f.write(emb.tobytes(order="C"))
    norms = np.linalg.norm(emb, axis=1)
    print("wrote %s: shape %s float32 little-endian (%d bytes); row norms %.6f..%.6f"
          % (a.out, emb.shape, emb.nbytes, norms.min(), norms.max()))

    max_len = model.max_seq_length
    counts = token_counts(a.model, texts)
    over = [rows[i][0] for i, c in enumerate(counts) if c > max_len]
    stats = {"texts": len(texts), "dim": int(emb.shape[1]), "max_seq_length": max_len,
             "tokens_min": min(counts), "tokens_median": statistics.median(counts),
             "tokens_mean": round(sum(counts) / len(counts), 1), "tokens_max": max(counts),
             "tokens_total": sum(counts), "over_max_seq_length": len(over),
             "over_max_seq_length_ids": over, "versions": versions()}
    print("tokens per text (special tokens included, untruncated): min %d, median %s, mean %.1f, "
          "max %d; %d of %d texts exceed max_seq_length %d"
          % (stats["tokens_min"], stats["tokens_median"], stats["tokens_mean"],
             stats["tokens_max"], len(over), len(texts), max_len))
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(stats, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
