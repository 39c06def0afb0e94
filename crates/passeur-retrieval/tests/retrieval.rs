//! The two-tower on the small synthetic world: shapes, learning, the margin
//! over popularity, save/load, cold start, online user vectors, reproducibility.

use passeur_domain::Timestamp;
use passeur_retrieval::bundle::{BundleMeta, load_bundle, save_bundle};
use passeur_retrieval::data::{ItemRow, ItemStats, UserRow, UserState, fold};
use passeur_retrieval::report::{Target, evaluate_split};
use passeur_retrieval::train::{TrainReport, context_rows, train};
use passeur_retrieval::{Catalogue, Dataset, ModelConfig, Positives, Split, SplitKind, TrainConfig, TwoTower};
use passeur_store::{RecordStore, SqliteStore};
use passeur_synth::{Scale, World, WorldConfig};
use std::sync::OnceLock;

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    dataset: Dataset,
    split: Split,
    model: TwoTower,
    catalogue: Catalogue,
    report: TrainReport,
}

// Tests share one trained model; a mutex keeps the store single-threaded.
struct Shared(std::sync::Mutex<Fixture>);

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

fn train_config() -> TrainConfig {
    TrainConfig {
        batch_size: 256,
        max_epochs: 8,
        positives: Positives::parse("consultation").unwrap(),
        ..TrainConfig::default()
    }
}

fn fixture() -> std::sync::MutexGuard<'static, Fixture> {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let dataset = Dataset::from_store(&store, None, 4096, None).unwrap();
        let split = Split::new(&dataset, SplitKind::Chronological);
        let (model, catalogue, report) =
            train(&dataset, &split, ModelConfig::default(), &train_config(), &mut |_| {}).unwrap();
        Shared(std::sync::Mutex::new(Fixture { _dir: dir, store, dataset, split, model, catalogue, report }))
    });
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn vectors_have_the_configured_dimension_and_unit_length() {
    let f = fixture();
    let dim = f.model.config.dim;
    let items = f.model.all_item_vectors(&f.catalogue).unwrap();
    assert_eq!(items.len(), f.catalogue.len() * dim);
    for v in items.chunks(dim) {
        assert!((norm(v) - 1.0).abs() < 1e-4, "item vector norm {}", norm(v));
    }
    let users: Vec<u32> = (0..50).collect();
    let rows = context_rows(&f.dataset, &f.split, &f.catalogue, &users, false, f.model.config.history_len);
    let vectors = f.model.user_vectors(rows, &f.catalogue).unwrap();
    assert_eq!(vectors.len(), 50 * dim);
    for v in vectors.chunks(dim) {
        assert!((norm(v) - 1.0).abs() < 1e-4, "user vector norm {}", norm(v));
    }
}

#[test]
fn a_32_dimension_model_gives_32_dimension_vectors() {
    let f = fixture();
    let config = ModelConfig { dim: 32, ..ModelConfig::default() };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let model = TwoTower::new(config, f.model.shape.clone(), &mut rng).unwrap();
    let v = model.item_vectors(&f.catalogue, &[0, 1, 2]).unwrap();
    assert_eq!(v.len(), 3 * 32);
    assert!((norm(&v[..32]) - 1.0).abs() < 1e-4);
}

#[test]
fn the_loss_falls_while_training() {
    let f = fixture();
    let epochs = &f.report.epochs;
    assert!(epochs.len() >= 2, "{epochs:?}");
    let first = epochs[0].loss;
    let best = epochs.iter().map(|e| e.loss).fold(f64::INFINITY, f64::min);
    assert!(best < 0.9 * first, "loss went from {first} to at best {best}");
    assert!(epochs.iter().all(|e| e.loss.is_finite() && e.valid_ndcg.is_finite()));
    assert!(f.report.best_epoch >= 1);
}

#[test]
fn the_model_beats_popularity_on_held_out_bookings_by_a_clear_margin() {
    let f = fixture();
    let report =
        evaluate_split(&f.dataset, &f.split, Some((&f.model, &f.catalogue)), &[Target::Bookings], &[10, 50], 7)
            .unwrap();
    let table = &report.targets[0];
    assert!(table.users > 50, "{} users with held-out bookings", table.users);
    let metric = |name: &str, k: usize| {
        let m = table.methods.iter().find(|m| m.method == name).unwrap();
        m.metrics.iter().find(|x| x.k == k).unwrap().recall
    };
    let (tower, popular, random) = (metric("two-tower", 50), metric("most popular", 50), metric("random", 50));
    assert!(tower > 1.5 * popular, "two-tower recall@50 {tower} vs most popular {popular}");
    assert!(popular > random, "most popular {popular} vs random {random}");
}

#[test]
fn saving_and_loading_gives_identical_vectors() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let meta = BundleMeta {
        offer_ids: f.catalogue.offer_ids.clone(),
        user_ids: f.dataset.users.iter().map(|u| u.id.clone()).collect(),
        departments: f.dataset.departments.clone(),
        split: f.split.kind,
        text_model: None,
        train: train_config(),
        report: f.report.clone(),
        version: "test".into(),
    };
    save_bundle(dir.path(), &f.model, &f.catalogue, &f.dataset, &meta).unwrap();
    let (loaded, loaded_meta) = load_bundle(dir.path()).unwrap();
    assert_eq!(loaded_meta, meta);
    assert_eq!(loaded.config, f.model.config);
    assert_eq!(loaded.all_item_vectors(&f.catalogue).unwrap(), f.model.all_item_vectors(&f.catalogue).unwrap());
    let users: Vec<u32> = (0..f.dataset.users.len() as u32).collect();
    let rows = context_rows(&f.dataset, &f.split, &f.catalogue, &users, true, f.model.config.history_len);
    assert_eq!(
        loaded.user_vectors(rows.clone(), &f.catalogue).unwrap(),
        f.model.user_vectors(rows, &f.catalogue).unwrap()
    );
    let (ids, vectors, dim) =
        passeur_retrieval::bundle::read_vectors(&dir.path().join("item_vectors.parquet")).unwrap();
    assert_eq!(ids, f.catalogue.offer_ids);
    assert_eq!(dim, f.model.config.dim);
    assert_eq!(vectors, f.model.all_item_vectors(&f.catalogue).unwrap());
}

#[test]
fn a_new_offer_gets_a_finite_vector_from_its_content_alone() {
    let f = fixture();
    let mut offer = f.store.offer(&f.catalogue.offer_ids[3]).unwrap().unwrap();
    offer.id = "brand-new-offer".into();
    let venue = offer.venue_id.as_ref().and_then(|v| f.store.venue(v).unwrap());
    let mut catalogue = f.catalogue.clone();
    let row = ItemRow::of(&offer, venue.as_ref(), ItemStats::default(), None, f.model.config.artist_buckets);
    let index = catalogue.push(&offer.id, row).unwrap();
    assert_eq!(index as usize, f.model.shape.items, "the new offer is past the id table");
    let v = f.model.item_vectors(&catalogue, &[index]).unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    // Content alone places offers: the content-only vectors of known offers
    // agree with their full vectors far more than with other offers'.
    let dim = f.model.config.dim;
    let full = f.model.all_item_vectors(&f.catalogue).unwrap();
    let mut content_only = f.catalogue.clone();
    let n = content_only.len();
    let ids: Vec<String> = content_only.offer_ids.clone();
    for (i, id) in ids.iter().enumerate().take(200) {
        let offer = f.store.offer(id).unwrap().unwrap();
        let venue = offer.venue_id.as_ref().and_then(|v| f.store.venue(v).unwrap());
        let stats = ItemStats::default();
        let mut row = ItemRow::of(&offer, venue.as_ref(), stats, None, f.model.config.artist_buckets);
        row.numeric[1] = f.catalogue.numeric[i][1];
        row.numeric[2] = f.catalogue.numeric[i][2];
        content_only.push(&format!("copy-{id}"), row).unwrap();
    }
    let copies: Vec<u32> = (n as u32..n as u32 + 200).collect();
    let cold = f.model.item_vectors(&content_only, &copies).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let (mut same, mut other) = (0.0, 0.0);
    for i in 0..200 {
        same += dot(&cold[i * dim..(i + 1) * dim], &full[i * dim..(i + 1) * dim]);
        let j = (i * 7 + 101) % n;
        other += dot(&cold[i * dim..(i + 1) * dim], &full[j * dim..(j + 1) * dim]);
    }
    assert!(same / 200.0 > other / 200.0 + 0.2, "mean cosine with itself {} vs others {}", same / 200.0, other / 200.0);
}

#[test]
fn the_online_user_vector_matches_the_batch_one() {
    let f = fixture();
    let history_len = f.model.config.history_len;
    let users: Vec<u32> = (0..f.dataset.users.len() as u32).step_by(9).collect();
    let batch_rows = context_rows(&f.dataset, &f.split, &f.catalogue, &users, true, history_len);
    let batch = f.model.user_vectors(batch_rows, &f.catalogue).unwrap();
    let dim = f.model.config.dim;
    for (slot, &u) in users.iter().enumerate() {
        // Online: events arrive one at a time, the state folds each, the vector is recomputed.
        let mut state = UserState::new(f.dataset.initial_credit[u as usize], history_len);
        let mut at = f.dataset.now;
        let events: Vec<_> = f.split.train[u as usize].iter().chain(&f.split.valid[u as usize]).copied().collect();
        for e in &events {
            state.apply(e);
            at = Timestamp(e.at);
        }
        if events.is_empty() {
            continue;
        }
        let row = UserRow::from_state(&f.dataset.users[u as usize], &state, at, &f.catalogue, Some(u));
        let online = f.model.user_vectors(vec![row], &f.catalogue).unwrap();
        for (a, b) in online.iter().zip(&batch[slot * dim..(slot + 1) * dim]) {
            assert!((a - b).abs() < 1e-5, "user {u}: online {a} vs batch {b}");
        }
        assert_eq!(state, fold(f.dataset.initial_credit[u as usize], history_len, events));
    }
}

#[test]
fn the_same_seed_trains_the_same_model() {
    let f = fixture();
    let config = TrainConfig { max_epochs: 1, ..train_config() };
    let (a, cat, _) = train(&f.dataset, &f.split, ModelConfig::default(), &config, &mut |_| {}).unwrap();
    let (b, _, _) = train(&f.dataset, &f.split, ModelConfig::default(), &config, &mut |_| {}).unwrap();
    assert_eq!(a.all_item_vectors(&cat).unwrap(), b.all_item_vectors(&cat).unwrap());
    let other = TrainConfig { seed: 43, ..config };
    let (c, _, _) = train(&f.dataset, &f.split, ModelConfig::default(), &other, &mut |_| {}).unwrap();
    assert_ne!(a.all_item_vectors(&cat).unwrap(), c.all_item_vectors(&cat).unwrap());
}

#[test]
fn bad_settings_are_refused_with_the_field_named() {
    let f = fixture();
    let bad = TrainConfig { batch_size: 1, ..train_config() };
    let err = train(&f.dataset, &f.split, ModelConfig::default(), &bad, &mut |_| {}).err().unwrap().to_string();
    assert!(err.contains("batch_size"), "{err}");
    let bad = ModelConfig { temperature: 0.0, ..ModelConfig::default() };
    let err = train(&f.dataset, &f.split, bad, &train_config(), &mut |_| {}).err().unwrap().to_string();
    assert!(err.contains("temperature"), "{err}");
    let err = Positives::parse("consultation,likes").unwrap_err().to_string();
    assert!(err.contains("positives") && err.contains("likes"), "{err}");
}
