//! `passeur serve`, `passeur keys` and `passeur bench serve`.

use anyhow::{Context, Result, bail};
use passeur_server::keys::{Scope, new_key};
use passeur_server::load::{Kind, LoadPlan, LoadReport, run as run_load};
use passeur_server::{ServerConfig, Service};
use passeur_store::{RecordStore, SqliteStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `passeur serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (see passeur.toml); a variable PASSEUR_ + the key in capitals overrides a key.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen here (overrides the file and PASSEUR_LISTEN).
    #[arg(long)]
    pub listen: Option<String>,
}

/// `passeur keys`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints it once (only its digest is stored).
    Create {
        /// app, partner or admin.
        #[arg(long)]
        scope: String,
        /// For partner keys: the partner whose venues the key may write.
        #[arg(long)]
        partner: Option<String>,
        /// A label.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Lists the keys (ids, scopes, labels; never the secrets).
    List,
    /// Revokes a key by id.
    Revoke {
        /// The key's id (`key-...`).
        id: String,
    },
}

/// The service's configuration: file, environment, then command-line flags.
pub fn load_config(path: Option<&Path>, listen: Option<&str>) -> Result<ServerConfig> {
    let mut config = ServerConfig::load(path, std::env::vars())?;
    if let Some(l) = listen {
        config.listen = l.to_owned();
        config.validate()?;
    }
    Ok(config)
}

pub fn serve(data_dir: &Path, args: &ServeArgs) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref(), args.listen.as_deref())?;
    serve_with(data_dir, config, |address, state| {
        out!(
            "passeur serving on http://{address} (data in {}); /ready answers once the models are loaded",
            data_dir.display()
        );
        if state.keys.is_empty() {
            out!(
                "no API key yet: create one with `passeur --data-dir {} keys create --scope admin`",
                data_dir.display()
            );
        }
    })
}

pub fn serve_with(
    data_dir: &Path,
    config: ServerConfig,
    on_bound: impl FnOnce(std::net::SocketAddr, &std::sync::Arc<passeur_server::AppState>),
) -> Result<ExitCode> {
    passeur_server::run(config, data_dir, on_bound)?;
    Ok(ExitCode::SUCCESS)
}

fn open_store(data_dir: &Path) -> Result<SqliteStore> {
    if !data_dir.join(SqliteStore::FILE_NAME).exists() {
        bail!("no record store in {}; run `passeur import` or `passeur demo` first", data_dir.display());
    }
    Ok(SqliteStore::open(data_dir)?)
}

/// Creates and stores a key; answers the key.
pub fn create_key(
    store: &mut SqliteStore,
    scope: Scope,
    partner: Option<String>,
    label: &str,
) -> Result<(String, String)> {
    let (key, record) = new_key(scope, partner, label, passeur_domain::Timestamp::now().0);
    store.put_api_key(&record)?;
    Ok((key, record.id))
}

pub fn keys(data_dir: &Path, command: KeysCommand) -> Result<ExitCode> {
    let mut store = open_store(data_dir)?;
    match command {
        KeysCommand::Create { scope, partner, label } => {
            let scope =
                Scope::parse(&scope).with_context(|| format!("--scope: {scope:?} is not app, partner or admin"))?;
            if (scope == Scope::Partner) != partner.is_some() {
                bail!("--partner is required for partner keys, and only for them");
            }
            let (key, id) = create_key(&mut store, scope, partner, &label)?;
            out!("{key}");
            eprintln!("key {id} ({}) created; it is shown once, only its SHA-256 digest is stored", scope.name());
        }
        KeysCommand::List => {
            for k in store.api_keys()? {
                out!(
                    "{}  {:<8} {:<12} {}{}",
                    k.id,
                    k.scope,
                    k.partner_id.as_deref().unwrap_or("-"),
                    k.label,
                    if k.revoked { "  (revoked)" } else { "" }
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_api_key(&id)? {
                bail!("no key with id {id:?}");
            }
            out!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(label: &str, r: &LoadReport, baseline_p50: Option<f64>, baseline_p99: Option<f64>) {
    out!(
        "{label}: {:.0} requests/s asked, {:.1} completed/s over {:.1} s, {} errors",
        r.target_rate,
        r.achieved_rate,
        r.seconds,
        r.errors()
    );
    for k in &r.kinds {
        let ratio = match (baseline_p50, baseline_p99) {
            (Some(b50), Some(b99)) if k.kind != Kind::Health => {
                format!("  ({:.1}× / {:.1}× the baseline)", k.p50_ms / b50, k.p99_ms / b99)
            }
            _ => String::new(),
        };
        out!(
            "  {:<16} {:>6} requests, {:>3} errors, p50 {:>7.2} ms, p90 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms{ratio}",
            format!("{:?}", k.kind).to_lowercase(),
            k.requests,
            k.errors,
            k.p50_ms,
            k.p90_ms,
            k.p99_ms,
            k.max_ms
        );
    }
    for e in &r.sample_errors {
        out!("    error: {e}");
    }
}

/// What `passeur bench serve` runs: the rate, phases and mix.
#[derive(Debug, Clone)]
pub struct ServeBench {
    /// Requests per second.
    pub rate: f64,
    /// Seconds per phase.
    pub seconds: u64,
    /// Share of event writes in the mixed phase.
    pub event_share: f64,
    /// Seed of the requests' users and offers.
    pub seed: u64,
    /// Running services to drive in turn (replicas), instead of one started in process.
    pub targets: Vec<String>,
    /// With `targets`: an app key of theirs.
    pub key: Option<String>,
}

/// The three phases (baseline, recommendations, mixed) against `bases`, round-robin.
async fn run_phases(bench: &ServeBench, bases: Vec<String>, key: String, users: Vec<String>, offers: Vec<String>) {
    let (rate, seed) = (bench.rate, bench.seed);
    let plan = |mix: Vec<(Kind, f64)>, seed: u64| LoadPlan {
        bases: bases.clone(),
        key: key.clone(),
        rate,
        duration: Duration::from_secs(bench.seconds),
        mix,
        users: users.clone(),
        offers: offers.clone(),
        seed,
        timeout: Duration::from_secs(10),
    };
    // Warm-up: pages, caches, connection pool.
    let _ = run_load(&plan(vec![(Kind::Recommendations, 1.0)], seed ^ 0xff)).await;
    let baseline = run_load(&plan(vec![(Kind::Health, 1.0)], seed)).await;
    print_report("baseline GET /health", &baseline, None, None);
    let b50 = baseline.kinds.first().map(|k| k.p50_ms);
    let b99 = baseline.kinds.first().map(|k| k.p99_ms);
    let reco = run_load(&plan(vec![(Kind::Recommendations, 1.0)], seed + 1)).await;
    print_report("recommendations alone", &reco, b50, b99);
    let share = bench.event_share;
    let mixed = run_load(&plan(vec![(Kind::Recommendations, 1.0 - share), (Kind::Event, share)], seed + 2)).await;
    print_report(&format!("mixed ({:.0} % event writes)", share * 100.0), &mixed, b50, b99);
    for (label, r) in [("recommendations alone", &reco), ("mixed", &mixed)] {
        let worst = r.kinds.iter().map(|k| k.p99_ms).fold(0.0, f64::max);
        out!(
            "target p99 < 20 ms at {rate:.0} requests/s, {label}: {} (worst p99 {worst:.2} ms, {} errors)",
            if worst < 20.0 && r.errors() == 0 { "met" } else { "not met" },
            r.errors()
        );
    }
}

/// `passeur bench serve`: the service on DATA_DIR on a loopback port (or running services: `targets`),
/// driven open-loop at `rate`.
pub fn bench(data_dir: &Path, bench: &ServeBench) -> Result<ExitCode> {
    if !(bench.rate > 0.0 && bench.rate <= 10_000.0) {
        bail!("--rate must be in (0, 10000]");
    }
    if !(0.0..=1.0).contains(&bench.event_share) {
        bail!("--event-share must be in [0, 1]");
    }
    let mut store = open_store(data_dir)?;
    let mut users = Vec::new();
    store.scan_users(&mut |u| {
        users.push(u.id);
        Ok(())
    })?;
    let mut offers = Vec::new();
    store.scan_offers(&mut |o| {
        offers.push(o.id);
        Ok(())
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if !bench.targets.is_empty() {
        let Some(key) = bench.key.clone() else { bail!("--targets needs --key: an app key of those services") };
        drop(store);
        out!("driving {} running service(s) in turn: {}", bench.targets.len(), bench.targets.join(", "));
        runtime.block_on(run_phases(bench, bench.targets.clone(), key, users, offers));
        return Ok(ExitCode::SUCCESS);
    }
    let (key, key_id) = create_key(&mut store, Scope::App, None, "bench serve")?;
    drop(store);
    // The defaults with the environment's PASSEUR_<KEY> overrides (e.g. PASSEUR_EXPLORATION), on loopback.
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        clock: passeur_server::ClockKind::Store,
        ..ServerConfig::load(None, std::env::vars())?
    };
    config.validate()?;
    let dir = data_dir.to_owned();
    let outcome: Result<()> = runtime.block_on(async move {
        let service = Service::bind(config, &dir).await?;
        let base = format!("http://{}", service.address);
        let state = std::sync::Arc::clone(service.state());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(service.serve(async move {
            let _ = stopped.await;
        }));
        let started = std::time::Instant::now();
        while state.engine.load_full().is_none() {
            if let Some(e) = state.load_error() {
                bail!("the service could not load: {e}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out!("service loaded in {:.1} s on {base}", started.elapsed().as_secs_f64());
        run_phases(bench, vec![base], key, users, offers).await;
        let _ = stop.send(());
        server.await??;
        Ok(())
    });
    let mut store = SqliteStore::open(data_dir)?;
    store.revoke_api_key(&key_id)?;
    outcome?;
    Ok(ExitCode::SUCCESS)
}
