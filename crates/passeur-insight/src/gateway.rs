//! Gateway offers: which offers make it easy to enter a category new to a user.
//!
//! From the logs, for every user in time order: an offer *exposed* (shown or consulted) to a user who has
//! never booked its category counts one exposure to a newcomer (once per user and offer); a booking in a
//! category the user never booked is an *entry* through that offer (a booking never preceded by an
//! exposure counts as its own exposure); an entry is *followed through* when the user books in that
//! category again later. Entries also record the *transitions*: from each category the user had booked to
//! the one entered.
//!
//! An offer's entry rate and follow-through are shrunk toward its subcategory's, those toward their
//! category's, those toward the whole log's, each with `prior_strength` pseudo-observations (an
//! empirical-Bayes beta prior at every level): an offer seen by three newcomers says little on its own. The gateway score of (user, offer), for a user who has
//! never booked the offer's category, is
//!
//! `entry rate × (½ + ½ follow-through) × lift`,
//!
//! where `lift` is how much more often users with this user's categories enter the offer's category than
//! users at large (Laplace-smoothed, 1 for a user without bookings).

use crate::{InsightError, Result};
use serde::Serialize;

/// What happened between a user and an offer, as the gateway model reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Exposure {
    /// The offer was shown or consulted.
    Seen,
    /// The offer was booked (and not cancelled).
    Booked,
}

/// One event of a user's journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JourneyEvent {
    /// When (seconds).
    pub at: i64,
    /// The offer (dense index).
    pub offer: u32,
    /// Seen or booked.
    pub kind: Exposure,
}

/// Settings of the gateway model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayConfig {
    /// Pseudo-observations of the priors (subcategory for an offer, the whole log for a subcategory).
    pub prior_strength: f64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { prior_strength: 20.0 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
struct Counts {
    exposures: u64,
    entries: u64,
    followed: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.exposures += other.exposures;
        self.entries += other.entries;
        self.followed += other.followed;
    }
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayModel {
    config: GatewayConfig,
    offer_category: Vec<u16>,
    offer_subcategory: Vec<u16>,
    categories: usize,
    offers: Vec<Counts>,
    subcategories: Vec<Counts>,
    category_counts: Vec<Counts>,
    subcategory_category: Vec<u16>,
    total: Counts,
    /// `transitions[from][to]`: entries into `to` by users who had booked `from`.
    transitions: Vec<Vec<u64>>,
    /// Entries into each category (by anyone).
    entered: Vec<u64>,
}

/// A (user, offer) gateway score and what it is made of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayScore {
    /// The score.
    pub score: f64,
    /// Shrunk entry rate of the offer among newcomers to its category.
    pub entry_rate: f64,
    /// Shrunk share of entries through this offer followed by another booking in the category.
    pub follow_through: f64,
    /// How much more users with this user's categories enter the offer's category.
    pub lift: f64,
    /// Newcomers who saw the offer.
    pub exposures: u64,
    /// Of them, who booked it.
    pub entries: u64,
    /// Of those, who booked in the category again.
    pub followed: u64,
    /// The subcategory's own (shrunk) entry rate, the prior the offer's was pulled toward.
    pub subcategory_entry_rate: f64,
}

impl GatewayModel {
    /// Fits the model on every user's journey (each in any order; sorted here by time, bookings after
    /// exposures at the same instant). `offer_category` and `offer_subcategory` give each offer's dense
    /// indices; `categories` and `subcategories` their counts.
    pub fn fit<'a>(
        journeys: impl IntoIterator<Item = &'a [JourneyEvent]>,
        offer_category: &[u16],
        offer_subcategory: &[u16],
        categories: usize,
        subcategories: usize,
        config: GatewayConfig,
    ) -> Result<GatewayModel> {
        if offer_category.len() != offer_subcategory.len() {
            return Err(InsightError::BadInput {
                field: "offer_subcategory",
                reason: format!("{} subcategories for {} offers", offer_subcategory.len(), offer_category.len()),
            });
        }
        if !(config.prior_strength >= 0.0 && config.prior_strength.is_finite()) {
            return Err(InsightError::BadInput {
                field: "prior_strength",
                reason: format!("{} is not a finite number ≥ 0", config.prior_strength),
            });
        }
        let n = offer_category.len();
        if let Some((o, c)) = offer_category.iter().enumerate().find(|(_, c)| usize::from(**c) >= categories) {
            return Err(InsightError::BadInput {
                field: "offer_category",
                reason: format!("offer {o}: category {c} is beyond the {categories} known"),
            });
        }
        if let Some((o, s)) = offer_subcategory.iter().enumerate().find(|(_, s)| usize::from(**s) >= subcategories) {
            return Err(InsightError::BadInput {
                field: "offer_subcategory",
                reason: format!("offer {o}: subcategory {s} is beyond the {subcategories} known"),
            });
        }
        let mut offers = vec![Counts::default(); n];
        let mut transitions = vec![vec![0u64; categories]; categories];
        let mut entered = vec![0u64; categories];
        let mut events: Vec<JourneyEvent> = Vec::new();
        for (u, journey) in journeys.into_iter().enumerate() {
            events.clear();
            events.extend_from_slice(journey);
            events.sort_by_key(|e| (e.at, e.kind == Exposure::Booked));
            if let Some(e) = events.iter().find(|e| e.offer as usize >= n) {
                return Err(InsightError::BadInput {
                    field: "offer",
                    reason: format!("journey {u}: offer {} is beyond the {n} known", e.offer),
                });
            }
            let mut booked = vec![0u32; categories];
            let mut exposed: Vec<u32> = Vec::new(); // offers counted as exposed to this user while new
            let mut entry_offer: Vec<Option<u32>> = vec![None; categories];
            for e in &events {
                let c = usize::from(offer_category[e.offer as usize]);
                match e.kind {
                    Exposure::Seen => {
                        if booked[c] == 0 && !exposed.contains(&e.offer) {
                            exposed.push(e.offer);
                            offers[e.offer as usize].exposures += 1;
                        }
                    }
                    Exposure::Booked => {
                        if booked[c] == 0 {
                            if !exposed.contains(&e.offer) {
                                exposed.push(e.offer);
                                offers[e.offer as usize].exposures += 1;
                            }
                            offers[e.offer as usize].entries += 1;
                            entry_offer[c] = Some(e.offer);
                            entered[c] += 1;
                            for (from, &b) in booked.iter().enumerate() {
                                if b > 0 {
                                    transitions[from][c] += 1;
                                }
                            }
                        } else if booked[c] == 1
                            && let Some(o) = entry_offer[c]
                        {
                            offers[o as usize].followed += 1;
                        }
                        booked[c] += 1;
                    }
                }
            }
        }
        let mut subcategory_counts = vec![Counts::default(); subcategories];
        let mut category_counts = vec![Counts::default(); categories];
        let mut subcategory_category = vec![0u16; subcategories];
        let mut total = Counts::default();
        for (o, c) in offers.iter().enumerate() {
            subcategory_counts[usize::from(offer_subcategory[o])].add(*c);
            category_counts[usize::from(offer_category[o])].add(*c);
            subcategory_category[usize::from(offer_subcategory[o])] = offer_category[o];
            total.add(*c);
        }
        Ok(GatewayModel {
            config,
            offer_category: offer_category.to_vec(),
            offer_subcategory: offer_subcategory.to_vec(),
            categories,
            offers,
            subcategories: subcategory_counts,
            category_counts,
            subcategory_category,
            total,
            transitions,
            entered,
        })
    }

    fn shrink(&self, successes: u64, trials: u64, prior: f64) -> f64 {
        let m = self.config.prior_strength;
        if trials == 0 && m == 0.0 {
            return prior;
        }
        (successes as f64 + m * prior) / (trials as f64 + m)
    }

    fn global_rates(&self) -> (f64, f64) {
        let t = self.total;
        let entry = if t.exposures > 0 { t.entries as f64 / t.exposures as f64 } else { 0.0 };
        let follow = if t.entries > 0 { t.followed as f64 / t.entries as f64 } else { 0.0 };
        (entry, follow)
    }

    /// The category's shrunk entry rate and follow-through.
    pub fn category_rates(&self, category: usize) -> (f64, f64) {
        let (entry, follow) = self.global_rates();
        let c = self.category_counts.get(category).copied().unwrap_or_default();
        (self.shrink(c.entries, c.exposures, entry), self.shrink(c.followed, c.entries, follow))
    }

    /// The subcategory's shrunk entry rate and follow-through.
    pub fn subcategory_rates(&self, subcategory: usize) -> (f64, f64) {
        let category = self.subcategory_category.get(subcategory).copied().unwrap_or_default();
        let (entry, follow) = self.category_rates(usize::from(category));
        let s = self.subcategories.get(subcategory).copied().unwrap_or_default();
        (self.shrink(s.entries, s.exposures, entry), self.shrink(s.followed, s.entries, follow))
    }

    /// The offer's shrunk entry rate and follow-through.
    pub fn offer_rates(&self, offer: u32) -> (f64, f64) {
        let o = self.offers[offer as usize];
        let (entry, follow) = self.subcategory_rates(usize::from(self.offer_subcategory[offer as usize]));
        (self.shrink(o.entries, o.exposures, entry), self.shrink(o.followed, o.entries, follow))
    }

    /// How much more users who booked `from` categories enter `to` than users at large (1: no history).
    pub fn lift(&self, from: &[usize], to: usize) -> f64 {
        if from.is_empty() {
            return 1.0;
        }
        let k = self.categories as f64;
        let all: u64 = self.entered.iter().sum();
        let base = (self.entered[to] as f64 + 1.0) / (all as f64 + k);
        let mut sum = 0.0;
        for &b in from {
            let row = &self.transitions[b];
            let out: u64 = row.iter().sum();
            sum += (row[to] as f64 + 1.0) / (out as f64 + k);
        }
        sum / from.len() as f64 / base
    }

    /// The gateway score of `offer` for a user whose booked categories are `booked` (dense indices); `None`
    /// when the user already booked in the offer's category (the offer is no entry for them).
    pub fn score(&self, booked: &[usize], offer: u32) -> Option<GatewayScore> {
        let c = usize::from(*self.offer_category.get(offer as usize)?);
        if booked.contains(&c) {
            return None;
        }
        let (entry_rate, follow_through) = self.offer_rates(offer);
        let lift = self.lift(booked, c);
        let o = self.offers[offer as usize];
        Some(GatewayScore {
            score: entry_rate * (0.5 + 0.5 * follow_through) * lift,
            entry_rate,
            follow_through,
            lift,
            exposures: o.exposures,
            entries: o.entries,
            followed: o.followed,
            subcategory_entry_rate: self.subcategory_rates(usize::from(self.offer_subcategory[offer as usize])).0,
        })
    }

    /// Entries into `to` by users who had booked `from`.
    pub fn transitions(&self, from: usize, to: usize) -> u64 {
        self.transitions[from][to]
    }

    /// Raw counts of an offer: newcomers exposed, entries, entries followed through.
    pub fn offer_counts(&self, offer: u32) -> (u64, u64, u64) {
        let o = self.offers[offer as usize];
        (o.exposures, o.entries, o.followed)
    }

    /// "Discover": among `candidates`, the best gateway per category the user has not booked, best first,
    /// at most `limit`.
    pub fn discover(&self, booked: &[usize], candidates: &[u32], limit: usize) -> Vec<(u32, GatewayScore)> {
        let mut best: Vec<(u32, GatewayScore)> = Vec::new();
        for &o in candidates {
            let Some(s) = self.score(booked, o) else { continue };
            let c = self.offer_category[o as usize];
            match best.iter_mut().find(|(b, _)| self.offer_category[*b as usize] == c) {
                Some(slot) if s.score > slot.1.score => *slot = (o, s),
                Some(_) => {}
                None => best.push((o, s)),
            }
        }
        best.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        best.truncate(limit);
        best
    }
}
