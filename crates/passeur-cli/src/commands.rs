//! The subcommands.

use crate::progress;
use anyhow::{Context, Result, bail};
use passeur_domain::{Interaction, Offer, User, Venue};
use passeur_io::{
    EntityKind, FileFormat, ImportFile, ImportOptions, IoError, RecordWriter, export_store, import_files,
};
use passeur_store::{PostgresStore, RecordStore, SqliteStore, Stats};
use passeur_synth::{Scale, World, WorldConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

fn parse_format(name: &str) -> Result<FileFormat, String> {
    FileFormat::parse(name).ok_or_else(|| format!("unknown format {name:?}; use csv, jsonl or parquet"))
}

fn parse_scale(name: &str) -> Result<Scale, String> {
    Scale::parse(name).ok_or_else(|| format!("unknown scale {name:?}; use small, medium or large"))
}

/// Arguments of `passeur generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// small (tests), medium (demo) or large (benchmarks).
    #[arg(long, default_value = "small", value_parser = parse_scale)]
    scale: Scale,
    /// Seed of every random draw: the same seed gives the same world.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
    /// File format: csv, jsonl or parquet.
    #[arg(long, default_value = "parquet", value_parser = parse_format)]
    format: FileFormat,
}

/// Rows written by [`write_world`], and how long it took.
pub struct WorldFiles {
    pub venues: u64,
    pub offers: u64,
    pub users: u64,
    pub interactions: u64,
    pub seconds: f64,
}

impl WorldFiles {
    pub fn rows(&self) -> u64 {
        self.venues + self.offers + self.users + self.interactions
    }
}

fn path_of(dir: &Path, kind: EntityKind, format: FileFormat) -> PathBuf {
    dir.join(format!("{}.{}", kind.stem(), format.extension()))
}

/// Generates a world and writes it to `dir`, with progress bars.
pub fn write_world(config: WorldConfig, dir: &Path, format: FileFormat, show: bool) -> Result<WorldFiles> {
    let started = Instant::now();
    let users = config.users as u64;
    let world = World::generate(config);
    let mut venues = RecordWriter::<Venue>::create(&path_of(dir, EntityKind::Venues, format))?;
    for v in &world.venues {
        venues.write(v)?;
    }
    let venues = venues.finish()?;
    let mut offers = RecordWriter::<Offer>::create(&path_of(dir, EntityKind::Offers, format))?;
    for o in &world.offers {
        offers.write(o)?;
    }
    let offers = offers.finish()?;
    let mut writer = RecordWriter::<Interaction>::create(&path_of(dir, EntityKind::Interactions, format))?;
    let bar = if show { progress::bar(users, "simulating") } else { indicatif::ProgressBar::hidden() };
    let mut failure = None;
    let block = 4096;
    let credits = world.simulate(block, &mut |interactions| {
        bar.inc(block as u64);
        for i in &interactions {
            if failure.is_none()
                && let Err(e) = writer.write(i)
            {
                failure = Some(e);
            }
        }
    });
    bar.finish_and_clear();
    if let Some(e) = failure {
        return Err(e.into());
    }
    let interactions = writer.finish()?;
    let mut users = RecordWriter::<User>::create(&path_of(dir, EntityKind::Users, format))?;
    for u in world.users_with_credit(&credits) {
        users.write(&u)?;
    }
    let users = users.finish()?;
    write_ground_truth(&world, dir)?;
    Ok(WorldFiles { venues, offers, users, interactions, seconds: started.elapsed().as_secs_f64() })
}

fn write_ground_truth(world: &World, dir: &Path) -> Result<()> {
    let path = dir.join("ground_truth_users.jsonl");
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let categories = passeur_domain::CategoryId::all().map(|c| c.canonical()).collect::<Vec<_>>();
    for (user, taste) in world.users.iter().zip(&world.truth.users) {
        let weights: serde_json::Map<String, serde_json::Value> =
            categories.iter().zip(&taste.categories).map(|(c, w)| ((*c).to_owned(), (*w).into())).collect();
        let line = serde_json::json!({
            "user_id": user.id,
            "category_weights": weights,
            "book_sections": taste.book_sections.iter().map(|g| g.canonical()).collect::<Vec<_>>(),
            "music_genres": taste.music_genres.iter().map(|g| g.canonical()).collect::<Vec<_>>(),
            "show_types": taste.show_types.iter().map(|g| g.canonical()).collect::<Vec<_>>(),
            "movie_genres": taste.movie_genres.iter().map(|g| g.canonical()).collect::<Vec<_>>(),
            "openness": taste.openness,
            "activity": taste.activity,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

pub fn generate(args: &GenerateArgs) -> Result<ExitCode> {
    let files = write_world(WorldConfig::for_scale(args.scale, args.seed), &args.out, args.format, true)?;
    out!(
        "wrote {} venues, {} offers, {} users, {} interactions to {} in {:.1} s ({:.0} rows/s)",
        files.venues,
        files.offers,
        files.users,
        files.interactions,
        args.out.display(),
        files.seconds,
        files.rows() as f64 / files.seconds
    );
    Ok(ExitCode::SUCCESS)
}

/// Which record store a command reads or writes.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArg {
    /// The record store: a PostgreSQL URL (`postgres://user@host:port/dbname`, shared by several
    /// processes) instead of the data directory's SQLite file.
    #[arg(long = "store", env = "PASSEUR_STORE", value_name = "URL")]
    pub url: Option<String>,
}

impl StoreArg {
    /// Opens the store: PostgreSQL when a URL is given, else the data directory's SQLite file (which
    /// must exist unless `create`).
    pub fn open(&self, data_dir: &Path, create: bool) -> Result<Box<dyn RecordStore>> {
        match self.url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Box::new(PostgresStore::connect(url)?))
            }
            Some(other) => bail!(
                "--store {other:?}: expected a postgres:// URL (leave it out for the data directory's SQLite store)"
            ),
            None if create => Ok(Box::new(SqliteStore::open(data_dir)?)),
            None => Ok(Box::new(open_existing(data_dir)?)),
        }
    }
}

/// Arguments of `passeur import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Files (venues.csv, offers.parquet, ...) or directories holding them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// How many bad rows to print at most (all are counted).
    #[arg(long, default_value_t = 1_000)]
    max_errors: usize,
}

fn collect_files(paths: &[PathBuf]) -> Result<Vec<ImportFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let found = ImportFile::discover(path)?;
            if found.is_empty() {
                bail!("{} holds no venues.*, offers.*, users.* or interactions.* file", path.display());
            }
            files.extend(found);
        } else {
            files.push(ImportFile::from_path(path)?);
        }
    }
    Ok(files)
}

/// Imports files into the store, printing every bad row when rejected.
pub fn import_into(store: &mut dyn RecordStore, files: &[ImportFile], max_errors: usize, show: bool) -> Result<u64> {
    let bar = if show { progress::spinner("importing") } else { indicatif::ProgressBar::hidden() };
    let result = import_files(store, files, &ImportOptions { max_errors }, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    match result {
        Ok(report) => Ok(report.total()),
        Err(IoError::Rejected { errors, total }) => {
            for e in &errors {
                eprintln!("{e}");
            }
            if total > errors.len() {
                eprintln!("... and {} more", total - errors.len());
            }
            bail!("import rejected: {total} bad row(s); nothing was applied")
        }
        Err(e) => Err(e.into()),
    }
}

pub fn import(data_dir: &Path, args: &ImportArgs) -> Result<ExitCode> {
    let files = collect_files(&args.paths)?;
    let mut store = args.store.open(data_dir, true)?;
    let started = Instant::now();
    let rows = import_into(store.as_mut(), &files, args.max_errors, true)?;
    let seconds = started.elapsed().as_secs_f64();
    out!("imported {rows} rows from {} file(s) in {seconds:.1} s ({:.0} rows/s)", files.len(), rows as f64 / seconds);
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `passeur export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
    /// File format: csv, jsonl or parquet.
    #[arg(long, default_value = "parquet", value_parser = parse_format)]
    format: FileFormat,
}

pub fn export(data_dir: &Path, args: &ExportArgs) -> Result<ExitCode> {
    let store = args.store.open(data_dir, false)?;
    let bar = progress::spinner("exporting");
    let written = export_store(store.as_ref(), &args.out, args.format, &mut |n| bar.set_position(n))?;
    bar.finish_and_clear();
    for (kind, rows) in written {
        out!("{:>13} {rows}", kind.stem());
    }
    Ok(ExitCode::SUCCESS)
}

fn open_existing(data_dir: &Path) -> Result<SqliteStore> {
    if !data_dir.join(SqliteStore::FILE_NAME).exists() {
        bail!("no record store in {}; run `passeur import` or `passeur demo` first", data_dir.display());
    }
    Ok(SqliteStore::open(data_dir)?)
}

/// Arguments of `passeur stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Date on which ages are computed (default: today).
    #[arg(long)]
    on: Option<String>,
}

pub fn stats(data_dir: &Path, args: &StatsArgs) -> Result<ExitCode> {
    let store = args.store.open(data_dir, false)?;
    let on = match &args.on {
        Some(d) => passeur_domain::parse_date(d).map_err(anyhow::Error::msg)?,
        None => chrono::Utc::now().date_naive(),
    };
    let stats = store.stats(on)?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print_stats(&stats);
    }
    Ok(ExitCode::SUCCESS)
}

fn share_table<K: std::fmt::Display>(title: &str, rows: impl IntoIterator<Item = (K, u64)>) {
    let mut rows: Vec<(String, u64)> = rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = rows.iter().map(|r| r.1).sum();
    out!("\n{title}");
    for (k, v) in rows {
        out!("  {k:<24} {v:>10} {:>6.1} %", 100.0 * v as f64 / total.max(1) as f64);
    }
}

pub fn print_stats(stats: &Stats) {
    print_counts(&stats.counts);
    print_breakdown(stats);
}

fn print_counts(c: &passeur_store::Counts) {
    out!(
        "{} venues, {} offers, {} users; {} consultations, {} favourites, {} bookings, {} cancellations, {} impressions",
        c.venues,
        c.offers,
        c.users,
        c.consultations,
        c.favourites,
        c.bookings,
        c.cancellations,
        c.impressions
    );
}

fn print_breakdown(stats: &Stats) {
    share_table("offers by category", stats.offers_by_category.iter().map(|(k, v)| (k, *v)));
    share_table("offers by format", stats.offers_by_format.iter().map(|(k, v)| (k, *v)));
    share_table("bookings by category (not cancelled)", stats.bookings_by_category.iter().map(|(k, v)| (k, *v)));
    share_table("bookings by format", stats.bookings_by_format.iter().map(|(k, v)| (k, *v)));
    share_table("users by age", stats.users_by_age.iter().map(|(k, v)| (k, *v)));
    let mut departments: Vec<_> = stats.users_by_department.iter().map(|(k, v)| (k.clone(), *v)).collect();
    departments.sort_by_key(|d| std::cmp::Reverse(d.1));
    departments.truncate(10);
    share_table("users by department (top 10)", departments);
    let buckets = [(0, 0), (1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, u64::MAX)];
    let rows = buckets.iter().map(|(lo, hi)| {
        let label = if lo == hi {
            format!("{lo}")
        } else if *hi == u64::MAX {
            format!("{lo}+")
        } else {
            format!("{lo}-{hi}")
        };
        let n: u64 = stats.users_by_booking_count.range(lo..=hi).map(|(_, u)| *u).sum();
        (label, n)
    });
    share_table("users by bookings", rows.collect::<Vec<_>>());
    out!(
        "\nmean bookings per user {:.2}; credit spent {:.2} €; credit left {:.2} €",
        stats.mean_bookings_per_user(),
        stats.credit_spent_cents as f64 / 100.0,
        stats.credit_remaining_cents as f64 / 100.0
    );
}

/// Arguments of `passeur demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seed of the demo world.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// World size.
    #[arg(long, default_value = "medium", value_parser = parse_scale)]
    scale: Scale,
    /// Where the service listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The sentence-transformers model of offer texts.
    #[arg(long, env = "PASSEUR_MODEL_DIR", default_value = "models/multilingual-e5-small")]
    model_dir: PathBuf,
    /// Set everything up, print the summary, and exit without serving.
    #[arg(long)]
    setup_only: bool,
    /// Do not embed texts and retrain with them in the background while serving.
    #[arg(long)]
    no_upgrade: bool,
}

/// Training impressions of the demo's background ranking model: the full default (the trees fit 1 M
/// impressions and their unshown negatives in about a minute here).
const DEMO_RANKING_EXAMPLES: &str = "1000000";
/// The first run's fast path to a serving system: retrieval for 2 epochs (97 % of the best validation
/// NDCG@50 on the medium world, which peaks at epoch 4 of 6) and ranking on half the impressions; the
/// background retraining with texts then trains both in full.
const DEMO_FIRST_RETRIEVAL_EPOCHS: &str = "2";
const DEMO_FIRST_RANKING_EXAMPLES: &str = "100000";

fn run_step(label: &str, words: &[&str]) -> Result<()> {
    let started = Instant::now();
    out!("\n== {label}");
    let code = crate::dispatch(words)?;
    if code != ExitCode::SUCCESS {
        bail!("{label} failed");
    }
    out!("== {label}: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The main job: the world, the models, the index, then the service with demo keys.
///
/// First run: the world is generated and imported, retrieval is trained on
/// content and behaviour, ranking on a sample of the impression logs, the
/// index built; the service starts at once. Then, while it serves, offer
/// texts are embedded with the sentence-transformers model, both models are
/// retrained with them into new folders, swapped in and hot-reloaded. Later
/// runs find everything in the data directory and serve within seconds.
pub fn demo(data_dir: &Path, args: &DemoArgs) -> Result<ExitCode> {
    let marker = data_dir.join("demo-world.done");
    let started = Instant::now();
    let first_run = !marker.exists();
    if first_run {
        let world_dir = data_dir.join("world");
        out!("first run: generating the {:?} world (seed {}) into {}", args.scale, args.seed, world_dir.display());
        let files = write_world(WorldConfig::for_scale(args.scale, args.seed), &world_dir, FileFormat::Parquet, true)?;
        out!("generated {} rows in {:.1} s", files.rows(), files.seconds);
        // A half-written store from an interrupted first run is replaced whole.
        let db = data_dir.join(SqliteStore::FILE_NAME);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let _ = std::fs::remove_dir_all(data_dir.join("models"));
        let _ = std::fs::remove_dir_all(data_dir.join("index"));
        let mut store = SqliteStore::open(data_dir)?;
        let files = ImportFile::discover(&world_dir)?;
        let rows = import_into(&mut store, &files, 100, true)?;
        out!("imported {rows} rows into {}", store.path().display());
        std::fs::write(&marker, format!("scale={:?} seed={}\n", args.scale, args.seed))?;
    }
    {
        // The breakdown and the counts scan every record (4 s at the medium scale): on the first run only.
        if first_run {
            let store = SqliteStore::open(data_dir)?;
            print_stats(&store.stats(store_reference_date(args.scale, args.seed))?);
        } else {
            let world = std::fs::read_to_string(&marker).unwrap_or_default();
            out!(
                "the world set up earlier ({}) is in {} (`passeur stats` counts it)",
                world.trim(),
                data_dir.display()
            );
        }
    }
    let dir = data_dir.to_str().context("the data directory's path is not UTF-8")?;
    let models = data_dir.join("models");
    if !models.join("retrieval").join("bundle.json").exists() {
        // Fast path to a serving system: behaviour and content without text (texts come in the background).
        run_step(
            "training retrieval (two towers, content and behaviour)",
            &["--data-dir", dir, "train", "retrieval", "--text-model", "none", "--epochs", DEMO_FIRST_RETRIEVAL_EPOCHS],
        )?;
        let _ = std::fs::remove_dir_all(models.join("ranking"));
    }
    if !models.join("ranking").join("ranking.json").exists() {
        run_step(
            "training ranking (p(click), p(booking) on the impression logs)",
            &["--data-dir", dir, "train", "ranking", "--max-examples", DEMO_FIRST_RANKING_EXAMPLES],
        )?;
    }
    // The service serves from its in-memory IVF; the LanceDB table is for `passeur index` and is built
    // only where passeur was built with it.
    if cfg!(feature = "lancedb") && !data_dir.join("index").exists() {
        run_step("building the LanceDB index", &["--data-dir", dir, "index", "build"])?;
    }
    let upgrade = !args.no_upgrade && !data_dir.join("demo-text.done").exists();
    let fetcher = Path::new("scripts/fetch-assets.sh");
    if upgrade && !args.model_dir.join("config.json").exists() && fetcher.exists() {
        out!("\nthe text model is missing: fetching it with {}", fetcher.display());
        let status = std::process::Command::new("bash").arg(fetcher).status()?;
        if !status.success() {
            out!("fetching failed ({status}); the demo serves without texts");
        }
    }
    let have_text_model = args.model_dir.join("config.json").exists();
    if upgrade && !have_text_model {
        out!(
            "\nthe text model is not in {}: run `bash scripts/fetch-assets.sh` to fetch it (the demo serves without texts)",
            args.model_dir.display()
        );
    }
    out!("\nset up in {:.1} s", started.elapsed().as_secs_f64());
    if args.setup_only {
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = SqliteStore::open(data_dir)?;
    for k in store.api_keys()? {
        if k.label.starts_with("demo") && !k.revoked {
            store.revoke_api_key(&k.id)?;
        }
    }
    let partner = first_partner(&store)?;
    let (app_key, _) = crate::serve::create_key(&mut store, passeur_server::keys::Scope::App, None, "demo app")?;
    let (admin_key, _) = crate::serve::create_key(&mut store, passeur_server::keys::Scope::Admin, None, "demo admin")?;
    let partner_key = match &partner {
        Some((p, _)) => Some(crate::serve::create_key(
            &mut store,
            passeur_server::keys::Scope::Partner,
            Some(p.clone()),
            "demo partner",
        )?),
        None => None,
    };
    let user = first_user(&store)?;
    drop(store);
    let mut config = crate::serve::load_config(None, Some(&args.listen))?;
    config.clock = passeur_server::ClockKind::Store;
    config.text_model_dir = args.model_dir.display().to_string();
    let model_dir = args.model_dir.clone();
    let data = data_dir.to_owned();
    crate::serve::serve_with(data_dir, config, move |address, state| {
        let base = format!("http://{address}");
        out!("\npasseur is serving on {base} (the world's clock: the last stored event, running on)");
        out!("demo keys (shown once; stored hashed): app {app_key}");
        out!("                                       admin {admin_key}");
        if let (Some((key, _)), Some((p, venue))) = (&partner_key, &partner) {
            out!("                                       partner {p} (venue {venue}) {key}");
        }
        let u = user.as_deref().unwrap_or("u00001");
        out!("\ntry:");
        out!("  curl -s {base}/ready");
        out!(
            "  curl -s -H 'Authorization: Bearer {app_key}' '{base}/v1/users/{u}/recommendations?limit=5&explain=true'"
        );
        out!("  curl -s -H 'Authorization: Bearer {app_key}' {base}/v1/users/{u}/diversification");
        out!("  curl -s -H 'Authorization: Bearer {app_key}' {base}/v1/users/{u}/playlists");
        out!(
            "  curl -s -H 'Authorization: Bearer {app_key}' -H 'content-type: application/json' \\\n       -d '{{\"kind\":\"booking\",\"user_id\":\"{u}\",\"offer_id\":\"OFFER\"}}' {base}/v1/events"
        );
        out!("  curl -s -H 'Authorization: Bearer {app_key}' {base}/v1/users/{u}/discover");
        out!("  curl -s -H 'Authorization: Bearer {admin_key}' '{base}/v1/territory?department=75'");
        out!("  curl -s {base}/metrics | grep passeur_http_requests");
        out!("  curl -s {base}/openapi.json");
        out!("the inspector, in a browser: {base}/inspector/users/{u}#key={admin_key}");
        out!("(Ctrl-C stops it; the next run starts from {} in seconds)", data.display());
        if upgrade && have_text_model {
            let state = std::sync::Arc::clone(state);
            let handle = tokio::runtime::Handle::current();
            std::thread::spawn(move || {
                // The models load with the machine to themselves; the texts come after.
                while state.engine.load_full().is_none() && state.load_error().is_none() {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                if let Err(e) = upgrade_with_text(&data, &model_dir, &state, &handle) {
                    tracing::error!(error = %format!("{e:#}"), "the background retraining with texts failed");
                }
            });
        }
    })
}

/// While serving: embeds the offers' texts, retrains both models with them and rebuilds the LanceDB
/// index into new folders, swaps the folders and hot-reloads the service.
fn upgrade_with_text(
    data_dir: &Path,
    model_dir: &Path,
    state: &std::sync::Arc<passeur_server::AppState>,
    runtime: &tokio::runtime::Handle,
) -> Result<()> {
    let dir = data_dir.to_str().context("the data directory's path is not UTF-8")?;
    let models = data_dir.join("models");
    let (next_retrieval, next_ranking) = (models.join("retrieval.next"), models.join("ranking.next"));
    let model = model_dir.to_str().context("the model path is not UTF-8")?;
    out!("\n[background] embedding offer texts, then retraining with them; the service keeps serving");
    run_step("[background] embedding offer texts", &["--data-dir", dir, "embed", "--model-dir", model])?;
    let nr = next_retrieval.to_str().context("path")?;
    run_step(
        "[background] retraining retrieval with texts",
        &["--data-dir", dir, "train", "retrieval", "--model-dir", nr],
    )?;
    let nk = next_ranking.to_str().context("path")?;
    run_step(
        "[background] retraining ranking",
        &[
            "--data-dir",
            dir,
            "train",
            "ranking",
            "--retrieval-dir",
            nr,
            "--model-dir",
            nk,
            "--max-examples",
            DEMO_RANKING_EXAMPLES,
        ],
    )?;
    let next_index = data_dir.join("index.next");
    let mut swaps = vec![(next_retrieval.clone(), models.join("retrieval")), (next_ranking, models.join("ranking"))];
    if cfg!(feature = "lancedb") {
        let ni = next_index.to_str().context("path")?;
        let _ = std::fs::remove_dir_all(&next_index);
        run_step(
            "[background] rebuilding the LanceDB index",
            &["--data-dir", dir, "index", "build", "--model-dir", nr, "--index-dir", ni],
        )?;
        swaps.push((next_index, data_dir.join("index")));
    }
    for (next, live) in &swaps {
        let old = live.with_extension("old");
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(live, &old)?;
        std::fs::rename(next, live)?;
        std::fs::remove_dir_all(&old)?;
    }
    let (retrieval, ranking, seconds) =
        runtime.block_on(state.reload()).map_err(|e| anyhow::anyhow!("reload: {}", e.body.message))?;
    std::fs::write(data_dir.join("demo-text.done"), "texts embedded, models retrained with them\n")?;
    out!(
        "[background] now serving retrieval {retrieval} and ranking {ranking} (loaded in {seconds:.1} s, swapped at once)"
    );
    Ok(())
}

fn first_partner(store: &SqliteStore) -> Result<Option<(String, String)>> {
    let mut found = None;
    store.scan_venues(&mut |v| {
        if found.is_none() && !v.is_digital() {
            found = Some((v.partner_id.clone(), v.id.clone()));
        }
        Ok(())
    })?;
    Ok(found)
}

fn first_user(store: &SqliteStore) -> Result<Option<String>> {
    let mut found = None;
    store.scan_users(&mut |u| {
        if found.is_none() {
            found = Some(u.id.clone());
        }
        Ok(())
    })?;
    Ok(found)
}

fn store_reference_date(scale: Scale, seed: u64) -> chrono::NaiveDate {
    WorldConfig::for_scale(scale, seed).end().date()
}
