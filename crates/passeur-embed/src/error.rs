//! The embed crate's one error type.

use thiserror::Error;

/// Result alias of the embed crate.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// What can go wrong when loading a model or encoding text.
#[derive(Debug, Error)]
pub enum EmbedError {
    /// A file the model needs is not in the model folder.
    #[error(
        "model folder {dir}: {file} is missing; run `bash scripts/fetch-assets.sh` to fetch multilingual-e5-small and all-MiniLM-L6-v2, or pass --model-dir with a sentence-transformers folder"
    )]
    MissingModelFile {
        /// The model folder.
        dir: String,
        /// The missing file.
        file: &'static str,
    },
    /// A model file is present but cannot be used.
    #[error("model folder {dir}: {file}: {reason}")]
    CorruptModel {
        /// The model folder.
        dir: String,
        /// The file.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A quality test set is malformed; names the line (0: the whole file).
    #[error("test set line {line}: {reason}")]
    BadTestSet {
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The tokenizer failed on some text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] passeur_store::StoreError),
    /// The tensor library failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
