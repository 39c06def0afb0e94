//! What the store tests share: records, and the backends the conformance suite runs on.

#![allow(dead_code)]

use passeur_domain::{
    BookSectionId, GeoPoint, Interaction, InteractionKind, Offer, SubcategoryId, Timestamp, User, Venue, VenueTypeId,
    parse_date,
};
use passeur_store::testing::TestDatabase;
use passeur_store::{PostgresStore, RecordStore, SqliteStore};
use std::path::Path;

pub fn venue(id: &str) -> Venue {
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

pub fn offer(id: &str, price_cents: i64, stock: Option<u32>) -> Offer {
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

pub fn user(id: &str, credit_cents: i64) -> User {
    User {
        id: id.into(),
        birth_date: parse_date("2007-04-02").unwrap(),
        department: "75".into(),
        home: None,
        credit_cents,
    }
}

pub fn booking(id: &str, offer_id: &str, amount_cents: i64) -> Interaction {
    Interaction {
        id: id.into(),
        user_id: "u1".into(),
        offer_id: offer_id.into(),
        at: Timestamp(1_700_000_100),
        kind: InteractionKind::Booking { amount_cents, quantity: 1 },
    }
}

/// Imports venue v1, offers o1 (1 500 cents, stock 3) and o2 (900, unlimited), and user u1.
pub fn seed(store: &mut dyn RecordStore, credit: i64) {
    let mut tx = store.begin_import().unwrap();
    tx.upsert_venue(&venue("v1")).unwrap();
    tx.upsert_offer(&offer("o1", 1_500, Some(3))).unwrap();
    tx.upsert_offer(&offer("o2", 900, None)).unwrap();
    tx.upsert_user(&user("u1", credit)).unwrap();
    tx.commit().unwrap();
}

/// A store of the backend, [`seed`]ed.
pub fn seeded(backend: &dyn Backend, credit: i64) -> Box<dyn RecordStore> {
    let mut store = backend.open();
    seed(store.as_mut(), credit);
    store
}

/// One empty store of a backend, which can be opened (connected to) several times.
pub trait Backend {
    /// A new handle on the same store.
    fn open(&self) -> Box<dyn RecordStore>;
}

/// SQLite in a temporary directory.
pub struct SqliteBackend(tempfile::TempDir);

impl SqliteBackend {
    pub fn new() -> SqliteBackend {
        SqliteBackend(tempfile::tempdir().unwrap())
    }

    pub fn dir(&self) -> &Path {
        self.0.path()
    }
}

impl Backend for SqliteBackend {
    fn open(&self) -> Box<dyn RecordStore> {
        Box::new(SqliteStore::open(self.0.path()).unwrap())
    }
}

/// A fresh database on the test server.
pub struct PostgresBackend(TestDatabase);

impl PostgresBackend {
    pub fn new() -> PostgresBackend {
        PostgresBackend(TestDatabase::new("passeur_test").expect("the test server answers"))
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    pub fn connect(&self) -> PostgresStore {
        self.0.connect().unwrap()
    }
}

impl Backend for PostgresBackend {
    fn open(&self) -> Box<dyn RecordStore> {
        Box::new(self.connect())
    }
}
