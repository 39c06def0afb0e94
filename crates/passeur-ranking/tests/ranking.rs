//! The ranking stage on hand-made cases and on the small synthetic world:
//! features, the objective, λ, mixing, calibration, cold users, save/load.

use passeur_diversity::DiversificationRules;
use passeur_domain::{GeoPoint, Offer, SubcategoryId, Timestamp, Venue, VenueTypeId};
use passeur_index::{ExactIndex, Filters, IndexedOffer, Near, VectorIndex};
use passeur_ranking::evaluate::{EvalConfig, compare};
use passeur_ranking::features::{OfferTable, Popularity, Request, UserSnapshot, slot};
use passeur_ranking::gbdt::{self, GbdtObjective, TrainSet};
use passeur_ranking::metrics::{auc, calibration, log_loss};
use passeur_ranking::rank::{Candidate, Origin, Policy, Ranked, Ranker, Scratch, Source, UserRequest, mix};
use passeur_ranking::train::{Examples, Quality, build_examples, cut_of, fit, monotone_constraints};
use passeur_ranking::{
    FeatureSpace, Head, Mixing, ModelKind, RankConfig, RankingData, RankingModel, SourceConfig, TrainConfig,
};
use passeur_retrieval::bundle::{BundleMeta, save_bundle};
use passeur_retrieval::train::train;
use passeur_retrieval::{Dataset, ModelConfig, Positives, Split, SplitKind};
use passeur_store::{RecordStore, SqliteStore};
use passeur_synth::{Scale, World, WorldConfig};
use std::sync::OnceLock;

const DAY: i64 = Timestamp::DAY;

fn venue(id: &str, at: Option<GeoPoint>, kind: &str) -> Venue {
    Venue {
        id: id.into(),
        name: format!("venue {id}"),
        venue_type: VenueTypeId::parse(kind).unwrap(),
        location: at,
        city: "Lyon".into(),
        department: "69".into(),
        partner_id: "p1".into(),
    }
}

fn offer(id: &str, item: &str, subcategory: &str, price: i64, venue: &str, created: i64) -> Offer {
    Offer {
        id: id.into(),
        item_id: item.into(),
        title: format!("offer {id}"),
        description: String::new(),
        artist: None,
        subcategory: SubcategoryId::parse(subcategory).unwrap(),
        book_macro_section: None,
        music_genre: None,
        show_type: None,
        movie_genre: None,
        price_cents: price,
        duo: false,
        stock: None,
        bookable_from: None,
        bookable_until: None,
        event_start: None,
        created_at: Timestamp(created),
        venue_id: Some(venue.into()),
        image_embedding: None,
    }
}

const NOW: i64 = 1_700_000_000;

fn lyon() -> GeoPoint {
    GeoPoint { lat: 45.7640, lon: 4.8357 }
}

fn villeurbanne() -> GeoPoint {
    GeoPoint { lat: 45.7719, lon: 4.8902 }
}

#[test]
fn features_are_computed_as_defined_on_hand_made_cases() {
    let mut table = OfferTable::new();
    let near = venue("v1", Some(villeurbanne()), "MOVIE");
    let mut concert = offer("o1", "i1", "CONCERT", 1_500, "v1", NOW - 10 * DAY);
    concert.event_start = Some(Timestamp(NOW + 3 * DAY));
    let o1 = table.push(&concert, Some(&near));
    let book = offer("o2", "i2", "LIVRE_PAPIER", 6_000, "v1", NOW - 100 * DAY);
    let o2 = table.push(&book, Some(&near));
    let mut popularity = Popularity::new(table.len());
    for days_ago in [1, 10, 20, 40] {
        popularity.record(o1, NOW - days_ago * DAY);
    }
    // A booking at the request's instant is not in the past of it.
    popularity.record(o1, NOW);
    let sources = SourceConfig::default();
    let snapshot = popularity.snapshot(&table, NOW, &sources);
    let birth = chrono::NaiveDate::from_ymd_opt(2006, 6, 1).unwrap();
    let user = UserSnapshot::new(birth, Some(lyon()), table.department("69"), 4_000);
    let rules = DiversificationRules::deck();
    let space = FeatureSpace::new();
    let mut row = vec![0f32; space.dim()];
    let request = Request::at(NOW);
    let points =
        space.compute(&table, &popularity, &snapshot, &user, &rules, &sources, &request, o1, (0.5, 12.0), &mut row);
    let km = lyon().distance_km(villeurbanne());
    assert!((4.0..5.0).contains(&km), "Lyon to Villeurbanne is about 4.3 km, got {km}");
    assert!((row[slot::DISTANCE_LOG] - (km as f32).ln_1p()).abs() < 1e-5);
    assert_eq!(row[slot::DISTANCE_UNKNOWN], 0.0);
    assert_eq!(row[slot::WITHIN_10KM], 1.0);
    assert!((row[slot::PRICE_SHARE] - 1_500.0 / 4_000.0).abs() < 1e-6);
    assert_eq!(row[slot::OVER_CREDIT], 0.0);
    assert_eq!(row[slot::FREE], 0.0);
    assert_eq!(row[slot::EVENT], 1.0);
    assert!((row[slot::DAYS_TO_EVENT_LOG] - 4f32.ln()).abs() < 1e-5, "3 days to the event");
    assert!((row[slot::DAYS_SINCE_CREATION_LOG] - 11f32.ln()).abs() < 1e-5, "created 10 days ago");
    assert!((row[slot::BOOKINGS_7D_LOG] - 2f32.ln()).abs() < 1e-6, "1 booking in 7 days");
    assert!((row[slot::BOOKINGS_14D_LOG] - 3f32.ln()).abs() < 1e-6, "2 bookings in 14 days");
    assert!((row[slot::BOOKINGS_28D_LOG] - 4f32.ln()).abs() < 1e-6, "3 bookings in 28 days");
    assert_eq!(row[slot::RETRIEVAL_SCORE], 0.5);
    assert!((row[slot::RETRIEVAL_RANK_LOG] - 13f32.ln()).abs() < 1e-5);
    assert_eq!(row[slot::SRC_RETRIEVAL], 1.0);
    assert_eq!(row[slot::SRC_TOPS], 1.0);
    assert_eq!(row[slot::SRC_NEW], 1.0, "10 days old is new (14 days)");
    assert_eq!(row[slot::SRC_DEPARTMENT], 1.0, "the user's department's most booked");
    assert_eq!(row[slot::USER_COLD], 1.0);
    assert_eq!(row[slot::CATEGORY_SHARE], 0.0, "no history yet");
    // No booking yet: the first booking earns the deck's first-booking points.
    assert_eq!(row[slot::DELTA_DIV], points.points as f32);
    assert!(points.points > 0);
    assert_eq!(row[slot::WEEKDAY..slot::WEEKDAY + 7].iter().sum::<f32>(), 1.0);
    assert_eq!(row[slot::CATEGORY..].iter().sum::<f32>(), 2.0, "one category and one subcategory indicator");

    // The book: over the remaining credit, old, never booked, not new.
    space.compute(&table, &popularity, &snapshot, &user, &rules, &sources, &request, o2, (0.1, 5_000.0), &mut row);
    assert!((row[slot::PRICE_SHARE] - 1.5).abs() < 1e-6);
    assert_eq!(row[slot::OVER_CREDIT], 1.0);
    assert_eq!(row[slot::EVENT], 0.0);
    assert_eq!(row[slot::DAYS_TO_EVENT_LOG], 0.0);
    assert_eq!(row[slot::SRC_NEW], 0.0);
    assert_eq!(row[slot::SRC_TOPS], 0.0);
    assert_eq!(row[slot::SRC_RETRIEVAL], 0.0, "rank 5000 is past the retrieval source's 300");
    assert_eq!(row[slot::BOOKINGS_28D_LOG], 0.0);

    // A user without a home: distance unknown. No credit left: the price share saturates.
    let far = UserSnapshot::new(birth, None, 0, 0);
    space.compute(&table, &popularity, &snapshot, &far, &rules, &sources, &request, o1, (0.0, 0.0), &mut row);
    assert_eq!(row[slot::DISTANCE_UNKNOWN], 1.0);
    assert_eq!(row[slot::DISTANCE_LOG], 0.0);
    assert_eq!(row[slot::PRICE_SHARE], 2.0);
    assert_eq!(row[slot::SRC_DEPARTMENT], 0.0);
}

#[test]
fn objective_and_cut_follow_the_formula() {
    assert_eq!(passeur_ranking::objective(0.2, 0.1, 0, 1.0), 0.2 + 0.1);
    assert!((passeur_ranking::objective(0.2, 0.1, 3, 1.0) - (0.2 + 0.1 * 4.0)).abs() < 1e-12);
    assert!((passeur_ranking::objective(0.2, 0.1, 3, 0.5) - (0.2 + 0.1 * 2.5)).abs() < 1e-12);
    // A booking-rich, diversifying offer overtakes a click-rich one as λ grows.
    let click_rich = |l| passeur_ranking::objective(0.30, 0.01, 0, l);
    let booking_rich = |l| passeur_ranking::objective(0.10, 0.08, 4, l);
    assert!(click_rich(0.0) > booking_rich(0.0));
    assert!(booking_rich(1.0) > click_rich(1.0));
}

fn ranked(i: u32, category: &str, score: f64) -> Ranked {
    Ranked {
        offer_id: format!("o{i:04}"),
        offer: i,
        category: category.into(),
        score,
        p_click: 0.0,
        p_booking: 0.0,
        delta_div: 0,
        delta_div_criteria: Vec::new(),
        distance_km: None,
        retrieval_score: 0.0,
        retrieval_rank: 0,
        origins: Vec::new(),
        lambda: 0.0,
    }
}

#[test]
fn mixing_caps_a_category_share() {
    // 80 books score best, then 20 films, then 20 concerts.
    let mut scored: Vec<Ranked> = (0..80).map(|i| ranked(i, "LIVRE", 10.0 - f64::from(i) * 0.01)).collect();
    scored.extend((80..100).map(|i| ranked(i, "CINEMA", 5.0 - f64::from(i) * 0.01)));
    scored.extend((100..120).map(|i| ranked(i, "MUSIQUE_LIVE", 4.0 - f64::from(i) * 0.01)));
    for mixing in [Mixing::None, Mixing::RoundRobin, Mixing::Mmr { diversity: 0.3 }] {
        let config = RankConfig { list_len: 20, keep: 120, max_category_share: 0.4, mixing, ..RankConfig::default() };
        let list = mix(scored.clone(), &config, |a, b| if a / 10 == b / 10 { 1.0 } else { 0.0 });
        assert_eq!(list.len(), 20);
        let books = list.iter().filter(|r| r.category == "LIVRE").count();
        assert!(books <= 8, "{mixing:?}: at most ⌈0.4 × 20⌉ books, not {books}");
        if mixing == Mixing::None {
            assert_eq!(books, 8, "unmixed, the best books fill the cap");
        }
        let ids: std::collections::HashSet<&str> = list.iter().map(|r| r.offer_id.as_str()).collect();
        assert_eq!(ids.len(), 20, "no offer twice");
    }
    // Round-robin alternates categories from the start.
    let config = RankConfig {
        list_len: 6,
        keep: 120,
        max_category_share: 1.0,
        mixing: Mixing::RoundRobin,
        ..RankConfig::default()
    };
    let list = mix(scored.clone(), &config, |_, _| 0.0);
    let categories: Vec<&str> = list.iter().map(|r| r.category.as_str()).collect();
    assert_eq!(categories, ["LIVRE", "CINEMA", "MUSIQUE_LIVE", "LIVRE", "CINEMA", "MUSIQUE_LIVE"]);
    // Without mixing and without a cap, the objective's order stands.
    let config =
        RankConfig { list_len: 10, keep: 120, max_category_share: 1.0, mixing: Mixing::None, ..RankConfig::default() };
    let list = mix(scored.clone(), &config, |_, _| 0.0);
    assert!(list.iter().map(|r| r.offer).eq(0..10));
    // When only one category is left, the cap gives way rather than shorten the list.
    let books: Vec<Ranked> = scored.iter().take(30).cloned().collect();
    let config = RankConfig {
        list_len: 20,
        keep: 120,
        max_category_share: 0.4,
        mixing: Mixing::RoundRobin,
        ..RankConfig::default()
    };
    assert_eq!(mix(books, &config, |_, _| 0.0).len(), 20);
}

#[test]
fn metrics_match_hand_computed_values() {
    assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[true, true, false, false]), Some(1.0));
    assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[true, true, false, false]), Some(0.0));
    assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &[true, false, true, false]), Some(0.5));
    // One positive above two of three negatives: 2/3.
    let a = auc(&[0.6, 0.7, 0.5, 0.4], &[true, false, false, false]).unwrap();
    assert!((a - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    let ll = log_loss(&[0.8, 0.3], &[true, false]);
    assert!((ll - (-(0.8f64.ln()) - 0.7f64.ln()) / 2.0).abs() < 1e-6);
    let c = calibration(&[0.1, 0.1, 0.9, 0.9], &[false, false, true, true], 2);
    assert_eq!(c.bins.len(), 2);
    assert!((c.ece - 0.1).abs() < 1e-6, "each bin is off by 0.1: {}", c.ece);
}

#[test]
fn configs_name_the_bad_field() {
    let bad = RankConfig { list_len: 200, ..RankConfig::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("list_len"));
    let bad = RankConfig { lambda: -1.0, ..RankConfig::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("lambda"));
    let bad = RankConfig { mixing: Mixing::Mmr { diversity: 2.0 }, ..RankConfig::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("mixing.diversity"));
    let bad = TrainConfig { valid_days: 0, ..TrainConfig::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("valid_days"));
}

// ---- The small world, trained once and shared. ----

struct Fixture {
    _dir: tempfile::TempDir,
    data: RankingData,
    /// Gradient-boosted trees (the default).
    model: RankingModel,
    quality: Quality,
    /// The linear heads, on the same examples.
    linear: RankingModel,
    linear_quality: Quality,
    examples: Examples,
    config: TrainConfig,
    rules: DiversificationRules,
}

fn small_store(dir: &std::path::Path) -> SqliteStore {
    let world = World::generate(WorldConfig::for_scale(Scale::Small, 7));
    let mut interactions = Vec::new();
    let credits = world.simulate(64, &mut |block| interactions.extend(block));
    let mut store = SqliteStore::open(dir).unwrap();
    let mut tx = store.begin_import().unwrap();
    for v in &world.venues {
        tx.upsert_venue(v).unwrap();
    }
    for o in &world.offers {
        tx.upsert_offer(o).unwrap();
    }
    for u in &world.users_with_credit(&credits) {
        tx.upsert_user(u).unwrap();
    }
    for i in &interactions {
        tx.upsert_interaction(i).unwrap();
    }
    tx.commit().unwrap();
    store
}

fn fixture() -> &'static Fixture {
    static SHARED: OnceLock<Fixture> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let dataset = Dataset::from_store(&store, None, 4096, None).unwrap();
        let split = Split::new(&dataset, SplitKind::Chronological);
        let config = passeur_retrieval::TrainConfig {
            batch_size: 256,
            max_epochs: 4,
            positives: Positives::parse("consultation").unwrap(),
            ..passeur_retrieval::TrainConfig::default()
        };
        let (model, catalogue, report) = train(&dataset, &split, ModelConfig::default(), &config, &mut |_| {}).unwrap();
        let retrieval_dir = dir.path().join("retrieval");
        let meta = BundleMeta {
            offer_ids: catalogue.offer_ids.clone(),
            user_ids: dataset.users.iter().map(|u| u.id.clone()).collect(),
            departments: dataset.departments.clone(),
            split: SplitKind::Chronological,
            text_model: None,
            train: config,
            report,
            version: "test".into(),
        };
        save_bundle(&retrieval_dir, &model, &catalogue, &dataset, &meta).unwrap();
        let data = RankingData::load(&store, &retrieval_dir).unwrap();
        let rules = DiversificationRules::deck();
        let config = TrainConfig { valid_days: 60, ..TrainConfig::default() };
        let cut = cut_of(&data, &config);
        let examples = build_examples(&data, &rules, &SourceConfig::default(), &config, cut, 1.0, &|_| {}).unwrap();
        let (model, quality, _) = fit(&examples, &config, cut, "test", &|_| {}).unwrap();
        let linear_config = TrainConfig { model: ModelKind::Linear, ..config.clone() };
        let (linear, linear_quality, _) = fit(&examples, &linear_config, cut, "test", &|_| {}).unwrap();
        Fixture { _dir: dir, data, model, quality, linear, linear_quality, examples, config, rules }
    })
}

fn check_quality(q: &Quality, (click_ece, booking_ece): (f64, f64)) {
    let (c, b) = (&q.click, &q.booking);
    eprintln!("{}", serde_json::to_string(q).unwrap());
    assert!(c.examples > 1_000 && b.positives > 20, "{} held-out impressions, {} bookings", c.examples, b.positives);
    // Better than chance, and better than predicting the base rate.
    assert!(c.auc.unwrap() > 0.65, "p(click) AUC {:?}", c.auc);
    assert!(b.auc.unwrap() > 0.65, "p(booking) AUC {:?}", b.auc);
    assert!(c.log_loss < c.baseline_log_loss, "{} vs constant {}", c.log_loss, c.baseline_log_loss);
    assert!(b.log_loss < b.baseline_log_loss, "{} vs constant {}", b.log_loss, b.baseline_log_loss);
    assert!(c.calibration.ece < click_ece, "p(click) ECE {}", c.calibration.ece);
    assert!(b.calibration.ece < booking_ece, "p(booking) ECE {}", b.calibration.ece);
    assert!((c.calibration.mean_predicted - c.calibration.mean_observed).abs() < 0.05);
    assert!((b.calibration.mean_predicted - b.calibration.mean_observed).abs() < 0.01);
}

#[test]
fn the_probabilities_are_informative_and_calibrated_on_the_small_world() {
    let f = fixture();
    // Calibrated within stated tolerances on the last 60 days (10 equal-mass bins), Platt-scaled on the
    // 14 days before: expected calibration error under 0.05 for clicks and under 0.01 for bookings with
    // the trees; the linear heads, which under-predict the middle of the range, under 0.07 and 0.015.
    check_quality(&f.quality, (0.05, 0.01));
    check_quality(&f.linear_quality, (0.07, 0.015));
    // The trees read the same rows better than the linear heads.
    let (t, l) = (&f.quality, &f.linear_quality);
    assert!(t.click.auc > l.click.auc && t.booking.auc > l.booking.auc, "AUC trees {t:?} vs linear {l:?}");
    assert!(t.click.log_loss < l.click.log_loss && t.booking.log_loss < l.booking.log_loss);
}

#[test]
fn saved_models_load_with_the_same_probabilities_and_refuse_other_layouts() {
    let f = fixture();
    let dim = FeatureSpace::new().dim();
    let rows = &f.examples.x[..200 * dim];
    for model in [&f.model, &f.linear] {
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        let back = RankingModel::load(dir.path()).unwrap();
        assert_eq!(back.kind(), model.kind());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (x, y) in [(&back.click, &model.click), (&back.booking, &model.booking)] {
            x.values(rows, dim, &mut a);
            y.values(rows, dim, &mut b);
            assert_eq!(a, b, "predictions after a save and a load");
            // One row at a time gives the batch's values.
            let single: Vec<f64> = rows.chunks(dim).map(|r| x.value(r)).collect();
            assert_eq!(single, a);
        }
        let mut other = model.clone();
        other.features.pop();
        other.save(dir.path()).unwrap();
        let err = RankingModel::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("features"), "{err}");
    }
    // Trees that read a feature past this build's layout are refused, naming the head.
    let mut broken = f.model.clone();
    if let Head::Trees(h) = &mut broken.booking {
        h.trees.nodes[0].feature = dim as u32 + 3;
    }
    let dir = tempfile::tempdir().unwrap();
    broken.save(dir.path()).unwrap();
    let err = RankingModel::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("p_booking") && err.contains("out of range"), "{err}");
}

#[test]
fn flattened_trees_predict_what_lightgbm_predicts() {
    let f = fixture();
    let dim = f.examples.dim;
    let n = f.examples.len().min(20_000);
    let x = &f.examples.x[..n * dim];
    let split = n * 3 / 4;
    for objective in [GbdtObjective::Binary, GbdtObjective::ThreeClass, GbdtObjective::Regression] {
        let y: Vec<f32> = (0..n)
            .map(|i| match objective {
                GbdtObjective::Binary => f32::from(u8::from(f.examples.click[i])),
                GbdtObjective::ThreeClass => {
                    if f.examples.booking[i] {
                        2.0
                    } else {
                        f32::from(u8::from(f.examples.click[i]))
                    }
                }
                GbdtObjective::Regression => f32::from(u8::from(f.examples.click[i])) * 1.5,
            })
            .collect();
        let monotone = monotone_constraints(dim);
        let set = TrainSet {
            x: &x[..split * dim],
            y: &y[..split],
            valid_x: &x[split * dim..],
            valid_y: &y[split..],
            dim,
            monotone: &monotone,
        };
        let config = passeur_ranking::GbdtConfig { max_rounds: 40, ..f.config.gbdt.clone() };
        let trained = gbdt::train(&set, objective, &config, 1, &|_| {}).unwrap();
        assert!(trained.best_iteration >= 1 && trained.best_iteration <= 40);
        assert_eq!(trained.trees.len(), trained.best_iteration * trained.trees.outputs);
        let reference = gbdt::lightgbm_raw(&trained.lightgbm_text, x, dim, trained.best_iteration).unwrap();
        let mut ours = vec![0f64; n * trained.trees.outputs];
        trained.trees.add_raw_batch(x, &mut ours);
        assert_eq!(reference.len(), ours.len());
        for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
            assert!((a - b).abs() < 1e-9, "{objective:?} row {} output {}: ours {a}, LightGBM {b}", i / 3, i % 3);
        }
    }
}

#[test]
fn an_offer_past_the_credit_never_outranks_the_same_offer_within_it() {
    let f = fixture();
    let dim = f.examples.dim;
    let mut checked = 0;
    for row in f.examples.x.chunks(dim).step_by(7).take(3_000) {
        let price_share = row[slot::PRICE_SHARE];
        if price_share <= 0.0 || price_share >= 2.0 || row[slot::USER_CREDIT] <= 0.0 {
            continue;
        }
        // The same offer for the same user, once with credit to spare and once with credit short of its price.
        let price = price_share * row[slot::USER_CREDIT];
        let mut within = row.to_vec();
        within[slot::USER_CREDIT] = price * 2.0;
        within[slot::PRICE_SHARE] = 0.5;
        within[slot::OVER_CREDIT] = 0.0;
        let mut past = row.to_vec();
        past[slot::USER_CREDIT] = price * 0.5;
        past[slot::PRICE_SHARE] = 2.0;
        past[slot::OVER_CREDIT] = 1.0;
        for lambda in [0.0, 1.0, 4.0] {
            let delta_div = row[slot::DELTA_DIV] as u32;
            let score = |x: &[f32]| {
                passeur_ranking::objective(f.model.click.value(x), f.model.booking.value(x), delta_div, lambda)
            };
            assert!(score(&past) <= score(&within), "past credit {} > within {}", score(&past), score(&within));
        }
        checked += 1;
    }
    assert!(checked > 1_000, "{checked} priced rows");
}

#[test]
fn the_other_objectives_train_and_rank_by_their_formula() {
    let f = fixture();
    let cut = f.model.provenance.cut;
    for objective in [GbdtObjective::ThreeClass, GbdtObjective::Regression] {
        let config = TrainConfig { objective, ..f.config.clone() };
        let (model, quality, _) = fit(&f.examples, &config, cut, "test", &|_| {}).unwrap();
        eprintln!("{objective:?}: {}", serde_json::to_string(&quality).unwrap());
        assert!(quality.click.auc.unwrap() > 0.65 && quality.booking.auc.unwrap() > 0.65, "{quality:?}");
        let dim = f.examples.dim;
        let rows = &f.examples.x[..500 * dim];
        let (mut c, mut b) = (Vec::new(), Vec::new());
        model.click.values(rows, dim, &mut c);
        model.booking.values(rows, dim, &mut b);
        match objective {
            // p(booking) = p(booked) ≤ p(consulted) + p(booked) = p(click), before calibration; after
            // it, both stay probabilities.
            GbdtObjective::ThreeClass => {
                assert!(c.iter().chain(&b).all(|p| *p > 0.0 && *p < 1.0));
            }
            // The 2023 model's one prediction is the score; p(booking) is the constant 0.
            _ => assert!(b.iter().all(|p| *p == 0.0) && c.iter().all(|v| v.is_finite())),
        }
    }
    // Linear heads are binary only.
    let bad = TrainConfig { model: ModelKind::Linear, objective: GbdtObjective::ThreeClass, ..f.config.clone() };
    assert!(bad.validate().unwrap_err().to_string().contains("objective"));
}

/// A ranker over the fixture's models, with the instant of the held-out period's start and its popularity.
fn ranker_at_cut(f: &Fixture, config: RankConfig) -> (Ranker<'_>, i64, passeur_ranking::Snapshot) {
    let ranker =
        Ranker::new(&f.model, &f.data.table, &f.data.popularity, &f.rules, config, &f.data.item_vectors, f.data.dim)
            .unwrap();
    let now = f.model.provenance.cut;
    let snapshot = f.data.popularity.snapshot(&f.data.table, now, &ranker.config().sources);
    (ranker, now, snapshot)
}

struct Served {
    index: ExactIndex,
}

fn served(f: &Fixture) -> Served {
    let mut index = ExactIndex::new(f.data.dim);
    let offers: Vec<IndexedOffer> = (0..f.data.table.len())
        .map(|o| IndexedOffer { vector: f.data.item_vector(o as u32).to_vec(), ..f.data.table.columns[o].clone() })
        .collect();
    index.upsert(&offers).unwrap();
    Served { index }
}

fn user_at(f: &Fixture, u: usize, now: i64) -> (UserSnapshot, Filters) {
    let mut user = f.data.fresh_user(u);
    for e in f.data.dataset.timelines[u].iter().filter(|e| e.at < now) {
        user.apply(&f.data.table, &f.rules, e);
    }
    let filters = Filters {
        max_price_cents: Some(user.credit_cents.max(0)),
        bookable_at: Some(now),
        near: user.home.map(|point| Near { point, radius_km: 30.0, include_digital: true }),
        user_age: Some(user.age(now)),
        exclude_offers: user.booked.iter().map(|&o| f.data.table.ids[o as usize].clone()).collect(),
        ..Filters::default()
    };
    (user, filters)
}

#[test]
fn ranked_lists_follow_the_objective_and_explain_themselves() {
    let f = fixture();
    let s = served(f);
    let config = RankConfig { mixing: Mixing::None, max_category_share: 1.0, ..RankConfig::default() };
    let (ranker, now, snapshot) = ranker_at_cut(f, config);
    let mut scratch = Scratch::default();
    let mut checked = 0;
    for u in (0..f.data.dataset.users.len()).step_by(37) {
        let (user, filters) = user_at(f, u, now);
        let vector = f.data.item_vector(0).to_vec();
        let request = UserRequest { user: &user, vector: Some(&vector), filters: &filters, now };
        let candidates = ranker.candidates(&s.index, &request, &snapshot).unwrap();
        if candidates.len() < 20 {
            continue;
        }
        checked += 1;
        // Every candidate passes the user's filters, and no item appears twice.
        let mut items = std::collections::HashSet::new();
        for c in &candidates {
            assert!(filters.matches(&f.data.table.columns[c.offer as usize]));
            assert!(items.insert(f.data.table.facts[c.offer as usize].item));
            assert!(!c.origins.is_empty());
        }
        for lambda in [0.0, 1.0, 3.0] {
            let list = ranker.rank(&request, &candidates, &snapshot, Policy::Objective { lambda }, &mut scratch);
            assert_eq!(list.len(), ranker.config().list_len.min(candidates.len()));
            for r in &list {
                let want = passeur_ranking::objective(r.p_click, r.p_booking, r.delta_div, lambda);
                assert!((r.score - want).abs() < 1e-9, "score {} ≠ formula {want}", r.score);
                assert!(r.p_click > 0.0 && r.p_click < 1.0 && r.p_booking > 0.0 && r.p_booking < 1.0);
                assert_eq!(r.delta_div > 0, !r.delta_div_criteria.is_empty());
            }
            assert!(list.windows(2).all(|w| w[0].score >= w[1].score), "best first");
            // The list is the best of all candidates.
            let all = ranker.score(&request, &candidates, &snapshot, Policy::Objective { lambda }, &mut scratch);
            let mut scores: Vec<f64> = all.iter().map(|r| r.score).collect();
            scores.sort_by(|a, b| b.total_cmp(a));
            assert!((list.last().unwrap().score - scores[list.len() - 1]).abs() < 1e-12);
        }
    }
    assert!(checked >= 5, "only {checked} users had candidates");
}

#[test]
fn an_offer_rich_in_bookings_and_diversification_rises_with_lambda() {
    let f = fixture();
    let s = served(f);
    let config =
        RankConfig { mixing: Mixing::None, max_category_share: 1.0, keep: 500, list_len: 500, ..RankConfig::default() };
    let (ranker, now, snapshot) = ranker_at_cut(f, config);
    let mut scratch = Scratch::default();
    let mut rose = 0;
    for u in (0..f.data.dataset.users.len()).step_by(41) {
        let (user, filters) = user_at(f, u, now);
        let vector = f.data.item_vector(1).to_vec();
        let request = UserRequest { user: &user, vector: Some(&vector), filters: &filters, now };
        let candidates = ranker.candidates(&s.index, &request, &snapshot).unwrap();
        let scored = ranker.score(&request, &candidates, &snapshot, Policy::Objective { lambda: 0.0 }, &mut scratch);
        // The offer with the largest p(booking) × Δdiv gains the most from λ: its rank can only improve.
        let Some(star) = scored
            .iter()
            .filter(|r| r.delta_div > 0)
            .max_by(|a, b| (a.p_booking * f64::from(a.delta_div)).total_cmp(&(b.p_booking * f64::from(b.delta_div))))
        else {
            continue;
        };
        let position = |lambda: f64, scratch: &mut Scratch| {
            let list = ranker.rank(&request, &candidates, &snapshot, Policy::Objective { lambda }, scratch);
            list.iter().position(|r| r.offer == star.offer).unwrap_or(list.len())
        };
        let ranks: Vec<usize> = [0.0, 0.5, 1.0, 4.0, 50.0].iter().map(|&l| position(l, &mut scratch)).collect();
        assert!(ranks.windows(2).all(|w| w[1] <= w[0]), "user {u}: ranks {ranks:?} must not worsen as λ grows");
        if ranks[4] < ranks[0] {
            rose += 1;
        }
    }
    assert!(rose >= 3, "the offer rose in only {rose} lists");
}

#[test]
fn cold_users_get_lists_from_popularity_sources() {
    let f = fixture();
    let s = served(f);
    let (ranker, now, snapshot) = ranker_at_cut(f, RankConfig::default());
    let mut scratch = Scratch::default();
    let mut served_lists = 0;
    for u in (0..f.data.dataset.users.len()).step_by(29) {
        // The user as if they had just arrived: no event at all, full credit.
        let user = f.data.fresh_user(u);
        assert!(user.is_cold(&ranker.config().sources));
        let filters = Filters {
            max_price_cents: Some(user.credit_cents),
            bookable_at: Some(now),
            near: user.home.map(|point| Near { point, radius_km: 30.0, include_digital: true }),
            user_age: Some(user.age(now)),
            ..Filters::default()
        };
        let request = UserRequest { user: &user, vector: None, filters: &filters, now };
        let candidates = ranker.candidates(&s.index, &request, &snapshot).unwrap();
        assert!(
            candidates.iter().flat_map(|c| &c.origins).all(|o| o.source != Source::Retrieval),
            "cold users get popularity-based sources"
        );
        let list = ranker.rank(&request, &candidates, &snapshot, Policy::Objective { lambda: 1.0 }, &mut scratch);
        assert!(!list.is_empty(), "user {u} got no list from {} candidates", candidates.len());
        served_lists += 1;
    }
    assert!(served_lists > 5);
    // A single candidate with no vector for the user still yields a one-offer list.
    let cands = vec![Candidate { offer: 0, origins: vec![Origin { source: Source::Tops, rank: 0 }] }];
    let user = f.data.fresh_user(0);
    let filters = Filters::default();
    let request = UserRequest { user: &user, vector: None, filters: &filters, now };
    assert_eq!(ranker.rank(&request, &cands, &snapshot, Policy::Objective { lambda: 1.0 }, &mut scratch).len(), 1);
}

#[test]
fn the_offline_comparison_covers_every_policy() {
    let f = fixture();
    let comparison = compare(
        &f.data,
        &f.model,
        &f.rules,
        &RankConfig { list_len: 30, keep: 100, ..RankConfig::default() },
        &EvalConfig { users: 150, seed: 3, lambdas: vec![1.0, 4.0], cut: None },
    )
    .unwrap();
    let names: Vec<&str> = comparison.rows.iter().map(|r| r.policy.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(comparison.users > 20);
    for r in &comparison.rows {
        assert!((0.0..=1.0).contains(&r.recall) && (0.0..=1.0).contains(&r.ndcg), "{r:?}");
    }
    // The Δdiv objective puts more diversification in the lists as λ grows.
    let by = |name: &str| comparison.rows.iter().find(|r| r.policy == name).unwrap();
    let base = by("p(click) + p(booking)");
    let strong = by("Δdiv objective, λ = 4");
    assert!(strong.list_delta_div > base.list_delta_div, "{} vs {}", strong.list_delta_div, base.list_delta_div);
    // Round-robin lists hold more categories than the same objective unmixed.
    let mixed = comparison.rows.last().unwrap();
    let unmixed = by("Δdiv objective, λ = 1");
    assert!(mixed.categories >= unmixed.categories, "{} vs {}", mixed.categories, unmixed.categories);
    // The index is a real one: a search returns offers in the table.
    let s = served(f);
    let hits = s.index.search(f.data.item_vector(3), &Filters::default(), 5).unwrap();
    assert_eq!(hits.len(), 5);
}

/// det of a small symmetric matrix by Gaussian elimination with partial pivoting (the naive reference).
fn det(mut m: Vec<Vec<f64>>) -> f64 {
    let n = m.len();
    let mut d = 1.0;
    for c in 0..n {
        let p = (c..n).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())).unwrap();
        if m[p][c].abs() < 1e-300 {
            return 0.0;
        }
        if p != c {
            m.swap(p, c);
            d = -d;
        }
        d *= m[c][c];
        let pivot = m[c].clone();
        for row in m.iter_mut().skip(c + 1) {
            let f = row[c] / pivot[c];
            for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                *x -= f * p;
            }
        }
    }
    d
}

proptest::proptest! {
    /// The k-DPP mixing's greedy MAP order (incremental Cholesky, Chen et al. 2018) equals the naive
    /// greedy that adds, at each step, the offer maximising det(L_Y) computed from scratch.
    #[test]
    fn dpp_mixing_is_the_greedy_map_of_the_kernel(
        vectors in proptest::collection::vec(proptest::collection::vec(-1.0f32..1.0, 3), 2..9),
        scores in proptest::collection::vec(0.05f64..2.0, 9),
        theta in 0.0f64..0.95,
        k in 1usize..5,
    ) {
        let n = vectors.len();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        proptest::prop_assume!(vectors.iter().all(|v| norm(v) > 0.1));
        let mut scored: Vec<Ranked> = (0..n as u32).map(|i| ranked(i, "LIVRE", scores[i as usize])).collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        let sim = |a: u32, b: u32| -> f32 { vectors[a as usize].iter().zip(&vectors[b as usize]).map(|(x, y)| x * y).sum() };
        let config = RankConfig { list_len: k.min(n), keep: 150, max_category_share: 1.0, mixing: Mixing::Dpp { theta }, ..RankConfig::default() };
        let list = mix(scored.clone(), &config, sim);
        // The naive greedy on the same kernel.
        let top = scored.iter().map(|r| r.score).fold(1e-12, f64::max);
        let alpha = theta / (2.0 * (1.0 - theta));
        let r: Vec<f64> = scored.iter().map(|x| (alpha * x.score / top).exp()).collect();
        let kernel = |i: usize, j: usize| {
            let (a, b) = (scored[i].offer, scored[j].offer);
            let s = f64::from(sim(a, b)) / (f64::from(sim(a, a)).sqrt() * f64::from(sim(b, b)).sqrt());
            r[i] * s * r[j]
        };
        let mut chosen: Vec<usize> = Vec::new();
        let mut previous = 1.0;
        while chosen.len() < k.min(n) {
            let best = (0..n)
                .filter(|i| !chosen.contains(i))
                .map(|i| {
                    let mut y = chosen.clone();
                    y.push(i);
                    (i, det(y.iter().map(|&a| y.iter().map(|&b| kernel(a, b)).collect()).collect()))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .unwrap();
            // Where the remaining gain vanishes the mixing fills by score: compare up to there.
            if best.1 / previous <= 1e-6 {
                break;
            }
            previous = best.1;
            chosen.push(best.0);
        }
        let got: Vec<u32> = list.iter().take(chosen.len()).map(|x| x.offer).collect();
        let want: Vec<u32> = chosen.iter().map(|&i| scored[i].offer).collect();
        proptest::prop_assert_eq!(got, want);
    }
}

proptest::proptest! {
    /// The booking floor's λ is the largest of its grid whose list, sorted in full, keeps the share of the
    /// λ = 0 list's expected bookings.
    #[test]
    fn the_booking_floor_picks_the_largest_lambda_that_keeps_the_bookings(
        candidates in proptest::collection::vec((0.0f64..0.5, 0.0f64..0.3, 0u32..6), 1..60),
        share in 0.5f64..1.0,
        positions in 1usize..15,
    ) {
        let floor = passeur_ranking::BookingFloor { share, decay: 0.8, positions, max_lambda: 8.0 };
        let expected = |lambda: f64| {
            let mut v: Vec<(f64, f64)> = candidates.iter().map(|&(c, b, d)| (passeur_ranking::objective(c, b, d, lambda), b)).collect();
            v.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
            v.iter().take(positions).enumerate().map(|(k, x)| 0.8f64.powi(k as i32) * x.1).sum::<f64>()
        };
        let want = floor.lambdas().into_iter().filter(|&l| expected(l) >= share * expected(0.0)).fold(0.0, f64::max);
        proptest::prop_assert_eq!(passeur_ranking::rank::floor_lambda(&floor, &candidates), want);
    }
}
