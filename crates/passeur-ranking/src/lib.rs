//! The ranking stage: from a few hundred candidates to the list a young
//! person sees.
//!
//! - [`features`]: the offer table, popularity over time, the user's state
//!   folded event by event, and the fixed feature layout;
//! - [`model`]: p(click | shown) and p(booking | shown), logistic regressions
//!   fitted with linfa or gradient-boosted trees, saved as JSON;
//! - [`gbdt`]: LightGBM training driven with passeur's gradients, and the
//!   flattened trees that serve;
//! - [`train`]: examples from impression logs, labelled by what followed;
//! - [`metrics`]: AUC, log-loss, calibration;
//! - [`rank`]: candidate sources with provenance, the
//!   p(click) + p(booking) × (1 + λ·Δdiv) objective, category mixing, explanations;
//! - [`evaluate`]: the offline comparison of orderings on a held-out period.

pub mod config;
mod error;
pub mod evaluate;
pub mod features;
pub mod gbdt;
pub mod metrics;
pub mod model;
pub mod rank;
pub mod train;

pub use config::{BookingFloor, Mixing, Order, RankConfig, SourceConfig, TrainConfig};
pub use error::{RankingError, Result};
pub use features::{FeatureSpace, OfferTable, Popularity, Request, Snapshot, UserSnapshot};
pub use gbdt::{GbdtConfig, GbdtObjective};
pub use model::{Head, LinearHead, ModelKind, RankingModel, TreeHead};
pub use rank::{Candidate, Origin, Policy, Ranked, Ranker, RankerParts, Scratch, Source, UserRequest, objective};
pub use train::{Examples, RankingData};
