//! What the PostgreSQL backend adds: a schema shared by processes that start together, credit and stock
//! held by the database under concurrent writers, and bulk imports that leave exactly what SQLite leaves.

mod common;

use common::{Backend, PostgresBackend, SqliteBackend, booking, offer, seeded, user, venue};
use passeur_domain::{DomainError, Interaction, InteractionKind, Offer, Timestamp, User};
use passeur_store::{EventOutcome, POSTGRES_SCHEMA_VERSION, PostgresStore, RecordStore, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn processes_starting_together_migrate_once() {
    let backend = PostgresBackend::new();
    let url = backend.url().to_owned();
    let versions: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| PostgresStore::connect(&url).unwrap().schema_version().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(versions, vec![POSTGRES_SCHEMA_VERSION; 8]);
}

#[test]
fn a_database_from_a_newer_passeur_is_refused() {
    let backend = PostgresBackend::new();
    drop(backend.connect());
    let mut client = postgres::Client::connect(backend.url(), postgres::NoTls).unwrap();
    client.execute("UPDATE passeur_schema SET version = $1", &[&(POSTGRES_SCHEMA_VERSION as i32 + 1)]).unwrap();
    match PostgresStore::connect(backend.url()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (POSTGRES_SCHEMA_VERSION + 1, POSTGRES_SCHEMA_VERSION))
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn an_unreachable_server_is_named_without_its_password() {
    let err = PostgresStore::connect("postgres://passeur:secret@127.0.0.1:1/nowhere").unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("PostgreSQL at 127.0.0.1:1/nowhere: "), "{message}");
    assert!(!message.contains("secret"), "{message}");
}

/// Runs `book` on `n` connections at once, released together; returns each outcome.
fn concurrently(
    backend: &PostgresBackend,
    n: usize,
    book: impl Fn(usize) -> Interaction + Sync,
) -> Vec<Result<EventOutcome, StoreError>> {
    let stores: Vec<PostgresStore> = (0..n).map(|_| backend.connect()).collect();
    let start = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, mut store)| {
                let (start, book) = (&start, &book);
                s.spawn(move || {
                    start.wait();
                    store.record_event(&book(i))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn twenty_writers_cannot_sell_the_last_seat_twice() {
    let backend = PostgresBackend::new();
    let mut store = seeded(&backend, 30_000);
    let mut tx = store.begin_import().unwrap();
    tx.upsert_offer(&offer("last-seat", 100, Some(1))).unwrap();
    for i in 0..20 {
        tx.upsert_user(&user(&format!("fan{i}"), 1_000)).unwrap();
    }
    tx.commit().unwrap();
    let outcomes = concurrently(&backend, 20, |i| Interaction {
        user_id: format!("fan{i}"),
        ..booking(&format!("b{i}"), "last-seat", 100)
    });
    let sold = outcomes.iter().filter(|o| matches!(o, Ok(EventOutcome::Recorded { .. }))).count();
    assert_eq!(sold, 1, "{outcomes:?}");
    for o in &outcomes {
        match o {
            Ok(EventOutcome::Recorded { credit_cents }) => assert_eq!(*credit_cents, 900),
            Err(StoreError::NotBookable { offer_id, reason, .. }) => {
                assert_eq!(offer_id, "last-seat");
                assert!(reason.contains("stock"), "{reason}");
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(store.offer("last-seat").unwrap().unwrap().stock, Some(0));
    assert_eq!(store.counts().unwrap().bookings, 1);
}

#[test]
fn twenty_writers_cannot_spend_one_credit_twice() {
    let backend = PostgresBackend::new();
    // u1 can afford one 1 500-cent booking; twenty processes try one each, on twenty offers.
    let mut store = seeded(&backend, 2_000);
    let mut tx = store.begin_import().unwrap();
    for i in 0..20 {
        tx.upsert_offer(&offer(&format!("o-{i}"), 1_500, None)).unwrap();
    }
    tx.commit().unwrap();
    let outcomes = concurrently(&backend, 20, |i| booking(&format!("b{i}"), &format!("o-{i}"), 1_500));
    let booked = outcomes.iter().filter(|o| matches!(o, Ok(EventOutcome::Recorded { credit_cents: 500 }))).count();
    assert_eq!(booked, 1, "{outcomes:?}");
    let short = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StoreError::Domain(DomainError::InsufficientCredit { remaining_cents: 500, .. }))))
        .count();
    assert_eq!(short, 19, "{outcomes:?}");
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 500);
}

#[test]
fn a_retried_event_from_twenty_writers_is_recorded_once() {
    let backend = PostgresBackend::new();
    let store = seeded(&backend, 30_000);
    let outcomes = concurrently(&backend, 20, |_| booking("same-id", "o1", 1_500));
    let recorded = outcomes.iter().filter(|o| matches!(o, Ok(EventOutcome::Recorded { .. }))).count();
    let again = outcomes.iter().filter(|o| matches!(o, Ok(EventOutcome::AlreadyRecorded))).count();
    assert_eq!((recorded, again), (1, 19), "{outcomes:?}");
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 28_500);
    assert_eq!(store.offer("o1").unwrap().unwrap().stock, Some(2));
}

/// A seeded sequence of upserts that crosses the PostgreSQL import's flushes (50 000 rows): ids written
/// twice in one flush and in two, cancellations of bookings buffered, already flushed, imported earlier
/// or absent, rows referring to records that do not exist, and bad fields.
fn random_import(rng: &mut ChaCha8Rng, round: usize, n: usize) -> Vec<Upsert> {
    let mut ops = Vec::with_capacity(n);
    let offers = 300;
    let users = 400;
    if round == 0 {
        ops.push(Upsert::Venue(venue("v1")));
    }
    for i in 0..offers {
        let price = rng.random_range(0..3_000);
        let stock = rng.random_bool(0.5).then(|| rng.random_range(0..10));
        let mut o = offer(&format!("o{i}"), price, stock);
        if rng.random_bool(0.01) {
            o.venue_id = Some("ghost".into());
        }
        if round == 1 && rng.random_bool(0.05) {
            o.title = format!("Réédition {i}");
        }
        ops.push(Upsert::Offer(o));
    }
    for i in 0..users {
        ops.push(Upsert::User(user(&format!("u{i}"), rng.random_range(0..30_000))));
    }
    let mut bookings: Vec<(String, String, String)> = Vec::new();
    while ops.len() < n {
        let u = format!("u{}", rng.random_range(0..users + 3));
        let o = format!("o{}", rng.random_range(0..offers + 3));
        let id = if rng.random_bool(0.02) && !bookings.is_empty() {
            // An id written again (the last write wins).
            bookings[rng.random_range(0..bookings.len())].0.clone()
        } else {
            format!("r{round}-{}", ops.len())
        };
        let at = Timestamp(1_700_000_000 + rng.random_range(0..1_000_000));
        let kind = match rng.random_range(0..10) {
            0..=3 => InteractionKind::Consultation,
            4 => InteractionKind::Favourite,
            5..=7 => InteractionKind::Booking { amount_cents: rng.random_range(0..2_000), quantity: 1 },
            8 if !bookings.is_empty() => {
                let (booking_id, bu, bo) = bookings[rng.random_range(0..bookings.len())].clone();
                let id = format!("c{round}-{}", ops.len());
                let (user_id, offer_id) = if rng.random_bool(0.9) { (bu, bo) } else { (u.clone(), o.clone()) };
                ops.push(Upsert::Interaction(Interaction {
                    id,
                    user_id,
                    offer_id,
                    at,
                    kind: InteractionKind::Cancellation { booking_id },
                }));
                continue;
            }
            _ => InteractionKind::Impression {
                call_id: format!("call-{}", ops.len() / 10),
                position: rng.random_range(0..10),
                model_version: "m1".into(),
                propensity: if rng.random_bool(0.01) { 1.5 } else { rng.random_range(0.01..1.0) },
                prefix_propensity: rng.random_bool(0.5).then(|| rng.random_range(0.001..1.0)),
            },
        };
        if let InteractionKind::Booking { .. } = kind {
            bookings.push((id.clone(), u.clone(), o.clone()));
        }
        ops.push(Upsert::Interaction(Interaction { id, user_id: u, offer_id: o, at, kind }));
    }
    ops
}

#[derive(Debug, Clone)]
enum Upsert {
    Venue(passeur_domain::Venue),
    Offer(Offer),
    User(User),
    Interaction(Interaction),
}

/// Applies the upserts in one import and commits; each upsert's outcome as text.
fn apply(store: &mut dyn RecordStore, ops: &[Upsert]) -> Vec<String> {
    let mut tx = store.begin_import().unwrap();
    let outcomes = ops
        .iter()
        .map(|op| {
            let result = match op {
                Upsert::Venue(v) => tx.upsert_venue(v),
                Upsert::Offer(o) => tx.upsert_offer(o),
                Upsert::User(u) => tx.upsert_user(u),
                Upsert::Interaction(i) => tx.upsert_interaction(i),
            };
            result.map_or_else(|e| e.to_string(), |()| "ok".into())
        })
        .collect();
    tx.commit().unwrap();
    outcomes
}

/// Everything a store holds, in its scan order.
fn contents(store: &dyn RecordStore) -> (Vec<String>, passeur_store::Counts) {
    let mut all = Vec::new();
    store
        .scan_venues(&mut |v| {
            all.push(format!("{v:?}"));
            Ok(())
        })
        .unwrap();
    store
        .scan_offers(&mut |o| {
            all.push(format!("{o:?}"));
            Ok(())
        })
        .unwrap();
    store
        .scan_users(&mut |u| {
            all.push(format!("{u:?}"));
            Ok(())
        })
        .unwrap();
    store
        .scan_interactions(&mut |i| {
            all.push(format!("{i:?}"));
            Ok(())
        })
        .unwrap();
    (all, store.counts().unwrap())
}

#[test]
fn a_bulk_import_leaves_exactly_what_sqlite_leaves() {
    let (sqlite, postgres) = (SqliteBackend::new(), PostgresBackend::new());
    let (mut a, mut b) = (sqlite.open(), postgres.open());
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    // Two imports: the second replaces records of the first and cancels its bookings.
    for (round, n) in [(0, 120_000), (1, 60_000)] {
        let ops = random_import(&mut rng, round, n);
        let (in_sqlite, in_postgres) = (apply(a.as_mut(), &ops), apply(b.as_mut(), &ops));
        let rejected = in_sqlite.iter().filter(|o| *o != "ok").count();
        assert!(rejected > 100, "the sequence has bad rows ({rejected})");
        for (i, (x, y)) in in_sqlite.iter().zip(&in_postgres).enumerate() {
            assert_eq!(x, y, "upsert {i} ({:?})", ops[i]);
        }
    }
    let (in_sqlite, in_postgres) = (contents(a.as_ref()), contents(b.as_ref()));
    assert_eq!(in_sqlite.1, in_postgres.1);
    assert!(in_sqlite.1.cancellations > 1_000, "{:?}", in_sqlite.1);
    for (i, (x, y)) in in_sqlite.0.iter().zip(&in_postgres.0).enumerate() {
        assert_eq!(x, y, "record {i} in scan order");
    }
    assert_eq!(in_sqlite.0.len(), in_postgres.0.len());
    let on = passeur_domain::parse_date("2024-06-01").unwrap();
    assert_eq!(a.stats(on).unwrap(), b.stats(on).unwrap());
}
