//! Learning p(click) and p(booking) from impression logs: each logged
//! impression becomes one example, its features computed as of the served
//! call (the user's state before it, the offer's bookings before it, the
//! retrieval model's score of that moment), labelled by the consultation and
//! the booking of the same offer that followed it.

use crate::config::{SourceConfig, TrainConfig};
use crate::error::{RankingError, Result};
use crate::features::slot;
use crate::features::{FeatureSpace, OfferTable, Popularity, Request, RetrievalView, Snapshot, UserSnapshot, dot};
use crate::gbdt::{self, GbdtObjective, TrainSet, Trained};
use crate::metrics::HeadQuality;
use crate::model::{Head, LinearHead, ModelKind, Provenance, RankingModel, TreeHead, design_matrix, standardisation};
use passeur_diversity::DiversificationRules;
use passeur_domain::{GeoPoint, Offer, Timestamp, Venue};
use passeur_index::{Filters, Near};
use passeur_retrieval::bundle::{load_bundle, read_vectors};
use passeur_retrieval::{Dataset, EventKind, TwoTower, UserRow, UserState};
use passeur_store::RecordStore;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::path::Path;

const DAY: i64 = Timestamp::DAY;

/// Everything ranking reads from a data directory: the retrieval model and
/// its vectors, the store's offers, users, events and impressions.
pub struct RankingData {
    /// The store's records as the towers see them (timelines, impressions).
    pub dataset: Dataset,
    /// Offers, in the dataset's catalogue order.
    pub table: OfferTable,
    /// Each user's home, by dataset user index.
    pub homes: Vec<Option<GeoPoint>>,
    /// Each user's department in the table's departments, by dataset user index.
    pub user_departments: Vec<u32>,
    /// Bookings of every offer over time (cancelled ones removed).
    pub popularity: Popularity,
    /// The retrieval model.
    pub model: TwoTower,
    /// Item vectors, row-major, in catalogue order.
    pub item_vectors: Vec<f32>,
    /// Vector dimension.
    pub dim: usize,
    /// The retrieval bundle's version.
    pub retrieval_version: String,
}

impl RankingData {
    /// Reads the retrieval bundle in `retrieval_dir` and the store.
    pub fn load(store: &dyn RecordStore, retrieval_dir: &Path) -> Result<RankingData> {
        RankingData::load_with(store, retrieval_dir, true)
    }

    /// As [`RankingData::load`], without the impression logs (`dataset.impressions` stays empty): what
    /// the service needs to serve, read in less time.
    pub fn load_for_serving(store: &dyn RecordStore, retrieval_dir: &Path) -> Result<RankingData> {
        RankingData::load_with(store, retrieval_dir, false)
    }

    fn load_with(store: &dyn RecordStore, retrieval_dir: &Path, impressions: bool) -> Result<RankingData> {
        let (model, meta) = load_bundle(retrieval_dir)?;
        let dataset = Dataset::from_store_ordered(
            store,
            meta.text_model.as_deref(),
            model.config.artist_buckets,
            Some(meta.departments.clone()),
            Some((&meta.offer_ids, &meta.user_ids)),
            impressions,
        )?;
        let (ids, mut item_vectors, dim) = read_vectors(&retrieval_dir.join("item_vectors.parquet"))?;
        if ids.len() > dataset.catalogue.len() || ids[..] != dataset.catalogue.offer_ids[..ids.len()] {
            return Err(RankingError::Data(format!(
                "{}: the item vectors do not follow the catalogue: retrain with `passeur train retrieval`",
                retrieval_dir.display()
            )));
        }
        // Offers added since training: the item tower embeds them from their content.
        let added: Vec<u32> = (ids.len() as u32..dataset.catalogue.len() as u32).collect();
        if !added.is_empty() {
            item_vectors.extend(model.item_vectors(&dataset.catalogue, &added)?);
        }
        let mut venues: FxHashMap<String, Venue> = FxHashMap::default();
        store.scan_venues(&mut |v| {
            venues.insert(v.id.clone(), v);
            Ok(())
        })?;
        let mut offers: FxHashMap<String, Offer> = FxHashMap::default();
        store.scan_offers(&mut |o| {
            offers.insert(o.id.clone(), o);
            Ok(())
        })?;
        let mut table = OfferTable::new();
        for id in &dataset.catalogue.offer_ids {
            let offer = &offers[id];
            table.push(offer, offer.venue_id.as_ref().and_then(|v| venues.get(v)));
        }
        let mut homes = vec![None; dataset.users.len()];
        let mut user_departments = vec![0; dataset.users.len()];
        store.scan_users(&mut |u| {
            if let Some(i) = dataset.user_position(&u.id) {
                homes[i as usize] = u.home;
                user_departments[i as usize] = table.department(&u.department);
            }
            Ok(())
        })?;
        let mut popularity = Popularity::new(table.len());
        for timeline in &dataset.timelines {
            let mut open: FxHashMap<u32, Vec<i64>> = FxHashMap::default();
            for e in timeline {
                match e.kind {
                    EventKind::Booking => {
                        popularity.record(e.offer, e.at);
                        open.entry(e.offer).or_default().push(e.at);
                    }
                    EventKind::Cancellation => {
                        if let Some(at) = open.get_mut(&e.offer).and_then(Vec::pop) {
                            popularity.forget(e.offer, at);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(RankingData {
            dataset,
            table,
            homes,
            user_departments,
            popularity,
            model,
            item_vectors,
            dim,
            retrieval_version: meta.version,
        })
    }

    /// A user before any event.
    pub fn fresh_user(&self, u: usize) -> UserSnapshot {
        UserSnapshot::new(
            self.dataset.users[u].birth_date,
            self.homes[u],
            self.user_departments[u],
            self.dataset.initial_credit[u],
        )
    }

    /// The vector of offer `o`.
    pub fn item_vector(&self, o: u32) -> &[f32] {
        &self.item_vectors[o as usize * self.dim..(o as usize + 1) * self.dim]
    }

    /// Item vectors of a seeded sample of the catalogue: the reference of estimated retrieval ranks.
    pub fn reference_sample(&self, size: usize, seed: u64) -> Vec<f32> {
        let n = self.table.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut picked = sample(&mut rng, n, size.min(n)).into_vec();
        picked.sort_unstable();
        picked.iter().flat_map(|&o| self.item_vector(o as u32).iter().copied()).collect()
    }

    /// Popularity snapshots at the start of each day from `first` to `last` (seconds), in parallel.
    pub fn daily_snapshots(&self, first: i64, last: i64, sources: &SourceConfig) -> DailySnapshots {
        let start = first.div_euclid(DAY) * DAY;
        let days = ((last - start).div_euclid(DAY) + 1).max(1) as usize;
        let snapshots = (0..days)
            .into_par_iter()
            .map(|d| self.popularity.snapshot(&self.table, start + d as i64 * DAY, sources))
            .collect();
        DailySnapshots { start, snapshots }
    }
}

/// Popularity snapshots, one per day.
pub struct DailySnapshots {
    start: i64,
    snapshots: Vec<Snapshot>,
}

impl DailySnapshots {
    /// The snapshot of the day of `at` (the closest one outside the range).
    pub fn at(&self, at: i64) -> &Snapshot {
        let d = (at - self.start).div_euclid(DAY).clamp(0, self.snapshots.len() as i64 - 1);
        &self.snapshots[d as usize]
    }
}

/// Impressions turned into examples.
#[derive(Debug, Clone, Default)]
pub struct Examples {
    /// Features, row-major.
    pub x: Vec<f32>,
    /// Features per row.
    pub dim: usize,
    /// Consulted after the impression.
    pub click: Vec<bool>,
    /// Booked after the impression.
    pub booking: Vec<bool>,
    /// In the held-out period.
    pub held_out: Vec<bool>,
    /// The impression's instant.
    pub at: Vec<i64>,
    /// An unshown candidate added as a negative (false: a logged impression).
    pub sampled: Vec<bool>,
}

impl Examples {
    /// Rows.
    pub fn len(&self) -> usize {
        self.click.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.click.is_empty()
    }

    fn append(&mut self, mut other: Examples) {
        self.x.append(&mut other.x);
        self.click.append(&mut other.click);
        self.booking.append(&mut other.booking);
        self.held_out.append(&mut other.held_out);
        self.at.append(&mut other.at);
        self.sampled.append(&mut other.sampled);
    }
}

/// True when `times` (sorted) holds an instant in `[from, from + window]`.
fn within(times: &[i64], from: i64, window: i64) -> bool {
    let i = times.partition_point(|&t| t < from);
    times.get(i).is_some_and(|&t| t <= from + window)
}

/// Builds one example per kept impression. Training impressions (before `cut`) are kept with
/// probability `keep_train`; held-out ones are all kept.
#[allow(clippy::too_many_arguments)]
pub fn build_examples(
    data: &RankingData,
    rules: &DiversificationRules,
    sources: &SourceConfig,
    config: &TrainConfig,
    cut: i64,
    keep_train: f64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Examples> {
    let space = FeatureSpace::new();
    let dim = space.dim();
    let ds = &data.dataset;
    let (first, last) =
        ds.impressions.iter().flatten().fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(s.at), hi.max(s.at)));
    if first > last {
        return Err(RankingError::Data(
            "the store holds no impressions: the ranking models learn from served lists (impression interactions \
             with their call ids); import them, or let the service log them"
                .into(),
        ));
    }
    let snapshots = data.daily_snapshots(first, last, sources);
    let reference = data.reference_sample(config.reference_sample, config.seed);
    let n_offers = data.table.len();
    let history_len = data.model.config.history_len;
    let parts: Vec<Result<Examples>> = (0..ds.users.len())
        .into_par_iter()
        .map(|u| {
            let shown = &ds.impressions[u];
            let mut out = Examples { dim, ..Examples::default() };
            if shown.is_empty() {
                return Ok(out);
            }
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ (u as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let keep: Vec<bool> =
                shown.iter().map(|s| s.at >= cut || keep_train >= 1.0 || rng.random_bool(keep_train)).collect();
            if !keep.iter().any(|k| *k) {
                return Ok(out);
            }
            let timeline = &ds.timelines[u];
            let mut consulted: FxHashMap<u32, Vec<i64>> = FxHashMap::default();
            let mut booked: FxHashMap<u32, Vec<i64>> = FxHashMap::default();
            for e in timeline {
                match e.kind {
                    EventKind::Consultation => consulted.entry(e.offer).or_default().push(e.at),
                    EventKind::Booking => booked.entry(e.offer).or_default().push(e.at),
                    _ => {}
                }
            }
            // Calls: runs of impressions sharing a call id; the call's instant is its first impression's.
            let mut calls: Vec<(usize, usize)> = Vec::new();
            let mut i = 0;
            while i < shown.len() {
                let mut j = i + 1;
                while j < shown.len() && shown[j].call == shown[i].call {
                    j += 1;
                }
                if keep[i..j].iter().any(|k| *k) {
                    calls.push((i, j));
                }
                i = j;
            }
            let mut user = data.fresh_user(u);
            let mut state = UserState::new(ds.initial_credit[u], history_len);
            let mut e = 0;
            let mut users = Vec::with_capacity(calls.len());
            let mut rows = Vec::with_capacity(calls.len());
            for &(i, _) in &calls {
                let t = shown[i].at;
                while e < timeline.len() && timeline[e].at < t {
                    user.apply(&data.table, rules, &timeline[e]);
                    state.apply(&timeline[e]);
                    e += 1;
                }
                rows.push(UserRow::from_state(&ds.users[u], &state, Timestamp(t), &ds.catalogue, Some(u as u32)));
                users.push(user.clone());
            }
            let vectors = data.model.user_vectors(rows, &ds.catalogue)?;
            let mut row = vec![0f32; dim];
            let mut pool: Vec<(f32, u32)> = Vec::with_capacity(config.negative_pool);
            for (c, &(i, j)) in calls.iter().enumerate() {
                let t = shown[i].at;
                let uv = &vectors[c * data.dim..(c + 1) * data.dim];
                let view = RetrievalView::new(uv, &reference, data.dim, n_offers);
                let request = Request::at(t);
                let snapshot = snapshots.at(t);
                let mut push = |out: &mut Examples, offer: u32, at: i64, sampled: bool| {
                    let score = dot(uv, data.item_vector(offer));
                    space.compute(
                        &data.table,
                        &data.popularity,
                        snapshot,
                        &users[c],
                        rules,
                        sources,
                        &Request { now: at, ..request },
                        offer,
                        (score, view.rank(score)),
                        &mut row,
                    );
                    out.x.extend_from_slice(&row);
                    out.click.push(consulted.get(&offer).is_some_and(|t| within(t, at, config.click_window_s)));
                    out.booking.push(booked.get(&offer).is_some_and(|t| within(t, at, config.booking_window_s)));
                    out.held_out.push(at >= cut);
                    out.at.push(at);
                    out.sampled.push(sampled);
                };
                for k in i..j {
                    if keep[k] {
                        push(&mut out, shown[k].offer, shown[k].at, false);
                    }
                }
                if config.negatives == 0 || !keep[i..j].iter().any(|k| *k) {
                    continue;
                }
                // Unshown candidates: the best retrieval scores among random offers this user could book now.
                let user = &users[c];
                let filters = Filters {
                    max_price_cents: Some(user.credit_cents.max(0)),
                    bookable_at: Some(t),
                    near: user.home.map(|point| Near { point, radius_km: sources.radius_km, include_digital: true }),
                    user_age: Some(user.age(t)),
                    ..Filters::default()
                };
                pool.clear();
                for _ in 0..config.negative_pool {
                    let o = rng.random_range(0..n_offers as u32);
                    if user.booked.contains(&o)
                        || shown[i..j].iter().any(|s| s.offer == o)
                        || !filters.matches(&data.table.columns[o as usize])
                    {
                        continue;
                    }
                    pool.push((dot(uv, data.item_vector(o)), o));
                }
                pool.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                pool.dedup_by_key(|p| p.1);
                for &(_, o) in pool.iter().take(config.negatives) {
                    push(&mut out, o, t, true);
                }
            }
            progress(1);
            Ok(out)
        })
        .collect();
    let mut all = Examples { dim, ..Examples::default() };
    for part in parts {
        all.append(part?);
    }
    Ok(all)
}

/// The held-out quality of both heads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Quality {
    /// p(click | shown).
    pub click: HeadQuality,
    /// p(booking | shown).
    pub booking: HeadQuality,
}

/// How the heads were fitted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FitReport {
    /// `linear` or `gbdt`.
    pub model: &'static str,
    /// Seconds spent fitting (both heads, calibration included).
    pub seconds: f64,
    /// Per tree model: its name, the iteration kept and the rounds run.
    pub rounds: Vec<(String, usize, usize)>,
}

/// Fits both heads on the training rows of `examples` and measures them on the held-out rows;
/// `progress` is called after each boosting round (gbdt).
pub fn fit(
    examples: &Examples,
    config: &TrainConfig,
    cut: i64,
    retrieval_version: &str,
    progress: &dyn Fn(usize),
) -> Result<(RankingModel, Quality, FitReport)> {
    config.validate()?;
    let started = std::time::Instant::now();
    let dim = examples.dim;
    let calibration_from = cut - config.calibration_days * DAY;
    let calibration: Vec<usize> =
        (0..examples.len()).filter(|&i| !examples.held_out[i] && examples.at[i] >= calibration_from).collect();
    let train: Vec<usize> = (0..examples.len())
        .filter(|&i| !examples.held_out[i] && (config.calibration_days == 0 || examples.at[i] < calibration_from))
        .collect();
    let valid: Vec<usize> = (0..examples.len()).filter(|&i| examples.held_out[i]).collect();
    if train.len() < 100 || valid.is_empty() {
        return Err(RankingError::Data(format!(
            "{} training and {} held-out impressions: too few to learn and measure (shorten --valid-days or log more)",
            train.len(),
            valid.len()
        )));
    }
    let labels = |which: &[bool], rows: &[usize]| -> Vec<bool> { rows.iter().map(|&i| which[i]).collect() };
    let rows_of = |rows: &[usize]| -> Vec<f32> {
        rows.iter().flat_map(|&i| examples.x[i * dim..(i + 1) * dim].iter().copied()).collect()
    };
    let click_train = labels(&examples.click, &train);
    let booking_train = labels(&examples.booking, &train);
    let mut report = FitReport { model: config.model.name(), seconds: 0.0, rounds: Vec::new() };
    let mut importances = Vec::new();
    let (click, booking, click_scaling, booking_scaling) = match config.model {
        ModelKind::Linear => {
            let train_x = rows_of(&train);
            let (mean, scale) = standardisation(&train_x, dim);
            let rows: Vec<usize> = (0..train.len()).collect();
            let matrix = design_matrix(&train_x, dim, &rows, &mean, &scale);
            drop(train_x);
            let mut click = LinearHead::fit("p_click", &matrix, &click_train, (&mean, &scale), config)?;
            let mut booking = LinearHead::fit("p_booking", &matrix, &booking_train, (&mean, &scale), config)?;
            drop(matrix);
            let calibration_x = rows_of(&calibration);
            let click_scaling = click.recalibrate(&calibration_x, &labels(&examples.click, &calibration))?;
            let booking_scaling = booking.recalibrate(&calibration_x, &labels(&examples.booking, &calibration))?;
            (Head::Linear(click), Head::Linear(booking), click_scaling, booking_scaling)
        }
        ModelKind::Gbdt => {
            let train_x = rows_of(&train);
            let calibration_x = rows_of(&calibration);
            if calibration.is_empty() {
                return Err(RankingError::Config {
                    field: "calibration_days",
                    reason: "gbdt stops on the calibration period: it must hold impressions (calibration_days > 0)"
                        .into(),
                });
            }
            let monotone = monotone_constraints(dim);
            let target = |rows: &[usize], which: Target| -> Vec<f32> {
                rows.iter()
                    .map(|&i| match which {
                        Target::Click => f32::from(u8::from(examples.click[i])),
                        Target::Booking => f32::from(u8::from(examples.booking[i])),
                        Target::Class => {
                            if examples.booking[i] {
                                2.0
                            } else if examples.click[i] {
                                1.0
                            } else {
                                0.0
                            }
                        }
                        Target::Deck => {
                            let delta_div = examples.x[i * dim + slot::DELTA_DIV];
                            f32::from(u8::from(examples.click[i]))
                                + f32::from(u8::from(examples.booking[i])) * (1.0 + delta_div)
                        }
                    })
                    .collect()
            };
            let mut run = |name: &str, objective: GbdtObjective, which: Target| -> Result<Trained> {
                let (y, valid_y) = (target(&train, which), target(&calibration, which));
                let set = TrainSet {
                    x: &train_x,
                    y: &y,
                    valid_x: &calibration_x,
                    valid_y: &valid_y,
                    dim,
                    monotone: &monotone,
                };
                let trained = gbdt::train(&set, objective, &config.gbdt, config.seed, progress)?;
                report.rounds.push((name.to_owned(), trained.best_iteration, trained.valid_loss.len()));
                importances.push((name.to_owned(), trained.gain.clone()));
                Ok(trained)
            };
            let tree_head = |name: &str, objective, trained: &Trained, classes: Vec<usize>| TreeHead {
                name: name.to_owned(),
                objective,
                base: trained.base.clone(),
                classes,
                scaling: (1.0, 0.0),
                trees: trained.trees.clone(),
            };
            let (mut click, mut booking) = match config.objective {
                GbdtObjective::Binary => {
                    let c = run("p_click", GbdtObjective::Binary, Target::Click)?;
                    let b = run("p_booking", GbdtObjective::Binary, Target::Booking)?;
                    (
                        Head::Trees(tree_head("p_click", GbdtObjective::Binary, &c, Vec::new())),
                        Head::Trees(tree_head("p_booking", GbdtObjective::Binary, &b, Vec::new())),
                    )
                }
                GbdtObjective::ThreeClass => {
                    let t = run("seen_consulted_booked", GbdtObjective::ThreeClass, Target::Class)?;
                    (
                        Head::Trees(tree_head("p_click", GbdtObjective::ThreeClass, &t, vec![1, 2])),
                        Head::Trees(tree_head("p_booking", GbdtObjective::ThreeClass, &t, vec![2])),
                    )
                }
                GbdtObjective::Regression => {
                    let r = run("score", GbdtObjective::Regression, Target::Deck)?;
                    (
                        Head::Trees(tree_head("score", GbdtObjective::Regression, &r, Vec::new())),
                        Head::Constant { constant: 0.0 },
                    )
                }
            };
            drop(train_x);
            // Platt scaling of each probability head on the calibration period.
            let scale = |head: &mut Head, y: &[bool]| -> Result<(f64, f64)> {
                let Head::Trees(h) = head else { return Ok((1.0, 0.0)) };
                if h.objective == GbdtObjective::Regression {
                    return Ok((1.0, 0.0));
                }
                let mut p = Vec::new();
                head.values(&calibration_x, dim, &mut p);
                let logits: Vec<f64> = p
                    .iter()
                    .map(|&p| (p.clamp(1e-12, 1.0 - 1e-12) / (1.0 - p.clamp(1e-12, 1.0 - 1e-12))).ln())
                    .collect();
                let (a, b) = platt(&logits, y)?;
                if let Head::Trees(h) = head {
                    h.scaling = (a, b);
                }
                Ok((a, b))
            };
            let click_scaling = scale(&mut click, &labels(&examples.click, &calibration))?;
            let booking_scaling = scale(&mut booking, &labels(&examples.booking, &calibration))?;
            (click, booking, click_scaling, booking_scaling)
        }
    };
    report.seconds = started.elapsed().as_secs_f64();
    let rate = |y: &[bool]| y.iter().filter(|b| **b).count() as f64 / y.len().max(1) as f64;
    let valid_x = rows_of(&valid);
    let predict = |head: &Head| -> Vec<f32> {
        let mut out = Vec::new();
        head.values(&valid_x, dim, &mut out);
        out.into_iter().map(|v| v as f32).collect()
    };
    let quality = if matches!(&booking, Head::Constant { .. }) {
        // The regression's one prediction is a score, not a probability: measure its ranking power.
        let score = predict(&click);
        Quality {
            click: HeadQuality::measure_scores("score vs click", &score, &labels(&examples.click, &valid)),
            booking: HeadQuality::measure_scores("score vs booking", &score, &labels(&examples.booking, &valid)),
        }
    } else {
        Quality {
            click: HeadQuality::measure(
                "p_click",
                &predict(&click),
                &labels(&examples.click, &valid),
                rate(&click_train),
            ),
            booking: HeadQuality::measure(
                "p_booking",
                &predict(&booking),
                &labels(&examples.booking, &valid),
                rate(&booking_train),
            ),
        }
    };
    let names = FeatureSpace::new().names().to_vec();
    let model = RankingModel {
        version: format!("ranking-{}-{}-{}", config.model.name(), Timestamp(cut).date(), config.seed),
        features: names,
        click,
        booking,
        provenance: Provenance {
            train_impressions: train.len(),
            valid_impressions: valid.len(),
            train_clicks: click_train.iter().filter(|b| **b).count(),
            train_bookings: booking_train.iter().filter(|b| **b).count(),
            calibration_impressions: calibration.len(),
            click_scaling,
            booking_scaling,
            cut,
            retrieval_model: retrieval_version.to_owned(),
            config: config.clone(),
        },
        importances,
    };
    Ok((model, quality, report))
}

#[derive(Clone, Copy)]
enum Target {
    Click,
    Booking,
    Class,
    Deck,
}

/// The trees' monotone constraints: with everything else equal, a dearer offer relative to the credit
/// left, or one past it, never scores higher, and more credit never scores lower.
pub fn monotone_constraints(dim: usize) -> Vec<i8> {
    let mut m = vec![0i8; dim];
    m[slot::PRICE_SHARE] = -1;
    m[slot::OVER_CREDIT] = -1;
    m[slot::USER_CREDIT] = 1;
    m
}

/// Platt scaling: `(a, b)` of σ(a·logit + b) fitted on labels `y` (1, 0 with one class only).
pub fn platt(logits: &[f64], y: &[bool]) -> Result<(f64, f64)> {
    use linfa::prelude::*;
    let positives = y.iter().filter(|b| **b).count();
    if y.is_empty() || positives == 0 || positives == y.len() {
        return Ok((1.0, 0.0));
    }
    let x = ndarray::Array2::from_shape_fn((y.len(), 1), |(i, _)| logits[i]);
    let targets = ndarray::Array1::from_iter(y.iter().copied());
    let data = linfa::DatasetBase::new(x.view(), targets);
    let fitted = linfa_logistic::LogisticRegression::default()
        .alpha(1e-3)
        .max_iterations(100)
        .fit(&data)
        .map_err(|e| RankingError::Fit { head: "calibration", reason: e.to_string() })?;
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok((sign * fitted.params()[0], sign * fitted.intercept()))
}

/// The cut between training and held-out impressions: `valid_days` before the last one.
pub fn cut_of(data: &RankingData, config: &TrainConfig) -> i64 {
    let last = data.dataset.impressions.iter().flatten().map(|s| s.at).max().unwrap_or(data.dataset.now.0);
    last - config.valid_days * DAY
}

/// The share of training impressions to keep so that at most `max_examples` are used.
pub fn keep_share(data: &RankingData, config: &TrainConfig, cut: i64) -> f64 {
    let train = data.dataset.impressions.iter().flatten().filter(|s| s.at < cut).count();
    if train <= config.max_examples { 1.0 } else { config.max_examples as f64 / train as f64 }
}
