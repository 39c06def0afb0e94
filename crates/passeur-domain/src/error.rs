//! The domain's one error type.

use thiserror::Error;

/// Result alias of the domain crate.
pub type Result<T, E = DomainError> = std::result::Result<T, E>;

/// Everything that can be wrong with domain data.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DomainError {
    /// A taxonomy data file is malformed.
    #[error("taxonomy file {file}, line {line}: {reason}")]
    TaxonomyFile {
        /// File name inside the embedded taxonomy.
        file: &'static str,
        /// 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A code that the taxonomy does not know (a subcategory, a venue type, ...).
    #[error("unknown {kind} {value:?}")]
    UnknownCode {
        /// Which vocabulary was searched (e.g. "subcategory").
        kind: &'static str,
        /// The value that was not found.
        value: String,
    },
    /// A field of an entity holds an invalid value.
    #[error("{entity} {id:?}: field {field}: {reason}")]
    InvalidField {
        /// "venue", "offer", "user" or "interaction".
        entity: &'static str,
        /// The entity's id.
        id: String,
        /// The field's name, as in the import files.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A booking would spend more than the user's remaining credit.
    #[error(
        "booking refused: user {user_id:?} has {remaining_cents} cents of credit left, the booking costs {requested_cents}"
    )]
    InsufficientCredit {
        /// The user.
        user_id: String,
        /// The booking's amount.
        requested_cents: i64,
        /// What the user has left.
        remaining_cents: i64,
    },
    /// Credit rules that cannot be applied.
    #[error("invalid credit rules: {0}")]
    InvalidCreditRules(String),
}

impl DomainError {
    /// Shorthand for [`DomainError::InvalidField`].
    pub fn field(entity: &'static str, id: &str, field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::InvalidField { entity, id: id.to_owned(), field, reason: reason.into() }
    }
}
