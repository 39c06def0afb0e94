//! passeur's recommendation service: what the app back end and cultural
//! partners call.
//!
//! - [`api`]: the HTTP JSON API on axum, described by [`openapi::document`];
//!   every bad input gets a 4xx JSON error naming the field or id.
//! - [`engine`]: the live state (models, offers in an in-memory IVF index,
//!   users folded to now); a booking changes credit, profile, features and the
//!   user tower's vector at once; new offers are embedded and searchable at once.
//! - [`writer`]: one writer thread with group commit: a write is answered
//!   after its commit; served lists are logged as impressions beside.
//! - [`keys`]: API keys with scopes, stored as digests.
//! - [`config`]: one TOML file, environment overrides, validation.
//! - [`metrics`]: Prometheus exposition.
//! - [`load`]: a load generator for `passeur bench serve`.

pub mod api;
pub mod config;
pub mod dto;
pub mod engine;
mod error;
pub mod keys;
pub mod load;
pub mod metrics;
pub mod openapi;
pub mod state;
pub mod territory;
pub mod writer;

pub use config::{ClockKind, ServerConfig};
pub use engine::{Clock, Engine, ModelDirs};
pub use error::{ApiError, ErrorBody, Result, ServerError};
pub use state::AppState;

use passeur_store::{SqliteStore, StoreConfig, Synchronous};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A service bound to its address, not yet serving.
pub struct Service {
    /// The address it listens on.
    pub address: SocketAddr,
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
}

impl Service {
    /// Opens the store, binds the address, and starts loading the models in the background
    /// (`/ready` answers 503 until they are loaded).
    pub async fn bind(config: ServerConfig, data_dir: &Path) -> Result<Service> {
        if !data_dir.join(SqliteStore::FILE_NAME).exists() {
            return Err(ServerError::Config(format!(
                "no record store in {}: run `passeur demo` or `passeur import` first",
                data_dir.display()
            )));
        }
        let store_config = StoreConfig { synchronous: Synchronous::Full, ..StoreConfig::default() };
        let write_store = SqliteStore::open_with(data_dir, &store_config)?;
        let reader = SqliteStore::open_with(data_dir, &store_config)?;
        let (writer, _writer_thread) = writer::Writer::start(write_store, config.group_commit_max);
        let address = config.address()?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ServerError::Io { what: format!("listening on {address}"), source })?;
        let address =
            listener.local_addr().map_err(|source| ServerError::Io { what: "local address".into(), source })?;
        let state = Arc::new(AppState::new(config, data_dir.to_owned(), writer, reader)?);
        let loader = Arc::clone(&state);
        tokio::task::spawn_blocking(move || {
            let result = SqliteStore::open(&loader.data_dir)
                .map_err(ServerError::from)
                .and_then(|store| Engine::load(&store, &ModelDirs::of(&loader.data_dir), &loader.config, None));
            match result {
                Ok(engine) => {
                    tracing::info!(
                        seconds = engine.load_seconds,
                        retrieval = %engine.retrieval_version,
                        ranking = %engine.ranking.version,
                        "models loaded; ready"
                    );
                    loader.install(engine);
                }
                Err(e) => {
                    tracing::error!(error = %e, "loading the models failed");
                    loader.set_load_error(e.to_string());
                }
            }
        });
        let refresher = Arc::clone(&state);
        let every = Duration::from_secs(state.config.popularity_refresh_s);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Some(engine) = refresher.engine.load_full() {
                    let _ = tokio::task::spawn_blocking(move || engine.refresh_popularity()).await;
                }
            }
        });
        Ok(Service { address, state, listener })
    }

    /// The shared state (keys, engine, metrics).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves until `shutdown` resolves; then stops accepting, finishes requests in flight, and
    /// writes the impressions still queued.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
        let app = api::router(Arc::clone(&self.state));
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| ServerError::Io { what: "serving".into(), source })?;
        // Every acknowledged write is already committed; the impressions still queued are written now.
        // (The writer thread ends with the process: background tasks keep handles to it.)
        self.state.writer.flush().await;
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Builds the runtime and serves until a signal.
pub fn run(config: ServerConfig, data_dir: &Path, on_bound: impl FnOnce(SocketAddr, &Arc<AppState>)) -> Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        builder.worker_threads(config.worker_threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|source| ServerError::Io { what: "starting the runtime".into(), source })?;
    runtime.block_on(async move {
        let service = Service::bind(config, data_dir).await?;
        on_bound(service.address, service.state());
        service.serve(shutdown_signal()).await
    })
}
