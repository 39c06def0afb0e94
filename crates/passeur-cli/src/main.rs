//! `passeur`: the command line of the passeur recommendation engine.
//!
//! Thin: it parses arguments, calls the library crates, prints, and returns
//! an exit code.

/// Prints a line to stdout; a closed pipe (`passeur stats | head`) ends the program quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod bench;
mod bench_diversity;
mod bench_duckdb;
mod bench_embed;
mod bench_index;
mod commands;
mod diversity;
mod embed;
mod index;
mod insight;
mod journeys;
mod ope;
mod progress;
mod ranking;
mod report;
mod retrieval;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: reading files builds and drops
/// millions of small strings across threads, where glibc's malloc took an
/// eighth of `diversity score --from`'s CPU time (ARCHITECTURE.md, Choices).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// passeur: recommends cultural offers to young people and measures how their cultural practices diversify.
#[derive(Debug, Parser)]
#[command(name = "passeur", version, about)]
struct Cli {
    /// The data directory (record store, caches, generated worlds).
    #[arg(long, global = true, env = "PASSEUR_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generates a synthetic pass Culture world as files (venues, offers, users, interactions, ground truth).
    Generate(commands::GenerateArgs),
    /// Imports venues, offers, users and interactions files into the record store, all or nothing.
    Import(commands::ImportArgs),
    /// Exports the record store as files.
    Export(commands::ExportArgs),
    /// Shows counts by category, format, age and department, bookings per user and credit spent.
    Stats(commands::StatsArgs),
    /// The main job: generates the medium world, embeds, trains retrieval and ranking, builds the index, serves.
    Demo(commands::DemoArgs),
    /// Embeds the text of every new or changed offer with a sentence-transformers model.
    Embed(embed::EmbedArgs),
    /// The diversification score of every user and booking.
    #[command(subcommand)]
    Diversity(diversity::DiversityCommand),
    /// Trains a model on the record store.
    #[command(subcommand)]
    Train(retrieval::TrainCommand),
    /// Evaluates a trained model offline.
    #[command(subcommand)]
    Eval(retrieval::EvalCommand),
    /// Maps of the learned spaces.
    #[command(subcommand)]
    Map(retrieval::MapCommand),
    /// Public datasets, converted to importable files.
    #[command(subcommand)]
    Dataset(retrieval::DatasetCommand),
    /// The vector index of offers: build and optimise the LanceDB table (feature `lancedb`), evaluate recall and latency, query playlists.
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Serves the HTTP JSON API on the data directory (see passeur.toml).
    Serve(serve::ServeArgs),
    /// API keys of the service: create (shown once), list, revoke.
    #[command(subcommand)]
    Keys(serve::KeysCommand),
    /// Benchmarks that print figures and ratios.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Off-policy evaluation of a list policy on the served lists in the store (clicks as rewards).
    Ope(ope::OpeArgs),
    /// One static HTML report: retrieval metrics, the ranking trade-off, diversity metrics, off-policy evaluation.
    Report(report::ReportArgs),
    /// The territory's view: what a department's young people (or a partner's users) consult and book.
    Territory(insight::TerritoryArgs),
    /// The simulator with ground truth: estimator errors, online learning.
    #[command(subcommand)]
    Simulate(ope::SimulateCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PASSEUR_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match execute(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command line given as words (the demo chains commands this way).
pub fn dispatch(words: &[&str]) -> anyhow::Result<ExitCode> {
    let cli = Cli::try_parse_from(std::iter::once("passeur").chain(words.iter().copied()))?;
    execute(cli)
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => commands::generate(&args),
        Command::Import(args) => commands::import(&cli.data_dir, &args),
        Command::Export(args) => commands::export(&cli.data_dir, &args),
        Command::Stats(args) => commands::stats(&cli.data_dir, &args),
        Command::Demo(args) => commands::demo(&cli.data_dir, &args),
        Command::Embed(args) => embed::run(&cli.data_dir, &args),
        Command::Diversity(command) => diversity::run(&cli.data_dir, command),
        Command::Train(command) => retrieval::train_command(&cli.data_dir, command),
        Command::Eval(command) => retrieval::eval_command(&cli.data_dir, command),
        Command::Map(command) => retrieval::map_command(&cli.data_dir, command),
        Command::Dataset(command) => retrieval::dataset_command(command),
        Command::Index(command) => index::run(&cli.data_dir, command),
        Command::Serve(args) => serve::serve(&cli.data_dir, &args),
        Command::Keys(command) => serve::keys(&cli.data_dir, command),
        Command::Bench(command) => bench::run(&cli.data_dir, command),
        Command::Ope(args) => ope::run(&cli.data_dir, &args),
        Command::Territory(args) => insight::territory(&cli.data_dir, &args),
        Command::Report(args) => report::run(&cli.data_dir, &args),
        Command::Simulate(command) => ope::simulate(&cli.data_dir, command),
    }
}
