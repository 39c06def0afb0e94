//! The subcommands.

use crate::progress;
use anyhow::{Context, Result, bail};
use passeur_domain::{Interaction, Offer, User, Venue};
use passeur_io::{
    EntityKind, FileFormat, ImportFile, ImportOptions, IoError, RecordWriter, export_store, import_files,
};
use passeur_store::{RecordStore, SqliteStore, Stats};
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

/// Arguments of `passeur import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
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
pub fn import_into(store: &mut SqliteStore, files: &[ImportFile], max_errors: usize, show: bool) -> Result<u64> {
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
    let mut store = SqliteStore::open(data_dir)?;
    let started = Instant::now();
    let rows = import_into(&mut store, &files, args.max_errors, true)?;
    let seconds = started.elapsed().as_secs_f64();
    out!("imported {rows} rows from {} file(s) in {seconds:.1} s ({:.0} rows/s)", files.len(), rows as f64 / seconds);
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `passeur export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Output directory.
    #[arg(long, short)]
    out: PathBuf,
    /// File format: csv, jsonl or parquet.
    #[arg(long, default_value = "parquet", value_parser = parse_format)]
    format: FileFormat,
}

pub fn export(data_dir: &Path, args: &ExportArgs) -> Result<ExitCode> {
    let store = open_existing(data_dir)?;
    let bar = progress::spinner("exporting");
    let written = export_store(&store, &args.out, args.format, &mut |n| bar.set_position(n))?;
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
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Date on which ages are computed (default: today).
    #[arg(long)]
    on: Option<String>,
}

pub fn stats(data_dir: &Path, args: &StatsArgs) -> Result<ExitCode> {
    let store = open_existing(data_dir)?;
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
    let c = &stats.counts;
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
}

pub fn demo(data_dir: &Path, args: &DemoArgs) -> Result<ExitCode> {
    let marker = data_dir.join("demo-world.done");
    let started = Instant::now();
    if !marker.exists() {
        let world_dir = data_dir.join("world");
        out!("first run: generating the {:?} world (seed {}) into {}", args.scale, args.seed, world_dir.display());
        let files = write_world(WorldConfig::for_scale(args.scale, args.seed), &world_dir, FileFormat::Parquet, true)?;
        out!("generated {} rows in {:.1} s", files.rows(), files.seconds);
        // A half-written store from an interrupted first run is replaced whole.
        let db = data_dir.join(SqliteStore::FILE_NAME);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let mut store = SqliteStore::open(data_dir)?;
        let files = ImportFile::discover(&world_dir)?;
        let rows = import_into(&mut store, &files, 100, true)?;
        out!("imported {rows} rows into {}", store.path().display());
        std::fs::write(&marker, format!("scale={:?} seed={}\n", args.scale, args.seed))?;
    }
    let store = SqliteStore::open(data_dir)?;
    let on = store_reference_date(args.scale, args.seed);
    print_stats(&store.stats(on)?);
    out!("\nready in {:.1} s; data in {}", started.elapsed().as_secs_f64(), data_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn store_reference_date(scale: Scale, seed: u64) -> chrono::NaiveDate {
    WorldConfig::for_scale(scale, seed).end().date()
}
