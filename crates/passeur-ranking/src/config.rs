//! Settings of candidate generation, ranking and training, with the checks
//! that name the offending field.

use crate::error::{RankingError, Result};
use crate::gbdt::{GbdtConfig, GbdtObjective};
use crate::model::ModelKind;
use serde::{Deserialize, Serialize};

/// Where candidates come from, and what makes a user cold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// Candidates from two-tower retrieval (nearest item vectors under the user's filters).
    pub retrieval_k: usize,
    /// Most booked offers over `tops_days`.
    pub tops_k: usize,
    /// Window of the tops, in days.
    pub tops_days: i64,
    /// Most booked offers over `trends_days`.
    pub trends_k: usize,
    /// Window of the trends, in days.
    pub trends_days: i64,
    /// Newest offers.
    pub new_k: usize,
    /// An offer is new for this many days after its creation.
    pub new_days: i64,
    /// Most booked offers of the user's department (over `tops_days`).
    pub department_k: usize,
    /// Users with fewer bookings than this ...
    pub cold_bookings: u32,
    /// ... and fewer consultations than this are cold: they get popularity-based sources only.
    pub cold_consultations: u32,
    /// Radius of the user's filter, in kilometres (digital offers always pass).
    pub radius_km: f64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            retrieval_k: 300,
            tops_k: 100,
            tops_days: 28,
            trends_k: 100,
            trends_days: 7,
            new_k: 50,
            new_days: 14,
            department_k: 100,
            cold_bookings: 2,
            cold_consultations: 25,
            radius_km: 30.0,
        }
    }
}

/// How the final list mixes categories.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mixing {
    /// Keep the objective's order (the share cap still applies).
    None,
    /// Round-robin across categories, each in its own objective order.
    RoundRobin,
    /// Maximal marginal relevance over item vectors: objective minus `diversity` × the largest
    /// similarity to what is already in the list.
    Mmr {
        /// Weight of the similarity penalty, 0..1.
        diversity: f64,
    },
    /// Greedy MAP inference of a k-DPP (Chen, Zhang & Zhou, NeurIPS 2018, "Fast greedy MAP inference for
    /// determinantal point processes"), the mixing pass Culture and Inria prototyped (arXiv:2509.10392):
    /// kernel L = diag(r) · S · diag(r), S the cosine similarity of item vectors and
    /// r = exp(α · score / top score) with α = θ / (2 (1 − θ)), θ trading relevance against diversity.
    Dpp {
        /// θ in [0, 1): 0 ignores relevance (pure diversity), towards 1 the objective's order.
        theta: f64,
    },
}

/// A booking floor on the objective: each list takes the largest λ of `lambdas` (at most `max_lambda`)
/// whose list keeps at least `share` of the expected bookings of the λ = 0 list, the expectation weighing
/// p(booking) at position k by `decay`^k over the first `positions` positions (a geometric position bias).
/// Diversification is bought where a list can afford it, and not where it cannot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BookingFloor {
    /// Share of the λ = 0 list's expected bookings each list keeps, in (0, 1].
    pub share: f64,
    /// Position weight ratio, in (0, 1].
    pub decay: f64,
    /// Positions the expectation covers.
    pub positions: usize,
    /// The largest λ tried.
    pub max_lambda: f64,
}

impl Default for BookingFloor {
    fn default() -> Self {
        BookingFloor { share: 0.95, decay: 0.85, positions: 12, max_lambda: 8.0 }
    }
}

impl BookingFloor {
    /// The λ tried, ascending.
    pub fn lambdas(&self) -> Vec<f64> {
        // Steps of 0.25 up to 4, then coarser: the floor lands close to its share.
        (1..=16)
            .map(|i| f64::from(i) * 0.25)
            .chain([5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 16.0])
            .filter(|&l| l <= self.max_lambda)
            .collect()
    }
}

/// What orders the candidates before mixing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The deck's objective p(click) + p(booking) × (1 + λ·Δdiv).
    #[default]
    Objective,
    /// The two-tower score alone (retrieval's order).
    Retrieval,
    /// Bookings over the tops window (most booked first).
    Tops,
    /// A uniform random order, drawn from the list's seed.
    Random,
}

/// The ranking objective and the shape of the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankConfig {
    /// λ in p(click) + p(booking) × (1 + λ·Δdiv); 1 is the deck's.
    pub lambda: f64,
    /// Offers kept after scoring (the deck's ~150).
    pub keep: usize,
    /// Length of the final list.
    pub list_len: usize,
    /// Category mixing of the final list.
    pub mixing: Mixing,
    /// Largest share of the final list one category may take (when other categories have candidates).
    pub max_category_share: f64,
    /// Candidate sources.
    pub sources: SourceConfig,
    /// What orders the candidates (the objective by default).
    pub order: Order,
    /// A "discover" slot: this position (0 = top) of a recommendation list goes to the best gateway
    /// offer into a category the user has not tried (none: no slot).
    pub discover_slot: Option<usize>,
    /// A booking floor: λ chosen per list (the objective order only; `lambda` is then unused).
    pub booking_floor: Option<BookingFloor>,
}

impl Default for RankConfig {
    fn default() -> Self {
        RankConfig {
            lambda: 1.0,
            keep: 150,
            list_len: 60,
            mixing: Mixing::RoundRobin,
            max_category_share: 0.4,
            sources: SourceConfig::default(),
            order: Order::Objective,
            discover_slot: None,
            booking_floor: None,
        }
    }
}

impl RankConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(RankingError::Config { field, reason });
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad("lambda", format!("{} is not a finite number ≥ 0", self.lambda));
        }
        if self.keep == 0 {
            return bad("keep", "must be at least 1".into());
        }
        if self.list_len == 0 || self.list_len > self.keep {
            return bad("list_len", format!("{} must be between 1 and keep ({})", self.list_len, self.keep));
        }
        if !(self.max_category_share > 0.0 && self.max_category_share <= 1.0) {
            return bad("max_category_share", format!("{} is not in (0, 1]", self.max_category_share));
        }
        if let Mixing::Mmr { diversity } = self.mixing
            && !(0.0..=1.0).contains(&diversity)
        {
            return bad("mixing.diversity", format!("{diversity} is not in [0, 1]"));
        }
        if let Mixing::Dpp { theta } = self.mixing
            && !(0.0..1.0).contains(&theta)
        {
            return bad("mixing.theta", format!("{theta} is not in [0, 1)"));
        }
        if let Some(f) = &self.booking_floor {
            if !(f.share > 0.0 && f.share <= 1.0) {
                return bad("booking_floor.share", format!("{} is not in (0, 1]", f.share));
            }
            if !(f.decay > 0.0 && f.decay <= 1.0) {
                return bad("booking_floor.decay", format!("{} is not in (0, 1]", f.decay));
            }
            if f.positions == 0 {
                return bad("booking_floor.positions", "must be at least 1".into());
            }
            if !(f.max_lambda.is_finite() && f.max_lambda >= 0.25) {
                return bad("booking_floor.max_lambda", format!("{} is not a number ≥ 0.25", f.max_lambda));
            }
        }
        if let Some(slot) = self.discover_slot
            && slot >= self.list_len
        {
            return bad("discover_slot", format!("{slot} is not a position of a list of {}", self.list_len));
        }
        let s = &self.sources;
        if !(s.radius_km.is_finite() && s.radius_km > 0.0) {
            return bad("sources.radius_km", format!("{} is not a positive distance", s.radius_km));
        }
        for (field, days) in [
            ("sources.tops_days", s.tops_days),
            ("sources.trends_days", s.trends_days),
            ("sources.new_days", s.new_days),
        ] {
            if days <= 0 {
                return bad(field, format!("{days} is not a positive number of days"));
            }
        }
        Ok(())
    }
}

/// How `passeur train ranking` learns from impression logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed of the example sample and the retrieval reference sample.
    pub seed: u64,
    /// L2 penalty (linfa's alpha, on the sum of log-losses).
    pub l2: f64,
    /// L-BFGS iterations, at most.
    pub max_iterations: u64,
    /// The last days of the logs are held out for evaluation.
    pub valid_days: i64,
    /// Training impressions used, at most (a seeded sample).
    pub max_examples: usize,
    /// A consultation this soon after an impression of the same offer is its click.
    pub click_window_s: i64,
    /// A booking this soon after an impression of the same offer is its booking.
    pub booking_window_s: i64,
    /// Item vectors in the reference sample that estimates retrieval ranks.
    pub reference_sample: usize,
    /// The last days before the held-out period recalibrate the heads (Platt scaling of their log-odds):
    /// behaviour drifts over a year, and the most recent logs say how much (0: no recalibration).
    pub calibration_days: i64,
    /// Linear heads or gradient-boosted trees.
    pub model: ModelKind,
    /// What the trees learn (gbdt only): two binary heads, the 2024 three-class model, or the 2023
    /// regression.
    pub objective: GbdtObjective,
    /// LightGBM's settings.
    pub gbdt: GbdtConfig,
    /// Unshown candidates added per served list, labelled by what followed like the impressions
    /// (0: impressions only). The served lists were drawn by the app's showing policy, while the
    /// ranker orders retrieval's candidates: these negatives, the best-scored of `negative_pool`
    /// random bookable offers near the user, teach the heads what is not shown, and so not booked.
    pub negatives: usize,
    /// Offers drawn per list to choose the negatives from.
    pub negative_pool: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            l2: 1.0,
            max_iterations: 200,
            valid_days: 28,
            max_examples: 1_000_000,
            click_window_s: 3_600,
            booking_window_s: 86_400,
            reference_sample: 2_048,
            calibration_days: 14,
            model: ModelKind::Gbdt,
            objective: GbdtObjective::Binary,
            gbdt: GbdtConfig::default(),
            negatives: 8,
            negative_pool: 512,
        }
    }
}

impl TrainConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(RankingError::Config { field, reason });
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("l2", format!("{} is not a finite number ≥ 0", self.l2));
        }
        if self.max_iterations == 0 {
            return bad("max_iterations", "must be at least 1".into());
        }
        if self.valid_days <= 0 {
            return bad("valid_days", format!("{} is not a positive number of days", self.valid_days));
        }
        if self.max_examples < 100 {
            return bad("max_examples", format!("{} is too few to learn from (at least 100)", self.max_examples));
        }
        if self.click_window_s <= 0 || self.booking_window_s <= 0 {
            let field = if self.click_window_s <= 0 { "click_window_s" } else { "booking_window_s" };
            return bad(field, "must be a positive number of seconds".into());
        }
        if self.calibration_days < 0 {
            return bad("calibration_days", format!("{} is negative", self.calibration_days));
        }
        if self.reference_sample == 0 {
            return bad("reference_sample", "must be at least 1".into());
        }
        if self.negatives > 0 && self.negative_pool < self.negatives {
            return bad(
                "negative_pool",
                format!("{} is fewer than negatives ({})", self.negative_pool, self.negatives),
            );
        }
        if self.model == ModelKind::Linear && self.objective != GbdtObjective::Binary {
            return bad(
                "objective",
                "linear heads are binary: the three-class and regression objectives need gbdt".into(),
            );
        }
        if self.model == ModelKind::Gbdt {
            self.gbdt.validate()?;
        }
        Ok(())
    }
}
