//! The vector index of offers: user → offers, offer → similar offers, and
//! thematic playlists, each with pre-filters (credit, bookable now, not
//! already booked, radius or digital, age, category, dates, department).
//!
//! Three backends implement [`VectorIndex`] and pass one conformance suite:
//! - [`ExactIndex`]: every passing offer is scored (the reference);
//! - `LanceIndex` (feature `lancedb`): LanceDB embedded in the data directory, exact below a
//!   size threshold, IVF-PQ or IVF-HNSW-SQ above it, scalar indexes on filter columns;
//! - [`IvfIndex`]: an in-memory IVF whose scan checks filters as it goes,
//!   the faster piece beside LanceDB where its latency misses the target.

mod error;
mod filter;
#[cfg(feature = "lancedb")]
mod lance;
pub mod measure;
mod memory;
pub mod playlist;
mod record;
mod saved;

pub use error::{IndexError, Result};
pub use filter::{Filters, Near, near_ok};
#[cfg(feature = "lancedb")]
pub use lance::{AnnKind, LanceIndex, LanceParams};
pub use measure::{Measured, Probe, exact_answers, measure};
pub use memory::{ExactIndex, IvfIndex, IvfParams, dot};
pub use record::IndexedOffer;

use passeur_domain::GeoPoint;

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The offer.
    pub offer_id: String,
    /// Its item.
    pub item_id: String,
    /// Dot product with the query (for [`VectorIndex::scan`]: the popularity).
    pub score: f32,
    /// Its category code.
    pub category: String,
    /// Venue coordinates.
    pub location: Option<GeoPoint>,
    /// Used online.
    pub digital: bool,
    /// Bookings counted.
    pub popularity: i64,
    /// Creation instant.
    pub created_at: i64,
    /// Event start, for events.
    pub event_start: Option<i64>,
}

impl Hit {
    pub(crate) fn of(o: &IndexedOffer, score: f32) -> Hit {
        Hit {
            offer_id: o.offer_id.clone(),
            item_id: o.item_id.clone(),
            score,
            category: o.category.clone(),
            location: o.location,
            digital: o.digital,
            popularity: o.popularity,
            created_at: o.created_at,
            event_start: o.event_start,
        }
    }
}

/// A vector index of offers with pre-filters.
pub trait VectorIndex: Send + Sync {
    /// A short description (backend and parameters).
    fn name(&self) -> String;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Offers indexed.
    fn len(&self) -> Result<usize>;
    /// True when nothing is indexed.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Inserts new offers and replaces known ones (by offer id), at once: no rebuild.
    fn upsert(&mut self, offers: &[IndexedOffer]) -> Result<()>;
    /// Removes offers (unknown ids are ignored).
    fn remove(&mut self, ids: &[String]) -> Result<()>;
    /// The `k` offers with the largest dot product with `vector` among those
    /// that pass `filters`, best first (ties: lower offer id first).
    fn search(&self, vector: &[f32], filters: &Filters, k: usize) -> Result<Vec<Hit>>;
    /// Offers that pass `filters`, most popular first, at most `limit` (no vector).
    fn scan(&self, filters: &Filters, limit: usize) -> Result<Vec<Hit>>;
    /// Compacts storage and folds new rows into the approximate index.
    fn optimize(&mut self) -> Result<()>;
}

pub(crate) fn check_query(vector: &[f32], dim: usize) -> Result<()> {
    if vector.len() != dim {
        return Err(IndexError::BadQuery {
            field: "vector",
            reason: format!("{} components, the index has {dim}", vector.len()),
        });
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::BadQuery { field: "vector", reason: format!("component {i} is not a finite number") });
    }
    Ok(())
}

/// Keeps one offer per item: the nearest venue to `from` when given (digital
/// and unlocated offers count as far), else the first; order of first appearance kept.
pub fn one_per_item(hits: Vec<Hit>, from: Option<GeoPoint>) -> Vec<Hit> {
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    let mut seen: rustc_hash::FxHashMap<String, usize> = rustc_hash::FxHashMap::default();
    let distance = |h: &Hit| match (from, h.location) {
        (Some(p), Some(l)) => p.distance_km(l),
        _ => f64::INFINITY,
    };
    for h in hits {
        match seen.get(&h.item_id) {
            Some(&i) => {
                if distance(&h) < distance(&out[i]) {
                    let score = out[i].score.max(h.score);
                    out[i] = Hit { score, ..h };
                }
            }
            None => {
                seen.insert(h.item_id.clone(), out.len());
                out.push(h);
            }
        }
    }
    out
}
