//! The diversification score: pass Culture's measure of how a young person's
//! cultural practices diversify, and the Δdiv that the ranking stage adds to
//! p(booking).
//!
//! - [`DiversificationRules`]: the rules as data (TOML), with the deck's as
//!   the default and the platform's weighted variant built in; the module
//!   [`rules`] documents every choice the deck leaves open.
//! - [`UserProfile`]: one user's non-cancelled bookings with the points each
//!   earned and the criteria that scored; [`UserProfile::delta_div`] is exact.
//! - [`score_bookings`]: every booking of every user at once, in parallel.
//!
//! The deck's worked example: four bookings, 1 + 2 + 5 + 0 = 8 points.
//!
//! ```
//! use passeur_diversity::{DiversificationRules, OfferTraits, UserProfile};
//! let rules = DiversificationRules::deck();
//! let t = passeur_domain::Taxonomy::embedded();
//! let traits = |sub: &str, venue: u32, venue_type: &str| OfferTraits {
//!     venue,
//!     category: passeur_domain::SubcategoryId::parse(sub).unwrap().category().0 as u8,
//!     subcategory: t.subcategories.find(sub).unwrap() as u8,
//!     format: if sub == "CONCERT" { 2 } else { 0 },
//!     venue_type: t.venue_types.find(venue_type).unwrap() as u8,
//!     extra: [passeur_diversity::NONE; 4],
//! };
//! let mut user = UserProfile::new();
//! assert_eq!(user.book(&rules, "b1", 1, traits("LIVRE_PAPIER", 1, "DISTRIBUTION_STORE")).points, 1);
//! let concert = traits("CONCERT", 2, "CONCERT_HALL");
//! assert_eq!(user.delta_div(&rules, &concert), 4); // category, subcategory, venue, format
//! ```

mod batch;
mod error;
mod profile;
pub mod rules;

pub use batch::{BatchScores, BookingTable, score_bookings};
pub use error::{DiversityError, Result};
pub use profile::{BookedSets, Criteria, Criterion, NONE, OfferTraits, Points, ScoredBooking, UserProfile};
pub use rules::{DiversificationRules, ExtraKind, FirstBooking};
