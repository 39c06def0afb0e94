//! The ranking crate's one error type.

use thiserror::Error;

/// Everything that can go wrong while building features, training, saving or applying a ranking model.
#[derive(Debug, Error)]
pub enum RankingError {
    /// The record store failed.
    #[error(transparent)]
    Store(#[from] passeur_store::StoreError),
    /// The retrieval model or its data failed.
    #[error(transparent)]
    Retrieval(#[from] passeur_retrieval::RetrievalError),
    /// The vector index failed.
    #[error(transparent)]
    Index(#[from] passeur_index::IndexError),
    /// Logistic regression failed to fit.
    #[error("fitting {head}: {reason}")]
    Fit {
        /// Which model (`p_click`, `p_booking`).
        head: &'static str,
        /// Why.
        reason: String,
    },
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
    /// The data cannot support the request (no impressions, one class only, unknown id, ...).
    #[error("{0}")]
    Data(String),
}

/// Results of this crate.
pub type Result<T, E = RankingError> = std::result::Result<T, E>;

impl RankingError {
    pub(crate) fn file(path: &std::path::Path, source: std::io::Error) -> RankingError {
        RankingError::File { path: path.display().to_string(), source }
    }
}
