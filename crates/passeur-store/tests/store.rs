//! The SQLite record store: migrations, upserts, references, credit and durability.

use passeur_domain::{
    BookSectionId, DomainError, GeoPoint, Interaction, InteractionKind, Offer, SubcategoryId, Timestamp, User, Venue,
    VenueTypeId, parse_date,
};
use passeur_store::{EventOutcome, RecordStore, SCHEMA_VERSION, SqliteStore, StoreError};

fn venue(id: &str) -> Venue {
    Venue {
        id: id.into(),
        name: "Librairie du Marché".into(),
        venue_type: VenueTypeId::parse("BOOKSTORE").unwrap(),
        location: Some(GeoPoint::new(48.85, 2.35).unwrap()),
        city: "Paris".into(),
        department: "75".into(),
        partner_id: "p1".into(),
    }
}

fn offer(id: &str, price_cents: i64, stock: Option<u32>) -> Offer {
    Offer {
        id: id.into(),
        item_id: format!("item-{id}"),
        title: "Le Petit Prince".into(),
        description: "Un conte".into(),
        artist: Some("Antoine de Saint-Exupéry".into()),
        subcategory: SubcategoryId::parse("LIVRE_PAPIER").unwrap(),
        book_macro_section: Some(BookSectionId::parse("Jeunesse").unwrap()),
        music_genre: None,
        show_type: None,
        movie_genre: None,
        price_cents,
        duo: false,
        stock,
        bookable_from: None,
        bookable_until: None,
        event_start: None,
        created_at: Timestamp(1_700_000_000),
        venue_id: Some("v1".into()),
        image_embedding: Some(vec![0.25, -1.5, 3.0]),
    }
}

fn user(id: &str, credit_cents: i64) -> User {
    User {
        id: id.into(),
        birth_date: parse_date("2007-04-02").unwrap(),
        department: "75".into(),
        home: None,
        credit_cents,
    }
}

fn booking(id: &str, offer_id: &str, amount_cents: i64) -> Interaction {
    Interaction {
        id: id.into(),
        user_id: "u1".into(),
        offer_id: offer_id.into(),
        at: Timestamp(1_700_000_100),
        kind: InteractionKind::Booking { amount_cents, quantity: 1 },
    }
}

fn seeded(dir: &std::path::Path, credit: i64) -> SqliteStore {
    let mut store = SqliteStore::open(dir).unwrap();
    let mut tx = store.begin_import().unwrap();
    tx.upsert_venue(&venue("v1")).unwrap();
    tx.upsert_offer(&offer("o1", 1_500, Some(3))).unwrap();
    tx.upsert_offer(&offer("o2", 900, None)).unwrap();
    tx.upsert_user(&user("u1", credit)).unwrap();
    tx.commit().unwrap();
    store
}

#[test]
fn a_new_store_is_migrated_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    drop(store);
    // Reopening migrates nothing and keeps the version.
    assert_eq!(SqliteStore::open(dir.path()).unwrap().schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_store_from_a_newer_passeur_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(SqliteStore::FILE_NAME)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    match SqliteStore::open(dir.path()) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn records_read_back_exactly_and_upserts_replace() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 30_000);
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

#[test]
fn an_uncommitted_import_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 30_000);
    {
        let mut tx = store.begin_import().unwrap();
        tx.upsert_user(&user("u2", 100)).unwrap();
        let err = tx.upsert_offer(&Offer { venue_id: Some("ghost".into()), ..offer("o3", 1, None) }).unwrap_err();
        assert_eq!(err.to_string(), "offer \"o3\": field venue_id: no venue with id \"ghost\"");
    }
    assert_eq!(store.user("u2").unwrap(), None);
    assert_eq!(store.counts().unwrap().users, 1);
}

#[test]
fn interactions_must_refer_to_existing_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 30_000);
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

#[test]
fn a_live_booking_debits_credit_and_stock_and_a_cancellation_refunds_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 2_000);
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

#[test]
fn a_sold_out_or_expired_offer_cannot_be_booked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 30_000);
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

#[test]
fn an_acknowledged_write_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 2_000);
    store.record_event(&booking("b1", "o1", 1_500)).unwrap();
    // No clean shutdown: leak the connection as a crash would.
    std::mem::forget(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 500);
    assert_eq!(store.user_interactions("u1").unwrap(), vec![booking("b1", "o1", 1_500)]);
}

#[test]
fn stats_count_by_category_age_and_bookings() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 30_000);
    store.record_event(&booking("b1", "o1", 1_500)).unwrap();
    let stats = store.stats(parse_date("2024-06-01").unwrap()).unwrap();
    assert_eq!(stats.offers_by_category.get("LIVRE"), Some(&2));
    assert_eq!(stats.bookings_by_format.get("physical"), Some(&1));
    assert_eq!(stats.users_by_age.get(&17), Some(&1));
    assert_eq!(stats.users_by_booking_count.get(&1), Some(&1));
    assert_eq!(stats.credit_spent_cents, 1_500);
    assert_eq!(stats.credit_remaining_cents, 28_500);
}

#[test]
fn a_batch_of_events_is_applied_whole_or_not_at_all_and_names_the_failing_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 2_000);
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

#[test]
fn a_group_commit_keeps_each_write_whole_and_independent() {
    use passeur_store::{Write, Written};
    let dir = tempfile::tempdir().unwrap();
    let mut store = seeded(dir.path(), 2_000);
    let impression = Interaction {
        id: "call-1-0".into(),
        kind: InteractionKind::Impression {
            call_id: "call-1".into(),
            position: 0,
            model_version: "m".into(),
            propensity: 0.25,
            prefix_propensity: Some(0.125),
        },
        ..booking("x", "o2", 0)
    };
    let writes = vec![
        Write::User(user("u2", 300)),
        Write::Events(vec![booking("b1", "o1", 1_500)]),
        // Fails whole (second event over the remaining 500): rolled back alone.
        Write::Events(vec![booking("b2", "o2", 100), booking("b3", "o2", 900)]),
        Write::Offer(offer("o3", 100, None), Some(("model-a".into(), "key-a".into(), vec![0.5, -0.5]))),
        Write::Offer(Offer { venue_id: Some("nowhere".into()), ..offer("o4", 100, None) }, None),
        Write::Impressions(vec![impression]),
    ];
    let results = store.write_group(&writes).unwrap();
    assert!(matches!(results[0], Ok(Written::Record)));
    assert_eq!(results[1].as_ref().unwrap(), &Written::Events(vec![EventOutcome::Recorded { credit_cents: 500 }]));
    assert!(matches!(&results[2], Err(StoreError::InBatch { index: 1, .. })), "{:?}", results[2]);
    assert!(matches!(results[3], Ok(Written::Record)));
    assert!(matches!(&results[4], Err(StoreError::UnknownReference { field: "venue_id", .. })), "{:?}", results[4]);
    assert_eq!(results[5].as_ref().unwrap(), &Written::Impressions(1));
    drop(store);
    // After reopening: the good writes are there, the failed ones left nothing.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.user("u2").unwrap().unwrap().credit_cents, 300);
    assert_eq!(store.user("u1").unwrap().unwrap().credit_cents, 500);
    assert!(store.interaction("b2").unwrap().is_none());
    assert_eq!(store.offer_embedding("model-a", "o3").unwrap(), Some(vec![0.5, -0.5]));
    assert!(store.offer("o4").unwrap().is_none());
    match store.interaction("call-1-0").unwrap().unwrap().kind {
        InteractionKind::Impression { propensity, prefix_propensity, .. } => {
            assert_eq!((propensity, prefix_propensity), (0.25, Some(0.125)))
        }
        other => panic!("{other:?}"),
    }
}
