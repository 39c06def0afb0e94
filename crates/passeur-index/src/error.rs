//! The index crate's one error type.

use thiserror::Error;

/// Everything that can go wrong while building, updating or querying an index.
#[derive(Debug, Error)]
pub enum IndexError {
    /// LanceDB failed.
    #[cfg(feature = "lancedb")]
    #[error("lancedb: {0}")]
    Lance(#[from] lancedb::Error),
    /// Arrow data could not be built or read.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A vector has the wrong dimension or a non-finite component; names the offer.
    #[error("offer {offer_id}: {reason}")]
    BadVector {
        /// The offer.
        offer_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A query is malformed; names the field.
    #[error("query field {field}: {reason}")]
    BadQuery {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A playlist configuration is invalid; names the playlist and field.
    #[error("playlist {playlist}: field {field}: {reason}")]
    BadPlaylist {
        /// The playlist.
        playlist: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The async runtime could not start.
    #[cfg(feature = "lancedb")]
    #[error("runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Results of this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
