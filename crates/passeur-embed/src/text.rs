//! What text of an offer is embedded, and its cache key.

use passeur_domain::Offer;
use sha2::{Digest, Sha256};

/// The text embedded for an offer, by this template (empty parts are left out):
///
/// ```text
/// {title}. {artist}. {subcategory label} — {genre label}. {description}
/// ```
///
/// where the genre is the book macro-section, music genre, show type or movie
/// genre, whichever the offer has.
pub fn offer_text(offer: &Offer) -> String {
    let genre = offer
        .book_macro_section
        .map(|g| g.label().to_owned())
        .or(offer.music_genre.map(|g| g.label().to_owned()))
        .or(offer.show_type.map(|g| g.label().to_owned()))
        .or(offer.movie_genre.map(|g| g.label().to_owned()));
    let mut parts: Vec<String> = vec![offer.title.trim().to_owned()];
    if let Some(artist) = offer.artist.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        parts.push(artist.to_owned());
    }
    parts.push(match genre {
        Some(g) => format!("{} — {g}", offer.subcategory.label()),
        None => offer.subcategory.label().to_owned(),
    });
    if !offer.description.trim().is_empty() {
        parts.push(offer.description.trim().to_owned());
    }
    parts.join(". ")
}

/// The cache key of a text embedded by a model: hex SHA-256 of the model id and the text.
pub fn text_key(model_id: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(model_id.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
