//! passeur's domain: the real pass Culture offer taxonomy, and the venues,
//! offers, users, interactions and credit rules that everything else handles.
//!
//! This crate does no I/O: the taxonomy's data files are embedded at compile
//! time and validated on first use.
//!
//! ```
//! use passeur_domain::{Format, SubcategoryId, CreditRules};
//!
//! let concert = SubcategoryId::parse("CONCERT").unwrap();
//! assert_eq!(concert.category().canonical(), "MUSIQUE_LIVE");
//! assert_eq!(concert.format(), Format::Event);
//! assert_eq!(CreditRules::default().grant_at(18), 30_000);
//! ```

mod credit;
mod error;
mod geo;
mod model;
pub mod taxonomy;
mod time;

pub use credit::{CreditAccount, CreditRules, Grant};
pub use error::{DomainError, Result};
pub use geo::GeoPoint;
pub use model::{Interaction, InteractionKind, Offer, User, Venue, validate_id};
pub use taxonomy::{
    BookSectionId, CategoryId, Format, GenreKind, MovieGenreId, MusicGenreId, Platform, SearchGroupId, ShowTypeId,
    SubcategoryId, Taxonomy, VenueTypeId,
};
pub use time::{Timestamp, age_on, parse_date};
