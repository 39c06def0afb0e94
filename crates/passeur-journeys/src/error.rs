//! The crate's one error type.

use thiserror::Error;

/// Result alias of the crate.
pub type Result<T, E = JourneyError> = std::result::Result<T, E>;

/// What stops a study.
#[derive(Debug, Error)]
pub enum JourneyError {
    /// A behaviour or league file is unreadable, malformed, or has an unknown or out-of-range key.
    #[error("{file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A setting is out of range; names it.
    #[error("{field}: {reason}")]
    Config {
        /// The setting.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The world and the served state disagree (an id of one is missing from the other).
    #[error("the world and the data directory disagree: {0}")]
    Mismatch(String),
    /// The serving engine failed.
    #[error("the engine: {0}")]
    Engine(String),
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<passeur_server::ServerError> for JourneyError {
    fn from(e: passeur_server::ServerError) -> Self {
        JourneyError::Engine(e.to_string())
    }
}

impl From<passeur_server::ApiError> for JourneyError {
    fn from(e: passeur_server::ApiError) -> Self {
        JourneyError::Engine(format!("{} {}", e.status, e.body.message))
    }
}
