//! Ranked lists: the exploring policy that serves them, its exact probabilities, and the estimators
//! that value a list policy from the lists another one served.
//!
//! # The exploring policy
//!
//! Given the ranker's scores `s_1 … s_M` of `M` candidates, a list of `K` is drawn position by position:
//!
//! - with probability `shuffle_share` (once per list) the whole list is a uniform draw without
//!   replacement (shuffled traffic);
//! - otherwise, at each position, the next item is drawn from the candidates not yet placed by
//!   Plackett-Luce sampling, `P(i) ∝ exp(s_i / τ)` (τ = 0: the best remaining, ties to the lower
//!   index); at the positions listed in `epsilon_positions` the draw is instead uniform among the
//!   remaining candidates with probability `epsilon`.
//!
//! Both branches give every prefix an exact probability, `U_j` (shuffled) and `Q_j` (the product of the
//! per-position draws). The list's prefix probability is the mixture `f U_j + (1 − f) Q_j`, and the
//! probability of the item at position `j` given the items above is the ratio of consecutive prefix
//! probabilities: both are what the service logs with each impression. A draw is a pure function of the
//! scores and a seed, so the seed logged with the list reproduces it.
//!
//! # Slate estimators
//!
//! The value of a list is the sum of its positions' rewards. With `w^prefix_j` the ratio of the
//! target's and the logger's probabilities of the list's first `j + 1` items, and `w^marg_j` the ratio of
//! their marginal probabilities of the logged item at position `j`:
//!
//! | estimator | value of a round |
//! | --- | --- |
//! | standard (whole-list) IPS | `w^prefix_{K−1} Σ_j r_j` |
//! | independent IPS (Li et al. 2018) | `Σ_j w^marg_j r_j` |
//! | reward-interaction IPS (McInerney et al. 2020) | `Σ_j w^prefix_j r_j` |
//! | pseudo-inverse (Swaminathan et al. 2017) | `(Σ_j w^marg_j − K + 1) Σ_j r_j` |
//!
//! The independent IPS is unbiased when a position's reward depends only on the item there; the
//! reward-interaction IPS when it depends on the items above (a cascade); the whole-list IPS always,
//! at the highest variance; the pseudo-inverse, in this closed form, when rewards add up over positions
//! and the logger draws each position independently of the others (a factorised logger).

use crate::{OpeError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The exploring policy's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exploration {
    /// Plackett-Luce temperature τ over the scores (0: deterministic order by score).
    pub temperature: f64,
    /// Probability of a uniform draw at the positions of `epsilon_positions`.
    pub epsilon: f64,
    /// Positions (0 = top) where the ε-uniform draw applies.
    pub epsilon_positions: Vec<usize>,
    /// Share of lists drawn uniformly at random from the candidates (shuffled traffic).
    pub shuffle_share: f64,
}

impl Default for Exploration {
    /// The deterministic policy: order by score.
    fn default() -> Self {
        Exploration { temperature: 0.0, epsilon: 0.0, epsilon_positions: Vec::new(), shuffle_share: 0.0 }
    }
}

/// A drawn list with its exact probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// Candidate indices, top first.
    pub order: Vec<usize>,
    /// Probability of each position's item given the items above it.
    pub conditional: Vec<f64>,
    /// Probability of the list's first `j + 1` items, in that order.
    pub prefix: Vec<f64>,
    /// Whether this list came from the shuffled share.
    pub shuffled: bool,
}

impl Exploration {
    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(OpeError::BadInput { field, reason });
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature", format!("{} is not a finite number ≥ 0", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.epsilon) {
            return bad("epsilon", format!("{} is not in [0, 1]", self.epsilon));
        }
        if !(0.0..=1.0).contains(&self.shuffle_share) {
            return bad("shuffle_share", format!("{} is not in [0, 1]", self.shuffle_share));
        }
        Ok(())
    }

    /// Whether every list it serves is the scores' order: its logs support no other policy.
    pub fn is_deterministic(&self) -> bool {
        self.temperature == 0.0
            && (self.epsilon == 0.0 || self.epsilon_positions.is_empty())
            && self.shuffle_share == 0.0
    }

    /// Draws a list of `length` (at most the number of candidates) from the scores, with a seed.
    pub fn draw(&self, scores: &[f64], length: usize, seed: u64) -> Drawn {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let length = length.min(scores.len());
        let shuffled = self.shuffle_share > 0.0 && rng.random::<f64>() < self.shuffle_share;
        let mut remaining: Vec<usize> = (0..scores.len()).collect();
        let mut order = Vec::with_capacity(length);
        let mut weights = Vec::with_capacity(scores.len());
        for position in 0..length {
            let uniform = shuffled
                || (self.epsilon > 0.0
                    && self.epsilon_positions.contains(&position)
                    && rng.random::<f64>() < self.epsilon);
            let at = if uniform {
                rng.random_range(0..remaining.len())
            } else if self.temperature == 0.0 {
                best(scores, &remaining)
            } else {
                plackett_luce(scores, &remaining, self.temperature, &mut weights);
                let total: f64 = weights.iter().sum();
                let mut x = rng.random::<f64>() * total;
                let mut at = weights.len() - 1;
                for (i, w) in weights.iter().enumerate() {
                    if x < *w {
                        at = i;
                        break;
                    }
                    x -= w;
                }
                at
            };
            order.push(remaining.remove(at));
        }
        let prefix = self.prefix_probabilities(scores, &order);
        let conditional = conditionals(&prefix);
        Drawn { order, conditional, prefix, shuffled }
    }

    /// The exact probability of each prefix of `list` (candidate indices, top first).
    pub fn prefix_probabilities(&self, scores: &[f64], list: &[usize]) -> Vec<f64> {
        let m = scores.len();
        let (mut uniform, mut policy) = (1.0, 1.0);
        let mut remaining: Vec<usize> = (0..m).collect();
        let mut weights = Vec::with_capacity(m);
        let mut out = Vec::with_capacity(list.len());
        for (position, &item) in list.iter().enumerate() {
            let Some(at) = remaining.iter().position(|&r| r == item) else {
                out.push(0.0);
                uniform = 0.0;
                policy = 0.0;
                continue;
            };
            let n = remaining.len() as f64;
            uniform /= n;
            policy *= self.step_probability(scores, &remaining, at, position, &mut weights);
            remaining.remove(at);
            out.push(self.shuffle_share * uniform + (1.0 - self.shuffle_share) * policy);
        }
        out
    }

    /// Probability, in the non-shuffled branch, that the draw at `position` picks `remaining[at]`.
    fn step_probability(
        &self,
        scores: &[f64],
        remaining: &[usize],
        at: usize,
        position: usize,
        weights: &mut Vec<f64>,
    ) -> f64 {
        let n = remaining.len() as f64;
        let ranked = if self.temperature == 0.0 {
            f64::from(u8::from(best(scores, remaining) == at))
        } else {
            plackett_luce(scores, remaining, self.temperature, weights);
            weights[at] / weights.iter().sum::<f64>()
        };
        if self.epsilon_positions.contains(&position) {
            self.epsilon / n + (1.0 - self.epsilon) * ranked
        } else {
            ranked
        }
    }

    /// Exact marginal probabilities `[position][candidate]` of each candidate at each of the first
    /// `positions` positions, by enumerating every prefix: `M (M − 1) … (M − positions + 2)` prefixes
    /// of `M` candidates, refused above `budget` prefixes.
    pub fn marginals(&self, scores: &[f64], positions: usize, budget: usize) -> Result<Vec<Vec<f64>>> {
        let m = scores.len();
        let positions = positions.min(m);
        let prefixes: f64 = (0..positions.saturating_sub(1)).map(|i| (m - i) as f64).product();
        if prefixes > budget as f64 {
            return Err(OpeError::Unsupported(format!(
                "exact marginals over {positions} positions of {m} candidates need {prefixes:.0} prefixes \
                 (budget {budget})"
            )));
        }
        let mut out = vec![vec![0.0; m]; positions];
        let mut remaining: Vec<usize> = (0..m).collect();
        let mut weights = Vec::new();
        self.enumerate(scores, positions, 0, 1.0, 1.0, &mut remaining, &mut weights, &mut out);
        Ok(out)
    }

    /// The non-shuffled branch's distribution over `remaining` at `position`, into `out`.
    fn step_distribution(&self, scores: &[f64], remaining: &[usize], position: usize, out: &mut Vec<f64>) {
        let n = remaining.len() as f64;
        if self.temperature == 0.0 {
            let best = best(scores, remaining);
            out.clear();
            out.extend((0..remaining.len()).map(|i| f64::from(u8::from(i == best))));
        } else {
            plackett_luce(scores, remaining, self.temperature, out);
            let total: f64 = out.iter().sum();
            out.iter_mut().for_each(|w| *w /= total);
        }
        if self.epsilon_positions.contains(&position) {
            out.iter_mut().for_each(|p| *p = self.epsilon / n + (1.0 - self.epsilon) * *p);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn enumerate(
        &self,
        scores: &[f64],
        positions: usize,
        position: usize,
        uniform: f64,
        policy: f64,
        remaining: &mut Vec<usize>,
        weights: &mut Vec<f64>,
        out: &mut [Vec<f64>],
    ) {
        if position == positions || (uniform == 0.0 && policy == 0.0) {
            return;
        }
        let n = remaining.len() as f64;
        self.step_distribution(scores, remaining, position, weights);
        let steps = std::mem::take(weights);
        for at in 0..remaining.len() {
            let (u, q) = (uniform / n, policy * steps[at]);
            out[position][remaining[at]] += self.shuffle_share * u + (1.0 - self.shuffle_share) * q;
            if position + 1 < positions && (u > 0.0 || q > 0.0) {
                let item = remaining.remove(at);
                self.enumerate(scores, positions, position + 1, u, q, remaining, weights, out);
                remaining.insert(at, item);
            }
        }
        *weights = steps;
    }
}

/// Conditional probabilities from prefix probabilities.
pub fn conditionals(prefix: &[f64]) -> Vec<f64> {
    let mut above = 1.0;
    prefix
        .iter()
        .map(|&p| {
            let c = if above > 0.0 { p / above } else { 0.0 };
            above = p;
            c
        })
        .collect()
}

fn best(scores: &[f64], remaining: &[usize]) -> usize {
    let mut at = 0;
    for (i, &r) in remaining.iter().enumerate() {
        if scores[r] > scores[remaining[at]] {
            at = i;
        }
    }
    at
}

/// Plackett-Luce weights `exp((s − max) / τ)` of the remaining candidates.
fn plackett_luce(scores: &[f64], remaining: &[usize], temperature: f64, weights: &mut Vec<f64>) {
    let max = remaining.iter().map(|&r| scores[r]).fold(f64::NEG_INFINITY, f64::max);
    weights.clear();
    weights.extend(remaining.iter().map(|&r| ((scores[r] - max) / temperature).exp()));
}

/// One logged list as the slate estimators read it; the vectors run over the evaluated positions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlateRound {
    /// Reward at each position.
    pub rewards: Vec<f64>,
    /// The logger's probability of each prefix of the logged list.
    pub logging_prefix: Vec<f64>,
    /// The target's probability of each prefix of the logged list.
    pub target_prefix: Vec<f64>,
    /// The logger's marginal probability of each position's logged item there (empty: unknown).
    pub logging_marginal: Vec<f64>,
    /// The target's marginal probability of each position's logged item there (empty: unknown).
    pub target_marginal: Vec<f64>,
}

/// An estimator of a list policy's value (the expected sum of its positions' rewards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlateEstimator {
    /// The logged lists' mean value (the logger's own value).
    OnPolicy,
    /// Whole-list IPS.
    StandardIps,
    /// Independent (item-position) IPS.
    IndependentIps,
    /// Reward-interaction (prefix) IPS.
    RewardInteractionIps,
    /// Pseudo-inverse estimator.
    PseudoInverse,
    /// Self-normalised independent IPS (each position's weights divided by their mean).
    SnIndependentIps,
    /// Self-normalised reward-interaction IPS.
    SnRewardInteractionIps,
}

impl SlateEstimator {
    /// Every slate estimator.
    pub const ALL: [SlateEstimator; 7] = [
        SlateEstimator::OnPolicy,
        SlateEstimator::StandardIps,
        SlateEstimator::IndependentIps,
        SlateEstimator::RewardInteractionIps,
        SlateEstimator::PseudoInverse,
        SlateEstimator::SnIndependentIps,
        SlateEstimator::SnRewardInteractionIps,
    ];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            SlateEstimator::OnPolicy => "on-policy",
            SlateEstimator::StandardIps => "standard IPS",
            SlateEstimator::IndependentIps => "independent IPS",
            SlateEstimator::RewardInteractionIps => "RIPS",
            SlateEstimator::PseudoInverse => "pseudo-inverse",
            SlateEstimator::SnIndependentIps => "SN independent IPS",
            SlateEstimator::SnRewardInteractionIps => "SN RIPS",
        }
    }

    fn needs_marginals(self) -> bool {
        matches!(
            self,
            SlateEstimator::IndependentIps | SlateEstimator::PseudoInverse | SlateEstimator::SnIndependentIps
        )
    }

    /// The per-round terms whose mean is the estimate.
    pub fn terms(self, rounds: &[SlateRound]) -> Result<Vec<f64>> {
        check_slates(rounds, self.needs_marginals())?;
        let k = rounds[0].rewards.len();
        let mean = |f: &dyn Fn(&SlateRound, usize) -> f64, j: usize| {
            rounds.iter().map(|r| f(r, j)).sum::<f64>() / rounds.len() as f64
        };
        let prefix_w = |r: &SlateRound, j: usize| r.target_prefix[j] / r.logging_prefix[j];
        let marg_w = |r: &SlateRound, j: usize| r.target_marginal[j] / r.logging_marginal[j];
        let norms: Vec<f64> = match self {
            SlateEstimator::SnIndependentIps => (0..k).map(|j| mean(&marg_w, j)).collect(),
            SlateEstimator::SnRewardInteractionIps => (0..k).map(|j| mean(&prefix_w, j)).collect(),
            _ => vec![1.0; k],
        };
        if norms.iter().any(|n| *n <= 0.0 || !n.is_finite()) {
            return Err(OpeError::Unsupported("the target gives probability 0 to every logged list".into()));
        }
        Ok(rounds
            .iter()
            .map(|r| {
                let total: f64 = r.rewards.iter().sum();
                match self {
                    SlateEstimator::OnPolicy => total,
                    SlateEstimator::StandardIps => prefix_w(r, k - 1) * total,
                    SlateEstimator::IndependentIps | SlateEstimator::SnIndependentIps => {
                        (0..k).map(|j| marg_w(r, j) * r.rewards[j] / norms[j]).sum()
                    }
                    SlateEstimator::RewardInteractionIps | SlateEstimator::SnRewardInteractionIps => {
                        (0..k).map(|j| prefix_w(r, j) * r.rewards[j] / norms[j]).sum()
                    }
                    SlateEstimator::PseudoInverse => {
                        ((0..k).map(|j| marg_w(r, j)).sum::<f64>() - (k as f64 - 1.0)) * total
                    }
                }
            })
            .collect())
    }

    /// The estimate.
    pub fn estimate(self, rounds: &[SlateRound]) -> Result<f64> {
        let terms = self.terms(rounds)?;
        Ok(terms.iter().sum::<f64>() / terms.len() as f64)
    }
}

fn check_slates(rounds: &[SlateRound], marginals: bool) -> Result<()> {
    let Some(first) = rounds.first() else {
        return Err(OpeError::BadInput { field: "rounds", reason: "no list logged".into() });
    };
    let k = first.rewards.len();
    if k == 0 {
        return Err(OpeError::BadInput { field: "rewards", reason: "round 0: no position".into() });
    }
    for (i, r) in rounds.iter().enumerate() {
        let bad = |field, what: String| Err(OpeError::BadInput { field, reason: format!("round {i}: {what}") });
        let mut fields =
            vec![("rewards", &r.rewards), ("logging_prefix", &r.logging_prefix), ("target_prefix", &r.target_prefix)];
        if marginals {
            fields.push(("logging_marginal", &r.logging_marginal));
            fields.push(("target_marginal", &r.target_marginal));
        }
        for (field, values) in fields {
            if values.len() != k {
                return bad(field, format!("{} positions, expected {k}", values.len()));
            }
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return bad(field, format!("{v} is not a finite number"));
            }
        }
        for (field, values) in [("logging_prefix", &r.logging_prefix)]
            .into_iter()
            .chain(marginals.then_some(("logging_marginal", &r.logging_marginal)))
        {
            if let Some(v) = values.iter().find(|v| !(**v > 0.0 && **v <= 1.0)) {
                return bad(field, format!("probability {v} is not in (0, 1]"));
            }
        }
    }
    Ok(())
}

/// The share of rounds whose logged list had probability 1 under its logger: a deterministic logger's.
pub fn deterministic_share(rounds: &[SlateRound]) -> f64 {
    if rounds.is_empty() {
        return 0.0;
    }
    rounds.iter().filter(|r| r.logging_prefix.last().is_some_and(|p| *p >= 1.0)).count() as f64 / rounds.len() as f64
}

/// Refuses list logs that cannot support another list policy: every logged list had probability 1.
pub fn check_slate_support(rounds: &[SlateRound]) -> Result<()> {
    let differs =
        rounds.iter().any(|r| r.target_prefix.iter().zip(&r.logging_prefix).any(|(t, l)| (t - l).abs() > 1e-12));
    if !rounds.is_empty() && deterministic_share(rounds) == 1.0 && differs {
        return Err(OpeError::Unsupported(
            "every logged list has propensity 1: the lists were served by a deterministic policy, so no \
             other ordering was ever tried; turn exploration on (temperature, epsilon or shuffled traffic) \
             to evaluate another policy"
                .into(),
        ));
    }
    Ok(())
}
