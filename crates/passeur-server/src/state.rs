//! The shared state of a running service: the engine (swapped whole when the
//! models are reloaded), the writer, a read connection, the keys, the metrics.
//!
//! Writes hold the write gate shared while they commit and apply; a reload
//! pins a store snapshot under the gate held exclusively, loads from it while
//! serving, then, exclusively again, replays the writes journaled since the
//! snapshot onto the new engine and swaps it in: no write is lost or applied twice.

use crate::api::{acks, cancelled_bookings};
use crate::config::ServerConfig;
use crate::dto::EventAck;
use crate::engine::{Engine, ModelDirs};
use crate::error::{ApiError, Result};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::writer::Writer;
use arc_swap::ArcSwapOption;
use passeur_domain::{Interaction, Offer, User, Venue};
use passeur_store::{EventOutcome, SqliteStore, Write, Written};
use rustc_hash::FxHashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A write applied to the live state (journaled while a reload runs).
#[derive(Debug, Clone)]
pub enum Applied {
    /// A venue.
    Venue(Venue),
    /// An offer with its text embedding.
    Offer(Offer, Option<Vec<f32>>),
    /// A user.
    User(User),
    /// Events, their outcomes, the bookings their cancellations refer to.
    Events(Vec<Interaction>, Vec<EventOutcome>, FxHashMap<String, Interaction>),
}

fn apply(engine: &Engine, applied: &Applied) -> Result<()> {
    match applied {
        Applied::Venue(v) => engine.apply_venue(v),
        Applied::Offer(o, text) => engine.apply_offer(o, text.clone()),
        Applied::User(u) => engine.apply_user(u),
        Applied::Events(events, outcomes, bookings) => engine.apply_events(events, outcomes, bookings),
    }
}

/// Everything the handlers share.
pub struct AppState {
    /// Settings.
    pub config: ServerConfig,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The engine; empty while loading.
    pub engine: ArcSwapOption<Engine>,
    /// The store's writer.
    pub writer: Writer,
    /// A read connection.
    reader: Mutex<SqliteStore>,
    /// The API keys.
    pub keys: KeyRing,
    /// Metrics.
    pub metrics: Metrics,
    gate: tokio::sync::RwLock<()>,
    journal: Mutex<Option<Vec<Applied>>>,
    load_error: Mutex<Option<String>>,
    reloading: AtomicBool,
    events: AtomicU64,
    boot: String,
}

impl AppState {
    /// The state of a service over `data_dir`, engine not loaded yet.
    pub fn new(config: ServerConfig, data_dir: PathBuf, writer: Writer, reader: SqliteStore) -> Result<AppState> {
        let keys = KeyRing::load(&reader)?;
        Ok(AppState {
            config,
            data_dir,
            engine: ArcSwapOption::empty(),
            writer,
            reader: Mutex::new(reader),
            keys,
            metrics: Metrics::default(),
            gate: tokio::sync::RwLock::new(()),
            journal: Mutex::new(None),
            load_error: Mutex::new(None),
            reloading: AtomicBool::new(false),
            events: AtomicU64::new(0),
            boot: format!(
                "{:x}",
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
            ),
        })
    }

    /// Why the engine is not loaded, when loading failed.
    pub fn load_error(&self) -> Option<String> {
        self.load_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a failed load.
    pub fn set_load_error(&self, message: String) {
        *self.load_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    /// Serves `engine` from now on.
    pub fn install(&self, engine: Engine) {
        self.metrics.set_models(&engine.retrieval_version, &engine.ranking.version);
        self.engine.store(Some(Arc::new(engine)));
    }

    /// An id for an event sent without one.
    pub fn fresh_event_id(&self) -> String {
        format!("evt-{}-{}", self.boot, self.events.fetch_add(1, Ordering::Relaxed))
    }

    /// Reads from the store.
    pub fn read_store<T>(&self, read: impl FnOnce(&SqliteStore) -> passeur_store::Result<T>) -> Result<T, ApiError> {
        let store = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        read(&store).map_err(ApiError::from)
    }

    /// Changes keys (through the read connection: keys are not on the hot path) and reloads the ring.
    pub fn with_keys<T>(
        &self,
        change: impl FnOnce(&mut SqliteStore) -> passeur_store::Result<T>,
    ) -> Result<T, ApiError> {
        let mut store = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let out = change(&mut store).map_err(ApiError::from)?;
        self.keys.reload(&store).map_err(ApiError::from)?;
        Ok(out)
    }

    fn journal(&self, applied: &Applied) {
        if let Some(j) = self.journal.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            j.push(applied.clone());
        }
    }

    /// Commits a record write, then applies it to the live state.
    pub async fn commit(&self, write: Write, applied: Applied) -> Result<Written, ApiError> {
        let _gate = self.gate.read().await;
        let written = self.writer.write(write).await?;
        let engine = self.engine.load_full().ok_or_else(|| ApiError::unavailable("not ready"))?;
        let to_apply = applied.clone();
        tokio::task::spawn_blocking(move || apply(&engine, &to_apply)).await.map_err(ApiError::internal)??;
        self.journal(&applied);
        Ok(written)
    }

    /// Commits events (all or none), then applies them: credit, profile, features, vector.
    pub async fn record_events(&self, events: Vec<Interaction>) -> Result<Vec<EventAck>, ApiError> {
        let _gate = self.gate.read().await;
        let written = self.writer.write(Write::Events(events.clone())).await?;
        let mut answer = acks(&events, written.clone())?;
        let Written::Events(outcomes) = written else { return Err(ApiError::internal("unexpected store answer")) };
        let bookings = self.read_store(|s| cancelled_bookings(s, &events))?;
        let engine = self.engine.load_full().ok_or_else(|| ApiError::unavailable("not ready"))?;
        let applied = Applied::Events(events, outcomes, bookings);
        let to_apply = applied.clone();
        let worker = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || apply(&worker, &to_apply)).await.map_err(ApiError::internal)??;
        self.journal(&applied);
        if let Applied::Events(events, _, _) = &applied {
            let live = engine.read();
            for (ack, e) in answer.iter_mut().zip(events) {
                if !ack.recorded {
                    ack.credit_cents = live.users.get(&e.user_id).map_or(0, |u| u.record.credit_cents);
                }
            }
        }
        Ok(answer)
    }

    /// Queues served lists' impressions.
    pub fn log_lists(
        &self,
        lists: usize,
        impressions: Vec<Interaction>,
        records: Vec<passeur_store::ServedListRecord>,
    ) {
        self.metrics.lists.inc_by(lists as u64);
        if self.config.log_impressions && !impressions.is_empty() {
            self.writer.log(impressions, records);
        }
    }

    /// Loads the models and the live state again from the data directory, while serving, and swaps
    /// them in at once; answers the new versions and the load time.
    pub async fn reload(self: &Arc<Self>) -> Result<(String, String, f64), ApiError> {
        if self.reloading.swap(true, Ordering::SeqCst) {
            return Err(ApiError::new(axum::http::StatusCode::CONFLICT, "reloading", "a reload is running", None));
        }
        let result = self.reload_inner().await;
        self.reloading.store(false, Ordering::SeqCst);
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = None;
        result
    }

    async fn reload_inner(self: &Arc<Self>) -> Result<(String, String, f64), ApiError> {
        let snapshot_store = SqliteStore::open(&self.data_dir).map_err(ApiError::from)?;
        {
            let _exclusive = self.gate.write().await;
            snapshot_store.begin_snapshot().map_err(ApiError::from)?;
            *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
        }
        let me = Arc::clone(self);
        let clock = self.engine.load_full().map(|e| e.clock);
        let loaded = tokio::task::spawn_blocking(move || {
            let engine = Engine::load(&snapshot_store, &ModelDirs::of(&me.data_dir), &me.config, clock);
            let _ = snapshot_store.end_snapshot();
            engine
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::unavailable(format!("reload failed, the previous models keep serving: {e}")))?;
        let _exclusive = self.gate.write().await;
        let journal = self.journal.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        for applied in &journal {
            apply(&loaded, applied).map_err(ApiError::from)?;
        }
        let answer = (loaded.retrieval_version.clone(), loaded.ranking.version.clone(), loaded.load_seconds);
        tracing::info!(retrieval = %answer.0, ranking = %answer.1, replayed = journal.len(), "models reloaded");
        self.install(loaded);
        Ok(answer)
    }
}
