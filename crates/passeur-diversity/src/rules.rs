//! Diversification rules as data.
//!
//! # Choices the deck leaves open
//!
//! - **Digital offers** (offers used online, or whose venue has no physical
//!   location) all share one pseudo-venue of type `DIGITAL`: a user's first
//!   digital offer scores a new venue once, later ones do not.
//! - **An online offer published at a physical venue** (a `LIVESTREAM_MUSIQUE`
//!   of a concert hall, an online course of a conservatory) is digital too:
//!   it is scored at the digital pseudo-venue (a new venue of type `DIGITAL`,
//!   +2 under the deck's rules), not at the hall (+1). The young person
//!   watched it online and did not go to the place, and the deck's +1 is for
//!   entering a new concert hall; the hall of a livestream is its organiser.
//!   The subcategory's platform decides (`ONLINE` in pass Culture's
//!   taxonomy), never the venue.
//! - **A missing genre is not a new genre**: a book without macro-section
//!   earns no macro-section point, and does not make the next one less new.
//! - **Ties**: bookings with the same timestamp are taken in booking-id order.
//! - **Cancellations**: a cancelled booking counts as if it never happened;
//!   the points of the bookings after it are recomputed (a cancelled first
//!   booking makes the next one the first).
//! - **The extra criterion's fallback** (weighted variant): when an offer has
//!   no applicable genre-like value, the extra criterion is its venue, new
//!   when the venue is new to the user.
//! - **Points are counted on the venue**, not on the partner: two venues of
//!   one partner are two venues.

use crate::error::{DiversityError, Result};
use passeur_domain::{CategoryId, Taxonomy, VenueTypeId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How the first booking of a user is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstBooking {
    /// A fixed number of points and nothing else (the deck: 1).
    Fixed,
    /// Like any other booking: every criterion is new.
    Criteria,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    name: String,
    first_booking: FirstBooking,
    #[serde(default)]
    first_booking_points: u32,
    points: PointsFile,
    venue: VenueFile,
    #[serde(default)]
    extra: ExtraFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsFile {
    category: u32,
    subcategory: u32,
    format: u32,
    #[serde(default)]
    venue_type: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueFile {
    default: u32,
    #[serde(default)]
    by_type: BTreeMap<String, u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraFile {
    #[serde(default)]
    fallback_to_venue_points: u32,
    #[serde(default)]
    criteria: Vec<ExtraCriterionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraCriterionFile {
    kind: String,
    points: u32,
    categories: Vec<String>,
}

/// A genre-like criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtraKind {
    /// Book macro-section.
    BookMacroSection = 0,
    /// Music genre.
    MusicGenre = 1,
    /// Show type.
    ShowType = 2,
    /// Movie genre.
    MovieGenre = 3,
}

impl ExtraKind {
    /// All kinds, by index.
    pub const ALL: [ExtraKind; 4] =
        [ExtraKind::BookMacroSection, ExtraKind::MusicGenre, ExtraKind::ShowType, ExtraKind::MovieGenre];

    fn parse(text: &str) -> Option<ExtraKind> {
        match text {
            "book_macro_section" => Some(ExtraKind::BookMacroSection),
            "music_genre" => Some(ExtraKind::MusicGenre),
            "show_type" => Some(ExtraKind::ShowType),
            "movie_genre" => Some(ExtraKind::MovieGenre),
            _ => None,
        }
    }
}

/// The rules of the diversification score, validated and compiled for fast scoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiversificationRules {
    /// The rule set's name.
    pub name: String,
    /// How the first booking is scored.
    pub first_booking: FirstBooking,
    /// Points of the first booking when `first_booking` is `Fixed`.
    pub first_booking_points: u32,
    /// A new category.
    pub category: u32,
    /// A new subcategory.
    pub subcategory: u32,
    /// A new format.
    pub format: u32,
    /// A new venue type.
    pub venue_type: u32,
    /// A new venue, by venue type index.
    pub venue_by_type: Vec<u32>,
    /// Points of each extra kind (0 when not scored).
    pub extra_points: [u32; 4],
    /// For each extra kind, a bit mask of the categories it applies to (bit = category index).
    pub extra_categories: [u32; 4],
    /// Points of the venue as extra criterion, for offers with no genre-like value (0: none).
    pub fallback_to_venue_points: u32,
}

impl DiversificationRules {
    /// The deck's rules (the default).
    pub fn deck() -> DiversificationRules {
        Self::from_toml(include_str!("../rules/deck-2023.toml"), "built-in deck-2023")
            .expect("built-in rules are valid")
    }

    /// The platform's later weighted variant.
    pub fn weighted() -> DiversificationRules {
        Self::from_toml(include_str!("../rules/weighted.toml"), "built-in weighted").expect("built-in rules are valid")
    }

    /// A built-in rule set by name: `deck-2023` (or `deck`) or `weighted`.
    pub fn builtin(name: &str) -> Option<DiversificationRules> {
        match name {
            "deck" | "deck-2023" => Some(Self::deck()),
            "weighted" => Some(Self::weighted()),
            _ => None,
        }
    }

    /// Loads a rules file.
    pub fn load(path: &Path) -> Result<DiversificationRules> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DiversityError::Io { path: path.display().to_string(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates rules; `source_name` names them in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<DiversificationRules> {
        let src = || source_name.to_owned();
        let file: RulesFile = toml::from_str(text).map_err(|e| DiversityError::RulesSyntax {
            source_name: src(),
            message: e.to_string().trim().to_owned(),
        })?;
        let taxonomy = Taxonomy::embedded();
        let mut venue_by_type = vec![file.venue.default; taxonomy.venue_types.len()];
        for (code, points) in &file.venue.by_type {
            let t = VenueTypeId::parse(code)
                .map_err(|_| DiversityError::UnknownVenueType { source_name: src(), value: code.clone() })?;
            venue_by_type[t.index()] = *points;
        }
        let mut extra_points = [0; 4];
        let mut extra_categories = [0u32; 4];
        for (i, c) in file.extra.criteria.iter().enumerate() {
            let kind = ExtraKind::parse(&c.kind)
                .ok_or_else(|| DiversityError::UnknownCriterion { source_name: src(), value: c.kind.clone() })?;
            if extra_categories[kind as usize] != 0 {
                return Err(DiversityError::InvalidRules {
                    source_name: src(),
                    reason: format!("extra.criteria[{i}]: {} is listed twice", c.kind),
                });
            }
            for code in &c.categories {
                let category = CategoryId::parse(code).map_err(|_| DiversityError::UnknownCategory {
                    source_name: src(),
                    field: format!("extra.criteria[{i}].categories"),
                    value: code.clone(),
                })?;
                extra_categories[kind as usize] |= 1 << category.index();
            }
            if c.categories.is_empty() {
                return Err(DiversityError::InvalidRules {
                    source_name: src(),
                    reason: format!("extra.criteria[{i}]: {} applies to no category", c.kind),
                });
            }
            extra_points[kind as usize] = c.points;
        }
        if file.first_booking == FirstBooking::Fixed && file.first_booking_points == 0 {
            return Err(DiversityError::InvalidRules {
                source_name: src(),
                reason: "first_booking = \"fixed\" needs first_booking_points > 0".into(),
            });
        }
        Ok(DiversificationRules {
            name: file.name,
            first_booking: file.first_booking,
            first_booking_points: file.first_booking_points,
            category: file.points.category,
            subcategory: file.points.subcategory,
            format: file.points.format,
            venue_type: file.points.venue_type,
            venue_by_type,
            extra_points,
            extra_categories,
            fallback_to_venue_points: file.extra.fallback_to_venue_points,
        })
    }
}

impl Default for DiversificationRules {
    fn default() -> Self {
        Self::deck()
    }
}
