//! The checks a record passes before it is stored, written once for every
//! path that reads records: the SQLite store's writes and imports, and the
//! file readers that score without a store (`passeur diversity score --from`).
//! The caller looks up what the record refers to (in its tables or in the
//! files read so far); these functions decide, and name the field, in one
//! wording.

use crate::error::{Result, StoreError};
use passeur_domain::{DomainError, Interaction, InteractionKind, Offer, Venue};

/// Checks an offer: its own fields, then its venue (`venue` is the record
/// with the offer's `venue_id`, when there is one).
pub fn check_offer(offer: &Offer, venue: Option<&Venue>) -> Result<()> {
    offer.validate()?;
    if let Some(venue_id) = &offer.venue_id {
        let venue = venue.ok_or_else(|| StoreError::UnknownReference {
            entity: "offer",
            id: offer.id.clone(),
            field: "venue_id",
            target: "venue",
            missing: venue_id.clone(),
        })?;
        offer.validate_venue(venue)?;
    }
    Ok(())
}

/// What an interaction refers to, as the caller found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct References<'a> {
    /// A user with the interaction's `user_id` exists.
    pub user: bool,
    /// An offer with the interaction's `offer_id` exists.
    pub offer: bool,
    /// For a cancellation: the (user id, offer id) of the booking with its
    /// `booking_id`, if there is such a booking.
    pub booking: Option<(&'a str, &'a str)>,
}

/// Checks an interaction: its own fields, then its user, its offer and, for
/// a cancellation, that it cancels a booking of the same user and offer.
pub fn check_interaction(interaction: &Interaction, found: References<'_>) -> Result<()> {
    interaction.validate()?;
    let unknown = |field, target, missing: &str| StoreError::UnknownReference {
        entity: "interaction",
        id: interaction.id.clone(),
        field,
        target,
        missing: missing.to_owned(),
    };
    if !found.user {
        return Err(unknown("user_id", "user", &interaction.user_id));
    }
    if !found.offer {
        return Err(unknown("offer_id", "offer", &interaction.offer_id));
    }
    if let InteractionKind::Cancellation { booking_id } = &interaction.kind {
        let (user, offer) = found.booking.ok_or_else(|| unknown("booking_id", "booking", booking_id))?;
        if user != interaction.user_id || offer != interaction.offer_id {
            return Err(DomainError::field(
                "interaction",
                &interaction.id,
                "booking_id",
                format!("booking {booking_id} is of another user or offer"),
            )
            .into());
        }
    }
    Ok(())
}
