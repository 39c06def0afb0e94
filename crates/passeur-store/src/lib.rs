//! passeur's record store: venues, offers, users and interactions, durable
//! and transactional.
//!
//! [`RecordStore`] is the interface the rest of passeur uses; [`SqliteStore`]
//! is its embedded backend (one file in the data directory, WAL journal,
//! versioned schema with migrations). A PostgreSQL backend for multi-replica
//! deployments implements the same traits.
//!
//! ```
//! use passeur_store::{RecordStore, SqliteStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path()).unwrap();
//! assert_eq!(store.counts().unwrap().users, 0);
//! ```

/// A statement's text built once from the column lists, so that hot paths
/// do not format (allocate) SQL for every row.
macro_rules! sql {
    ($($arg:tt)*) => {{
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!($($arg)*));
        SQL.as_str()
    }};
}

mod checks;
mod error;
mod postgres;
mod rows;
mod sqlite;
mod stats;
pub mod testing;

pub use checks::{References, check_interaction, check_offer};
pub use error::{Result, StoreError};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresStore};
pub use sqlite::{
    ActivityRow, ApiKeyRecord, OfferActivity, SCHEMA_VERSION, ServedListRecord, SqliteStore, StoreConfig, Synchronous,
    TerritoryScope, Write, Written,
};
pub use stats::{Counts, Stats};

use passeur_domain::{Interaction, Offer, User, Venue};

/// What [`RecordStore::record_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The event was stored (and credit and stock updated for bookings and cancellations).
    Recorded {
        /// The user's remaining credit after the event, in cents.
        credit_cents: i64,
    },
    /// An event with this id was already stored; nothing changed (retries are safe).
    AlreadyRecorded,
}

/// The durable record of venues, offers, users and interactions.
///
/// Every write is transactional: it is applied whole or not at all, and it is
/// on disk when the call returns.
pub trait RecordStore: Send {
    /// Starts an all-or-nothing bulk write. Dropping it without
    /// [`ImportTransaction::commit`] applies nothing.
    fn begin_import(&mut self) -> Result<Box<dyn ImportTransaction + '_>>;

    /// Records one live event: checks references, then for a booking checks
    /// that the offer is bookable and debits the user's credit and the offer's
    /// stock (refusing with [`passeur_domain::DomainError::InsufficientCredit`]
    /// when the credit is short); for a cancellation, refunds both.
    fn record_event(&mut self, event: &Interaction) -> Result<EventOutcome>;

    /// Records live events as [`RecordStore::record_event`] does, all or none,
    /// in order (a cancellation may follow its booking in the same batch). A
    /// failure is [`StoreError::InBatch`] naming the event's position.
    fn record_events(&mut self, events: &[Interaction]) -> Result<Vec<EventOutcome>>;

    /// A venue by id.
    fn venue(&self, id: &str) -> Result<Option<Venue>>;
    /// An offer by id.
    fn offer(&self, id: &str) -> Result<Option<Offer>>;
    /// A user by id.
    fn user(&self, id: &str) -> Result<Option<User>>;
    /// An interaction by id.
    fn interaction(&self, id: &str) -> Result<Option<Interaction>>;
    /// A user's interactions, oldest first (ties by id).
    fn user_interactions(&self, user_id: &str) -> Result<Vec<Interaction>>;

    /// Visits every venue in insertion order.
    fn scan_venues(&self, visit: &mut dyn FnMut(Venue) -> Result<()>) -> Result<()>;
    /// Visits every offer in insertion order.
    fn scan_offers(&self, visit: &mut dyn FnMut(Offer) -> Result<()>) -> Result<()>;
    /// Visits every user in insertion order.
    fn scan_users(&self, visit: &mut dyn FnMut(User) -> Result<()>) -> Result<()>;
    /// Visits every interaction in insertion order.
    fn scan_interactions(&self, visit: &mut dyn FnMut(Interaction) -> Result<()>) -> Result<()>;
    /// Visits every interaction but the impressions, in insertion order: what a user did, without the
    /// logs of what was shown (more than half of the rows; the service's live state does not read them).
    fn scan_actions(&self, visit: &mut dyn FnMut(Interaction) -> Result<()>) -> Result<()> {
        self.scan_interactions(&mut |i| match i.kind {
            passeur_domain::InteractionKind::Impression { .. } => Ok(()),
            _ => visit(i),
        })
    }

    /// For a model, each embedded offer's cache key (see `passeur_embed::text_key`).
    fn offer_embedding_keys(&self, model: &str) -> Result<std::collections::HashMap<String, String>>;
    /// The cached vectors of these keys (keys not cached are absent).
    fn cached_embeddings(&self, keys: &[String]) -> Result<std::collections::HashMap<String, Vec<f32>>>;
    /// Stores vectors by cache key and points offers at keys, for a model, at once.
    fn put_embeddings(
        &mut self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
        offers: &[(String, String)],
    ) -> Result<()>;
    /// An offer's text embedding under a model.
    fn offer_embedding(&self, model: &str, offer_id: &str) -> Result<Option<Vec<f32>>>;
    /// Every offer's text embedding under a model, in one pass: `(offer id, vector)`.
    fn scan_offer_embeddings(&self, model: &str, visit: &mut dyn FnMut(String, Vec<f32>) -> Result<()>) -> Result<()>;
    /// The models that embedded offers, with how many offers each.
    fn embedding_models(&self) -> Result<Vec<(String, u64)>>;

    /// How many records of each kind.
    fn counts(&self) -> Result<Counts>;
    /// Summary statistics, ages computed on `on`.
    fn stats(&self, on: chrono::NaiveDate) -> Result<Stats>;
}

/// An open bulk write. Upserts replace records with the same id.
pub trait ImportTransaction {
    /// Inserts or replaces a venue.
    fn upsert_venue(&mut self, venue: &Venue) -> Result<()>;
    /// Inserts or replaces an offer; its venue must exist (in the store or earlier in this transaction).
    fn upsert_offer(&mut self, offer: &Offer) -> Result<()>;
    /// Inserts or replaces a user.
    fn upsert_user(&mut self, user: &User) -> Result<()>;
    /// Inserts or replaces an interaction; its user, offer (and booking, for a cancellation) must exist.
    ///
    /// Historical interactions do not move credit: a user's `credit_cents` is
    /// the remaining credit as exported by the source system.
    fn upsert_interaction(&mut self, interaction: &Interaction) -> Result<()>;
    /// Makes everything written durable, at once.
    fn commit(self: Box<Self>) -> Result<()>;
}
