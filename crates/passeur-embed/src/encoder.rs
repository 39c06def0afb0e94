//! The sentence-transformers encoder on candle.

use crate::error::{EmbedError, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

/// Settings of the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Tokens kept per text (longer texts are truncated, as sentence-transformers does).
    pub max_tokens: usize,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig { batch_size: 32, max_tokens: 256 }
    }
}

/// A BERT-family sentence-transformers model with mean pooling and L2 normalisation.
pub struct TextEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    config: EncoderConfig,
    dimension: usize,
    model_id: String,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder").field("model_id", &self.model_id).field("dimension", &self.dimension).finish()
    }
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
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: config.max_tokens, ..Default::default() }))
            .map_err(|e| corrupt("tokenizer.json", e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        let weights_path = file(dir, "model.safetensors")?;
        let weights = std::fs::read(&weights_path).map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        let mut hasher = Sha256::new();
        hasher.update(config_text.as_bytes());
        hasher.update(&weights);
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
        })
    }

    /// The vectors' dimension.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// An id of the model (folder name and a digest of its config and weights): part of every cache key.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embeds texts: one L2-normalised vector per text, in order. Texts are
    /// sorted by token count and batched, so that little padding is computed.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let lengths: Vec<usize> = texts
            .iter()
            .map(|t| self.tokenizer.encode(*t, true).map(|e| e.get_ids().len()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (lengths[i], i));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.config.batch_size.max(1)) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            for (&i, v) in chunk.iter().zip(self.encode_batch(&batch)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One padded batch: `[batch, tokens]` ids → `[batch, tokens, hidden]` →
    /// mask-weighted mean `[batch, hidden]` → L2-normalised rows.
    fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let ids: Vec<Tensor> =
            encodings.iter().map(|e| Tensor::new(e.get_ids(), &self.device)).collect::<candle_core::Result<_>>()?;
        let masks: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), &self.device))
            .collect::<candle_core::Result<_>>()?;
        let ids = Tensor::stack(&ids, 0)?;
        let mask = Tensor::stack(&masks, 0)?;
        let token_types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &token_types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let normalised = mean.broadcast_div(&norms)?;
        Ok(normalised.to_vec2::<f32>()?)
    }
}
