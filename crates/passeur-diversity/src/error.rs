//! The diversity crate's one error type.

use thiserror::Error;

/// Result alias of the diversity crate.
pub type Result<T, E = DiversityError> = std::result::Result<T, E>;

/// What can be wrong with rules or scoring input.
#[derive(Debug, Error)]
pub enum DiversityError {
    /// The rules file is not valid TOML, or has a field this version does not know.
    #[error("rules file {source_name}: {message}")]
    RulesSyntax {
        /// Where the rules came from.
        source_name: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The rules name a category that the taxonomy does not have.
    #[error("rules file {source_name}: {field}: unknown category {value:?}")]
    UnknownCategory {
        /// Where the rules came from.
        source_name: String,
        /// The field that names it.
        field: String,
        /// The unknown value.
        value: String,
    },
    /// The rules name a venue type that the taxonomy does not have.
    #[error("rules file {source_name}: venue.by_type: unknown venue type {value:?}")]
    UnknownVenueType {
        /// Where the rules came from.
        source_name: String,
        /// The unknown value.
        value: String,
    },
    /// The rules name a criterion that does not exist.
    #[error(
        "rules file {source_name}: extra.criteria: unknown criterion {value:?}; expected book_macro_section, music_genre, show_type or movie_genre"
    )]
    UnknownCriterion {
        /// Where the rules came from.
        source_name: String,
        /// The unknown value.
        value: String,
    },
    /// The rules are well-formed but inconsistent.
    #[error("rules file {source_name}: {reason}")]
    InvalidRules {
        /// Where the rules came from.
        source_name: String,
        /// What is inconsistent.
        reason: String,
    },
    /// A rules file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A booking refers to an offer the scorer does not know.
    #[error("booking {booking_id:?}: unknown offer {offer_id:?}")]
    UnknownOffer {
        /// The booking.
        booking_id: String,
        /// The offer.
        offer_id: String,
    },
}
