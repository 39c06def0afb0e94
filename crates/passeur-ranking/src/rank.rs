//! Serving-time ranking: candidates merged from several sources with their
//! provenance, scored by p(click) + p(booking) × (1 + λ·Δdiv), cut to the
//! best `keep`, mixed across categories into the final list, each offer
//! carrying the explanation of its place.

use crate::config::{Mixing, RankConfig};
use crate::error::Result;
use crate::features::{FeatureSpace, OfferTable, Popularity, Request, RetrievalView, Snapshot, UserSnapshot, dot};
use crate::model::RankingModel;
use passeur_diversity::DiversificationRules;
use passeur_index::{Filters, VectorIndex};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::borrow::Cow;
use std::cmp::Ordering;

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Two-tower retrieval: the item vectors nearest the user's.
    Retrieval,
    /// Most booked over the tops window.
    Tops,
    /// Most booked over the trends window.
    Trends,
    /// Newest offers.
    New,
    /// Most booked in the user's department.
    Department,
}

impl Source {
    /// The source's name in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Source::Retrieval => "retrieval",
            Source::Tops => "tops",
            Source::Trends => "trends",
            Source::New => "new",
            Source::Department => "department",
        }
    }
}

/// One source's vote for a candidate: its rank there (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The source.
    pub source: Source,
    /// Rank in that source's list.
    pub rank: u32,
}

/// A candidate offer with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Offer index in the table.
    pub offer: u32,
    /// Every source that proposed it (or another venue's offer of its item).
    pub origins: Vec<Origin>,
}

/// One ranked offer and why it is there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// Offer id.
    pub offer_id: String,
    /// Offer index in the table.
    #[serde(skip)]
    pub offer: u32,
    /// Category code.
    pub category: String,
    /// The objective: p(click) + p(booking) × (1 + λ·Δdiv).
    pub score: f64,
    /// p(click | shown).
    pub p_click: f64,
    /// p(booking | shown).
    pub p_booking: f64,
    /// Diversification points booking it would earn now.
    pub delta_div: u32,
    /// The criteria that would score.
    pub delta_div_criteria: Vec<&'static str>,
    /// Kilometres from home to the venue (none for digital offers or unknown homes).
    pub distance_km: Option<f64>,
    /// The two-tower score.
    pub retrieval_score: f32,
    /// Estimated rank of that score in the whole catalogue.
    pub retrieval_rank: u32,
    /// The sources that proposed it, with their ranks.
    pub origins: Vec<Origin>,
    /// The λ its score used (the booking floor's choice for this list when one is set; 0 for orders
    /// other than the objective).
    pub lambda: f64,
}

/// One request to rank for.
#[derive(Debug, Clone)]
pub struct UserRequest<'a> {
    /// The user's state now.
    pub user: &'a UserSnapshot,
    /// The user tower's vector now (none: popularity sources only).
    pub vector: Option<&'a [f32]>,
    /// The user's filters (credit, bookable now, radius, age, already booked).
    pub filters: &'a Filters,
    /// The request's instant.
    pub now: i64,
}

/// How to order the scored candidates before the list is cut and mixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// By two-tower score alone.
    RetrievalOnly,
    /// By p(click) + p(booking) × (1 + λ·Δdiv); λ = 0 ignores diversification.
    Objective {
        /// λ.
        lambda: f64,
    },
    /// Most booked over the tops window first (ties by two-tower score).
    Tops,
    /// A uniform random order drawn from `seed` (the same seed, the same order).
    Random {
        /// The list's seed.
        seed: u64,
    },
}

impl Policy {
    /// The policy of a configured order: λ for the objective, `seed` for a random order.
    pub fn of(order: crate::config::Order, lambda: f64, seed: u64) -> Policy {
        match order {
            crate::config::Order::Objective => Policy::Objective { lambda },
            crate::config::Order::Retrieval => Policy::RetrievalOnly,
            crate::config::Order::Tops => Policy::Tops,
            crate::config::Order::Random => Policy::Random { seed },
        }
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The ranking stage, ready to serve: models, offers, popularity, settings.
pub struct Ranker<'a> {
    model: &'a RankingModel,
    table: &'a OfferTable,
    popularity: &'a Popularity,
    rules: &'a DiversificationRules,
    config: RankConfig,
    item_vectors: &'a [f32],
    dim: usize,
    parts: Cow<'a, RankerParts>,
}

/// What a ranker precomputes over an offer table: the feature layout, the
/// reference sample of item vectors (estimated retrieval ranks), offers by
/// creation (the "new" source). A live service keeps one beside its table and
/// builds a [`Ranker`] per request with [`Ranker::with_parts`].
#[derive(Debug, Clone)]
pub struct RankerParts {
    space: FeatureSpace,
    reference: Vec<f32>,
    by_creation: Vec<u32>,
}

impl RankerParts {
    /// The parts of `table` (item vectors row-major in table order, `dim` each); the reference sample is
    /// drawn with the model's training seed.
    pub fn new(model: &RankingModel, table: &OfferTable, item_vectors: &[f32], dim: usize) -> RankerParts {
        let n = table.len();
        let mut rng = ChaCha8Rng::seed_from_u64(model.provenance.config.seed);
        let mut picked = sample(&mut rng, n, model.provenance.config.reference_sample.min(n)).into_vec();
        picked.sort_unstable();
        let reference = picked.iter().flat_map(|&o| item_vectors[o * dim..(o + 1) * dim].iter().copied()).collect();
        let mut by_creation: Vec<u32> = (0..n as u32).collect();
        by_creation.sort_by(|&a, &b| newer_first(table, a, b));
        RankerParts { space: FeatureSpace::new(), reference, by_creation }
    }

    /// Takes in offer `o` of `table`, just added or changed (its creation instant may have moved).
    pub fn note_offer(&mut self, table: &OfferTable, o: u32) {
        self.by_creation.retain(|&x| x != o);
        let at = self.by_creation.partition_point(|&x| newer_first(table, x, o) == Ordering::Less);
        self.by_creation.insert(at, o);
    }
}

fn newer_first(table: &OfferTable, a: u32, b: u32) -> Ordering {
    table.facts[b as usize].created_at.cmp(&table.facts[a as usize].created_at).then(a.cmp(&b))
}

/// A candidate's values before it is explained.
struct Values {
    index: usize,
    offer: u32,
    value: f64,
    p_click: f64,
    p_booking: f64,
    score: f32,
    rank: f32,
    points: passeur_diversity::Points,
}

/// Scratch space reused across requests.
#[derive(Debug, Default)]
pub struct Scratch {
    rows: Vec<f32>,
    click: Vec<f64>,
    booking: Vec<f64>,
}

impl<'a> Ranker<'a> {
    /// A ranker over `table` (item vectors row-major in table order, `dim` each).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &'a RankingModel,
        table: &'a OfferTable,
        popularity: &'a Popularity,
        rules: &'a DiversificationRules,
        config: RankConfig,
        item_vectors: &'a [f32],
        dim: usize,
    ) -> Result<Ranker<'a>> {
        config.validate()?;
        let parts = Cow::Owned(RankerParts::new(model, table, item_vectors, dim));
        Ok(Ranker { model, table, popularity, rules, config, item_vectors, dim, parts })
    }

    /// A ranker over `table` with its precomputed `parts` (cheap: nothing is copied).
    #[allow(clippy::too_many_arguments)]
    pub fn with_parts(
        model: &'a RankingModel,
        table: &'a OfferTable,
        popularity: &'a Popularity,
        rules: &'a DiversificationRules,
        config: RankConfig,
        item_vectors: &'a [f32],
        dim: usize,
        parts: &'a RankerParts,
    ) -> Ranker<'a> {
        Ranker { model, table, popularity, rules, config, item_vectors, dim, parts: Cow::Borrowed(parts) }
    }

    /// The settings.
    pub fn config(&self) -> &RankConfig {
        &self.config
    }

    /// The feature layout.
    pub fn space(&self) -> &FeatureSpace {
        &self.parts.space
    }

    fn vector(&self, o: u32) -> &[f32] {
        &self.item_vectors[o as usize * self.dim..(o as usize + 1) * self.dim]
    }

    /// Candidates from every source under the user's filters, one offer per item (the nearest venue's),
    /// provenance merged. Cold users (or users without a vector) get the popularity sources only.
    pub fn candidates(
        &self,
        index: &dyn VectorIndex,
        request: &UserRequest<'_>,
        snapshot: &Snapshot,
    ) -> Result<Vec<Candidate>> {
        let s = &self.config.sources;
        let cold = request.user.is_cold(s) || request.vector.is_none();
        let mut merged: FxHashMap<u32, Vec<Origin>> = FxHashMap::default();
        let mut add = |offer: u32, source: Source, rank: usize| {
            merged.entry(offer).or_default().push(Origin { source, rank: rank as u32 });
        };
        if let (false, Some(v)) = (cold, request.vector) {
            for (rank, hit) in index.search(v, request.filters, s.retrieval_k)?.into_iter().enumerate() {
                if let Some(o) = self.table.position(&hit.offer_id) {
                    add(o, Source::Retrieval, rank);
                }
            }
        }
        let boost = if cold { 2 } else { 1 };
        let passing = |list: &mut dyn Iterator<Item = u32>, k: usize| -> Vec<u32> {
            list.filter(|&o| request.filters.matches(&self.table.columns[o as usize])).take(k).collect()
        };
        for (rank, o) in passing(&mut snapshot.tops.iter().copied(), s.tops_k * boost).into_iter().enumerate() {
            add(o, Source::Tops, rank);
        }
        for (rank, o) in passing(&mut snapshot.trends.iter().copied(), s.trends_k * boost).into_iter().enumerate() {
            add(o, Source::Trends, rank);
        }
        let since = request.now - s.new_days * passeur_domain::Timestamp::DAY;
        let mut recent = self.parts.by_creation.iter().copied().filter(|&o| {
            let c = self.table.facts[o as usize].created_at;
            c <= request.now
        });
        let recent: Vec<u32> = passing(
            &mut recent.by_ref().take_while(|&o| self.table.facts[o as usize].created_at >= since),
            s.new_k * boost,
        );
        for (rank, o) in recent.into_iter().enumerate() {
            add(o, Source::New, rank);
        }
        if let Some(list) = self.table_department_tops(snapshot, request.user.department) {
            for (rank, o) in passing(&mut list.iter().copied(), s.department_k * boost).into_iter().enumerate() {
                add(o, Source::Department, rank);
            }
        }
        // One offer per item: the nearest venue's (digital offers count as at home).
        let mut by_item: FxHashMap<u32, (u32, f64, Vec<Origin>)> = FxHashMap::default();
        let mut offers: Vec<(u32, Vec<Origin>)> = merged.into_iter().collect();
        offers.sort_unstable_by_key(|(o, _)| *o);
        for (o, origins) in offers {
            let f = &self.table.facts[o as usize];
            let d = distance(f.location, request.user.home).unwrap_or(0.0);
            match by_item.get_mut(&f.item) {
                Some(entry) => {
                    entry.2.extend(origins);
                    if d < entry.1 {
                        entry.0 = o;
                        entry.1 = d;
                    }
                }
                None => {
                    by_item.insert(f.item, (o, d, origins));
                }
            }
        }
        let mut out: Vec<Candidate> = by_item
            .into_values()
            .map(|(offer, _, mut origins)| {
                origins.sort_by_key(|x| (x.source, x.rank));
                origins.dedup_by_key(|x| x.source);
                Candidate { offer, origins }
            })
            .collect();
        out.sort_unstable_by_key(|c| c.offer);
        Ok(out)
    }

    fn table_department_tops<'s>(&self, snapshot: &'s Snapshot, department: u32) -> Option<&'s [u32]> {
        (department != 0).then(|| snapshot.department_tops.get(department as usize).map(Vec::as_slice)).flatten()
    }

    /// Scores every candidate (features, both probabilities, Δdiv) under `policy`, keeps the best
    /// `keep`, and mixes them into the final list.
    pub fn rank(
        &self,
        request: &UserRequest<'_>,
        candidates: &[Candidate],
        snapshot: &Snapshot,
        policy: Policy,
        scratch: &mut Scratch,
    ) -> Vec<Ranked> {
        let mut values = self.values(request, candidates, snapshot, policy, scratch);
        let mut lambda = match policy {
            Policy::Objective { lambda } => lambda,
            _ => 0.0,
        };
        if let (Some(floor), Policy::Objective { .. }) = (&self.config.booking_floor, policy) {
            let scored: Vec<(f64, f64, u32)> =
                values.iter().map(|v| (v.p_click, v.p_booking, v.points.points)).collect();
            lambda = floor_lambda(floor, &scored);
            for v in &mut values {
                v.value = objective(v.p_click, v.p_booking, v.points.points, lambda);
            }
        }
        // The best `keep` first (ties by offer id), explained: only they become `Ranked`.
        let ids = &self.table.ids;
        let order = |a: &Values, b: &Values| {
            b.value.total_cmp(&a.value).then_with(|| ids[a.offer as usize].cmp(&ids[b.offer as usize]))
        };
        let keep = self.config.keep.min(values.len());
        if keep > 0 && keep < values.len() {
            values.select_nth_unstable_by(keep - 1, order);
            values.truncate(keep);
        }
        values.sort_by(order);
        let scored = values.into_iter().map(|v| self.explain(request, &candidates[v.index], v, lambda)).collect();
        self.mix(scored)
    }

    /// Every candidate scored, in candidate order.
    pub fn score(
        &self,
        request: &UserRequest<'_>,
        candidates: &[Candidate],
        snapshot: &Snapshot,
        policy: Policy,
        scratch: &mut Scratch,
    ) -> Vec<Ranked> {
        let values = self.values(request, candidates, snapshot, policy, scratch);
        let lambda = match policy {
            Policy::Objective { lambda } => lambda,
            _ => 0.0,
        };
        values.into_iter().map(|v| self.explain(request, &candidates[v.index], v, lambda)).collect()
    }

    /// Features, both heads, Δdiv and the policy's value of every candidate, in candidate order.
    fn values(
        &self,
        request: &UserRequest<'_>,
        candidates: &[Candidate],
        snapshot: &Snapshot,
        policy: Policy,
        scratch: &mut Scratch,
    ) -> Vec<Values> {
        let dim = self.parts.space.dim();
        scratch.rows.resize(candidates.len() * dim, 0.0);
        let view = request.vector.map(|v| RetrievalView::new(v, &self.parts.reference, self.dim, self.table.len()));
        let context = Request::at(request.now);
        // Features of blocks of candidates in parallel (a request's latency is what the blocks save).
        let mut values: Vec<Values> = candidates
            .par_iter()
            .with_min_len(64)
            .zip(scratch.rows.par_chunks_exact_mut(dim))
            .enumerate()
            .map(|(index, (c, row))| {
                let (score, rank) = match (request.vector, &view) {
                    (Some(v), Some(view)) => {
                        let s = dot(v, self.vector(c.offer));
                        (s, view.rank(s))
                    }
                    _ => (0.0, self.table.len() as f32),
                };
                let points = self.parts.space.compute(
                    self.table,
                    self.popularity,
                    snapshot,
                    request.user,
                    self.rules,
                    &self.config.sources,
                    &context,
                    c.offer,
                    (score, rank),
                    row,
                );
                Values { index, offer: c.offer, value: 0.0, p_click: 0.0, p_booking: 0.0, score, rank, points }
            })
            .collect();
        // Both heads over the whole batch (trees are walked tree-major).
        self.model.click.values(&scratch.rows, dim, &mut scratch.click);
        self.model.booking.values(&scratch.rows, dim, &mut scratch.booking);
        for (i, v) in values.iter_mut().enumerate() {
            v.p_click = scratch.click[i];
            v.p_booking = scratch.booking[i];
            v.value = match policy {
                Policy::RetrievalOnly => f64::from(v.score),
                Policy::Objective { lambda } => objective(v.p_click, v.p_booking, v.points.points, lambda),
                Policy::Tops => {
                    let days = self.config.sources.tops_days;
                    f64::from(self.popularity.count(v.offer, request.now, days)) + 1e-3 * f64::from(v.score).tanh()
                }
                Policy::Random { seed } => (mix64(seed ^ mix64(u64::from(v.offer))) >> 11) as f64 / (1u64 << 53) as f64,
            };
        }
        values
    }

    fn explain(&self, request: &UserRequest<'_>, c: &Candidate, v: Values, lambda: f64) -> Ranked {
        let f = &self.table.facts[c.offer as usize];
        Ranked {
            offer_id: self.table.ids[c.offer as usize].clone(),
            offer: c.offer,
            category: self.table.columns[c.offer as usize].category.clone(),
            score: v.value,
            p_click: v.p_click,
            p_booking: v.p_booking,
            delta_div: v.points.points,
            delta_div_criteria: v.points.criteria.iter().map(|c| c.name()).collect(),
            distance_km: distance(f.location, request.user.home),
            retrieval_score: v.score,
            retrieval_rank: v.rank as u32,
            origins: c.origins.clone(),
            lambda,
        }
    }

    /// Cuts the scored list (best first) to `list_len` with the configured mixing and category cap.
    pub fn mix(&self, scored: Vec<Ranked>) -> Vec<Ranked> {
        mix(scored, &self.config, |a, b| dot(self.vector(a), self.vector(b)))
    }
}

/// The booking floor's λ for one list of candidates, each (p(click), p(booking), Δdiv) (see
/// [`crate::BookingFloor`]): the largest λ tried whose top `positions` keep `share` of the λ = 0 top's
/// expected bookings.
pub fn floor_lambda(floor: &crate::BookingFloor, values: &[(f64, f64, u32)]) -> f64 {
    let k = floor.positions.min(values.len());
    if k == 0 {
        return 0.0;
    }
    let mut order: Vec<(f64, f64)> = Vec::with_capacity(values.len());
    let mut expected = |lambda: f64| {
        order.clear();
        order.extend(values.iter().map(|&(c, b, d)| (objective(c, b, d, lambda), b)));
        let by_value = |a: &(f64, f64), b: &(f64, f64)| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1));
        if k < order.len() {
            order.select_nth_unstable_by(k - 1, by_value);
        }
        order[..k].sort_by(by_value);
        let mut weight = 1.0;
        let mut total = 0.0;
        for &(_, p) in &order[..k] {
            total += weight * p;
            weight *= floor.decay;
        }
        total
    };
    let floor_value = floor.share * expected(0.0);
    let mut chosen = 0.0;
    for lambda in floor.lambdas() {
        if expected(lambda) >= floor_value {
            chosen = lambda;
        }
    }
    chosen
}

/// The deck's objective: p(click) + p(booking) × (1 + λ·Δdiv).
pub fn objective(p_click: f64, p_booking: f64, delta_div: u32, lambda: f64) -> f64 {
    p_click + p_booking * (1.0 + lambda * f64::from(delta_div))
}

fn distance(location: Option<passeur_domain::GeoPoint>, home: Option<passeur_domain::GeoPoint>) -> Option<f64> {
    Some(home?.distance_km(location?))
}

/// Cuts `scored` (best first) to `config.list_len`: no category takes more than
/// ⌈max_category_share × list_len⌉ places while others have candidates left,
/// in the order the mixing gives. `similarity` compares two offers (MMR).
pub fn mix(scored: Vec<Ranked>, config: &RankConfig, similarity: impl Fn(u32, u32) -> f32) -> Vec<Ranked> {
    let len = config.list_len.min(scored.len());
    let cap = ((config.max_category_share * config.list_len as f64).ceil() as usize).max(1);
    let order: Vec<usize> = match config.mixing {
        Mixing::None => (0..scored.len()).collect(),
        Mixing::RoundRobin => {
            let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
            for (i, r) in scored.iter().enumerate() {
                match groups.iter_mut().find(|(c, _)| *c == r.category) {
                    Some((_, g)) => g.push(i),
                    None => groups.push((r.category.as_str(), vec![i])),
                }
            }
            let mut order = Vec::with_capacity(scored.len());
            for round in 0.. {
                let before = order.len();
                order.extend(groups.iter().filter_map(|(_, g)| g.get(round).copied()));
                if order.len() == before {
                    break;
                }
            }
            order
        }
        Mixing::Mmr { diversity } => {
            let top = scored.first().map_or(1.0, |r| r.score.abs().max(1e-12));
            let mut left: Vec<usize> = (0..scored.len()).collect();
            let mut order: Vec<usize> = Vec::with_capacity(scored.len());
            let mut max_sim = vec![f32::NEG_INFINITY; scored.len()];
            while !left.is_empty() {
                let value = |i: usize| {
                    let sim = if order.is_empty() { 0.0 } else { f64::from(max_sim[i]) };
                    (1.0 - diversity) * scored[i].score / top - diversity * sim
                };
                let (pos, _) = left
                    .iter()
                    .enumerate()
                    .max_by(|a, b| value(*a.1).total_cmp(&value(*b.1)).then(b.1.cmp(a.1)))
                    .expect("not empty");
                let chosen = left.swap_remove(pos);
                order.push(chosen);
                if order.len() >= len {
                    // The cap pass below may need more: append the rest in score order.
                    left.sort_unstable();
                    order.append(&mut left);
                    break;
                }
                for &i in &left {
                    let s = similarity(scored[chosen].offer, scored[i].offer);
                    if s > max_sim[i] {
                        max_sim[i] = s;
                    }
                }
            }
            order
        }
        Mixing::Dpp { theta } => dpp_order(&scored, len, theta, &similarity),
    };
    // The cap: skip offers of full categories; fill from them only when nothing else is left.
    let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
    let mut taken = vec![false; scored.len()];
    let mut list: Vec<usize> = Vec::with_capacity(len);
    for &i in &order {
        if list.len() == len {
            break;
        }
        let c = counts.entry(scored[i].category.as_str()).or_default();
        if *c < cap {
            *c += 1;
            taken[i] = true;
            list.push(i);
        }
    }
    for &i in &order {
        if list.len() == len {
            break;
        }
        if !taken[i] {
            taken[i] = true;
            list.push(i);
        }
    }
    let mut slots: Vec<Option<Ranked>> = scored.into_iter().map(Some).collect();
    list.into_iter().map(|i| slots[i].take().expect("each taken once")).collect()
}

/// Greedy MAP inference of a k-DPP over `scored` (best first): Chen, Zhang & Zhou (2018), Algorithm 1,
/// with incremental Cholesky rows, O(n·k²). The kernel is L = diag(r) S diag(r), S the cosine
/// similarity of the offers' vectors, r = exp(α · score / top score), α = θ / (2 (1 − θ)). Picks `len`
/// offers (fewer when the kernel's remaining gains vanish), then the rest in score order.
fn dpp_order(scored: &[Ranked], len: usize, theta: f64, similarity: &impl Fn(u32, u32) -> f32) -> Vec<usize> {
    let n = scored.len();
    let top = scored.iter().map(|r| r.score.abs()).fold(1e-12, f64::max);
    let alpha = theta / (2.0 * (1.0 - theta));
    let relevance: Vec<f64> = scored.iter().map(|r| (alpha * r.score / top).exp()).collect();
    let norms: Vec<f64> = scored.iter().map(|r| f64::from(similarity(r.offer, r.offer)).max(1e-12).sqrt()).collect();
    let kernel = |i: usize, j: usize| {
        let s = f64::from(similarity(scored[i].offer, scored[j].offer)) / (norms[i] * norms[j]);
        relevance[i] * s * relevance[j]
    };
    // d²_i: the marginal gain of adding i (the squared diagonal of the conditional Cholesky factor).
    let mut gain: Vec<f64> = (0..n).map(|i| relevance[i] * relevance[i]).collect();
    let mut rows: Vec<Vec<f64>> = vec![Vec::with_capacity(len); n];
    let mut chosen = vec![false; n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let best = |gain: &[f64], chosen: &[bool]| {
        (0..n).filter(|&i| !chosen[i]).max_by(|&a, &b| gain[a].total_cmp(&gain[b]).then(b.cmp(&a)))
    };
    let mut next = best(&gain, &chosen);
    while let Some(j) = next {
        if order.len() >= len || gain[j] <= 1e-10 {
            break;
        }
        chosen[j] = true;
        order.push(j);
        let dj = gain[j].sqrt();
        let cj = rows[j].clone();
        for i in 0..n {
            if chosen[i] {
                continue;
            }
            let dot: f64 = cj.iter().zip(&rows[i]).map(|(a, b)| a * b).sum();
            let e = (kernel(j, i) - dot) / dj;
            rows[i].push(e);
            gain[i] -= e * e;
        }
        next = best(&gain, &chosen);
    }
    order.extend((0..n).filter(|&i| !chosen[i]));
    order
}

/// Orders by objective (best first), ties by offer id.
pub fn by_score(a: &Ranked, b: &Ranked) -> Ordering {
    b.score.total_cmp(&a.score).then_with(|| a.offer_id.cmp(&b.offer_id))
}
