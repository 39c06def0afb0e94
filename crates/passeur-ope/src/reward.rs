//! Reward models for the direct and doubly robust estimators, fitted with cross-fitting: the rounds
//! are split into folds by cluster (a user's rounds stay together), and each round's predictions come
//! from the model fitted on the other folds, so a round never informs its own prediction (Chernozhukov
//! et al. 2018; Narita et al. 2021 for off-policy evaluation).
//!
//! The model is a logistic regression (linfa) on standardised features: rewards in `[0, 1]`, read as
//! "did the user click". A fold whose training rounds hold a single outcome predicts its mean.

use crate::{OpeError, Result};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::Serialize;

/// Settings of the cross-fitted reward model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardModelConfig {
    /// Folds (at least 2).
    pub folds: usize,
    /// L2 penalty.
    pub l2: f64,
    /// Optimiser iterations at most.
    pub max_iterations: u64,
    /// Seed of the fold assignment.
    pub seed: u64,
}

impl Default for RewardModelConfig {
    fn default() -> Self {
        RewardModelConfig { folds: 3, l2: 1.0, max_iterations: 200, seed: 7 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Linear {
    mean: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
}

impl Linear {
    fn predict(&self, x: &[f64]) -> f64 {
        let z = self.intercept
            + x.iter()
                .zip(&self.weights)
                .zip(self.mean.iter().zip(&self.scale))
                .map(|((v, w), (m, s))| w * (v - m) / s)
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// One model per fold, and each round's fold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossFitted {
    models: Vec<Linear>,
    fold_of: Vec<usize>,
    dim: usize,
}

impl CrossFitted {
    /// Fits one model per fold on the other folds' rounds. `features` is row-major (`dim` columns per
    /// round), `rewards` in `[0, 1]` (positive above 0.5), `clusters` each round's cluster.
    pub fn fit(
        features: &[f64],
        dim: usize,
        rewards: &[f64],
        clusters: &[u64],
        config: &RewardModelConfig,
    ) -> Result<CrossFitted> {
        let n = rewards.len();
        let bad = |field: &'static str, reason: String| Err(OpeError::BadInput { field, reason });
        if dim == 0 || features.len() != n * dim {
            return bad("features", format!("{} values for {n} rounds of {dim} features", features.len()));
        }
        if clusters.len() != n {
            return bad("clusters", format!("{} clusters for {n} rounds", clusters.len()));
        }
        if config.folds < 2 {
            return bad("folds", format!("{} folds; at least 2 are needed", config.folds));
        }
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            return bad("features", format!("round {}: feature {} is {}", i / dim, i % dim, features[i]));
        }
        // Folds by a seeded hash of the cluster: the assignment does not depend on the rounds' order.
        let fold_of: Vec<usize> =
            clusters.iter().map(|c| (mix(c ^ config.seed.rotate_left(17)) % config.folds as u64) as usize).collect();
        let mut models = Vec::with_capacity(config.folds);
        for fold in 0..config.folds {
            let train: Vec<usize> = (0..n).filter(|&i| fold_of[i] != fold).collect();
            models.push(fit_one(features, dim, rewards, &train, config)?);
        }
        Ok(CrossFitted { models, fold_of, dim })
    }

    /// The reward predicted for features `x` of round `round` (by the model that did not see it).
    pub fn predict(&self, round: usize, x: &[f64]) -> f64 {
        debug_assert_eq!(x.len(), self.dim);
        self.models[self.fold_of[round]].predict(x)
    }

    /// Each round's fold.
    pub fn folds(&self) -> &[usize] {
        &self.fold_of
    }
}

fn fit_one(
    features: &[f64],
    dim: usize,
    rewards: &[f64],
    rows: &[usize],
    config: &RewardModelConfig,
) -> Result<Linear> {
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; dim];
    let mut square = vec![0.0; dim];
    for &i in rows {
        for d in 0..dim {
            let v = features[i * dim + d];
            mean[d] += v / n;
            square[d] += v * v / n;
        }
    }
    let scale: Vec<f64> = mean
        .iter()
        .zip(&square)
        .map(|(m, q)| (q - m * m).max(0.0).sqrt())
        .map(|s| if s < 1e-9 { 1.0 } else { s })
        .collect();
    let positives = rows.iter().filter(|&&i| rewards[i] > 0.5).count();
    if positives == 0 || positives == rows.len() {
        // One outcome only: the constant model at its (clamped) rate.
        let rate = (positives as f64 + 0.5) / (rows.len() as f64 + 1.0);
        return Ok(Linear { mean, scale, weights: vec![0.0; dim], intercept: (rate / (1.0 - rate)).ln() });
    }
    let x = Array2::from_shape_fn((rows.len(), dim), |(r, d)| (features[rows[r] * dim + d] - mean[d]) / scale[d]);
    let y = Array1::from_iter(rows.iter().map(|&i| rewards[i] > 0.5));
    let data = linfa::DatasetBase::new(x, y);
    let fitted = LogisticRegression::default()
        .alpha(config.l2)
        .max_iterations(config.max_iterations)
        .fit(&data)
        .map_err(|e| OpeError::Unsupported(format!("the reward model could not be fitted: {e}")))?;
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(Linear {
        mean,
        scale,
        weights: fitted.params().iter().map(|w| sign * w).collect(),
        intercept: sign * fitted.intercept(),
    })
}

/// SplitMix64's finaliser: a well-spread hash of a cluster id.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
