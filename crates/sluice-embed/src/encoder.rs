//! The transformer encoder on the CPU: BERT and XLM-RoBERTa (post-LayerNorm, absolute
//! positions, GELU). Element-wise passes and attention in f32; the dense layers' products in
//! f32, or in bf16 or int8 where the CPU has the instructions ([`Precision`]).
//!
//! Texts of a batch are packed one after the other with no padding: the dense layers see one
//! `tokens × hidden` matrix, and attention runs per text on that text's own length. Nothing is
//! spent on padding, and no attention mask is needed.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::EmbedError;
use crate::config::ModelConfig;
use sluice_kernels::{Kernels, Layout, Precision, Scratch, Weights, matmul};

struct Layer {
    /// Query, key and value projections side by side, `hidden × 3·hidden` (input-major), the
    /// query part pre-scaled by 1/√head_dim.
    qkv: Weights,
    qkv_bias: Vec<f32>,
    out: Weights,
    out_bias: Vec<f32>,
    norm1: (Vec<f32>, Vec<f32>),
    up: Weights,
    up_bias: Vec<f32>,
    down: Weights,
    down_bias: Vec<f32>,
    norm2: (Vec<f32>, Vec<f32>),
}

/// Weights of the encoder, shared read-only by the worker threads.
pub(crate) struct Encoder {
    cfg: ModelConfig,
    kernels: Kernels,
    precision: Precision,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

/// Buffers one worker reuses from batch to batch.
#[derive(Default)]
pub(crate) struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
    scores: Vec<f32>,
    reduced: Scratch,
}

pub(crate) fn grow(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// The tensors of a safetensors file, under a name prefix.
pub(crate) struct Tensors<'a> {
    pub(crate) file: &'a Path,
    pub(crate) st: SafeTensors<'a>,
    pub(crate) prefix: String,
}

impl Tensors<'_> {
    pub(crate) fn error(&self, message: String) -> EmbedError {
        EmbedError::Model {
            path: self.file.to_path_buf(),
            message,
        }
    }

    /// The tensor `name` (after the file's prefix) as f32, checked to have `shape`.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .st
            .tensor(&full)
            .map_err(|_| self.error(format!("tensor `{full}` is missing")))?;
        if view.shape() != shape {
            return Err(self.error(format!(
                "tensor `{full}` has shape {:?}, config.json implies {shape:?}",
                view.shape()
            )));
        }
        let data = view.data();
        let values = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(self.error(format!(
                    "tensor `{full}` has dtype {other:?}; f32, f16 or bf16 expected"
                )));
            }
        };
        Ok(values)
    }

    /// A LayerNorm's weight and bias (`weight`/`bias`, or the older `gamma`/`beta`).
    pub(crate) fn norm(
        &self,
        name: &str,
        width: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let full = format!("{}{name}.weight", self.prefix);
        if self.st.tensor(&full).is_ok() {
            Ok((
                self.get(&format!("{name}.weight"), &[width])?,
                self.get(&format!("{name}.bias"), &[width])?,
            ))
        } else {
            Ok((
                self.get(&format!("{name}.gamma"), &[width])?,
                self.get(&format!("{name}.beta"), &[width])?,
            ))
        }
    }

    /// A linear layer stored `[out, in]`, returned input-major `[in, out]` with its bias.
    pub(crate) fn linear(
        &self,
        name: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let w = self.weight(name, inputs, outputs)?;
        let b = self.get(&format!("{name}.bias"), &[outputs])?;
        Ok((w, b))
    }

    /// The query, key and value projections (`names`, each `h × h`) side by side,
    /// `h × 3h` input-major, with their biases; the query part pre-scaled by `scale`
    /// (1/√head_dim), so attention scores need no scaling.
    pub(crate) fn fused_qkv(
        &self,
        names: [&str; 3],
        h: usize,
        scale: f32,
    ) -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
        let (q, qb) = self.linear(names[0], h, h)?;
        let (k, kb) = self.linear(names[1], h, h)?;
        let (v, vb) = self.linear(names[2], h, h)?;
        let mut qkv = vec![0.0f32; h * 3 * h];
        for r in 0..h {
            let row = &mut qkv[r * 3 * h..(r + 1) * 3 * h];
            for (o, w) in row[..h].iter_mut().zip(&q[r * h..(r + 1) * h]) {
                *o = w * scale;
            }
            row[h..2 * h].copy_from_slice(&k[r * h..(r + 1) * h]);
            row[2 * h..].copy_from_slice(&v[r * h..(r + 1) * h]);
        }
        let mut bias: Vec<f32> = qb.iter().map(|b| b * scale).collect();
        bias.extend_from_slice(&kb);
        bias.extend_from_slice(&vb);
        Ok((qkv, bias))
    }

    /// The weight of a linear layer without bias, stored `[out, in]`, returned input-major.
    pub(crate) fn weight(
        &self,
        name: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<Vec<f32>, EmbedError> {
        let w = self.get(&format!("{name}.weight"), &[outputs, inputs])?;
        Ok(transpose(&w, outputs, inputs))
    }
}

/// Multi-head self-attention of sequences packed one after the other (`lens` tokens each):
/// `qkv` holds each token's query (pre-scaled), key and value (`3h` values), `ctx` receives
/// each token's `h` values; `scores` holds at least `longest²`. `causal`: a token sees only
/// the tokens before it and itself.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    k: Kernels,
    qkv: &[f32],
    ctx: &mut [f32],
    scores: &mut [f32],
    lens: impl Iterator<Item = usize>,
    h: usize,
    heads: usize,
    causal: bool,
) {
    let d = h / heads;
    let mut start = 0;
    for len in lens {
        if len == 0 {
            continue;
        }
        let s = &mut scores[..len * len];
        for head in 0..heads {
            let q = &qkv[start * 3 * h + head * d..];
            let kk = &qkv[start * 3 * h + h + head * d..];
            let v = &qkv[start * 3 * h + 2 * h + head * d..];
            let part = Layout::strided(len, d, 3 * h);
            matmul(s, Layout::dense(len, len), q, part, kk, part.t(), false);
            if causal {
                for i in 0..len {
                    s[i * len + i + 1..(i + 1) * len].fill(f32::NEG_INFINITY);
                }
            }
            k.softmax_rows(s, len);
            let c = &mut ctx[start * h + head * d..];
            matmul(
                c,
                Layout::strided(len, d, h),
                s,
                Layout::dense(len, len),
                v,
                part,
                false,
            );
        }
        start += len;
    }
}

/// `[rows, cols]` → `[cols, rows]`.
pub(crate) fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

impl Encoder {
    /// Loads the weights from `model.safetensors` (f32, f16 or bf16; any prefix such as
    /// `bert.` or `roberta.`), checked against the config.
    pub fn load(
        file: &Path,
        bytes: &[u8],
        cfg: &ModelConfig,
        kernels: Option<&str>,
        precision: Precision,
    ) -> Result<Encoder, EmbedError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| EmbedError::Model {
            path: file.to_path_buf(),
            message: format!("not a readable safetensors file: {e}"),
        })?;
        let marker = "embeddings.word_embeddings.weight";
        let prefix = st
            .names()
            .into_iter()
            .find_map(|n| n.strip_suffix(marker).map(str::to_string))
            .ok_or_else(|| EmbedError::Model {
                path: file.to_path_buf(),
                message: format!("no `{marker}` tensor: not a BERT or XLM-RoBERTa checkpoint"),
            })?;
        let t = Tensors { file, st, prefix };
        let h = cfg.hidden;
        let word = t.get("embeddings.word_embeddings.weight", &[cfg.vocab, h])?;
        let position = t.get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_positions, h],
        )?;
        let type_name = format!("{}embeddings.token_type_embeddings.weight", t.prefix);
        let token_type = match t.st.tensor(&type_name) {
            Ok(view) => {
                let rows = view.shape().first().copied().unwrap_or(0);
                let all = t.get("embeddings.token_type_embeddings.weight", &[rows, h])?;
                all[..h].to_vec()
            }
            Err(_) => vec![0.0; h],
        };
        let norm = t.norm("embeddings.LayerNorm", h)?;
        let scale = 1.0 / ((h / cfg.heads) as f32).sqrt();
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let p = format!("encoder.layer.{i}");
            let (qkv, qkv_bias) = t.fused_qkv(
                [
                    &format!("{p}.attention.self.query"),
                    &format!("{p}.attention.self.key"),
                    &format!("{p}.attention.self.value"),
                ],
                h,
                scale,
            )?;
            let (out, out_bias) = t.linear(&format!("{p}.attention.output.dense"), h, h)?;
            let norm1 = t.norm(&format!("{p}.attention.output.LayerNorm"), h)?;
            let (up, up_bias) =
                t.linear(&format!("{p}.intermediate.dense"), h, cfg.intermediate)?;
            let (down, down_bias) = t.linear(&format!("{p}.output.dense"), cfg.intermediate, h)?;
            let norm2 = t.norm(&format!("{p}.output.LayerNorm"), h)?;
            let inter = cfg.intermediate;
            layers.push(Layer {
                qkv: Weights::new(precision, qkv, h, 3 * h),
                qkv_bias,
                out: Weights::new(precision, out, h, h),
                out_bias,
                norm1,
                up: Weights::new(precision, up, h, inter),
                up_bias,
                down: Weights::new(precision, down, inter, h),
                down_bias,
                norm2,
            });
        }
        Ok(Encoder {
            cfg: cfg.clone(),
            kernels: Kernels::detect(kernels),
            precision,
            word,
            position,
            token_type,
            norm,
            layers,
        })
    }

    /// The CPU level the element-wise kernels were compiled for.
    pub fn kernel_level(&self) -> &'static str {
        self.kernels.level
    }

    /// The number type of the dense layers' products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Runs the texts (token ids, special tokens included, at most `max_tokens` each) and
    /// writes one pooled (and, if the model says so, normalised) vector per text into `out`,
    /// `dimension` values each.
    pub fn forward(
        &self,
        texts: &[&[u32]],
        ws: &mut Workspace,
        out: &mut [f32],
    ) -> Result<(), EmbedError> {
        let cfg = &self.cfg;
        let (h, inter, heads) = (cfg.hidden, cfg.intermediate, cfg.heads);
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let k = self.kernels;

        // Embeddings.
        let x = grow(&mut ws.x, total * h);
        let mut row = 0;
        for ids in texts {
            if ids.len() > cfg.max_tokens {
                return Err(EmbedError::Input(format!(
                    "{} tokens, more than the model's {}",
                    ids.len(),
                    cfg.max_tokens
                )));
            }
            for (pos, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= cfg.vocab {
                    return Err(EmbedError::Input(format!(
                        "token id {id} is outside the model's vocabulary of {}: tokenizer.json does not belong to this model",
                        cfg.vocab
                    )));
                }
                let p = cfg.position_offset + pos;
                let dst = &mut x[row * h..(row + 1) * h];
                let w = &self.word[id * h..(id + 1) * h];
                let e = &self.position[p * h..(p + 1) * h];
                for (((o, a), b), c) in dst.iter_mut().zip(w).zip(e).zip(&self.token_type) {
                    *o = a + b + c;
                }
                row += 1;
            }
        }
        k.layernorm(x, &self.norm.0, &self.norm.1, cfg.eps);

        let longest = texts.iter().map(|t| t.len()).max().unwrap_or(0);
        for layer in &self.layers {
            let x = grow(&mut ws.x, total * h);
            let qkv = grow(&mut ws.qkv, total * 3 * h);
            layer.qkv.product(qkv, total, x, &mut ws.reduced);
            k.add_bias(qkv, &layer.qkv_bias);

            let ctx = grow(&mut ws.ctx, total * h);
            let scores = grow(&mut ws.scores, longest * longest);
            attention(
                k,
                qkv,
                ctx,
                scores,
                texts.iter().map(|t| t.len()),
                h,
                heads,
                false,
            );

            let tmp = grow(&mut ws.tmp, total * h);
            layer.out.product(tmp, total, ctx, &mut ws.reduced);
            k.residual_layernorm(
                x,
                tmp,
                &layer.out_bias,
                &layer.norm1.0,
                &layer.norm1.1,
                cfg.eps,
            );

            let ff = grow(&mut ws.ff, total * inter);
            layer.up.product(ff, total, x, &mut ws.reduced);
            k.bias_gelu(ff, &layer.up_bias);
            layer.down.product(tmp, total, ff, &mut ws.reduced);
            k.residual_layernorm(
                x,
                tmp,
                &layer.down_bias,
                &layer.norm2.0,
                &layer.norm2.1,
                cfg.eps,
            );
        }

        // Pooling, in sentence-transformers' order: cls, max, mean, mean_sqrt_len.
        let x = &ws.x[..total * h];
        let dim = cfg.dimension();
        let mut start = 0;
        for (ids, vector) in texts.iter().zip(out.chunks_exact_mut(dim)) {
            if ids.is_empty() {
                // A tokenizer that adds no special tokens can give nothing: a zero vector.
                vector.fill(0.0);
                continue;
            }
            let tokens = &x[start * h..(start + ids.len()) * h];
            let mut parts = vector.chunks_exact_mut(h);
            let pool = &cfg.pooling;
            if pool.cls
                && let Some(p) = parts.next()
            {
                p.copy_from_slice(&tokens[..h]);
            }
            if pool.max
                && let Some(p) = parts.next()
            {
                p.fill(f32::NEG_INFINITY);
                for t in tokens.chunks_exact(h) {
                    for (m, v) in p.iter_mut().zip(t) {
                        *m = m.max(*v);
                    }
                }
            }
            let mut sum = vec![
                0.0f32;
                if pool.mean || pool.mean_sqrt_len {
                    h
                } else {
                    0
                }
            ];
            if !sum.is_empty() {
                for t in tokens.chunks_exact(h) {
                    for (s, v) in sum.iter_mut().zip(t) {
                        *s += v;
                    }
                }
            }
            if pool.mean
                && let Some(p) = parts.next()
            {
                let n = ids.len().max(1) as f32;
                for (o, s) in p.iter_mut().zip(&sum) {
                    *o = s / n;
                }
            }
            if pool.mean_sqrt_len
                && let Some(p) = parts.next()
            {
                let n = (ids.len().max(1) as f32).sqrt();
                for (o, s) in p.iter_mut().zip(&sum) {
                    *o = s / n;
                }
            }
            if cfg.normalize {
                let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                for v in vector.iter_mut() {
                    *v /= norm;
                }
            }
            start += ids.len();
        }
        Ok(())
    }
}
