//! `passeur diversity`: the diversification score of every user and booking.

use crate::progress;
use anyhow::{Result, bail};
use passeur_diversity::{BatchScores, DiversificationRules};
use passeur_io::{FileFormat, ScoringCache, ScoringInput};
use passeur_store::SqliteStore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `passeur diversity ...`
#[derive(Debug, clap::Subcommand)]
pub enum DiversityCommand {
    /// Scores every user and every booking, writes them, and prints a summary.
    Score(ScoreArgs),
}

fn parse_format(name: &str) -> Result<FileFormat, String> {
    FileFormat::parse(name).ok_or_else(|| format!("unknown format {name:?}; use csv, jsonl or parquet"))
}

/// Arguments of `passeur diversity score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Rules: `deck` (default), `weighted`, or a TOML rules file.
    #[arg(long, default_value = "deck")]
    rules: String,
    /// Read from files instead of the record store: a directory holding
    /// venues.*, offers.*, interactions.* (bookings and cancellations) and optionally users.*.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Where to write user_scores.* and booking_points.*.
    #[arg(long, short)]
    out: PathBuf,
    /// Output format: parquet or csv (or jsonl).
    #[arg(long, default_value = "parquet", value_parser = parse_format)]
    format: FileFormat,
    /// Date on which ages are computed (default: today).
    #[arg(long)]
    on: Option<String>,
}

pub fn run(data_dir: &Path, command: DiversityCommand) -> Result<ExitCode> {
    match command {
        DiversityCommand::Score(args) => score(data_dir, &args),
    }
}

pub fn load_rules(spec: &str) -> Result<DiversificationRules> {
    match DiversificationRules::builtin(spec) {
        Some(rules) => Ok(rules),
        None => Ok(DiversificationRules::load(Path::new(spec))?),
    }
}

fn score(data_dir: &Path, args: &ScoreArgs) -> Result<ExitCode> {
    let rules = load_rules(&args.rules)?;
    let on = match &args.on {
        Some(d) => passeur_domain::parse_date(d).map_err(anyhow::Error::msg)?,
        None => chrono::Utc::now().date_naive(),
    };
    let started = Instant::now();
    let spinner = progress::spinner("loading");
    // From files, the resolved bookings are cached (written while the scores are computed and written).
    let mut pending_cache = None;
    let mut source = "";
    let input = match &args.from {
        Some(dir) => {
            let cache = ScoringCache::of(dir, &data_dir.join("cache"))?;
            match cache.load()? {
                Some(input) => {
                    source = ", bookings from the cache";
                    input
                }
                None => {
                    let input = ScoringInput::from_files(dir)?;
                    pending_cache = Some(cache);
                    input
                }
            }
        }
        None => {
            if !data_dir.join(SqliteStore::FILE_NAME).exists() {
                bail!("no record store in {}; use --from DIR or run `passeur import` first", data_dir.display());
            }
            ScoringInput::from_store(&SqliteStore::open(data_dir)?)?
        }
    };
    spinner.finish_and_clear();
    let loaded = started.elapsed().as_secs_f64();
    let (scores, scored) = std::thread::scope(|scope| -> Result<_> {
        let cache = pending_cache.as_ref().map(|cache| scope.spawn(|| cache.save(&input)));
        let scoring = Instant::now();
        let scores = passeur_diversity::score_bookings(&rules, &input.traits, &input.table, input.user_ids.len());
        let scored = scoring.elapsed().as_secs_f64();
        let writing = Instant::now();
        input.write_scores(&scores, &args.out, args.format, on)?;
        tracing::info!(seconds = writing.elapsed().as_secs_f64(), "scores written");
        if let Some(cache) = cache {
            // A cache that cannot be written costs the next run time, not this one its result.
            if let Err(e) = cache.join().map_err(|_| anyhow::anyhow!("the cache writer panicked"))? {
                tracing::warn!(error = %e, "the resolved bookings could not be cached");
            }
        }
        Ok((scores, scored))
    })?;
    out!(
        "rules {}: scored {} bookings of {} users (loading {loaded:.2} s{source}, scoring {scored:.3} s); wrote {}",
        rules.name,
        input.table.len(),
        input.user_ids.len(),
        args.out.display()
    );
    print_summary(&input, &scores, on);
    Ok(ExitCode::SUCCESS)
}

fn mean(v: &[u32]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64 }
}

fn print_summary(input: &ScoringInput, scores: &BatchScores, on: chrono::NaiveDate) {
    let active: Vec<usize> = (0..input.user_ids.len()).filter(|u| scores.user_bookings[*u] > 0).collect();
    let mut all: Vec<u32> = active.iter().map(|u| scores.user_score[*u]).collect();
    all.sort_unstable();
    let q = |p: f64| all.get(((all.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0);
    out!(
        "\n{} users with bookings: mean score {:.2}, median {}, p10 {}, p90 {}, max {}",
        all.len(),
        mean(&all),
        q(0.5),
        q(0.1),
        q(0.9),
        all.last().copied().unwrap_or(0)
    );
    let buckets = [(1, 1), (2, 3), (4, 5), (6, 9), (10, 14), (15, 19), (20, 29), (30, u32::MAX)];
    out!("\nscore distribution");
    for (lo, hi) in buckets {
        let n = all.iter().filter(|s| (lo..=hi).contains(*s)).count();
        let label = if hi == u32::MAX {
            format!("{lo}+")
        } else if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        };
        out!("  {label:>6} {n:>9} {:>6.1} %", 100.0 * n as f64 / all.len().max(1) as f64);
    }
    let mut by_age: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    let mut by_department: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut by_bookings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for &u in &active {
        let s = scores.user_score[u];
        if let Some((birth, department)) = &input.user_info[u] {
            by_age.entry(passeur_domain::age_on(*birth, on)).or_default().push(s);
            by_department.entry(department).or_default().push(s);
        }
        let b = scores.user_bookings[u];
        let bucket = [(1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, u32::MAX)]
            .into_iter()
            .find(|(lo, hi)| (*lo..=*hi).contains(&b))
            .unwrap_or((0, 0));
        by_bookings.entry(bucket).or_default().push(s);
    }
    out!("\nmean score by age");
    for (age, s) in &by_age {
        out!("  {age:>6} {:>8.2} ({} users)", mean(s), s.len());
    }
    out!("\nmean score by number of bookings");
    for ((lo, hi), s) in &by_bookings {
        let label = if *hi == u32::MAX {
            format!("{lo}+")
        } else if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        };
        out!("  {label:>6} {:>8.2} ({} users)", mean(s), s.len());
    }
    let mut departments: Vec<(&&str, &Vec<u32>)> = by_department.iter().collect();
    departments.sort_by_key(|(_, s)| std::cmp::Reverse(s.len()));
    out!("\nmean score by department (10 largest)");
    for (d, s) in departments.into_iter().take(10) {
        out!("  {d:>6} {:>8.2} ({} users)", mean(s), s.len());
    }
}
