#!/usr/bin/env python3
"""The peer side of bench/embed: sentence-transformers encoding throughput on CPU.

    peer.py --model DIR --texts FILE.jsonl [--threads 2] [--batch 32] [--repeat 1]

Run by bench.py with the Python of /.venv-bench (or --peer-python); runs alone too, with any
Python that has sentence-transformers (e.g. .venv/bin/python). No network: HF_HUB_OFFLINE=1.

1. torch.set_num_threads(--threads); SentenceTransformer(DIR, device="cpu").
2. Token counts of every text with the model's tokenizer (DIR/tokenizer.json through the
   `tokenizers` library, special tokens included): untruncated, and truncated to the model's
   max_seq_length (what the model computes on; padding not counted).
3. Warm-up, not timed: encode(first --batch texts, batch_size=--batch).
4. Timed (time.perf_counter, --repeat times, median kept): encode(all texts,
   batch_size=--batch, convert_to_numpy=True, normalize_embeddings=False), i.e. the model's
   own pipeline (for all-MiniLM-L6-v2: tokenize with truncation to 256 tokens, padding to the
   longest text of each batch, BERT, mean pooling, L2 normalisation). sentence-transformers
   sorts the texts by length (characters, longest first) before cutting them into batches.
5. Prints one JSON line: texts, seconds, texts_per_second, tokens (truncated), tokens_per_second,
   tokens_untruncated, tokens_per_text, truncated_texts, dim, threads, batch, runs, versions.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import statistics
import sys
import time


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="sentence-transformers CPU throughput")
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True, help="JSON Lines {id, text}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1, help="timed passes (median kept)")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    import numpy as np
    import sentence_transformers
    import tokenizers
    import transformers
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    texts = read_texts(a.texts)
    model = SentenceTransformer(a.model, device="cpu")
    max_len = model.max_seq_length

    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    counts = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=True)]
    tokens = sum(min(c, max_len) for c in counts)

    model.encode(texts[:a.batch], batch_size=a.batch, convert_to_numpy=True,
                 normalize_embeddings=False, show_progress_bar=False)
    runs = []
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        emb = model.encode(texts, batch_size=a.batch, convert_to_numpy=True,
                           normalize_embeddings=False, show_progress_bar=False)
        runs.append(time.perf_counter() - t0)
    seconds = statistics.median(runs)
    assert emb.shape[0] == len(texts) and np.isfinite(emb).all()
    print(json.dumps({
        "texts": len(texts), "seconds": round(seconds, 4),
        "texts_per_second": round(len(texts) / seconds, 2),
        "tokens": tokens, "tokens_per_second": round(tokens / seconds, 1),
        "tokens_untruncated": sum(counts), "tokens_per_text": round(tokens / len(texts), 2),
        "max_seq_length": max_len, "truncated_texts": sum(c > max_len for c in counts),
        "dim": int(emb.shape[1]), "threads": a.threads, "batch": a.batch,
        "runs_s": [round(r, 4) for r in runs],
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "sentence_transformers": sentence_transformers.__version__,
                     "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__},
    }), flush=True)


if __name__ == "__main__":
    main()
