//! A simulator with ground truth: on a synthetic world, whose behaviour model gives the true click
//! probability of any offer for any user, a logging policy serves lists, and each estimator's value of
//! each target policy is compared with the target's true value, over repeated seeds.
//!
//! A round (a context) is a user of the world and `candidates` offers drawn by the world's own
//! candidate policy. The ranker sees noisy estimates of the true p(click) and p(booking) (logit plus
//! Gaussian noise, a stand-in for an imperfect model) and the exact Δdiv of each candidate against the
//! user's simulated bookings; a policy is the exploring list policy of [`crate::slate`] over the objective
//! `p̂(click) + p̂(booking) × (1 + λ Δdiv)`. The reward at position `j` is a click, drawn with probability
//! `examine[j] × p(click)` (a position-based model), and a list's value is its clicks. A policy's true
//! value on the round is `Σ_j examine[j] Σ_a P(a at j) p(click | a)`, exact from the policy's exact
//! marginals: the truth is computed, not sampled.

use crate::bandit::LinUcb;
use crate::reward::{CrossFitted, RewardModelConfig};
use crate::slate::{Exploration, SlateEstimator, SlateRound};
use crate::{Estimator, OpeError, Result, Round};
use passeur_diversity::{DiversificationRules, OfferTraits, UserProfile};
use passeur_domain::InteractionKind;
use passeur_synth::World;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// A list policy of the simulator: the objective's λ and the exploration around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySpec {
    /// Its name in tables.
    pub name: String,
    /// λ of the Δdiv term.
    pub lambda: f64,
    /// How lists are drawn from the objective.
    pub exploration: Exploration,
}

/// The simulator's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    /// Logged lists per run.
    pub rounds: usize,
    /// Candidates per round.
    pub candidates: usize,
    /// Examination probability of each position (its length is the list length).
    pub examine: Vec<f64>,
    /// Standard deviation of the noise on the ranker's logits.
    pub model_noise: f64,
    /// The policy that serves the logged lists.
    pub logger: PolicySpec,
    /// The policies whose values are estimated.
    pub targets: Vec<PolicySpec>,
    /// One run per seed.
    pub seeds: Vec<u64>,
    /// The reward model's settings (direct method and doubly robust estimators).
    pub reward_model: RewardModelConfig,
}

impl SimConfig {
    /// The default study: a logger at λ = 1, τ = 0.1, ε = 0.2 at the third position, 5 % shuffled
    /// traffic; targets that change λ and τ.
    pub fn standard(rounds: usize, seeds: usize) -> SimConfig {
        let explore = |temperature: f64, epsilon: f64, shuffle_share: f64| Exploration {
            temperature,
            epsilon,
            epsilon_positions: if epsilon > 0.0 { vec![2] } else { vec![] },
            shuffle_share,
        };
        let spec = |name: &str, lambda: f64, exploration: Exploration| PolicySpec {
            name: name.to_owned(),
            lambda,
            exploration,
        };
        SimConfig {
            rounds,
            candidates: 20,
            examine: vec![1.0, 0.6, 0.35],
            model_noise: 0.5,
            logger: spec("logger: λ=1 τ=0.1 ε=0.2 shuffle=5%", 1.0, explore(0.1, 0.2, 0.05)),
            targets: vec![
                spec("λ=1 τ=0.1 ε=0.2 shuffle=5% (the logger)", 1.0, explore(0.1, 0.2, 0.05)),
                spec("λ=1 τ=0.05", 1.0, explore(0.05, 0.0, 0.0)),
                spec("λ=1 τ=0.2", 1.0, explore(0.2, 0.0, 0.0)),
                spec("λ=0 τ=0.1", 0.0, explore(0.1, 0.0, 0.0)),
                spec("λ=0.5 τ=0.1", 0.5, explore(0.1, 0.0, 0.0)),
                spec("λ=2 τ=0.1", 2.0, explore(0.1, 0.0, 0.0)),
            ],
            seeds: (1..=seeds as u64).collect(),
            reward_model: RewardModelConfig::default(),
        }
    }

    fn positions(&self) -> usize {
        self.examine.len()
    }
}

/// Two-tower vectors of the world's users and offers, by id (to give LinUCB its features).
#[derive(Debug, Clone, Default)]
pub struct Embeddings {
    /// Vector width.
    pub dim: usize,
    /// User vectors.
    pub users: HashMap<String, Vec<f32>>,
    /// Offer vectors.
    pub offers: HashMap<String, Vec<f32>>,
}

/// What the simulator knows of a world.
pub struct Environment<'w> {
    world: &'w World,
    rules: DiversificationRules,
    traits: Vec<OfferTraits>,
    profiles: HashMap<usize, UserProfile>,
    users: Vec<usize>,
    embeddings: Option<Embeddings>,
}

/// One round: a user, the candidates, the truth and the ranker's view.
#[derive(Debug, Clone)]
struct Context {
    user: usize,
    offers: Vec<u32>,
    p_click: Vec<f64>,
    p_book: Vec<f64>,
    est_click: Vec<f64>,
    est_book: Vec<f64>,
    delta_div: Vec<f64>,
}

impl<'w> Environment<'w> {
    /// Prepares a world: simulates the year of `users` users (a seeded sample) for their bookings, whose
    /// diversification profiles give each candidate's Δdiv.
    pub fn new(world: &'w World, users: usize, seed: u64, embeddings: Option<Embeddings>) -> Environment<'w> {
        let rules = DiversificationRules::deck();
        let venue_of: HashMap<&str, u32> =
            world.venues.iter().enumerate().map(|(i, v)| (v.id.as_str(), i as u32)).collect();
        let traits: Vec<OfferTraits> = world
            .offers
            .iter()
            .map(|o| {
                let venue =
                    o.venue_id.as_deref().and_then(|id| venue_of.get(id).map(|&i| (&world.venues[i as usize], i)));
                OfferTraits::of(o, venue)
            })
            .collect();
        let offer_of: HashMap<&str, usize> = world.offers.iter().enumerate().map(|(i, o)| (o.id.as_str(), i)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut chosen: Vec<usize> = if users >= world.users.len() {
            (0..world.users.len()).collect()
        } else {
            rand::seq::index::sample(&mut rng, world.users.len(), users).into_vec()
        };
        chosen.sort_unstable();
        let profiles: HashMap<usize, UserProfile> = chosen
            .par_iter()
            .map(|&u| {
                let (interactions, _) = world.simulate_user(u);
                let cancelled: std::collections::HashSet<&str> = interactions
                    .iter()
                    .filter_map(|i| match &i.kind {
                        InteractionKind::Cancellation { booking_id } => Some(booking_id.as_str()),
                        _ => None,
                    })
                    .collect();
                let bookings = interactions.iter().filter(|i| {
                    matches!(i.kind, InteractionKind::Booking { .. }) && !cancelled.contains(i.id.as_str())
                });
                let profile = UserProfile::from_bookings(
                    &rules,
                    bookings
                        .filter_map(|b| offer_of.get(b.offer_id.as_str()).map(|&o| (b.id.clone(), b.at.0, traits[o]))),
                );
                (u, profile)
            })
            .collect();
        Environment { world, rules, traits, profiles, users: chosen, embeddings }
    }

    fn context(&self, config: &SimConfig, rng: &mut ChaCha8Rng) -> Option<Context> {
        let user = self.users[rng.random_range(0..self.users.len())];
        let mut offers: Vec<u32> = Vec::with_capacity(config.candidates);
        for _ in 0..config.candidates * 20 {
            if offers.len() == config.candidates {
                break;
            }
            if let Some(o) = self.world.draw_candidate(rng, user)
                && !offers.contains(&o)
            {
                offers.push(o);
            }
        }
        if offers.len() < config.positions() {
            return None;
        }
        let model = &self.world.config.behaviour;
        let taste = &self.world.truth.users[user];
        let profile = &self.profiles[&user];
        let u = &self.world.users[user];
        let (mut p_click, mut p_book, mut est_click, mut est_book, mut delta_div) =
            (vec![], vec![], vec![], vec![], vec![]);
        for &o in &offers {
            let offer = &self.world.offers[o as usize];
            let utility = model.utility(
                taste,
                offer,
                self.world.truth.offer_quality[o as usize],
                self.world.distance_km(u, offer),
            );
            let click = model.p_consult(utility);
            let book = click * model.p_book(utility);
            let noisy = |p: f64, rng: &mut ChaCha8Rng| {
                let z: f64 = rng.sample(StandardNormal);
                sigmoid(logit(p) + config.model_noise * z)
            };
            p_click.push(click);
            p_book.push(book);
            est_click.push(noisy(click, rng));
            est_book.push(noisy(book, rng));
            delta_div.push(f64::from(profile.delta_div(&self.rules, &self.traits[o as usize])));
        }
        Some(Context { user, offers, p_click, p_book, est_click, est_book, delta_div })
    }

    fn contexts(&self, config: &SimConfig, seed: u64) -> Vec<Context> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(config.rounds);
        while out.len() < config.rounds {
            if let Some(c) = self.context(config, &mut rng) {
                out.push(c);
            }
        }
        out
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

fn scores(context: &Context, lambda: f64) -> Vec<f64> {
    (0..context.offers.len())
        .map(|i| context.est_click[i] + context.est_book[i] * (1.0 + lambda * context.delta_div[i]))
        .collect()
}

fn truth(context: &Context, marginals: &[Vec<f64>], examine: &[f64]) -> f64 {
    marginals
        .iter()
        .zip(examine)
        .map(|(row, e)| e * row.iter().zip(&context.p_click).map(|(m, p)| m * p).sum::<f64>())
        .sum()
}

/// An estimator of the study: a slate estimator, or a single-action estimator applied position by
/// position with the marginal probabilities (its per-position values summed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StudyEstimator {
    /// A slate estimator.
    Slate(SlateEstimator),
    /// A single-action estimator per position.
    PerPosition(Estimator),
}

impl StudyEstimator {
    /// Its name in tables.
    pub fn name(&self) -> String {
        match self {
            StudyEstimator::Slate(s) => s.name().to_owned(),
            StudyEstimator::PerPosition(e) => e.label(),
        }
    }

    /// The estimators of the study.
    pub fn study() -> Vec<StudyEstimator> {
        let mut out: Vec<StudyEstimator> = SlateEstimator::ALL.iter().copied().map(StudyEstimator::Slate).collect();
        out.extend(
            [
                Estimator::Snips,
                Estimator::Dm,
                Estimator::Dr,
                Estimator::Sndr,
                Estimator::SwitchDr { tau: 20.0 },
                Estimator::DrOs { lambda: 20.0 },
            ]
            .map(StudyEstimator::PerPosition),
        );
        out
    }
}

/// One cell of the error table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRow {
    /// The target policy.
    pub target: String,
    /// The estimator.
    pub estimator: String,
    /// The true value (clicks per list), averaged over seeds.
    pub truth: f64,
    /// The estimate, averaged over seeds.
    pub estimate: f64,
    /// Mean relative error (bias), over seeds.
    pub relative_bias: f64,
    /// Root mean squared relative error, over seeds.
    pub relative_rmse: f64,
    /// Share of seeds whose 95 % normal interval (per-list terms) held the truth.
    pub coverage: f64,
    /// Logged lists needed for a 95 % interval of ±1 % of the value: `(1.96 σ / (0.01 V))²`.
    pub lists_for_1pct: f64,
}

/// The study's result.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    /// Settings.
    pub config: SimConfig,
    /// Every (target, estimator) cell.
    pub rows: Vec<ErrorRow>,
    /// Warnings raised by the diagnostics (effective sample size, unsupported mass).
    pub diagnostics: Vec<TargetDiagnostics>,
}

/// A target's weight diagnostics, averaged over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetDiagnostics {
    /// The target.
    pub target: String,
    /// Effective sample size of the position-wise marginal weights, as a share of the rounds.
    pub ess_share: f64,
    /// Largest whole-list weight.
    pub max_list_weight: f64,
    /// Target mass on (item, position) pairs the logger never shows.
    pub unsupported_mass: f64,
}

struct Logged {
    order: Vec<usize>,
    rewards: Vec<f64>,
    prefix: Vec<f64>,
    marginals: Vec<Vec<f64>>,
}

const MARGINAL_BUDGET: usize = 100_000;

/// Runs the study: for each seed, fresh rounds, the logger's lists and clicks, every estimator for every
/// target against the exact truth.
pub fn run_study(env: &Environment<'_>, config: &SimConfig) -> Result<Study> {
    for spec in std::iter::once(&config.logger).chain(&config.targets) {
        spec.exploration.validate()?;
    }
    if config.logger.exploration.is_deterministic() {
        return Err(OpeError::Unsupported(format!(
            "the logger `{}` is deterministic: its lists support no other policy",
            config.logger.name
        )));
    }
    let estimators = StudyEstimator::study();
    let k = config.positions();
    // [target][estimator] → per-seed (estimate, truth, sd of terms)
    let mut cells: Vec<Vec<Vec<(f64, f64, f64)>>> = vec![vec![Vec::new(); estimators.len()]; config.targets.len()];
    let mut diag: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); config.targets.len()];
    for &seed in &config.seeds {
        let contexts = env.contexts(config, seed);
        // The logger's lists and clicks, each round on its own stream.
        let logged: Vec<Logged> = contexts
            .par_iter()
            .enumerate()
            .map(|(i, c)| -> Result<Logged> {
                let s = scores(c, config.logger.lambda);
                let drawn = config.logger.exploration.draw(&s, k, seed_for(seed, i as u64));
                let mut rng = ChaCha8Rng::seed_from_u64(seed_for(seed ^ 0x5eed, i as u64));
                let rewards = drawn
                    .order
                    .iter()
                    .enumerate()
                    .map(|(j, &a)| f64::from(u8::from(rng.random_bool(config.examine[j] * c.p_click[a]))))
                    .collect();
                let marginals = config.logger.exploration.marginals(&s, k, MARGINAL_BUDGET)?;
                Ok(Logged { order: drawn.order, rewards, prefix: drawn.prefix, marginals })
            })
            .collect::<Result<_>>()?;
        // The reward model on (round, position) rows, cross-fitted by user.
        let features = |c: &Context, a: usize, j: usize| -> Vec<f64> {
            let mut x = vec![logit(c.est_click[a]), logit(c.est_book[a]), c.delta_div[a]];
            x.extend((1..k).map(|p| f64::from(u8::from(p == j))));
            x
        };
        let dim = 3 + k - 1;
        let mut xs = Vec::with_capacity(contexts.len() * k * dim);
        let mut ys = Vec::with_capacity(contexts.len() * k);
        let mut clusters = Vec::with_capacity(contexts.len() * k);
        for (c, l) in contexts.iter().zip(&logged) {
            for j in 0..k {
                xs.extend(features(c, l.order[j], j));
                ys.push(l.rewards[j]);
                clusters.push(c.user as u64);
            }
        }
        let model = CrossFitted::fit(&xs, dim, &ys, &clusters, &config.reward_model)?;
        for (t, target) in config.targets.iter().enumerate() {
            let per_round: Vec<(SlateRound, Vec<Round>, f64, f64)> = contexts
                .par_iter()
                .zip(&logged)
                .enumerate()
                .map(|(i, (c, l))| -> Result<(SlateRound, Vec<Round>, f64, f64)> {
                    let s = scores(c, target.lambda);
                    let tm = target.exploration.marginals(&s, k, MARGINAL_BUDGET)?;
                    let value = truth(c, &tm, &config.examine);
                    let slate = SlateRound {
                        rewards: l.rewards.clone(),
                        logging_prefix: l.prefix.clone(),
                        target_prefix: target.exploration.prefix_probabilities(&s, &l.order),
                        logging_marginal: (0..k).map(|j| l.marginals[j][l.order[j]]).collect(),
                        target_marginal: (0..k).map(|j| tm[j][l.order[j]]).collect(),
                    };
                    let rounds = (0..k)
                        .map(|j| {
                            let a = l.order[j];
                            let row = i * k + j;
                            let q = |b: usize| model.predict(row, &features(c, b, j));
                            Round {
                                reward: l.rewards[j],
                                logging: l.marginals[j][a],
                                target: tm[j][a],
                                model_logged: q(a),
                                model_target: (0..c.offers.len()).map(|b| tm[j][b] * q(b)).sum(),
                            }
                        })
                        .collect();
                    // Target mass on (item, position) pairs the logger never shows: no estimator sees it.
                    let unsupported =
                        (0..k).map(|j| crate::unsupported_mass(&tm[j], &l.marginals[j])).sum::<f64>() / k as f64;
                    Ok((slate, rounds, value, unsupported))
                })
                .collect::<Result<_>>()?;
            let n = per_round.len() as f64;
            let value = per_round.iter().map(|r| r.2).sum::<f64>() / n;
            let slates: Vec<SlateRound> = per_round.iter().map(|r| r.0.clone()).collect();
            let positions: Vec<Round> = per_round.iter().flat_map(|r| r.1.iter().copied()).collect();
            for (e, estimator) in estimators.iter().enumerate() {
                // Per-list terms: a slate estimator's directly; a per-position estimator's summed over positions.
                let terms: Vec<f64> = match estimator {
                    StudyEstimator::Slate(s) => s.terms(&slates)?,
                    StudyEstimator::PerPosition(p) => {
                        let terms = p.terms(&positions)?;
                        terms.chunks(k).map(|c| c.iter().sum()).collect()
                    }
                };
                let mean = terms.iter().sum::<f64>() / n;
                let sd = (terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                cells[t][e].push((mean, value, sd));
            }
            let weights: Vec<f64> = positions.iter().map(Round::weight).collect();
            let (sum, squares) = (weights.iter().sum::<f64>(), weights.iter().map(|w| w * w).sum::<f64>());
            let max_list = slates.iter().map(|s| s.target_prefix[k - 1] / s.logging_prefix[k - 1]).fold(0.0, f64::max);
            let unsupported = per_round.iter().map(|r| r.3).sum::<f64>() / n;
            diag[t].push((sum * sum / squares / weights.len() as f64, max_list, unsupported));
        }
    }
    let mut rows = Vec::new();
    for (t, target) in config.targets.iter().enumerate() {
        for (e, estimator) in estimators.iter().enumerate() {
            let runs = &cells[t][e];
            let m = runs.len() as f64;
            let relative: Vec<f64> = runs.iter().map(|(est, truth, _)| (est - truth) / truth).collect();
            let covered = runs
                .iter()
                .filter(|(est, truth, sd)| (est - truth).abs() <= 1.96 * sd / (config.rounds as f64).sqrt())
                .count();
            rows.push(ErrorRow {
                target: target.name.clone(),
                estimator: estimator.name(),
                truth: runs.iter().map(|r| r.1).sum::<f64>() / m,
                estimate: runs.iter().map(|r| r.0).sum::<f64>() / m,
                relative_bias: relative.iter().sum::<f64>() / m,
                relative_rmse: (relative.iter().map(|r| r * r).sum::<f64>() / m).sqrt(),
                coverage: covered as f64 / m,
                lists_for_1pct: runs.iter().map(|(_, truth, sd)| (1.96 * sd / (0.01 * truth)).powi(2)).sum::<f64>() / m,
            });
        }
    }
    let diagnostics = config
        .targets
        .iter()
        .zip(&diag)
        .map(|(target, runs)| {
            let m = runs.len() as f64;
            TargetDiagnostics {
                target: target.name.clone(),
                ess_share: runs.iter().map(|r| r.0).sum::<f64>() / m,
                max_list_weight: runs.iter().map(|r| r.1).fold(0.0, f64::max),
                unsupported_mass: runs.iter().map(|r| r.2).sum::<f64>() / m,
            }
        })
        .collect();
    Ok(Study { config: config.clone(), rows, diagnostics })
}

fn seed_for(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index.wrapping_add(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The online-learning comparison: the ranker alone against the ranker whose exploration slot is
/// filled by ε-uniform draws or by LinUCB over two-tower features, on the same rounds in the same order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BanditRow {
    /// The policy.
    pub policy: String,
    /// Expected clicks per list (exact, from the true click probabilities of the lists served).
    pub clicks_per_list: f64,
    /// Expected clicks per list over the second half of the rounds (after learning).
    pub clicks_per_list_second_half: f64,
    /// Expected clicks at the exploration slot per list.
    pub slot_clicks: f64,
    /// The deck's value of the list, with the true probabilities: `Σ_j examine[j] (p(click) + p(booking)
    /// (1 + λ Δdiv))`, per list.
    pub objective_per_list: f64,
    /// Expected bookings per list.
    pub bookings_per_list: f64,
    /// Mean Δdiv of the offer placed in the slot.
    pub slot_delta_div: f64,
}

/// Runs the online comparison over `rounds` rounds: the slot is position `slot` of lists of
/// `config.examine.len()`; the ranker uses λ = `lambda`. LinUCB reads the two-tower features (the
/// element-wise product of the user's and the offer's vectors) plus the ranker's three signals, and
/// learns from the deck's reward of what it placed: a click (drawn with `examine[slot] × p(click)`), plus,
/// when clicked, a booking (drawn with p(booking | click)) worth `1 + λ Δdiv`.
pub fn run_bandit(
    env: &Environment<'_>,
    config: &SimConfig,
    lambda: f64,
    slot: usize,
    alpha: f64,
    seed: u64,
) -> Result<Vec<BanditRow>> {
    let k = config.positions();
    if slot >= k {
        return Err(OpeError::BadInput { field: "slot", reason: format!("position {slot} of a list of {k}") });
    }
    let contexts = env.contexts(config, seed);
    let dim_embed = env.embeddings.as_ref().map_or(0, |e| e.dim);
    let dim = dim_embed + 4;
    let features = |c: &Context, a: usize| -> Vec<f64> {
        let mut x = Vec::with_capacity(dim);
        if let Some(e) = &env.embeddings {
            let user = e.users.get(&env.world.users[c.user].id);
            let offer = e.offers.get(&env.world.offers[c.offers[a] as usize].id);
            match (user, offer) {
                (Some(u), Some(v)) => x.extend(u.iter().zip(v).map(|(a, b)| f64::from(a * b) * (e.dim as f64).sqrt())),
                _ => x.extend(std::iter::repeat_n(0.0, e.dim)),
            }
        }
        x.extend([c.est_click[a], c.est_book[a], c.delta_div[a] / 10.0, 1.0]);
        x
    };
    let mut rows = Vec::new();
    for policy in ["ranker alone", "ranker + ε-uniform slot (ε=1)", "ranker + LinUCB slot"] {
        let mut learner = LinUcb::new(dim, alpha, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xba4d17);
        let (mut total, mut second, mut slot_clicks, mut slot_div) = (0.0, 0.0, 0.0, 0.0);
        let (mut objective, mut bookings) = (0.0, 0.0);
        for (i, c) in contexts.iter().enumerate() {
            let s = scores(c, lambda);
            let mut order: Vec<usize> = (0..c.offers.len()).collect();
            order.sort_by(|a, b| s[*b].total_cmp(&s[*a]).then(a.cmp(b)));
            let mut list: Vec<usize> = Vec::with_capacity(k);
            let mut taken = order.into_iter();
            for j in 0..k {
                if j != slot || policy == "ranker alone" {
                    if let Some(a) = taken.by_ref().find(|a| !list.contains(a)) {
                        list.push(a);
                    }
                    continue;
                }
                let remaining: Vec<usize> = (0..c.offers.len()).filter(|a| !list.contains(a)).collect();
                let pick = if policy.contains("LinUCB") {
                    let xs: Vec<f64> = remaining.iter().flat_map(|&a| features(c, a)).collect();
                    remaining[learner.choose(&xs).unwrap_or(0)]
                } else {
                    remaining[rng.random_range(0..remaining.len())]
                };
                list.push(pick);
            }
            let expected: f64 = list.iter().enumerate().map(|(j, &a)| config.examine[j] * c.p_click[a]).sum();
            total += expected;
            for (j, &a) in list.iter().enumerate() {
                objective += config.examine[j] * (c.p_click[a] + c.p_book[a] * (1.0 + lambda * c.delta_div[a]));
                bookings += config.examine[j] * c.p_book[a];
            }
            if i >= contexts.len() / 2 {
                second += expected;
            }
            if let Some(&a) = list.get(slot) {
                slot_clicks += config.examine[slot] * c.p_click[a];
                slot_div += c.delta_div[a];
                if policy.contains("LinUCB") {
                    let click = rng.random_bool(config.examine[slot] * c.p_click[a]);
                    let booked = click && rng.random_bool((c.p_book[a] / c.p_click[a]).clamp(0.0, 1.0));
                    let reward = f64::from(u8::from(click)) + if booked { 1.0 + lambda * c.delta_div[a] } else { 0.0 };
                    learner.update(&features(c, a), reward);
                }
            }
        }
        let n = contexts.len() as f64;
        rows.push(BanditRow {
            policy: policy.to_owned(),
            clicks_per_list: total / n,
            clicks_per_list_second_half: second / (n - (contexts.len() / 2) as f64),
            slot_clicks: slot_clicks / n,
            objective_per_list: objective / n,
            bookings_per_list: bookings / n,
            slot_delta_div: slot_div / n,
        });
    }
    Ok(rows)
}
