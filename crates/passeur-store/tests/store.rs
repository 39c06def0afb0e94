//! What only the SQLite record store does: its migrations and its group commit (the behaviours every
//! backend shares are in `conformance.rs`).

mod common;

use common::{booking, offer, user};
use passeur_domain::{Interaction, InteractionKind, Offer};
use passeur_store::{EventOutcome, RecordStore, SCHEMA_VERSION, SqliteStore, StoreError};

fn seeded(dir: &std::path::Path, credit: i64) -> SqliteStore {
    let mut store = SqliteStore::open(dir).unwrap();
    common::seed(&mut store, credit);
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
