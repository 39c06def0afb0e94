//! What the index keeps of an offer: its vector and the columns queries filter on.

use crate::error::{IndexError, Result};
use passeur_domain::{GeoPoint, Offer, Venue};

/// One offer in the index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedOffer {
    /// Offer id (the key).
    pub offer_id: String,
    /// Item id: offers of one product at several venues share it.
    pub item_id: String,
    /// The item tower's vector.
    pub vector: Vec<f32>,
    /// Category code.
    pub category: String,
    /// Subcategory code.
    pub subcategory: String,
    /// Format code (`physical`, `digital`, `event`).
    pub format: String,
    /// Price, in cents.
    pub price_cents: i64,
    /// Bookable from (seconds), if limited.
    pub bookable_from: Option<i64>,
    /// Bookable until (seconds), if limited.
    pub bookable_until: Option<i64>,
    /// Event start (seconds), for events.
    pub event_start: Option<i64>,
    /// Units left; `None` is unlimited.
    pub stock: Option<i64>,
    /// Venue coordinates, for offers used in place.
    pub location: Option<GeoPoint>,
    /// Used online (no trip needed).
    pub digital: bool,
    /// Youngest age allowed to book.
    pub min_age: u8,
    /// Creation instant (seconds).
    pub created_at: i64,
    /// Venue department, when known.
    pub department: Option<String>,
    /// Bookings counted for "tops" playlists.
    pub popularity: i64,
}

impl IndexedOffer {
    /// The indexed form of an offer at its venue, with its vector.
    pub fn of(offer: &Offer, venue: Option<&Venue>, vector: Vec<f32>, popularity: i64) -> IndexedOffer {
        let info = offer.subcategory.info();
        IndexedOffer {
            offer_id: offer.id.clone(),
            item_id: offer.item_id.clone(),
            vector,
            category: offer.category().canonical().to_owned(),
            subcategory: offer.subcategory.canonical().to_owned(),
            format: offer.format().code().to_owned(),
            price_cents: offer.price_cents,
            bookable_from: offer.bookable_from.map(|t| t.0),
            bookable_until: offer.bookable_until.map(|t| t.0),
            event_start: offer.event_start.map(|t| t.0),
            stock: offer.stock.map(i64::from),
            location: venue.and_then(|v| v.location),
            digital: offer.is_online() || venue.is_some_and(Venue::is_digital),
            min_age: info.minimum_age(offer.price_cents),
            created_at: offer.created_at.0,
            department: venue.map(|v| v.department.clone()).filter(|d| !d.is_empty()),
            popularity,
        }
    }

    /// Checks the vector against the index dimension.
    pub fn check(&self, dim: usize) -> Result<()> {
        if self.vector.len() != dim {
            return Err(IndexError::BadVector {
                offer_id: self.offer_id.clone(),
                reason: format!("vector has {} components, the index has {dim}", self.vector.len()),
            });
        }
        if let Some(i) = self.vector.iter().position(|x| !x.is_finite()) {
            return Err(IndexError::BadVector {
                offer_id: self.offer_id.clone(),
                reason: format!("component {i} is not a finite number"),
            });
        }
        Ok(())
    }
}
