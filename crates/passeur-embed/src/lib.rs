//! Semantic embeddings of offers with Hugging Face sentence-transformers
//! models, in Rust: [`TextEncoder`] loads any BERT-family sentence-transformers
//! folder (`config.json`, `tokenizer.json`, `model.safetensors`,
//! `1_Pooling/config.json`) and computes what the Python library computes:
//! token embeddings averaged over the attention mask (not over padding), then
//! L2-normalised. Texts are batched by length so that little padding is
//! computed; candle's CPU kernels use every core.
//!
//! The default model, `sentence-transformers/all-MiniLM-L6-v2`, is unpacked
//! into `models/all-MiniLM-L6-v2` by `scripts/fetch-assets.sh`.
//!
//! [`offer_text`] is the documented template that turns an offer into the text
//! that is embedded, and [`text_key`] the cache key of a (model, text) pair.

mod encoder;
mod error;
mod store;
mod text;

pub use encoder::{EncoderConfig, TextEncoder};
pub use error::{EmbedError, Result};
pub use store::{EmbedReport, embed_offers};
pub use text::{offer_text, text_key};
