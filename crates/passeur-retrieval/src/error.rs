//! The retrieval crate's one error type.

use thiserror::Error;

/// Everything that can go wrong while building data, training, saving or evaluating a two-tower model.
#[derive(Debug, Error)]
pub enum RetrievalError {
    /// The tensor library failed (shapes, dtypes, safetensors).
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] passeur_store::StoreError),
    /// Reading or writing bulk files failed.
    #[error(transparent)]
    Io(#[from] passeur_io::IoError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A saved model's JSON could not be read.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A configuration value is out of range; names the field.
    #[error("config field {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The data cannot support the request (too few users or events, unknown id, ...).
    #[error("{0}")]
    Data(String),
}

/// Results of this crate.
pub type Result<T, E = RetrievalError> = std::result::Result<T, E>;

impl RetrievalError {
    pub(crate) fn file(path: &std::path::Path, source: std::io::Error) -> RetrievalError {
        RetrievalError::File { path: path.display().to_string(), source }
    }
}
