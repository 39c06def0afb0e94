//! What the store tests share: records, and the backends the conformance suite runs on.

#![allow(dead_code)]

use passeur_domain::{
    BookSectionId, GeoPoint, Interaction, InteractionKind, Offer, SubcategoryId, Timestamp, User, Venue, VenueTypeId,
    parse_date,
};
use passeur_store::{PostgresStore, RecordStore, SqliteStore};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

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

/// A store with venue v1, offers o1 (1 500 cents, stock 3) and o2 (900, unlimited), and user u1.
pub fn seeded(backend: &dyn Backend, credit: i64) -> Box<dyn RecordStore> {
    let mut store = backend.open();
    let mut tx = store.begin_import().unwrap();
    tx.upsert_venue(&venue("v1")).unwrap();
    tx.upsert_offer(&offer("o1", 1_500, Some(3))).unwrap();
    tx.upsert_offer(&offer("o2", 900, None)).unwrap();
    tx.upsert_user(&user("u1", credit)).unwrap();
    tx.commit().unwrap();
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

/// The URL of the test server: `PASSEUR_TEST_POSTGRES`, or the one `scripts/postgres.sh start` starts
/// (installing Debian's postgresql if needed), as `scripts/test.sh` does.
pub fn server_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Some(url) = std::env::var_os("PASSEUR_TEST_POSTGRES") {
            return url.into_string().expect("PASSEUR_TEST_POSTGRES is UTF-8");
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/postgres.sh"))
            .arg("start")
            .output()
            .expect("bash runs scripts/postgres.sh");
        assert!(out.status.success(), "scripts/postgres.sh start failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
    .clone()
}

/// A fresh database on the test server, dropped at the end of the test.
pub struct PostgresBackend {
    admin: String,
    name: String,
    url: String,
}

impl PostgresBackend {
    pub fn new() -> PostgresBackend {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let admin = server_url();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("passeur_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let url = PostgresStore::fresh_database(&admin, &name).expect("the test server answers");
        PostgresBackend { admin, name, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn connect(&self) -> PostgresStore {
        PostgresStore::connect(&self.url).unwrap()
    }
}

impl Backend for PostgresBackend {
    fn open(&self) -> Box<dyn RecordStore> {
        Box::new(self.connect())
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        let _ = PostgresStore::drop_database(&self.admin, &self.name);
    }
}
