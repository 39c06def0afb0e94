//! `passeur bench`: benchmarks that print figures and ratios against a
//! baseline measured in the same run.

use crate::commands::{import_into, write_world};
use anyhow::Result;
use passeur_domain::{Interaction, InteractionKind, Offer, User, Venue};
use passeur_io::{FileFormat, ImportFile, for_each_record};
use passeur_store::{PostgresStore, SqliteStore, StoreConfig, Synchronous};
use passeur_synth::{Scale, WorldConfig};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn parse_scale(name: &str) -> Result<Scale, String> {
    Scale::parse(name).ok_or_else(|| format!("unknown scale {name:?}; use small, medium or large"))
}

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Diversification score: batch scoring, Δdiv for 1,000 candidates, one incremental booking.
    Diversity {
        /// small, medium or large.
        #[arg(long, default_value = "large", value_parser = parse_scale)]
        scale: Scale,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Rules: deck, weighted, or a TOML file.
        #[arg(long, default_value = "deck")]
        rules: String,
        /// Instead: `passeur diversity score --from` cold and cached, side by side with the deck's rule
        /// as DuckDB SQL over the same files, outputs compared (needs DuckDB: `bash scripts/duckdb-env.sh`).
        #[arg(long)]
        against_duckdb: bool,
        /// With --against-duckdb: a directory of world files to use instead of generating the world.
        #[arg(long, requires = "against_duckdb")]
        from: Option<std::path::PathBuf>,
        /// With --against-duckdb: runs of each contender (the median is reported).
        #[arg(long, default_value_t = 3, requires = "against_duckdb")]
        runs: usize,
        /// With --against-duckdb: a Python interpreter that has DuckDB's package.
        #[arg(long, requires = "against_duckdb")]
        python: Option<std::path::PathBuf>,
    },
    /// The vector index at scale: recall@10, queries/s, p50/p99 latency, with and without filters, per backend.
    Index {
        /// Offers indexed (from the large world).
        #[arg(long, default_value_t = 1_000_000)]
        offers: usize,
        /// Vector dimension.
        #[arg(long, default_value_t = 64)]
        dim: usize,
        /// Queries per configuration.
        #[arg(long, default_value_t = 300)]
        queries: usize,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// LanceDB index types: ivf-pq, ivf-hnsw-sq, both, or none (in-memory backends only).
        #[arg(long, default_value = "both")]
        ann: String,
    },
    /// Ranking 1,000 candidates for one user (features, both heads, Δdiv, objective, mixing) on DATA_DIR's models.
    Ranking {
        /// Candidates per user.
        #[arg(long, default_value_t = 1_000)]
        candidates: usize,
        /// Users (one request each).
        #[arg(long, default_value_t = 300)]
        users: usize,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Ranking models to measure side by side, each request ranked by every one in turn
        /// (comma-separated directories; default DATA_DIR/models/ranking). E.g. a gbdt model and a
        /// linear one trained with `passeur train ranking --model linear --model-dir DIR`.
        #[arg(long, value_delimiter = ',')]
        models: Vec<std::path::PathBuf>,
    },
    /// The service on DATA_DIR over loopback, open-loop: GET /health (baseline), recommendations alone,
    /// recommendations mixed with event writes; throughput, p50/p90/p99, errors. Writes events into DATA_DIR.
    Serve {
        /// Requests per second.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Seconds per phase.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Share of event writes in the mixed phase.
        #[arg(long, default_value_t = 0.3)]
        event_share: f64,
        /// Seed of the requests' users and offers.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Drive running services instead (replicas over one store), in turn: base URLs, comma-separated.
        /// The users and offers asked for are read from the data directory's store.
        #[arg(long, value_delimiter = ',', value_name = "URL")]
        targets: Vec<String>,
        /// With --targets: an app key of those services.
        #[arg(long, requires = "targets")]
        key: Option<String>,
    },
    /// Text embeddings: texts/s per model on the world's offer texts, the French quality check, and
    /// Python sentence-transformers on the same texts and threads when found.
    Embed {
        /// small, medium or large: whose offer texts.
        #[arg(long, default_value = "medium", value_parser = parse_scale)]
        scale: Scale,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Distinct texts embedded.
        #[arg(long, default_value_t = 2000)]
        texts: usize,
        /// Model folders, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "models/multilingual-e5-small,models/all-MiniLM-L6-v2")]
        models: Vec<std::path::PathBuf>,
        /// Windows per forward pass (both engines).
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// A Python with torch and sentence-transformers (default: python3 if it has them), or none.
        #[arg(long)]
        python: Option<String>,
    },
    /// Generation and import throughput (rows/s) of a synthetic world.
    World {
        /// small, medium or large.
        #[arg(long, default_value = "large", value_parser = parse_scale)]
        scale: Scale,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Also import the same files into PostgreSQL: a server URL (`bash scripts/postgres.sh start`
        /// prints one), where the bench makes a database of its own and drops it after.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
}

pub fn run(data_dir: &Path, command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Index { offers, dim, queries, seed, ann } => {
            crate::bench_index::run(data_dir, offers, dim, queries, seed, &ann)
        }
        BenchCommand::Ranking { candidates, users, seed, models } => {
            crate::ranking::bench(data_dir, candidates, users, seed, &models)
        }
        BenchCommand::Serve { rate, seconds, event_share, seed, targets, key } => {
            crate::serve::bench(data_dir, &crate::serve::ServeBench { rate, seconds, event_share, seed, targets, key })
        }
        BenchCommand::World { scale, seed, postgres } => world(data_dir, scale, seed, postgres.as_deref()),
        BenchCommand::Embed { scale, seed, texts, models, batch_size, python } => crate::bench_embed::run(
            data_dir,
            &crate::bench_embed::EmbedBench { scale, seed, texts, models, batch_size, python },
        ),
        BenchCommand::Diversity { scale, seed, rules, against_duckdb: false, .. } => {
            crate::bench_diversity::run(data_dir, scale, seed, &rules)
        }
        BenchCommand::Diversity { scale, seed, against_duckdb: true, from, runs, python, .. } => {
            let files = match from {
                Some(dir) => dir,
                None => world_files(data_dir, scale, seed)?,
            };
            let work = data_dir.join("bench").join("duckdb");
            crate::bench_duckdb::run(&crate::bench_duckdb::DuckdbBench {
                files: &files,
                work: &work,
                runs: runs.max(1),
                python,
            })
        }
    }
}

fn world(data_dir: &Path, scale: Scale, seed: u64, postgres: Option<&str>) -> Result<ExitCode> {
    let dir = world_dir(data_dir, scale, seed);
    let files_dir = dir.join("files");
    let _ = std::fs::remove_dir_all(&dir);
    let files = write_world(WorldConfig::for_scale(scale, seed), &files_dir, FileFormat::Parquet, true)?;
    let generation = files.rows() as f64 / files.seconds;

    // Baseline: reading the same Parquet files into records, no validation nor store.
    let started = Instant::now();
    let mut read = 0u64;
    read += for_each_record::<Venue>(&files_dir.join("venues.parquet"), &mut |_| {})?;
    read += for_each_record::<Offer>(&files_dir.join("offers.parquet"), &mut |_| {})?;
    read += for_each_record::<User>(&files_dir.join("users.parquet"), &mut |_| {})?;
    let mut bookings = 0u64;
    read += for_each_record::<Interaction>(&files_dir.join("interactions.parquet"), &mut |i| {
        if matches!(i.kind, InteractionKind::Booking { .. }) {
            bookings += 1;
        }
    })?;
    let read_rate = read as f64 / started.elapsed().as_secs_f64();

    let mut store = SqliteStore::open_with(
        &dir.join("store"),
        &StoreConfig { synchronous: Synchronous::Normal, ..StoreConfig::default() },
    )?;
    let started = Instant::now();
    let imported = import_into(&mut store, &ImportFile::discover(&files_dir)?, 100, true)?;
    let import_seconds = started.elapsed().as_secs_f64();
    let import_rate = imported as f64 / import_seconds;
    // The same files into PostgreSQL (binary COPY), in a database of the bench's own.
    let postgres_import = match postgres {
        Some(server) => {
            const DB: &str = "passeur_bench_world";
            let mut pg = PostgresStore::connect(&PostgresStore::fresh_database(server, DB)?)?;
            let started = Instant::now();
            let rows = import_into(&mut pg, &ImportFile::discover(&files_dir)?, 100, true)?;
            let seconds = started.elapsed().as_secs_f64();
            drop(pg);
            PostgresStore::drop_database(server, DB)?;
            Some((rows as f64 / seconds, seconds))
        }
        None => None,
    };

    out!("world {scale:?}, seed {seed}");
    out!(
        "  rows: {} venues, {} offers, {} users, {} interactions ({} bookings)",
        files.venues,
        files.offers,
        files.users,
        files.interactions,
        bookings
    );
    out!("  generate + write Parquet: {:>10.0} rows/s ({:.1} s)", generation, files.seconds);
    out!("  read Parquet (baseline):  {:>10.0} rows/s", read_rate);
    out!("  import into SQLite:       {:>10.0} rows/s ({:.1} s)", import_rate, import_seconds);
    if let Some((rate, seconds)) = postgres_import {
        out!("  import into PostgreSQL:   {:>10.0} rows/s ({:.1} s)", rate, seconds);
        out!("  ratio: PostgreSQL/SQLite import = {:.2}", rate / import_rate);
    }
    out!("  ratios: generation/read = {:.2}, import/read = {:.2}", generation / read_rate, import_rate / read_rate);
    // The files stay, for the other benchmarks; the store goes.
    drop(store);
    let _ = std::fs::remove_dir_all(dir.join("store"));
    Ok(ExitCode::SUCCESS)
}

/// Where the benchmarks keep a generated world.
pub fn world_dir(data_dir: &Path, scale: Scale, seed: u64) -> std::path::PathBuf {
    data_dir.join(format!("bench-world-{scale:?}-{seed}").to_lowercase())
}

/// The files of a generated world, generated when missing.
pub fn world_files(data_dir: &Path, scale: Scale, seed: u64) -> Result<std::path::PathBuf> {
    let files = world_dir(data_dir, scale, seed).join("files");
    if !files.join("users.parquet").exists() {
        eprintln!("generating the {scale:?} world (seed {seed}) into {}", files.display());
        write_world(WorldConfig::for_scale(scale, seed), &files, FileFormat::Parquet, true)?;
    }
    Ok(files)
}
