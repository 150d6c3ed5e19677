#!/usr/bin/env python3
"""Builds a tiny random CLIP (the layout of openai/clip-vit-base-patch32 in Hugging Face folder
form) and transformers' own outputs for it, with no download: the fixture that checks
sluice's CLIP encoder (crates/sluice-embed/tests/clip.rs).

    make_tiny_clip.py --out crates/sluice-embed/tests/fixtures/tiny-clip

(run with a Python that has torch, transformers, tokenizers, safetensors, Pillow and numpy,
e.g. the bench environment of bench/embed/requirements.txt; HF_HUB_OFFLINE=1 is set.)
Deterministic for the same package versions (fixed seeds).

What it writes into --out:
  tokenizer.json        CLIP's fast tokenizer pipeline built with the `tokenizers` library:
                        NFC, whitespace runs to one space, lowercase; split on CLIP's pattern
                        then byte-level; BPE with `</w>` word ends over the 256 byte symbols,
                        their `</w>` forms and 40 merges; <|startoftext|> … <|endoftext|>
                        around every text (the two last ids, as in OpenAI's vocabulary).
  config.json, model.safetensors
                        CLIPModel: text tower hidden 32, 2 layers, 4 heads, intermediate 64,
                        77 positions, eos_token_id 2 (OpenAI's config: the end-of-text token is
                        found as the highest id); vision tower hidden 48, 2 layers, 4 heads,
                        intermediate 96, image 224, patches of 32; quick GELU; projection 24.
                        Weights redrawn with a torch.Generator seeded 0 (matrices N(0, 0.25),
                        the patch convolution N(0, 0.03), biases N(0, 0.1), LayerNorm gains
                        1 + N(0, 0.2) and biases N(0, 0.1)), so that vectors differ clearly.
  preprocessor_config.json
                        CLIPImageProcessor (PIL): shortest edge 224, bicubic, centre crop 224,
                        1/255, OpenAI's channel means and deviations.
  images/N.png          6 images of different sizes and shapes (gradients, stripes, noise).
  crops/N.png           each image resized and cropped by the processor (its pixel_values
                        turned back into 8-bit RGB), 224x224.
  texts.json            8 texts (empty, long enough to be truncated at 77 tokens, accents).
  token_ids.json        the ids `tokenizers` gives each text, truncated to 77.
  image_embeds.f32      6 x 24 float32 little-endian: projection of the vision tower's pooled
                        output for the processor's pixel_values, L2-normalised.
  text_embeds.f32       8 x 24: the same for the text tower, each text alone (no padding).
"""

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import CLIPConfig, CLIPModel  # noqa: E402

try:  # transformers 5: the PIL implementation under its own name (no torchvision needed)
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor  # noqa: E402
except ImportError:
    from transformers import CLIPImageProcessor  # noqa: E402

TEXTS = [
    "",
    "a scanned invoice",
    "Dear Sir, please find enclosed the budget for 1998.",
    "MEMORANDUM TO: all staff FROM: the director RE: new procedures",
    "Résumé — expérience, éducation, compétences",
    "the the the the",
    " ".join(["word%d" % i for i in range(60)]),
    "Hello!!! What's up? It's 3:45pm...",
]


def bytes_to_unicode():
    """GPT-2/CLIP's map of the 256 bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_tokenizer():
    chars = list(bytes_to_unicode().values())
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    pairs = [("t", "h"), ("th", "e</w>"), ("i", "n"), ("a", "n"), ("e", "r</w>"), ("o", "n</w>"),
             ("r", "e"), ("e", "n"), ("s", "t"), ("in", "g</w>"), ("an", "d</w>"), ("o", "r"),
             ("t", "o</w>"), ("a", "t"), ("e", "d</w>"), ("i", "s</w>"), ("w", "or"), ("d", "s</w>"),
             ("c", "e</w>"), ("p", "l"), ("e", "a"), ("s", "e</w>"), ("en", "t</w>"), ("l", "e</w>"),
             ("b", "u"), ("bu", "d"), ("g", "e"), ("i", "c"), ("m", "e"), ("o", "u"), ("r", "o"),
             ("a", "l</w>"), ("f", "o"), ("e", "s</w>"), ("a", "s"), ("d", "i"), ("c", "o"),
             ("u", "n"), ("a", "r"), ("i", "t</w>")]
    merges = []
    for a, b in pairs:
        if a in vocab and b in vocab and a + b not in vocab:
            vocab[a + b] = len(vocab)
            merges.append((a, b))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, continuing_subword_prefix="",
                               end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(),
                                           normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(
        ("<|endoftext|>", vocab["<|endoftext|>"]), ("<|startoftext|>", vocab["<|startoftext|>"]),
        trim_offsets=False, add_prefix_space=False)
    return tok, len(vocab)


def images():
    """Six test images: sizes that make the resize go both ways and the crop cut both sides."""
    rng = np.random.default_rng(3)
    out = []
    for w, h in [(300, 200), (200, 300), (224, 224), (97, 351), (640, 480), (50, 50)]:
        y, x = np.mgrid[0:h, 0:w]
        r = (255 * x / max(w - 1, 1)).astype(np.float64)
        g = (255 * y / max(h - 1, 1)).astype(np.float64)
        b = 127 + 127 * np.sin(x / 7.0) * np.cos(y / 11.0)
        img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
        img[(x // 16 + y // 16) % 5 == 0] = [250, 240, 10]
        out.append(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = args.out
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "crops"), exist_ok=True)

    tok, vocab_size = build_tokenizer()
    tok.save(os.path.join(out, "tokenizer.json"))
    tok.enable_truncation(77)

    config = CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                         num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=77,
                         hidden_act="quick_gelu", eos_token_id=2, bos_token_id=vocab_size - 2,
                         pad_token_id=1),
        vision_config=dict(hidden_size=48, intermediate_size=96, num_attention_heads=4,
                           num_hidden_layers=2, image_size=224, patch_size=32,
                           hidden_act="quick_gelu"),
        projection_dim=24)
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "norm" in name or "layrnorm" in name:
                if name.endswith("weight"):
                    p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "patch_embedding" in name:
                p.copy_(0.03 * torch.randn(p.shape, generator=gen))
            elif "logit_scale" in name:
                continue
            else:
                p.copy_(0.25 * torch.randn(p.shape, generator=gen))
    model.save_pretrained(out, safe_serialization=True)

    proc = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                              resample=3, do_center_crop=True, do_normalize=True, do_rescale=True,
                              do_convert_rgb=True)
    proc.save_pretrained(out)

    imgs = images()
    for i, img in enumerate(imgs):
        img.save(os.path.join(out, "images", "%d.png" % i))
    pixel_values = proc(images=imgs, return_tensors="pt")["pixel_values"]
    mean = np.array(proc.image_mean).reshape(3, 1, 1)
    std = np.array(proc.image_std).reshape(3, 1, 1)
    for i, pv in enumerate(pixel_values.numpy()):
        u8 = np.clip(np.rint((pv * std + mean) * 255), 0, 255).astype(np.uint8)
        Image.fromarray(u8.transpose(1, 2, 0), "RGB").save(os.path.join(out, "crops", "%d.png" % i))

    ids = [tok.encode(t).ids for t in TEXTS]
    with torch.no_grad():
        pooled = model.vision_model(pixel_values=pixel_values).pooler_output
        img_emb = torch.nn.functional.normalize(model.visual_projection(pooled), dim=-1)
        txt = []
        for t in ids:
            pooled = model.text_model(input_ids=torch.tensor([t])).pooler_output
            txt.append(torch.nn.functional.normalize(model.text_projection(pooled), dim=-1)[0])
        txt_emb = torch.stack(txt)
    img_emb.numpy().astype("<f4").tofile(os.path.join(out, "image_embeds.f32"))
    txt_emb.numpy().astype("<f4").tofile(os.path.join(out, "text_embeds.f32"))
    with open(os.path.join(out, "texts.json"), "w") as f:
        json.dump(TEXTS, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "token_ids.json"), "w") as f:
        json.dump(ids, f)
    print("tiny CLIP in %s: %d images, %d texts, projection %d" % (out, len(imgs), len(TEXTS), 24))


if __name__ == "__main__":
    main()
