//! The closed loop: day after day, the sampled young people open the app at their ground-truth rate,
//! the serving [`Engine`] answers each session with a list (the same `Engine::recommend` that
//! `passeur serve` answers `GET /v1/users/{id}/recommendations` with), and the behaviour model answers
//! the list. The day's events are then applied to the engine's live state through `Engine::apply_events`
//! (the write path of the service), so credit, stock, profiles, user vectors and popularity evolve as the
//! journeys do.
//!
//! Users are independent within a day (their sessions run in parallel, each on its own seeded random
//! stream); the couplings between them, stock and popularity, are resolved once per simulated day, in
//! user order. Everything is a function of the seed.

use crate::behaviour::Behaviour;
use crate::error::{JourneyError, Result};
use crate::league::PolicySpec;
use passeur_domain::{CategoryId, Interaction, InteractionKind, Timestamp};
use passeur_insight::gini;
use passeur_ranking::RankConfig;
use passeur_server::engine::{Live, RecoParams};
use passeur_server::{Clock, Engine};
use passeur_store::EventOutcome;
use passeur_synth::{UserTaste, World};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::time::Instant;

/// The shape of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// Simulated weeks.
    pub weeks: u32,
    /// Young people followed (a seeded sample of the world's; all when `None` or larger).
    pub users: Option<usize>,
    /// Seed of the sample (the same young people for every policy and seed).
    pub sample_seed: u64,
    /// Keep every served list with its propensities and outcomes (for off-policy evaluation).
    pub log_lists: bool,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig { weeks: 12, users: None, sample_seed: 7, log_lists: false }
    }
}

/// A list served in the loop, with what the young person did with it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LoggedList {
    /// The young person's index in the sample.
    pub user: usize,
    /// The simulated day.
    pub day: u32,
    /// The offers shown, as table positions, top first.
    pub offers: Vec<u32>,
    /// Each position's probability given the positions above (1 for a deterministic policy).
    pub conditional: Vec<f64>,
    /// Consulted, per position.
    pub consulted: Vec<bool>,
    /// Booked (and accepted), per position.
    pub booked: Vec<bool>,
    /// The service's record of the list (its logged policy and body JSON, as `served_lists` stores them).
    pub record: Option<(String, String)>,
}

/// One young person followed by the study.
#[derive(Debug, Clone)]
struct Follower {
    world: usize,
    id: String,
    taste: UserTaste,
    credit: i64,
    credit_start: i64,
    tried_before: Vec<bool>,
    score_start: u32,
    sessions_per_day: f64,
}

/// What one young person did in one day, before the day's couplings are resolved.
#[derive(Debug, Default)]
struct DayPlan {
    /// (offer, consulted, favourite, booking quantity if the user wants it, cancel after days, position, list).
    actions: Vec<Action>,
    lists: Vec<LoggedList>,
    served: u32,
}

#[derive(Debug, Clone, Copy)]
struct Action {
    offer: u32,
    favourite: bool,
    book: Option<u32>,
    cancel_after: Option<u32>,
    list: usize,
    position: usize,
}

/// A study: one engine loaded on a data directory, the world behind it, and the young people followed.
pub struct Study<'a> {
    engine: &'a mut Engine,
    world: &'a World,
    base: Live,
    base_rank: RankConfig,
    base_exploration: (passeur_ope::Exploration, usize, u64),
    followers: Vec<Follower>,
    /// World offer index of each table position.
    world_offer: Vec<u32>,
    /// Venue index (dense) of each table position (the digital pseudo-venue for offers without one).
    venue_of: Vec<u32>,
    venues: usize,
    start: Timestamp,
    config: StudyConfig,
}

/// The outcome of one policy, one behaviour, one seed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RunOutcome {
    /// The policy's name.
    pub policy: String,
    /// The behaviour's name.
    pub behaviour: String,
    /// The seed.
    pub seed: u64,
    /// Young people followed.
    pub users: usize,
    /// Lists served.
    pub lists: u64,
    /// Simulated user-weeks per second of computation.
    pub user_weeks_per_s: f64,
    /// Seconds the run took.
    pub seconds: f64,
    /// The measures.
    pub metrics: Metrics,
    /// Broken invariants (credit or stock exceeded); empty when the loop is sound.
    pub violations: Vec<String>,
    /// The served lists, when the study logs them.
    #[serde(skip)]
    pub logged: Vec<LoggedList>,
}

/// The measures of a run, per young person followed unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Bookings kept (cancellations deducted).
    pub bookings: f64,
    /// Consultations.
    pub consultations: f64,
    /// Share of the credit held at the start that was spent (net of refunds).
    pub credit_spent: f64,
    /// Diversification points earned during the horizon (the deck's score at the end minus at the start).
    pub points: f64,
    /// Points per kept booking.
    pub points_per_booking: f64,
    /// Distinct categories booked during the horizon.
    pub categories: f64,
    /// Share who booked in a category they had never booked.
    pub entered: f64,
    /// Share who booked twice in such a new category (followed it through).
    pub followed: f64,
    /// Share of the catalogue's offers booked at least once.
    pub offer_coverage: f64,
    /// Gini of bookings across the catalogue's offers.
    pub offer_gini: f64,
    /// Share of venues with at least one booking.
    pub venue_coverage: f64,
    /// Gini of bookings across venues.
    pub venue_gini: f64,
}

impl Metrics {
    /// Every measure with its name, in table order.
    pub fn fields(&self) -> [(&'static str, f64); 12] {
        [
            ("bookings", self.bookings),
            ("consultations", self.consultations),
            ("credit_spent", self.credit_spent),
            ("points", self.points),
            ("points_per_booking", self.points_per_booking),
            ("categories", self.categories),
            ("entered", self.entered),
            ("followed", self.followed),
            ("offer_coverage", self.offer_coverage),
            ("offer_gini", self.offer_gini),
            ("venue_coverage", self.venue_coverage),
            ("venue_gini", self.venue_gini),
        ]
    }
}

fn stream(seed: u64, a: u64, b: u64) -> u64 {
    let mut x = seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl<'a> Study<'a> {
    /// A study over `engine` (loaded on the data directory the world was imported into) and `world`
    /// (regenerated from its scale and seed: its ground truth). The young people's tastes start where the
    /// world's year left them (after its drift).
    pub fn new(engine: &'a mut Engine, world: &'a World, config: StudyConfig) -> Result<Study<'a>> {
        if config.weeks == 0 || config.weeks > 520 {
            return Err(JourneyError::Config {
                field: "weeks".into(),
                reason: format!("{} is not in 1..=520", config.weeks),
            });
        }
        let base = engine.live_snapshot();
        let start = engine.clock.now();
        let world_index: FxHashMap<&str, u32> =
            world.offers.iter().enumerate().map(|(i, o)| (o.id.as_str(), i as u32)).collect();
        let world_offer: Vec<u32> = base
            .table
            .ids
            .iter()
            .map(|id| {
                world_index
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| JourneyError::Mismatch(format!("offer {id} is not in the world")))
            })
            .collect::<Result<_>>()?;
        let mut venue_ids: FxHashMap<&str, u32> = FxHashMap::default();
        let venue_of: Vec<u32> = base
            .offers
            .iter()
            .map(|o| {
                let key = o.venue_id.as_deref().unwrap_or("");
                let n = venue_ids.len() as u32;
                *venue_ids.entry(key).or_insert(n)
            })
            .collect();
        let venues = venue_ids.len().max(base.venues.len());
        let n = world.users.len();
        let picked: Vec<usize> = match config.users {
            Some(k) if k < n => {
                let mut rng = ChaCha8Rng::seed_from_u64(config.sample_seed);
                let mut v = sample(&mut rng, n, k).into_vec();
                v.sort_unstable();
                v
            }
            _ => (0..n).collect(),
        };
        let rate = world.config.sessions_per_user / world.config.days as f64;
        let categories = CategoryId::all().count();
        let followers: Vec<Follower> = picked
            .par_iter()
            .map(|&u| {
                let user = &world.users[u];
                let live = base
                    .users
                    .get(&user.id)
                    .ok_or_else(|| JourneyError::Mismatch(format!("user {} is not served", user.id)))?;
                let (_, _, taste) = world.simulate_user_taste(u);
                let mut tried_before = vec![false; categories];
                for b in live.snapshot.profile.history() {
                    if let Some(t) = tried_before.get_mut(usize::from(b.traits.category)) {
                        *t = true;
                    }
                }
                Ok(Follower {
                    world: u,
                    id: user.id.clone(),
                    sessions_per_day: rate * taste.activity,
                    taste,
                    credit: live.record.credit_cents,
                    credit_start: live.record.credit_cents,
                    tried_before,
                    score_start: live.snapshot.profile.score(),
                })
            })
            .collect::<Result<_>>()?;
        let base_rank = engine.rank.clone();
        let base_exploration = (engine.exploration.clone(), engine.explore_candidates, engine.explore_seed);
        Ok(Study {
            engine,
            world,
            base,
            base_rank,
            base_exploration,
            followers,
            world_offer,
            venue_of,
            venues,
            start,
            config,
        })
    }

    /// Whether runs keep their served lists.
    pub fn set_log_lists(&mut self, log: bool) {
        self.config.log_lists = log;
    }

    /// Young people followed.
    pub fn users(&self) -> usize {
        self.followers.len()
    }

    /// The engine, as the study left it (the live state of the last run).
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// Installs `policy` in the engine, on the study's starting state, with its clock at `day`.
    pub fn install(&mut self, policy: &PolicySpec, seed: u64) -> Result<()> {
        self.engine.restore(self.base.clone());
        self.engine.rank = policy.rank_config(&self.base_rank)?;
        let (exploration, candidates, explore_seed) = match &policy.exploration {
            Some(e) => (e.policy(), e.candidates, e.seed),
            None => self.base_exploration.clone(),
        };
        exploration.validate().map_err(|e| JourneyError::Config {
            field: format!("policy {:?}: exploration", policy.name),
            reason: e.to_string(),
        })?;
        self.engine.exploration = exploration;
        self.engine.explore_candidates = candidates;
        self.engine.explore_seed = explore_seed ^ seed;
        self.engine.clock = Clock::at(self.start);
        Ok(())
    }

    /// The list the installed policy serves `user` (an id) at `day`, with the same seed the loop uses
    /// for that user's `session` that day.
    pub fn list_for(&mut self, user: &str, day: u32, session: u32, seed: u64, limit: usize) -> Result<Vec<String>> {
        let u = self.world.users.iter().position(|x| x.id == user).unwrap_or(usize::MAX);
        self.engine.clock = Clock::at(self.day_instant(day));
        let params = RecoParams {
            limit: Some(limit),
            seed: Some(stream(seed, u as u64, (u64::from(day) << 8) | u64::from(session))),
            ..RecoParams::default()
        };
        let (list, _) = self.engine.recommend(user, &params)?;
        Ok(list.items.into_iter().map(|i| i.offer_id).collect())
    }

    fn day_instant(&self, day: u32) -> Timestamp {
        // A day's sessions are served at the instant the store's last event is, `day` days later.
        Timestamp(self.start.0 + i64::from(day) * Timestamp::DAY)
    }

    /// Runs `policy` under `behaviour` with `seed` over the study's horizon.
    pub fn run(&mut self, policy: &PolicySpec, behaviour: &Behaviour, seed: u64) -> Result<RunOutcome> {
        behaviour.validate()?;
        let started = Instant::now();
        self.install(policy, seed)?;
        let model = behaviour.model();
        let categories = CategoryId::all().count();
        let mut followers = self.followers.clone();
        for f in &mut followers {
            f.taste.openness = (f.taste.openness * behaviour.openness_scale).min(1.0);
        }
        let n_offers = self.world_offer.len();
        let mut stock: Vec<Option<i64>> = self.base.offers.iter().map(|o| o.stock.map(i64::from)).collect();
        let stock_start = stock.clone();
        let mut sold = vec![0i64; n_offers];
        let mut booked_count = vec![0u32; n_offers];
        let mut booked: Vec<FxHashSet<u32>> =
            followers.iter().map(|f| self.base.users[&f.id].snapshot.booked.clone()).collect();
        let mut kept_by_category: Vec<Vec<u32>> = vec![vec![0; categories]; followers.len()];
        let mut consultations = 0u64;
        let mut lists = 0u64;
        let mut logged: Vec<LoggedList> = Vec::new();
        let mut violations: Vec<String> = Vec::new();
        // Cancellations waiting for their day: (day, follower, booking).
        let mut pending: Vec<(u32, usize, Interaction, u32)> = Vec::new();
        let mut serial = vec![0u32; followers.len()];
        let days = self.config.weeks * 7;
        let log = self.config.log_lists;
        for day in 0..days {
            let now = self.day_instant(day);
            self.engine.clock = Clock::at(now);
            let mut events: Vec<Interaction> = Vec::new();
            let mut outcomes: Vec<EventOutcome> = Vec::new();
            let mut bookings: FxHashMap<String, Interaction> = FxHashMap::default();
            // Cancellations due today come first: they give back credit and seats.
            let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(d, ..)| *d <= day);
            pending = later;
            for (_, f, booking, o) in due {
                let InteractionKind::Booking { amount_cents, quantity } = booking.kind else { continue };
                followers[f].credit += amount_cents;
                if let Some(s) = stock[o as usize].as_mut() {
                    *s += i64::from(quantity);
                }
                sold[o as usize] -= i64::from(quantity);
                booked_count[o as usize] -= 1;
                booked[f].remove(&o);
                let c = usize::from(self.base.table.facts[o as usize].category);
                kept_by_category[f][c] -= 1;
                serial[f] += 1;
                let cancel = sim_event(
                    &followers[f].id,
                    &booking.offer_id,
                    serial[f],
                    now,
                    InteractionKind::Cancellation { booking_id: booking.id.clone() },
                );
                bookings.insert(booking.id.clone(), booking);
                events.push(cancel);
                outcomes.push(EventOutcome::Recorded { credit_cents: followers[f].credit });
            }
            // Who opens the app today, and what each does with the lists (in parallel: users are independent).
            let engine: &Engine = self.engine;
            let world = self.world;
            let world_offer = &self.world_offer;
            let plans: Vec<(usize, DayPlan)> = followers
                .par_iter()
                .enumerate()
                .filter_map(|(f, follower)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(stream(seed, follower.world as u64, u64::from(day)));
                    let mean = follower.sessions_per_day * behaviour.sessions_scale;
                    let sessions =
                        if mean > 0.0 { Poisson::new(mean).map_or(0, |p| p.sample(&mut rng) as u32) } else { 0 };
                    (sessions > 0).then(|| {
                        let plan = plan_day(
                            engine,
                            world,
                            world_offer,
                            behaviour,
                            &model,
                            follower,
                            &booked[f],
                            seed,
                            day,
                            sessions,
                            f,
                            log,
                            &mut rng,
                        );
                        (f, plan)
                    })
                })
                .collect();
            // The day's couplings, in user order: seats and credit.
            for (f, plan) in plans {
                lists += u64::from(plan.served);
                let first_list = logged.len();
                logged.extend(plan.lists);
                for a in plan.actions {
                    let o = a.offer as usize;
                    let offer = &world.offers[world_offer[o] as usize];
                    serial[f] += 1;
                    consultations += 1;
                    let user_id = followers[f].id.clone();
                    let offer_id = self.base.table.ids[o].clone();
                    events.push(sim_event(&user_id, &offer_id, serial[f], now, InteractionKind::Consultation));
                    outcomes.push(EventOutcome::Recorded { credit_cents: followers[f].credit });
                    if a.favourite {
                        serial[f] += 1;
                        events.push(sim_event(&user_id, &offer_id, serial[f], now, InteractionKind::Favourite));
                        outcomes.push(EventOutcome::Recorded { credit_cents: followers[f].credit });
                    }
                    let Some(quantity) = a.book else { continue };
                    let amount = offer.price_cents * i64::from(quantity);
                    let seats = stock[o].is_none_or(|s| s >= i64::from(quantity));
                    if amount > followers[f].credit || !seats || booked[f].contains(&a.offer) {
                        continue;
                    }
                    followers[f].credit -= amount;
                    if let Some(s) = stock[o].as_mut() {
                        *s -= i64::from(quantity);
                    }
                    sold[o] += i64::from(quantity);
                    booked_count[o] += 1;
                    booked[f].insert(a.offer);
                    let c = usize::from(self.base.table.facts[o].category);
                    kept_by_category[f][c] += 1;
                    if log && let Some(l) = logged.get_mut(first_list + a.list) {
                        l.booked[a.position] = true;
                    }
                    serial[f] += 1;
                    let booking = sim_event(
                        &user_id,
                        &offer_id,
                        serial[f],
                        now,
                        InteractionKind::Booking { amount_cents: amount, quantity },
                    );
                    events.push(booking.clone());
                    outcomes.push(EventOutcome::Recorded { credit_cents: followers[f].credit });
                    // A discovery: open users take to the new category (the world's drift rule).
                    let taste = &mut followers[f].taste;
                    if taste.categories[c] < 0.05 {
                        taste.categories[c] += model.drift * taste.openness;
                        let total: f64 = taste.categories.iter().sum();
                        taste.categories.iter_mut().for_each(|w| *w /= total);
                    }
                    if let Some(after) = a.cancel_after {
                        pending.push((day + after, f, booking.clone(), a.offer));
                    }
                    bookings.insert(booking.id.clone(), booking);
                }
            }
            if !events.is_empty() {
                self.engine.apply_events(&events, &outcomes, &bookings)?;
            }
            self.engine.refresh_popularity();
        }
        // Invariants, checked against the engine's own state as well as the loop's books.
        let live = self.engine.read();
        for (o, start) in stock_start.iter().enumerate() {
            if let Some(start) = start {
                if sold[o] > *start {
                    violations.push(format!(
                        "offer {}: {} seats sold of a stock of {start}",
                        self.base.table.ids[o], sold[o]
                    ));
                }
                let now = live.offers[o].stock.map_or(0, i64::from);
                if now != start - sold[o] {
                    violations.push(format!(
                        "offer {}: the engine holds stock {now}, the loop {}",
                        self.base.table.ids[o],
                        start - sold[o]
                    ));
                }
            }
        }
        let mut points = 0u64;
        let mut spent = 0i64;
        let mut credit_start = 0i64;
        let (mut cats, mut entered, mut followed) = (0u64, 0u64, 0u64);
        for (f, follower) in followers.iter().enumerate() {
            let user = &live.users[&follower.id];
            if follower.credit < 0 || user.record.credit_cents != follower.credit {
                violations.push(format!(
                    "user {}: credit {} in the loop, {} in the engine",
                    follower.id, follower.credit, user.record.credit_cents
                ));
            }
            points += u64::from(user.snapshot.profile.score().saturating_sub(follower.score_start));
            spent += follower.credit_start - follower.credit;
            credit_start += follower.credit_start;
            let k = &kept_by_category[f];
            cats += k.iter().filter(|&&n| n > 0).count() as u64;
            let new: Vec<u32> = k.iter().zip(&follower.tried_before).filter(|(_, t)| !**t).map(|(n, _)| *n).collect();
            entered += u64::from(new.iter().any(|&n| n >= 1));
            followed += u64::from(new.iter().any(|&n| n >= 2));
        }
        drop(live);
        let users = followers.len().max(1) as f64;
        let kept: u64 = booked_count.iter().map(|&n| u64::from(n)).sum();
        let offer_counts: Vec<f64> = booked_count.iter().map(|&n| f64::from(n)).collect();
        let mut venue_counts = vec![0.0; self.venues.max(1)];
        for (o, &n) in booked_count.iter().enumerate() {
            venue_counts[self.venue_of[o] as usize] += f64::from(n);
        }
        let metrics = Metrics {
            bookings: kept as f64 / users,
            consultations: consultations as f64 / users,
            credit_spent: if credit_start > 0 { spent as f64 / credit_start as f64 } else { 0.0 },
            points: points as f64 / users,
            points_per_booking: if kept > 0 { points as f64 / kept as f64 } else { 0.0 },
            categories: cats as f64 / users,
            entered: entered as f64 / users,
            followed: followed as f64 / users,
            offer_coverage: booked_count.iter().filter(|&&n| n > 0).count() as f64 / n_offers.max(1) as f64,
            offer_gini: gini(&offer_counts),
            venue_coverage: venue_counts.iter().filter(|&&n| n > 0.0).count() as f64 / venue_counts.len() as f64,
            venue_gini: gini(&venue_counts),
        };
        let seconds = started.elapsed().as_secs_f64();
        Ok(RunOutcome {
            policy: policy.name.clone(),
            behaviour: behaviour.name.clone(),
            seed,
            users: followers.len(),
            lists,
            user_weeks_per_s: followers.len() as f64 * f64::from(self.config.weeks) / seconds.max(1e-9),
            seconds,
            metrics,
            violations,
            logged,
        })
    }
}

/// An event of the loop, numbered in its user's own series.
fn sim_event(user_id: &str, offer_id: &str, serial: u32, at: Timestamp, kind: InteractionKind) -> Interaction {
    Interaction {
        id: format!("sim-{user_id}-{serial}"),
        user_id: user_id.to_owned(),
        offer_id: offer_id.to_owned(),
        at,
        kind,
    }
}

/// One young person's day: each session's list from the engine, and the behaviour model's answer to it.
#[allow(clippy::too_many_arguments)]
fn plan_day(
    engine: &Engine,
    world: &World,
    world_offer: &[u32],
    behaviour: &Behaviour,
    model: &passeur_synth::BehaviourModel,
    follower: &Follower,
    booked: &FxHashSet<u32>,
    seed: u64,
    day: u32,
    sessions: u32,
    f: usize,
    log: bool,
    rng: &mut ChaCha8Rng,
) -> DayPlan {
    let mut plan = DayPlan::default();
    let user = &world.users[follower.world];
    let mut credit = follower.credit;
    let mut wanted: FxHashSet<u32> = FxHashSet::default();
    let tried: Vec<bool> = follower.tried_before.clone();
    for session in 0..sessions {
        let params = RecoParams {
            limit: Some(behaviour.list_len),
            seed: Some(stream(seed, follower.world as u64, (u64::from(day) << 8) | u64::from(session))),
            ..RecoParams::default()
        };
        // A user the engine cannot serve (none here: every follower is served) sees nothing.
        let Ok((mut list, impressions)) = engine.recommend(&follower.id, &params) else { continue };
        let record = if log { list.record.take().map(|r| (r.policy, r.body)) } else { None };
        plan.served += 1;
        let live = engine.read();
        let offers: Vec<u32> = list.items.iter().filter_map(|i| live.table.position(&i.offer_id)).collect();
        let categories: Vec<usize> =
            offers.iter().map(|&o| usize::from(live.table.facts[o as usize].category)).collect();
        drop(live);
        let conditional: Vec<f64> = impressions
            .iter()
            .map(|i| match i.kind {
                InteractionKind::Impression { propensity, .. } => propensity,
                _ => 1.0,
            })
            .collect();
        let mut consulted = vec![false; offers.len()];
        for (position, (&o, &c)) in offers.iter().zip(&categories).enumerate() {
            if !rng.random_bool(behaviour.examined(position).clamp(0.0, 1.0)) {
                continue;
            }
            let offer = &world.offers[world_offer[o as usize] as usize];
            let quality = world.truth.offer_quality[world_offer[o as usize] as usize];
            let novelty = if tried.get(c).copied().unwrap_or(true) { 0.0 } else { behaviour.novelty_aversion };
            let utility = model.utility(&follower.taste, offer, quality, world.distance_km(user, offer))
                - behaviour.price_per_euro * offer.price_cents as f64 / 100.0
                - novelty;
            if !rng.random_bool(model.p_consult(utility)) {
                continue;
            }
            consulted[position] = true;
            let favourite = rng.random_bool(model.favourite_rate);
            let quantity = if offer.duo && rng.random_bool(behaviour.duo_rate) { 2 } else { 1 };
            let amount = offer.price_cents * i64::from(quantity);
            let wants = amount <= credit
                && !booked.contains(&o)
                && !wanted.contains(&o)
                && offer.is_bookable_at(engine.clock.now())
                && rng.random_bool(model.p_book(utility));
            let (book, cancel_after) = if wants {
                credit -= amount;
                wanted.insert(o);
                let cancel =
                    rng.random_bool(model.cancel_rate).then(|| rng.random_range(1..=behaviour.cancel_within_days));
                (Some(quantity), cancel)
            } else {
                (None, None)
            };
            plan.actions.push(Action { offer: o, favourite, book, cancel_after, list: plan.lists.len(), position });
        }
        if log {
            let n = offers.len();
            plan.lists.push(LoggedList {
                user: f,
                day,
                offers,
                conditional,
                consulted,
                booked: vec![false; n],
                record,
            });
        }
    }
    plan
}

/// Loads the serving engine on `data_dir` as `passeur serve` would with `config`, its clock frozen at the
/// store's last event (the study moves it day by day).
pub fn load_engine(data_dir: &std::path::Path, config: &passeur_server::ServerConfig) -> Result<Engine> {
    let mut config = config.clone();
    config.clock = passeur_server::ClockKind::Frozen;
    let store = passeur_store::SqliteStore::open(data_dir).map_err(|e| JourneyError::Engine(e.to_string()))?;
    Ok(Engine::load(&store, &passeur_server::ModelDirs::of(data_dir), &config, None)?)
}
