//! The store conformance suite: every behaviour of [`RecordStore`], run against each backend (SQLite in a
//! temporary directory, PostgreSQL in a fresh database of the server that `scripts/postgres.sh` starts).

mod common;

use common::{Backend, booking, offer, seeded, user, venue};
use passeur_domain::{DomainError, Interaction, InteractionKind, Offer, Timestamp, parse_date};
use passeur_store::{EventOutcome, StoreError};

fn records_read_back_exactly_and_upserts_replace(backend: &dyn Backend) {
    let mut store = seeded(backend, 30_000);
    assert_eq!(store.offer("o1").unwrap(), Some(offer("o1", 1_500, Some(3))));
    assert_eq!(store.venue("v1").unwrap(), Some(venue("v1")));
    assert_eq!(store.user("u1").unwrap(), Some(user("u1", 30_000)));
    assert_eq!(store.offer("nope").unwrap(), None);
    let mut tx = store.begin_import().unwrap();
    tx.upsert_offer(&offer("o1", 1_700, Some(3))).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.offer("o1").unwrap().unwrap().price_cents, 1_700);
    assert_eq!(store.counts().unwrap().offers, 2);
}

fn an_uncommitted_import_applies_nothing(backend: &dyn Backend) {
    let mut store = seeded(backend, 30_000);
    {
        let mut tx = store.begin_import().unwrap();
        tx.upsert_user(&user("u2", 100)).unwrap();
        let err = tx.upsert_offer(&Offer { venue_id: Some("ghost".into()), ..offer("o3", 1, None) }).unwrap_err();
        assert_eq!(err.to_string(), "offer \"o3\": field venue_id: no venue with id \"ghost\"");
    }
    assert_eq!(store.user("u2").unwrap(), None);
    assert_eq!(store.counts().unwrap().users, 1);
}

fn interactions_must_refer_to_existing_records(backend: &dyn Backend) {
    let mut store = seeded(backend, 30_000);
    let mut tx = store.begin_import().unwrap();
    let err = tx.upsert_interaction(&Interaction { user_id: "u9".into(), ..booking("b1", "o1", 100) }).unwrap_err();
    assert!(matches!(err, StoreError::UnknownReference { field: "user_id", .. }), "{err}");
    let err = tx.upsert_interaction(&booking("b1", "o9", 100)).unwrap_err();
    assert!(matches!(err, StoreError::UnknownReference { field: "offer_id", .. }), "{err}");
    let cancel =
        Interaction { kind: InteractionKind::Cancellation { booking_id: "b404".into() }, ..booking("c1", "o1", 0) };
    let err = tx.upsert_interaction(&cancel).unwrap_err();
    assert!(matches!(err, StoreError::UnknownReference { field: "booking_id", .. }), "{err}");
}

fn a_live_booking_debits_credit_and_stock_and_a_cancellation_refunds_them(backend: &dyn Backend) {
    let mut store = seeded(backend, 2_000);
    assert_eq!(store.record_event(&booking("b1", "o1", 1_500)).unwrap(), EventOutcome::Recorded { credit_cents: 500 });
    assert_eq!(store.offer("o1").unwrap().unwrap().stock, Some(2));
    // A retry of the same event changes nothing.
    assert_eq!(store.record_event(&booking("b1", "o1", 1_500)).unwrap(), EventOutcome::AlreadyRecorded);
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 500);

    // Beyond the credit: refused, and nothing is stored.
    match store.record_event(&booking("b2", "o2", 900)) {
        Err(StoreError::Domain(DomainError::InsufficientCredit { user_id, requested_cents, remaining_cents })) => {
            assert_eq!((user_id.as_str(), requested_cents, remaining_cents), ("u1", 900, 500));
        }
        other => panic!("expected InsufficientCredit, got {other:?}"),
    }
    assert_eq!(store.interaction("b2").unwrap(), None);
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 500);

    let cancel =
        Interaction { kind: InteractionKind::Cancellation { booking_id: "b1".into() }, ..booking("c1", "o1", 0) };
    assert_eq!(store.record_event(&cancel).unwrap(), EventOutcome::Recorded { credit_cents: 2_000 });
    assert_eq!(store.offer("o1").unwrap().unwrap().stock, Some(3));
    let again = Interaction { id: "c2".into(), ..cancel };
    assert!(matches!(store.record_event(&again), Err(StoreError::AlreadyCancelled { .. })));
    // The refunded credit can be spent again.
    assert_eq!(store.record_event(&booking("b3", "o2", 900)).unwrap(), EventOutcome::Recorded { credit_cents: 1_100 });
}

fn a_sold_out_or_expired_offer_cannot_be_booked(backend: &dyn Backend) {
    let mut store = seeded(backend, 30_000);
    let mut tx = store.begin_import().unwrap();
    tx.upsert_offer(&offer("sold-out", 100, Some(0))).unwrap();
    let expired = Offer { bookable_until: Some(Timestamp(1_600_000_000)), ..offer("expired", 100, None) };
    tx.upsert_offer(&expired).unwrap();
    tx.commit().unwrap();
    for id in ["sold-out", "expired"] {
        let err = store.record_event(&booking(&format!("b-{id}"), id, 100)).unwrap_err();
        assert!(matches!(err, StoreError::NotBookable { .. }), "{err}");
    }
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 30_000);
}

fn an_acknowledged_write_survives_reopening(backend: &dyn Backend) {
    let mut store = seeded(backend, 2_000);
    store.record_event(&booking("b1", "o1", 1_500)).unwrap();
    // No clean shutdown: leak the connection as a crash would.
    std::mem::forget(store);
    let store = backend.open();
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 500);
    assert_eq!(store.user_interactions("u1").unwrap(), vec![booking("b1", "o1", 1_500)]);
}

fn stats_count_by_category_age_and_bookings(backend: &dyn Backend) {
    let mut store = seeded(backend, 30_000);
    store.record_event(&booking("b1", "o1", 1_500)).unwrap();
    let stats = store.stats(parse_date("2024-06-01").unwrap()).unwrap();
    assert_eq!(stats.offers_by_category.get("LIVRE"), Some(&2));
    assert_eq!(stats.bookings_by_format.get("physical"), Some(&1));
    assert_eq!(stats.users_by_age.get(&17), Some(&1));
    assert_eq!(stats.users_by_booking_count.get(&1), Some(&1));
    assert_eq!(stats.credit_spent_cents, 1_500);
    assert_eq!(stats.credit_remaining_cents, 28_500);
}

fn a_batch_of_events_is_applied_whole_or_not_at_all_and_names_the_failing_event(backend: &dyn Backend) {
    let mut store = seeded(backend, 2_000);
    let cancel =
        Interaction { kind: InteractionKind::Cancellation { booking_id: "b1".into() }, ..booking("c1", "o1", 0) };
    // A booking and its cancellation in one batch: the cancellation sees the booking.
    let outcomes = store.record_events(&[booking("b1", "o1", 1_500), cancel, booking("b2", "o2", 900)]).unwrap();
    assert_eq!(
        outcomes,
        vec![
            EventOutcome::Recorded { credit_cents: 500 },
            EventOutcome::Recorded { credit_cents: 2_000 },
            EventOutcome::Recorded { credit_cents: 1_100 }
        ]
    );
    // The third event is over the credit: nothing of the batch is written.
    match store.record_events(&[booking("b3", "o1", 100), booking("b4", "o2", 900), booking("b5", "o2", 900)]) {
        Err(StoreError::InBatch { index, source }) => {
            assert_eq!(index, 2);
            assert!(matches!(*source, StoreError::Domain(DomainError::InsufficientCredit { .. })), "{source}");
        }
        other => panic!("expected InBatch, got {other:?}"),
    }
    assert_eq!(store.interaction("b3").unwrap(), None);
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 1_100);
    assert_eq!(store.offer("o1").unwrap().unwrap().stock, Some(3));
}

fn scanning_actions_leaves_out_the_impressions_only(backend: &dyn Backend) {
    let mut store = seeded(backend, 30_000);
    let shown = |id: &str, position: u32| Interaction {
        kind: InteractionKind::Impression {
            call_id: "call-1".into(),
            position,
            model_version: "m".into(),
            propensity: 0.5,
            prefix_propensity: None,
        },
        ..booking(id, "o2", 0)
    };
    let consulted = Interaction { kind: InteractionKind::Consultation, ..booking("e1", "o1", 0) };
    let cancel =
        Interaction { kind: InteractionKind::Cancellation { booking_id: "b1".into() }, ..booking("c1", "o1", 0) };
    let mut tx = store.begin_import().unwrap();
    for i in [shown("s0", 0), consulted, shown("s1", 1), booking("b1", "o1", 1_500), cancel, shown("s2", 2)] {
        tx.upsert_interaction(&i).unwrap();
    }
    tx.commit().unwrap();
    let (mut all, mut actions) = (Vec::new(), Vec::new());
    store
        .scan_interactions(&mut |i| {
            all.push(i);
            Ok(())
        })
        .unwrap();
    store
        .scan_actions(&mut |i| {
            actions.push(i);
            Ok(())
        })
        .unwrap();
    let expected: Vec<Interaction> =
        all.into_iter().filter(|i| !matches!(i.kind, InteractionKind::Impression { .. })).collect();
    assert_eq!(actions, expected);
    assert_eq!(actions.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["e1", "b1", "c1"]);
}

/// Each behaviour above, once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::common::SqliteBackend::new());
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::common::PostgresBackend::new());
            })*
        }
    };
}

conformance!(
    scanning_actions_leaves_out_the_impressions_only,
    records_read_back_exactly_and_upserts_replace,
    an_uncommitted_import_applies_nothing,
    interactions_must_refer_to_existing_records,
    a_live_booking_debits_credit_and_stock_and_a_cancellation_refunds_them,
    a_sold_out_or_expired_offer_cannot_be_booked,
    an_acknowledged_write_survives_reopening,
    stats_count_by_category_age_and_bookings,
    a_batch_of_events_is_applied_whole_or_not_at_all_and_names_the_failing_event,
);
