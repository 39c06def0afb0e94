//! What the ranking models see of a (user, offer, context): one fixed layout
//! of named features, computed by the same code when learning from impression
//! logs and when serving.

use crate::config::SourceConfig;
use chrono::{Datelike, NaiveDate, Timelike};
use passeur_diversity::{Criterion, DiversificationRules, OfferTraits, Points, UserProfile};
use passeur_domain::{CategoryId, GeoPoint, Offer, SubcategoryId, Timestamp, Venue};
use passeur_index::IndexedOffer;
use passeur_retrieval::{Event, EventKind};
use rustc_hash::{FxHashMap, FxHashSet};

const DAY: i64 = Timestamp::DAY;

/// Offset of the platform's local time (Europe/Paris, standard time) from UTC, for hour and weekday.
pub const LOCAL_OFFSET_S: i64 = 3_600;

/// What ranking needs of an offer, packed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferFacts {
    /// Item index (offers of one product share it).
    pub item: u32,
    /// Category index.
    pub category: u8,
    /// Subcategory index.
    pub subcategory: u8,
    /// Price, in cents.
    pub price_cents: i64,
    /// Event start (seconds), for events.
    pub event_start: Option<i64>,
    /// Creation instant (seconds).
    pub created_at: i64,
    /// Venue location, for offers used in place.
    pub location: Option<GeoPoint>,
    /// Used online (no trip needed).
    pub digital: bool,
    /// Venue department index in [`OfferTable::departments`] (0: unknown or digital).
    pub department: u32,
}

/// Every offer the ranking stage can place, by dense index. The order is the
/// caller's (the retrieval catalogue's, so that item vectors line up).
#[derive(Debug, Clone, Default)]
pub struct OfferTable {
    /// Offer ids.
    pub ids: Vec<String>,
    /// Item ids, by item index.
    pub item_ids: Vec<String>,
    /// Facts, by offer.
    pub facts: Vec<OfferFacts>,
    /// What the diversification score reads, by offer.
    pub traits: Vec<OfferTraits>,
    /// The filter columns (vectors left empty), by offer: what user filters are checked against.
    pub columns: Vec<IndexedOffer>,
    /// Department names; index 0 is "unknown".
    pub departments: Vec<String>,
    index: FxHashMap<String, u32>,
    item_index: FxHashMap<String, u32>,
    department_index: FxHashMap<String, u32>,
    venue_index: FxHashMap<String, u32>,
}

impl OfferTable {
    /// An empty table.
    pub fn new() -> OfferTable {
        OfferTable { departments: vec![String::new()], ..OfferTable::default() }
    }

    /// Appends an offer (or replaces it, when the id is known) at its venue; returns its index.
    pub fn push(&mut self, offer: &Offer, venue: Option<&Venue>) -> u32 {
        let next_item = self.item_ids.len() as u32;
        let item = *self.item_index.entry(offer.item_id.clone()).or_insert(next_item);
        if item == next_item {
            self.item_ids.push(offer.item_id.clone());
        }
        let department = match venue.map(|v| v.department.as_str()).filter(|d| !d.is_empty()) {
            Some(d) => {
                let next = self.departments.len() as u32;
                let i = *self.department_index.entry(d.to_owned()).or_insert(next);
                if i == next {
                    self.departments.push(d.to_owned());
                }
                i
            }
            None => 0,
        };
        let venue_pair = venue.map(|v| {
            let next = self.venue_index.len() as u32;
            (v, *self.venue_index.entry(v.id.clone()).or_insert(next))
        });
        let columns = IndexedOffer::of(offer, venue, Vec::new(), 0);
        let facts = OfferFacts {
            item,
            category: offer.category().index() as u8,
            subcategory: offer.subcategory.index() as u8,
            price_cents: offer.price_cents,
            event_start: offer.event_start.map(|t| t.0),
            created_at: offer.created_at.0,
            location: if columns.digital { None } else { columns.location },
            digital: columns.digital,
            department,
        };
        let traits = OfferTraits::of(offer, venue_pair);
        if let Some(&i) = self.index.get(&offer.id) {
            let i = i as usize;
            self.facts[i] = facts;
            self.traits[i] = traits;
            self.columns[i] = columns;
            return i as u32;
        }
        let i = self.ids.len() as u32;
        self.ids.push(offer.id.clone());
        self.facts.push(facts);
        self.traits.push(traits);
        self.columns.push(columns);
        self.index.insert(offer.id.clone(), i);
        i
    }

    /// The index of an offer id.
    pub fn position(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The index of a department name (0 when unknown).
    pub fn department(&self, name: &str) -> u32 {
        self.department_index.get(name).copied().unwrap_or(0)
    }

    /// Offers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there is no offer.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Bookings of each offer over time: the counts behind "tops", "trends" and
/// the 7/14/28-day features. Only the past of an instant is ever read.
#[derive(Debug, Clone, Default)]
pub struct Popularity {
    bookings: Vec<Vec<i64>>,
}

impl Popularity {
    /// No bookings yet for `offers` offers.
    pub fn new(offers: usize) -> Popularity {
        Popularity { bookings: vec![Vec::new(); offers] }
    }

    /// Records a booking of `offer` at `at` (any order).
    pub fn record(&mut self, offer: u32, at: i64) {
        let o = offer as usize;
        if o >= self.bookings.len() {
            self.bookings.resize(o + 1, Vec::new());
        }
        let times = &mut self.bookings[o];
        let pos = times.partition_point(|&t| t <= at);
        times.insert(pos, at);
    }

    /// Forgets one booking of `offer` at `at` (a cancellation); false when there was none.
    pub fn forget(&mut self, offer: u32, at: i64) -> bool {
        let Some(times) = self.bookings.get_mut(offer as usize) else { return false };
        match times.binary_search(&at) {
            Ok(i) => {
                times.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Bookings of `offer` in the `days` days before `now` (`now` excluded).
    pub fn count(&self, offer: u32, now: i64, days: i64) -> u32 {
        let Some(times) = self.bookings.get(offer as usize) else { return 0 };
        let from = now - days * DAY;
        (times.partition_point(|&t| t < now) - times.partition_point(|&t| t < from)) as u32
    }

    /// The ranked lists and ranks that "tops", "trends" and department tops are made of, as of `now`.
    pub fn snapshot(&self, table: &OfferTable, now: i64, config: &SourceConfig) -> Snapshot {
        let n = table.len();
        let window = |days: i64, keep: usize| -> Vec<u32> {
            let mut counted: Vec<(u32, u32)> =
                (0..n as u32).map(|o| (self.count(o, now, days), o)).filter(|(c, _)| *c > 0).collect();
            counted.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            counted.truncate(keep);
            counted.into_iter().map(|(_, o)| o).collect()
        };
        let deep = 4 * config.tops_k.max(config.trends_k).max(config.department_k).max(1);
        let tops = window(config.tops_days, usize::MAX);
        let trends = window(config.trends_days, deep);
        let mut department_tops: Vec<Vec<u32>> = vec![Vec::new(); table.departments.len()];
        for &o in &tops {
            let d = table.facts[o as usize].department as usize;
            if d > 0 && department_tops[d].len() < deep {
                department_tops[d].push(o);
            }
        }
        let mut tops = tops;
        tops.truncate(deep);
        let ranks =
            |list: &[u32]| -> FxHashMap<u32, u32> { list.iter().enumerate().map(|(r, &o)| (o, r as u32)).collect() };
        let mut department_rank = FxHashMap::default();
        for list in &department_tops {
            department_rank.extend(list.iter().enumerate().map(|(r, &o)| (o, r as u32)));
        }
        Snapshot {
            now,
            top_rank: ranks(&tops),
            trend_rank: ranks(&trends),
            department_rank,
            tops,
            trends,
            department_tops,
        }
    }
}

/// Ranked popularity lists at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The instant.
    pub now: i64,
    /// Offers by bookings over the tops window, best first.
    pub tops: Vec<u32>,
    /// Offers by bookings over the trends window, best first.
    pub trends: Vec<u32>,
    /// Each department's offers by bookings over the tops window, best first.
    pub department_tops: Vec<Vec<u32>>,
    top_rank: FxHashMap<u32, u32>,
    trend_rank: FxHashMap<u32, u32>,
    department_rank: FxHashMap<u32, u32>,
}

impl Snapshot {
    /// Rank among tops, if listed.
    pub fn top_rank(&self, offer: u32) -> Option<u32> {
        self.top_rank.get(&offer).copied()
    }

    /// Rank among trends, if listed.
    pub fn trend_rank(&self, offer: u32) -> Option<u32> {
        self.trend_rank.get(&offer).copied()
    }

    /// Rank among its department's tops, if listed.
    pub fn department_rank(&self, offer: u32) -> Option<u32> {
        self.department_rank.get(&offer).copied()
    }
}

/// A user as the ranking stage sees them at an instant, folded event by event
/// (the same fold for learning and serving).
#[derive(Debug, Clone)]
pub struct UserSnapshot {
    /// Birth date (age is taken at the request's instant).
    pub birth_date: NaiveDate,
    /// Home, when known.
    pub home: Option<GeoPoint>,
    /// Department index in the offer table's departments (0: unknown).
    pub department: u32,
    /// Remaining credit, in cents.
    pub credit_cents: i64,
    /// Consultations so far.
    pub consultations: u32,
    /// Favourites so far.
    pub favourites: u32,
    /// Bookings so far (cancelled ones included).
    pub bookings: u32,
    /// Consulted, favourited or booked offers per category.
    pub category_counts: Vec<u32>,
    /// The same per subcategory.
    pub subcategory_counts: Vec<u32>,
    /// Sum of the category counts.
    pub history: u32,
    /// Consulted, favourited or booked offers per genre-like value (book section, music genre, show
    /// type, movie genre), keyed by (kind, value).
    pub genre_counts: FxHashMap<(u8, u8), u32>,
    /// The diversification profile (non-cancelled bookings).
    pub profile: UserProfile,
    /// Offers booked and not cancelled.
    pub booked: FxHashSet<u32>,
    open: FxHashMap<u32, Vec<(String, i64)>>,
    serial: u32,
}

impl UserSnapshot {
    /// A user with no event yet.
    pub fn new(birth_date: NaiveDate, home: Option<GeoPoint>, department: u32, credit_cents: i64) -> UserSnapshot {
        UserSnapshot {
            birth_date,
            home,
            department,
            credit_cents,
            consultations: 0,
            favourites: 0,
            bookings: 0,
            category_counts: vec![0; CategoryId::all().count()],
            subcategory_counts: vec![0; SubcategoryId::all().count()],
            history: 0,
            genre_counts: FxHashMap::default(),
            profile: UserProfile::new(),
            booked: FxHashSet::default(),
            open: FxHashMap::default(),
            serial: 0,
        }
    }

    /// Folds one event in: counts, credit, diversification profile, booked offers.
    pub fn apply(&mut self, table: &OfferTable, rules: &DiversificationRules, event: &Event) {
        let o = event.offer as usize;
        let facts = &table.facts[o];
        match event.kind {
            EventKind::Consultation => self.consultations += 1,
            EventKind::Favourite => self.favourites += 1,
            EventKind::Booking => {
                self.bookings += 1;
                self.credit_cents -= event.amount;
                self.serial += 1;
                let key = format!("b{}", self.serial);
                self.profile.book(rules, &key, event.at, table.traits[o]);
                self.open.entry(event.offer).or_default().push((key, event.amount));
                self.booked.insert(event.offer);
            }
            EventKind::Cancellation => {
                self.credit_cents += event.amount;
                if let Some(keys) = self.open.get_mut(&event.offer)
                    && let Some((key, _)) = keys.pop()
                {
                    self.profile.cancel(rules, &key);
                    if keys.is_empty() {
                        self.booked.remove(&event.offer);
                    }
                }
                return;
            }
        }
        self.category_counts[facts.category as usize] += 1;
        self.subcategory_counts[facts.subcategory as usize] += 1;
        self.history += 1;
        if let Some(g) = genre_of(&table.traits[o]) {
            *self.genre_counts.entry(g).or_default() += 1;
        }
    }

    /// Age on the day of `now`.
    pub fn age(&self, now: i64) -> u8 {
        passeur_domain::age_on(self.birth_date, Timestamp(now).date()).clamp(0, 255) as u8
    }

    /// Few interactions: the platform serves such users popularity-based sources.
    pub fn is_cold(&self, config: &SourceConfig) -> bool {
        self.bookings < config.cold_bookings && self.consultations < config.cold_consultations
    }
}

/// The offer's first genre-like value, as (kind, value).
fn genre_of(t: &OfferTraits) -> Option<(u8, u8)> {
    t.extra.iter().enumerate().find(|(_, v)| **v != passeur_diversity::NONE).map(|(k, v)| (k as u8, *v))
}

/// The retrieval model's view of one request: the user's vector and a
/// reference sample of item scores that turns any score into an estimated
/// rank in the whole catalogue.
#[derive(Debug, Clone)]
pub struct RetrievalView {
    /// Reference scores, best first.
    reference: Vec<f32>,
    /// Offers the reference stands for.
    catalogue: usize,
}

impl RetrievalView {
    /// The view of a user vector against `sample` (item vectors of a seeded sample of the catalogue, `dim` each).
    pub fn new(user: &[f32], sample: &[f32], dim: usize, catalogue: usize) -> RetrievalView {
        let mut reference: Vec<f32> = sample.chunks(dim).map(|v| dot(user, v)).collect();
        reference.sort_unstable_by(|a, b| b.total_cmp(a));
        RetrievalView { reference, catalogue }
    }

    /// Estimated rank (0-based) in the catalogue of an offer scoring `score`.
    pub fn rank(&self, score: f32) -> f32 {
        if self.reference.is_empty() {
            return 0.0;
        }
        let above = self.reference.partition_point(|&s| s > score);
        above as f32 * self.catalogue as f32 / self.reference.len() as f32
    }
}

/// Dot product.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Named feature slots, in a fixed order.
pub mod slot {
    /// ln(1 + km) from home to the venue (0 when digital or unknown).
    pub const DISTANCE_LOG: usize = 0;
    /// Digital offer, or no home or venue location.
    pub const DISTANCE_UNKNOWN: usize = 1;
    /// Venue within 10 km.
    pub const WITHIN_10KM: usize = 2;
    /// Price over remaining credit, capped at 2.
    pub const PRICE_SHARE: usize = 3;
    /// Free offer.
    pub const FREE: usize = 4;
    /// Price above the remaining credit.
    pub const OVER_CREDIT: usize = 5;
    /// An event.
    pub const EVENT: usize = 6;
    /// ln(1 + days to the event) (events only).
    pub const DAYS_TO_EVENT_LOG: usize = 7;
    /// ln(1 + days since creation).
    pub const DAYS_SINCE_CREATION_LOG: usize = 8;
    /// ln(1 + bookings in the last 7 days).
    pub const BOOKINGS_7D_LOG: usize = 9;
    /// ln(1 + bookings in the last 14 days).
    pub const BOOKINGS_14D_LOG: usize = 10;
    /// ln(1 + bookings in the last 28 days).
    pub const BOOKINGS_28D_LOG: usize = 11;
    /// The two-tower score.
    pub const RETRIEVAL_SCORE: usize = 12;
    /// ln(1 + estimated retrieval rank in the catalogue).
    pub const RETRIEVAL_RANK_LOG: usize = 13;
    /// Among the retrieval source's candidates.
    pub const SRC_RETRIEVAL: usize = 14;
    /// Among the tops.
    pub const SRC_TOPS: usize = 15;
    /// Among the trends.
    pub const SRC_TRENDS: usize = 16;
    /// A new offer.
    pub const SRC_NEW: usize = 17;
    /// Among the user's department's tops.
    pub const SRC_DEPARTMENT: usize = 18;
    /// (age − 16.5) / 2.
    pub const USER_AGE: usize = 19;
    /// Remaining credit / 300 €.
    pub const USER_CREDIT: usize = 20;
    /// ln(1 + consultations).
    pub const USER_CONSULTATIONS_LOG: usize = 21;
    /// ln(1 + bookings).
    pub const USER_BOOKINGS_LOG: usize = 22;
    /// ln(1 + favourites).
    pub const USER_FAVOURITES_LOG: usize = 23;
    /// A cold user.
    pub const USER_COLD: usize = 24;
    /// Share of the user's history in the offer's category.
    pub const CATEGORY_SHARE: usize = 25;
    /// Share of the user's history in the offer's subcategory.
    pub const SUBCATEGORY_SHARE: usize = 26;
    /// The user has a history but none in this category.
    pub const CATEGORY_NEW_TO_USER: usize = 27;
    /// Δdiv: the diversification points booking this offer would earn.
    pub const DELTA_DIV: usize = 28;
    /// Δdiv includes the new-category criterion.
    pub const DELTA_DIV_CATEGORY: usize = 29;
    /// sin of the local hour.
    pub const HOUR_SIN: usize = 30;
    /// cos of the local hour.
    pub const HOUR_COS: usize = 31;
    /// ln(share of the user's history in the offer's category + 0.01).
    pub const CATEGORY_SHARE_LOG: usize = 32;
    /// Share of the user's history with the offer's genre (book section, music genre, show type, movie genre).
    pub const GENRE_SHARE: usize = 33;
    /// ln(1 + all bookings of the offer before now).
    pub const BOOKINGS_ALL_LOG: usize = 34;
    /// First of 7 weekday indicators (Monday first).
    pub const WEEKDAY: usize = 35;
    /// First of the category indicators.
    pub const CATEGORY: usize = 42;
}

const FIXED_NAMES: [&str; slot::WEEKDAY] = [
    "distance_log",
    "distance_unknown",
    "within_10km",
    "price_share",
    "free",
    "over_credit",
    "event",
    "days_to_event_log",
    "days_since_creation_log",
    "bookings_7d_log",
    "bookings_14d_log",
    "bookings_28d_log",
    "retrieval_score",
    "retrieval_rank_log",
    "src_retrieval",
    "src_tops",
    "src_trends",
    "src_new",
    "src_department",
    "user_age",
    "user_credit",
    "user_consultations_log",
    "user_bookings_log",
    "user_favourites_log",
    "user_cold",
    "category_share",
    "subcategory_share",
    "category_new_to_user",
    "delta_div",
    "delta_div_category",
    "hour_sin",
    "hour_cos",
    "category_share_log",
    "genre_share",
    "bookings_all_log",
];

/// The feature layout: fixed slots, weekday, category and subcategory indicators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpace {
    names: Vec<String>,
    categories: usize,
    subcategories: usize,
}

impl Default for FeatureSpace {
    fn default() -> Self {
        FeatureSpace::new()
    }
}

impl FeatureSpace {
    /// The layout for the taxonomy's categories and subcategories.
    pub fn new() -> FeatureSpace {
        let mut names: Vec<String> = FIXED_NAMES.iter().map(|s| (*s).to_owned()).collect();
        for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            names.push(format!("weekday_{d}"));
        }
        let categories: Vec<CategoryId> = CategoryId::all().collect();
        for c in &categories {
            names.push(format!("category_{}", c.canonical()));
        }
        let subcategories: Vec<SubcategoryId> = SubcategoryId::all().collect();
        for s in &subcategories {
            names.push(format!("subcategory_{}", s.canonical()));
        }
        FeatureSpace { names, categories: categories.len(), subcategories: subcategories.len() }
    }

    /// Number of features.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// Feature names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Writes the features of one (user, offer) pair into `out` (length [`FeatureSpace::dim`]) and
    /// returns Δdiv with the criteria that would score.
    #[allow(clippy::too_many_arguments)]
    pub fn compute(
        &self,
        table: &OfferTable,
        popularity: &Popularity,
        snapshot: &Snapshot,
        user: &UserSnapshot,
        rules: &DiversificationRules,
        config: &SourceConfig,
        request: &Request,
        offer: u32,
        retrieval: (f32, f32),
        out: &mut [f32],
    ) -> Points {
        debug_assert_eq!(out.len(), self.dim());
        out.fill(0.0);
        let o = offer as usize;
        let f = &table.facts[o];
        let now = request.now;
        match (f.location, user.home) {
            (Some(venue), Some(home)) if !f.digital => {
                let km = home.distance_km(venue);
                out[slot::DISTANCE_LOG] = (km as f32).ln_1p();
                out[slot::WITHIN_10KM] = f32::from(u8::from(km <= 10.0));
            }
            _ => out[slot::DISTANCE_UNKNOWN] = 1.0,
        }
        let credit = user.credit_cents.max(0);
        out[slot::PRICE_SHARE] = if f.price_cents <= 0 {
            0.0
        } else if credit == 0 {
            2.0
        } else {
            (f.price_cents as f32 / credit as f32).min(2.0)
        };
        out[slot::FREE] = f32::from(u8::from(f.price_cents <= 0));
        out[slot::OVER_CREDIT] = f32::from(u8::from(f.price_cents > credit));
        if let Some(start) = f.event_start {
            out[slot::EVENT] = 1.0;
            out[slot::DAYS_TO_EVENT_LOG] = (((start - now).max(0) as f32) / DAY as f32).ln_1p();
        }
        out[slot::DAYS_SINCE_CREATION_LOG] = (((now - f.created_at).max(0) as f32) / DAY as f32).ln_1p();
        out[slot::BOOKINGS_7D_LOG] = (popularity.count(offer, now, 7) as f32).ln_1p();
        out[slot::BOOKINGS_14D_LOG] = (popularity.count(offer, now, 14) as f32).ln_1p();
        out[slot::BOOKINGS_28D_LOG] = (popularity.count(offer, now, 28) as f32).ln_1p();
        let (score, rank) = retrieval;
        out[slot::RETRIEVAL_SCORE] = score;
        out[slot::RETRIEVAL_RANK_LOG] = rank.max(0.0).ln_1p();
        out[slot::SRC_RETRIEVAL] = f32::from(u8::from((rank as usize) < config.retrieval_k));
        out[slot::SRC_TOPS] =
            f32::from(u8::from(snapshot.top_rank(offer).is_some_and(|r| (r as usize) < config.tops_k)));
        out[slot::SRC_TRENDS] =
            f32::from(u8::from(snapshot.trend_rank(offer).is_some_and(|r| (r as usize) < config.trends_k)));
        out[slot::SRC_NEW] = f32::from(u8::from(now - f.created_at <= config.new_days * DAY && f.created_at <= now));
        out[slot::SRC_DEPARTMENT] = f32::from(u8::from(
            f.department != 0
                && f.department == user.department
                && snapshot.department_rank(offer).is_some_and(|r| (r as usize) < config.department_k),
        ));
        out[slot::USER_AGE] = (f32::from(user.age(now)) - 16.5) / 2.0;
        out[slot::USER_CREDIT] = credit as f32 / 30_000.0;
        out[slot::USER_CONSULTATIONS_LOG] = (user.consultations as f32).ln_1p();
        out[slot::USER_BOOKINGS_LOG] = (user.bookings as f32).ln_1p();
        out[slot::USER_FAVOURITES_LOG] = (user.favourites as f32).ln_1p();
        out[slot::USER_COLD] = f32::from(u8::from(user.is_cold(config)));
        out[slot::BOOKINGS_ALL_LOG] = (popularity.count(offer, now, i64::MAX / (2 * DAY)) as f32).ln_1p();
        if user.history > 0 {
            let h = user.history as f32;
            let c = user.category_counts[f.category as usize];
            out[slot::CATEGORY_SHARE] = c as f32 / h;
            out[slot::SUBCATEGORY_SHARE] = user.subcategory_counts[f.subcategory as usize] as f32 / h;
            out[slot::CATEGORY_NEW_TO_USER] = f32::from(u8::from(c == 0));
            if let Some(g) = genre_of(&table.traits[o]) {
                out[slot::GENRE_SHARE] = user.genre_counts.get(&g).copied().unwrap_or(0) as f32 / h;
            }
        }
        out[slot::CATEGORY_SHARE_LOG] = (out[slot::CATEGORY_SHARE] + 0.01).ln();
        let points = user.profile.explain(rules, &table.traits[o]);
        out[slot::DELTA_DIV] = points.points as f32;
        out[slot::DELTA_DIV_CATEGORY] = f32::from(u8::from(points.criteria.contains(Criterion::Category)));
        out[slot::HOUR_SIN] = request.hour_sin;
        out[slot::HOUR_COS] = request.hour_cos;
        out[slot::WEEKDAY + request.weekday as usize] = 1.0;
        out[slot::CATEGORY + (f.category as usize).min(self.categories - 1)] = 1.0;
        out[slot::CATEGORY + self.categories + (f.subcategory as usize).min(self.subcategories - 1)] = 1.0;
        points
    }
}

/// The request's context: its instant, local hour and weekday.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Seconds.
    pub now: i64,
    /// sin(2π·hour/24), local time.
    pub hour_sin: f32,
    /// cos(2π·hour/24), local time.
    pub hour_cos: f32,
    /// 0 = Monday, local time.
    pub weekday: u8,
}

impl Request {
    /// The context of a request at `now` (seconds).
    pub fn at(now: i64) -> Request {
        let local = Timestamp(now + LOCAL_OFFSET_S).to_datetime();
        let hour = local.hour() as f32 + local.minute() as f32 / 60.0;
        let angle = std::f32::consts::TAU * hour / 24.0;
        Request {
            now,
            hour_sin: angle.sin(),
            hour_cos: angle.cos(),
            weekday: local.weekday().num_days_from_monday() as u8,
        }
    }
}
