//! The live state the service answers from: the models, every offer with its
//! item vector in the in-memory IVF index, every user folded to now (credit,
//! diversification profile, ranking features, the user tower's vector), and
//! booking counts. Writes are applied after their commit; a booking changes
//! the user's credit, profile, features and vector at once.

use crate::config::{ClockKind, ServerConfig};
use crate::error::{ApiError, Result, ServerError};
use passeur_diversity::{DiversificationRules, UserProfile};
use passeur_domain::{CategoryId, Interaction, InteractionKind, Offer, SubcategoryId, Timestamp, User, Venue};
use passeur_embed::{EncoderConfig, TextEncoder, offer_text, text_key};
use passeur_index::playlist::{PlaylistConfig, PlaylistContext, build};
use passeur_index::{Filters, Hit, IndexedOffer, IvfIndex, IvfParams, VectorIndex, one_per_item};
use passeur_insight::{GatewayConfig, GatewayModel};
use passeur_ranking::features::dot;
use passeur_ranking::{
    OfferTable, Origin, Policy, Popularity, RankConfig, Ranked, Ranker, RankerParts, RankingData, RankingModel,
    Scratch, Snapshot, UserRequest, UserSnapshot,
};
use passeur_retrieval::data::UserInfo;
use passeur_retrieval::{Catalogue, Event, EventKind, ItemRow, ItemStats, TwoTower, UserRow, UserState};
use passeur_store::{EventOutcome, RecordStore, SqliteStore};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

/// The service's clock: the machine's, shifted so that a stored world is served as if live, or frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Seconds added to the machine's clock.
    pub offset: i64,
    /// When set, the clock stands at this instant.
    pub frozen: Option<i64>,
}

impl Clock {
    /// The clock of `kind`; `data_now` is the latest event of the store.
    pub fn new(kind: ClockKind, data_now: i64) -> Clock {
        match kind {
            ClockKind::System => Clock { offset: 0, frozen: None },
            ClockKind::Store => Clock { offset: data_now - Timestamp::now().0, frozen: None },
            ClockKind::Frozen => Clock::at(Timestamp(data_now)),
        }
    }

    /// A clock standing at `at`.
    pub fn at(at: Timestamp) -> Clock {
        Clock { offset: 0, frozen: Some(at.0) }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match self.frozen {
            Some(at) => Timestamp(at),
            None => Timestamp(Timestamp::now().0 + self.offset),
        }
    }
}

/// Where the trained models are, under a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDirs {
    /// The two-tower bundle.
    pub retrieval: PathBuf,
    /// The ranking model.
    pub ranking: PathBuf,
}

impl ModelDirs {
    /// `DATA_DIR/models/retrieval` and `DATA_DIR/models/ranking`.
    pub fn of(data_dir: &Path) -> ModelDirs {
        ModelDirs {
            retrieval: data_dir.join("models").join("retrieval"),
            ranking: data_dir.join("models").join("ranking"),
        }
    }
}

/// One user as served.
#[derive(Debug, Clone)]
pub struct LiveUser {
    /// The record (credit kept current).
    pub record: User,
    /// What the user tower knows that does not change.
    pub info: UserInfo,
    /// Row in the model's user table (users added after training have none).
    pub id_row: Option<u32>,
    /// The user tower's fold.
    pub state: UserState,
    /// The ranking stage's fold (counts, histograms, diversification profile, booked offers).
    pub snapshot: UserSnapshot,
    /// The user tower's vector now.
    pub vector: Vec<f32>,
    /// Events applied since load: a vector computed for an older revision is not installed.
    pub revision: u64,
}

/// The mutable part of the state (a clone is a snapshot a simulation can start again from).
#[derive(Clone)]
pub struct Live {
    /// The item tower's inputs, by offer index.
    pub catalogue: Catalogue,
    /// The ranking stage's offers, same order.
    pub table: OfferTable,
    /// The records, same order.
    pub offers: Vec<Offer>,
    /// Venues by id.
    pub venues: FxHashMap<String, Venue>,
    /// Item vectors, row-major, same order.
    pub item_vectors: Vec<f32>,
    /// The vector index over them.
    pub index: IvfIndex,
    /// Bookings over time.
    pub popularity: Popularity,
    /// Popularity lists as of the last refresh.
    pub snapshot: Arc<Snapshot>,
    /// The ranker's precomputed parts.
    pub parts: RankerParts,
    /// Users by id.
    pub users: FxHashMap<String, LiveUser>,
    /// Gateway offers: entry rates into categories, fitted on the events at load.
    pub gateway: GatewayModel,
}

/// Everything a request reads: models, settings, the live state.
pub struct Engine {
    /// The two-tower model.
    pub retrieval: TwoTower,
    /// Its version.
    pub retrieval_version: String,
    /// The ranking model.
    pub ranking: RankingModel,
    /// The text encoder for new offers, when the model directory is there.
    pub encoder: Option<TextEncoder>,
    /// The text model the catalogue's embeddings come from.
    pub text_model: Option<String>,
    /// Users known to the model's id table.
    known_users: usize,
    /// The model's department vocabulary.
    departments: FxHashMap<String, u32>,
    /// Vector dimension.
    pub dim: usize,
    /// Diversification rules.
    pub rules: DiversificationRules,
    /// The ranking stage's settings.
    pub rank: RankConfig,
    /// Playlists.
    pub playlists: PlaylistConfig,
    /// The clock.
    pub clock: Clock,
    /// Default list length.
    pub default_limit: usize,
    /// Default radius, km.
    pub radius_km: f64,
    /// How recommendation lists explore (deterministic: the ranker's order, propensity 1).
    pub exploration: passeur_ope::Exploration,
    /// Ranked offers a list is drawn from.
    pub explore_candidates: usize,
    /// Seed of the draws.
    pub explore_seed: u64,
    /// Offers on the item-space map.
    pub map_points: usize,
    map: std::sync::OnceLock<MapView>,
    live: RwLock<Live>,
    calls: AtomicU64,
    boot: String,
    /// Seconds the load took.
    pub load_seconds: f64,
}

/// Query parameters of a recommendation request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoParams {
    /// Where the user is now (defaults to home).
    pub location: Option<passeur_domain::GeoPoint>,
    /// Radius, km.
    pub radius_km: Option<f64>,
    /// List length.
    pub limit: Option<usize>,
    /// Only these categories.
    pub categories: Vec<String>,
    /// At most this price (always within the credit).
    pub max_price_cents: Option<i64>,
    /// Include explanations.
    pub explain: bool,
    /// The list's seed (its random order or exploration draws); derived from the call id when absent.
    pub seed: Option<u64>,
}

/// Why an offer is where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The sources that proposed it, with their ranks.
    pub sources: Vec<Origin>,
    /// p(click | shown).
    pub p_click: f64,
    /// p(booking | shown).
    pub p_booking: f64,
    /// The criteria that would score if booked.
    pub delta_div_criteria: Vec<&'static str>,
    /// Two-tower score.
    pub retrieval_score: f32,
    /// Estimated rank of that score in the catalogue.
    pub retrieval_rank: u32,
    /// The λ of this list's objective (the booking floor's choice when one is set).
    pub lambda: f64,
    /// The objective's formula with its numbers.
    pub objective: String,
    /// In words.
    pub text: String,
}

/// One offer of a served list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListItem {
    /// 0-based position.
    pub position: usize,
    /// Offer id.
    pub offer_id: String,
    /// Item id.
    pub item_id: String,
    /// Title.
    pub title: String,
    /// Category code.
    pub category: String,
    /// Subcategory code.
    pub subcategory: String,
    /// Price, cents.
    pub price_cents: i64,
    /// Venue id.
    pub venue_id: Option<String>,
    /// Venue name.
    pub venue_name: Option<String>,
    /// Kilometres from the user (none for digital offers or unknown positions).
    pub distance_km: Option<f64>,
    /// Diversification points booking it would earn now.
    pub delta_div: u32,
    /// The list's score of it (objective, similarity or popularity).
    pub score: f64,
    /// Why it is here (on request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// Why it is a good entry into a category new to the user (discover lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayExplanation>,
}

/// A gateway offer's numbers and the sentence that explains them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayExplanation {
    /// Score, entry rate, follow-through, lift and their counts.
    #[serde(flatten)]
    pub numbers: passeur_insight::GatewayScore,
    /// The sentence.
    pub text: String,
}

/// The item space in two dimensions (t-SNE of a seeded sample of item vectors).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapView {
    /// Category codes present, sorted.
    pub categories: Vec<String>,
    /// The offers placed.
    pub points: Vec<MapPoint>,
}

/// One offer on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    /// The offer.
    pub offer_id: String,
    /// Its title.
    pub title: String,
    /// Its category code.
    pub category: String,
    /// Coordinates.
    pub x: f64,
    /// Coordinates.
    pub y: f64,
}

/// A user's journey: diversity metrics, categories, and entries proposed into new ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneyView {
    /// The user.
    pub user_id: String,
    /// Diversity metrics of the user's bookings.
    pub metrics: passeur_insight::UserMetrics,
    /// Bookings per category, most first.
    pub categories: Vec<CategoryCount>,
    /// Categories the user has not booked yet.
    pub untried: Vec<String>,
}

/// A category and a count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryCount {
    /// Category code.
    pub category: String,
    /// Count.
    pub count: u64,
}

/// A served list, with what the impression log needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServedList {
    /// The call id (impressions carry it).
    pub call_id: String,
    /// Who for.
    pub user_id: Option<String>,
    /// When.
    pub at: String,
    /// Which list: `recommendations`, `similar`, a playlist's name.
    pub list: String,
    /// Its title.
    pub title: String,
    /// Serving policy (for off-policy evaluation: deterministic, propensity 1).
    pub policy: String,
    /// Model versions.
    pub model_version: String,
    /// Candidates scored.
    pub candidates: usize,
    /// The seed of the list's draw (exploring policies): with the logged candidates, it reproduces the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The offers.
    pub items: Vec<ListItem>,
    /// The list's diversity: intra-list diversity of the item vectors, distinct categories and
    /// subcategories, calibration against the user's bookings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diversity: Option<passeur_insight::ListMetrics>,
    /// What the store keeps of the list for off-policy evaluation (not sent).
    #[serde(skip)]
    pub record: Option<passeur_store::ServedListRecord>,
}

/// One booking's points in a user's diversification history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookingPoints {
    /// Booking id.
    pub booking_id: String,
    /// Offer id.
    pub offer_id: String,
    /// Offer title.
    pub title: String,
    /// Category code.
    pub category: String,
    /// Subcategory code.
    pub subcategory: String,
    /// When.
    pub at: String,
    /// Points earned, given the bookings before it.
    pub points: u32,
    /// The criteria that scored.
    pub criteria: Vec<&'static str>,
    /// Cancelled since (its points no longer count).
    pub cancelled: bool,
}

/// A user's diversification score and its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diversification {
    /// The user.
    pub user_id: String,
    /// The score: points of the bookings that stand.
    pub score: u32,
    /// Categories booked.
    pub categories: Vec<String>,
    /// Every booking in order, with its points.
    pub bookings: Vec<BookingPoints>,
}

/// The vector index's centroids, saved beside the retrieval bundle (see [`IvfIndex::build_saved`]).
pub const IVF_CENTROIDS: &str = "ivf-centroids.bin";

impl Engine {
    /// Loads the models and folds the store into the live state.
    pub fn load(store: &SqliteStore, dirs: &ModelDirs, config: &ServerConfig, clock: Option<Clock>) -> Result<Engine> {
        let started = Instant::now();
        let mut phase = Instant::now();
        let mut phases: Vec<(&'static str, f64)> = Vec::new();
        let mut mark = |name: &'static str| {
            phases.push((name, phase.elapsed().as_secs_f64()));
            phase = Instant::now();
        };
        let data = RankingData::load_for_serving(store, &dirs.retrieval).map_err(|e| {
            ServerError::Data(format!("{e} (the service needs `passeur train retrieval` and `passeur train ranking`)"))
        })?;
        mark("store and retrieval bundle");
        let ranking = RankingModel::load(&dirs.ranking)?;
        mark("ranking model");
        let rules = config.diversification_rules()?;
        let clock = clock.unwrap_or_else(|| Clock::new(config.clock, data.dataset.now.0));
        let now = clock.now().0;
        let encoder = match (&data.dataset.text_model, config.text_model()) {
            (Some(model), Some(dir)) if dir.join("config.json").exists() => {
                let encoder = TextEncoder::load(&dir, EncoderConfig::default())?;
                if encoder.model_id() != model {
                    tracing::warn!(found = encoder.model_id(), expected = %model, "text model differs; new offers get no text");
                    None
                } else {
                    Some(encoder)
                }
            }
            (Some(model), _) => {
                tracing::warn!(%model, "text model directory missing; new offers get no text embedding");
                None
            }
            (None, _) => None,
        };
        mark("text encoder");
        let mut venues: FxHashMap<String, Venue> = FxHashMap::default();
        store.scan_venues(&mut |v| {
            venues.insert(v.id.clone(), v);
            Ok(())
        })?;
        let mut by_id: FxHashMap<String, Offer> = FxHashMap::default();
        store.scan_offers(&mut |o| {
            by_id.insert(o.id.clone(), o);
            Ok(())
        })?;
        let offers: Vec<Offer> = data
            .table
            .ids
            .iter()
            .map(|id| by_id.remove(id).ok_or_else(|| ServerError::Data(format!("offer {id} vanished while loading"))))
            .collect::<Result<_>>()?;
        let mut records: FxHashMap<String, User> = FxHashMap::default();
        store.scan_users(&mut |u| {
            records.insert(u.id.clone(), u);
            Ok(())
        })?;
        mark("records again");
        let RankingData { dataset, table, popularity, model: retrieval, item_vectors, dim, retrieval_version, .. } =
            data;
        let history_len = retrieval.config.history_len;
        let known_users = retrieval.shape.users;
        let mut users: FxHashMap<String, LiveUser> = FxHashMap::default();
        let mut rows = Vec::with_capacity(dataset.users.len());
        let mut order = Vec::with_capacity(dataset.users.len());
        for (u, info) in dataset.users.iter().enumerate() {
            let record = records
                .remove(&info.id)
                .ok_or_else(|| ServerError::Data(format!("user {} vanished while loading", info.id)))?;
            let mut state = UserState::new(dataset.initial_credit[u], history_len);
            let mut snapshot = UserSnapshot::new(
                info.birth_date,
                record.home,
                table.department(&record.department),
                dataset.initial_credit[u],
            );
            for e in &dataset.timelines[u] {
                state.apply(e);
                snapshot.apply(&table, &rules, e);
            }
            let id_row = (u < known_users).then_some(u as u32);
            rows.push(UserRow::from_state(info, &state, Timestamp(now), &dataset.catalogue, id_row));
            order.push(info.id.clone());
            users.insert(
                info.id.clone(),
                LiveUser { record, info: info.clone(), id_row, state, snapshot, vector: Vec::new(), revision: 0 },
            );
        }
        mark("users folded");
        let gateway = fit_gateway(&dataset.timelines, &table)?;
        mark("gateway model");
        let vectors = retrieval.user_vectors(rows, &dataset.catalogue)?;
        mark("user vectors");
        for (id, v) in order.iter().zip(vectors.chunks(dim)) {
            users.get_mut(id).expect("just inserted").vector = v.to_vec();
        }
        let indexed: Vec<IndexedOffer> = (0..table.len())
            .map(|o| {
                let mut row = table.columns[o].clone();
                row.vector = item_vectors[o * dim..(o + 1) * dim].to_vec();
                row.popularity = i64::from(popularity.count(o as u32, now, config.ranking.sources.tops_days));
                row
            })
            .collect();
        let params =
            IvfParams { nprobe: config.index_nprobe, exact_below: config.index_exact_below, ..IvfParams::default() };
        // The partitions trained at an earlier start on the same item vectors are reused (the k-means is
        // most of the index's cost); retrained and saved whenever the vectors or parameters change.
        let (index, reused) = IvfIndex::build_saved(dim, &indexed, params, &dirs.retrieval.join(IVF_CENTROIDS))?;
        mark(if reused { "vector index (saved centroids)" } else { "vector index (centroids trained)" });
        let snapshot = Arc::new(popularity.snapshot(&table, now, &config.ranking.sources));
        let parts = RankerParts::new(&ranking, &table, &item_vectors, dim);
        mark("popularity and ranker parts");
        let phases: Vec<String> = phases.iter().map(|(name, s)| format!("{name} {s:.2} s")).collect();
        tracing::info!(phases = %phases.join(", "), "live state loaded");
        let departments = dataset.departments.iter().enumerate().skip(1).map(|(i, d)| (d.clone(), i as u32)).collect();
        let boot = format!(
            "{:x}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
        );
        let live = Live {
            catalogue: dataset.catalogue,
            table,
            offers,
            venues,
            item_vectors,
            index,
            popularity,
            snapshot,
            parts,
            users,
            gateway,
        };
        Ok(Engine {
            retrieval,
            retrieval_version,
            ranking,
            encoder,
            text_model: dataset.text_model,
            known_users,
            departments,
            dim,
            rules,
            rank: config.ranking.clone(),
            playlists: config.playlist_config()?,
            clock,
            default_limit: config.default_limit,
            radius_km: config.radius_km,
            exploration: config.exploration.policy(),
            explore_candidates: config.exploration.candidates,
            explore_seed: config.exploration.seed,
            map_points: config.map_points,
            map: std::sync::OnceLock::new(),
            live: RwLock::new(live),
            calls: AtomicU64::new(0),
            boot,
            load_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The live state, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, Live> {
        self.live.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Live> {
        self.live.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The versions served with every list.
    pub fn model_version(&self) -> String {
        format!("{}+{}", self.retrieval_version, self.ranking.version)
    }

    fn next_call(&self) -> String {
        format!("call-{}-{}", self.boot, self.calls.fetch_add(1, Ordering::Relaxed))
    }

    // ------------------------------------------------------------ writes

    /// The text embedding of an offer and its cache key, when an encoder is loaded.
    pub fn embed_offer(&self, offer: &Offer) -> Result<Option<(String, String, Vec<f32>)>> {
        let Some(encoder) = &self.encoder else { return Ok(None) };
        let text = offer_text(offer);
        let vector = encoder.encode(&[text.as_str()])?.into_iter().next().unwrap_or_default();
        Ok(Some((encoder.model_id().to_owned(), text_key(encoder.model_id(), &text), vector)))
    }

    /// Takes in a venue (its offers' locations follow).
    pub fn apply_venue(&self, venue: &Venue) -> Result<()> {
        let mut live = self.write();
        live.venues.insert(venue.id.clone(), venue.clone());
        let at_venue: Vec<usize> =
            (0..live.offers.len()).filter(|&o| live.offers[o].venue_id.as_deref() == Some(venue.id.as_str())).collect();
        for o in at_venue {
            let offer = live.offers[o].clone();
            self.upsert_offer(&mut live, &offer, None)?;
        }
        Ok(())
    }

    /// Takes in a new or changed offer: item tower, index, ranking table; searchable at once.
    pub fn apply_offer(&self, offer: &Offer, text: Option<Vec<f32>>) -> Result<()> {
        let mut live = self.write();
        self.upsert_offer(&mut live, offer, text)
    }

    fn upsert_offer(&self, live: &mut Live, offer: &Offer, text: Option<Vec<f32>>) -> Result<()> {
        let venue = offer.venue_id.as_ref().and_then(|v| live.venues.get(v)).cloned();
        let known = live.catalogue.position(&offer.id);
        let text = match (text, known) {
            (Some(t), _) => Some(t),
            // A change without a new text keeps the old one.
            (None, Some(o)) if live.catalogue.text_dim > 0 && live.catalogue.numeric[o as usize][3] > 0.0 => {
                Some(live.catalogue.text_of(o as usize).to_vec())
            }
            _ => None,
        };
        if text.as_ref().is_some_and(|t| t.len() != live.catalogue.text_dim) {
            return Err(ServerError::Data(format!("offer {}: text embedding of the wrong size", offer.id)));
        }
        let row = ItemRow::of(
            offer,
            venue.as_ref(),
            ItemStats::default(),
            text.as_deref(),
            self.retrieval.config.artist_buckets,
        );
        let o = live.catalogue.push(&offer.id, row)?;
        let t = live.table.push(offer, venue.as_ref());
        if t != o {
            return Err(ServerError::Data(format!("offer {}: table and catalogue disagree ({t} vs {o})", offer.id)));
        }
        let vector = self.retrieval.item_vectors(&live.catalogue, &[o])?;
        let o = o as usize;
        if o * self.dim == live.item_vectors.len() {
            live.item_vectors.extend_from_slice(&vector);
            live.offers.push(offer.clone());
        } else {
            live.item_vectors[o * self.dim..(o + 1) * self.dim].copy_from_slice(&vector);
            live.offers[o] = offer.clone();
        }
        let Live { table, parts, index, popularity, .. } = live;
        parts.note_offer(table, o as u32);
        let mut row = table.columns[o].clone();
        row.vector = vector;
        row.popularity = i64::from(popularity.count(o as u32, self.clock.now().0, self.rank.sources.tops_days));
        index.upsert(&[row])?;
        Ok(())
    }

    /// Takes in a new or changed user; a new user gets a vector from content alone.
    pub fn apply_user(&self, user: &User) -> Result<()> {
        let mut live = self.write();
        let now = self.clock.now();
        let history_len = self.retrieval.config.history_len;
        let department = live.table.department(&user.department);
        let info = UserInfo {
            id: user.id.clone(),
            birth_date: user.birth_date,
            department: self.departments.get(&user.department).copied().unwrap_or(0),
        };
        let entry = match live.users.remove(&user.id) {
            Some(mut u) => {
                u.record = user.clone();
                u.info = info;
                u.state.credit_cents = user.credit_cents;
                u.snapshot.credit_cents = user.credit_cents;
                u.snapshot.birth_date = user.birth_date;
                u.snapshot.home = user.home;
                u.snapshot.department = department;
                u
            }
            None => LiveUser {
                record: user.clone(),
                info,
                id_row: None,
                state: UserState::new(user.credit_cents, history_len),
                snapshot: UserSnapshot::new(user.birth_date, user.home, department, user.credit_cents),
                vector: Vec::new(),
                revision: 0,
            },
        };
        let row = UserRow::from_state(&entry.info, &entry.state, now, &live.catalogue, entry.id_row);
        let vector = self.retrieval.user_vectors(vec![row], &live.catalogue)?;
        let revision = entry.revision + 1;
        live.users.insert(user.id.clone(), LiveUser { vector, revision, ..entry });
        Ok(())
    }

    /// Takes in events the store recorded (`outcomes` in the same order); `bookings` holds the
    /// bookings that cancellations refer to. Touched users get a new vector.
    pub fn apply_events(
        &self,
        events: &[Interaction],
        outcomes: &[EventOutcome],
        bookings: &FxHashMap<String, Interaction>,
    ) -> Result<()> {
        let mut live = self.write();
        let now = self.clock.now();
        let mut touched: Vec<String> = Vec::new();
        for (event, outcome) in events.iter().zip(outcomes) {
            let EventOutcome::Recorded { credit_cents } = *outcome else { continue };
            let Some(o) = live.table.position(&event.offer_id) else {
                tracing::warn!(offer = %event.offer_id, "event on an offer the live state lacks");
                continue;
            };
            let (kind, amount, stock_change) = match &event.kind {
                InteractionKind::Consultation => (EventKind::Consultation, 0, 0),
                InteractionKind::Favourite => (EventKind::Favourite, 0, 0),
                InteractionKind::Booking { amount_cents, quantity } => {
                    (EventKind::Booking, *amount_cents, -i64::from(*quantity))
                }
                InteractionKind::Cancellation { booking_id } => match bookings.get(booking_id).map(|b| &b.kind) {
                    Some(InteractionKind::Booking { amount_cents, quantity }) => {
                        (EventKind::Cancellation, *amount_cents, i64::from(*quantity))
                    }
                    _ => (EventKind::Cancellation, 0, 0),
                },
                InteractionKind::Impression { .. } => continue,
            };
            let e = Event { at: event.at.0, offer: o, kind, amount };
            let Live { users, table, popularity, .. } = &mut *live;
            let Some(user) = users.get_mut(&event.user_id) else { continue };
            user.state.apply(&e);
            user.snapshot.apply(table, &self.rules, &e);
            user.revision += 1;
            user.state.credit_cents = credit_cents;
            user.snapshot.credit_cents = credit_cents;
            user.record.credit_cents = credit_cents;
            match kind {
                EventKind::Booking => popularity.record(o, e.at),
                EventKind::Cancellation => {
                    if let Some(b) = bookings.get(match &event.kind {
                        InteractionKind::Cancellation { booking_id } => booking_id.as_str(),
                        _ => "",
                    }) {
                        popularity.forget(o, b.at.0);
                    }
                }
                _ => {}
            }
            if !touched.contains(&event.user_id) {
                touched.push(event.user_id.clone());
            }
            if stock_change != 0 && live.offers[o as usize].stock.is_some() {
                let o = o as usize;
                let stock = (i64::from(live.offers[o].stock.unwrap_or(0)) + stock_change).max(0) as u32;
                live.offers[o].stock = Some(stock);
                live.table.columns[o].stock = Some(i64::from(stock));
                let mut row = live.table.columns[o].clone();
                row.vector = live.item_vectors[o * self.dim..(o + 1) * self.dim].to_vec();
                live.index.upsert(&[row])?;
            }
        }
        if touched.is_empty() {
            return Ok(());
        }
        let rows: Vec<(UserRow, u64)> = touched
            .iter()
            .map(|id| {
                let u = &live.users[id];
                (UserRow::from_state(&u.info, &u.state, now, &live.catalogue, u.id_row), u.revision)
            })
            .collect();
        drop(live);
        // The user tower runs under the read lock: requests keep being served meanwhile.
        let (rows, revisions): (Vec<UserRow>, Vec<u64>) = rows.into_iter().unzip();
        let vectors = {
            let live = self.read();
            self.retrieval.user_vectors(rows, &live.catalogue)?
        };
        let mut live = self.write();
        for ((id, v), revision) in touched.iter().zip(vectors.chunks(self.dim)).zip(revisions) {
            // A later event's apply computes its own vector; an older one is not installed over it.
            if let Some(u) = live.users.get_mut(id)
                && u.revision == revision
            {
                u.vector = v.to_vec();
            }
        }
        Ok(())
    }

    /// Recomputes the popularity lists (tops, trends, department tops) as of now.
    pub fn refresh_popularity(&self) {
        let now = self.clock.now().0;
        let snapshot = {
            let live = self.read();
            Arc::new(live.popularity.snapshot(&live.table, now, &self.rank.sources))
        };
        self.write().snapshot = snapshot;
    }

    // ------------------------------------------------------------ reads

    /// The offer's price, for bookings sent without an amount.
    pub fn price_of(&self, offer_id: &str) -> Option<i64> {
        let live = self.read();
        live.table.position(offer_id).map(|o| live.offers[o as usize].price_cents)
    }

    fn item(&self, live: &Live, o: usize, user: Option<&LiveUser>, from: Option<passeur_domain::GeoPoint>) -> ListItem {
        let offer = &live.offers[o];
        let venue = offer.venue_id.as_ref().and_then(|v| live.venues.get(v));
        let facts = &live.table.facts[o];
        ListItem {
            position: 0,
            offer_id: offer.id.clone(),
            item_id: offer.item_id.clone(),
            title: offer.title.clone(),
            category: live.table.columns[o].category.clone(),
            subcategory: live.table.columns[o].subcategory.clone(),
            price_cents: offer.price_cents,
            venue_id: offer.venue_id.clone(),
            venue_name: venue.map(|v| v.name.clone()),
            distance_km: match (from, facts.location) {
                (Some(a), Some(b)) => Some((a.distance_km(b) * 10.0).round() / 10.0),
                _ => None,
            },
            delta_div: user.map_or(0, |u| u.snapshot.profile.delta_div(&self.rules, &live.table.traits[o])),
            score: 0.0,
            explanation: None,
            gateway: None,
        }
    }

    fn user_filters(&self, user: &LiveUser, live: &Live, now: i64, params: &RecoParams) -> Filters {
        let booked: Vec<String> = user.snapshot.booked.iter().map(|&o| live.table.ids[o as usize].clone()).collect();
        let mut filters = Filters::for_user(&user.record, &booked, now, params.radius_km.unwrap_or(self.radius_km));
        if let (Some(point), Some(near)) = (params.location, filters.near.as_mut()) {
            near.point = point;
        } else if let Some(point) = params.location {
            filters.near = Some(passeur_index::Near {
                point,
                radius_km: params.radius_km.unwrap_or(self.radius_km),
                include_digital: true,
            });
        }
        if let Some(max) = params.max_price_cents {
            filters.max_price_cents = Some(filters.max_price_cents.map_or(max, |c| c.min(max)));
        }
        filters.categories.clone_from(&params.categories);
        filters
    }

    /// The user's candidates from every source, scored by the objective and mixed, with how many were
    /// retrieved.
    fn ranked_for(
        &self,
        live: &Live,
        user: &LiveUser,
        now: Timestamp,
        params: &RecoParams,
        seed: u64,
    ) -> Result<(Vec<Ranked>, usize), ApiError> {
        let filters = self.user_filters(user, live, now.0, params);
        let moved;
        let snapshot_user = match params.location {
            Some(point) => {
                moved = {
                    let mut s = user.snapshot.clone();
                    s.home = Some(point);
                    s
                };
                &moved
            }
            None => &user.snapshot,
        };
        let ranker = Ranker::with_parts(
            &self.ranking,
            &live.table,
            &live.popularity,
            &self.rules,
            self.rank.clone(),
            &live.item_vectors,
            self.dim,
            &live.parts,
        );
        let request = UserRequest { user: snapshot_user, vector: Some(&user.vector), filters: &filters, now: now.0 };
        let candidates = ranker.candidates(&live.index, &request, &live.snapshot).map_err(ApiError::internal)?;
        let mut scratch = Scratch::default();
        let ranked = ranker.rank(
            &request,
            &candidates,
            &live.snapshot,
            Policy::of(self.rank.order, self.rank.lambda, seed),
            &mut scratch,
        );
        Ok((ranked, candidates.len()))
    }

    /// The served order's name: the objective with λ, or the configured order, with the mixing and slot.
    fn order_name(&self) -> String {
        use passeur_ranking::{Mixing, Order};
        let order = match self.rank.order {
            Order::Objective => format!("objective(lambda={})", self.rank.lambda),
            Order::Retrieval => "retrieval".to_owned(),
            Order::Tops => "tops".to_owned(),
            Order::Random => "random".to_owned(),
        };
        let mixing = match self.rank.mixing {
            Mixing::None => String::new(),
            Mixing::RoundRobin => " + round-robin".to_owned(),
            Mixing::Mmr { diversity } => format!(" + mmr({diversity})"),
            Mixing::Dpp { theta } => format!(" + dpp(theta={theta})"),
        };
        let slot = self.rank.discover_slot.map_or(String::new(), |s| format!(" + discover slot at {s}"));
        let floor = match (&self.rank.booking_floor, self.rank.order) {
            (Some(f), Order::Objective) => format!(
                " with lambda per list: the largest up to {} keeping {} of the lambda=0 list's expected bookings (decay {}, {} positions)",
                f.max_lambda, f.share, f.decay, f.positions
            ),
            _ => String::new(),
        };
        format!("{order}{floor}{mixing}{slot}")
    }

    /// Puts the best gateway offer into a category the user has not tried (among the ranked offers) at
    /// `slot`; nothing changes when there is none.
    fn place_discovery(&self, live: &Live, user: &LiveUser, ranked: &mut Vec<Ranked>, slot: usize) {
        let mut tried: Vec<usize> =
            user.snapshot.profile.history().iter().map(|h| usize::from(h.traits.category)).collect();
        tried.sort_unstable();
        tried.dedup();
        let offers: Vec<u32> = ranked.iter().map(|r| r.offer).collect();
        let Some((offer, _)) = live.gateway.discover(&tried, &offers, 1).into_iter().next() else { return };
        let Some(at) = ranked.iter().position(|r| r.offer == offer) else { return };
        let pick = ranked.remove(at);
        ranked.insert(slot.min(ranked.len()), pick);
    }

    /// A copy of the live state, to start again from (simulations run several policies from one state).
    pub fn live_snapshot(&self) -> Live {
        self.read().clone()
    }

    /// Replaces the live state with `live` (a [`Engine::live_snapshot`]).
    pub fn restore(&self, live: Live) {
        *self.write() = live;
    }

    /// The user's recommendations: candidates from every source, ranked by
    /// p(click) + p(booking) × (1 + λ·Δdiv), mixed; and the impressions to log.
    pub fn recommend(&self, user_id: &str, params: &RecoParams) -> Result<(ServedList, Vec<Interaction>), ApiError> {
        let live = self.read();
        let now = self.clock.now();
        let user = live.users.get(user_id).ok_or_else(|| ApiError::not_found("user", "user_id", user_id))?;
        let call_id = self.next_call();
        let seed = params.seed.unwrap_or_else(|| list_seed(self.explore_seed, &call_id));
        let (mut ranked, retrieved) = self.ranked_for(&live, user, now, params, seed)?;
        let limit = params.limit.unwrap_or(self.default_limit);
        let from = params.location.or(user.record.home);
        if let Some(slot) = self.rank.discover_slot {
            self.place_discovery(&live, user, &mut ranked, slot.min(limit.saturating_sub(1)));
        }
        // The list: the ranker's (mixed) order when deterministic; otherwise a draw from the top
        // candidates by their objective, with each position's exact probabilities.
        let pool: Vec<&Ranked> = if self.exploration.is_deterministic() {
            ranked.iter().take(limit).collect()
        } else {
            ranked.iter().take(self.explore_candidates.max(limit)).collect()
        };
        let drawn = if self.exploration.is_deterministic() {
            let n = pool.len().min(limit);
            passeur_ope::Drawn {
                order: (0..n).collect(),
                conditional: vec![1.0; n],
                prefix: vec![1.0; n],
                shuffled: false,
            }
        } else {
            let scores: Vec<f64> = pool.iter().map(|r| r.score).collect();
            self.exploration.draw(&scores, limit, seed)
        };
        let record = self.list_record(&live, &call_id, user_id, now, &pool, &drawn, seed);
        let items: Vec<ListItem> = drawn
            .order
            .iter()
            .map(|&c| pool[c])
            .enumerate()
            .map(|(position, r)| {
                let mut item = self.item(&live, r.offer as usize, Some(user), from);
                item.position = position;
                item.score = r.score;
                item.delta_div = r.delta_div;
                if params.explain {
                    item.explanation = Some(self.explain(r));
                }
                item
            })
            .collect();
        let e = &self.exploration;
        let order = self.order_name();
        let policy = if e.is_deterministic() {
            order
        } else {
            format!(
                "plackett-luce({order}, temperature={}, epsilon={} at {:?}, shuffle_share={}, candidates={})",
                e.temperature,
                e.epsilon,
                e.epsilon_positions,
                e.shuffle_share,
                pool.len()
            )
        };
        let list = ServedList {
            call_id,
            user_id: Some(user_id.to_owned()),
            at: now.to_string(),
            list: "recommendations".into(),
            title: "Recommendations".into(),
            policy,
            model_version: self.model_version(),
            candidates: retrieved,
            seed: (!e.is_deterministic()).then_some(seed),
            items,
            diversity: None,
            record: Some(record),
        };
        let mut list = list;
        list.diversity = self.list_diversity(&live, Some(user), &list.items);
        let mut impressions = self.impressions(&list, user_id, now);
        for ((impression, p), prefix) in impressions.iter_mut().zip(&drawn.conditional).zip(&drawn.prefix) {
            if let InteractionKind::Impression { propensity, prefix_propensity, .. } = &mut impression.kind {
                *propensity = *p;
                *prefix_propensity = Some(*prefix);
            }
        }
        Ok((list, impressions))
    }

    /// The served list's record: the policy, the seed, the candidates with their scores, the order drawn
    /// and each position's conditional and prefix probabilities.
    #[allow(clippy::too_many_arguments)]
    fn list_record(
        &self,
        live: &Live,
        call_id: &str,
        user_id: &str,
        now: Timestamp,
        pool: &[&Ranked],
        drawn: &passeur_ope::Drawn,
        seed: u64,
    ) -> passeur_store::ServedListRecord {
        let policy = serde_json::json!({
            "lambda": self.rank.lambda,
            "order": self.rank.order,
            "mixing": self.rank.mixing,
            "discover_slot": self.rank.discover_slot,
            "booking_floor": self.rank.booking_floor,
            "deterministic": self.exploration.is_deterministic(),
            "exploration": self.exploration,
            "model_version": self.model_version(),
        });
        let candidates: Vec<serde_json::Value> = pool
            .iter()
            .map(|r| {
                serde_json::json!({
                    "offer_id": live.table.ids[r.offer as usize],
                    "p_click": r.p_click,
                    "p_booking": r.p_booking,
                    "delta_div": r.delta_div,
                    "score": r.score,
                })
            })
            .collect();
        let body = serde_json::json!({
            "candidates": candidates,
            "order": drawn.order,
            "conditional": drawn.conditional,
            "prefix": drawn.prefix,
            "shuffled": drawn.shuffled,
        });
        passeur_store::ServedListRecord {
            call_id: call_id.to_owned(),
            user_id: user_id.to_owned(),
            at: now.0,
            list: "recommendations".into(),
            policy: policy.to_string(),
            seed: seed as i64,
            body: body.to_string(),
        }
    }

    /// The item-space map, computed on first use (t-SNE of `map_points` offers drawn with a fixed seed).
    pub fn map(&self) -> MapView {
        self.map
            .get_or_init(|| {
                use rand::SeedableRng;
                let live = self.read();
                let n = live.table.len();
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
                let mut chosen = rand::seq::index::sample(&mut rng, n, self.map_points.min(n)).into_vec();
                chosen.sort_unstable();
                let points: Vec<f32> = chosen
                    .iter()
                    .flat_map(|&o| live.item_vectors[o * self.dim..(o + 1) * self.dim].iter().copied())
                    .collect();
                let config = passeur_retrieval::tsne::TsneConfig { iterations: 400, ..Default::default() };
                let layout = passeur_retrieval::tsne::tsne(&points, self.dim, config);
                let mut categories: Vec<String> =
                    chosen.iter().map(|&o| live.table.columns[o].category.clone()).collect();
                categories.sort_unstable();
                categories.dedup();
                let points = chosen
                    .iter()
                    .zip(layout)
                    .map(|(&o, [x, y])| MapPoint {
                        offer_id: live.table.ids[o].clone(),
                        title: live.offers[o].title.clone(),
                        category: live.table.columns[o].category.clone(),
                        x,
                        y,
                    })
                    .collect();
                MapView { categories, points }
            })
            .clone()
    }

    /// A user's journey: the diversity metrics of their bookings, bookings per category, untried categories.
    pub fn journey(&self, user_id: &str) -> Result<JourneyView, ApiError> {
        let live = self.read();
        let user = live.users.get(user_id).ok_or_else(|| ApiError::not_found("user", "user_id", user_id))?;
        let profile = &user.snapshot.profile;
        let categories: Vec<usize> = profile.history().iter().map(|b| usize::from(b.traits.category)).collect();
        let metrics = passeur_insight::UserMetrics::of(&categories, profile.score());
        let mut counts: Vec<CategoryCount> = CategoryId::all()
            .map(|c| CategoryCount {
                category: c.to_string(),
                count: categories.iter().filter(|&&k| k == c.index()).count() as u64,
            })
            .filter(|c| c.count > 0)
            .collect();
        counts.sort_by(|a, b| b.count.cmp(&a.count).then(a.category.cmp(&b.category)));
        let untried = CategoryId::all().filter(|c| !categories.contains(&c.index())).map(|c| c.to_string()).collect();
        Ok(JourneyView { user_id: user_id.to_owned(), metrics, categories: counts, untried })
    }

    /// "Discover": a few entries into categories the user has not booked, among the user's ranked
    /// candidates, the best gateway per category, explained.
    pub fn discover(&self, user_id: &str, params: &RecoParams) -> Result<(ServedList, Vec<Interaction>), ApiError> {
        let live = self.read();
        let now = self.clock.now();
        let user = live.users.get(user_id).ok_or_else(|| ApiError::not_found("user", "user_id", user_id))?;
        let (ranked, retrieved) = self.ranked_for(&live, user, now, params, list_seed(self.explore_seed, user_id))?;
        let booked: Vec<usize> = {
            let mut b: Vec<usize> =
                user.snapshot.profile.history().iter().map(|h| usize::from(h.traits.category)).collect();
            b.sort_unstable();
            b.dedup();
            b
        };
        let offers: Vec<u32> = ranked.iter().map(|r| r.offer).collect();
        let limit = params.limit.unwrap_or(5).min(self.default_limit);
        let picks = live.gateway.discover(&booked, &offers, limit);
        let from = params.location.or(user.record.home);
        let items: Vec<ListItem> = picks
            .into_iter()
            .enumerate()
            .map(|(position, (o, g))| {
                let mut item = self.item(&live, o as usize, Some(user), from);
                item.position = position;
                item.score = g.score;
                let category = CategoryId::all().nth(usize::from(live.table.facts[o as usize].category));
                let label = category.map_or("this category", |c| c.label());
                let seen = if g.exposures == 0 {
                    format!(
                        "no newcomer to {label} has seen this offer yet; offers like it convert {:.0} % of the newcomers who see them",
                        g.subcategory_entry_rate * 100.0
                    )
                } else {
                    format!(
                        "{:.0} % of young people new to it who saw this offer booked it ({} of {}, shrunk toward offers like it)",
                        g.entry_rate * 100.0,
                        g.entries,
                        g.exposures
                    )
                };
                let text = format!(
                    "An entry into {label}, which you have not tried: {seen}; {:.0} % of such entries are followed by another booking in {label}; people with your bookings enter {label} {:.1}× as often as others.",
                    g.follow_through * 100.0,
                    g.lift
                );
                item.gateway = Some(GatewayExplanation { numbers: g, text });
                item
            })
            .collect();
        let list = ServedList {
            call_id: self.next_call(),
            user_id: Some(user_id.to_owned()),
            at: now.to_string(),
            list: "discover".into(),
            title: "Discover a new kind of culture".into(),
            policy: "gateway(entry rate × (1/2 + 1/2 follow-through) × lift, one per untried category)".into(),
            model_version: self.model_version(),
            candidates: retrieved,
            seed: None,
            items,
            diversity: None,
            record: None,
        };
        let mut list = list;
        list.diversity = self.list_diversity(&live, Some(user), &list.items);
        let impressions = self.impressions(&list, user_id, now);
        Ok((list, impressions))
    }

    /// The diversity of a list's offers, for the user (their bookings give the calibration's reference).
    fn list_diversity(
        &self,
        live: &Live,
        user: Option<&LiveUser>,
        items: &[ListItem],
    ) -> Option<passeur_insight::ListMetrics> {
        let offers: Vec<usize> =
            items.iter().filter_map(|i| live.table.position(&i.offer_id)).map(|o| o as usize).collect();
        let vectors: Vec<&[f32]> =
            offers.iter().map(|&o| &live.item_vectors[o * self.dim..(o + 1) * self.dim]).collect();
        let categories: Vec<usize> = offers.iter().map(|&o| usize::from(live.table.facts[o].category)).collect();
        let subcategories: Vec<usize> = offers.iter().map(|&o| usize::from(live.table.facts[o].subcategory)).collect();
        let mut user_counts = vec![0.0; CategoryId::all().count()];
        if let Some(u) = user {
            for b in u.snapshot.profile.history() {
                if let Some(c) = user_counts.get_mut(usize::from(b.traits.category)) {
                    *c += 1.0;
                }
            }
        }
        passeur_insight::ListMetrics::of(&vectors, &categories, &subcategories, &user_counts).ok()
    }

    fn explain(&self, r: &Ranked) -> Explanation {
        let sources: Vec<String> = r.origins.iter().map(|o| format!("{} (#{})", o.source.name(), o.rank + 1)).collect();
        let lambda = r.lambda;
        let diversity = if r.delta_div == 0 {
            "adds nothing new to the user's diversification".to_owned()
        } else {
            format!("would earn {} diversification points ({})", r.delta_div, r.delta_div_criteria.join(", "))
        };
        Explanation {
            sources: r.origins.clone(),
            p_click: r.p_click,
            p_booking: r.p_booking,
            delta_div_criteria: r.delta_div_criteria.clone(),
            retrieval_score: r.retrieval_score,
            retrieval_rank: r.retrieval_rank,
            lambda,
            objective: format!(
                "{:.4} + {:.4} × (1 + {lambda} × {}) = {:.4}",
                r.p_click, r.p_booking, r.delta_div, r.score
            ),
            text: format!(
                "Proposed by {}; {:.0} % chance of a click and {:.0} % of a booking when shown; {diversity}.",
                sources.join(", "),
                r.p_click * 100.0,
                r.p_booking * 100.0
            ),
        }
    }

    fn impressions(&self, list: &ServedList, user_id: &str, now: Timestamp) -> Vec<Interaction> {
        list.items
            .iter()
            .map(|item| Interaction {
                id: format!("{}-{}", list.call_id, item.position),
                user_id: user_id.to_owned(),
                offer_id: item.offer_id.clone(),
                at: now,
                kind: InteractionKind::Impression {
                    call_id: list.call_id.clone(),
                    position: item.position as u32,
                    model_version: format!("{}:{}", list.list, list.model_version),
                    propensity: 1.0,
                    prefix_propensity: Some(1.0),
                },
            })
            .collect()
    }

    /// Offers similar to an offer (item vectors), under the user's filters when a user is given.
    pub fn similar(
        &self,
        offer_id: &str,
        user_id: Option<&str>,
        limit: usize,
    ) -> Result<(ServedList, Vec<Interaction>), ApiError> {
        let live = self.read();
        let now = self.clock.now();
        let o =
            live.table.position(offer_id).ok_or_else(|| ApiError::not_found("offer", "offer_id", offer_id))? as usize;
        let user = match user_id {
            Some(id) => Some(live.users.get(id).ok_or_else(|| ApiError::not_found("user", "user_id", id))?),
            None => None,
        };
        let mut filters = match user {
            Some(u) => self.user_filters(u, &live, now.0, &RecoParams::default()),
            None => Filters { bookable_at: Some(now.0), ..Filters::default() },
        };
        filters.exclude_offers.push(offer_id.to_owned());
        filters.exclude_items.push(live.offers[o].item_id.clone());
        let vector = &live.item_vectors[o * self.dim..(o + 1) * self.dim];
        let from = user.and_then(|u| u.record.home);
        let hits = live.index.search(vector, &filters, limit * 3).map_err(ApiError::internal)?;
        let hits = one_per_item(hits, from);
        let mut items = self.hit_items(&live, &hits, user, from, limit);
        // A similar-offers list scores by similarity to the seed offer.
        for item in &mut items {
            if let Some(h) = hits.iter().find(|h| h.offer_id == item.offer_id) {
                item.score = f64::from(h.score);
            }
        }
        let list = ServedList {
            call_id: self.next_call(),
            user_id: user_id.map(str::to_owned),
            at: now.to_string(),
            list: "similar".into(),
            title: format!("Like {}", live.offers[o].title),
            policy: "item-vector similarity".into(),
            model_version: self.retrieval_version.clone(),
            candidates: hits.len(),
            items,
            diversity: None,
            seed: None,
            record: None,
        };
        let mut list = list;
        list.diversity = self.list_diversity(&live, user, &list.items);
        let impressions = user_id.map(|u| self.impressions(&list, u, now)).unwrap_or_default();
        Ok((list, impressions))
    }

    fn hit_items(
        &self,
        live: &Live,
        hits: &[Hit],
        user: Option<&LiveUser>,
        from: Option<passeur_domain::GeoPoint>,
        limit: usize,
    ) -> Vec<ListItem> {
        hits.iter()
            .filter_map(|h| live.table.position(&h.offer_id))
            .take(limit)
            .enumerate()
            .map(|(position, o)| {
                let mut item = self.item(live, o as usize, user, from);
                item.position = position;
                item.score = f64::from(user.map_or(0.0, |u| {
                    dot(&u.vector, &live.item_vectors[o as usize * self.dim..(o as usize + 1) * self.dim])
                }));
                item
            })
            .collect()
    }

    /// The user's playlists (all, or the one named), seeded by an offer for "similar" playlists.
    pub fn playlists(
        &self,
        user_id: &str,
        seed_offer: Option<&str>,
        only: Option<&str>,
        params: &RecoParams,
    ) -> Result<(Vec<ServedList>, Vec<Interaction>), ApiError> {
        let live = self.read();
        let now = self.clock.now();
        let user = live.users.get(user_id).ok_or_else(|| ApiError::not_found("user", "user_id", user_id))?;
        let specs: Vec<_> = match only {
            Some(name) => vec![self.playlists.get(name).ok_or_else(|| {
                let names: Vec<&str> = self.playlists.playlist.iter().map(|p| p.name.as_str()).collect();
                ApiError::bad_param("playlist", format!("unknown playlist {name:?} (one of {})", names.join(", ")))
            })?],
            None => self.playlists.playlist.iter().collect(),
        };
        let seed = match seed_offer {
            Some(id) => {
                let o = live.table.position(id).ok_or_else(|| ApiError::not_found("offer", "offer_id", id))? as usize;
                Some((
                    live.offers[o].id.as_str(),
                    live.offers[o].item_id.as_str(),
                    &live.item_vectors[o * self.dim..(o + 1) * self.dim],
                ))
            }
            None => None,
        };
        let from = params.location.or(user.record.home);
        let ctx = PlaylistContext {
            user_vector: Some(&user.vector),
            seed_offer: seed,
            filters: self.user_filters(user, &live, now.0, params),
            now: now.0,
            department: Some(user.record.department.clone()),
            location: from,
        };
        let mut lists = Vec::new();
        let mut impressions = Vec::new();
        for spec in specs {
            let Some(p) = build(&live.index, spec, &ctx).map_err(ApiError::internal)? else { continue };
            let items = self.hit_items(&live, &p.hits, Some(user), from, spec.size);
            let list = ServedList {
                call_id: self.next_call(),
                user_id: Some(user_id.to_owned()),
                at: now.to_string(),
                list: p.name.clone(),
                title: p.title.clone(),
                policy: "playlist".into(),
                model_version: self.retrieval_version.clone(),
                candidates: p.hits.len(),
                items,
                diversity: None,
                seed: None,
                record: None,
            };
            let mut list = list;
            list.diversity = self.list_diversity(&live, Some(user), &list.items);
            impressions.extend(self.impressions(&list, user_id, now));
            lists.push(list);
        }
        Ok((lists, impressions))
    }

    /// The user's diversification score with the points of each booking, from the user's stored events.
    pub fn diversification(&self, user_id: &str, events: &[Interaction]) -> Result<Diversification, ApiError> {
        let live = self.read();
        if !live.users.contains_key(user_id) {
            return Err(ApiError::not_found("user", "user_id", user_id));
        }
        let mut profile = UserProfile::new();
        let mut bookings: Vec<BookingPoints> = Vec::new();
        let mut position: FxHashMap<&str, usize> = FxHashMap::default();
        for e in events {
            match &e.kind {
                InteractionKind::Booking { .. } => {
                    let Some(o) = live.table.position(&e.offer_id) else { continue };
                    let o = o as usize;
                    let points = profile.book(&self.rules, &e.id, e.at.0, live.table.traits[o]);
                    position.insert(e.id.as_str(), bookings.len());
                    bookings.push(BookingPoints {
                        booking_id: e.id.clone(),
                        offer_id: e.offer_id.clone(),
                        title: live.offers[o].title.clone(),
                        category: live.table.columns[o].category.clone(),
                        subcategory: live.table.columns[o].subcategory.clone(),
                        at: e.at.to_string(),
                        points: points.points,
                        criteria: points.criteria.iter().map(|c| c.name()).collect(),
                        cancelled: false,
                    });
                }
                InteractionKind::Cancellation { booking_id } => {
                    if profile.cancel(&self.rules, booking_id)
                        && let Some(&i) = position.get(booking_id.as_str())
                    {
                        bookings[i].cancelled = true;
                    }
                }
                _ => {}
            }
        }
        let mut categories: Vec<String> =
            bookings.iter().filter(|b| !b.cancelled).map(|b| b.category.clone()).collect();
        categories.sort();
        categories.dedup();
        Ok(Diversification { user_id: user_id.to_owned(), score: profile.score(), categories, bookings })
    }

    /// Δdiv of an offer for a user now, with its criteria.
    pub fn delta_div(&self, user_id: &str, offer_id: &str) -> Result<(u32, Vec<&'static str>), ApiError> {
        let live = self.read();
        let user = live.users.get(user_id).ok_or_else(|| ApiError::not_found("user", "user_id", user_id))?;
        let o = live.table.position(offer_id).ok_or_else(|| ApiError::not_found("offer", "offer_id", offer_id))?;
        let p = user.snapshot.profile.explain(&self.rules, &live.table.traits[o as usize]);
        Ok((p.points, p.criteria.iter().map(|c| c.name()).collect()))
    }

    /// Counts for readiness and metrics: offers, users.
    pub fn sizes(&self) -> (usize, usize) {
        let live = self.read();
        (live.offers.len(), live.users.len())
    }

    /// Users known to the model when trained (the rest are content-only to it).
    pub fn known_users(&self) -> usize {
        self.known_users
    }
}

/// A list's seed: the service's seed and the call id, mixed (SplitMix64 over FNV-1a).
fn list_seed(seed: u64, call_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in call_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Fits the gateway model on every user's timeline: consultations and favourites are exposures, bookings
/// (less those cancelled) are bookings.
pub fn fit_gateway(timelines: &[Vec<Event>], table: &OfferTable) -> Result<GatewayModel> {
    use passeur_insight::{Exposure, JourneyEvent};
    let journeys: Vec<Vec<JourneyEvent>> = timelines
        .iter()
        .map(|events| {
            let mut journey: Vec<JourneyEvent> = Vec::with_capacity(events.len());
            for e in events {
                match e.kind {
                    EventKind::Consultation | EventKind::Favourite => {
                        journey.push(JourneyEvent { at: e.at, offer: e.offer, kind: Exposure::Seen })
                    }
                    EventKind::Booking => {
                        journey.push(JourneyEvent { at: e.at, offer: e.offer, kind: Exposure::Booked })
                    }
                    EventKind::Cancellation => {
                        if let Some(i) = journey.iter().rposition(|j| j.offer == e.offer && j.kind == Exposure::Booked)
                        {
                            journey.remove(i);
                        }
                    }
                }
            }
            journey
        })
        .collect();
    let category: Vec<u16> = table.facts.iter().map(|f| u16::from(f.category)).collect();
    let subcategory: Vec<u16> = table.facts.iter().map(|f| u16::from(f.subcategory)).collect();
    GatewayModel::fit(
        journeys.iter().map(Vec::as_slice),
        &category,
        &subcategory,
        CategoryId::all().count(),
        SubcategoryId::all().count(),
        GatewayConfig::default(),
    )
    .map_err(|e| ServerError::Data(format!("gateway model: {e}")))
}
