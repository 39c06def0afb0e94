//! What a user has booked, per criterion, and the points each booking earns.

use crate::rules::{DiversificationRules, FirstBooking};
use passeur_domain::{Format, Offer, Venue};
use std::fmt;

/// Sentinel for "no value" in [`OfferTraits`].
pub const NONE: u8 = u8::MAX;

/// What the score looks at in an offer, packed in 12 bytes. Build it once per
/// offer with [`OfferTraits::of`]; venues are dense indices chosen by the caller
/// ([`OfferTraits::DIGITAL_VENUE`] for offers without a physical venue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OfferTraits {
    /// Venue index; [`OfferTraits::DIGITAL_VENUE`] for the shared digital pseudo-venue.
    pub venue: u32,
    /// Category index.
    pub category: u8,
    /// Subcategory index.
    pub subcategory: u8,
    /// Format: 0 physical, 1 digital, 2 event.
    pub format: u8,
    /// Venue type index.
    pub venue_type: u8,
    /// Genre-like values by [`crate::ExtraKind`] index, [`NONE`] when absent.
    pub extra: [u8; 4],
}

impl OfferTraits {
    /// The one venue index that all digital offers share.
    pub const DIGITAL_VENUE: u32 = u32::MAX;

    /// The traits of an offer. `venue` is the offer's venue (if any) and
    /// `venue_index` its dense index. An offer used online, or whose venue
    /// has no physical location, goes to the digital pseudo-venue.
    pub fn of(offer: &Offer, venue: Option<(&Venue, u32)>) -> OfferTraits {
        let digital = passeur_domain::VenueTypeId::parse("DIGITAL").expect("DIGITAL is a venue type");
        let (venue, venue_type) = match venue {
            Some((v, index)) if v.location.is_some() && !offer.is_online() => (index, v.venue_type),
            _ => (Self::DIGITAL_VENUE, digital),
        };
        let opt = |v: Option<u16>| v.map_or(NONE, |x| x as u8);
        OfferTraits {
            venue,
            category: offer.category().0 as u8,
            subcategory: offer.subcategory.0 as u8,
            format: match offer.format() {
                Format::Physical => 0,
                Format::Digital => 1,
                Format::Event => 2,
            },
            venue_type: venue_type.0 as u8,
            extra: [
                opt(offer.book_macro_section.map(|x| x.0)),
                opt(offer.music_genre.map(|x| x.0)),
                opt(offer.show_type.map(|x| x.0)),
                opt(offer.movie_genre.map(|x| x.0)),
            ],
        }
    }
}

/// One criterion of the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criterion {
    /// The user's first booking.
    First = 0,
    /// A new category.
    Category = 1,
    /// A new subcategory.
    Subcategory = 2,
    /// A new venue.
    Venue = 3,
    /// A new venue type.
    VenueType = 4,
    /// A new format.
    Format = 5,
    /// A new book macro-section.
    BookMacroSection = 6,
    /// A new music genre.
    MusicGenre = 7,
    /// A new show type.
    ShowType = 8,
    /// A new movie genre.
    MovieGenre = 9,
    /// The venue, as extra criterion of an offer without genre (weighted variant).
    ExtraVenue = 10,
}

impl Criterion {
    /// All criteria, in order.
    pub const ALL: [Criterion; 11] = [
        Criterion::First,
        Criterion::Category,
        Criterion::Subcategory,
        Criterion::Venue,
        Criterion::VenueType,
        Criterion::Format,
        Criterion::BookMacroSection,
        Criterion::MusicGenre,
        Criterion::ShowType,
        Criterion::MovieGenre,
        Criterion::ExtraVenue,
    ];

    /// Its name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::First => "first_booking",
            Criterion::Category => "category",
            Criterion::Subcategory => "subcategory",
            Criterion::Venue => "venue",
            Criterion::VenueType => "venue_type",
            Criterion::Format => "format",
            Criterion::BookMacroSection => "book_macro_section",
            Criterion::MusicGenre => "music_genre",
            Criterion::ShowType => "show_type",
            Criterion::MovieGenre => "movie_genre",
            Criterion::ExtraVenue => "extra_venue",
        }
    }

    fn extra(kind: usize) -> Criterion {
        [Criterion::BookMacroSection, Criterion::MusicGenre, Criterion::ShowType, Criterion::MovieGenre][kind]
    }
}

/// A set of criteria (those that scored for a booking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Criteria(pub u16);

impl Criteria {
    /// Whether a criterion is in the set.
    pub fn contains(self, c: Criterion) -> bool {
        self.0 & (1 << c as u16) != 0
    }

    fn insert(&mut self, c: Criterion) {
        self.0 |= 1 << c as u16;
    }

    /// The criteria in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Criterion> {
        Criterion::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl fmt::Display for Criteria {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Criterion::name).collect();
        f.write_str(&names.join("+"))
    }
}

/// Points and the criteria that earned them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Points {
    /// Points.
    pub points: u32,
    /// Which criteria scored.
    pub criteria: Criteria,
}

/// What a user has booked, per criterion: the state the score needs, without history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookedSets {
    bookings: u32,
    categories: u32,
    subcategories: u128,
    formats: u8,
    venue_types: u32,
    extra: [u64; 4],
    venue_filter: u64,
    venues: Vec<u32>,
}

impl BookedSets {
    /// Forgets everything (keeps the allocation).
    pub fn clear(&mut self) {
        self.bookings = 0;
        self.categories = 0;
        self.subcategories = 0;
        self.formats = 0;
        self.venue_types = 0;
        self.extra = [0; 4];
        self.venue_filter = 0;
        self.venues.clear();
    }

    /// Non-cancelled bookings counted.
    pub fn bookings(&self) -> u32 {
        self.bookings
    }

    #[inline]
    fn has_venue(&self, venue: u32) -> bool {
        let bit = 1u64 << (venue.wrapping_mul(0x9E37_79B9) >> 26);
        self.venue_filter & bit != 0 && self.venues.contains(&venue)
    }

    /// The points booking an offer with these traits would earn now.
    #[inline]
    pub fn points(&self, rules: &DiversificationRules, t: &OfferTraits) -> Points {
        let mut p = Points::default();
        if self.bookings == 0 && rules.first_booking == FirstBooking::Fixed {
            p.points = rules.first_booking_points;
            p.criteria.insert(Criterion::First);
            return p;
        }
        if self.bookings == 0 {
            p.criteria.insert(Criterion::First);
        }
        let mut add = |new: bool, points: u32, c: Criterion| {
            if new && points > 0 {
                p.points += points;
                p.criteria.insert(c);
            }
        };
        add(self.categories & (1 << t.category) == 0, rules.category, Criterion::Category);
        add(self.subcategories & (1u128 << t.subcategory) == 0, rules.subcategory, Criterion::Subcategory);
        add(self.formats & (1 << t.format) == 0, rules.format, Criterion::Format);
        add(self.venue_types & (1 << t.venue_type) == 0, rules.venue_type, Criterion::VenueType);
        let new_venue = !self.has_venue(t.venue);
        add(new_venue, rules.venue_by_type[t.venue_type as usize], Criterion::Venue);
        let mut has_extra = false;
        for k in 0..4 {
            let value = t.extra[k];
            if rules.extra_categories[k] & (1 << t.category) != 0 && value != NONE {
                has_extra = true;
                add(self.extra[k] & (1 << value) == 0, rules.extra_points[k], Criterion::extra(k));
            }
        }
        if !has_extra {
            add(new_venue, rules.fallback_to_venue_points, Criterion::ExtraVenue);
        }
        p
    }

    /// Records a booking of an offer with these traits.
    #[inline]
    pub fn add(&mut self, t: &OfferTraits) {
        self.bookings += 1;
        self.categories |= 1 << t.category;
        self.subcategories |= 1u128 << t.subcategory;
        self.formats |= 1 << t.format;
        self.venue_types |= 1 << t.venue_type;
        for k in 0..4 {
            if t.extra[k] != NONE {
                self.extra[k] |= 1 << t.extra[k];
            }
        }
        if !self.has_venue(t.venue) {
            self.venue_filter |= 1u64 << (t.venue.wrapping_mul(0x9E37_79B9) >> 26);
            self.venues.push(t.venue);
        }
    }
}

/// A booking in a user's history, with the points it earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoredBooking {
    /// The booking's id.
    pub booking_id: String,
    /// When it was made (seconds).
    pub at: i64,
    /// The offer's traits.
    pub traits: OfferTraits,
    /// What it earned, given the bookings before it.
    pub points: Points,
}

/// A user's diversification state: non-cancelled bookings in (time, id)
/// order with their points, and the sets that make Δdiv exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    sets: BookedSets,
    history: Vec<ScoredBooking>,
    score: u32,
}

impl UserProfile {
    /// An empty profile (no booking yet: score 0).
    pub fn new() -> UserProfile {
        UserProfile::default()
    }

    /// Rebuilds a profile from bookings in any order: the reference that
    /// incremental updates must equal.
    pub fn from_bookings(
        rules: &DiversificationRules,
        bookings: impl IntoIterator<Item = (String, i64, OfferTraits)>,
    ) -> UserProfile {
        let mut all: Vec<(String, i64, OfferTraits)> = bookings.into_iter().collect();
        all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let mut profile = UserProfile::new();
        for (id, at, traits) in all {
            profile.push(rules, id, at, traits);
        }
        profile
    }

    fn push(&mut self, rules: &DiversificationRules, booking_id: String, at: i64, traits: OfferTraits) {
        let points = self.sets.points(rules, &traits);
        self.sets.add(&traits);
        self.score += points.points;
        self.history.push(ScoredBooking { booking_id, at, traits, points });
    }

    fn rebuild(&mut self, rules: &DiversificationRules) {
        let history = std::mem::take(&mut self.history);
        self.sets.clear();
        self.score = 0;
        for b in history {
            self.push(rules, b.booking_id, b.at, b.traits);
        }
    }

    /// The score: the sum of the points of the non-cancelled bookings.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// Non-cancelled bookings, in (time, id) order, with their points.
    pub fn history(&self) -> &[ScoredBooking] {
        &self.history
    }

    /// What the user has booked, per criterion.
    pub fn sets(&self) -> &BookedSets {
        &self.sets
    }

    /// Δdiv: the exact points that booking this offer now would earn.
    #[inline]
    pub fn delta_div(&self, rules: &DiversificationRules, offer: &OfferTraits) -> u32 {
        self.sets.points(rules, offer).points
    }

    /// Δdiv with the criteria that would score.
    pub fn explain(&self, rules: &DiversificationRules, offer: &OfferTraits) -> Points {
        self.sets.points(rules, offer)
    }

    /// Δdiv of each candidate into `out` (cleared first), without allocating
    /// once `out` has the capacity.
    pub fn delta_div_many(&self, rules: &DiversificationRules, candidates: &[OfferTraits], out: &mut Vec<u32>) {
        out.clear();
        out.extend(candidates.iter().map(|c| self.sets.points(rules, c).points));
    }

    /// Records a booking; returns its points. A booking later than every
    /// other is O(1); one that lands earlier re-scores the bookings after it.
    pub fn book(&mut self, rules: &DiversificationRules, booking_id: &str, at: i64, traits: OfferTraits) -> Points {
        let in_order = self.history.last().is_none_or(|last| (last.at, last.booking_id.as_str()) <= (at, booking_id));
        if in_order {
            self.push(rules, booking_id.to_owned(), at, traits);
            return self.history.last().expect("just pushed").points;
        }
        let position = self.history.partition_point(|b| (b.at, b.booking_id.as_str()) <= (at, booking_id));
        let points = Points::default();
        self.history.insert(position, ScoredBooking { booking_id: booking_id.to_owned(), at, traits, points });
        self.rebuild(rules);
        self.history[position].points
    }

    /// Cancels a booking: it counts as if it never happened, and the points
    /// of the bookings after it are recomputed. Returns false if unknown.
    pub fn cancel(&mut self, rules: &DiversificationRules, booking_id: &str) -> bool {
        let Some(position) = self.history.iter().position(|b| b.booking_id == booking_id) else { return false };
        self.history.remove(position);
        self.rebuild(rules);
        true
    }
}
