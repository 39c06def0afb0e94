//! Records read back from a row, written once for both backends: each
//! backend's row type gives its cells ([`Cells`]), these decoders build the
//! records and name what is corrupt.

use crate::error::{Result, StoreError};
use passeur_domain::{
    BookSectionId, GeoPoint, Interaction, InteractionKind, MovieGenreId, MusicGenreId, Offer, ShowTypeId,
    SubcategoryId, Timestamp, User, Venue, VenueTypeId,
};

/// The columns the decoders below read, in their order, as both backends name them.
pub(crate) const VENUE_COLUMNS: &str = "id, name, venue_type, latitude, longitude, city, department, partner_id";
pub(crate) const OFFER_COLUMNS: &str = "id, item_id, title, description, artist, subcategory, book_macro_section, \
     music_genre, show_type, movie_genre, price_cents, duo, stock, bookable_from, bookable_until, event_start, \
     created_at, venue_id, image_embedding";
pub(crate) const USER_COLUMNS: &str = "id, birth_date, department, home_latitude, home_longitude, credit_cents";
pub(crate) const INTERACTION_COLUMNS: &str = "id, kind, user_id, offer_id, at, amount_cents, quantity, booking_id, \
     call_id, position, model_version, propensity, prefix_propensity";

/// One stored row's cells by position, typed as the schema stores them.
pub(crate) trait Cells {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn opt_real(&self, i: usize) -> Result<Option<f64>>;
    fn flag(&self, i: usize) -> Result<bool>;
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>>;
}

impl Cells for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.get(i)?)
    }
    fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        Ok(self.get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.get(i)?)
    }
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.get(i)?)
    }
}

impl Cells for postgres::Row {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(i)?)
    }
}

pub(crate) fn corrupt(table: &'static str, id: &str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt { table, id: id.to_owned(), reason: reason.to_string() }
}

fn point(table: &'static str, id: &str, lat: Option<f64>, lon: Option<f64>) -> Result<Option<GeoPoint>> {
    match (lat, lon) {
        (Some(lat), Some(lon)) => GeoPoint::new(lat, lon).map(Some).map_err(|e| corrupt(table, id, e)),
        (None, None) => Ok(None),
        _ => Err(corrupt(table, id, "only one of latitude and longitude is set")),
    }
}

fn optional_code<T>(
    id: &str,
    value: Option<String>,
    parse: impl Fn(&str) -> passeur_domain::Result<T>,
) -> Result<Option<T>> {
    value.map(|v| parse(&v).map_err(|e| corrupt("offers", id, e))).transpose()
}

/// A vector as stored: little-endian `f32`s.
pub(crate) fn embedding_to_blob(embedding: &[f32]) -> Vec<u8> {
    embedding.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn embedding_from_blob(id: &str, blob: &[u8]) -> Result<Vec<f32>> {
    if !blob.len().is_multiple_of(4) {
        return Err(corrupt("offers", id, "image embedding blob length is not a multiple of 4"));
    }
    Ok(blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// A non-negative count (stock, quantity, position) that must fit a `u32`.
fn small(table: &'static str, id: &str, field: &str, value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt(table, id, format!("{field} out of range")))
}

/// `id, name, venue_type, latitude, longitude, city, department, partner_id`.
pub(crate) fn venue(row: &impl Cells) -> Result<Venue> {
    let id = row.text(0)?;
    let venue_type = row.text(2)?;
    Ok(Venue {
        name: row.text(1)?,
        venue_type: VenueTypeId::parse(&venue_type).map_err(|e| corrupt("venues", &id, e))?,
        location: point("venues", &id, row.opt_real(3)?, row.opt_real(4)?)?,
        city: row.text(5)?,
        department: row.text(6)?,
        partner_id: row.text(7)?,
        id,
    })
}

/// `id, item_id, title, description, artist, subcategory, book_macro_section, music_genre, show_type,
/// movie_genre, price_cents, duo, stock, bookable_from, bookable_until, event_start, created_at, venue_id,
/// image_embedding`.
pub(crate) fn offer(row: &impl Cells) -> Result<Offer> {
    let id = row.text(0)?;
    let subcategory = row.text(5)?;
    Ok(Offer {
        item_id: row.text(1)?,
        title: row.text(2)?,
        description: row.text(3)?,
        artist: row.opt_text(4)?,
        subcategory: SubcategoryId::parse(&subcategory).map_err(|e| corrupt("offers", &id, e))?,
        book_macro_section: optional_code(&id, row.opt_text(6)?, BookSectionId::parse)?,
        music_genre: optional_code(&id, row.opt_text(7)?, MusicGenreId::parse)?,
        show_type: optional_code(&id, row.opt_text(8)?, ShowTypeId::parse)?,
        movie_genre: optional_code(&id, row.opt_text(9)?, MovieGenreId::parse)?,
        price_cents: row.int(10)?,
        duo: row.flag(11)?,
        stock: row.opt_int(12)?.map(|s| small("offers", &id, "stock", s)).transpose()?,
        bookable_from: row.opt_int(13)?.map(Timestamp),
        bookable_until: row.opt_int(14)?.map(Timestamp),
        event_start: row.opt_int(15)?.map(Timestamp),
        created_at: Timestamp(row.int(16)?),
        venue_id: row.opt_text(17)?,
        image_embedding: row.opt_blob(18)?.map(|b| embedding_from_blob(&id, &b)).transpose()?,
        id,
    })
}

/// `id, birth_date, department, home_latitude, home_longitude, credit_cents`.
pub(crate) fn user(row: &impl Cells) -> Result<User> {
    let id = row.text(0)?;
    let birth = row.text(1)?;
    Ok(User {
        birth_date: passeur_domain::parse_date(&birth).map_err(|e| corrupt("users", &id, e))?,
        department: row.text(2)?,
        home: point("users", &id, row.opt_real(3)?, row.opt_real(4)?)?,
        credit_cents: row.int(5)?,
        id,
    })
}

/// `id, kind, user_id, offer_id, at, amount_cents, quantity, booking_id, call_id, position,
/// model_version, propensity, prefix_propensity`.
pub(crate) fn interaction(row: &impl Cells) -> Result<Interaction> {
    let id = row.text(0)?;
    let kind = row.text(1)?;
    let missing = |field: &str| corrupt("interactions", &id, format!("{kind} without {field}"));
    let count = |i: usize, field: &str| -> Result<u32> {
        small("interactions", &id, field, row.opt_int(i)?.ok_or_else(|| missing(field))?)
    };
    let kind = match kind.as_str() {
        "consultation" => InteractionKind::Consultation,
        "favourite" => InteractionKind::Favourite,
        "booking" => InteractionKind::Booking {
            amount_cents: row.opt_int(5)?.ok_or_else(|| missing("amount_cents"))?,
            quantity: count(6, "quantity")?,
        },
        "cancellation" => {
            InteractionKind::Cancellation { booking_id: row.opt_text(7)?.ok_or_else(|| missing("booking_id"))? }
        }
        "impression" => InteractionKind::Impression {
            call_id: row.opt_text(8)?.ok_or_else(|| missing("call_id"))?,
            position: count(9, "position")?,
            model_version: row.opt_text(10)?.ok_or_else(|| missing("model_version"))?,
            propensity: row.opt_real(11)?.ok_or_else(|| missing("propensity"))?,
            prefix_propensity: row.opt_real(12)?,
        },
        other => return Err(corrupt("interactions", &id, format!("unknown kind {other:?}"))),
    };
    Ok(Interaction { user_id: row.text(2)?, offer_id: row.text(3)?, at: Timestamp(row.int(4)?), kind, id })
}
