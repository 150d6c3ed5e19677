#!/usr/bin/env python3
"""Builds a tiny random XLM-RoBERTa sentence-transformers model (bge-m3's architecture and
folder layout) and its reference outputs, with no download.

    make_tiny_xlmr.py --out crates/sluice-embed/tests/fixtures/tiny-xlmr
                      [--texts crates/sluice-embed/tests/fixtures/minilm/texts.jsonl]

(run from the repository root with the Python that has torch, transformers,
sentence-transformers and tokenizers, e.g. .venv/bin/python; HF_HUB_OFFLINE=1 is set.)
Deterministic: the same package versions give the same files (fixed seeds; the tokenizer's
scores are recomputed here because the trainer's vary from run to run, see build_tokenizer()).

What it writes into --out:
  tokenizer.json        a Unigram tokenizer (XLM-R's sentencepiece model type) trained with the
                        `tokenizers` library on 4,000 sentences of texts.sentences(seed=7)
                        (pieces chosen by its UnigramTrainer; scores re-estimated by this
                        script, deterministically: see build_tokenizer()):
                        normalizer NFKC, pre-tokenizer Metaspace("▁", prepend_scheme "always",
                        split on spaces), decoder Metaspace, vocabulary of about 1,000 pieces
                        with the special tokens in XLM-R order (<s>=0, <pad>=1, </s>=2,
                        <unk>=3, ..., <mask> last), post-processor TemplateProcessing
                        single "<s> $A </s>", pair "<s> $A </s> </s> $B </s>" (as XLM-R's).
                        No byte fallback: characters never seen in training (emoji, CJK...)
                        become <unk> (consecutive ones fused into one <unk>).
  tokenizer_config.json, special_tokens_map.json
                        for transformers' AutoTokenizer. tokenizer_class is
                        "PreTrainedTokenizerFast" (= TokenizersBackend in transformers 5), so
                        transformers uses tokenizer.json as it is; with "XLMRobertaTokenizer",
                        transformers 5 rebuilds the pipeline from the vocabulary alone (drops
                        the NFKC normalizer, pre-tokenizes with WhitespaceSplit + Metaspace)
                        and would not tokenize like tokenizer.json does (of the 1,000 varied
                        texts, the one with tabs and newlines, id 777, differs).
  config.json, model.safetensors
                        XLMRobertaModel(add_pooling_layer=False), hidden 32, 2 layers, 4 heads,
                        intermediate 64, max_position_embeddings 66 (64 tokens + padding_idx 1
                        + 1, XLM-R's position ids start at 2), type_vocab_size 1, GELU (erf),
                        layer_norm_eps 1e-5; torch.manual_seed(0), then every weight redrawn
                        with a torch.Generator seeded 0: matrices and embeddings N(0, 0.4),
                        biases N(0, 0.1), LayerNorm gains 1 + N(0, 0.2), LayerNorm biases
                        N(0, 0.1) (so that outputs of different texts differ clearly).
                        float32, safetensors.
  modules.json, sentence_bert_config.json, config_sentence_transformers.json,
  1_Pooling/config.json  sentence-transformers layout as bge-m3's: Transformer (max_seq_length
                        64, do_lower_case false) -> Pooling (CLS token) -> Normalize
                        (2_Normalize: no folder needed, it has no parameters).
  texts.jsonl           50 of the texts of --texts (their original ids; edge cases included,
                        and texts longer than 64 tokens so that truncation applies), sorted by id.
  token_ids.jsonl       {"id": N, "ids": [...]}: the ids of each text, truncated to 64 tokens
                        (<s> and </s> included), unpadded.
  reference_cls.f32     50 x 32 float32 little-endian, row-major (row i = line i of
                        texts.jsonl): hidden state of token 0 (<s>) of the last layer,
                        L2-normalised.
  reference_mean.f32    50 x 32, mean of the last hidden states over non-padding tokens,
                        L2-normalised.
  README.md             what the folder is and how to regenerate it.

The references come from transformers directly: AutoTokenizer(out) on batches of 8 texts in
file order (truncation=True, max_length=64, padding to the longest of the batch, attention
mask), AutoModel.from_pretrained(out) in float32 eval mode (eager attention). The script
checks that the `tokenizers` library (Tokenizer.from_file(tokenizer.json), truncation 64)
gives the same ids, and that SentenceTransformer(out) loads the folder and gives the same CLS
vectors (cosine > 0.99999), and prints both checks.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

import argparse
import json
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import texts as texts_mod  # noqa: E402

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK = "<mask>"
MAX_LEN = 64
HIDDEN = 32
N_SELECT = 50
BATCH = 8
TRAIN_SENTENCES = 4000
TRAIN_SEED = 7
VOCAB_SIZE = 1000
# std of matrices and embeddings; with 0.2 the CLS vectors of any two texts are at cosine ~0.96
WEIGHT_STD = 0.4
DEFAULT_TEXTS = "crates/sluice-embed/tests/fixtures/minilm/texts.jsonl"


def build_tokenizer():
    """The tokenizer: pieces chosen by tokenizers' UnigramTrainer, scores re-estimated here.

    The trainer's scores vary in their last digits from one run to the next (floating-point
    sums in a thread- and hash-dependent order), and the vocabulary is ordered by score, so
    the ids would change on every run. Its set of pieces is stable, so only the set is kept;
    the scores are recomputed deterministically: log-frequency of each piece as a substring of
    the pre-tokenized training words, then one Viterbi re-estimation (log of how often each
    piece is used when the corpus is segmented with those scores, smoothed by 0.1). The pieces
    are ordered by decreasing score, then by string.
    """
    import math
    from collections import Counter

    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors, trainers

    def pipeline(tok):
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        return tok

    def unigram(scores):
        ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        vocab = [(t, 0.0) for t in SPECIALS] + ordered + [(MASK, 0.0)]  # <mask> last, as XLM-R
        return pipeline(Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False)))

    corpus = texts_mod.sentences(TRAIN_SENTENCES, TRAIN_SEED)
    trainer_tok = pipeline(Tokenizer(models.Unigram()))
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB_SIZE - 1, special_tokens=SPECIALS,
                                      unk_token="<unk>", show_progress=False)
    trainer_tok.train_from_iterator(corpus, trainer)
    trained = [p for p, _ in json.loads(trainer_tok.to_str())["model"]["vocab"]]
    assert trained[:4] == SPECIALS, trained[:4]
    pieces = sorted(set(trained[4:]))

    words = Counter()
    for sent in corpus:
        norm = trainer_tok.normalizer.normalize_str(sent)
        for w, _ in trainer_tok.pre_tokenizer.pre_tokenize_str(norm):
            words[w] += 1
    piece_set, longest = set(pieces), max(len(p) for p in pieces)
    freq = Counter()
    for w, c in sorted(words.items()):
        for i in range(len(w)):
            for j in range(i + 1, min(len(w), i + longest) + 1):
                if w[i:j] in piece_set:
                    freq[w[i:j]] += c
    total = sum(freq.values())
    scores = {p: math.log(max(freq[p], 0.1) / total) for p in pieces}
    used = Counter()
    for enc in unigram(scores).encode_batch(corpus, add_special_tokens=False):
        used.update(enc.tokens)
    total = sum(used.values()) + 0.1 * len(pieces)
    scores = {p: round(math.log((used[p] + 0.1) / total), 8) for p in pieces}

    tok = unigram(scores)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS]
                           + [AddedToken(MASK, special=True, normalized=False, lstrip=True)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    for i, t in enumerate(SPECIALS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    assert tok.token_to_id(MASK) == tok.get_vocab_size() - 1
    return tok


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def build_model(vocab_size):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(
        vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=MAX_LEN + 2, type_vocab_size=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, hidden_act="gelu",
        position_embedding_type="absolute")
    torch.manual_seed(0)
    model = XLMRobertaModel(config, add_pooling_layer=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(WEIGHT_STD * noise)
    model.eval()
    return model


def st_files(out, versions):
    write_json(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": MAX_LEN, "do_lower_case": False})
    write_json(os.path.join(out, "config_sentence_transformers.json"),
               {"__version__": {"sentence_transformers": versions["sentence_transformers"],
                                "transformers": versions["transformers"],
                                "pytorch": versions["torch"]}})
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": True,
        "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False})


def tokenizer_files(out):
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_LEN, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
        "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": MASK,
        "clean_up_tokenization_spaces": False})
    write_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": MASK})


def select_texts(rows, tok):
    """50 rows: the edge cases, 25 texts of at most 64 tokens, the rest longer; sorted by id."""
    from tokenizers import Tokenizer

    t = Tokenizer.from_str(tok.to_str())
    t.no_truncation()
    t.no_padding()
    counts = {i: len(t.encode(text).ids) for i, text in rows}
    texts = dict(rows)
    chosen = [i for i in texts_mod.EDGE_IDS if i in texts]
    rest = [i for i, _ in rows if i not in chosen]
    short = sorted((i for i in rest if counts[i] <= MAX_LEN), key=lambda i: (counts[i], i))
    long = sorted((i for i in rest if counts[i] > MAX_LEN), key=lambda i: (counts[i], i))
    n_short = 25
    n_long = N_SELECT - len(chosen) - n_short

    def spread(ids, n):
        if len(ids) <= n:
            return list(ids)
        return [ids[round(k * (len(ids) - 1) / (n - 1))] for k in range(n)]

    chosen += spread(short, n_short) + spread(long, n_long)
    chosen = sorted(set(chosen))
    assert len(chosen) == N_SELECT, len(chosen)
    return [(i, texts[i]) for i in chosen], counts


def versions():
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__.split("+")[0],
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "numpy": np.__version__}


def main(argv=None):
    ap = argparse.ArgumentParser(description="tiny random XLM-R sentence-transformers fixture")
    ap.add_argument("--out", required=True, help="output folder (replaced)")
    ap.add_argument("--texts", default=os.path.join(REPO, DEFAULT_TEXTS),
                    help="varied texts (JSON Lines) to pick the 50 reference texts from "
                         "(default %s)" % DEFAULT_TEXTS)
    a = ap.parse_args(argv)

    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    vers = versions()
    out = a.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)

    tok = build_tokenizer()
    tok.save(os.path.join(out, "tokenizer.json"))
    tokenizer_files(out)
    vocab_size = tok.get_vocab_size()

    model = build_model(vocab_size)
    model.save_pretrained(out, safe_serialization=True)
    st_files(out, vers)

    rows, counts = select_texts(texts_mod.read_jsonl(a.texts), tok)
    texts = [t for _, t in rows]
    with open(os.path.join(out, "texts.jsonl"), "w", encoding="utf-8") as f:
        for i, t in rows:
            f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")

    # --- token ids: transformers (AutoTokenizer) and the tokenizers library must agree ----
    hf_tok = AutoTokenizer.from_pretrained(out)
    raw = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    raw.enable_truncation(MAX_LEN)
    raw.no_padding()
    ids = []
    mismatch = 0
    for t in texts:
        a_ids = hf_tok(t, truncation=True, max_length=MAX_LEN)["input_ids"]
        b_ids = raw.encode(t).ids
        mismatch += a_ids != b_ids
        ids.append(b_ids)
    print("tokenizer: %d pieces (%s); %s type %s" % (
        vocab_size, ", ".join("%s=%d" % (s, tok.token_to_id(s)) for s in SPECIALS + [MASK]),
        "AutoTokenizer", type(hf_tok).__name__))
    print("token ids, AutoTokenizer vs tokenizers.Tokenizer.from_file: %s"
          % ("identical for the 50 texts" if not mismatch else "%d texts DIFFER" % mismatch))
    if mismatch:
        sys.exit("tokenizer mismatch")
    with open(os.path.join(out, "token_ids.jsonl"), "w", encoding="utf-8") as f:
        for (i, _), row in zip(rows, ids):
            f.write(json.dumps({"id": i, "ids": row}) + "\n")

    # --- reference vectors with transformers ---------------------------------------------
    ref_model = AutoModel.from_pretrained(out, add_pooling_layer=False,
                                          attn_implementation="eager").float().eval()
    cls_rows, mean_rows = [], []
    with torch.no_grad():
        for s in range(0, len(texts), BATCH):
            enc = hf_tok(texts[s:s + BATCH], truncation=True, max_length=MAX_LEN, padding=True,
                         return_tensors="pt")
            for k in range(enc["input_ids"].shape[0]):
                assert enc["input_ids"][k][enc["attention_mask"][k].bool()].tolist() == ids[s + k]
            h = ref_model(input_ids=enc["input_ids"],
                          attention_mask=enc["attention_mask"]).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            cls_rows.append(torch.nn.functional.normalize(h[:, 0], dim=-1))
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            mean_rows.append(torch.nn.functional.normalize(mean, dim=-1))
    # the same in float64, to show how far float32 rounding moves the vectors
    f64 = []
    ref_model.double()
    with torch.no_grad():
        for s in range(0, len(texts), BATCH):
            enc = hf_tok(texts[s:s + BATCH], truncation=True, max_length=MAX_LEN, padding=True,
                         return_tensors="pt")
            h = ref_model(**enc).last_hidden_state
            f64.append(torch.nn.functional.normalize(h[:, 0], dim=-1))
    ref_model.float()
    f64_diff = float((torch.cat(f64) - torch.cat(cls_rows).double()).abs().max())
    ref_cls = torch.cat(cls_rows).numpy().astype("<f4")
    ref_mean = torch.cat(mean_rows).numpy().astype("<f4")
    ref_cls.tofile(os.path.join(out, "reference_cls.f32"))
    ref_mean.tofile(os.path.join(out, "reference_mean.f32"))

    lens = [len(r) for r in ids]
    full = [counts[i] for i, _ in rows]
    n_trunc = sum(c > MAX_LEN for c in full)
    unk = sum(r.count(3) for r in ids)
    sim = ref_cls @ ref_cls.T
    off = sim[~np.eye(len(sim), dtype=bool)]
    print("50 texts: %d truncated to %d tokens (untruncated %d..%d tokens), kept lengths %d..%d; "
          "%d <unk> ids" % (n_trunc, MAX_LEN, min(full), max(full), min(lens), max(lens), unk))
    print("reference_cls: cosine between different texts %.3f..%.3f (mean %.3f); "
          "float64 recomputation differs by at most %.1e"
          % (off.min(), off.max(), off.mean(), f64_diff))

    # --- sentence-transformers loads the folder and agrees -------------------------------
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(out, device="cpu")
    st_emb = st.encode(texts, batch_size=BATCH, convert_to_numpy=True,
                       normalize_embeddings=False, show_progress_bar=False)
    cos = (st_emb * ref_cls).sum(1) / (np.linalg.norm(st_emb, axis=1)
                                       * np.linalg.norm(ref_cls, axis=1))
    print("SentenceTransformer(%s): max_seq_length %d, modules %s" % (
        os.path.relpath(out), st.max_seq_length, [type(m).__name__ for m in st]))
    print("SentenceTransformer vs reference_cls: min cosine %.8f, max abs diff %.2e -> %s"
          % (cos.min(), np.abs(st_emb - ref_cls).max(), "OK" if cos.min() > 0.99999 else "FAIL"))
    if cos.min() <= 0.99999:
        sys.exit(1)

    write_readme(out, vocab_size, n_trunc, vers, off, cos.min(), unk, f64_diff)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print("wrote %s: %d bytes in all" % (out, total))


README = """# tiny-xlmr: a tiny random XLM-RoBERTa sentence-transformers model

A randomly initialised model with bge-m3's architecture (XLM-RoBERTa encoder, CLS pooling,
L2 normalisation) and folder layout, small enough to live in the repository, made to test the
XLM-R code path of `sluice-embed` (Unigram / Metaspace tokenizer, `<s>`/`</s>` template,
position ids starting at `padding_idx + 1`, CLS pooling). Its vectors mean nothing.

Made by `bench/embed/make_tiny_xlmr.py` with no download; regenerate (from the repository
root, after `crates/sluice-embed/tests/fixtures/minilm/texts.jsonl`, which it picks the texts
from):

```sh
.venv/bin/python bench/embed/make_tiny_xlmr.py --out crates/sluice-embed/tests/fixtures/tiny-xlmr
```

Versions used: Python {python}, torch {torch}, transformers {transformers},
sentence-transformers {sentence_transformers}, tokenizers {tokenizers}, numpy {numpy}.

## Files

| file | what it is |
|---|---|
| `tokenizer.json` | Unigram tokenizer trained with the `tokenizers` library on 4,000 generated French/English sentences (`bench/embed/texts.py`, `sentences(4000, seed=7)`): normalizer NFKC, pre-tokenizer Metaspace (`▁`, prepend_scheme `always`, split), decoder Metaspace, {vocab} pieces: `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, ..., `<mask>`={mask_id} (last); post-processor TemplateProcessing single `<s> $A </s>`, pair `<s> $A </s> </s> $B </s>`. No byte fallback: characters unseen in training (emoji, CJK...) become `<unk>` (a run of them, one `<unk>`). No truncation or padding set in the file. |
| `tokenizer_config.json`, `special_tokens_map.json` | for transformers' `AutoTokenizer`. `tokenizer_class` is `PreTrainedTokenizerFast` so that transformers uses `tokenizer.json` as it is (with `XLMRobertaTokenizer`, transformers 5 rebuilds the pipeline from the vocabulary: no NFKC, WhitespaceSplit + Metaspace pre-tokenizer; of the 1,000 varied texts, the tabs/newlines one, id 777, then tokenizes differently). `model_max_length` 64. |
| `config.json`, `model.safetensors` | `XLMRobertaModel(add_pooling_layer=False)`: vocab {vocab}, hidden 32, 2 layers, 4 heads (head size 8), intermediate 64, `max_position_embeddings` 66, `type_vocab_size` 1, `pad_token_id` 1, GELU (exact, erf), `layer_norm_eps` 1e-5, float32. Weights: `torch.manual_seed(0)`, then all redrawn from a `torch.Generator` seeded 0 in `named_parameters()` order: matrices and embeddings N(0, 0.4) (with 0.2, the CLS vectors of any two texts are at cosine 0.96 on average), biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.2), LayerNorm biases N(0, 0.1). Tensor names as bge-m3's (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`...). |
| `modules.json`, `sentence_bert_config.json`, `config_sentence_transformers.json`, `1_Pooling/config.json` | sentence-transformers layout: Transformer (`max_seq_length` 64, `do_lower_case` false) -> Pooling (`pooling_mode_cls_token` true, dimension 32) -> Normalize (`2_Normalize` has no parameters and no folder). |
| `texts.jsonl` | 50 texts `{{"id", "text"}}` taken from `../minilm/texts.jsonl` (ids are theirs), sorted by id: the 7 edge cases (emoji, URL/e-mail, punctuation, upper case, 60-letter word, tabs/newlines, CJK), 25 texts of at most 64 tokens and 18 longer ones spread over the token counts; {n_trunc} of the 50 exceed 64 tokens and are truncated. |
| `token_ids.jsonl` | `{{"id": N, "ids": [...]}}` per text, line for line: the ids after truncation to 64 tokens, `<s>` (0) and `</s>` (2) included, unpadded ({unk} `<unk>` ids in all). |
| `reference_cls.f32` | 50 x 32 float32, little-endian, row-major, no header (row i = line i of `texts.jsonl`): last hidden state of token 0 (`<s>`), L2-normalised. This is what the sentence-transformers pipeline of this folder outputs. |
| `reference_mean.f32` | 50 x 32, same layout: mean of the last hidden states over the non-padding tokens (`<s>` and `</s>` included), L2-normalised. |

## How the references were computed

With transformers directly, not sentence-transformers: `AutoTokenizer.from_pretrained(folder)`
on batches of 8 texts in file order (`truncation=True, max_length=64, padding=True`, i.e. right
padding with `<pad>`=1 to the longest of the batch, plus the attention mask; the truncation
keeps the first 62 pieces and adds `<s>`/`</s>`), `AutoModel.from_pretrained(folder)` in float32,
eval mode, eager attention, no token type ids passed (all 0). XLM-R position ids are computed
from the input ids: `padding_idx + cumsum(ids != padding_idx)` for real tokens, `padding_idx`
(1) for padding, so the first token has position 2 and 64 tokens use positions 2..65.

Checks made by the script (printed when it runs): the ids of `AutoTokenizer` and of
`tokenizers.Tokenizer.from_file("tokenizer.json")` with `enable_truncation(64)` are identical
for the 50 texts; `SentenceTransformer(folder)` loads the folder and its vectors match
`reference_cls.f32` (min cosine {st_cos:.8f}). Cosine between the CLS vectors of different
texts: {off_min:.3f} to {off_max:.3f} (mean {off_mean:.3f}). The same computation in float64
differs from `reference_cls.f32` by at most {f64:.1e} per component: a float32 implementation
should match to about 1e-5.

## Things to know

- Tokenization of whitespace: NFKC turns no-break spaces into spaces; Metaspace then replaces
  each space (U+0020 only) by `▁` and splits before it, so a run of spaces gives lone `▁`
  pieces (id 4) and a trailing space a final `▁`; tabs and newlines are not split on and, never
  seen in training, become `<unk>` (`"1\\tcolonne"` → `▁1`, `<unk>`, `c`, `ol`, `onne`).
- XLM-R's own `tokenizer.json` (converted from sentencepiece, as bge-m3's) has another
  normalizer, a `Precompiled` charsmap followed by `Replace(" {{2,}}", " ")`, where this one has
  NFKC; model type, pre-tokenizer and template are the same kind. Check against the real file.
- Loading the folder with transformers prints `pooler.dense.* MISSING`: `AutoModel` builds an
  `XLMRobertaModel` with a pooler that this model does not have and that the
  sentence-transformers pipeline does not use (harmless).
- GELU is the exact one (`erf`), as `"hidden_act": "gelu"` means in transformers; the tanh
  approximation (`gelu_new`) moves the CLS vectors by up to 2.5e-4 per component here while
  their cosine stays above 0.9999999: compare components (tolerance about 1e-5), not only
  cosines.
"""


def write_readme(out, vocab_size, n_trunc, vers, off, st_cos, unk, f64_diff):
    text = README.format(vocab=vocab_size, mask_id=vocab_size - 1, n_trunc=n_trunc,
                         st_cos=st_cos, off_min=off.min(), off_max=off.max(), f64=f64_diff,
                         off_mean=off.mean(), unk=unk, **vers)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
