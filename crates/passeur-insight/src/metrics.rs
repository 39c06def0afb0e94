//! Diversity metrics at three levels: a user's bookings, a served list, the catalogue's exposure.

use crate::{InsightError, Result};
use serde::Serialize;

/// A user's diversity, from their non-cancelled bookings in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserMetrics {
    /// Bookings counted.
    pub bookings: usize,
    /// The diversification score (the deck's rules; computed by `passeur-diversity`).
    pub score: u32,
    /// Distinct categories booked.
    pub categories_entered: usize,
    /// Shannon entropy of the booked categories' shares, in bits.
    pub entropy_bits: f64,
    /// Entropy divided by its maximum for that many categories (Pielou's evenness); 0 with one category.
    pub evenness: f64,
    /// Categories entered after the user's first booking (new to an already active user).
    pub newly_entered: usize,
    /// Of those, how many got a second booking later.
    pub followed_through: usize,
    /// `followed_through / newly_entered`, when a category was newly entered.
    pub follow_through: Option<f64>,
}

impl UserMetrics {
    /// The metrics of bookings whose categories, in time order, are `categories` (dense indices).
    pub fn of(categories: &[usize], score: u32) -> UserMetrics {
        let mut counts: Vec<(usize, usize)> = Vec::new(); // (category, bookings)
        let mut newly: Vec<usize> = Vec::new();
        for (i, &c) in categories.iter().enumerate() {
            match counts.iter_mut().find(|(k, _)| *k == c) {
                Some((_, n)) => *n += 1,
                None => {
                    counts.push((c, 1));
                    if i > 0 {
                        newly.push(c);
                    }
                }
            }
        }
        let total = categories.len() as f64;
        let entropy_bits = counts
            .iter()
            .map(|&(_, n)| {
                let p = n as f64 / total;
                -p * p.log2()
            })
            .sum::<f64>()
            .max(0.0);
        let k = counts.len();
        let evenness = if k > 1 { entropy_bits / (k as f64).log2() } else { 0.0 };
        let followed_through = newly.iter().filter(|c| counts.iter().any(|(k, n)| k == *c && *n >= 2)).count();
        UserMetrics {
            bookings: categories.len(),
            score,
            categories_entered: k,
            entropy_bits,
            evenness,
            newly_entered: newly.len(),
            followed_through,
            follow_through: (!newly.is_empty()).then(|| followed_through as f64 / newly.len() as f64),
        }
    }
}

/// Mean pairwise dissimilarity `1 − cos(u, v)` over the list's item vectors (0 for fewer than two items).
pub fn intra_list_diversity(vectors: &[&[f32]]) -> f64 {
    let n = vectors.len();
    if n < 2 {
        return 0.0;
    }
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    let norms: Vec<f64> = vectors.iter().map(|v| norm(v)).collect();
    let mut total = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let dot: f64 = vectors[i].iter().zip(vectors[j]).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let cos = if norms[i] > 0.0 && norms[j] > 0.0 { dot / (norms[i] * norms[j]) } else { 0.0 };
            total += 1.0 - cos;
        }
    }
    total / (n * (n - 1) / 2) as f64
}

/// Calibration of a list against a user's history (Steck 2018): `KL(p ‖ q̃)` in nats, with `p` the user's
/// past category mix, `q` the list's, and `q̃ = (1 − α) q + α p` so that a category the list omits costs a
/// finite amount. 0 when the list has the user's mix; `None` when the user has no history. Both inputs are
/// counts per category, of the same length.
pub fn calibration_kl(user_counts: &[f64], list_counts: &[f64], alpha: f64) -> Result<Option<f64>> {
    if user_counts.len() != list_counts.len() {
        return Err(InsightError::BadInput {
            field: "list_counts",
            reason: format!("{} categories for the list, {} for the user", list_counts.len(), user_counts.len()),
        });
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(InsightError::BadInput { field: "alpha", reason: format!("{alpha} is not in (0, 1)") });
    }
    if let Some(v) = user_counts.iter().chain(list_counts).find(|v| !(v.is_finite() && **v >= 0.0)) {
        return Err(InsightError::BadInput { field: "counts", reason: format!("{v} is not a count") });
    }
    let (su, sl): (f64, f64) = (user_counts.iter().sum(), list_counts.iter().sum());
    if su == 0.0 {
        return Ok(None);
    }
    let mut kl = 0.0;
    for (u, l) in user_counts.iter().zip(list_counts) {
        let p = u / su;
        if p == 0.0 {
            continue;
        }
        let q = if sl > 0.0 { l / sl } else { 0.0 };
        let q = (1.0 - alpha) * q + alpha * p;
        kl += p * (p / q).ln();
    }
    Ok(Some(kl.max(0.0)))
}

/// A served list's diversity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListMetrics {
    /// Offers in the list.
    pub len: usize,
    /// Mean pairwise `1 − cos` of the item vectors.
    pub intra_list_diversity: f64,
    /// Distinct subcategories.
    pub distinct_subcategories: usize,
    /// Distinct categories.
    pub distinct_categories: usize,
    /// `KL(user ‖ list)` of category mixes (α = 0.01), when the user has a history.
    pub calibration_kl: Option<f64>,
}

impl ListMetrics {
    /// The metrics of a list: each offer's vector, category and subcategory; the user's past bookings per
    /// category (`categories` entries).
    pub fn of(
        vectors: &[&[f32]],
        categories: &[usize],
        subcategories: &[usize],
        user_counts: &[f64],
    ) -> Result<ListMetrics> {
        if vectors.len() != categories.len() || categories.len() != subcategories.len() {
            return Err(InsightError::BadInput {
                field: "list",
                reason: format!(
                    "{} vectors, {} categories, {} subcategories",
                    vectors.len(),
                    categories.len(),
                    subcategories.len()
                ),
            });
        }
        let mut list_counts = vec![0.0; user_counts.len()];
        for &c in categories {
            let slot = list_counts.get_mut(c).ok_or_else(|| InsightError::BadInput {
                field: "categories",
                reason: format!("category {c} is beyond the {} known", user_counts.len()),
            })?;
            *slot += 1.0;
        }
        Ok(ListMetrics {
            len: vectors.len(),
            intra_list_diversity: intra_list_diversity(vectors),
            distinct_subcategories: distinct(subcategories),
            distinct_categories: distinct(categories),
            calibration_kl: calibration_kl(user_counts, &list_counts, 0.01)?,
        })
    }
}

fn distinct(values: &[usize]) -> usize {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

/// The Gini coefficient of non-negative values (0: all equal; near 1: one takes all). Zeros count: pass
/// every offer, exposed or not. 0 for no value or a zero total.
pub fn gini(values: &[f64]) -> f64 {
    let n = values.len();
    let total: f64 = values.iter().sum();
    if n == 0 || total <= 0.0 {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let weighted: f64 = sorted.iter().enumerate().map(|(i, x)| (i + 1) as f64 * x).sum();
    let nf = n as f64;
    (2.0 * weighted / (nf * total) - (nf + 1.0) / nf).max(0.0)
}

/// How evenly the catalogue is exposed (impressions, or recommendations) across offers, venues, partners.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogueMetrics {
    /// Offers.
    pub offers: usize,
    /// Offers exposed at least once.
    pub exposed_offers: usize,
    /// `exposed_offers / offers`.
    pub coverage: f64,
    /// Gini of exposure across offers.
    pub gini_offers: f64,
    /// Gini of exposure across venues.
    pub gini_venues: f64,
    /// Gini of exposure across partners.
    pub gini_partners: f64,
}

impl CatalogueMetrics {
    /// From each offer's exposure count, its venue (dense index) and each venue's partner (dense index).
    pub fn of(
        exposure: &[u64],
        venue_of_offer: &[usize],
        partner_of_venue: &[usize],
        partners: usize,
    ) -> Result<CatalogueMetrics> {
        if exposure.len() != venue_of_offer.len() {
            return Err(InsightError::BadInput {
                field: "venue_of_offer",
                reason: format!("{} venues for {} offers", venue_of_offer.len(), exposure.len()),
            });
        }
        let mut venues = vec![0.0; partner_of_venue.len()];
        let mut by_partner = vec![0.0; partners];
        for (o, &e) in exposure.iter().enumerate() {
            let v = venue_of_offer[o];
            let slot = venues.get_mut(v).ok_or_else(|| InsightError::BadInput {
                field: "venue_of_offer",
                reason: format!("offer {o}: venue {v} is beyond the {} known", partner_of_venue.len()),
            })?;
            *slot += e as f64;
        }
        for (v, &p) in partner_of_venue.iter().enumerate() {
            let slot = by_partner.get_mut(p).ok_or_else(|| InsightError::BadInput {
                field: "partner_of_venue",
                reason: format!("venue {v}: partner {p} is beyond the {partners} known"),
            })?;
            *slot += venues[v];
        }
        let offers = exposure.len();
        let exposed_offers = exposure.iter().filter(|e| **e > 0).count();
        let as_f64: Vec<f64> = exposure.iter().map(|e| *e as f64).collect();
        Ok(CatalogueMetrics {
            offers,
            exposed_offers,
            coverage: if offers > 0 { exposed_offers as f64 / offers as f64 } else { 0.0 },
            gini_offers: gini(&as_f64),
            gini_venues: gini(&venues),
            gini_partners: gini(&by_partner),
        })
    }
}
