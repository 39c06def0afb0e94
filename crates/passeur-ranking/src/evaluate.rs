//! `passeur eval ranking`: on the held-out period, how well each ordering of
//! the same candidates finds the bookings users went on to make, and how much
//! diversification those found bookings bring.

use crate::config::{Mixing, RankConfig};
use crate::error::{RankingError, Result};
use crate::features::UserSnapshot;
use crate::model::RankingModel;
use crate::rank::{Policy, Ranker, Scratch, UserRequest};
use crate::train::RankingData;
use passeur_diversity::DiversificationRules;
use passeur_domain::Timestamp;
use passeur_index::{ExactIndex, Filters, IndexedOffer, Near, VectorIndex};
use passeur_retrieval::{EventKind, UserRow, UserState};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::Serialize;

/// Settings of the offline comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Users evaluated at most (a seeded sample of those who booked in the held-out period).
    pub users: usize,
    /// Seed of the user sample.
    pub seed: u64,
    /// λ values of the Δdiv objective.
    pub lambdas: Vec<f64>,
    /// Start of the held-out period (seconds); the ranking model's cut when not given.
    pub cut: Option<i64>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { users: 2_000, seed: 7, lambdas: vec![0.5, 1.0, 2.0, 4.0], cut: None }
    }
}

/// One policy's row of the trade-off table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyRow {
    /// The ordering.
    pub policy: String,
    /// Share of held-out booked items in the list, averaged over users.
    pub recall: f64,
    /// NDCG of the list against the held-out booked items.
    pub ndcg: f64,
    /// Users with at least one held-out booking in their list.
    pub hit_rate: f64,
    /// Diversification points the held-out bookings found in the list would earn (mean per user).
    pub delta_div_found: f64,
    /// Mean Δdiv over the list's offers.
    pub list_delta_div: f64,
    /// Mean distinct categories per list.
    pub categories: f64,
    /// Mean p(booking) over the list's offers.
    pub p_booking: f64,
}

/// The comparison's result.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Users evaluated.
    pub users: usize,
    /// Start of the held-out period.
    pub cut: i64,
    /// Mean candidates per user.
    pub candidates: f64,
    /// List length.
    pub list_len: usize,
    /// One row per policy.
    pub rows: Vec<PolicyRow>,
}

struct Case {
    user: UserSnapshot,
    vector: Vec<f32>,
    filters: Filters,
    relevant: FxHashSet<u32>,
}

/// Ranks the same candidates with each policy for users who booked after the cut.
pub fn compare(
    data: &RankingData,
    model: &RankingModel,
    rules: &DiversificationRules,
    config: &RankConfig,
    eval: &EvalConfig,
) -> Result<Comparison> {
    let cut = eval.cut.unwrap_or(model.provenance.cut);
    let ds = &data.dataset;
    let booked_after: Vec<usize> = (0..ds.users.len())
        .filter(|&u| ds.timelines[u].iter().any(|e| e.kind == EventKind::Booking && e.at >= cut))
        .collect();
    if booked_after.is_empty() {
        return Err(RankingError::Data(format!("no user booked after {}: nothing to evaluate", Timestamp(cut))));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(eval.seed);
    let mut users: Vec<usize> = if booked_after.len() > eval.users {
        sample(&mut rng, booked_after.len(), eval.users).into_iter().map(|i| booked_after[i]).collect()
    } else {
        booked_after
    };
    users.sort_unstable();
    // Every offer in an exact index: the reference retrieval.
    let mut index = ExactIndex::new(data.dim);
    let offers: Vec<IndexedOffer> = (0..data.table.len())
        .map(|o| IndexedOffer { vector: data.item_vector(o as u32).to_vec(), ..data.table.columns[o].clone() })
        .collect();
    index.upsert(&offers)?;
    drop(offers);
    let snapshot = data.popularity.snapshot(&data.table, cut, &config.sources);
    let history_len = data.model.config.history_len;
    let mut rows = Vec::with_capacity(users.len());
    let mut cases: Vec<Case> = Vec::with_capacity(users.len());
    for &u in &users {
        let mut user = data.fresh_user(u);
        let mut state = UserState::new(ds.initial_credit[u], history_len);
        let mut relevant = FxHashSet::default();
        for e in &ds.timelines[u] {
            if e.at < cut {
                user.apply(&data.table, rules, e);
                state.apply(e);
            } else if e.kind == EventKind::Booking {
                relevant.insert(data.table.facts[e.offer as usize].item);
            }
        }
        rows.push(UserRow::from_state(&ds.users[u], &state, Timestamp(cut), &ds.catalogue, Some(u as u32)));
        let age = user.age(cut);
        let filters = Filters {
            max_price_cents: Some(user.credit_cents.max(0)),
            bookable_at: Some(cut),
            exclude_offers: user.booked.iter().map(|&o| data.table.ids[o as usize].clone()).collect(),
            near: user.home.map(|point| Near { point, radius_km: config.sources.radius_km, include_digital: true }),
            user_age: Some(age),
            ..Filters::default()
        };
        cases.push(Case { user, vector: Vec::new(), filters, relevant });
    }
    let vectors = data.model.user_vectors(rows, &ds.catalogue)?;
    for (i, case) in cases.iter_mut().enumerate() {
        case.vector = vectors[i * data.dim..(i + 1) * data.dim].to_vec();
    }
    let mut policies: Vec<(String, Policy, Mixing)> = vec![
        ("retrieval only".into(), Policy::RetrievalOnly, Mixing::None),
        ("p(click) + p(booking)".into(), Policy::Objective { lambda: 0.0 }, Mixing::None),
    ];
    for &lambda in &eval.lambdas {
        policies.push((format!("Δdiv objective, λ = {lambda}"), Policy::Objective { lambda }, Mixing::None));
    }
    if config.mixing != Mixing::None {
        let name = match config.mixing {
            Mixing::RoundRobin => "round-robin".to_owned(),
            Mixing::Mmr { diversity } => format!("MMR {diversity}"),
            Mixing::Dpp { theta } => format!("DPP θ = {theta}"),
            Mixing::None => unreachable!("checked"),
        };
        policies.push((
            format!("Δdiv objective, λ = {} + {name}", config.lambda),
            Policy::Objective { lambda: config.lambda },
            config.mixing,
        ));
    }
    // Candidates are the same for every policy: gather them once.
    let base = Ranker::new(model, &data.table, &data.popularity, rules, config.clone(), &data.item_vectors, data.dim)?;
    let candidates: Vec<Vec<crate::rank::Candidate>> = cases
        .par_iter()
        .map(|case| {
            let request =
                UserRequest { user: &case.user, vector: Some(&case.vector), filters: &case.filters, now: cut };
            base.candidates(&index, &request, &snapshot)
        })
        .collect::<Result<_>>()?;
    let mean_candidates = candidates.iter().map(Vec::len).sum::<usize>() as f64 / cases.len() as f64;
    let mut out = Vec::new();
    for (name, policy, mixing) in policies {
        let ranker = Ranker::new(
            model,
            &data.table,
            &data.popularity,
            rules,
            RankConfig { mixing, ..config.clone() },
            &data.item_vectors,
            data.dim,
        )?;
        let per_user: Vec<[f64; 7]> = cases
            .par_iter()
            .zip(&candidates)
            .map_init(Scratch::default, |scratch, (case, cands)| {
                let request =
                    UserRequest { user: &case.user, vector: Some(&case.vector), filters: &case.filters, now: cut };
                let list = ranker.rank(&request, cands, &snapshot, policy, scratch);
                let mut dcg = 0.0;
                let mut found = 0usize;
                let mut gained = 0.0;
                let mut seen = FxHashSet::default();
                for (pos, r) in list.iter().enumerate() {
                    let item = data.table.facts[r.offer as usize].item;
                    if case.relevant.contains(&item) && seen.insert(item) {
                        found += 1;
                        dcg += 1.0 / ((pos + 2) as f64).log2();
                        gained += f64::from(r.delta_div);
                    }
                }
                let ideal: f64 =
                    (0..case.relevant.len().min(list.len().max(1))).map(|p| 1.0 / ((p + 2) as f64).log2()).sum();
                let n = list.len().max(1) as f64;
                let categories: FxHashSet<&str> = list.iter().map(|r| r.category.as_str()).collect();
                [
                    found as f64 / case.relevant.len().max(1) as f64,
                    if ideal > 0.0 { dcg / ideal } else { 0.0 },
                    f64::from(u8::from(found > 0)),
                    gained,
                    list.iter().map(|r| f64::from(r.delta_div)).sum::<f64>() / n,
                    categories.len() as f64,
                    list.iter().map(|r| r.p_booking).sum::<f64>() / n,
                ]
            })
            .collect();
        let mean = |k: usize| per_user.iter().map(|r| r[k]).sum::<f64>() / per_user.len().max(1) as f64;
        out.push(PolicyRow {
            policy: name,
            recall: mean(0),
            ndcg: mean(1),
            hit_rate: mean(2),
            delta_div_found: mean(3),
            list_delta_div: mean(4),
            categories: mean(5),
            p_booking: mean(6),
        });
    }
    Ok(Comparison { users: cases.len(), cut, candidates: mean_candidates, list_len: config.list_len, rows: out })
}

/// The comparison as a Markdown table.
pub fn format_comparison(c: &Comparison) -> String {
    let mut s = format!(
        "{} users who booked after {}, {:.0} candidates each, lists of {}\n\n",
        c.users,
        Timestamp(c.cut),
        c.candidates,
        c.list_len
    );
    s.push_str("| policy | recall | NDCG | hit rate | Δdiv of found bookings | mean Δdiv of list | categories per list | mean p(booking) |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in &c.rows {
        s.push_str(&format!(
            "| {} | {:.4} | {:.4} | {:.3} | {:.3} | {:.2} | {:.1} | {:.4} |\n",
            r.policy, r.recall, r.ndcg, r.hit_rate, r.delta_div_found, r.list_delta_div, r.categories, r.p_booking
        ));
    }
    s
}
