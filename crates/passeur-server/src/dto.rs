//! The API's JSON shapes, and their conversion to and from the domain. Field
//! names follow the import files' columns (see the README); instants are
//! RFC 3339, money is integer cents.

use crate::error::ApiError;
use passeur_domain::{
    BookSectionId, GeoPoint, Interaction, InteractionKind, MovieGenreId, MusicGenreId, Offer, ShowTypeId,
    SubcategoryId, Timestamp, User, Venue, VenueTypeId,
};
use serde::{Deserialize, Serialize};

/// A venue, as written and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueBody {
    /// Unique id.
    pub id: String,
    /// Public name.
    pub name: String,
    /// Venue type code (e.g. `BOOKSTORE`, `DIGITAL`).
    pub venue_type: String,
    /// Latitude (absent only for a `DIGITAL` venue).
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// City.
    pub city: String,
    /// Department code.
    pub department: String,
    /// The partner (cultural organisation) owning the venue.
    pub partner_id: String,
}

/// An offer, as written and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {
    /// Unique id.
    pub id: String,
    /// The product: offers of one product at several venues share it.
    pub item_id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Author, performer or director.
    #[serde(default)]
    pub artist: Option<String>,
    /// Subcategory code (e.g. `LIVRE_PAPIER`); category and format follow.
    pub subcategory: String,
    /// Book macro-section.
    #[serde(default)]
    pub book_macro_section: Option<String>,
    /// Music genre.
    #[serde(default)]
    pub music_genre: Option<String>,
    /// Show type.
    #[serde(default)]
    pub show_type: Option<String>,
    /// Movie genre.
    #[serde(default)]
    pub movie_genre: Option<String>,
    /// Price in cents.
    pub price_cents: i64,
    /// Bookable for two.
    #[serde(default)]
    pub duo: bool,
    /// Units left; absent is unlimited.
    #[serde(default)]
    pub stock: Option<u32>,
    /// Bookable from.
    #[serde(default)]
    pub bookable_from: Option<String>,
    /// Bookable until.
    #[serde(default)]
    pub bookable_until: Option<String>,
    /// Event start (events only).
    #[serde(default)]
    pub event_start: Option<String>,
    /// Creation instant; absent is now.
    #[serde(default)]
    pub created_at: Option<String>,
    /// The venue (online offers may have none).
    #[serde(default)]
    pub venue_id: Option<String>,
    /// A precomputed image embedding.
    #[serde(default)]
    pub image_embedding: Option<Vec<f32>>,
}

/// A user, as written and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// Unique id.
    pub id: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Department code.
    pub department: String,
    /// Home latitude.
    #[serde(default)]
    pub home_latitude: Option<f64>,
    /// Home longitude.
    #[serde(default)]
    pub home_longitude: Option<f64>,
    /// Remaining credit, in cents.
    pub credit_cents: i64,
}

/// One event from the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// Unique id (for a booking: the booking id). Sending the same id again is a safe retry;
    /// absent, the service makes one.
    #[serde(default)]
    pub id: Option<String>,
    /// `consultation`, `favourite`, `booking` or `cancellation`.
    pub kind: String,
    /// The user.
    pub user_id: String,
    /// The offer.
    pub offer_id: String,
    /// When; absent is now.
    #[serde(default)]
    pub at: Option<String>,
    /// Bookings: the price paid; absent is the offer's price × quantity.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// Bookings: units (1 or 2 for duo offers); absent is 1.
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Cancellations: the booking cancelled.
    #[serde(default)]
    pub booking_id: Option<String>,
}

/// A batch of events, applied all or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The events, in order.
    pub events: Vec<EventBody>,
}

fn instant(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(text).map_err(|reason| ApiError::invalid(field, format!("{field}: {reason}")))
}

fn optional_instant(field: &str, text: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    text.as_deref().map(|t| instant(field, t)).transpose()
}

fn location(fields: (&str, &str), lat: Option<f64>, lon: Option<f64>) -> Result<Option<GeoPoint>, ApiError> {
    match (lat, lon) {
        (Some(lat), Some(lon)) => GeoPoint::new(lat, lon).map(Some).map_err(|r| ApiError::invalid(fields.0, r)),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::invalid(fields.1, "is missing while the latitude is given")),
        (None, Some(_)) => Err(ApiError::invalid(fields.0, "is missing while the longitude is given")),
    }
}

fn code<T>(field: &str, text: &str, parse: impl Fn(&str) -> passeur_domain::Result<T>) -> Result<T, ApiError> {
    parse(text).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn optional_code<T>(
    field: &str,
    text: &Option<String>,
    parse: impl Fn(&str) -> passeur_domain::Result<T>,
) -> Result<Option<T>, ApiError> {
    text.as_deref().filter(|t| !t.is_empty()).map(|t| code(field, t, &parse)).transpose()
}

impl VenueBody {
    /// The domain venue (validated).
    pub fn to_domain(&self) -> Result<Venue, ApiError> {
        let venue = Venue {
            id: self.id.clone(),
            name: self.name.clone(),
            venue_type: code("venue_type", &self.venue_type, VenueTypeId::parse)?,
            location: location(("latitude", "longitude"), self.latitude, self.longitude)?,
            city: self.city.clone(),
            department: self.department.clone(),
            partner_id: self.partner_id.clone(),
        };
        venue.validate()?;
        Ok(venue)
    }

    /// The JSON form of a venue.
    pub fn of(v: &Venue) -> VenueBody {
        VenueBody {
            id: v.id.clone(),
            name: v.name.clone(),
            venue_type: v.venue_type.canonical().to_owned(),
            latitude: v.location.map(|p| p.lat),
            longitude: v.location.map(|p| p.lon),
            city: v.city.clone(),
            department: v.department.clone(),
            partner_id: v.partner_id.clone(),
        }
    }
}

impl OfferBody {
    /// The domain offer (validated on its own; the venue is checked by the store).
    pub fn to_domain(&self, now: Timestamp) -> Result<Offer, ApiError> {
        let offer = Offer {
            id: self.id.clone(),
            item_id: self.item_id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            artist: self.artist.clone().filter(|a| !a.trim().is_empty()),
            subcategory: code("subcategory", &self.subcategory, SubcategoryId::parse)?,
            book_macro_section: optional_code("book_macro_section", &self.book_macro_section, BookSectionId::parse)?,
            music_genre: optional_code("music_genre", &self.music_genre, MusicGenreId::parse)?,
            show_type: optional_code("show_type", &self.show_type, ShowTypeId::parse)?,
            movie_genre: optional_code("movie_genre", &self.movie_genre, MovieGenreId::parse)?,
            price_cents: self.price_cents,
            duo: self.duo,
            stock: self.stock,
            bookable_from: optional_instant("bookable_from", &self.bookable_from)?,
            bookable_until: optional_instant("bookable_until", &self.bookable_until)?,
            event_start: optional_instant("event_start", &self.event_start)?,
            created_at: optional_instant("created_at", &self.created_at)?.unwrap_or(now),
            venue_id: self.venue_id.clone().filter(|v| !v.is_empty()),
            image_embedding: self.image_embedding.clone(),
        };
        offer.validate()?;
        Ok(offer)
    }

    /// The JSON form of an offer.
    pub fn of(o: &Offer) -> OfferBody {
        let text = |t: Option<Timestamp>| t.map(|t| t.to_string());
        OfferBody {
            id: o.id.clone(),
            item_id: o.item_id.clone(),
            title: o.title.clone(),
            description: o.description.clone(),
            artist: o.artist.clone(),
            subcategory: o.subcategory.canonical().to_owned(),
            book_macro_section: o.book_macro_section.map(|g| g.canonical().to_owned()),
            music_genre: o.music_genre.map(|g| g.canonical().to_owned()),
            show_type: o.show_type.map(|g| g.canonical().to_owned()),
            movie_genre: o.movie_genre.map(|g| g.canonical().to_owned()),
            price_cents: o.price_cents,
            duo: o.duo,
            stock: o.stock,
            bookable_from: text(o.bookable_from),
            bookable_until: text(o.bookable_until),
            event_start: text(o.event_start),
            created_at: Some(o.created_at.to_string()),
            venue_id: o.venue_id.clone(),
            image_embedding: None,
        }
    }
}

impl UserBody {
    /// The domain user (validated).
    pub fn to_domain(&self) -> Result<User, ApiError> {
        let user = User {
            id: self.id.clone(),
            birth_date: passeur_domain::parse_date(&self.birth_date)
                .map_err(|r| ApiError::invalid("birth_date", format!("birth_date: {r}")))?,
            department: self.department.clone(),
            home: location(("home_latitude", "home_longitude"), self.home_latitude, self.home_longitude)?,
            credit_cents: self.credit_cents,
        };
        user.validate()?;
        Ok(user)
    }

    /// The JSON form of a user.
    pub fn of(u: &User) -> UserBody {
        UserBody {
            id: u.id.clone(),
            birth_date: u.birth_date.format("%Y-%m-%d").to_string(),
            department: u.department.clone(),
            home_latitude: u.home.map(|p| p.lat),
            home_longitude: u.home.map(|p| p.lon),
            credit_cents: u.credit_cents,
        }
    }
}

/// What an event needs from the live state to become an interaction.
pub struct EventDefaults {
    /// Now.
    pub now: Timestamp,
    /// A fresh id, when the body has none.
    pub fresh_id: String,
    /// The offer's price, for a booking without an amount.
    pub price_cents: Option<i64>,
}

impl EventBody {
    /// The domain interaction (validated).
    pub fn to_domain(&self, defaults: EventDefaults) -> Result<Interaction, ApiError> {
        let at = optional_instant("at", &self.at)?.unwrap_or(defaults.now);
        let id = self.id.clone().unwrap_or(defaults.fresh_id);
        let refuse = |field: &str, what: &str| {
            ApiError::invalid(field, format!("{field} applies to {what} only, not to a {}", self.kind))
        };
        if self.kind != "booking" && (self.amount_cents.is_some() || self.quantity.is_some()) {
            return Err(refuse(if self.amount_cents.is_some() { "amount_cents" } else { "quantity" }, "bookings"));
        }
        if self.kind != "cancellation" && self.booking_id.is_some() {
            return Err(refuse("booking_id", "cancellations"));
        }
        let kind = match self.kind.as_str() {
            "consultation" => InteractionKind::Consultation,
            "favourite" => InteractionKind::Favourite,
            "booking" => {
                let quantity = self.quantity.unwrap_or(1);
                let amount_cents = match (self.amount_cents, defaults.price_cents) {
                    (Some(a), _) => a,
                    (None, Some(price)) => price * i64::from(quantity),
                    (None, None) => return Err(ApiError::invalid("amount_cents", "is required: the offer is unknown")),
                };
                InteractionKind::Booking { amount_cents, quantity }
            }
            "cancellation" => InteractionKind::Cancellation {
                booking_id: self
                    .booking_id
                    .clone()
                    .ok_or_else(|| ApiError::invalid("booking_id", "is required for a cancellation"))?,
            },
            other => {
                return Err(ApiError::invalid(
                    "kind",
                    format!("unknown kind {other:?} (consultation, favourite, booking or cancellation)"),
                ));
            }
        };
        let event = Interaction { id, user_id: self.user_id.clone(), offer_id: self.offer_id.clone(), at, kind };
        event.validate()?;
        Ok(event)
    }
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// User.
    pub user_id: String,
    /// Offer.
    pub offer_id: String,
    /// When.
    pub at: String,
    /// Bookings: price paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    /// Bookings: units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// Cancellations: the booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
}

impl EventView {
    /// The JSON form of a stored interaction.
    pub fn of(i: &Interaction) -> EventView {
        let (mut amount_cents, mut quantity, mut booking_id) = (None, None, None);
        match &i.kind {
            InteractionKind::Booking { amount_cents: a, quantity: q } => {
                amount_cents = Some(*a);
                quantity = Some(*q);
            }
            InteractionKind::Cancellation { booking_id: b } => booking_id = Some(b.clone()),
            _ => {}
        }
        EventView {
            id: i.id.clone(),
            kind: i.kind.code().to_owned(),
            user_id: i.user_id.clone(),
            offer_id: i.offer_id.clone(),
            at: i.at.to_string(),
            amount_cents,
            quantity,
            booking_id,
        }
    }
}

/// What an accepted event did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAck {
    /// The event's id (the one sent, or the one made).
    pub id: String,
    /// False when an event with this id was already recorded (a retry): nothing changed.
    pub recorded: bool,
    /// The user's remaining credit after it, in cents.
    pub credit_cents: i64,
}
