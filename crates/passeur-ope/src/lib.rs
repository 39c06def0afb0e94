//! Off-policy evaluation of single-action policies: the value a target
//! policy would have had, estimated from logs of a logging policy that
//! recorded, for each round, the action taken, its reward and the
//! probability the logging policy gave it (its propensity).
//!
//! The estimators follow their published definitions (the notation of Open
//! Bandit Pipeline, Saito et al. 2021): with `w = π_e(a|x) / π_b(a|x)` the
//! importance weight of the logged action, `q̂(x, a)` a reward model and
//! `q̂_π(x) = Σ_a π_e(a|x) q̂(x, a)` its value under the target policy,
//!
//! | estimator | per-round term, averaged |
//! | --- | --- |
//! | on-policy (A/B) average | `r` |
//! | IPS (clipped at λ) | `min(w, λ) r` |
//! | SNIPS | `w r`, divided by the mean of `w` |
//! | direct method | `q̂_π(x)` |
//! | doubly robust | `q̂_π(x) + w (r − q̂(x, a))` |
//! | self-normalised DR | `q̂_π(x) + w (r − q̂(x, a))`, the correction divided by the mean of `w` |
//! | Switch-DR (τ) | `q̂_π(x) + w (r − q̂(x, a)) 1{w ≤ τ}` |
//! | DR with optimistic shrinkage (λ) | `q̂_π(x) + ŵ (r − q̂(x, a))`, `ŵ = λ w / (w² + λ)` |
//!
//! A log whose propensities are all 1 comes from a deterministic policy: it
//! supports no target that acts differently, and [`check_support`] says so.

use serde::Serialize;
use thiserror::Error;

pub mod bandit;
pub mod logs;
pub mod reward;
pub mod simulate;
pub mod slate;

pub use reward::{CrossFitted, RewardModelConfig};
pub use slate::{Drawn, Exploration, SlateEstimator, SlateRound};

/// Result alias of the crate.
pub type Result<T, E = OpeError> = std::result::Result<T, E>;

/// What can make an estimate impossible.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OpeError {
    /// The inputs disagree or hold an impossible value; names the field and the round.
    #[error("{field}: {reason}")]
    BadInput {
        /// The field.
        field: &'static str,
        /// What is wrong, with the round.
        reason: String,
    },
    /// The logs cannot estimate this target (no randomness where the target differs).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// One logged round, as the estimators read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Round {
    /// The observed reward.
    pub reward: f64,
    /// π_b(a|x): the logging policy's probability of the logged action.
    pub logging: f64,
    /// π_e(a|x): the target policy's probability of the logged action.
    pub target: f64,
    /// q̂(x, a): the reward model at the logged action (0 without a model).
    pub model_logged: f64,
    /// q̂_π(x) = Σ_a π_e(a|x) q̂(x, a): the reward model's value of the target at x (0 without a model).
    pub model_target: f64,
}

impl Round {
    /// The importance weight π_e / π_b.
    pub fn weight(&self) -> f64 {
        self.target / self.logging
    }
}

/// An estimator of a target policy's value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Estimator {
    /// The logged rewards' mean: the value of the logging policy itself (an A/B test's arm).
    OnPolicy,
    /// Inverse propensity scoring, weights clipped at `clip` (infinity: none).
    Ips {
        /// Largest weight.
        clip: f64,
    },
    /// Self-normalised IPS.
    Snips,
    /// The direct method: the reward model's value of the target.
    Dm,
    /// Doubly robust.
    Dr,
    /// Self-normalised doubly robust.
    Sndr,
    /// Switch-DR: the correction only where the weight is at most `tau`.
    SwitchDr {
        /// The switch threshold.
        tau: f64,
    },
    /// DR with optimistic shrinkage of the weights, `λ w / (w² + λ)`.
    DrOs {
        /// The shrinkage λ.
        lambda: f64,
    },
}

impl Estimator {
    /// Its name in tables (`IPS (clip 20)`, `Switch-DR (τ=5)`, ...).
    pub fn label(&self) -> String {
        match *self {
            Estimator::OnPolicy => "on-policy".into(),
            Estimator::Ips { clip } if clip.is_infinite() => "IPS".into(),
            Estimator::Ips { clip } => format!("IPS (clip {clip})"),
            Estimator::Snips => "SNIPS".into(),
            Estimator::Dm => "DM".into(),
            Estimator::Dr => "DR".into(),
            Estimator::Sndr => "SNDR".into(),
            Estimator::SwitchDr { tau } => format!("Switch-DR (τ={tau})"),
            Estimator::DrOs { lambda } => format!("DR-OS (λ={lambda})"),
        }
    }

    /// The per-round terms whose mean is the estimate (self-normalised estimators: already normalised).
    pub fn terms(&self, rounds: &[Round]) -> Result<Vec<f64>> {
        check(rounds)?;
        let mean_w = rounds.iter().map(Round::weight).sum::<f64>() / rounds.len() as f64;
        let terms = rounds.iter().map(|r| {
            let w = r.weight();
            match *self {
                Estimator::OnPolicy => r.reward,
                Estimator::Ips { clip } => w.min(clip) * r.reward,
                Estimator::Snips => w * r.reward / mean_w,
                Estimator::Dm => r.model_target,
                Estimator::Dr => r.model_target + w * (r.reward - r.model_logged),
                Estimator::Sndr => r.model_target + w * (r.reward - r.model_logged) / mean_w,
                Estimator::SwitchDr { tau } => {
                    r.model_target + if w <= tau { w * (r.reward - r.model_logged) } else { 0.0 }
                }
                Estimator::DrOs { lambda } => {
                    let shrunk = if lambda.is_infinite() {
                        w
                    } else if w == 0.0 {
                        0.0
                    } else {
                        lambda * w / (w * w + lambda)
                    };
                    r.model_target + shrunk * (r.reward - r.model_logged)
                }
            }
        });
        let terms: Vec<f64> = terms.collect();
        if !mean_w.is_finite() || (mean_w == 0.0 && matches!(self, Estimator::Snips | Estimator::Sndr)) {
            return Err(OpeError::Unsupported("the target gives probability 0 to every logged action".into()));
        }
        Ok(terms)
    }

    /// The estimate: the mean of the terms.
    pub fn estimate(&self, rounds: &[Round]) -> Result<f64> {
        let terms = self.terms(rounds)?;
        Ok(terms.iter().sum::<f64>() / terms.len() as f64)
    }
}

fn check(rounds: &[Round]) -> Result<()> {
    if rounds.is_empty() {
        return Err(OpeError::BadInput { field: "rounds", reason: "no round logged".into() });
    }
    for (i, r) in rounds.iter().enumerate() {
        let bad = |field, what: String| Err(OpeError::BadInput { field, reason: format!("round {i}: {what}") });
        if !(r.logging > 0.0 && r.logging <= 1.0) {
            return bad("logging", format!("propensity {} is not in (0, 1]", r.logging));
        }
        if !(0.0..=1.0).contains(&r.target) {
            return bad("target", format!("probability {} is not in [0, 1]", r.target));
        }
        for (field, v) in [("reward", r.reward), ("model_logged", r.model_logged), ("model_target", r.model_target)] {
            if !v.is_finite() {
                return bad(field, format!("{v} is not a finite number"));
            }
        }
    }
    Ok(())
}

/// Diagnostics of the importance weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightDiagnostics {
    /// Rounds.
    pub rounds: usize,
    /// Kish's effective sample size, (Σw)² / Σw².
    pub effective_sample_size: f64,
    /// Largest weight.
    pub max_weight: f64,
    /// Mean weight (1 in expectation under a correct logger).
    pub mean_weight: f64,
    /// Share of rounds whose logging propensity is 1 (a deterministic logger's).
    pub deterministic_share: f64,
}

/// The weights' diagnostics.
pub fn diagnostics(rounds: &[Round]) -> Result<WeightDiagnostics> {
    check(rounds)?;
    let w: Vec<f64> = rounds.iter().map(Round::weight).collect();
    let sum: f64 = w.iter().sum();
    let squares: f64 = w.iter().map(|x| x * x).sum();
    Ok(WeightDiagnostics {
        rounds: rounds.len(),
        effective_sample_size: if squares > 0.0 { sum * sum / squares } else { 0.0 },
        max_weight: w.iter().copied().fold(0.0, f64::max),
        mean_weight: sum / w.len() as f64,
        deterministic_share: rounds.iter().filter(|r| r.logging >= 1.0).count() as f64 / rounds.len() as f64,
    })
}

/// Refuses logs that cannot support off-policy evaluation of a target that differs from the logger:
/// every logged propensity is 1 (a deterministic logging policy) while the target's probabilities differ
/// from the logger's somewhere.
pub fn check_support(rounds: &[Round]) -> Result<()> {
    check(rounds)?;
    let deterministic = rounds.iter().all(|r| r.logging >= 1.0);
    let differs = rounds.iter().any(|r| (r.target - r.logging).abs() > 1e-12);
    if deterministic && differs {
        return Err(OpeError::Unsupported(
            "every logged propensity is 1: the logging policy was deterministic, so actions it never took \
             have no data; log with an exploring policy (propensities below 1) to evaluate another policy"
                .into(),
        ));
    }
    Ok(())
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// The estimate on the whole log.
    pub estimate: f64,
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// A percentile bootstrap interval at level `1 − alpha`, resampling whole clusters (e.g. users: their
/// rounds are not independent) with replacement, `resamples` times, seeded. Every round names its cluster.
pub fn bootstrap(
    estimator: Estimator,
    rounds: &[Round],
    clusters: &[u64],
    resamples: usize,
    alpha: f64,
    seed: u64,
) -> Result<Interval> {
    let estimate = estimator.estimate(rounds)?;
    if clusters.len() != rounds.len() {
        return Err(OpeError::BadInput {
            field: "clusters",
            reason: format!("{} clusters for {} rounds", clusters.len(), rounds.len()),
        });
    }
    if !(alpha > 0.0 && alpha < 1.0) || resamples < 10 {
        return Err(OpeError::BadInput {
            field: "alpha",
            reason: format!("alpha {alpha} must be in (0, 1) with at least 10 resamples ({resamples})"),
        });
    }
    cluster_bootstrap(rounds, clusters, resamples, alpha, seed, estimate, |sample| estimator.estimate(sample))
}

/// The percentile bootstrap of any statistic over items grouped in clusters: whole clusters are drawn with
/// replacement, `resamples` times, from a seeded stream; a resample the statistic cannot be computed on is
/// skipped. `estimate` is the statistic on all the items.
pub fn cluster_bootstrap<T: Clone>(
    items: &[T],
    clusters: &[u64],
    resamples: usize,
    alpha: f64,
    seed: u64,
    estimate: f64,
    statistic: impl Fn(&[T]) -> Result<f64>,
) -> Result<Interval> {
    use rand::{Rng, SeedableRng};
    let mut groups: Vec<(u64, Vec<usize>)> = Vec::new();
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| clusters[i]);
    for i in order {
        match groups.last_mut() {
            Some((c, members)) if *c == clusters[i] => members.push(i),
            _ => groups.push((clusters[i], vec![i])),
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(resamples);
    let mut sample: Vec<T> = Vec::with_capacity(items.len());
    for _ in 0..resamples {
        sample.clear();
        for _ in 0..groups.len() {
            let g = &groups[rng.random_range(0..groups.len())].1;
            sample.extend(g.iter().map(|&i| items[i].clone()));
        }
        // A resample where the target gives every drawn action probability 0 says nothing: skipped.
        if let Ok(v) = statistic(&sample) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return Err(OpeError::Unsupported("no bootstrap resample could be estimated".into()));
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    Ok(Interval { estimate, lower: at(alpha / 2.0), upper: at(1.0 - alpha / 2.0) })
}

/// The empirical-Bernstein lower bound on the mean of independent terms in `[0, upper]` (Maurer and
/// Pontil 2009, theorem 4): with probability at least `1 − delta`, the true mean is at least
/// `mean − √(2 V ln(2/δ) / n) − 7 upper ln(2/δ) / (3 (n − 1))`, V the sample variance. For IPS terms,
/// `upper` is the largest possible weight times the largest reward (clipping makes it small).
pub fn bernstein_lower(terms: &[f64], upper: f64, delta: f64) -> Result<f64> {
    let n = terms.len();
    if n < 2 {
        return Err(OpeError::BadInput { field: "terms", reason: format!("{n} terms; at least 2 are needed") });
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(OpeError::BadInput { field: "delta", reason: format!("{delta} is not in (0, 1)") });
    }
    if let Some(i) = terms.iter().position(|t| !(0.0..=upper).contains(t)) {
        return Err(OpeError::BadInput {
            field: "terms",
            reason: format!("term {i} = {} is outside [0, {upper}]", terms[i]),
        });
    }
    let nf = n as f64;
    let mean = terms.iter().sum::<f64>() / nf;
    let variance = terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let log = (2.0 / delta).ln();
    Ok(mean - (2.0 * variance * log / nf).sqrt() - 7.0 * upper * log / (3.0 * (nf - 1.0)))
}

/// The share of a target's probability mass on actions the logger never takes (`logging[a] == 0`): what
/// no estimator can see. `target` and `logging` are two distributions over the same actions.
pub fn unsupported_mass(target: &[f64], logging: &[f64]) -> f64 {
    target.iter().zip(logging).filter(|(_, l)| **l <= 0.0).map(|(t, _)| *t).sum()
}
