//! The embedded SQLite backend.

use crate::error::{Result, StoreError};
use crate::rows::{
    self, INTERACTION_COLUMNS, OFFER_COLUMNS, USER_COLUMNS, VENUE_COLUMNS, embedding_from_blob, embedding_to_blob,
};
use crate::stats::{Counts, Stats, StatsBuilder};
use crate::{EventOutcome, ImportTransaction, RecordStore};
use passeur_domain::{CreditAccount, Interaction, InteractionKind, Offer, Timestamp, User, Venue};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The schema version this build writes. Each entry of `MIGRATIONS` moves the
/// schema one version up; `PRAGMA user_version` records where a file stands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const MIGRATIONS: &[&str] = &[
    // 1: the four record tables.
    "CREATE TABLE venues (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        venue_type TEXT NOT NULL,
        latitude REAL,
        longitude REAL,
        city TEXT NOT NULL,
        department TEXT NOT NULL,
        partner_id TEXT NOT NULL
    );
    CREATE INDEX venues_partner ON venues(partner_id);
    CREATE TABLE offers (
        id TEXT PRIMARY KEY NOT NULL,
        item_id TEXT NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        artist TEXT,
        subcategory TEXT NOT NULL,
        book_macro_section TEXT,
        music_genre TEXT,
        show_type TEXT,
        movie_genre TEXT,
        price_cents INTEGER NOT NULL,
        duo INTEGER NOT NULL,
        stock INTEGER,
        bookable_from INTEGER,
        bookable_until INTEGER,
        event_start INTEGER,
        created_at INTEGER NOT NULL,
        venue_id TEXT,
        image_embedding BLOB
    );
    CREATE INDEX offers_venue ON offers(venue_id);
    CREATE INDEX offers_item ON offers(item_id);
    CREATE TABLE users (
        id TEXT PRIMARY KEY NOT NULL,
        birth_date TEXT NOT NULL,
        department TEXT NOT NULL,
        home_latitude REAL,
        home_longitude REAL,
        credit_cents INTEGER NOT NULL
    );
    CREATE TABLE interactions (
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        user_id TEXT NOT NULL,
        offer_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        amount_cents INTEGER,
        quantity INTEGER,
        booking_id TEXT,
        call_id TEXT,
        position INTEGER,
        model_version TEXT,
        propensity REAL
    );
    CREATE INDEX interactions_user_at ON interactions(user_id, at);
    CREATE INDEX interactions_booking ON interactions(booking_id) WHERE booking_id IS NOT NULL;",
    // 2: text embeddings of offers, and the cache of embedded texts (shared texts are stored once).
    "CREATE TABLE embedding_cache (
        key TEXT PRIMARY KEY NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE TABLE offer_embeddings (
        model TEXT NOT NULL,
        offer_id TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (model, offer_id)
    );",
    // 3: the service's API keys, stored as SHA-256 digests of the secret.
    "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        partner_id TEXT,
        label TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );",
    // 4: every served list, for off-policy evaluation: the policy and seed that drew it, the candidates
    // it was drawn from with their scores, and each position's exact probabilities (JSON in `body`).
    "CREATE TABLE served_lists (
        call_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        list TEXT NOT NULL,
        policy TEXT NOT NULL,
        seed INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX served_lists_at ON served_lists(at);
    ALTER TABLE interactions ADD COLUMN prefix_propensity REAL;",
];

/// How hard SQLite works to keep a commit through a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit: a commit survives a process crash and a power cut.
    #[default]
    Full,
    /// WAL's `NORMAL`: a commit survives a process crash; the last ones may be lost on a power cut.
    Normal,
}

/// Settings of the SQLite backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// Page cache size, in MiB.
    pub cache_mib: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { synchronous: Synchronous::Full, cache_mib: 256 }
    }
}

/// The record store in one SQLite file, `records.sqlite3`, of a data directory.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// The database file's name inside the data directory.
    pub const FILE_NAME: &'static str = "records.sqlite3";

    /// Opens (creating if needed) the store in `data_dir`, with default settings.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(data_dir, &StoreConfig::default())
    }

    /// Opens (creating if needed) the store in `data_dir`, and migrates its schema.
    pub fn open_with(data_dir: &Path, config: &StoreConfig) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::Io { path: data_dir.display().to_string(), source })?;
        let path = data_dir.join(Self::FILE_NAME);
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = match config.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "cache_size", -i64::from(config.cache_mib) * 1024)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Applies independent writes in one transaction, each inside its own
    /// savepoint: a write that fails is rolled back alone and reported in its
    /// slot, the others are made durable by one commit (one fsync for many
    /// requests: the service's group commit). The outer error is for the
    /// commit itself; then nothing was written.
    pub fn write_group(&mut self, writes: &[Write]) -> Result<Vec<Result<Written>>> {
        let mut tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            let mut sp = tx.savepoint()?;
            let result = apply_write(&sp, write);
            if result.is_ok() {
                sp.commit()?;
            } else {
                sp.rollback()?;
                sp.finish()?;
            }
            results.push(result);
        }
        tx.commit()?;
        Ok(results)
    }

    /// Opens a read transaction and pins its snapshot: every read on this
    /// connection until [`SqliteStore::end_snapshot`] sees the store as it is
    /// now, whatever other connections commit meanwhile (WAL snapshot isolation).
    pub fn begin_snapshot(&self) -> Result<()> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        self.conn.query_row("SELECT count(*) FROM venues", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    /// Ends the read transaction of [`SqliteStore::begin_snapshot`].
    pub fn end_snapshot(&self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Stores an API key record (by digest; the secret itself is never stored).
    pub fn put_api_key(&mut self, key: &ApiKeyRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO api_keys (id, digest, scope, partner_id, label, created_at, revoked)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET digest = excluded.digest, scope = excluded.scope,
                 partner_id = excluded.partner_id, label = excluded.label, revoked = excluded.revoked",
            )?
            .execute(params![key.id, key.digest, key.scope, key.partner_id, key.label, key.created_at, key.revoked])?;
        Ok(())
    }

    /// Every API key record, oldest first.
    pub fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, digest, scope, partner_id, label, created_at, revoked FROM api_keys ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ApiKeyRecord {
                id: r.get(0)?,
                digest: r.get(1)?,
                scope: r.get(2)?,
                partner_id: r.get(3)?,
                label: r.get(4)?,
                created_at: r.get(5)?,
                revoked: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Served lists from `since` (seconds, inclusive) on, by time, handed to `each` one at a time.
    pub fn served_lists(&self, since: i64, each: &mut dyn FnMut(ServedListRecord) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT call_id, user_id, at, list, policy, seed, body FROM served_lists WHERE at >= ?1 ORDER BY at, call_id",
        )?;
        let mut rows = stmt.query([since])?;
        while let Some(r) = rows.next()? {
            each(ServedListRecord {
                call_id: r.get(0)?,
                user_id: r.get(1)?,
                at: r.get(2)?,
                list: r.get(3)?,
                policy: r.get(4)?,
                seed: r.get(5)?,
                body: r.get(6)?,
            })?;
        }
        Ok(())
    }

    /// Activity counts for a territory: consultations, bookings and cancellations grouped by kind, offer
    /// subcategory, month (`YYYY-MM`, UTC) and the user's birth date; over the users of a department, or
    /// over the offers at a partner's venues.
    pub fn activity(&self, scope: &TerritoryScope) -> Result<Vec<ActivityRow>> {
        let (join, filter, value) = match scope {
            TerritoryScope::Department(d) => ("", "u.department = ?1", d.as_str()),
            TerritoryScope::Partner(p) => ("JOIN venues v ON v.id = o.venue_id", "v.partner_id = ?1", p.as_str()),
        };
        let sql = format!(
            "SELECT i.kind, o.subcategory, strftime('%Y-%m', i.at, 'unixepoch'), u.birth_date, COUNT(*)
             FROM interactions i JOIN users u ON u.id = i.user_id JOIN offers o ON o.id = i.offer_id {join}
             WHERE {filter} AND i.kind IN ('consultation', 'booking', 'cancellation')
             GROUP BY 1, 2, 3, 4"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([value], |r| {
            Ok(ActivityRow {
                kind: r.get(0)?,
                subcategory: r.get(1)?,
                month: r.get(2)?,
                birth_date: r.get(3)?,
                count: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The young people a territory view is about: a department's residents, or the users who booked at a
    /// partner's venues.
    pub fn territory_users(&self, scope: &TerritoryScope) -> Result<Vec<String>> {
        let (sql, value) = match scope {
            TerritoryScope::Department(d) => ("SELECT id FROM users WHERE department = ?1 ORDER BY id", d.as_str()),
            TerritoryScope::Partner(p) => (
                "SELECT DISTINCT i.user_id FROM interactions i JOIN offers o ON o.id = i.offer_id
                 JOIN venues v ON v.id = o.venue_id WHERE v.partner_id = ?1 AND i.kind = 'booking' ORDER BY 1",
                p.as_str(),
            ),
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([value], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The bookings of an offer: each booker's birth date and department, and the booking's instant.
    pub fn offer_bookers(&self, offer_id: &str) -> Result<Vec<(String, String, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT u.birth_date, u.department, i.at FROM interactions i JOIN users u ON u.id = i.user_id
             WHERE i.offer_id = ?1 AND i.kind = 'booking' ORDER BY i.at",
        )?;
        let rows = stmt.query_map([offer_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every offer with its venue, the venue's partner, and its impressions logged at or after `since`
    /// (seconds): the catalogue's exposure.
    pub fn exposure(&self, since: i64) -> Result<Vec<(String, String, String, u64)>> {
        let mut shown: HashMap<String, u64> = HashMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT offer_id, COUNT(*) FROM interactions WHERE kind = 'impression' AND at >= ?1 GROUP BY offer_id",
        )?;
        let rows = stmt.query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (offer, n) = row?;
            shown.insert(offer, n as u64);
        }
        let mut stmt = self.conn.prepare(
            "SELECT o.id, COALESCE(o.venue_id, ''), COALESCE(v.partner_id, '') FROM offers o
             LEFT JOIN venues v ON v.id = o.venue_id ORDER BY o.id",
        )?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (offer, venue, partner) = row?;
            let n = shown.get(&offer).copied().unwrap_or(0);
            out.push((offer, venue, partner, n));
        }
        Ok(out)
    }

    /// Whether a department has residents or a partner has venues.
    pub fn territory_exists(&self, scope: &TerritoryScope) -> Result<bool> {
        let (sql, value) = match scope {
            TerritoryScope::Department(d) => ("SELECT 1 FROM users WHERE department = ?1 LIMIT 1", d.as_str()),
            TerritoryScope::Partner(p) => ("SELECT 1 FROM venues WHERE partner_id = ?1 LIMIT 1", p.as_str()),
        };
        Ok(self.conn.prepare(sql)?.exists([value])?)
    }

    /// Per offer at a partner's venues: impressions, consultations, bookings (cancellations not deducted).
    pub fn partner_offer_activity(&self, partner_id: &str) -> Result<Vec<OfferActivity>> {
        let mut stmt = self.conn.prepare(
            "SELECT o.id, o.title, o.subcategory, v.id,
                    COALESCE(SUM(i.kind = 'impression'), 0), COALESCE(SUM(i.kind = 'consultation'), 0),
                    COALESCE(SUM(i.kind = 'booking'), 0)
             FROM offers o JOIN venues v ON v.id = o.venue_id LEFT JOIN interactions i ON i.offer_id = o.id
             WHERE v.partner_id = ?1 GROUP BY o.id ORDER BY 7 DESC, 5 DESC, o.id",
        )?;
        let rows = stmt.query_map([partner_id], |r| {
            Ok(OfferActivity {
                offer_id: r.get(0)?,
                title: r.get(1)?,
                subcategory: r.get(2)?,
                venue_id: r.get(3)?,
                impressions: r.get::<_, i64>(4)? as u64,
                consultations: r.get::<_, i64>(5)? as u64,
                bookings: r.get::<_, i64>(6)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Marks a key revoked; false when no key has this id.
    pub fn revoke_api_key(&mut self, id: &str) -> Result<bool> {
        Ok(self.conn.prepare_cached("UPDATE api_keys SET revoked = 1 WHERE id = ?1")?.execute([id])? > 0)
    }
}

/// One stored API key: its public id, the SHA-256 digest of its secret, its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public identifier (shown in listings and logs instead of the key).
    pub id: String,
    /// Hex SHA-256 of the secret.
    pub digest: String,
    /// Scope name (`app`, `partner`, `admin`).
    pub scope: String,
    /// For partner keys: the partner whose venues the key may write.
    pub partner_id: Option<String>,
    /// A human label.
    pub label: String,
    /// Creation instant, seconds.
    pub created_at: i64,
    /// Revoked keys are refused.
    pub revoked: bool,
}

/// One write of a [`SqliteStore::write_group`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Inserts or replaces a venue.
    Venue(Venue),
    /// Inserts or replaces an offer (its venue must exist), with its text embedding when computed:
    /// `(model, cache key, vector)`.
    Offer(Offer, Option<(String, String, Vec<f32>)>),
    /// Inserts or replaces a user.
    User(User),
    /// Live events, all or none (see [`RecordStore::record_events`]).
    Events(Vec<Interaction>),
    /// Logged impressions (references checked, no credit moved).
    Impressions(Vec<Interaction>),
    /// Served lists' records (with the impressions of the same lists).
    Lists(Vec<ServedListRecord>),
}

/// Whose activity a territory view counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerritoryScope {
    /// The young people living in a department (its code).
    Department(String),
    /// The offers at a partner's venues.
    Partner(String),
}

/// A group of activity counts (see [`SqliteStore::activity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// `consultation`, `booking` or `cancellation`.
    pub kind: String,
    /// The offer's subcategory code.
    pub subcategory: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The user's birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Events in the group.
    pub count: u64,
}

/// One offer's activity (see [`SqliteStore::partner_offer_activity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferActivity {
    /// The offer.
    pub offer_id: String,
    /// Its title.
    pub title: String,
    /// Its subcategory code.
    pub subcategory: String,
    /// Its venue.
    pub venue_id: String,
    /// Times shown in served lists.
    pub impressions: u64,
    /// Consultations.
    pub consultations: u64,
    /// Bookings.
    pub bookings: u64,
}

/// One served list as the store keeps it: who, when, which policy and seed drew it, and `body`, the
/// caller's JSON (candidates, scores, order, probabilities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedListRecord {
    /// The call id its impressions carry.
    pub call_id: String,
    /// The user it was served to.
    pub user_id: String,
    /// When (seconds).
    pub at: i64,
    /// Which list (recommendations, a playlist, similar offers).
    pub list: String,
    /// The policy that drew it (JSON).
    pub policy: String,
    /// The seed of its draw (the bits of a u64).
    pub seed: i64,
    /// The rest, as JSON.
    pub body: String,
}

/// What a [`Write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A record was written.
    Record,
    /// Each event's outcome.
    Events(Vec<EventOutcome>),
    /// Impressions written.
    Impressions(usize),
}

fn apply_write(tx: &Connection, write: &Write) -> Result<Written> {
    match write {
        Write::Venue(v) => {
            v.validate()?;
            write_venue(tx, v)?;
            Ok(Written::Record)
        }
        Write::Offer(o, embedding) => {
            o.validate()?;
            write_offer(tx, o)?;
            if let Some((model, key, vector)) = embedding {
                tx.prepare_cached("INSERT OR REPLACE INTO embedding_cache (key, vector) VALUES (?1, ?2)")?
                    .execute(params![key, embedding_to_blob(vector)])?;
                tx.prepare_cached(
                    "INSERT INTO offer_embeddings (model, offer_id, key) VALUES (?1, ?2, ?3)
                     ON CONFLICT(model, offer_id) DO UPDATE SET key = excluded.key",
                )?
                .execute(params![model, o.id, key])?;
            }
            Ok(Written::Record)
        }
        Write::User(u) => {
            u.validate()?;
            write_user(tx, u)?;
            Ok(Written::Record)
        }
        Write::Events(events) => {
            let in_batch = |index: usize, e: StoreError| StoreError::InBatch { index, source: Box::new(e) };
            let mut outcomes = Vec::with_capacity(events.len());
            for (index, event) in events.iter().enumerate() {
                event.validate().map_err(|e| in_batch(index, e.into()))?;
                outcomes.push(apply_event(tx, event).map_err(|e| in_batch(index, e))?);
            }
            Ok(Written::Events(outcomes))
        }
        Write::Impressions(rows) => {
            for (index, row) in rows.iter().enumerate() {
                write_interaction(tx, row, &mut exists)
                    .map_err(|e| StoreError::InBatch { index, source: Box::new(e) })?;
            }
            Ok(Written::Impressions(rows.len()))
        }
        Write::Lists(lists) => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO served_lists (call_id, user_id, at, list, policy, seed, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for l in lists {
                stmt.execute(params![l.call_id, l.user_id, l.at, l.list, l.policy, l.seed, l.body])?;
            }
            Ok(Written::Impressions(lists.len()))
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "record store schema migrated");
    }
    Ok(())
}

// ---------------------------------------------------------------- rows

fn venue_from_row(row: &Row<'_>) -> Result<Venue> {
    rows::venue(row)
}

fn offer_from_row(row: &Row<'_>) -> Result<Offer> {
    rows::offer(row)
}

fn user_from_row(row: &Row<'_>) -> Result<User> {
    rows::user(row)
}

fn interaction_from_row(row: &Row<'_>) -> Result<Interaction> {
    rows::interaction(row)
}

// ---------------------------------------------------------------- writes

fn write_venue(tx: &Connection, v: &Venue) -> Result<()> {
    v.validate()?;
    tx.prepare_cached(sql!(
        "INSERT INTO venues ({VENUE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, venue_type = excluded.venue_type,
         latitude = excluded.latitude, longitude = excluded.longitude, city = excluded.city,
         department = excluded.department, partner_id = excluded.partner_id"
    ))?
    .execute(params![
        v.id,
        v.name,
        v.venue_type.canonical(),
        v.location.map(|p| p.lat),
        v.location.map(|p| p.lon),
        v.city,
        v.department,
        v.partner_id
    ])?;
    Ok(())
}

fn write_offer(tx: &Connection, o: &Offer) -> Result<()> {
    let venue = match &o.venue_id {
        Some(id) => get_venue(tx, id)?,
        None => None,
    };
    crate::checks::check_offer(o, venue.as_ref())?;
    tx.prepare_cached(sql!(
        "INSERT INTO offers ({OFFER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
         ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT(id) DO UPDATE SET item_id = excluded.item_id, title = excluded.title,
         description = excluded.description, artist = excluded.artist, subcategory = excluded.subcategory,
         book_macro_section = excluded.book_macro_section, music_genre = excluded.music_genre,
         show_type = excluded.show_type, movie_genre = excluded.movie_genre, price_cents = excluded.price_cents,
         duo = excluded.duo, stock = excluded.stock, bookable_from = excluded.bookable_from,
         bookable_until = excluded.bookable_until, event_start = excluded.event_start,
         created_at = excluded.created_at, venue_id = excluded.venue_id, image_embedding = excluded.image_embedding"
    ))?
    .execute(params![
        o.id,
        o.item_id,
        o.title,
        o.description,
        o.artist,
        o.subcategory.canonical(),
        o.book_macro_section.map(|x| x.canonical()),
        o.music_genre.map(|x| x.canonical()),
        o.show_type.map(|x| x.canonical()),
        o.movie_genre.map(|x| x.canonical()),
        o.price_cents,
        o.duo,
        o.stock,
        o.bookable_from.map(Timestamp::seconds),
        o.bookable_until.map(Timestamp::seconds),
        o.event_start.map(Timestamp::seconds),
        o.created_at.seconds(),
        o.venue_id,
        o.image_embedding.as_deref().map(embedding_to_blob),
    ])?;
    Ok(())
}

fn write_user(tx: &Connection, u: &User) -> Result<()> {
    u.validate()?;
    tx.prepare_cached(sql!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET birth_date = excluded.birth_date, department = excluded.department,
         home_latitude = excluded.home_latitude, home_longitude = excluded.home_longitude,
         credit_cents = excluded.credit_cents"
    ))?
    .execute(params![
        u.id,
        u.birth_date.format("%Y-%m-%d").to_string(),
        u.department,
        u.home.map(|p| p.lat),
        u.home.map(|p| p.lon),
        u.credit_cents
    ])?;
    Ok(())
}

fn exists(tx: &Connection, table: &str, id: &str) -> Result<bool> {
    let sql = match table {
        "venues" => "SELECT 1 FROM venues WHERE id = ?1",
        "offers" => "SELECT 1 FROM offers WHERE id = ?1",
        "users" => "SELECT 1 FROM users WHERE id = ?1",
        _ => "SELECT 1 FROM interactions WHERE id = ?1",
    };
    Ok(tx.prepare_cached(sql)?.exists([id])?)
}

/// Answers "is there a row with this id in this table?".
type Exists<'a> = dyn FnMut(&Connection, &'static str, &str) -> Result<bool> + 'a;

fn check_interaction_references(tx: &Connection, i: &Interaction, exists: &mut Exists<'_>) -> Result<()> {
    let booking = match &i.kind {
        InteractionKind::Cancellation { booking_id } => {
            get_interaction(tx, booking_id)?.filter(|b| matches!(b.kind, InteractionKind::Booking { .. }))
        }
        _ => None,
    };
    let found = crate::checks::References {
        user: exists(tx, "users", &i.user_id)?,
        offer: exists(tx, "offers", &i.offer_id)?,
        booking: booking.as_ref().map(|b| (b.user_id.as_str(), b.offer_id.as_str())),
    };
    crate::checks::check_interaction(i, found)
}

fn write_interaction(tx: &Connection, i: &Interaction, exists: &mut Exists<'_>) -> Result<()> {
    check_interaction_references(tx, i, exists)?;
    let (mut amount, mut quantity, mut booking, mut call, mut position, mut model, mut propensity) =
        (None, None, None, None, None, None, None);
    let mut prefix = None;
    match &i.kind {
        InteractionKind::Consultation | InteractionKind::Favourite => {}
        InteractionKind::Booking { amount_cents, quantity: q } => {
            amount = Some(*amount_cents);
            quantity = Some(*q);
        }
        InteractionKind::Cancellation { booking_id } => booking = Some(booking_id.as_str()),
        InteractionKind::Impression { call_id, position: p, model_version, propensity: w, prefix_propensity } => {
            call = Some(call_id.as_str());
            position = Some(*p);
            model = Some(model_version.as_str());
            propensity = Some(*w);
            prefix = *prefix_propensity;
        }
    }
    tx.prepare_cached(sql!(
        "INSERT INTO interactions ({INTERACTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, user_id = excluded.user_id,
         offer_id = excluded.offer_id, at = excluded.at, amount_cents = excluded.amount_cents,
         quantity = excluded.quantity, booking_id = excluded.booking_id, call_id = excluded.call_id,
         position = excluded.position, model_version = excluded.model_version, propensity = excluded.propensity,
         prefix_propensity = excluded.prefix_propensity"
    ))?
    .execute(params![
        i.id,
        i.kind.code(),
        i.user_id,
        i.offer_id,
        i.at.seconds(),
        amount,
        quantity,
        booking,
        call,
        position,
        model,
        propensity,
        prefix
    ])?;
    Ok(())
}

// ---------------------------------------------------------------- reads

fn get_one<T>(conn: &Connection, sql: &str, id: &str, decode: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

fn get_venue(conn: &Connection, id: &str) -> Result<Option<Venue>> {
    get_one(conn, sql!("SELECT {VENUE_COLUMNS} FROM venues WHERE id = ?1"), id, venue_from_row)
}

fn get_offer(conn: &Connection, id: &str) -> Result<Option<Offer>> {
    get_one(conn, sql!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = ?1"), id, offer_from_row)
}

fn get_user(conn: &Connection, id: &str) -> Result<Option<User>> {
    get_one(conn, sql!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"), id, user_from_row)
}

fn get_interaction(conn: &Connection, id: &str) -> Result<Option<Interaction>> {
    get_one(conn, sql!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = ?1"), id, interaction_from_row)
}

fn scan<T>(
    conn: &Connection,
    sql: &str,
    decode: fn(&Row<'_>) -> Result<T>,
    visit: &mut dyn FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        visit(decode(row)?)?;
    }
    Ok(())
}

struct SqliteImport<'a> {
    tx: Transaction<'a>,
    /// Ids of users and offers, loaded at the first interaction and kept up
    /// to date by this transaction's upserts: reference checks of bulk
    /// interactions become hash lookups instead of index searches.
    known: Option<KnownIds>,
}

struct KnownIds {
    users: std::collections::HashSet<String>,
    offers: std::collections::HashSet<String>,
}

impl KnownIds {
    fn load(tx: &Connection) -> Result<KnownIds> {
        let ids = |table: &str| -> Result<std::collections::HashSet<String>> {
            let mut stmt = tx.prepare(&format!("SELECT id FROM {table}"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        Ok(KnownIds { users: ids("users")?, offers: ids("offers")? })
    }
}

impl ImportTransaction for SqliteImport<'_> {
    fn upsert_venue(&mut self, venue: &Venue) -> Result<()> {
        write_venue(&self.tx, venue)
    }
    fn upsert_offer(&mut self, offer: &Offer) -> Result<()> {
        write_offer(&self.tx, offer)?;
        if let Some(known) = &mut self.known {
            known.offers.insert(offer.id.clone());
        }
        Ok(())
    }
    fn upsert_user(&mut self, user: &User) -> Result<()> {
        write_user(&self.tx, user)?;
        if let Some(known) = &mut self.known {
            known.users.insert(user.id.clone());
        }
        Ok(())
    }
    fn upsert_interaction(&mut self, interaction: &Interaction) -> Result<()> {
        if self.known.is_none() {
            self.known = Some(KnownIds::load(&self.tx)?);
        }
        let known = self.known.as_ref().expect("just loaded");
        write_interaction(&self.tx, interaction, &mut |tx, table, id| match table {
            "users" => Ok(known.users.contains(id)),
            "offers" => Ok(known.offers.contains(id)),
            _ => exists(tx, table, id),
        })
    }
    fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit()?;
        Ok(())
    }
}

impl RecordStore for SqliteStore {
    fn begin_import(&mut self) -> Result<Box<dyn ImportTransaction + '_>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteImport { tx, known: None }))
    }

    fn record_event(&mut self, event: &Interaction) -> Result<EventOutcome> {
        event.validate()?;
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let outcome = apply_event(&tx, event)?;
        tx.commit()?;
        Ok(outcome)
    }

    fn record_events(&mut self, events: &[Interaction]) -> Result<Vec<EventOutcome>> {
        let in_batch = |index: usize, e: StoreError| StoreError::InBatch { index, source: Box::new(e) };
        for (index, event) in events.iter().enumerate() {
            event.validate().map_err(|e| in_batch(index, e.into()))?;
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            outcomes.push(apply_event(&tx, event).map_err(|e| in_batch(index, e))?);
        }
        tx.commit()?;
        Ok(outcomes)
    }

    fn venue(&self, id: &str) -> Result<Option<Venue>> {
        get_venue(&self.conn, id)
    }
    fn offer(&self, id: &str) -> Result<Option<Offer>> {
        get_offer(&self.conn, id)
    }
    fn user(&self, id: &str) -> Result<Option<User>> {
        get_user(&self.conn, id)
    }
    fn interaction(&self, id: &str) -> Result<Option<Interaction>> {
        get_interaction(&self.conn, id)
    }

    fn user_interactions(&self, user_id: &str) -> Result<Vec<Interaction>> {
        let mut stmt = self.conn.prepare_cached(sql!(
            "SELECT {INTERACTION_COLUMNS} FROM interactions WHERE user_id = ?1 ORDER BY at, id"
        ))?;
        let mut rows = stmt.query([user_id])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(interaction_from_row(row)?);
        }
        Ok(out)
    }

    fn scan_venues(&self, visit: &mut dyn FnMut(Venue) -> Result<()>) -> Result<()> {
        scan(&self.conn, &format!("SELECT {VENUE_COLUMNS} FROM venues ORDER BY rowid"), venue_from_row, visit)
    }
    fn scan_offers(&self, visit: &mut dyn FnMut(Offer) -> Result<()>) -> Result<()> {
        scan(&self.conn, &format!("SELECT {OFFER_COLUMNS} FROM offers ORDER BY rowid"), offer_from_row, visit)
    }
    fn scan_users(&self, visit: &mut dyn FnMut(User) -> Result<()>) -> Result<()> {
        scan(&self.conn, &format!("SELECT {USER_COLUMNS} FROM users ORDER BY rowid"), user_from_row, visit)
    }
    fn scan_interactions(&self, visit: &mut dyn FnMut(Interaction) -> Result<()>) -> Result<()> {
        let sql = format!("SELECT {INTERACTION_COLUMNS} FROM interactions ORDER BY rowid");
        scan(&self.conn, &sql, interaction_from_row, visit)
    }
    fn scan_actions(&self, visit: &mut dyn FnMut(Interaction) -> Result<()>) -> Result<()> {
        let sql = format!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE kind <> 'impression' ORDER BY rowid");
        scan(&self.conn, &sql, interaction_from_row, visit)
    }

    fn counts(&self) -> Result<Counts> {
        let count = |sql: &str| -> Result<u64> { Ok(self.conn.query_row(sql, [], |r| r.get(0))?) };
        let mut counts = Counts {
            venues: count("SELECT COUNT(*) FROM venues")?,
            offers: count("SELECT COUNT(*) FROM offers")?,
            users: count("SELECT COUNT(*) FROM users")?,
            ..Counts::default()
        };
        let mut stmt = self.conn.prepare("SELECT kind, COUNT(*) FROM interactions GROUP BY kind")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(0)?;
            counts.add_interactions(&kind, row.get(1)?);
        }
        Ok(counts)
    }

    fn offer_embedding_keys(&self, model: &str) -> Result<HashMap<String, String>> {
        let mut stmt = self.conn.prepare("SELECT offer_id, key FROM offer_embeddings WHERE model = ?1")?;
        let rows = stmt.query_map([model], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn cached_embeddings(&self, keys: &[String]) -> Result<HashMap<String, Vec<f32>>> {
        let mut stmt = self.conn.prepare_cached("SELECT vector FROM embedding_cache WHERE key = ?1")?;
        let mut out = HashMap::new();
        for key in keys {
            let blob: Option<Vec<u8>> = stmt.query_row([key], |r| r.get(0)).optional()?;
            if let Some(blob) = blob {
                out.insert(key.clone(), embedding_from_blob(key, &blob)?);
            }
        }
        Ok(out)
    }

    fn put_embeddings(
        &mut self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
        offers: &[(String, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut put = tx.prepare_cached("INSERT OR REPLACE INTO embedding_cache (key, vector) VALUES (?1, ?2)")?;
            for (key, vector) in vectors {
                put.execute(params![key, embedding_to_blob(vector)])?;
            }
            let mut map = tx.prepare_cached(
                "INSERT INTO offer_embeddings (model, offer_id, key) VALUES (?1, ?2, ?3)
                 ON CONFLICT(model, offer_id) DO UPDATE SET key = excluded.key",
            )?;
            for (offer_id, key) in offers {
                map.execute(params![model, offer_id, key])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn offer_embedding(&self, model: &str, offer_id: &str) -> Result<Option<Vec<f32>>> {
        let blob: Option<(String, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT c.key, c.vector FROM offer_embeddings o JOIN embedding_cache c ON c.key = o.key
                 WHERE o.model = ?1 AND o.offer_id = ?2",
                [model, offer_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        blob.map(|(key, b)| embedding_from_blob(&key, &b)).transpose()
    }

    fn scan_offer_embeddings(&self, model: &str, visit: &mut dyn FnMut(String, Vec<f32>) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT o.offer_id, c.key, c.vector FROM offer_embeddings o JOIN embedding_cache c ON c.key = o.key
             WHERE o.model = ?1 ORDER BY o.offer_id",
        )?;
        let mut rows = stmt.query([model])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(1)?;
            let blob: Vec<u8> = row.get(2)?;
            visit(row.get(0)?, embedding_from_blob(&key, &blob)?)?;
        }
        Ok(())
    }

    fn embedding_models(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt =
            self.conn.prepare("SELECT model, COUNT(*) FROM offer_embeddings GROUP BY model ORDER BY model")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn stats(&self, on: chrono::NaiveDate) -> Result<Stats> {
        let mut b = StatsBuilder::new(self.counts()?, on);
        let query = |sql: &str, f: &mut dyn FnMut(&Row<'_>) -> Result<()>| -> Result<()> {
            let mut stmt = self.conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                f(row)?;
            }
            Ok(())
        };
        query("SELECT subcategory, COUNT(*) FROM offers GROUP BY subcategory", &mut |r| {
            b.offers_of_subcategory(&r.get::<_, String>(0)?, r.get(1)?)
        })?;
        query(
            "SELECT o.subcategory, COUNT(*), SUM(i.amount_cents) FROM interactions i JOIN offers o ON o.id = i.offer_id
             WHERE i.kind = 'booking' AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.booking_id = i.id)
             GROUP BY o.subcategory",
            &mut |r| b.bookings_of_subcategory(&r.get::<_, String>(0)?, r.get(1)?, r.get(2)?),
        )?;
        query("SELECT birth_date, COUNT(*) FROM users GROUP BY birth_date", &mut |r| {
            b.users_born(&r.get::<_, String>(0)?, r.get(1)?)
        })?;
        query("SELECT department, COUNT(*), SUM(credit_cents) FROM users GROUP BY department", &mut |r| {
            b.users_of_department(r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(())
        })?;
        query(
            "SELECT n, COUNT(*) FROM (SELECT i.user_id, COUNT(*) AS n FROM interactions i WHERE i.kind = 'booking'
             AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.booking_id = i.id) GROUP BY i.user_id) GROUP BY n",
            &mut |r| {
                b.users_with_bookings(r.get(0)?, r.get(1)?);
                Ok(())
            },
        )?;
        Ok(b.finish())
    }
}

/// Extension used by tests and tools: is a row with this id present?
impl SqliteStore {
    /// True when an interaction with this id is stored.
    pub fn has_interaction(&self, id: &str) -> Result<bool> {
        Ok(self.conn.query_row("SELECT 1 FROM interactions WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some())
    }
}

/// Applies one live event inside an open transaction (see [`RecordStore::record_event`]).
fn apply_event(tx: &Connection, event: &Interaction) -> Result<EventOutcome> {
    if exists(tx, "interactions", &event.id)? {
        return Ok(EventOutcome::AlreadyRecorded);
    }
    check_interaction_references(tx, event, &mut exists)?;
    let user = get_user(tx, &event.user_id)?.expect("checked above");
    let mut account = CreditAccount { remaining_cents: user.credit_cents };
    match &event.kind {
        InteractionKind::Booking { amount_cents, quantity } => {
            let offer = get_offer(tx, &event.offer_id)?.expect("checked above");
            let not_bookable = |reason| StoreError::NotBookable { offer_id: offer.id.clone(), at: event.at, reason };
            if offer.stock.is_some_and(|s| s < *quantity) {
                return Err(not_bookable("not enough stock"));
            }
            if !offer.is_bookable_at(event.at) {
                return Err(not_bookable("outside its booking window or after the event start"));
            }
            account.debit(&user.id, *amount_cents)?;
            tx.prepare_cached("UPDATE offers SET stock = stock - ?2 WHERE id = ?1 AND stock IS NOT NULL")?
                .execute(params![offer.id, quantity])?;
        }
        InteractionKind::Cancellation { booking_id } => {
            let cancelled: bool = tx
                .prepare_cached("SELECT 1 FROM interactions WHERE booking_id = ?1 AND kind = 'cancellation'")?
                .exists([booking_id])?;
            if cancelled {
                return Err(StoreError::AlreadyCancelled { booking_id: booking_id.clone() });
            }
            let booking = get_interaction(tx, booking_id)?.expect("checked above");
            if let InteractionKind::Booking { amount_cents, quantity } = booking.kind {
                account.refund(amount_cents);
                tx.prepare_cached("UPDATE offers SET stock = stock + ?2 WHERE id = ?1 AND stock IS NOT NULL")?
                    .execute(params![booking.offer_id, quantity])?;
            }
        }
        InteractionKind::Consultation | InteractionKind::Favourite | InteractionKind::Impression { .. } => {}
    }
    if account.remaining_cents != user.credit_cents {
        tx.prepare_cached("UPDATE users SET credit_cents = ?2 WHERE id = ?1")?
            .execute(params![user.id, account.remaining_cents])?;
    }
    write_interaction(tx, event, &mut exists)?;
    Ok(EventOutcome::Recorded { credit_cents: account.remaining_cents })
}
