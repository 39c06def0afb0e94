//! The two calibrated probability models, p(click | shown) and
//! p(booking | shown): logistic regressions fitted by linfa on standardised
//! features, saved as JSON, applied with the standardisation folded into the
//! weights (one dot product per offer).

use crate::config::TrainConfig;
use crate::error::{RankingError, Result};
use crate::features::FeatureSpace;
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One logistic regression over the feature layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    /// `p_click` or `p_booking`.
    pub name: String,
    /// Feature means on the training set.
    pub mean: Vec<f32>,
    /// Feature standard deviations (1 for constant features).
    pub scale: Vec<f32>,
    /// Weights on standardised features.
    pub weights: Vec<f32>,
    /// Intercept.
    pub intercept: f32,
    #[serde(skip)]
    folded: Vec<f32>,
    #[serde(skip)]
    folded_bias: f32,
}

/// σ(x).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Per-feature mean and standard deviation of row-major `x` (`dim` columns).
pub fn standardisation(x: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (x.len() / dim.max(1)).max(1) as f64;
    let mut sum = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for row in x.chunks(dim) {
        for (j, v) in row.iter().enumerate() {
            sum[j] += f64::from(*v);
            sq[j] += f64::from(*v) * f64::from(*v);
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let scale = sum
        .iter()
        .zip(&sq)
        .map(|(s, q)| {
            let var = (q / n - (s / n) * (s / n)).max(0.0);
            if var.sqrt() < 1e-6 { 1.0 } else { var.sqrt() as f32 }
        })
        .collect();
    (mean, scale)
}

impl LinearHead {
    /// Fits a head on row-major `x` (`dim` columns) with labels `y`, standardised by `(mean, scale)`.
    pub fn fit(
        name: &'static str,
        x: &Array2<f64>,
        y: &[bool],
        (mean, scale): (&[f32], &[f32]),
        config: &TrainConfig,
    ) -> Result<LinearHead> {
        let positives = y.iter().filter(|b| **b).count();
        if positives == 0 || positives == y.len() {
            return Err(RankingError::Data(format!(
                "{name}: the training impressions hold {positives} positive labels out of {}: both outcomes are needed",
                y.len()
            )));
        }
        let targets = Array1::from_iter(y.iter().copied());
        let data = linfa::DatasetBase::new(x.view(), targets);
        let fitted = LogisticRegression::default()
            .alpha(config.l2)
            .max_iterations(config.max_iterations)
            .gradient_tolerance(1e-5 * y.len() as f64)
            .fit(&data)
            .map_err(|e| RankingError::Fit { head: name, reason: e.to_string() })?;
        // linfa's probabilities are those of its "positive" class, the larger one; ours is `true`.
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        let weights = fitted.params().iter().map(|w| (sign * w) as f32).collect();
        let intercept = (sign * fitted.intercept()) as f32;
        let mut head = LinearHead {
            name: name.to_owned(),
            mean: mean.to_vec(),
            scale: scale.to_vec(),
            weights,
            intercept,
            folded: Vec::new(),
            folded_bias: 0.0,
        };
        head.fold();
        Ok(head)
    }

    /// Platt scaling: fits `a·logit + b` on `(x, y)` rows (row-major, raw features) and folds it into the
    /// head, which stays one linear model. Returns `(a, b)`; leaves the head as it is when `y` has one class.
    pub fn recalibrate(&mut self, x: &[f32], y: &[bool]) -> Result<(f64, f64)> {
        let dim = self.weights.len();
        let positives = y.iter().filter(|b| **b).count();
        if y.is_empty() || positives == 0 || positives == y.len() {
            return Ok((1.0, 0.0));
        }
        let logits = Array2::from_shape_fn((y.len(), 1), |(i, _)| f64::from(self.logit(&x[i * dim..(i + 1) * dim])));
        let targets = Array1::from_iter(y.iter().copied());
        let data = linfa::DatasetBase::new(logits.view(), targets);
        let fitted = LogisticRegression::default()
            .alpha(1e-3)
            .max_iterations(100)
            .fit(&data)
            .map_err(|e| RankingError::Fit { head: "calibration", reason: e.to_string() })?;
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        let (a, b) = (sign * fitted.params()[0], sign * fitted.intercept());
        self.weights.iter_mut().for_each(|w| *w = (f64::from(*w) * a) as f32);
        self.intercept = (f64::from(self.intercept) * a + b) as f32;
        self.fold();
        Ok((a, b))
    }

    /// Precomputes weights on raw features: w/scale, and the bias minus Σ w·mean/scale.
    pub fn fold(&mut self) {
        self.folded = self.weights.iter().zip(&self.scale).map(|(w, s)| w / s).collect();
        self.folded_bias =
            self.intercept - self.folded.iter().zip(&self.mean).map(|(w, m)| f64::from(w * m)).sum::<f64>() as f32;
    }

    /// The log-odds of raw features.
    #[inline]
    pub fn logit(&self, x: &[f32]) -> f32 {
        self.folded_bias + self.folded.iter().zip(x).map(|(w, v)| w * v).sum::<f32>()
    }

    /// The probability of raw features.
    #[inline]
    pub fn probability(&self, x: &[f32]) -> f32 {
        sigmoid(self.logit(x))
    }
}

/// Standardised copy of row-major `x` as linfa's input.
pub fn design_matrix(x: &[f32], dim: usize, rows: &[usize], mean: &[f32], scale: &[f32]) -> Array2<f64> {
    let mut m = Array2::<f64>::zeros((rows.len(), dim));
    for (r, &i) in rows.iter().enumerate() {
        let row = &x[i * dim..(i + 1) * dim];
        for j in 0..dim {
            m[[r, j]] = f64::from((row[j] - mean[j]) / scale[j]);
        }
    }
    m
}

/// What a ranking model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Training impressions used.
    pub train_impressions: usize,
    /// Held-out impressions.
    pub valid_impressions: usize,
    /// Clicks among the training impressions.
    pub train_clicks: usize,
    /// Bookings among the training impressions.
    pub train_bookings: usize,
    /// Impressions of the recalibration period (the last days before the cut).
    pub calibration_impressions: usize,
    /// Platt scaling (a, b) of p(click)'s log-odds.
    pub click_scaling: (f64, f64),
    /// Platt scaling (a, b) of p(booking)'s log-odds.
    pub booking_scaling: (f64, f64),
    /// Start of the held-out period (seconds).
    pub cut: i64,
    /// The retrieval model whose scores are features.
    pub retrieval_model: String,
    /// The training settings.
    pub config: TrainConfig,
}

/// Both heads, with the feature names they expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingModel {
    /// A version string served with every list (`ranking-<cut>-<seed>`).
    pub version: String,
    /// Feature names, in order.
    pub features: Vec<String>,
    /// p(click | shown).
    pub click: LinearHead,
    /// p(booking | shown).
    pub booking: LinearHead,
    /// What it learned from.
    pub provenance: Provenance,
}

const FILE: &str = "ranking.json";

impl RankingModel {
    /// Writes `ranking.json` in `dir` (written beside, then renamed: never half a file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| RankingError::file(dir, e))?;
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| RankingError::Json { path: path.display().to_string(), source: e })?;
        std::fs::write(&tmp, text).map_err(|e| RankingError::file(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| RankingError::file(&path, e))
    }

    /// Reads `ranking.json` from `dir` and checks that its features are this build's.
    pub fn load(dir: &Path) -> Result<RankingModel> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| RankingError::file(&path, e))?;
        let mut model: RankingModel = serde_json::from_str(&text)
            .map_err(|e| RankingError::Json { path: path.display().to_string(), source: e })?;
        let space = FeatureSpace::new();
        if model.features != space.names() {
            return Err(RankingError::Data(format!(
                "{}: the model's {} features are not this build's {}: retrain with `passeur train ranking`",
                path.display(),
                model.features.len(),
                space.dim()
            )));
        }
        for head in [&model.click, &model.booking] {
            if head.weights.len() != space.dim() || head.mean.len() != space.dim() || head.scale.len() != space.dim() {
                return Err(RankingError::Data(format!("{}: head {} has the wrong length", path.display(), head.name)));
            }
        }
        model.click.fold();
        model.booking.fold();
        Ok(model)
    }
}
