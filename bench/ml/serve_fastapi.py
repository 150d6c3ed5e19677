"""The FastAPI reference of bench/ml/serve.py: serves the same model version as sluice, read
from sluice's artifact, with the forward pass in numpy.

    SERVE_MODEL_DIR=VERSION/model OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        .venv-bench/bin/python -m uvicorn serve_fastapi:app --app-dir bench/ml --workers 1 \\
        --host 127.0.0.1 --port 8000

    POST /v1/predict {"vector": [1024 numbers]} -> {"label": 3, "probas": [16 numbers]}
    GET  /health                                -> {"ok": true, "model": ..., "layers": [...]}

The artifact (crates/sluice-ml/src/model.rs, `Model::save`): `model.json` is the model as
serde writes it, where every matrix `{rows, cols, data}` of more than 64 values has its data
replaced by `{"tensor": NAME}`, NAME being the matrix's JSON path (`.fitted.layers.0.w`);
`weights.safetensors` holds those tensors (F32, shape [rows, cols], row-major). An MLP
(`fitted.type == "mlp"`, crates/sluice-ml/src/mlp.rs) is `layers: [{w: inputs x outputs,
b: [outputs]}]`, hidden layers then the output one, `activation` (relu, leaky_relu with
`negative_slope`, gelu) after each hidden layer, softmax after the last for a classifier.
Before it, `preprocess` (features.rs `Preprocess`): x' = (x - mean) * inv_std per column
(`scaling: none` does not centre). Everything in float32, as sluice computes it.
"""

import json
import math
import os
import struct

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64}


def read_safetensors(path):
    """{name: numpy array} of a safetensors file: an 8-byte little-endian header length, a
    JSON header {name: {dtype, shape, data_offsets}}, then the data (offsets from its start)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=SAFETENSORS_DTYPES[t["dtype"]]) \
            .reshape(t["shape"]).copy()
    return out


def restore(node, tensors):
    """model.json with each matrix's data as a float32 array of shape (rows, cols), whether it
    was moved to the safetensors file or kept inline (small ones)."""
    if isinstance(node, dict):
        if {"rows", "cols", "data"} <= node.keys():
            data = node["data"]
            arr = tensors[data["tensor"]] if isinstance(data, dict) else np.asarray(data)
            return arr.astype(np.float32).reshape(node["rows"], node["cols"])
        return {k: restore(v, tensors) for k, v in node.items()}
    if isinstance(node, list):
        return [restore(v, tensors) for v in node]
    return node


class Mlp:
    """The forward pass of a sluice MLP classifier on one vector."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "model.json")) as f:
            spec = json.load(f)
        model = restore(spec, read_safetensors(os.path.join(model_dir, "weights.safetensors")))
        fitted = model["fitted"]
        if fitted["type"] != "mlp" or not fitted.get("classes"):
            raise ValueError("%s: not an MLP classifier" % model_dir)
        pre = model["preprocess"]
        if any(c is not None for c in pre["categorical"]):
            raise ValueError("%s: categorical features are not handled here" % model_dir)
        self.mean = np.asarray(pre["mean"], dtype=np.float32)
        self.inv_std = np.asarray(pre["inv_std"], dtype=np.float32)
        self.center = pre.get("scaling", "standard") != "none"
        self.layers = [(layer["w"], np.asarray(layer["b"], dtype=np.float32))
                       for layer in fitted["layers"]]
        self.activation = fitted["activation"]
        self.slope = np.float32(fitted.get("negative_slope", 0.01))
        label = model["label"]
        self.classes = [int(c) if label["type"] == "int64" else c for c in label["classes"]]
        self.dim = self.mean.shape[0]

    def hidden(self, z):
        """The hidden layers' non-linearity."""
        if self.activation == "relu":
            return np.maximum(z, 0)
        if self.activation == "leaky_relu":
            return np.where(z > 0, z, self.slope * z)
        erf = np.vectorize(math.erf, otypes=[np.float32])
        return z * np.float32(0.5) * (1 + erf(z / np.float32(math.sqrt(2))))

    def probas(self, vector):
        """Class probabilities of one vector."""
        x = np.asarray(vector, dtype=np.float32)
        x = ((x - self.mean) if self.center else x) * self.inv_std
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < last:
                x = self.hidden(x)
        e = np.exp(x - x.max())
        return e / e.sum()


class Body(BaseModel):
    vector: list[float]


MODEL_DIR = os.environ.get("SERVE_MODEL_DIR", "")
model = Mlp(MODEL_DIR) if MODEL_DIR else None
app = FastAPI(title="sluice serving benchmark: FastAPI reference")


@app.get("/health")
async def health():
    return {"ok": model is not None, "model": MODEL_DIR,
            "layers": [list(w.shape) for w, _ in model.layers] if model else []}


@app.post("/v1/predict")
async def predict(body: Body):
    if len(body.vector) != model.dim:
        raise HTTPException(400, "the vector has %d values; the model expects %d"
                            % (len(body.vector), model.dim))
    p = model.probas(body.vector)
    return {"label": model.classes[int(p.argmax())], "probas": p.tolist()}
