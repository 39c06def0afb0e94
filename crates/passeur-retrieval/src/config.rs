//! The two-tower's architecture and training settings, with defaults.

use crate::error::{Result, RetrievalError};
use serde::{Deserialize, Serialize};

/// How a training example's user history is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryMode {
    /// The user's events before the example, most recent last: what the service sees online.
    Before,
    /// A random draw of the user's other training events (for random splits, where time means little).
    Others,
}

/// Which interactions count as positives for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positives {
    /// Consultations (clicks).
    pub consultations: bool,
    /// Favourites.
    pub favourites: bool,
    /// Bookings.
    pub bookings: bool,
}

impl Positives {
    /// Parses a comma-separated list of `consultation`, `favourite`, `booking`.
    pub fn parse(list: &str) -> Result<Positives> {
        let mut p = Positives { consultations: false, favourites: false, bookings: false };
        for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part {
                "consultation" | "consultations" | "click" | "clicks" => p.consultations = true,
                "favourite" | "favourites" => p.favourites = true,
                "booking" | "bookings" => p.bookings = true,
                other => {
                    return Err(RetrievalError::Config {
                        field: "positives",
                        reason: format!("unknown kind {other:?} (expected consultation, favourite or booking)"),
                    });
                }
            }
        }
        if !(p.consultations || p.favourites || p.bookings) {
            return Err(RetrievalError::Config { field: "positives", reason: "no kind given".into() });
        }
        Ok(p)
    }
}

impl Default for Positives {
    fn default() -> Self {
        Positives { consultations: true, favourites: true, bookings: true }
    }
}

/// The towers' shapes and features. Saved with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Dimension of the output vectors (L2-normalised).
    pub dim: usize,
    /// Width of each tower's hidden layer.
    pub hidden: usize,
    /// Dimension of the user id embedding; 0 turns user ids off.
    pub user_id_dim: usize,
    /// Dimension of the item id embedding; 0 turns item ids off (content only).
    pub item_id_dim: usize,
    /// Dimension of the learned embedding pooled over the user's history; 0 turns it off.
    pub history_id_dim: usize,
    /// Events kept in the user's history summary.
    pub history_len: usize,
    /// How training examples draw their history.
    pub history_mode: HistoryMode,
    /// Hash buckets of artist names.
    pub artist_buckets: usize,
    /// Dimension the text embedding is projected to inside each tower.
    pub text_proj: usize,
    /// Dimension the image embedding is projected to.
    pub image_proj: usize,
    /// Softmax temperature over dot products of unit vectors.
    pub temperature: f64,
    /// Subtract log(item frequency) from in-batch logits (sampling-bias correction).
    pub logq_correction: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            dim: 64,
            hidden: 256,
            user_id_dim: 32,
            item_id_dim: 32,
            history_id_dim: 32,
            history_len: 30,
            history_mode: HistoryMode::Before,
            artist_buckets: 4096,
            text_proj: 64,
            image_proj: 32,
            temperature: 0.07,
            logq_correction: true,
        }
    }
}

impl ModelConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &'static str, v: usize| {
            if v == 0 { Err(RetrievalError::Config { field, reason: "must be at least 1".into() }) } else { Ok(()) }
        };
        positive("dim", self.dim)?;
        positive("hidden", self.hidden)?;
        positive("history_len", self.history_len)?;
        positive("artist_buckets", self.artist_buckets)?;
        positive("text_proj", self.text_proj)?;
        positive("image_proj", self.image_proj)?;
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(RetrievalError::Config {
                field: "temperature",
                reason: format!("{} is not a positive number", self.temperature),
            });
        }
        Ok(())
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Seed of the initialisation, shuffles and draws.
    pub seed: u64,
    /// Most passes over the training examples.
    pub max_epochs: usize,
    /// Examples per step (also the in-batch negatives).
    pub batch_size: usize,
    /// Learning rate of the dense layers (AdamW).
    pub learning_rate: f64,
    /// Learning rate of the sparse id tables (lazy Adam, only rows in the batch).
    pub sparse_learning_rate: f64,
    /// Weight decay of the dense layers.
    pub weight_decay: f64,
    /// L2 penalty on the id rows a step touches.
    pub sparse_l2: f64,
    /// Probability of hiding an item's id embedding during training, so content alone learns to place new items.
    pub item_id_dropout: f64,
    /// Epochs without validation improvement before stopping.
    pub patience: usize,
    /// The cut-off of the validation metric (NDCG at this k).
    pub valid_k: usize,
    /// Which interactions are training positives.
    pub positives: Positives,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            max_epochs: 20,
            batch_size: 1024,
            learning_rate: 2e-3,
            sparse_learning_rate: 1e-2,
            weight_decay: 1e-5,
            sparse_l2: 1e-6,
            item_id_dropout: 0.2,
            patience: 2,
            valid_k: 50,
            positives: Positives::default(),
        }
    }
}

impl TrainConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size < 2 {
            return Err(RetrievalError::Config { field: "batch_size", reason: "needs at least 2 examples".into() });
        }
        if self.max_epochs == 0 {
            return Err(RetrievalError::Config { field: "max_epochs", reason: "must be at least 1".into() });
        }
        if !(0.0..1.0).contains(&self.item_id_dropout) {
            return Err(RetrievalError::Config {
                field: "item_id_dropout",
                reason: format!("{} is not in [0, 1)", self.item_id_dropout),
            });
        }
        for (field, v) in [("learning_rate", self.learning_rate), ("sparse_learning_rate", self.sparse_learning_rate)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(RetrievalError::Config { field, reason: format!("{v} is not a positive number") });
            }
        }
        if self.valid_k == 0 {
            return Err(RetrievalError::Config { field: "valid_k", reason: "must be at least 1".into() });
        }
        Ok(())
    }
}
