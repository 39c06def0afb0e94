//! Venues, offers, users and interactions, with their validation rules.

use crate::error::{DomainError, Result};
use crate::geo::GeoPoint;
use crate::taxonomy::{
    BookSectionId, CategoryId, Format, GenreKind, MovieGenreId, MusicGenreId, Platform, ShowTypeId, SubcategoryId,
    VenueTypeId,
};
use crate::time::{Timestamp, age_on};
use chrono::NaiveDate;

/// Checks that an id is usable: non-empty, at most 128 bytes, no control characters.
pub fn validate_id(entity: &'static str, field: &'static str, id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "is empty"
    } else if id.len() > 128 {
        "is longer than 128 bytes"
    } else if id.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(DomainError::field(entity, id, field, reason))
}

/// A place run by a cultural partner, where offers are used or collected.
#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    /// Unique id.
    pub id: String,
    /// Public name.
    pub name: String,
    /// Its type, which the diversification score weighs.
    pub venue_type: VenueTypeId,
    /// Where it is; `None` only for a partner's virtual venue of type `DIGITAL`.
    pub location: Option<GeoPoint>,
    /// City name.
    pub city: String,
    /// French department code (`75`, `2A`, `971`).
    pub department: String,
    /// The partner (structure) that runs it.
    pub partner_id: String,
}

impl Venue {
    /// True for a partner's virtual venue, which hosts digital offers.
    pub fn is_digital(&self) -> bool {
        self.venue_type.canonical() == "DIGITAL"
    }

    /// Checks the venue's fields.
    pub fn validate(&self) -> Result<()> {
        validate_id("venue", "id", &self.id)?;
        validate_id("venue", "partner_id", &self.partner_id)?;
        if self.name.trim().is_empty() {
            return Err(DomainError::field("venue", &self.id, "name", "is empty"));
        }
        match (self.is_digital(), self.location) {
            (true, Some(_)) => {
                Err(DomainError::field("venue", &self.id, "latitude", "a DIGITAL venue has no physical location"))
            }
            (false, None) => Err(DomainError::field(
                "venue",
                &self.id,
                "latitude",
                format!("a {} venue needs coordinates", self.venue_type),
            )),
            _ => Ok(()),
        }
    }
}

/// Something a young person can book: a copy of a book at a bookstore, a seat at a show, a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Unique id.
    pub id: String,
    /// The product: offers of one product at several venues share it.
    pub item_id: String,
    /// Title.
    pub title: String,
    /// Free-text description.
    pub description: String,
    /// Artist, author or performer.
    pub artist: Option<String>,
    /// Subcategory; category and format follow from it.
    pub subcategory: SubcategoryId,
    /// Book macro-section (books only).
    pub book_macro_section: Option<BookSectionId>,
    /// Music genre (live and recorded music only).
    pub music_genre: Option<MusicGenreId>,
    /// Show type (live shows only).
    pub show_type: Option<ShowTypeId>,
    /// Movie genre (cinema and films only).
    pub movie_genre: Option<MovieGenreId>,
    /// Price of one place or copy, in euro cents.
    pub price_cents: i64,
    /// Whether two places can be booked at once.
    pub duo: bool,
    /// Units left to book; `None` means unlimited.
    pub stock: Option<u32>,
    /// First instant it can be booked.
    pub bookable_from: Option<Timestamp>,
    /// Last instant it can be booked.
    pub bookable_until: Option<Timestamp>,
    /// When the event starts (events only).
    pub event_start: Option<Timestamp>,
    /// When the partner created it.
    pub created_at: Timestamp,
    /// Where it is used or collected; online offers may have none, or a `DIGITAL` venue.
    pub venue_id: Option<String>,
    /// A precomputed image embedding, of any dimension.
    pub image_embedding: Option<Vec<f32>>,
}

impl Offer {
    /// Its category.
    pub fn category(&self) -> CategoryId {
        self.subcategory.category()
    }

    /// Its diversification format.
    pub fn format(&self) -> Format {
        self.subcategory.format()
    }

    /// True when it is used online (no physical venue).
    pub fn is_online(&self) -> bool {
        self.subcategory.info().platform == Platform::Online
    }

    /// Whether it can be booked at `at` (window and stock).
    pub fn is_bookable_at(&self, at: Timestamp) -> bool {
        self.bookable_from.is_none_or(|from| at >= from)
            && self.bookable_until.is_none_or(|until| at <= until)
            && self.event_start.is_none_or(|start| at <= start)
            && self.stock != Some(0)
    }

    /// Checks the offer's own fields (references to venues are checked by the store).
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(DomainError::field("offer", &self.id, field, reason));
        validate_id("offer", "id", &self.id)?;
        validate_id("offer", "item_id", &self.item_id)?;
        if self.title.trim().is_empty() {
            return bad("title", "is empty".into());
        }
        if !self.subcategory.info().is_selectable {
            return bad("subcategory", format!("{} is not selectable for offers", self.subcategory));
        }
        if self.price_cents < 0 {
            return bad("price_cents", format!("{} is negative", self.price_cents));
        }
        if self.duo && !self.subcategory.info().can_be_duo {
            return bad("duo", format!("{} offers cannot be booked as duo", self.subcategory));
        }
        let genre = self.category().genre_kind();
        let genre_fields: [(&'static str, bool, GenreKind); 4] = [
            ("book_macro_section", self.book_macro_section.is_some(), GenreKind::BookSection),
            ("music_genre", self.music_genre.is_some(), GenreKind::MusicGenre),
            ("show_type", self.show_type.is_some(), GenreKind::ShowType),
            ("movie_genre", self.movie_genre.is_some(), GenreKind::MovieGenre),
        ];
        for (field, present, kind) in genre_fields {
            if present && genre != Some(kind) {
                return bad(field, format!("does not apply to category {}", self.category()));
            }
        }
        match (self.subcategory.info().is_event, self.event_start) {
            (true, None) => return bad("event_start", format!("{} is an event and needs a start", self.subcategory)),
            (false, Some(_)) => {
                return bad("event_start", format!("{} is not an event", self.subcategory));
            }
            _ => {}
        }
        if let (Some(from), Some(until)) = (self.bookable_from, self.bookable_until)
            && from > until
        {
            return bad("bookable_until", format!("{until} is before bookable_from {from}"));
        }
        if let Some(embedding) = &self.image_embedding {
            if embedding.is_empty() {
                return bad("image_embedding", "is empty".into());
            }
            if let Some(i) = embedding.iter().position(|x| !x.is_finite()) {
                return bad("image_embedding", format!("component {i} is not a finite number"));
            }
        }
        if self.venue_id.is_none() && !self.is_online() {
            return bad("venue_id", format!("{} offers need a venue", self.subcategory));
        }
        Ok(())
    }

    /// Checks the offer against its venue: an offline offer needs a venue with a location.
    pub fn validate_venue(&self, venue: &Venue) -> Result<()> {
        if !self.is_online() && venue.location.is_none() {
            return Err(DomainError::field(
                "offer",
                &self.id,
                "venue_id",
                format!("{} offers need a physical venue; {} is {}", self.subcategory, venue.id, venue.venue_type),
            ));
        }
        Ok(())
    }
}

/// A young person using the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Unique id.
    pub id: String,
    /// Birth date; the age follows.
    pub birth_date: NaiveDate,
    /// Department of residence.
    pub department: String,
    /// Home coordinates, when the user shared them.
    pub home: Option<GeoPoint>,
    /// Remaining credit, in euro cents.
    pub credit_cents: i64,
}

impl User {
    /// Age in whole years on a date.
    pub fn age_on(&self, date: NaiveDate) -> i32 {
        age_on(self.birth_date, date)
    }

    /// Checks the user's fields.
    pub fn validate(&self) -> Result<()> {
        validate_id("user", "id", &self.id)?;
        if self.credit_cents < 0 {
            return Err(DomainError::field(
                "user",
                &self.id,
                "credit_cents",
                format!("{} is negative", self.credit_cents),
            ));
        }
        if self.department.trim().is_empty() {
            return Err(DomainError::field("user", &self.id, "department", "is empty"));
        }
        Ok(())
    }
}

/// What happened between a user and an offer.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractionKind {
    /// The user opened the offer's page (a click).
    Consultation,
    /// The user added the offer to favourites.
    Favourite,
    /// The user booked the offer.
    Booking {
        /// Amount debited from the credit, in cents.
        amount_cents: i64,
        /// Places or copies (1, or 2 for a duo).
        quantity: u32,
    },
    /// A booking was cancelled; its amount returns to the credit.
    Cancellation {
        /// The cancelled booking's interaction id.
        booking_id: String,
    },
    /// The offer was shown in a served list.
    Impression {
        /// The request that served the list.
        call_id: String,
        /// 0-based position in the list.
        position: u32,
        /// The model (or policy) version that ranked it.
        model_version: String,
        /// Probability that the serving policy put this offer at this position, given the offers above it.
        propensity: f64,
        /// Probability of the list's first `position + 1` offers in their order (the product of the
        /// propensities so far), when the serving policy logged it.
        prefix_propensity: Option<f64>,
    },
}

impl InteractionKind {
    /// The code used in files.
    pub fn code(&self) -> &'static str {
        match self {
            InteractionKind::Consultation => "consultation",
            InteractionKind::Favourite => "favourite",
            InteractionKind::Booking { .. } => "booking",
            InteractionKind::Cancellation { .. } => "cancellation",
            InteractionKind::Impression { .. } => "impression",
        }
    }

    /// All codes, for messages.
    pub const CODES: [&'static str; 5] = ["consultation", "favourite", "booking", "cancellation", "impression"];
}

/// One timestamped event.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// Unique id; for a booking, this is the booking id.
    pub id: String,
    /// Who.
    pub user_id: String,
    /// Which offer.
    pub offer_id: String,
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: InteractionKind,
}

impl Interaction {
    /// Checks the interaction's own fields.
    pub fn validate(&self) -> Result<()> {
        validate_id("interaction", "id", &self.id)?;
        validate_id("interaction", "user_id", &self.user_id)?;
        validate_id("interaction", "offer_id", &self.offer_id)?;
        let bad = |field, reason: String| Err(DomainError::field("interaction", &self.id, field, reason));
        match &self.kind {
            InteractionKind::Booking { amount_cents, quantity } => {
                if *amount_cents < 0 {
                    return bad("amount_cents", format!("{amount_cents} is negative"));
                }
                if !(1..=2).contains(quantity) {
                    return bad("quantity", format!("{quantity} is not 1 or 2"));
                }
            }
            InteractionKind::Cancellation { booking_id } => validate_id("interaction", "booking_id", booking_id)?,
            InteractionKind::Impression { call_id, propensity, prefix_propensity, .. } => {
                validate_id("interaction", "call_id", call_id)?;
                if !(propensity.is_finite() && *propensity > 0.0 && *propensity <= 1.0) {
                    return bad("propensity", format!("{propensity} is not in (0, 1]"));
                }
                if let Some(p) = prefix_propensity
                    && !(p.is_finite() && *p > 0.0 && *p <= propensity * (1.0 + 1e-9))
                {
                    return bad("prefix_propensity", format!("{p} is not in (0, propensity = {propensity}]"));
                }
            }
            InteractionKind::Consultation | InteractionKind::Favourite => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Offer {
        Offer {
            id: "o1".into(),
            item_id: "i1".into(),
            title: "Les Misérables".into(),
            description: String::new(),
            artist: Some("Victor Hugo".into()),
            subcategory: SubcategoryId::parse("LIVRE_PAPIER").unwrap(),
            book_macro_section: Some(BookSectionId::parse("Littérature française").unwrap()),
            music_genre: None,
            show_type: None,
            movie_genre: None,
            price_cents: 1290,
            duo: false,
            stock: None,
            bookable_from: None,
            bookable_until: None,
            event_start: None,
            created_at: Timestamp(1_700_000_000),
            venue_id: Some("v1".into()),
            image_embedding: None,
        }
    }

    fn field_of(result: Result<()>) -> &'static str {
        match result {
            Err(DomainError::InvalidField { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn offer_validation_names_the_field() {
        assert_eq!(book().validate(), Ok(()));
        assert_eq!(field_of(Offer { price_cents: -1, ..book() }.validate()), "price_cents");
        assert_eq!(field_of(Offer { duo: true, ..book() }.validate()), "duo");
        let rap = MusicGenreId::parse("Rap/ Hip Hop").unwrap();
        assert_eq!(field_of(Offer { music_genre: Some(rap), ..book() }.validate()), "music_genre");
        assert_eq!(field_of(Offer { event_start: Some(Timestamp(5)), ..book() }.validate()), "event_start");
        assert_eq!(
            field_of(Offer { image_embedding: Some(vec![1.0, f32::NAN]), ..book() }.validate()),
            "image_embedding"
        );
        assert_eq!(field_of(Offer { venue_id: None, ..book() }.validate()), "venue_id");
        let w = Offer { bookable_from: Some(Timestamp(10)), bookable_until: Some(Timestamp(5)), ..book() };
        assert_eq!(field_of(w.validate()), "bookable_until");
        let concert = Offer {
            subcategory: SubcategoryId::parse("CONCERT").unwrap(),
            book_macro_section: None,
            music_genre: Some(rap),
            ..book()
        };
        assert_eq!(field_of(concert.validate()), "event_start");
        let ebook = Offer { subcategory: SubcategoryId::parse("LIVRE_NUMERIQUE").unwrap(), venue_id: None, ..book() };
        assert_eq!(ebook.validate(), Ok(()));
    }

    #[test]
    fn bookability_follows_window_stock_and_start() {
        let o = Offer { bookable_from: Some(Timestamp(10)), bookable_until: Some(Timestamp(20)), ..book() };
        assert!(!o.is_bookable_at(Timestamp(9)));
        assert!(o.is_bookable_at(Timestamp(10)));
        assert!(!o.is_bookable_at(Timestamp(21)));
        assert!(!Offer { stock: Some(0), ..o.clone() }.is_bookable_at(Timestamp(15)));
        assert!(!Offer { event_start: Some(Timestamp(12)), ..o }.is_bookable_at(Timestamp(15)));
    }

    #[test]
    fn interactions_are_checked() {
        let base = Interaction {
            id: "b1".into(),
            user_id: "u1".into(),
            offer_id: "o1".into(),
            at: Timestamp(0),
            kind: InteractionKind::Booking { amount_cents: 500, quantity: 1 },
        };
        assert_eq!(base.validate(), Ok(()));
        let neg = Interaction { kind: InteractionKind::Booking { amount_cents: -5, quantity: 1 }, ..base.clone() };
        assert_eq!(field_of(neg.validate()), "amount_cents");
        let imp = Interaction {
            kind: InteractionKind::Impression {
                call_id: "c".into(),
                position: 0,
                model_version: "m".into(),
                propensity: 0.0,
                prefix_propensity: None,
            },
            ..base.clone()
        };
        assert_eq!(field_of(imp.validate()), "propensity");
        let prefix_above = Interaction {
            kind: InteractionKind::Impression {
                call_id: "c".into(),
                position: 1,
                model_version: "m".into(),
                propensity: 0.5,
                prefix_propensity: Some(0.6),
            },
            ..base.clone()
        };
        assert_eq!(field_of(prefix_above.validate()), "prefix_propensity");
        assert_eq!(field_of(Interaction { user_id: String::new(), ..base }.validate()), "user_id");
    }
}
