//! From the record store to the towers' inputs: the item catalogue, user
//! timelines, the online user state, and the train/validation/test splits.

use crate::error::{Result, RetrievalError};
use chrono::NaiveDate;
use passeur_domain::{
    BookSectionId, CategoryId, Format, InteractionKind, MovieGenreId, MusicGenreId, Offer, ShowTypeId, SubcategoryId,
    Timestamp, User, Venue, VenueTypeId,
};
use passeur_store::RecordStore;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Categorical item fields: category, subcategory, format, venue type, book
/// macro-section, music genre, show type, movie genre, artist bucket. Index 0
/// means "none" in every field.
pub const ITEM_CATEGORICAL: usize = 9;
/// Numeric item features: log price, log consultations, log bookings, has
/// text, has image, is an event, duo, online.
pub const ITEM_NUMERIC: usize = 8;
/// Numeric user features: age, credit, log consultations, log bookings, log
/// favourites, has history, then the history's category histogram and format histogram.
pub const USER_NUMERIC: usize = 6 + CATEGORIES + 3;
const CATEGORIES: usize = 15;

/// Vocabulary size of each categorical item field (with its "none" row).
pub fn item_vocab_sizes(artist_buckets: usize) -> [usize; ITEM_CATEGORICAL] {
    [
        CategoryId::all().count() + 1,
        SubcategoryId::all().count() + 1,
        Format::ALL.len() + 1,
        VenueTypeId::all().count() + 1,
        BookSectionId::all().count() + 1,
        MusicGenreId::all().count() + 1,
        ShowTypeId::all().count() + 1,
        MovieGenreId::all().count() + 1,
        artist_buckets + 1,
    ]
}

/// How often an offer was consulted and booked (in the training period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemStats {
    /// Consultations.
    pub consultations: u32,
    /// Bookings.
    pub bookings: u32,
}

/// One offer's inputs to the item tower.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    /// Categorical fields, see [`ITEM_CATEGORICAL`].
    pub categorical: [u32; ITEM_CATEGORICAL],
    /// Numeric fields, see [`ITEM_NUMERIC`].
    pub numeric: [f32; ITEM_NUMERIC],
    /// The text embedding, when computed.
    pub text: Option<Vec<f32>>,
    /// The image embedding, when given.
    pub image: Option<Vec<f32>>,
}

fn artist_bucket(artist: Option<&str>, buckets: usize) -> u32 {
    let Some(name) = artist.map(|a| a.trim().to_lowercase()).filter(|a| !a.is_empty()) else { return 0 };
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % buckets as u64) as u32 + 1
}

fn log_scaled(count: u32, scale: f32) -> f32 {
    (1.0 + count as f32).ln() / scale
}

impl ItemRow {
    /// The inputs of an offer: its taxonomy, venue type, genres, artist, price,
    /// popularity, text and image embeddings.
    pub fn of(
        offer: &Offer,
        venue: Option<&Venue>,
        stats: ItemStats,
        text: Option<&[f32]>,
        artist_buckets: usize,
    ) -> ItemRow {
        let opt = |v: Option<usize>| v.map_or(0, |i| i as u32 + 1);
        let format = Format::ALL.iter().position(|f| *f == offer.format());
        let categorical = [
            offer.category().index() as u32 + 1,
            offer.subcategory.index() as u32 + 1,
            opt(format),
            opt(venue.map(|v| v.venue_type.index())),
            opt(offer.book_macro_section.map(|g| g.index())),
            opt(offer.music_genre.map(|g| g.index())),
            opt(offer.show_type.map(|g| g.index())),
            opt(offer.movie_genre.map(|g| g.index())),
            artist_bucket(offer.artist.as_deref(), artist_buckets),
        ];
        let euros = offer.price_cents.max(0) as f32 / 100.0;
        let numeric = [
            (1.0 + euros).ln() / 301f32.ln(),
            log_scaled(stats.consultations, 8.0),
            log_scaled(stats.bookings, 6.0),
            f32::from(text.is_some()),
            f32::from(offer.image_embedding.is_some()),
            f32::from(offer.format() == Format::Event),
            f32::from(offer.duo),
            f32::from(offer.is_online()),
        ];
        ItemRow { categorical, numeric, text: text.map(<[f32]>::to_vec), image: offer.image_embedding.clone() }
    }
}

/// Every offer's inputs, by column, in a fixed order (the order of the model's item id table).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Offer ids, by index.
    pub offer_ids: Vec<String>,
    index: FxHashMap<String, u32>,
    /// Categorical fields per offer.
    pub categorical: Vec<[u32; ITEM_CATEGORICAL]>,
    /// Numeric fields per offer.
    pub numeric: Vec<[f32; ITEM_NUMERIC]>,
    /// Text embedding dimension (0: no text).
    pub text_dim: usize,
    /// Text embeddings, row-major (zeros where missing).
    pub text: Vec<f32>,
    /// Image embedding dimension (0: no image).
    pub image_dim: usize,
    /// Image embeddings, row-major (zeros where missing).
    pub image: Vec<f32>,
    /// Category index (0-based) per offer, for the users' histograms.
    pub category: Vec<u8>,
    /// Format index (0-based) per offer.
    pub format: Vec<u8>,
}

impl Catalogue {
    /// An empty catalogue with these embedding dimensions.
    pub fn new(text_dim: usize, image_dim: usize) -> Catalogue {
        Catalogue { text_dim, image_dim, ..Catalogue::default() }
    }

    /// Offers.
    pub fn len(&self) -> usize {
        self.offer_ids.len()
    }

    /// True when there are no offers.
    pub fn is_empty(&self) -> bool {
        self.offer_ids.is_empty()
    }

    /// The index of an offer id.
    pub fn position(&self, offer_id: &str) -> Option<u32> {
        self.index.get(offer_id).copied()
    }

    /// Appends an offer (or replaces it when the id is known); checks embedding dimensions.
    pub fn push(&mut self, offer_id: &str, row: ItemRow) -> Result<u32> {
        let check = |what: &str, got: Option<&Vec<f32>>, want: usize| match got {
            Some(v) if v.len() != want => Err(RetrievalError::Data(format!(
                "offer {offer_id}: {what} has {} components, the model expects {want}",
                v.len()
            ))),
            _ => Ok(()),
        };
        check("text embedding", row.text.as_ref(), self.text_dim)?;
        check("image_embedding", row.image.as_ref(), self.image_dim)?;
        let category = (row.categorical[0].max(1) - 1) as u8;
        let format = (row.categorical[2].max(1) - 1) as u8;
        let text = row.text.unwrap_or_else(|| vec![0.0; self.text_dim]);
        let image = row.image.unwrap_or_else(|| vec![0.0; self.image_dim]);
        if let Some(&i) = self.index.get(offer_id) {
            let i = i as usize;
            self.categorical[i] = row.categorical;
            self.numeric[i] = row.numeric;
            self.text[i * self.text_dim..(i + 1) * self.text_dim].copy_from_slice(&text);
            self.image[i * self.image_dim..(i + 1) * self.image_dim].copy_from_slice(&image);
            self.category[i] = category;
            self.format[i] = format;
            return Ok(i as u32);
        }
        let i = self.offer_ids.len() as u32;
        self.offer_ids.push(offer_id.to_owned());
        self.index.insert(offer_id.to_owned(), i);
        self.categorical.push(row.categorical);
        self.numeric.push(row.numeric);
        self.text.extend_from_slice(&text);
        self.image.extend_from_slice(&image);
        self.category.push(category);
        self.format.push(format);
        Ok(i)
    }

    /// Sets the popularity features from counts (one per offer, in order).
    pub fn set_popularity(&mut self, stats: &[ItemStats]) {
        for (numeric, s) in self.numeric.iter_mut().zip(stats) {
            numeric[1] = log_scaled(s.consultations, 8.0);
            numeric[2] = log_scaled(s.bookings, 6.0);
        }
    }

    /// The text embedding of offer `i` (empty when there is no text dimension).
    pub fn text_of(&self, i: usize) -> &[f32] {
        &self.text[i * self.text_dim..(i + 1) * self.text_dim]
    }
}

/// What happened, as the towers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A consultation (click).
    Consultation,
    /// A favourite.
    Favourite,
    /// A booking.
    Booking,
    /// A cancellation, which gives the credit back.
    Cancellation,
}

/// One user event on a catalogue offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// When, in seconds.
    pub at: i64,
    /// The offer's catalogue index.
    pub offer: u32,
    /// What.
    pub kind: EventKind,
    /// Credit spent (bookings) or given back (cancellations), in cents.
    pub amount: i64,
}

/// The user's state that features are computed from, folded event by event:
/// the same code serves the batch path (training, evaluation) and the online
/// path (the service, after each event).
#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    /// Consultations so far.
    pub consultations: u32,
    /// Favourites so far.
    pub favourites: u32,
    /// Bookings so far (cancelled ones included).
    pub bookings: u32,
    /// Remaining credit, in cents.
    pub credit_cents: i64,
    /// The most recent consulted, favourited or booked offers (oldest first), at most the model's history length.
    pub history: VecDeque<u32>,
    cap: usize,
}

impl UserState {
    /// A user with no events yet, this much credit, and a history of at most `history_len` offers.
    pub fn new(credit_cents: i64, history_len: usize) -> UserState {
        UserState {
            consultations: 0,
            favourites: 0,
            bookings: 0,
            credit_cents,
            history: VecDeque::with_capacity(history_len),
            cap: history_len,
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &Event) {
        match event.kind {
            EventKind::Consultation => self.consultations += 1,
            EventKind::Favourite => self.favourites += 1,
            EventKind::Booking => {
                self.bookings += 1;
                self.credit_cents -= event.amount;
            }
            EventKind::Cancellation => {
                self.credit_cents += event.amount;
                return;
            }
        }
        if self.cap > 0 {
            if self.history.len() == self.cap {
                self.history.pop_front();
            }
            self.history.push_back(event.offer);
        }
    }
}

/// What the model knows of a user that does not change with events.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// The user's id.
    pub id: String,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Department index (0 when unknown to the model).
    pub department: u32,
}

/// One user's inputs to the user tower.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    /// Numeric fields, see [`USER_NUMERIC`].
    pub numeric: [f32; USER_NUMERIC],
    /// Department index.
    pub department: u32,
    /// Row in the user id table, when the model knows the user.
    pub id_row: Option<u32>,
    /// Catalogue indices of the history summarised.
    pub history: Vec<u32>,
}

impl UserRow {
    /// The inputs of a user at instant `at`, from the static info and the folded activity
    /// (consultations, favourites, bookings, remaining credit in cents).
    /// `history` is the offers summarised (usually the state's history).
    pub fn new(
        info: &UserInfo,
        (consultations, favourites, bookings, credit_cents): (u32, u32, u32, i64),
        history: Vec<u32>,
        at: Timestamp,
        catalogue: &Catalogue,
        id_row: Option<u32>,
    ) -> UserRow {
        let age = passeur_domain::age_on(info.birth_date, at.date()) as f32;
        let mut numeric = [0f32; USER_NUMERIC];
        numeric[0] = (age - 16.5) / 2.0;
        numeric[1] = credit_cents.max(0) as f32 / 30_000.0;
        numeric[2] = log_scaled(consultations, 5.0);
        numeric[3] = log_scaled(bookings, 3.0);
        numeric[4] = log_scaled(favourites, 3.0);
        numeric[5] = f32::from(!history.is_empty());
        if !history.is_empty() {
            let share = 1.0 / history.len() as f32;
            for &o in &history {
                let o = o as usize;
                numeric[6 + catalogue.category[o] as usize] += share;
                numeric[6 + CATEGORIES + catalogue.format[o] as usize] += share;
            }
        }
        UserRow { numeric, department: info.department, id_row, history }
    }

    /// The inputs of a user from the folded state.
    pub fn from_state(
        info: &UserInfo,
        state: &UserState,
        at: Timestamp,
        catalogue: &Catalogue,
        id_row: Option<u32>,
    ) -> UserRow {
        UserRow::new(
            info,
            (state.consultations, state.favourites, state.bookings, state.credit_cents),
            state.history.iter().copied().collect(),
            at,
            catalogue,
            id_row,
        )
    }
}

/// One logged impression: an offer shown to a user in a served list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    /// When, in seconds.
    pub at: i64,
    /// The offer's catalogue index.
    pub offer: u32,
    /// The served list (index into [`Dataset::calls`]).
    pub call: u32,
    /// 0-based position in the list.
    pub position: u32,
    /// Probability that the serving policy put this offer there.
    pub propensity: f64,
}

/// Everything the towers learn from, read once from a record store.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The offers' inputs (popularity not yet set).
    pub catalogue: Catalogue,
    /// Users, by index.
    pub users: Vec<UserInfo>,
    /// Each user's credit before their first event, in cents.
    pub initial_credit: Vec<i64>,
    /// Each user's events, by time.
    pub timelines: Vec<Vec<Event>>,
    /// Department names; index 0 is "unknown".
    pub departments: Vec<String>,
    /// The text model whose embeddings the catalogue holds, if any.
    pub text_model: Option<String>,
    /// The latest event instant.
    pub now: Timestamp,
    /// Each user's logged impressions, by time (the towers ignore them; the ranking stage learns from them).
    pub impressions: Vec<Vec<Shown>>,
    /// The call ids of the served lists that impressions refer to.
    pub calls: Vec<String>,
    user_index: FxHashMap<String, u32>,
}

impl Dataset {
    /// Reads offers, venues, users and interactions; uses the text embeddings
    /// of `text_model` when given (offers without one get the "no text" flag).
    pub fn from_store(
        store: &dyn RecordStore,
        text_model: Option<&str>,
        artist_buckets: usize,
        departments: Option<Vec<String>>,
    ) -> Result<Dataset> {
        Dataset::from_store_ordered(store, text_model, artist_buckets, departments, None, true)
    }

    /// As [`Dataset::from_store`], with the offers and users a model was trained on
    /// (`known`: offer ids, user ids, in the model's table order) first, in that
    /// order, and records added since after them, by id: the model's id tables
    /// line up, and new records are content-only to it. A known id missing from
    /// the store is an error. Without `with_impressions`, the impression logs are
    /// not read (`impressions` stays empty): what serving needs, in less time.
    pub fn from_store_ordered(
        store: &dyn RecordStore,
        text_model: Option<&str>,
        artist_buckets: usize,
        departments: Option<Vec<String>>,
        known: Option<(&[String], &[String])>,
        with_impressions: bool,
    ) -> Result<Dataset> {
        let mut venues: FxHashMap<String, Venue> = FxHashMap::default();
        store.scan_venues(&mut |v| {
            venues.insert(v.id.clone(), v);
            Ok(())
        })?;
        let mut offers: Vec<Offer> = Vec::new();
        store.scan_offers(&mut |o| {
            offers.push(o);
            Ok(())
        })?;
        offers.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some((known_offers, _)) = known {
            align(&mut offers, known_offers, |o| &o.id, "offer")?;
        }
        let mut texts: FxHashMap<String, Vec<f32>> = FxHashMap::default();
        if let Some(model) = text_model {
            store.scan_offer_embeddings(model, &mut |id, v| {
                texts.insert(id, v);
                Ok(())
            })?;
            if texts.is_empty() {
                return Err(RetrievalError::Data(format!(
                    "no offer has a text embedding from model {model}: run `passeur embed` first"
                )));
            }
        }
        let text_dim = texts.values().next().map_or(0, Vec::len);
        let image_dim = offers.iter().find_map(|o| o.image_embedding.as_ref().map(Vec::len)).unwrap_or(0);
        let mut catalogue = Catalogue::new(text_dim, image_dim);
        for offer in &offers {
            let venue = offer.venue_id.as_ref().and_then(|v| venues.get(v));
            let text = texts.get(&offer.id).map(Vec::as_slice);
            catalogue.push(&offer.id, ItemRow::of(offer, venue, ItemStats::default(), text, artist_buckets))?;
        }
        let mut users: Vec<User> = Vec::new();
        store.scan_users(&mut |u| {
            users.push(u);
            Ok(())
        })?;
        users.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some((_, known_users)) = known {
            align(&mut users, known_users, |u| &u.id, "user")?;
        }
        let departments = departments.unwrap_or_else(|| {
            let mut names: Vec<String> = users.iter().map(|u| u.department.clone()).collect();
            names.sort();
            names.dedup();
            std::iter::once(String::new()).chain(names).collect()
        });
        let dept_index: FxHashMap<&str, u32> =
            departments.iter().enumerate().skip(1).map(|(i, d)| (d.as_str(), i as u32)).collect();
        let user_index: FxHashMap<String, u32> =
            users.iter().enumerate().map(|(i, u)| (u.id.clone(), i as u32)).collect();
        let mut timelines: Vec<Vec<Event>> = vec![Vec::new(); users.len()];
        let mut booking_amounts: FxHashMap<String, i64> = FxHashMap::default();
        let mut cancellations: Vec<(u32, i64, u32, String)> = Vec::new();
        let mut now = 0i64;
        let mut impressions: Vec<Vec<Shown>> = vec![Vec::new(); users.len()];
        let mut call_index: FxHashMap<String, u32> = FxHashMap::default();
        let mut visit = |i: passeur_domain::Interaction| {
            let Some(&u) = user_index.get(&i.user_id) else { return Ok(()) };
            let Some(offer) = catalogue.position(&i.offer_id) else { return Ok(()) };
            now = now.max(i.at.0);
            let (kind, amount) = match &i.kind {
                InteractionKind::Consultation => (EventKind::Consultation, 0),
                InteractionKind::Favourite => (EventKind::Favourite, 0),
                InteractionKind::Booking { amount_cents, .. } => {
                    booking_amounts.insert(i.id.clone(), *amount_cents);
                    (EventKind::Booking, *amount_cents)
                }
                InteractionKind::Cancellation { booking_id } => {
                    cancellations.push((u, i.at.0, offer, booking_id.clone()));
                    return Ok(());
                }
                InteractionKind::Impression { call_id, position, propensity, .. } => {
                    let next = call_index.len() as u32;
                    let call = *call_index.entry(call_id.clone()).or_insert(next);
                    impressions[u as usize].push(Shown {
                        at: i.at.0,
                        offer,
                        call,
                        position: *position,
                        propensity: *propensity,
                    });
                    return Ok(());
                }
            };
            timelines[u as usize].push(Event { at: i.at.0, offer, kind, amount });
            Ok(())
        };
        if with_impressions { store.scan_interactions(&mut visit) } else { store.scan_actions(&mut visit) }?;
        for (u, at, offer, booking) in cancellations {
            let amount = booking_amounts.get(&booking).copied().unwrap_or(0);
            timelines[u as usize].push(Event { at, offer, kind: EventKind::Cancellation, amount });
        }
        for shown in &mut impressions {
            shown.sort_by_key(|s| (s.at, s.call, s.position));
        }
        let mut calls = vec![String::new(); call_index.len()];
        for (id, i) in call_index {
            calls[i as usize] = id;
        }
        let mut initial_credit = Vec::with_capacity(users.len());
        for (user, timeline) in users.iter().zip(timelines.iter_mut()) {
            timeline.sort_by_key(|e| e.at);
            let spent: i64 = timeline
                .iter()
                .map(|e| match e.kind {
                    EventKind::Booking => e.amount,
                    EventKind::Cancellation => -e.amount,
                    _ => 0,
                })
                .sum();
            initial_credit.push(user.credit_cents + spent);
        }
        let infos = users
            .iter()
            .map(|u| UserInfo {
                id: u.id.clone(),
                birth_date: u.birth_date,
                department: dept_index.get(u.department.as_str()).copied().unwrap_or(0),
            })
            .collect();
        Ok(Dataset {
            catalogue,
            users: infos,
            initial_credit,
            timelines,
            departments,
            text_model: text_model.map(str::to_owned),
            now: Timestamp(now),
            impressions,
            calls,
            user_index,
        })
    }

    /// The index of a user id.
    pub fn user_position(&self, id: &str) -> Option<u32> {
        self.user_index.get(id).copied()
    }

    /// Interactions read.
    pub fn events(&self) -> usize {
        self.timelines.iter().map(Vec::len).sum()
    }
}

/// Puts the records whose ids are in `known` first, in that order, the others
/// after them in their current order; fails when a known id is missing.
fn align<T>(records: &mut Vec<T>, known: &[String], id: impl Fn(&T) -> &String, what: &str) -> Result<()> {
    let position: FxHashMap<&str, usize> = known.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let mut slots: Vec<Option<T>> = (0..known.len()).map(|_| None).collect();
    let mut rest = Vec::new();
    for r in records.drain(..) {
        match position.get(id(&r).as_str()) {
            Some(&i) => slots[i] = Some(r),
            None => rest.push(r),
        }
    }
    for (i, slot) in slots.into_iter().enumerate() {
        match slot {
            Some(r) => records.push(r),
            None => {
                return Err(RetrievalError::Data(format!(
                    "{what} {:?} of the trained model is no longer in the store: retrain with `passeur train retrieval`",
                    known[i]
                )));
            }
        }
    }
    records.append(&mut rest);
    Ok(())
}

/// How events are split into training, validation and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SplitKind {
    /// Each user's events by time: the first 80 % train, the next 10 % validate, the last 10 % test.
    Chronological,
    /// Each user's events shuffled (seeded), then 80/10/10 (RecBole's `RS` with `group_by: user`).
    Random {
        /// The shuffle's seed.
        seed: u64,
    },
}

/// The sizes of the three parts of `n` events for ratios 0.8/0.1/0.1, as RecBole computes them.
pub fn split_counts(n: usize) -> [usize; 3] {
    let ratios = [0.8, 0.1, 0.1];
    let mut cnt: Vec<usize> = ratios.iter().map(|r| (r * n as f64) as usize).collect();
    cnt[0] = n - cnt[1] - cnt[2];
    for i in 1..3 {
        if cnt[0] <= 1 {
            break;
        }
        let want = ratios[3 - i] * n as f64;
        if 0.0 < want && want < 1.0 {
            cnt[3 - i] += 1;
            cnt[0] -= 1;
        }
    }
    [cnt[0], cnt[1], cnt[2]]
}

/// Per user: training, validation and test events, each by time.
#[derive(Debug, Clone)]
pub struct Split {
    /// How it was made.
    pub kind: SplitKind,
    /// Training events per user.
    pub train: Vec<Vec<Event>>,
    /// Validation events per user.
    pub valid: Vec<Vec<Event>>,
    /// Test events per user.
    pub test: Vec<Vec<Event>>,
}

impl Split {
    /// Splits every user's timeline.
    pub fn new(dataset: &Dataset, kind: SplitKind) -> Split {
        let n = dataset.timelines.len();
        let (mut train, mut valid, mut test) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for (u, timeline) in dataset.timelines.iter().enumerate() {
            let mut events = timeline.clone();
            if let SplitKind::Random { seed } = kind {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (u as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                events.shuffle(&mut rng);
            }
            let [a, b, _] = split_counts(events.len());
            let mut te = events.split_off(a + b);
            let mut va = events.split_off(a);
            let mut tr = events;
            for part in [&mut tr, &mut va, &mut te] {
                part.sort_by_key(|e| e.at);
            }
            train.push(tr);
            valid.push(va);
            test.push(te);
        }
        Split { kind, train, valid, test }
    }

    /// Consultation and booking counts per offer in the training part.
    pub fn train_stats(&self, offers: usize) -> Vec<ItemStats> {
        let mut stats = vec![ItemStats::default(); offers];
        for e in self.train.iter().flatten() {
            match e.kind {
                EventKind::Consultation => stats[e.offer as usize].consultations += 1,
                EventKind::Booking => stats[e.offer as usize].bookings += 1,
                _ => {}
            }
        }
        stats
    }
}

/// True for events that enter a user's history (everything but cancellations).
pub fn in_history(kind: EventKind) -> bool {
    kind != EventKind::Cancellation
}

/// Folds events into a fresh state.
pub fn fold(initial_credit: i64, history_len: usize, events: impl IntoIterator<Item = Event>) -> UserState {
    let mut state = UserState::new(initial_credit, history_len);
    for e in events {
        state.apply(&e);
    }
    state
}

/// Draws `k` of `items` without replacement (all of them when there are fewer), in their original order.
pub fn sample_in_order(items: &[u32], k: usize, rng: &mut impl Rng) -> Vec<u32> {
    if items.len() <= k {
        return items.to_vec();
    }
    let mut picked = rand::seq::index::sample(rng, items.len(), k).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| items[i]).collect()
}
