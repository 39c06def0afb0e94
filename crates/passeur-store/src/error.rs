//! The store's one error type.

use passeur_domain::DomainError;
use thiserror::Error;

/// Result alias of the store crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong when reading or writing records.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The data broke a domain rule (invalid field, insufficient credit, ...).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A record refers to an id that does not exist.
    #[error("{entity} {id:?}: field {field}: no {target} with id {missing:?}")]
    UnknownReference {
        /// The referring entity ("offer", "interaction").
        entity: &'static str,
        /// Its id.
        id: String,
        /// The referring field.
        field: &'static str,
        /// The kind of record looked for.
        target: &'static str,
        /// The id that was not found.
        missing: String,
    },
    /// A cancellation targets a booking that is already cancelled.
    #[error("booking {booking_id:?} is already cancelled")]
    AlreadyCancelled {
        /// The booking.
        booking_id: String,
    },
    /// The offer cannot be booked now (window, event start or stock).
    #[error("offer {offer_id:?} cannot be booked at {at}: {reason}")]
    NotBookable {
        /// The offer.
        offer_id: String,
        /// When the booking was attempted.
        at: passeur_domain::Timestamp,
        /// Why not.
        reason: &'static str,
    },
    /// A stored row could not be read back into the domain.
    #[error("stored {table} row {id:?} is corrupt: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The data directory was written by a newer passeur.
    #[error("the record store has schema version {found}, this passeur knows up to {supported}; upgrade passeur")]
    SchemaTooNew {
        /// Version found on disk.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// Filesystem trouble around the database file.
    #[error("record store at {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// One event of a batch failed; nothing of the batch was written.
    #[error("item {index} of the batch: {source}")]
    InBatch {
        /// 0-based position in the batch.
        index: usize,
        /// Why it failed.
        source: Box<StoreError>,
    },
    /// The SQLite engine failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("PostgreSQL at {target}: {source}")]
    PostgresUnreachable {
        /// `host:port/dbname` (never the password).
        target: String,
        /// The cause.
        source: postgres::Error,
    },
    /// The PostgreSQL server answered an error.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
}
