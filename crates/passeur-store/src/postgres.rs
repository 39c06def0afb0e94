//! The PostgreSQL backend: one record store shared by several processes
//! (`passeur serve` replicas, imports, tools) over one server.
//!
//! The schema mirrors the SQLite one (same columns, same encodings: instants
//! as integer seconds, codes as their canonical text, vectors as
//! little-endian `f32` bytes), plus a `seq` identity column per record table
//! that keeps insertion order across upserts, as SQLite's `rowid` does.
//! Migrations run in one transaction under an advisory lock, so replicas
//! starting together migrate once.
//!
//! Bulk imports buffer rows and write them with binary `COPY` into temporary
//! staging tables, then merge them with one `INSERT … ON CONFLICT` per table
//! (the last row of an id wins, insertion order kept); every row passes the
//! same checks as in SQLite before it is buffered, so errors name the same
//! rows. Live events lock the user's row (`SELECT … FOR UPDATE`) and the
//! offer's row before checking credit and stock, so two processes can never
//! spend one credit twice or sell the last seat twice.

use crate::error::{Result, StoreError};
use crate::rows::{
    self, INTERACTION_COLUMNS, OFFER_COLUMNS, USER_COLUMNS, VENUE_COLUMNS, embedding_from_blob, embedding_to_blob,
};
use crate::stats::{Counts, Stats, StatsBuilder};
use crate::{EventOutcome, ImportTransaction, RecordStore};
use passeur_domain::{CreditAccount, Interaction, InteractionKind, Offer, Timestamp, User, Venue};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, NoTls, Row, Statement, Transaction};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// The schema version this build writes in PostgreSQL (`passeur_schema.version`).
pub const POSTGRES_SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const MIGRATIONS: &[&str] = &[
    // 1: every table of SQLite's schema version 4, with `seq` for insertion order; ids and codes compare
    // bytewise (COLLATE "C"), as SQLite's BINARY does, and without a locale's cost.
    "CREATE TABLE venues (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE \"C\" PRIMARY KEY,
        name TEXT NOT NULL,
        venue_type TEXT NOT NULL,
        latitude DOUBLE PRECISION,
        longitude DOUBLE PRECISION,
        city TEXT NOT NULL,
        department TEXT COLLATE \"C\" NOT NULL,
        partner_id TEXT COLLATE \"C\" NOT NULL
    );
    CREATE UNIQUE INDEX venues_seq ON venues(seq);
    CREATE INDEX venues_partner ON venues(partner_id);
    CREATE TABLE offers (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE \"C\" PRIMARY KEY,
        item_id TEXT COLLATE \"C\" NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        artist TEXT,
        subcategory TEXT NOT NULL,
        book_macro_section TEXT,
        music_genre TEXT,
        show_type TEXT,
        movie_genre TEXT,
        price_cents BIGINT NOT NULL,
        duo BOOLEAN NOT NULL,
        stock BIGINT,
        bookable_from BIGINT,
        bookable_until BIGINT,
        event_start BIGINT,
        created_at BIGINT NOT NULL,
        venue_id TEXT COLLATE \"C\",
        image_embedding BYTEA
    );
    CREATE UNIQUE INDEX offers_seq ON offers(seq);
    CREATE INDEX offers_venue ON offers(venue_id);
    CREATE INDEX offers_item ON offers(item_id);
    CREATE TABLE users (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE \"C\" PRIMARY KEY,
        birth_date TEXT NOT NULL,
        department TEXT COLLATE \"C\" NOT NULL,
        home_latitude DOUBLE PRECISION,
        home_longitude DOUBLE PRECISION,
        credit_cents BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX users_seq ON users(seq);
    CREATE INDEX users_department ON users(department);
    CREATE TABLE interactions (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT COLLATE \"C\" PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id TEXT COLLATE \"C\" NOT NULL,
        offer_id TEXT COLLATE \"C\" NOT NULL,
        at BIGINT NOT NULL,
        amount_cents BIGINT,
        quantity BIGINT,
        booking_id TEXT COLLATE \"C\",
        call_id TEXT COLLATE \"C\",
        position BIGINT,
        model_version TEXT,
        propensity DOUBLE PRECISION,
        prefix_propensity DOUBLE PRECISION
    );
    CREATE UNIQUE INDEX interactions_seq ON interactions(seq);
    CREATE INDEX interactions_user_at ON interactions(user_id, at);
    CREATE INDEX interactions_booking ON interactions(booking_id) WHERE booking_id IS NOT NULL;
    CREATE TABLE embedding_cache (
        key TEXT COLLATE \"C\" PRIMARY KEY,
        vector BYTEA NOT NULL
    );
    CREATE TABLE offer_embeddings (
        model TEXT COLLATE \"C\" NOT NULL,
        offer_id TEXT COLLATE \"C\" NOT NULL,
        key TEXT COLLATE \"C\" NOT NULL,
        PRIMARY KEY (model, offer_id)
    );
    CREATE TABLE api_keys (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        partner_id TEXT COLLATE \"C\",
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE served_lists (
        call_id TEXT COLLATE \"C\" PRIMARY KEY,
        user_id TEXT COLLATE \"C\" NOT NULL,
        at BIGINT NOT NULL,
        list TEXT NOT NULL,
        policy TEXT NOT NULL,
        seed BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX served_lists_at ON served_lists(at);",
];

/// The advisory lock key that serializes migrations between processes.
const MIGRATION_LOCK: i64 = 0x0070_6173_7365_7572; // "passeur"

/// Rows buffered by an import before they are copied to the server.
const FLUSH_ROWS: usize = 50_000;

/// Rows fetched per page by the scans.
const PAGE_ROWS: i64 = 10_000;

const VENUE_TYPES: &[Type] =
    &[Type::TEXT, Type::TEXT, Type::TEXT, Type::FLOAT8, Type::FLOAT8, Type::TEXT, Type::TEXT, Type::TEXT];
const OFFER_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::BOOL,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::BYTEA,
];
const USER_TYPES: &[Type] = &[Type::TEXT, Type::TEXT, Type::TEXT, Type::FLOAT8, Type::FLOAT8, Type::INT8];
const INTERACTION_TYPES: &[Type] = &[
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::FLOAT8,
    Type::FLOAT8,
];

/// Prepared statements of one connection, by text.
type Statements = RefCell<HashMap<&'static str, Statement>>;

/// The record store in a PostgreSQL database, shared by every process that
/// connects to it.
pub struct PostgresStore {
    client: RefCell<Client>,
    statements: Statements,
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("target", &self.target).finish()
    }
}

/// Where a connection string points, without its password (for messages and logs).
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default database)"))
}

/// A `key=value` connection string of a configuration (user, password, hosts, ports, database).
fn url_of(config: &postgres::Config) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    if let Some(user) = config.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!("password={}", quote(&String::from_utf8_lossy(password))));
    }
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        parts.push(format!("host={}", quote(&hosts.join(","))));
    }
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        parts.push(format!("port={}", ports.join(",")));
    }
    if let Some(db) = config.get_dbname() {
        parts.push(format!("dbname={}", quote(db)));
    }
    parts.join(" ")
}

impl PostgresStore {
    /// Connects to the database of a `postgres://user@host:port/dbname` URL
    /// (or a `key=value` connection string), without TLS (loopback or a
    /// private network), and migrates its schema.
    pub fn connect(url: &str) -> Result<PostgresStore> {
        let config: postgres::Config = url.parse().map_err(|source| StoreError::PostgresUnreachable {
            target: "(a connection string that does not parse)".into(),
            source,
        })?;
        let target = describe(&config);
        let mut config = config;
        // An import's staging tables stay in memory (the default 8 MB spills a flush of 50 000 rows).
        let options = match config.get_options() {
            Some(given) => format!("-c temp_buffers=64MB {given}"),
            None => "-c temp_buffers=64MB".to_owned(),
        };
        config.options(&options);
        let mut client = config
            .connect(NoTls)
            .map_err(|source| StoreError::PostgresUnreachable { target: target.clone(), source })?;
        migrate(&mut client)?;
        Ok(PostgresStore { client: RefCell::new(client), statements: RefCell::default(), target })
    }

    /// Creates an empty database named `name` on the server of `server_url`
    /// (dropping one of that name first, with its connections), and returns
    /// its URL: for benchmarks and tests that want a store of their own.
    /// `name` must be a plain identifier (letters, digits, `_`).
    pub fn fresh_database(server_url: &str, name: &str) -> Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(
                passeur_domain::DomainError::field("database", name, "name", "letters, digits and _ only").into()
            );
        }
        let config: postgres::Config = server_url.parse().map_err(|source| StoreError::PostgresUnreachable {
            target: "(a connection string that does not parse)".into(),
            source,
        })?;
        let target = describe(&config);
        let mut client = config
            .connect(NoTls)
            .map_err(|source| StoreError::PostgresUnreachable { target: target.clone(), source })?;
        // Two statements: neither may run inside a transaction block.
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let mut config = config;
        config.dbname(name);
        Ok(url_of(&config))
    }

    /// Drops a database made by [`PostgresStore::fresh_database`].
    pub fn drop_database(server_url: &str, name: &str) -> Result<()> {
        let mut client = Client::connect(server_url, NoTls)
            .map_err(|source| StoreError::PostgresUnreachable { target: server_url.into(), source })?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        Ok(())
    }

    /// `host:port/dbname` of the server this store is connected to.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema version in the database.
    pub fn schema_version(&self) -> Result<u32> {
        let row = self.client.borrow_mut().query_one("SELECT version FROM passeur_schema", &[])?;
        Ok(row.get::<_, i32>(0) as u32)
    }

    fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut client = self.client.borrow_mut();
        let statement = prepared(&self.statements, &mut *client, sql)?;
        Ok(client.query(&statement, params)?)
    }

    fn query_opt(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let mut client = self.client.borrow_mut();
        let statement = prepared(&self.statements, &mut *client, sql)?;
        Ok(client.query_opt(&statement, params)?)
    }

    /// Visits a table in `seq` order, a page at a time, so that `visit` may
    /// read the store again and no read holds the connection while it runs.
    fn scan_pages<T>(
        &self,
        sql: &'static str,
        decode: fn(&Row) -> Result<T>,
        visit: &mut dyn FnMut(T) -> Result<()>,
    ) -> Result<()> {
        let mut after = 0i64;
        loop {
            let rows = self.query(sql, &[&after, &PAGE_ROWS])?;
            for row in &rows {
                after = row.try_get(row.len() - 1)?;
                visit(decode(row)?)?;
            }
            if (rows.len() as i64) < PAGE_ROWS {
                return Ok(());
            }
        }
    }
}

fn prepared(statements: &Statements, client: &mut impl GenericClient, sql: &'static str) -> Result<Statement> {
    if let Some(s) = statements.borrow().get(sql) {
        return Ok(s.clone());
    }
    let statement = client.prepare(sql)?;
    statements.borrow_mut().insert(sql, statement.clone());
    Ok(statement)
}

fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS passeur_schema (version INTEGER NOT NULL)")?;
    let found = match tx.query_opt("SELECT version FROM passeur_schema", &[])? {
        Some(row) => row.get::<_, i32>(0) as u32,
        None => {
            tx.execute("INSERT INTO passeur_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if found > POSTGRES_SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: POSTGRES_SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)?;
        tx.execute("UPDATE passeur_schema SET version = $1", &[&(i as i32 + 1)])?;
        tracing::info!(version = i + 1, "PostgreSQL record store schema migrated");
    }
    tx.commit()?;
    Ok(())
}

// ---------------------------------------------------------------- rows

fn venue_from_row(row: &Row) -> Result<Venue> {
    rows::venue(row)
}

fn offer_from_row(row: &Row) -> Result<Offer> {
    rows::offer(row)
}

fn user_from_row(row: &Row) -> Result<User> {
    rows::user(row)
}

fn interaction_from_row(row: &Row) -> Result<Interaction> {
    rows::interaction(row)
}

/// An interaction's kind-specific columns, as stored.
struct InteractionColumns<'a> {
    amount: Option<i64>,
    quantity: Option<i64>,
    booking: Option<&'a str>,
    call: Option<&'a str>,
    position: Option<i64>,
    model: Option<&'a str>,
    propensity: Option<f64>,
    prefix: Option<f64>,
}

impl<'a> InteractionColumns<'a> {
    fn of(i: &'a Interaction) -> InteractionColumns<'a> {
        let mut c = InteractionColumns {
            amount: None,
            quantity: None,
            booking: None,
            call: None,
            position: None,
            model: None,
            propensity: None,
            prefix: None,
        };
        match &i.kind {
            InteractionKind::Consultation | InteractionKind::Favourite => {}
            InteractionKind::Booking { amount_cents, quantity } => {
                c.amount = Some(*amount_cents);
                c.quantity = Some(i64::from(*quantity));
            }
            InteractionKind::Cancellation { booking_id } => c.booking = Some(booking_id),
            InteractionKind::Impression { call_id, position, model_version, propensity, prefix_propensity } => {
                c.call = Some(call_id);
                c.position = Some(i64::from(*position));
                c.model = Some(model_version);
                c.propensity = Some(*propensity);
                c.prefix = *prefix_propensity;
            }
        }
        c
    }
}

/// Calls `with` with an offer's column values, in `OFFER_COLUMNS` order.
fn with_offer_values<T>(o: &Offer, with: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let codes = [
        o.book_macro_section.map(|x| x.canonical()),
        o.music_genre.map(|x| x.canonical()),
        o.show_type.map(|x| x.canonical()),
        o.movie_genre.map(|x| x.canonical()),
    ];
    let stock = o.stock.map(i64::from);
    let (from, until, start) = (
        o.bookable_from.map(Timestamp::seconds),
        o.bookable_until.map(Timestamp::seconds),
        o.event_start.map(Timestamp::seconds),
    );
    let created = o.created_at.seconds();
    let embedding = o.image_embedding.as_deref().map(embedding_to_blob);
    with(&[
        &o.id,
        &o.item_id,
        &o.title,
        &o.description,
        &o.artist,
        &o.subcategory.canonical(),
        &codes[0],
        &codes[1],
        &codes[2],
        &codes[3],
        &o.price_cents,
        &o.duo,
        &stock,
        &from,
        &until,
        &start,
        &created,
        &o.venue_id,
        &embedding,
    ])
}

fn with_venue_values<T>(v: &Venue, with: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let (lat, lon) = (v.location.map(|p| p.lat), v.location.map(|p| p.lon));
    with(&[&v.id, &v.name, &v.venue_type.canonical(), &lat, &lon, &v.city, &v.department, &v.partner_id])
}

fn with_user_values<T>(u: &User, with: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let birth = u.birth_date.format("%Y-%m-%d").to_string();
    let (lat, lon) = (u.home.map(|p| p.lat), u.home.map(|p| p.lon));
    with(&[&u.id, &birth, &u.department, &lat, &lon, &u.credit_cents])
}

fn with_interaction_values<T>(i: &Interaction, with: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let c = InteractionColumns::of(i);
    let at = i.at.seconds();
    with(&[
        &i.id,
        &i.kind.code(),
        &i.user_id,
        &i.offer_id,
        &at,
        &c.amount,
        &c.quantity,
        &c.booking,
        &c.call,
        &c.position,
        &c.model,
        &c.propensity,
        &c.prefix,
    ])
}

/// `a = EXCLUDED.a, …` for every column but the id.
fn updates(columns: &str) -> String {
    columns
        .split(',')
        .map(str::trim)
        .filter(|c| *c != "id")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- imports

/// One record table's buffered rows and how they are staged and merged.
struct Table {
    name: &'static str,
    columns: &'static str,
    types: &'static [Type],
}

const VENUES: Table = Table { name: "venues", columns: VENUE_COLUMNS, types: VENUE_TYPES };
const OFFERS: Table = Table { name: "offers", columns: OFFER_COLUMNS, types: OFFER_TYPES };
const USERS: Table = Table { name: "users", columns: USER_COLUMNS, types: USER_TYPES };
const INTERACTIONS: Table = Table { name: "interactions", columns: INTERACTION_COLUMNS, types: INTERACTION_TYPES };

impl Table {
    fn stage(&self) -> String {
        format!("passeur_stage_{}", self.name)
    }

    /// Copies rows into the staging table, then merges them into the table:
    /// the last row of each id wins, new rows take `seq` in buffer order.
    fn flush<R>(
        &self,
        tx: &mut Transaction<'_>,
        rows: &[R],
        duplicates: bool,
        values: fn(&R, &mut BinaryCopyInWriter<'_>) -> std::result::Result<(), postgres::Error>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let stage = self.stage();
        let sink = tx.copy_in(&format!("COPY {stage} ({}) FROM STDIN (FORMAT binary)", self.columns))?;
        let mut writer = BinaryCopyInWriter::new(sink, self.types);
        for row in rows {
            values(row, &mut writer)?;
        }
        writer.finish()?;
        // `n` is the row's position in the buffer (an identity of the staging table). An id written twice
        // takes the values of its last row and the place of its first, as an upsert in SQLite keeps its rowid.
        let (source, order) = if duplicates {
            (
                format!(
                    "(SELECT DISTINCT ON (id) *, min(n) OVER (PARTITION BY id) AS first_n FROM {stage}
                      ORDER BY id, n DESC) s"
                ),
                "first_n",
            )
        } else {
            (stage.clone(), "n")
        };
        tx.batch_execute(&format!(
            "INSERT INTO {name} ({columns}) SELECT {columns} FROM {source} ORDER BY {order}
             ON CONFLICT (id) DO UPDATE SET {updates};
             TRUNCATE {stage}",
            name = self.name,
            columns = self.columns,
            updates = updates(self.columns),
        ))?;
        Ok(())
    }
}

/// What an import has checked against: the records it may refer to.
struct Known {
    venues: HashMap<String, Venue>,
    users: HashSet<String>,
    offers: HashSet<String>,
}

#[derive(Default)]
struct Pending {
    venues: Vec<Venue>,
    offers: Vec<Offer>,
    users: Vec<User>,
    interactions: Vec<Interaction>,
    /// The buffered interactions by id (the last one of an id), for cancellations of buffered bookings.
    interaction_at: HashMap<String, usize>,
    /// Ids buffered per table, to know whether a merge must resolve duplicates.
    ids: [HashSet<String>; 3],
    duplicates: [bool; 4],
}

impl Pending {
    fn len(&self) -> usize {
        self.venues.len() + self.offers.len() + self.users.len() + self.interactions.len()
    }

    fn note(&mut self, table: usize, id: &str) {
        if !self.ids[table].insert(id.to_owned()) {
            self.duplicates[table] = true;
        }
    }
}

struct PostgresImport<'a> {
    tx: Transaction<'a>,
    known: Option<Known>,
    pending: Pending,
    booking_of: Statement,
}

impl PostgresImport<'_> {
    fn flush(&mut self) -> Result<()> {
        let p = std::mem::take(&mut self.pending);
        VENUES.flush(&mut self.tx, &p.venues, p.duplicates[0], |v, w| with_venue_values(v, |vals| w.write(vals)))?;
        OFFERS.flush(&mut self.tx, &p.offers, p.duplicates[1], |o, w| with_offer_values(o, |vals| w.write(vals)))?;
        USERS.flush(&mut self.tx, &p.users, p.duplicates[2], |u, w| with_user_values(u, |vals| w.write(vals)))?;
        INTERACTIONS.flush(&mut self.tx, &p.interactions, p.duplicates[3], |i, w| {
            with_interaction_values(i, |vals| w.write(vals))
        })?;
        Ok(())
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.pending.len() >= FLUSH_ROWS { self.flush() } else { Ok(()) }
    }

    /// The records rows may refer to, loaded (after a flush, so that the
    /// server has every buffered row) at the first need.
    fn known(&mut self) -> Result<&mut Known> {
        if self.known.is_none() {
            self.flush()?;
            let mut venues = HashMap::new();
            for row in self.tx.query(sql!("SELECT {VENUE_COLUMNS} FROM venues"), &[])? {
                let v = venue_from_row(&row)?;
                venues.insert(v.id.clone(), v);
            }
            let ids = |tx: &mut Transaction<'_>, sql: &str| -> Result<HashSet<String>> {
                Ok(tx.query(sql, &[])?.iter().map(|r| r.get::<_, String>(0)).collect())
            };
            let users = ids(&mut self.tx, "SELECT id FROM users")?;
            let offers = ids(&mut self.tx, "SELECT id FROM offers")?;
            self.known = Some(Known { venues, users, offers });
        }
        Ok(self.known.as_mut().expect("just loaded"))
    }

    /// The (user, offer) of the booking with this id, as this import leaves it so far.
    fn booking(&mut self, id: &str) -> Result<Option<(String, String)>> {
        if let Some(&at) = self.pending.interaction_at.get(id) {
            let i = &self.pending.interactions[at];
            return Ok(
                matches!(i.kind, InteractionKind::Booking { .. }).then(|| (i.user_id.clone(), i.offer_id.clone()))
            );
        }
        let row = self.tx.query_opt(&self.booking_of, &[&id])?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}

impl ImportTransaction for PostgresImport<'_> {
    fn upsert_venue(&mut self, venue: &Venue) -> Result<()> {
        venue.validate()?;
        if let Some(known) = &mut self.known {
            known.venues.insert(venue.id.clone(), venue.clone());
        }
        self.pending.note(0, &venue.id);
        self.pending.venues.push(venue.clone());
        self.maybe_flush()
    }

    fn upsert_offer(&mut self, offer: &Offer) -> Result<()> {
        let known = self.known()?;
        let venue = offer.venue_id.as_ref().and_then(|id| known.venues.get(id));
        crate::checks::check_offer(offer, venue)?;
        known.offers.insert(offer.id.clone());
        self.pending.note(1, &offer.id);
        self.pending.offers.push(offer.clone());
        self.maybe_flush()
    }

    fn upsert_user(&mut self, user: &User) -> Result<()> {
        user.validate()?;
        if let Some(known) = &mut self.known {
            known.users.insert(user.id.clone());
        }
        self.pending.note(2, &user.id);
        self.pending.users.push(user.clone());
        self.maybe_flush()
    }

    fn upsert_interaction(&mut self, interaction: &Interaction) -> Result<()> {
        let known = self.known()?;
        let (user, offer) = (known.users.contains(&interaction.user_id), known.offers.contains(&interaction.offer_id));
        let booking = match &interaction.kind {
            InteractionKind::Cancellation { booking_id } => self.booking(booking_id)?,
            _ => None,
        };
        let found =
            crate::checks::References { user, offer, booking: booking.as_ref().map(|(u, o)| (u.as_str(), o.as_str())) };
        crate::checks::check_interaction(interaction, found)?;
        let p = &mut self.pending;
        if p.interaction_at.insert(interaction.id.clone(), p.interactions.len()).is_some() {
            p.duplicates[3] = true;
        }
        p.interactions.push(interaction.clone());
        self.maybe_flush()
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.flush()?;
        self.tx.commit()?;
        Ok(())
    }
}

fn begin_import(client: &mut Client) -> Result<PostgresImport<'_>> {
    let mut tx = client.transaction()?;
    // A flush's rows are sorted in memory, not in temporary files (the default 4 MB spills 50 000 rows).
    let mut stages = String::from("SET LOCAL work_mem = '64MB';");
    for table in [&VENUES, &OFFERS, &USERS, &INTERACTIONS] {
        stages.push_str(&format!(
            "CREATE TEMP TABLE {stage} (n BIGINT GENERATED ALWAYS AS IDENTITY, LIKE {name}) ON COMMIT DROP;
             ALTER TABLE {stage} DROP COLUMN seq;",
            stage = table.stage(),
            name = table.name,
        ));
    }
    tx.batch_execute(&stages)?;
    let booking_of = tx.prepare("SELECT user_id, offer_id FROM interactions WHERE id = $1 AND kind = 'booking'")?;
    Ok(PostgresImport { tx, known: None, pending: Pending::default(), booking_of })
}

// ---------------------------------------------------------------- live events

fn exists(tx: &mut Transaction<'_>, statements: &Statements, sql: &'static str, id: &str) -> Result<bool> {
    let statement = prepared(statements, tx, sql)?;
    Ok(tx.query_opt(&statement, &[&id])?.is_some())
}

/// Applies one live event inside an open transaction (see [`RecordStore::record_event`]).
fn apply_event(tx: &mut Transaction<'_>, statements: &Statements, event: &Interaction) -> Result<EventOutcome> {
    // The user's row lock serializes this user's events across every process: the checks below see the
    // credit, and the event ids, that the previous holder committed.
    let lock_user = prepared(statements, tx, "SELECT credit_cents FROM users WHERE id = $1 FOR UPDATE")?;
    let credit: Option<i64> = tx.query_opt(&lock_user, &[&event.user_id])?.map(|r| r.get(0));
    if exists(tx, statements, "SELECT 1 FROM interactions WHERE id = $1", &event.id)? {
        return Ok(EventOutcome::AlreadyRecorded);
    }
    let offer = match &event.kind {
        InteractionKind::Booking { .. } => {
            let lock_offer =
                prepared(statements, tx, sql!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 FOR UPDATE"))?;
            tx.query_opt(&lock_offer, &[&event.offer_id])?.map(|r| offer_from_row(&r)).transpose()?
        }
        _ => None,
    };
    let offer_exists = match &offer {
        Some(_) => true,
        None => exists(tx, statements, "SELECT 1 FROM offers WHERE id = $1", &event.offer_id)?,
    };
    let booking = match &event.kind {
        InteractionKind::Cancellation { booking_id } => {
            let get = prepared(statements, tx, sql!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = $1"))?;
            tx.query_opt(&get, &[booking_id])?
                .map(|r| interaction_from_row(&r))
                .transpose()?
                .filter(|b| matches!(b.kind, InteractionKind::Booking { .. }))
        }
        _ => None,
    };
    let found = crate::checks::References {
        user: credit.is_some(),
        offer: offer_exists,
        booking: booking.as_ref().map(|b| (b.user_id.as_str(), b.offer_id.as_str())),
    };
    crate::checks::check_interaction(event, found)?;
    let credit = credit.expect("checked above");
    let mut account = CreditAccount { remaining_cents: credit };
    match &event.kind {
        InteractionKind::Booking { amount_cents, quantity } => {
            let offer = offer.expect("checked above");
            let not_bookable = |reason| StoreError::NotBookable { offer_id: offer.id.clone(), at: event.at, reason };
            if offer.stock.is_some_and(|s| s < *quantity) {
                return Err(not_bookable("not enough stock"));
            }
            if !offer.is_bookable_at(event.at) {
                return Err(not_bookable("outside its booking window or after the event start"));
            }
            account.debit(&event.user_id, *amount_cents)?;
            let take =
                prepared(statements, tx, "UPDATE offers SET stock = stock - $2 WHERE id = $1 AND stock IS NOT NULL")?;
            tx.execute(&take, &[&offer.id, &i64::from(*quantity)])?;
        }
        InteractionKind::Cancellation { booking_id } => {
            if exists(
                tx,
                statements,
                "SELECT 1 FROM interactions WHERE booking_id = $1 AND kind = 'cancellation'",
                booking_id,
            )? {
                return Err(StoreError::AlreadyCancelled { booking_id: booking_id.clone() });
            }
            let booking = booking.expect("checked above");
            if let InteractionKind::Booking { amount_cents, quantity } = booking.kind {
                account.refund(amount_cents);
                let give = prepared(
                    statements,
                    tx,
                    "UPDATE offers SET stock = stock + $2 WHERE id = $1 AND stock IS NOT NULL",
                )?;
                tx.execute(&give, &[&booking.offer_id, &i64::from(quantity)])?;
            }
        }
        InteractionKind::Consultation | InteractionKind::Favourite | InteractionKind::Impression { .. } => {}
    }
    if account.remaining_cents != credit {
        let set = prepared(statements, tx, "UPDATE users SET credit_cents = $2 WHERE id = $1")?;
        tx.execute(&set, &[&event.user_id, &account.remaining_cents])?;
    }
    let insert = prepared(
        statements,
        tx,
        sql!(
            "INSERT INTO interactions ({INTERACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
    )?;
    with_interaction_values(event, |values| tx.execute(&insert, values))?;
    Ok(EventOutcome::Recorded { credit_cents: account.remaining_cents })
}

impl RecordStore for PostgresStore {
    fn begin_import(&mut self) -> Result<Box<dyn ImportTransaction + '_>> {
        Ok(Box::new(begin_import(self.client.get_mut())?))
    }

    fn record_event(&mut self, event: &Interaction) -> Result<EventOutcome> {
        event.validate()?;
        let mut tx = self.client.get_mut().transaction()?;
        let outcome = apply_event(&mut tx, &self.statements, event)?;
        tx.commit()?;
        Ok(outcome)
    }

    fn record_events(&mut self, events: &[Interaction]) -> Result<Vec<EventOutcome>> {
        let in_batch = |index: usize, e: StoreError| StoreError::InBatch { index, source: Box::new(e) };
        for (index, event) in events.iter().enumerate() {
            event.validate().map_err(|e| in_batch(index, e.into()))?;
        }
        let mut tx = self.client.get_mut().transaction()?;
        let mut outcomes = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            outcomes.push(apply_event(&mut tx, &self.statements, event).map_err(|e| in_batch(index, e))?);
        }
        tx.commit()?;
        Ok(outcomes)
    }

    fn venue(&self, id: &str) -> Result<Option<Venue>> {
        self.query_opt(sql!("SELECT {VENUE_COLUMNS} FROM venues WHERE id = $1"), &[&id])?
            .map(|r| venue_from_row(&r))
            .transpose()
    }
    fn offer(&self, id: &str) -> Result<Option<Offer>> {
        self.query_opt(sql!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1"), &[&id])?
            .map(|r| offer_from_row(&r))
            .transpose()
    }
    fn user(&self, id: &str) -> Result<Option<User>> {
        self.query_opt(sql!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&id])?
            .map(|r| user_from_row(&r))
            .transpose()
    }
    fn interaction(&self, id: &str) -> Result<Option<Interaction>> {
        self.query_opt(sql!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE id = $1"), &[&id])?
            .map(|r| interaction_from_row(&r))
            .transpose()
    }

    fn user_interactions(&self, user_id: &str) -> Result<Vec<Interaction>> {
        self.query(
            sql!("SELECT {INTERACTION_COLUMNS} FROM interactions WHERE user_id = $1 ORDER BY at, id"),
            &[&user_id],
        )?
        .iter()
        .map(interaction_from_row)
        .collect()
    }

    fn scan_venues(&self, visit: &mut dyn FnMut(Venue) -> Result<()>) -> Result<()> {
        let sql = sql!("SELECT {VENUE_COLUMNS}, seq FROM venues WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.scan_pages(sql, venue_from_row, visit)
    }
    fn scan_offers(&self, visit: &mut dyn FnMut(Offer) -> Result<()>) -> Result<()> {
        let sql = sql!("SELECT {OFFER_COLUMNS}, seq FROM offers WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.scan_pages(sql, offer_from_row, visit)
    }
    fn scan_users(&self, visit: &mut dyn FnMut(User) -> Result<()>) -> Result<()> {
        let sql = sql!("SELECT {USER_COLUMNS}, seq FROM users WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.scan_pages(sql, user_from_row, visit)
    }
    fn scan_interactions(&self, visit: &mut dyn FnMut(Interaction) -> Result<()>) -> Result<()> {
        let sql = sql!("SELECT {INTERACTION_COLUMNS}, seq FROM interactions WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.scan_pages(sql, interaction_from_row, visit)
    }
    fn scan_actions(&self, visit: &mut dyn FnMut(Interaction) -> Result<()>) -> Result<()> {
        let sql = sql!(
            "SELECT {INTERACTION_COLUMNS}, seq FROM interactions WHERE seq > $1 AND kind <> 'impression'
             ORDER BY seq LIMIT $2"
        );
        self.scan_pages(sql, interaction_from_row, visit)
    }

    fn offer_embedding_keys(&self, model: &str) -> Result<HashMap<String, String>> {
        Ok(self
            .query("SELECT offer_id, key FROM offer_embeddings WHERE model = $1", &[&model])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn cached_embeddings(&self, keys: &[String]) -> Result<HashMap<String, Vec<f32>>> {
        let rows = self.query("SELECT key, vector FROM embedding_cache WHERE key = ANY($1)", &[&keys])?;
        rows.iter()
            .map(|r| {
                let key: String = r.get(0);
                let vector = embedding_from_blob(&key, r.get::<_, &[u8]>(1))?;
                Ok((key, vector))
            })
            .collect()
    }

    fn put_embeddings(
        &mut self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
        offers: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.client.get_mut().transaction()?;
        let put = tx.prepare(
            "INSERT INTO embedding_cache (key, vector) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET vector = EXCLUDED.vector",
        )?;
        for (key, vector) in vectors {
            tx.execute(&put, &[key, &embedding_to_blob(vector)])?;
        }
        let map = tx.prepare(
            "INSERT INTO offer_embeddings (model, offer_id, key) VALUES ($1, $2, $3)
             ON CONFLICT (model, offer_id) DO UPDATE SET key = EXCLUDED.key",
        )?;
        for (offer_id, key) in offers {
            tx.execute(&map, &[&model, offer_id, key])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn offer_embedding(&self, model: &str, offer_id: &str) -> Result<Option<Vec<f32>>> {
        let row = self.query_opt(
            "SELECT c.key, c.vector FROM offer_embeddings o JOIN embedding_cache c ON c.key = o.key
             WHERE o.model = $1 AND o.offer_id = $2",
            &[&model, &offer_id],
        )?;
        row.map(|r| embedding_from_blob(r.get::<_, &str>(0), r.get::<_, &[u8]>(1))).transpose()
    }

    fn scan_offer_embeddings(&self, model: &str, visit: &mut dyn FnMut(String, Vec<f32>) -> Result<()>) -> Result<()> {
        let mut after = String::new();
        loop {
            let rows = self.query(
                "SELECT o.offer_id, c.key, c.vector FROM offer_embeddings o JOIN embedding_cache c ON c.key = o.key
                 WHERE o.model = $1 AND o.offer_id > $2 ORDER BY o.offer_id LIMIT $3",
                &[&model, &after, &PAGE_ROWS],
            )?;
            for row in &rows {
                let offer_id: String = row.get(0);
                let vector = embedding_from_blob(row.get::<_, &str>(1), row.get::<_, &[u8]>(2))?;
                after.clone_from(&offer_id);
                visit(offer_id, vector)?;
            }
            if (rows.len() as i64) < PAGE_ROWS {
                return Ok(());
            }
        }
    }

    fn embedding_models(&self) -> Result<Vec<(String, u64)>> {
        Ok(self
            .query("SELECT model, COUNT(*) FROM offer_embeddings GROUP BY model ORDER BY model", &[])?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn counts(&self) -> Result<Counts> {
        let row = self.query_opt(
            "SELECT (SELECT COUNT(*) FROM venues), (SELECT COUNT(*) FROM offers), (SELECT COUNT(*) FROM users)",
            &[],
        )?;
        let row = row.expect("a SELECT without FROM answers one row");
        let mut counts = Counts {
            venues: row.get::<_, i64>(0) as u64,
            offers: row.get::<_, i64>(1) as u64,
            users: row.get::<_, i64>(2) as u64,
            ..Counts::default()
        };
        for row in self.query("SELECT kind, COUNT(*) FROM interactions GROUP BY kind", &[])? {
            counts.add_interactions(row.get::<_, &str>(0), row.get::<_, i64>(1) as u64);
        }
        Ok(counts)
    }

    fn stats(&self, on: chrono::NaiveDate) -> Result<Stats> {
        let mut b = StatsBuilder::new(self.counts()?, on);
        for r in self.query("SELECT subcategory, COUNT(*) FROM offers GROUP BY subcategory", &[])? {
            b.offers_of_subcategory(r.get::<_, &str>(0), r.get::<_, i64>(1) as u64)?;
        }
        for r in self.query(
            "SELECT o.subcategory, COUNT(*), SUM(i.amount_cents)::BIGINT FROM interactions i
             JOIN offers o ON o.id = i.offer_id
             WHERE i.kind = 'booking' AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.booking_id = i.id)
             GROUP BY o.subcategory",
            &[],
        )? {
            b.bookings_of_subcategory(r.get::<_, &str>(0), r.get::<_, i64>(1) as u64, r.get(2))?;
        }
        for r in self.query("SELECT birth_date, COUNT(*) FROM users GROUP BY birth_date", &[])? {
            b.users_born(r.get::<_, &str>(0), r.get::<_, i64>(1) as u64)?;
        }
        for r in
            self.query("SELECT department, COUNT(*), SUM(credit_cents)::BIGINT FROM users GROUP BY department", &[])?
        {
            b.users_of_department(r.get(0), r.get::<_, i64>(1) as u64, r.get(2));
        }
        for r in self.query(
            "SELECT n, COUNT(*) FROM (SELECT i.user_id, COUNT(*) AS n FROM interactions i WHERE i.kind = 'booking'
             AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.booking_id = i.id) GROUP BY i.user_id) t GROUP BY n",
            &[],
        )? {
            b.users_with_bookings(r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64);
        }
        Ok(b.finish())
    }
}
