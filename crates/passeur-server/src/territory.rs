//! The territory's view, computed from the record store: what the young people of a department (or the
//! users of a partner's offers) consult and book, by category, age and month; their diversification
//! scores; for a partner, each offer's exposure and bookings. Served by `GET /v1/territory` and printed by
//! `passeur territory`.

use crate::error::{Result, ServerError};
use passeur_diversity::{DiversificationRules, OfferTraits, UserProfile};
use passeur_domain::{InteractionKind, SubcategoryId};
use passeur_insight::territory::{Activity, ActivityBreakdown, ActivityKind, ScoreDistribution, age_in_month};
use passeur_store::{OfferActivity, RecordStore, SqliteStore, TerritoryScope};
use serde::Serialize;
use std::collections::HashMap;

/// The view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerritoryView {
    /// `department` or `partner`.
    pub scope: &'static str,
    /// The department code or the partner id.
    pub id: String,
    /// Young people counted (residents, or users who booked the partner's offers).
    pub users: usize,
    /// Consultations, bookings and cancellations by category, age and month.
    pub activity: ActivityBreakdown,
    /// Their diversification scores.
    pub scores: ScoreDistribution,
    /// For a partner: each offer's impressions, consultations and bookings, most booked first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<OfferView>>,
}

/// One of a partner's offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferView {
    /// The offer.
    pub offer_id: String,
    /// Its title.
    pub title: String,
    /// Its category code.
    pub category: String,
    /// Its venue.
    pub venue_id: String,
    /// Times shown in served lists.
    pub impressions: u64,
    /// Consultations.
    pub consultations: u64,
    /// Bookings.
    pub bookings: u64,
}

/// What went wrong, for the API to map: an unknown department or partner, or the store.
#[derive(Debug)]
pub enum TerritoryError {
    /// No resident in the department, no venue for the partner.
    Unknown(&'static str, String),
    /// The store or a record.
    Failed(Box<ServerError>),
}

impl From<passeur_store::StoreError> for TerritoryError {
    fn from(e: passeur_store::StoreError) -> Self {
        TerritoryError::Failed(Box::new(e.into()))
    }
}

/// Computes the view of `scope` from the store, with `rules` for the scores.
pub fn territory_view(
    store: &SqliteStore,
    scope: &TerritoryScope,
    rules: &DiversificationRules,
) -> std::result::Result<TerritoryView, TerritoryError> {
    let (name, id, field) = match scope {
        TerritoryScope::Department(d) => ("department", d.clone(), "department"),
        TerritoryScope::Partner(p) => ("partner", p.clone(), "partner_id"),
    };
    if !store.territory_exists(scope)? {
        return Err(TerritoryError::Unknown(field, id));
    }
    let rows = store.activity(scope)?;
    let activity: Vec<Activity> = rows
        .into_iter()
        .map(|r| {
            let kind = match r.kind.as_str() {
                "consultation" => ActivityKind::Consultation,
                "booking" => ActivityKind::Booking,
                _ => ActivityKind::Cancellation,
            };
            Activity {
                kind,
                category: category_of(&r.subcategory),
                age: age_in_month(&r.birth_date, &r.month),
                month: r.month,
                count: r.count,
            }
        })
        .collect();
    let users = store.territory_users(scope)?;
    let scores = scores_of(store, &users, rules).map_err(|e| TerritoryError::Failed(Box::new(e)))?;
    let offers = match scope {
        TerritoryScope::Partner(p) => Some(
            store
                .partner_offer_activity(p)?
                .into_iter()
                .map(|o: OfferActivity| OfferView {
                    category: category_of(&o.subcategory),
                    offer_id: o.offer_id,
                    title: o.title,
                    venue_id: o.venue_id,
                    impressions: o.impressions,
                    consultations: o.consultations,
                    bookings: o.bookings,
                })
                .collect(),
        ),
        TerritoryScope::Department(_) => None,
    };
    Ok(TerritoryView {
        scope: name,
        id,
        users: users.len(),
        activity: ActivityBreakdown::of(&activity),
        scores: ScoreDistribution::of(&scores),
        offers,
    })
}

fn category_of(subcategory: &str) -> String {
    SubcategoryId::parse(subcategory).map_or_else(|_| "UNKNOWN".to_owned(), |s| s.category().to_string())
}

/// Each user's diversification score from their bookings in the store (cancelled ones left out).
fn scores_of(store: &SqliteStore, users: &[String], rules: &DiversificationRules) -> Result<Vec<u32>> {
    let mut venue_index: HashMap<String, u32> = HashMap::new();
    let mut traits: HashMap<String, OfferTraits> = HashMap::new();
    let mut scores = Vec::with_capacity(users.len());
    for user in users {
        let events = store.user_interactions(user)?;
        let cancelled: Vec<&str> = events
            .iter()
            .filter_map(|e| match &e.kind {
                InteractionKind::Cancellation { booking_id } => Some(booking_id.as_str()),
                _ => None,
            })
            .collect();
        let mut bookings = Vec::new();
        for e in &events {
            if !matches!(e.kind, InteractionKind::Booking { .. }) || cancelled.contains(&e.id.as_str()) {
                continue;
            }
            if !traits.contains_key(&e.offer_id) {
                let offer = store
                    .offer(&e.offer_id)?
                    .ok_or_else(|| ServerError::Data(format!("booking {} names a missing offer", e.id)))?;
                let venue = match &offer.venue_id {
                    Some(v) => store.venue(v)?,
                    None => None,
                };
                let next = venue_index.len() as u32;
                let t = match &venue {
                    Some(v) => {
                        let index = *venue_index.entry(v.id.clone()).or_insert(next);
                        OfferTraits::of(&offer, Some((v, index)))
                    }
                    None => OfferTraits::of(&offer, None),
                };
                traits.insert(e.offer_id.clone(), t);
            }
            bookings.push((e.id.clone(), e.at.seconds(), traits[&e.offer_id]));
        }
        scores.push(UserProfile::from_bookings(rules, bookings).score());
    }
    Ok(scores)
}
