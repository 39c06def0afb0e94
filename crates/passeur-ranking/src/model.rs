//! The two calibrated probability models, p(click | shown) and
//! p(booking | shown): logistic regressions fitted by linfa on standardised
//! features, saved as JSON, applied with the standardisation folded into the
//! weights (one dot product per offer).

use crate::config::TrainConfig;
use crate::error::{RankingError, Result};
use crate::features::FeatureSpace;
use crate::gbdt::{GbdtObjective, TreeEnsemble};
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

/// A tree model's head: LightGBM's trees around a base score, read through a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeHead {
    /// `p_click`, `p_booking` or `score` (the 2023 regression).
    pub name: String,
    /// What the trees were trained for.
    pub objective: GbdtObjective,
    /// Base score per output.
    pub base: Vec<f64>,
    /// For the three-class model: the classes whose probabilities this head adds (1 consulted, 2 booked).
    pub classes: Vec<usize>,
    /// Platt scaling (a, b) of the head's log-odds, fitted on the calibration period (1, 0: none).
    pub scaling: (f64, f64),
    /// The trees.
    pub trees: TreeEnsemble,
}

impl TreeHead {
    /// The head's value from the raw sums of one row (`outputs` values).
    #[inline]
    pub fn from_raw(&self, raw: &[f64]) -> f64 {
        match self.objective {
            GbdtObjective::Binary => {
                let z = raw[0] + self.base[0];
                sigmoid64(self.scaling.0 * z + self.scaling.1)
            }
            GbdtObjective::ThreeClass => {
                let mut z = [0f64; 3];
                for k in 0..3 {
                    z[k] = raw[k] + self.base[k];
                }
                let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e = z.map(|v| (v - m).exp());
                let p = self.classes.iter().map(|&k| e[k]).sum::<f64>() / e.iter().sum::<f64>();
                let p = p.clamp(1e-12, 1.0 - 1e-12);
                sigmoid64(self.scaling.0 * (p / (1.0 - p)).ln() + self.scaling.1)
            }
            GbdtObjective::Regression => raw[0] + self.base[0],
        }
    }

    /// The head's value for one row of raw features.
    pub fn value(&self, row: &[f32]) -> f64 {
        let mut raw = [0f64; 3];
        self.trees.add_raw(row, &mut raw[..self.trees.outputs]);
        self.from_raw(&raw[..self.trees.outputs])
    }
}

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Rows a parallel task of tree scoring takes.
const PARALLEL_ROWS: usize = 128;

/// One head of a ranking model: how a row of features becomes p(click) or p(booking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Head {
    /// A logistic regression.
    Linear(LinearHead),
    /// Gradient-boosted trees.
    Trees(TreeHead),
    /// A constant (the 2023 regression's p(booking): its one prediction is the whole score).
    Constant {
        /// The value.
        constant: f64,
    },
}

impl Head {
    /// The head's value for one row of raw features.
    #[inline]
    pub fn value(&self, row: &[f32]) -> f64 {
        match self {
            Head::Linear(h) => f64::from(h.probability(row)),
            Head::Trees(h) => h.value(row),
            Head::Constant { constant } => *constant,
        }
    }

    /// Values of `rows` (row-major) into `out`; trees are walked tree-major, blocks of rows in
    /// parallel when there are many.
    pub fn values(&self, rows: &[f32], dim: usize, out: &mut Vec<f64>) {
        use rayon::prelude::*;
        let n = rows.len() / dim.max(1);
        out.clear();
        out.resize(n, 0.0);
        match self {
            Head::Linear(h) => {
                out.iter_mut().zip(rows.chunks_exact(dim)).for_each(|(o, r)| *o = f64::from(h.probability(r)))
            }
            Head::Trees(h) => {
                let k = h.trees.outputs;
                let block = PARALLEL_ROWS;
                out.par_chunks_mut(block).zip(rows.par_chunks(block * dim)).for_each(|(out, rows)| {
                    let mut raw = vec![0f64; out.len() * k];
                    h.trees.add_raw_batch(rows, &mut raw);
                    for (o, r) in out.iter_mut().zip(raw.chunks_exact(k)) {
                        *o = h.from_raw(r);
                    }
                });
            }
            Head::Constant { constant } => out.fill(*constant),
        }
    }

    /// Which kind of model this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Head::Linear(_) => ModelKind::Linear,
            Head::Trees(_) | Head::Constant { .. } => ModelKind::Gbdt,
        }
    }

    fn check(&self, dim: usize, path: &Path) -> Result<()> {
        let bad = |what: String| Err(RankingError::Data(format!("{}: {what}", path.display())));
        match self {
            Head::Linear(h) => {
                if h.weights.len() != dim || h.mean.len() != dim || h.scale.len() != dim {
                    return bad(format!("head {} has the wrong length", h.name));
                }
            }
            Head::Trees(h) => {
                if h.trees.features != dim {
                    return bad(format!("head {} reads {} features, this build has {dim}", h.name, h.trees.features));
                }
                h.trees.check().map_err(|e| RankingError::Data(format!("{}: head {}: {e}", path.display(), h.name)))?;
                let outputs = if h.objective == GbdtObjective::ThreeClass { 3 } else { 1 };
                if h.trees.outputs != outputs || h.base.len() != outputs {
                    return bad(format!("head {} has {} outputs for its objective", h.name, h.trees.outputs));
                }
                if h.classes.iter().any(|&c| c >= outputs) {
                    return bad(format!("head {} adds a class it does not have", h.name));
                }
            }
            Head::Constant { .. } => {}
        }
        Ok(())
    }
}

/// Linear heads or gradient-boosted trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Logistic regressions (linfa).
    Linear,
    /// Gradient-boosted trees (LightGBM).
    #[default]
    Gbdt,
}

impl ModelKind {
    /// Parses `linear` or `gbdt`.
    pub fn parse(text: &str) -> Option<ModelKind> {
        match text {
            "linear" => Some(ModelKind::Linear),
            "gbdt" => Some(ModelKind::Gbdt),
            _ => None,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::Gbdt => "gbdt",
        }
    }
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
    pub click: Head,
    /// p(booking | shown).
    pub booking: Head,
    /// What it learned from.
    pub provenance: Provenance,
    /// Split gain per feature of each tree head, in feature order (empty for linear heads).
    #[serde(default)]
    pub importances: Vec<(String, Vec<f64>)>,
}

const FILE: &str = "ranking.json";
const IMPORTANCES: &str = "importances.tsv";

impl RankingModel {
    /// Writes `ranking.json` in `dir` (written beside, then renamed: never half a file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| RankingError::file(dir, e))?;
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| RankingError::Json { path: path.display().to_string(), source: e })?;
        std::fs::write(&tmp, text).map_err(|e| RankingError::file(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| RankingError::file(&path, e))?;
        if !self.importances.is_empty() {
            let path = dir.join(IMPORTANCES);
            std::fs::write(&path, self.importance_table()).map_err(|e| RankingError::file(&path, e))?;
        }
        Ok(())
    }

    /// Split gain per feature of every tree model, as tab-separated text (`feature`, one column per
    /// model, each normalised to sum 1), by decreasing gain of the last model.
    pub fn importance_table(&self) -> String {
        let mut out = String::from("feature");
        for (name, _) in &self.importances {
            out.push('\t');
            out.push_str(name);
        }
        out.push('\n');
        let totals: Vec<f64> = self.importances.iter().map(|(_, g)| g.iter().sum::<f64>().max(1e-300)).collect();
        let mut order: Vec<usize> = (0..self.features.len()).collect();
        if let Some((_, last)) = self.importances.last() {
            order.sort_by(|&a, &b| last.get(b).unwrap_or(&0.0).total_cmp(last.get(a).unwrap_or(&0.0)));
        }
        for j in order {
            out.push_str(&self.features[j]);
            for ((_, g), total) in self.importances.iter().zip(&totals) {
                out.push_str(&format!("\t{:.5}", g.get(j).unwrap_or(&0.0) / total));
            }
            out.push('\n');
        }
        out
    }

    /// Linear heads or trees.
    pub fn kind(&self) -> ModelKind {
        self.click.kind()
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
            head.check(space.dim(), &path)?;
        }
        for head in [&mut model.click, &mut model.booking] {
            if let Head::Linear(h) = head {
                h.fold();
            }
        }
        Ok(model)
    }
}
