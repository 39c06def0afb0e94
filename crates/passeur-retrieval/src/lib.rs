//! Two-tower retrieval: a user tower and an item tower on candle whose dot
//! product ranks the catalogue for a user.
//!
//! - [`data`]: the catalogue's item inputs, users' timelines, the online
//!   [`UserState`] folded event by event, and the train/validation/test splits;
//! - [`model`]: the towers, sparse id tables updated row by row, save and load;
//! - [`train`]: in-batch sampled softmax with logQ correction, early stopping;
//! - [`eval`]: full-ranking metrics and baselines (random, most popular,
//!   recent trends, item-kNN) on the same split;
//! - [`report`]: the evaluation tables the CLI prints;
//! - [`tsne`]: a 2-D map of item vectors, drawn as SVG.

pub mod bundle;
pub mod config;
pub mod data;
mod error;
pub mod eval;
pub mod model;
pub mod report;
pub mod train;
pub mod tsne;

pub use config::{HistoryMode, ModelConfig, Positives, TrainConfig};
pub use data::{Catalogue, Dataset, Event, EventKind, ItemRow, ItemStats, Shown, Split, SplitKind, UserRow, UserState};
pub use error::{Result, RetrievalError};
pub use model::TwoTower;
