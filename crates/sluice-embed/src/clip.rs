//! CLIP on the CPU: the image and text towers of a Hugging Face `CLIPModel` folder
//! (`openai/clip-vit-base-patch32` and its kin: `config.json`, `model.safetensors`,
//! `tokenizer.json`, `preprocessor_config.json`), each followed by its projection and an L2
//! normalisation, so that an image and a text land in the same space.
//!
//! Both towers are pre-LayerNorm transformers (quick GELU for OpenAI's checkpoints); the text
//! tower's attention is causal and its vector is the hidden state of the end-of-text token;
//! the vision tower cuts the image into patches (a convolution with a stride of its size, here
//! one matrix product), prepends the class token, and its vector is that token's. Images are
//! prepared as `CLIPImageProcessor` does: the shortest side resized to 224 (bicubic), the
//! centre cropped to 224×224, scaled to [0, 1], normalised by the channel means and deviations.

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use serde::Deserialize;
use sluice_kernels::{Kernels, Layout, matmul};
use tokenizers::{Tokenizer, TruncationParams};

use crate::EmbedError;
use crate::encoder::{Tensors, attention, grow};

/// The activation of a tower's MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// `x · σ(1.702 x)`, OpenAI's.
    QuickGelu,
    /// GELU with erf.
    Gelu,
}

#[derive(Debug, Clone, Deserialize)]
struct TowerConfig {
    hidden_size: usize,
    intermediate_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f32,
    #[serde(default = "quick")]
    hidden_act: String,
    #[serde(default)]
    max_position_embeddings: Option<usize>,
    #[serde(default)]
    vocab_size: Option<usize>,
    #[serde(default)]
    eos_token_id: Option<u32>,
    #[serde(default)]
    image_size: Option<usize>,
    #[serde(default)]
    patch_size: Option<usize>,
    #[serde(default)]
    num_channels: Option<usize>,
}

fn eps() -> f32 {
    1e-5
}

fn quick() -> String {
    "quick_gelu".into()
}

#[derive(Debug, Clone, Deserialize)]
struct ClipConfig {
    text_config: TowerConfig,
    vision_config: TowerConfig,
    #[serde(default = "d512")]
    projection_dim: usize,
}

fn d512() -> usize {
    512
}

/// How images are prepared (`preprocessor_config.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Preprocess {
    /// The shortest side after resizing.
    #[serde(default = "size224")]
    pub size: Size,
    /// The centre crop.
    #[serde(default = "crop224")]
    pub crop_size: Crop,
    /// Whether to crop the centre.
    #[serde(default = "yes")]
    pub do_center_crop: bool,
    /// Scale of the 8-bit values (1/255).
    #[serde(default = "rescale")]
    pub rescale_factor: f32,
    /// Channel means.
    #[serde(default = "mean")]
    pub image_mean: [f32; 3],
    /// Channel deviations.
    #[serde(default = "std_")]
    pub image_std: [f32; 3],
}

/// `size` of a preprocessor config.
#[derive(Debug, Clone, Deserialize)]
pub struct Size {
    /// The shortest side, in pixels.
    pub shortest_edge: u32,
}

/// `crop_size` of a preprocessor config.
#[derive(Debug, Clone, Deserialize)]
pub struct Crop {
    /// Height.
    pub height: u32,
    /// Width.
    pub width: u32,
}

fn size224() -> Size {
    Size { shortest_edge: 224 }
}
fn crop224() -> Crop {
    Crop {
        height: 224,
        width: 224,
    }
}
fn yes() -> bool {
    true
}
fn rescale() -> f32 {
    1.0 / 255.0
}
fn mean() -> [f32; 3] {
    [0.481_454_66, 0.457_827_5, 0.408_210_73]
}
fn std_() -> [f32; 3] {
    [0.268_629_54, 0.261_302_6, 0.275_777_1]
}

/// One pre-LayerNorm transformer layer.
struct Block {
    ln1: (Vec<f32>, Vec<f32>),
    qkv: Vec<f32>,
    qkv_bias: Vec<f32>,
    out: Vec<f32>,
    out_bias: Vec<f32>,
    ln2: (Vec<f32>, Vec<f32>),
    fc1: Vec<f32>,
    fc1_bias: Vec<f32>,
    fc2: Vec<f32>,
    fc2_bias: Vec<f32>,
}

struct Tower {
    hidden: usize,
    inter: usize,
    heads: usize,
    eps: f32,
    act: Act,
    blocks: Vec<Block>,
}

/// Buffers of one forward pass.
#[derive(Default)]
struct Work {
    x: Vec<f32>,
    y: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    ff: Vec<f32>,
    scores: Vec<f32>,
}

impl Tower {
    fn load(t: &Tensors<'_>, prefix: &str, c: &TowerConfig) -> Result<Tower, EmbedError> {
        let h = c.hidden_size;
        let scale = 1.0 / ((h / c.num_attention_heads) as f32).sqrt();
        let act = match c.hidden_act.as_str() {
            "quick_gelu" => Act::QuickGelu,
            "gelu" => Act::Gelu,
            other => {
                return Err(t.error(format!(
                    "{prefix}: activation `{other}` is not supported (quick_gelu, gelu)"
                )));
            }
        };
        let mut blocks = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("{prefix}.encoder.layers.{i}");
            let (qkv, qkv_bias) = t.fused_qkv(
                [
                    &format!("{p}.self_attn.q_proj"),
                    &format!("{p}.self_attn.k_proj"),
                    &format!("{p}.self_attn.v_proj"),
                ],
                h,
                scale,
            )?;
            let (out, out_bias) = t.linear(&format!("{p}.self_attn.out_proj"), h, h)?;
            let (fc1, fc1_bias) = t.linear(&format!("{p}.mlp.fc1"), h, c.intermediate_size)?;
            let (fc2, fc2_bias) = t.linear(&format!("{p}.mlp.fc2"), c.intermediate_size, h)?;
            blocks.push(Block {
                ln1: t.norm(&format!("{p}.layer_norm1"), h)?,
                qkv,
                qkv_bias,
                out,
                out_bias,
                ln2: t.norm(&format!("{p}.layer_norm2"), h)?,
                fc1,
                fc1_bias,
                fc2,
                fc2_bias,
            });
        }
        Ok(Tower {
            hidden: h,
            inter: c.intermediate_size,
            heads: c.num_attention_heads,
            eps: c.layer_norm_eps,
            act,
            blocks,
        })
    }

    /// Runs every block over `ws.x`: sequences of `lens` tokens packed one after the other.
    fn forward(&self, k: Kernels, ws: &mut Work, lens: &[usize], causal: bool) {
        let (h, heads) = (self.hidden, self.heads);
        let total: usize = lens.iter().sum();
        let longest = lens.iter().copied().max().unwrap_or(0);
        for b in &self.blocks {
            // Attention on the normalised input, added to the input.
            let y = grow(&mut ws.y, total * h);
            y.copy_from_slice(&ws.x[..total * h]);
            k.layernorm(y, &b.ln1.0, &b.ln1.1, self.eps);
            let qkv = grow(&mut ws.qkv, total * 3 * h);
            matmul(
                qkv,
                Layout::dense(total, 3 * h),
                y,
                Layout::dense(total, h),
                &b.qkv,
                Layout::dense(h, 3 * h),
                false,
            );
            k.add_bias(qkv, &b.qkv_bias);
            let ctx = grow(&mut ws.ctx, total * h);
            let scores = grow(&mut ws.scores, longest * longest);
            attention(k, qkv, ctx, scores, lens.iter().copied(), h, heads, causal);
            let y = grow(&mut ws.y, total * h);
            matmul(
                y,
                Layout::dense(total, h),
                ctx,
                Layout::dense(total, h),
                &b.out,
                Layout::dense(h, h),
                false,
            );
            k.add_bias(y, &b.out_bias);
            for (x, o) in ws.x[..total * h].iter_mut().zip(y.iter()) {
                *x += o;
            }

            // The MLP on the normalised result, added to it.
            let y = grow(&mut ws.y, total * h);
            y.copy_from_slice(&ws.x[..total * h]);
            k.layernorm(y, &b.ln2.0, &b.ln2.1, self.eps);
            let ff = grow(&mut ws.ff, total * self.inter);
            matmul(
                ff,
                Layout::dense(total, self.inter),
                y,
                Layout::dense(total, h),
                &b.fc1,
                Layout::dense(h, self.inter),
                false,
            );
            match self.act {
                Act::Gelu => k.bias_gelu(ff, &b.fc1_bias),
                Act::QuickGelu => {
                    k.add_bias(ff, &b.fc1_bias);
                    for v in ff.iter_mut() {
                        *v /= 1.0 + (-1.702 * *v).exp();
                    }
                }
            }
            let y = grow(&mut ws.y, total * h);
            matmul(
                y,
                Layout::dense(total, h),
                ff,
                Layout::dense(total, self.inter),
                &b.fc2,
                Layout::dense(self.inter, h),
                false,
            );
            k.add_bias(y, &b.fc2_bias);
            for (x, o) in ws.x[..total * h].iter_mut().zip(y.iter()) {
                *x += o;
            }
        }
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

/// A CLIP model: both towers, their projections, the tokenizer and the image preparation.
pub struct ClipModel {
    dir: PathBuf,
    identity: String,
    threads: usize,
    kernels: Kernels,
    dimension: usize,
    // Text.
    tokenizer: Tokenizer,
    token_embedding: Vec<f32>,
    text_positions: Vec<f32>,
    max_tokens: usize,
    vocab: usize,
    eos: u32,
    text: Tower,
    final_norm: (Vec<f32>, Vec<f32>),
    text_projection: Vec<f32>,
    // Vision.
    preprocess: Preprocess,
    image_size: usize,
    patch: usize,
    channels: usize,
    class_embedding: Vec<f32>,
    patch_weight: Vec<f32>,
    vision_positions: Vec<f32>,
    pre_norm: (Vec<f32>, Vec<f32>),
    vision: Tower,
    post_norm: (Vec<f32>, Vec<f32>),
    visual_projection: Vec<f32>,
}

impl std::fmt::Debug for ClipModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipModel").field("dir", &self.dir).finish()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let bytes = std::fs::read(path).map_err(|e| EmbedError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| EmbedError::Model {
        path: path.to_path_buf(),
        message: format!("not a CLIP file: {e}"),
    })
}

/// The result of one chunk of work, once done.
type Slot = std::sync::Mutex<Option<Result<Vec<f32>, EmbedError>>>;

/// Whether `dir` holds a CLIP model (`model_type: clip` in its `config.json`).
pub fn is_clip(dir: &Path) -> bool {
    std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["model_type"] == "clip")
}

impl ClipModel {
    /// Loads a `CLIPModel` folder; `threads` workers (default: every core) share a batch.
    pub fn load(dir: &Path, threads: Option<usize>) -> Result<ClipModel, EmbedError> {
        let cfg: ClipConfig = read_json(&dir.join("config.json"))?;
        let preprocess: Preprocess = read_json(&dir.join("preprocessor_config.json"))?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| EmbedError::Model {
            path: tok_path.clone(),
            message: format!("not a readable tokenizer: {e}"),
        })?;
        let (tc, vc) = (&cfg.text_config, &cfg.vision_config);
        let max_tokens = tc.max_position_embeddings.unwrap_or(77);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| EmbedError::Model {
                path: tok_path.clone(),
                message: e.to_string(),
            })?;
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| EmbedError::io(&weights, e))?;
        // What changes the vectors: the weights, both configs and the tokenizer.
        let mut hash = twox_hash::XxHash64::with_seed(0);
        for name in ["config.json", "preprocessor_config.json", "tokenizer.json"] {
            let path = dir.join(name);
            std::hash::Hasher::write(
                &mut hash,
                &std::fs::read(&path).map_err(|e| EmbedError::io(&path, e))?,
            );
        }
        std::hash::Hasher::write(&mut hash, &bytes);
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "clip".to_string());
        let identity = format!("{name}@{:016x}", std::hash::Hasher::finish(&hash));
        let st = SafeTensors::deserialize(&bytes).map_err(|e| EmbedError::Model {
            path: weights.clone(),
            message: format!("not a readable safetensors file: {e}"),
        })?;
        let t = Tensors {
            file: &weights,
            st,
            prefix: String::new(),
        };
        let (ht, hv, p) = (tc.hidden_size, vc.hidden_size, cfg.projection_dim);
        let vocab = tc.vocab_size.unwrap_or(49_408);
        let image_size = vc.image_size.unwrap_or(224);
        let patch = vc.patch_size.unwrap_or(32);
        let channels = vc.num_channels.unwrap_or(3);
        if channels != 3 || patch == 0 || image_size % patch != 0 {
            return Err(t.error(format!(
                "vision tower of {channels} channels, {image_size} pixels, patches of {patch}: only 3 channels and a whole number of patches are read"
            )));
        }
        let grid = image_size / patch;
        let patch_weight = t.get(
            "vision_model.embeddings.patch_embedding.weight",
            &[hv, channels, patch, patch],
        )?;
        let model = ClipModel {
            dir: dir.to_path_buf(),
            identity,
            threads: threads
                .filter(|t| *t > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            kernels: Kernels::detect(None),
            dimension: p,
            tokenizer,
            token_embedding: t.get("text_model.embeddings.token_embedding.weight", &[vocab, ht])?,
            text_positions: t.get(
                "text_model.embeddings.position_embedding.weight",
                &[max_tokens, ht],
            )?,
            max_tokens,
            vocab,
            eos: tc.eos_token_id.unwrap_or(2),
            text: Tower::load(&t, "text_model", tc)?,
            final_norm: t.norm("text_model.final_layer_norm", ht)?,
            text_projection: t.weight("text_projection", ht, p)?,
            preprocess,
            image_size,
            patch,
            channels,
            class_embedding: t.get("vision_model.embeddings.class_embedding", &[hv])?,
            patch_weight: crate::encoder::transpose(&patch_weight, hv, channels * patch * patch),
            vision_positions: t.get(
                "vision_model.embeddings.position_embedding.weight",
                &[grid * grid + 1, hv],
            )?,
            pre_norm: t.norm("vision_model.pre_layrnorm", hv)?,
            vision: Tower::load(&t, "vision_model", vc)?,
            post_norm: t.norm("vision_model.post_layernorm", hv)?,
            visual_projection: t.weight("visual_projection", hv, p)?,
        };
        if model.preprocess.crop_size.height as usize != image_size
            || model.preprocess.crop_size.width as usize != image_size
        {
            return Err(EmbedError::Model {
                path: dir.join("preprocessor_config.json"),
                message: format!("crop_size must be the model's image_size, {image_size}"),
            });
        }
        Ok(model)
    }

    /// `folder-name@hash`: changes when a file that affects vectors changes.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The normalised vectors of encoded images (PNG, JPEG), on every worker thread, calling
    /// `progress(done)` as chunks complete and stopping before the next chunk once `stop` is
    /// set. An image that cannot be decoded is an error naming its position.
    pub fn embed_encoded(
        &self,
        images: &[Vec<u8>],
        progress: &(dyn Fn(usize) + Sync),
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Vec<f32>, EmbedError> {
        self.in_parallel(images.len(), progress, stop, |range| {
            let pixels = images[range.clone()]
                .iter()
                .zip(range.clone())
                .map(|(bytes, i)| {
                    image::load_from_memory(bytes)
                        .map(|img| self.pixels(&img.to_rgb8()))
                        .map_err(|e| {
                            EmbedError::Input(format!("image {}: cannot be decoded: {e}", i + 1))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.embed_pixels(&pixels)
        })
    }

    /// The normalised vectors of texts on every worker thread (see [`Self::embed_encoded`]).
    pub fn embed_texts_until(
        &self,
        texts: &[&str],
        progress: &(dyn Fn(usize) + Sync),
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Vec<f32>, EmbedError> {
        self.in_parallel(texts.len(), progress, stop, |range| {
            self.embed_texts(&texts[range])
        })
    }

    /// Runs `f` on chunks of `0..n` (8 items each) on the worker threads, in order.
    fn in_parallel(
        &self,
        n: usize,
        progress: &(dyn Fn(usize) + Sync),
        stop: &std::sync::atomic::AtomicBool,
        f: impl Fn(std::ops::Range<usize>) -> Result<Vec<f32>, EmbedError> + Sync,
    ) -> Result<Vec<f32>, EmbedError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const CHUNK: usize = 8;
        let chunks = n.div_ceil(CHUNK);
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let results: Vec<Slot> = (0..chunks).map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..self.threads.min(chunks) {
                s.spawn(|| {
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= chunks || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let range = c * CHUNK..((c + 1) * CHUNK).min(n);
                        let len = range.len();
                        let r = f(range);
                        if let Ok(mut slot) = results[c].lock() {
                            *slot = Some(r);
                        }
                        progress(done.fetch_add(len, Ordering::Relaxed) + len);
                    }
                });
            }
        });
        let mut out = Vec::with_capacity(n * self.dimension);
        for slot in results {
            match slot.into_inner().ok().flatten() {
                Some(r) => out.extend(r?),
                None => return Err(EmbedError::Cancelled),
            }
        }
        Ok(out)
    }

    /// Values per vector (the projection's, 512 for ViT-B/32).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// An image resized (its shortest side to the processor's, bicubic) and its centre
    /// cropped to the model's size, as `CLIPImageProcessor` does before normalising.
    pub fn prepared(&self, rgb: &image::RgbImage) -> image::RgbImage {
        use image::imageops::{FilterType, crop_imm, resize};
        let pre = &self.preprocess;
        let (w, h) = (rgb.width().max(1), rgb.height().max(1));
        let short = pre.size.shortest_edge;
        // As transformers: the short side to `short`, the long one to int(short · long / short).
        let (nw, nh) = if w <= h {
            (
                short,
                (u64::from(short) * u64::from(h) / u64::from(w)) as u32,
            )
        } else {
            (
                (u64::from(short) * u64::from(w) / u64::from(h)) as u32,
                short,
            )
        };
        let resized = resize(rgb, nw, nh, FilterType::CatmullRom);
        if !pre.do_center_crop {
            return resized;
        }
        let (cw, ch) = (pre.crop_size.width, pre.crop_size.height);
        let top = nh.saturating_sub(ch) / 2;
        let left = nw.saturating_sub(cw) / 2;
        crop_imm(&resized, left, top, cw.min(nw), ch.min(nh)).to_image()
    }

    /// A prepared image ([`ClipModel::prepared`]) as the vision tower reads it: scaled,
    /// normalised by channel, channels first (`3 × size × size` values; zeros where the image
    /// is smaller).
    pub fn normalised(&self, img: &image::RgbImage) -> Vec<f32> {
        let pre = &self.preprocess;
        let s = self.image_size;
        let mut out = vec![0.0f32; 3 * s * s];
        for (x, y, p) in img.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            if x >= s || y >= s {
                continue;
            }
            for c in 0..3 {
                let v = f32::from(p.0[c]) * pre.rescale_factor;
                out[c * s * s + y * s + x] = (v - pre.image_mean[c]) / pre.image_std[c];
            }
        }
        out
    }

    /// An image made ready for the vision tower: [`ClipModel::prepared`], then
    /// [`ClipModel::normalised`].
    pub fn pixels(&self, rgb: &image::RgbImage) -> Vec<f32> {
        self.normalised(&self.prepared(rgb))
    }

    /// The normalised vectors of prepared images ([`ClipModel::pixels`]), `dimension` each.
    pub fn embed_pixels(&self, images: &[Vec<f32>]) -> Result<Vec<f32>, EmbedError> {
        let (s, p, c) = (self.image_size, self.patch, self.channels);
        let grid = s / p;
        let tokens = grid * grid + 1;
        let h = self.vision.hidden;
        let k = self.kernels;
        let mut ws = Work::default();
        let n = images.len();
        // Patches, one row each: [c][py][px], as the convolution's weight is laid out.
        let mut patches = vec![0.0f32; n * grid * grid * c * p * p];
        for (i, img) in images.iter().enumerate() {
            if img.len() != c * s * s {
                return Err(EmbedError::Input(format!(
                    "an image of {} values; the model takes {c}×{s}×{s}",
                    img.len()
                )));
            }
            for gy in 0..grid {
                for gx in 0..grid {
                    let row = (i * grid * grid + gy * grid + gx) * c * p * p;
                    for ch in 0..c {
                        for py in 0..p {
                            let src = ch * s * s + (gy * p + py) * s + gx * p;
                            let dst = row + ch * p * p + py * p;
                            patches[dst..dst + p].copy_from_slice(&img[src..src + p]);
                        }
                    }
                }
            }
        }
        let mut emb = vec![0.0f32; n * grid * grid * h];
        matmul(
            &mut emb,
            Layout::dense(n * grid * grid, h),
            &patches,
            Layout::dense(n * grid * grid, c * p * p),
            &self.patch_weight,
            Layout::dense(c * p * p, h),
            false,
        );
        let x = grow(&mut ws.x, n * tokens * h);
        for i in 0..n {
            for t in 0..tokens {
                let dst = &mut x[(i * tokens + t) * h..(i * tokens + t + 1) * h];
                let src = if t == 0 {
                    &self.class_embedding[..]
                } else {
                    &emb[(i * grid * grid + t - 1) * h..(i * grid * grid + t) * h]
                };
                let pos = &self.vision_positions[t * h..(t + 1) * h];
                for ((o, a), b) in dst.iter_mut().zip(src).zip(pos) {
                    *o = a + b;
                }
            }
        }
        k.layernorm(x, &self.pre_norm.0, &self.pre_norm.1, self.vision.eps);
        let lens = vec![tokens; n];
        self.vision.forward(k, &mut ws, &lens, false);
        let mut pooled = vec![0.0f32; n * h];
        for i in 0..n {
            pooled[i * h..(i + 1) * h].copy_from_slice(&ws.x[i * tokens * h..(i * tokens + 1) * h]);
        }
        k.layernorm(
            &mut pooled,
            &self.post_norm.0,
            &self.post_norm.1,
            self.vision.eps,
        );
        self.project(&pooled, h, &self.visual_projection)
    }

    /// The normalised vectors of images.
    pub fn embed_images(&self, images: &[image::RgbImage]) -> Result<Vec<f32>, EmbedError> {
        let pixels: Vec<Vec<f32>> = images.iter().map(|i| self.pixels(i)).collect();
        self.embed_pixels(&pixels)
    }

    /// The token ids of a text, as the text tower reads it (truncated to its positions).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Input(format!("cannot tokenize: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The normalised vectors of texts.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<_, _>>()?;
        self.embed_ids(&ids)
    }

    /// The normalised vectors of tokenized texts.
    pub fn embed_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<f32>, EmbedError> {
        let h = self.text.hidden;
        let k = self.kernels;
        let mut ws = Work::default();
        let lens: Vec<usize> = ids.iter().map(|t| t.len().max(1)).collect();
        let total: usize = lens.iter().sum();
        let x = grow(&mut ws.x, total * h);
        let mut row = 0;
        for t in ids {
            if t.len() > self.max_tokens {
                return Err(EmbedError::Input(format!(
                    "{} tokens, more than the model's {}",
                    t.len(),
                    self.max_tokens
                )));
            }
            let t: &[u32] = if t.is_empty() { &[0] } else { t };
            for (pos, &id) in t.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    return Err(EmbedError::Input(format!(
                        "token id {id} is outside the model's vocabulary of {}",
                        self.vocab
                    )));
                }
                let dst = &mut x[row * h..(row + 1) * h];
                let w = &self.token_embedding[id * h..(id + 1) * h];
                let p = &self.text_positions[pos * h..(pos + 1) * h];
                for ((o, a), b) in dst.iter_mut().zip(w).zip(p) {
                    *o = a + b;
                }
                row += 1;
            }
        }
        self.text.forward(k, &mut ws, &lens, true);
        // The end-of-text token's state: the highest id for OpenAI's vocabulary (eos id 2 in
        // their config, as transformers reads it), else the first `eos`.
        let mut pooled = vec![0.0f32; ids.len() * h];
        let mut start = 0;
        for (i, t) in ids.iter().enumerate() {
            let at = if self.eos == 2 {
                t.iter()
                    .enumerate()
                    .max_by_key(|(j, v)| (**v, std::cmp::Reverse(*j)))
                    .map_or(0, |(j, _)| j)
            } else {
                t.iter().position(|v| *v == self.eos).unwrap_or(0)
            };
            pooled[i * h..(i + 1) * h]
                .copy_from_slice(&ws.x[(start + at) * h..(start + at + 1) * h]);
            start += lens[i];
        }
        k.layernorm(
            &mut pooled,
            &self.final_norm.0,
            &self.final_norm.1,
            self.text.eps,
        );
        self.project(&pooled, h, &self.text_projection)
    }

    fn project(&self, pooled: &[f32], h: usize, w: &[f32]) -> Result<Vec<f32>, EmbedError> {
        let n = pooled.len() / h;
        let p = self.dimension;
        let mut out = vec![0.0f32; n * p];
        matmul(
            &mut out,
            Layout::dense(n, p),
            pooled,
            Layout::dense(n, h),
            w,
            Layout::dense(h, p),
            false,
        );
        for v in out.chunks_exact_mut(p) {
            normalise(v);
        }
        Ok(out)
    }
}
