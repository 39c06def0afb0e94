//! The journey through the space of culture: how diverse a young person's practices are, how diverse a
//! list is, how evenly a catalogue is exposed, and which offers make it easy to enter a category new to a
//! user (gateway offers).
//!
//! Everything here reads dense indices (categories, subcategories, offers, venues, partners) that the
//! caller maps from the store, so the metrics are pure functions with hand-checkable tests.

pub mod gateway;
pub mod metrics;
pub mod territory;

pub use gateway::{Exposure, GatewayConfig, GatewayModel, GatewayScore, JourneyEvent};
pub use metrics::{CatalogueMetrics, ListMetrics, UserMetrics, calibration_kl, gini, intra_list_diversity};

use thiserror::Error;

/// Result alias of the crate.
pub type Result<T, E = InsightError> = std::result::Result<T, E>;

/// What makes a metric impossible to compute.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum InsightError {
    /// An input is out of range or inconsistent; names the field.
    #[error("{field}: {reason}")]
    BadInput {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}
