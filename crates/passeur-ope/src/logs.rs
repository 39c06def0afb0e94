//! Off-policy evaluation of served lists: each logged list holds the candidates it was drawn from with
//! the ranker's scores (p(click), p(booking), Δdiv), the logger's settings, the order served, the
//! logger's prefix probabilities and the clicks that followed. A target is another list policy over the
//! same candidates (another λ, another exploration); its probabilities of the logged lists are computed
//! exactly, and every estimator values it on the first `positions` positions.

use crate::reward::{CrossFitted, RewardModelConfig};
use crate::slate::{Exploration, SlateEstimator, SlateRound, check_slate_support, deterministic_share};
use crate::{Estimator, Interval, OpeError, Result, Round, bernstein_lower, bootstrap};
use serde::{Deserialize, Serialize};

/// One logged candidate's scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CandidateScores {
    /// p(click).
    pub p_click: f64,
    /// p(booking).
    pub p_booking: f64,
    /// Δdiv.
    pub delta_div: f64,
    /// The logger's score, as logged (what its draw used).
    pub score: f64,
}

/// A list policy over logged candidates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListPolicy {
    /// λ of the objective `p(click) + p(booking) (1 + λ Δdiv)`.
    pub lambda: f64,
    /// How the list is drawn from the objective.
    pub exploration: Exploration,
}

impl ListPolicy {
    fn scores(&self, candidates: &[CandidateScores]) -> Vec<f64> {
        candidates.iter().map(|c| c.p_click + c.p_booking * (1.0 + self.lambda * c.delta_div)).collect()
    }
}

/// One served list, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedList {
    /// The user (the bootstrap's cluster).
    pub cluster: u64,
    /// The candidates, in the logged order.
    pub candidates: Vec<CandidateScores>,
    /// The logger.
    pub logger: ListPolicy,
    /// Candidate index at each position served.
    pub order: Vec<usize>,
    /// The logger's prefix probabilities, as logged.
    pub prefix: Vec<f64>,
    /// Reward (click) at each position served.
    pub rewards: Vec<f64>,
}

/// A served list's logging policy, as the service records it (the `policy` JSON of a served list).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoggedPolicy {
    /// λ of the logger's objective.
    pub lambda: f64,
    /// The logger's exploration.
    pub exploration: Exploration,
}

/// One candidate of a served list's record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoggedCandidate {
    /// The offer.
    pub offer_id: String,
    /// p(click).
    pub p_click: f64,
    /// p(booking).
    pub p_booking: f64,
    /// Δdiv.
    pub delta_div: f64,
    /// The logger's score.
    pub score: f64,
}

/// A served list's record, as the service writes it (the `body` JSON of a served list): the candidates
/// drawn from, the order served (candidate indices) and its prefix probabilities.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoggedBody {
    /// The candidates, in the ranker's order.
    pub candidates: Vec<LoggedCandidate>,
    /// Candidate index at each position served.
    pub order: Vec<usize>,
    /// Prefix probabilities of the served order.
    pub prefix: Vec<f64>,
}

impl LoggedList {
    /// The list of a served record with the rewards observed at each served position.
    pub fn from_record(cluster: u64, policy: &LoggedPolicy, body: LoggedBody, rewards: Vec<f64>) -> LoggedList {
        LoggedList {
            cluster,
            candidates: body
                .candidates
                .iter()
                .map(|c| CandidateScores {
                    p_click: c.p_click,
                    p_booking: c.p_booking,
                    delta_div: c.delta_div,
                    score: c.score,
                })
                .collect(),
            logger: ListPolicy { lambda: policy.lambda, exploration: policy.exploration.clone() },
            order: body.order,
            prefix: body.prefix,
            rewards,
        }
    }
}

/// Settings of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSettings {
    /// Positions evaluated (the value is the clicks on them).
    pub positions: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// 1 − the intervals' level.
    pub alpha: f64,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// The clip of the IPS whose empirical-Bernstein lower bound is reported.
    pub clip: f64,
    /// The reward model.
    pub reward_model: RewardModelConfig,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            positions: 3,
            resamples: 200,
            alpha: 0.05,
            seed: 7,
            clip: 20.0,
            reward_model: RewardModelConfig::default(),
        }
    }
}

/// One estimator's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateRow {
    /// The estimator.
    pub estimator: String,
    /// The estimate with its clustered bootstrap interval.
    pub interval: Interval,
}

/// The evaluation's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Lists read.
    pub lists: usize,
    /// Users among them.
    pub users: usize,
    /// The logger's own value (clicks per list on the evaluated positions).
    pub logged_value: f64,
    /// Every estimator.
    pub rows: Vec<EstimateRow>,
    /// Empirical-Bernstein lower bound of the clipped independent IPS, at level 1 − alpha.
    pub bernstein_lower: f64,
    /// Effective sample size of the position-wise weights (Kish), over the (list, position) rounds.
    pub effective_sample_size: f64,
    /// Position-wise rounds.
    pub position_rounds: usize,
    /// Largest position-wise weight.
    pub max_weight: f64,
    /// Mean position-wise weight (1 in expectation under a correct logger).
    pub mean_weight: f64,
    /// Mean share of the target's mass on (offer, position) pairs the logger could not show.
    pub unsupported_mass: f64,
    /// When the estimates should not be trusted, why.
    pub warnings: Vec<String>,
}

const MARGINAL_BUDGET: usize = 200_000;

/// Evaluates `target` on `lists`.
pub fn evaluate(lists: &[LoggedList], target: &ListPolicy, settings: &EvalSettings) -> Result<Evaluation> {
    target.exploration.validate()?;
    let k = settings.positions;
    let lists: Vec<&LoggedList> = lists.iter().filter(|l| l.order.len() >= k).collect();
    if lists.is_empty() {
        return Err(OpeError::BadInput {
            field: "lists",
            reason: format!("no logged list has {k} positions; lower `positions` or log longer lists"),
        });
    }
    let mut slates = Vec::with_capacity(lists.len());
    let mut rounds = Vec::with_capacity(lists.len() * k);
    let mut clusters = Vec::with_capacity(lists.len());
    let mut unsupported = 0.0;
    let mut features = Vec::new();
    let mut rewards = Vec::new();
    let mut round_clusters = Vec::new();
    let dim = 3 + k.saturating_sub(1);
    let feature = |c: &CandidateScores, j: usize| -> Vec<f64> {
        let mut x = vec![logit(c.p_click), logit(c.p_booking), c.delta_div];
        x.extend((1..k).map(|p| f64::from(u8::from(p == j))));
        x
    };
    // Marginals of both policies on the evaluated positions, per list.
    let mut marginals = Vec::with_capacity(lists.len());
    for (i, l) in lists.iter().enumerate() {
        let bad =
            |field: &'static str, reason: String| OpeError::BadInput { field, reason: format!("list {i}: {reason}") };
        if l.prefix.len() < k || l.rewards.len() < k || l.order.iter().any(|&c| c >= l.candidates.len()) {
            return Err(bad("order", "positions, prefix probabilities and rewards disagree".into()));
        }
        let logger_scores: Vec<f64> = l.candidates.iter().map(|c| c.score).collect();
        let replayed = l.logger.exploration.prefix_probabilities(&logger_scores, &l.order[..k]);
        if !l.logger.exploration.is_deterministic()
            && replayed.iter().zip(&l.prefix).any(|(a, b)| (a - b).abs() > 1e-9 * b.max(1e-300))
        {
            return Err(bad(
                "prefix",
                format!(
                    "logged prefix probabilities {:?} differ from the logger's replay {replayed:?}",
                    &l.prefix[..k]
                ),
            ));
        }
        let target_scores = target.scores(&l.candidates);
        let deterministic = l.logger.exploration.is_deterministic();
        let lm = if deterministic {
            // The ranker's order as served: the logged order has probability 1.
            (0..k).map(|j| (0..l.candidates.len()).map(|c| f64::from(u8::from(c == l.order[j]))).collect()).collect()
        } else {
            l.logger.exploration.marginals(&logger_scores, k, MARGINAL_BUDGET)?
        };
        let tm = target.exploration.marginals(&target_scores, k, MARGINAL_BUDGET)?;
        unsupported += (0..k).map(|j| crate::unsupported_mass(&tm[j], &lm[j])).sum::<f64>() / k as f64;
        let order = &l.order[..k];
        slates.push(SlateRound {
            rewards: l.rewards[..k].to_vec(),
            logging_prefix: l.prefix[..k].to_vec(),
            target_prefix: target.exploration.prefix_probabilities(&target_scores, order),
            logging_marginal: (0..k).map(|j| lm[j][order[j]]).collect(),
            target_marginal: (0..k).map(|j| tm[j][order[j]]).collect(),
        });
        clusters.push(l.cluster);
        for (j, (&c, &r)) in order.iter().zip(&l.rewards).enumerate() {
            features.extend(feature(&l.candidates[c], j));
            rewards.push(r);
            round_clusters.push(l.cluster);
        }
        marginals.push((lm, tm));
    }
    check_slate_support(&slates)?;
    let model = CrossFitted::fit(&features, dim, &rewards, &round_clusters, &settings.reward_model)?;
    for (i, (l, (lm, tm))) in lists.iter().zip(&marginals).enumerate() {
        for j in 0..k {
            let a = l.order[j];
            let row = i * k + j;
            let q = |c: usize| model.predict(row, &feature(&l.candidates[c], j));
            rounds.push(Round {
                reward: l.rewards[j],
                logging: lm[j][a],
                target: tm[j][a],
                model_logged: q(a),
                model_target: (0..l.candidates.len()).filter(|&c| tm[j][c] > 0.0).map(|c| tm[j][c] * q(c)).sum(),
            });
        }
    }
    let n = lists.len();
    let users = {
        let mut c = clusters.clone();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    let mut rows = Vec::new();
    for s in SlateEstimator::ALL {
        rows.push(EstimateRow {
            estimator: s.name().to_owned(),
            interval: slate_bootstrap(s, &slates, &clusters, settings)?,
        });
    }
    let position_clusters: Vec<u64> = round_clusters.clone();
    for e in [
        Estimator::Ips { clip: settings.clip },
        Estimator::Snips,
        Estimator::Dm,
        Estimator::Dr,
        Estimator::Sndr,
        Estimator::SwitchDr { tau: settings.clip },
        Estimator::DrOs { lambda: settings.clip },
    ] {
        // Position-wise estimates are per (list, position) round: × k gives clicks per list.
        let interval = bootstrap(e, &rounds, &position_clusters, settings.resamples, settings.alpha, settings.seed)?;
        let scale = k as f64;
        rows.push(EstimateRow {
            estimator: format!("{} (per position)", e.label()),
            interval: Interval {
                estimate: interval.estimate * scale,
                lower: interval.lower * scale,
                upper: interval.upper * scale,
            },
        });
    }
    // Bernstein: per-list sums of clipped position-wise IPS terms lie in [0, k × clip].
    let clipped = Estimator::Ips { clip: settings.clip }.terms(&rounds)?;
    let per_list: Vec<f64> = clipped.chunks(k).map(|c| c.iter().sum()).collect();
    let lower = bernstein_lower(&per_list, k as f64 * settings.clip, settings.alpha)?;
    let diagnostics = crate::diagnostics(&rounds)?;
    let logged_value = SlateEstimator::OnPolicy.estimate(&slates)?;
    let unsupported_mass = unsupported / n as f64;
    let mut warnings = Vec::new();
    let ess_share = diagnostics.effective_sample_size / rounds.len() as f64;
    if ess_share < 0.01 {
        warnings.push(format!(
            "effective sample size {:.0} is {:.2} % of the {} rounds: the target is far from the logger; \
             importance-weighted estimates rest on a few rounds",
            diagnostics.effective_sample_size,
            ess_share * 100.0,
            rounds.len()
        ));
    }
    if diagnostics.max_weight > 100.0 {
        warnings.push(format!("largest weight {:.0}: one round can move the estimate", diagnostics.max_weight));
    }
    if (diagnostics.mean_weight - 1.0).abs() > 0.1 {
        warnings.push(format!(
            "mean weight {:.3} is far from 1: propensities may be wrong, or the target puts mass where the \
             logger did not go",
            diagnostics.mean_weight
        ));
    }
    if unsupported_mass > 0.01 {
        warnings.push(format!(
            "{:.1} % of the target's mass is on offers and positions the logger never shows: no estimator \
             sees it (the direct method extrapolates)",
            unsupported_mass * 100.0
        ));
    }
    if deterministic_share(&slates) > 0.0 {
        warnings.push(format!(
            "{:.1} % of the lists were served deterministically (propensity 1)",
            deterministic_share(&slates) * 100.0
        ));
    }
    if n < 1_000 {
        warnings.push(format!("only {n} lists: intervals are wide"));
    }
    Ok(Evaluation {
        lists: n,
        users,
        logged_value,
        rows,
        bernstein_lower: lower,
        effective_sample_size: diagnostics.effective_sample_size,
        position_rounds: rounds.len(),
        max_weight: diagnostics.max_weight,
        mean_weight: diagnostics.mean_weight,
        unsupported_mass,
        warnings,
    })
}

/// A percentile bootstrap of a slate estimator, resampling users.
fn slate_bootstrap(
    estimator: SlateEstimator,
    slates: &[SlateRound],
    clusters: &[u64],
    settings: &EvalSettings,
) -> Result<Interval> {
    let estimate = estimator.estimate(slates)?;
    crate::cluster_bootstrap(slates, clusters, settings.resamples, settings.alpha, settings.seed, estimate, |s| {
        estimator.estimate(s)
    })
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}
