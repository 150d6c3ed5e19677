//! A sentence-transformers model folder: where it is (a path, a name under `SLUICE_MODELS`, or
//! the Hugging Face cache) and what its files say (architecture, pooling, normalisation,
//! maximum length).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::EmbedError;

/// Finds a model folder from what a user wrote: a folder path; a name under one of the
/// folders of `SLUICE_MODELS` (`:`-separated; default `.models` in the current folder), by
/// its full name (`sentence-transformers/all-MiniLM-L6-v2`) or its last part; or a model in
/// the Hugging Face cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`). The
/// error lists every place looked at and how to get the model.
pub fn resolve_model(spec: &str) -> Result<PathBuf, EmbedError> {
    let roots = std::env::var("SLUICE_MODELS").unwrap_or_else(|_| ".models".to_string());
    let roots: Vec<PathBuf> = roots
        .split(':')
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
        .collect();
    resolve_in(spec, &roots, &hub_caches())
}

fn resolve_in(spec: &str, roots: &[PathBuf], hubs: &[PathBuf]) -> Result<PathBuf, EmbedError> {
    let mut tried = Vec::new();
    let direct = PathBuf::from(spec);
    if is_model_dir(&direct) {
        return Ok(direct);
    }
    tried.push(direct.display().to_string());
    let last = spec.rsplit('/').next().unwrap_or(spec);
    for root in roots {
        for name in [spec, last] {
            let candidate = root.join(name);
            if is_model_dir(&candidate) {
                return Ok(candidate);
            }
            let shown = candidate.display().to_string();
            if !tried.contains(&shown) {
                tried.push(shown);
            }
        }
    }
    if spec.contains('/') && !spec.starts_with('/') && !spec.starts_with('.') {
        for hub in hubs {
            let repo = hub.join(format!("models--{}", spec.replace('/', "--")));
            if let Some(snapshot) = hub_snapshot(&repo) {
                return Ok(snapshot);
            }
            tried.push(format!("{}/snapshots/*", repo.display()));
        }
    }
    Err(EmbedError::ModelNotFound {
        spec: spec.to_string(),
        tried,
    })
}

fn is_model_dir(dir: &Path) -> bool {
    dir.join("config.json").is_file() && dir.join("tokenizer.json").is_file()
}

fn hub_caches() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(p) = std::env::var("HF_HUB_CACHE") {
        out.push(PathBuf::from(p));
    }
    if let Ok(p) = std::env::var("HF_HOME") {
        out.push(PathBuf::from(p).join("hub"));
    }
    if let Ok(home) = std::env::var("HOME") {
        out.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    out
}

/// The snapshot `refs/main` names, else the only (or newest) snapshot with the model's files.
fn hub_snapshot(repo: &Path) -> Option<PathBuf> {
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = repo.join("snapshots").join(rev.trim());
        if is_model_dir(&dir) {
            return Some(dir);
        }
    }
    let mut snapshots: Vec<(std::time::SystemTime, PathBuf)> =
        std::fs::read_dir(repo.join("snapshots"))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| is_model_dir(p))
            .map(|p| {
                (
                    p.metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH),
                    p,
                )
            })
            .collect();
    snapshots.sort();
    snapshots.pop().map(|(_, p)| p)
}

/// The transformer families the encoder runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// BERT and its relatives (all-MiniLM, bge-small/base, e5): positions from 0.
    Bert,
    /// XLM-RoBERTa (bge-m3, multilingual-e5): positions start after the padding id.
    XlmRoberta,
}

/// How token vectors become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pooling {
    /// The first token's vector.
    pub cls: bool,
    /// The maximum over tokens, per dimension.
    pub max: bool,
    /// The mean over tokens.
    pub mean: bool,
    /// The sum over tokens divided by the square root of their number.
    pub mean_sqrt_len: bool,
}

impl Pooling {
    /// The number of vectors concatenated (each mode adds one).
    pub fn modes(&self) -> usize {
        [self.cls, self.max, self.mean, self.mean_sqrt_len]
            .iter()
            .filter(|m| **m)
            .count()
    }
}

/// What the model's files say, checked.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The architecture family.
    pub family: Family,
    /// Width of token vectors.
    pub hidden: usize,
    /// Number of transformer layers.
    pub layers: usize,
    /// Number of attention heads.
    pub heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
    /// Size of the vocabulary.
    pub vocab: usize,
    /// Number of learned positions.
    pub max_positions: usize,
    /// First position id (0 for BERT, padding id + 1 for XLM-RoBERTa).
    pub position_offset: usize,
    /// Texts are truncated to this many tokens, special tokens included.
    pub max_tokens: usize,
    /// Pooling modes.
    pub pooling: Pooling,
    /// Whether vectors are scaled to unit length (a `Normalize` module).
    pub normalize: bool,
    /// Lower-case texts before tokenizing (`do_lower_case` of sentence_bert_config.json).
    pub lower_case: bool,
    /// The configuration files read (they, the tokenizer and the weights make the model's
    /// identity).
    pub files: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default)]
    layer_norm_eps: Option<f64>,
    vocab_size: usize,
    max_position_embeddings: usize,
    #[serde(default)]
    pad_token_id: Option<usize>,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize, Default)]
struct RawPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|e| EmbedError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Model {
        path: path.to_path_buf(),
        message: format!("not valid JSON for this file: {e}"),
    })
}

impl ModelConfig {
    /// Reads `config.json`, `modules.json`, the pooling config and `sentence_bert_config.json`
    /// of a model folder. A folder without `modules.json` gets sentence-transformers' default
    /// for a plain transformer: mean pooling, no normalisation.
    pub fn read(dir: &Path) -> Result<ModelConfig, EmbedError> {
        let config_path = dir.join("config.json");
        let raw: RawConfig = read_json(&config_path)?;
        let unsupported = |message: String| EmbedError::Model {
            path: config_path.clone(),
            message,
        };
        let family = raw.family().map_err(unsupported)?;
        let position_offset = match family {
            Family::Bert => 0,
            Family::XlmRoberta => raw.pad_token_id.unwrap_or(1) + 1,
        };
        let mut files = vec![config_path.clone()];
        let (pooling, normalize) = modules(dir, &mut files)?;
        let usable_positions = raw.max_position_embeddings.saturating_sub(position_offset);
        let (max_tokens, lower_case) = text_limits(dir, usable_positions, &mut files)?;
        if max_tokens < 2 {
            return Err(unsupported(format!(
                "max_position_embeddings {} leaves no room for a text",
                raw.max_position_embeddings
            )));
        }
        Ok(ModelConfig {
            family,
            hidden: raw.hidden_size,
            layers: raw.num_hidden_layers,
            heads: raw.num_attention_heads,
            intermediate: raw.intermediate_size,
            eps: raw.layer_norm_eps.unwrap_or(1e-12) as f32,
            vocab: raw.vocab_size,
            max_positions: raw.max_position_embeddings,
            position_offset,
            max_tokens,
            pooling,
            normalize,
            lower_case,
            files,
        })
    }

    /// Length of the sentence vector.
    pub fn dimension(&self) -> usize {
        self.hidden * self.pooling.modes()
    }
}

impl RawConfig {
    /// The model's family, once its settings are known to be ones sluice runs; the error says
    /// which is not.
    fn family(&self) -> Result<Family, String> {
        let model_type = self.model_type.clone().unwrap_or_default();
        let family = match model_type.as_str() {
            "bert" => Family::Bert,
            "xlm-roberta" | "roberta" => Family::XlmRoberta,
            other => {
                return Err(format!(
                    "model_type `{other}` ({}) is not supported: sluice runs the BERT family \
                     (bert: all-MiniLM, bge-small/base, e5) and the XLM-RoBERTa family \
                     (xlm-roberta: bge-m3, multilingual-e5); use a remote endpoint for others",
                    self.architectures.join(", ")
                ));
            }
        };
        if let Some(act) = self.hidden_act.as_deref()
            && act != "gelu"
        {
            return Err(format!("hidden_act `{act}` is not supported (only `gelu`)"));
        }
        if let Some(kind) = self.position_embedding_type.as_deref()
            && kind != "absolute"
        {
            return Err(format!(
                "position_embedding_type `{kind}` is not supported (only `absolute`)"
            ));
        }
        for (value, key) in [
            (self.hidden_size, "hidden_size"),
            (self.intermediate_size, "intermediate_size"),
            (self.vocab_size, "vocab_size"),
            (self.num_attention_heads, "num_attention_heads"),
        ] {
            if value == 0 {
                return Err(format!("{key} is 0"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(family)
    }
}

/// The pooling and whether vectors are normalised, from `modules.json` and the pooling
/// module's config (each file read is added to `files`); without `modules.json`,
/// sentence-transformers' default for a plain transformer: mean pooling, no normalisation.
fn modules(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(Pooling, bool), EmbedError> {
    let mut pooling = Pooling {
        cls: false,
        max: false,
        mean: true,
        mean_sqrt_len: false,
    };
    let mut normalize = false;
    let modules_path = dir.join("modules.json");
    if !modules_path.is_file() {
        return Ok((pooling, normalize));
    }
    let modules: Vec<Module> = read_json(&modules_path)?;
    files.push(modules_path.clone());
    for m in &modules {
        let kind = m.kind.rsplit('.').next().unwrap_or(&m.kind);
        match kind {
            "Transformer" => {}
            "Normalize" => normalize = true,
            "Pooling" => pooling = read_pooling(&dir.join(&m.path).join("config.json"), files)?,
            other => {
                return Err(EmbedError::Model {
                    path: modules_path.clone(),
                    message: format!(
                        "module `{other}` is not supported (sluice runs Transformer, Pooling \
                         and Normalize)"
                    ),
                });
            }
        }
    }
    Ok((pooling, normalize))
}

/// A pooling module's config.
fn read_pooling(path: &Path, files: &mut Vec<PathBuf>) -> Result<Pooling, EmbedError> {
    let p: RawPooling = read_json(path)?;
    files.push(path.to_path_buf());
    let refuse = |message: &str| EmbedError::Model {
        path: path.to_path_buf(),
        message: message.into(),
    };
    if p.pooling_mode_weightedmean_tokens || p.pooling_mode_lasttoken {
        return Err(refuse(
            "weighted-mean and last-token pooling are not supported (cls, mean, max and \
             mean_sqrt_len are)",
        ));
    }
    let pooling = Pooling {
        cls: p.pooling_mode_cls_token,
        max: p.pooling_mode_max_tokens,
        mean: p.pooling_mode_mean_tokens,
        mean_sqrt_len: p.pooling_mode_mean_sqrt_len_tokens,
    };
    if pooling.modes() == 0 {
        return Err(refuse("no pooling mode is set"));
    }
    Ok(pooling)
}

/// The most tokens of a text (the positions the model has, capped by sentence-transformers'
/// `max_seq_length` or the tokenizer's `model_max_length`) and whether texts are lower-cased.
fn text_limits(
    dir: &Path,
    usable_positions: usize,
    files: &mut Vec<PathBuf>,
) -> Result<(usize, bool), EmbedError> {
    let mut max_tokens = usable_positions;
    let mut lower_case = false;
    let st_path = dir.join("sentence_bert_config.json");
    if st_path.is_file() {
        let v: Value = read_json(&st_path)?;
        files.push(st_path.clone());
        if let Some(n) = v.get("max_seq_length").and_then(Value::as_u64) {
            max_tokens = max_tokens.min(n as usize);
        }
        lower_case = v
            .get("do_lower_case")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    } else if let Ok(v) = read_json::<Value>(&dir.join("tokenizer_config.json"))
        && let Some(n) = v.get("model_max_length").and_then(Value::as_u64)
    {
        files.push(dir.join("tokenizer_config.json"));
        max_tokens = max_tokens.min(n as usize);
    }
    Ok((max_tokens, lower_case))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, body).expect("write");
        }
        dir
    }

    const BERT: &str = r#"{"model_type":"bert","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,
        "intermediate_size":16,"vocab_size":10,"max_position_embeddings":512,"hidden_act":"gelu"}"#;

    #[test]
    fn reads_pooling_normalisation_and_length_from_the_sentence_transformers_files() {
        let dir = folder(&[
            ("config.json", BERT),
            ("tokenizer.json", "{}"),
            (
                "modules.json",
                r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
            ),
            (
                "1_Pooling/config.json",
                r#"{"word_embedding_dimension":8,"pooling_mode_cls_token":true}"#,
            ),
            (
                "sentence_bert_config.json",
                r#"{"max_seq_length":256,"do_lower_case":false}"#,
            ),
        ]);
        let c = ModelConfig::read(dir.path()).expect("config");
        assert_eq!(c.family, Family::Bert);
        assert_eq!(
            c.pooling,
            Pooling {
                cls: true,
                max: false,
                mean: false,
                mean_sqrt_len: false
            }
        );
        assert!(c.normalize);
        assert_eq!(c.max_tokens, 256);
        assert_eq!(c.dimension(), 8);
    }

    #[test]
    fn a_plain_transformer_gets_mean_pooling_and_xlm_roberta_positions_start_after_padding() {
        let dir = folder(&[(
            "config.json",
            r#"{"model_type":"xlm-roberta","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,
                "intermediate_size":16,"vocab_size":10,"max_position_embeddings":514,"pad_token_id":1}"#,
        )]);
        let c = ModelConfig::read(dir.path()).expect("config");
        assert_eq!(c.family, Family::XlmRoberta);
        assert_eq!(c.position_offset, 2);
        assert_eq!(c.max_tokens, 512);
        assert!(c.pooling.mean && !c.normalize);
    }

    #[test]
    fn unsupported_models_and_modules_are_named() {
        let dir = folder(&[("config.json", &BERT.replace("\"bert\"", "\"llama\""))]);
        let e = ModelConfig::read(dir.path())
            .expect_err("llama")
            .to_string();
        assert!(
            e.contains("model_type `llama`") && e.contains("remote endpoint"),
            "{e}"
        );
        let dir = folder(&[
            ("config.json", BERT),
            (
                "modules.json",
                r#"[{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#,
            ),
        ]);
        let e = ModelConfig::read(dir.path())
            .expect_err("dense")
            .to_string();
        assert!(e.contains("module `Dense` is not supported"), "{e}");
    }

    #[test]
    fn resolution_lists_every_place_it_looked() {
        let models = folder(&[
            ("org/present/config.json", BERT),
            ("org/present/tokenizer.json", "{}"),
        ]);
        let hub = folder(&[
            ("models--org--cached/refs/main", "abc\n"),
            ("models--org--cached/snapshots/abc/config.json", BERT),
            ("models--org--cached/snapshots/abc/tokenizer.json", "{}"),
        ]);
        let roots = [models.path().to_path_buf()];
        let hubs = [hub.path().to_path_buf()];
        let found = resolve_in("org/present", &roots, &hubs).expect("found");
        assert_eq!(found, models.path().join("org/present"));
        let cached = resolve_in("org/cached", &roots, &hubs).expect("cached");
        assert_eq!(cached, hub.path().join("models--org--cached/snapshots/abc"));
        let e = resolve_in("org/absent", &roots, &hubs)
            .expect_err("absent")
            .to_string();
        let root = models.path().display();
        assert!(
            e.contains(&format!("{root}/org/absent")) && e.contains(&format!("{root}/absent")),
            "{e}"
        );
        assert!(e.contains("models--org--absent"), "{e}");
    }
}
