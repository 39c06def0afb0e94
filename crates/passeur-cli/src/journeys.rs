//! `passeur simulate journeys`: parses, loads, prints; the loop and the league live in `passeur-journeys`.

use anyhow::{Context, Result, bail};
use passeur_journeys::{Behaviour, League, Study, StudyConfig, load_engine, run_league, table};
use passeur_synth::{Scale, World, WorldConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `passeur simulate journeys`.
#[derive(Debug, clap::Args)]
pub struct JourneysArgs {
    /// The service's configuration (the policies override its `[ranking]` and `[exploration]`); none: defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The league of policies (TOML); none: the built-in league (crates/passeur-journeys/leagues/default.toml).
    #[arg(long)]
    pub league: Option<PathBuf>,
    /// Only these policies of the league (comma-separated; the baseline is always run).
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
    /// Behaviour files (repeat the flag); none: the default behaviour (crates/passeur-journeys/behaviours/default.toml).
    #[arg(long)]
    pub behaviour: Vec<PathBuf>,
    /// Simulated weeks.
    #[arg(long, default_value_t = 12)]
    pub weeks: u32,
    /// Seeds 1..=N.
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Young people followed: a seeded sample of the world's (all when absent).
    #[arg(long)]
    pub users: Option<usize>,
    /// Seed of the sample of young people.
    #[arg(long, default_value_t = 7)]
    pub sample_seed: u64,
    /// The world's scale (default: the demo's, from the data directory's demo-world.done).
    #[arg(long)]
    pub world_scale: Option<String>,
    /// The world's seed (default: the demo's).
    #[arg(long)]
    pub world_seed: Option<u64>,
    /// Write every run and summary as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print the offer ids the service's own policy (the configuration's `[ranking]` and `[exploration]`)
    /// serves this user on day 0 (session 0, seed 1) as JSON, and exit.
    #[arg(long)]
    pub list_for: Option<String>,
    /// Instead of the league: log this exploring policy's lists in the loop, estimate every plain
    /// objective policy of the league from them with `passeur ope`'s estimators, and compare each
    /// estimate with the target's closed-loop truth (the default behaviour, or the first --behaviour).
    #[arg(long)]
    pub ope_logger: Option<String>,
    /// Positions valued by --ope-logger (clicks on the first N positions per list).
    #[arg(long, default_value_t = 3)]
    pub ope_positions: usize,
    /// Length of the list printed by --list-for.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// The world the data directory was made from: the flags, else the demo's marker.
fn world_of(data_dir: &Path, args: &JourneysArgs) -> Result<WorldConfig> {
    let marker = std::fs::read_to_string(data_dir.join("demo-world.done")).unwrap_or_default();
    let field = |key: &str| marker.split_whitespace().find_map(|kv| kv.strip_prefix(key).map(str::to_owned));
    let scale = match (&args.world_scale, field("scale=")) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s.to_lowercase(),
        (None, None) => bail!(
            "{} has no demo-world.done: say which world it holds with --world-scale and --world-seed",
            data_dir.display()
        ),
    };
    let scale = Scale::parse(&scale).with_context(|| format!("--world-scale: unknown scale {scale:?}"))?;
    let seed = match (args.world_seed, field("seed=")) {
        (Some(s), _) => s,
        (None, Some(s)) => s.parse().with_context(|| format!("demo-world.done: seed {s:?}"))?,
        (None, None) => bail!("say the world's seed with --world-seed"),
    };
    Ok(WorldConfig::for_scale(scale, seed))
}

/// Runs the study.
pub fn journeys(data_dir: &Path, args: &JourneysArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let league = match &args.league {
        Some(path) => League::from_file(path)?,
        None => League::default_league(),
    };
    let league = if args.policies.is_empty() { league } else { league.only(&args.policies)? };
    let behaviours: Vec<Behaviour> = if args.behaviour.is_empty() {
        vec![Behaviour::default()]
    } else {
        args.behaviour.iter().map(|p| Behaviour::from_file(p)).collect::<Result<_, _>>()?
    };
    if args.seeds == 0 {
        bail!("--seeds: at least 1");
    }
    let world_config = world_of(data_dir, args)?;
    let world = World::generate(world_config);
    let config = crate::serve::load_config(args.config.as_deref(), None)?;
    let mut engine = load_engine(data_dir, &config)?;
    let study_config =
        StudyConfig { weeks: args.weeks, users: args.users, sample_seed: args.sample_seed, log_lists: false };
    let mut study = Study::new(&mut engine, &world, study_config)?;
    if let Some(user) = &args.list_for {
        study.install(&passeur_journeys::PolicySpec::service("service"), 1)?;
        let list = study.list_for(user, 0, 0, 1, args.limit)?;
        out!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &args.ope_logger {
        return ope_check(&mut study, &league, name, &behaviours[0], args);
    }
    out!(
        "loaded in {:.1} s: {} young people followed for {} weeks; {} policies × {} behaviour(s) × {} seeds",
        started.elapsed().as_secs_f64(),
        study.users(),
        args.weeks,
        league.policies.len(),
        behaviours.len(),
        args.seeds
    );
    let seeds: Vec<u64> = (1..=args.seeds).collect();
    let total = (league.policies.len() * behaviours.len() * seeds.len()) as u64;
    let bar = crate::progress::bar(total, "runs");
    let result = run_league(&mut study, &league, &behaviours, &seeds, args.weeks, &mut |r| {
        bar.set_message(format!(
            "{} / {} / seed {}: {:.0} user-weeks/s",
            r.behaviour, r.policy, r.seed, r.user_weeks_per_s
        ));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    for (behaviour, summaries) in &result.behaviours {
        out!(
            "\n## behaviour: {behaviour} (simulated; {} weeks, {} young people, seeds 1..={})\n",
            args.weeks,
            result.users,
            args.seeds
        );
        out!("{}", table(summaries));
    }
    let broken: Vec<&String> = result.runs.iter().flat_map(|r| &r.violations).collect();
    if !broken.is_empty() {
        bail!("{} broken invariants, e.g. {}", broken.len(), broken[0]);
    }
    let speed: f64 = result.runs.iter().map(|r| r.user_weeks_per_s).sum::<f64>() / result.runs.len().max(1) as f64;
    out!(
        "\ntarget (≥ +25 % points per young person, ≥ −5 % bookings vs {} under every behaviour): {}",
        result.baseline,
        if result.winners.is_empty() { "no policy meets it".to_owned() } else { result.winners.join(", ") }
    );
    out!(
        "{} runs in {:.1} s ({speed:.0} user-weeks per second on average)",
        result.runs.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
        out!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn ope_check(
    study: &mut Study<'_>,
    league: &League,
    logger: &str,
    behaviour: &Behaviour,
    args: &JourneysArgs,
) -> Result<ExitCode> {
    let started = Instant::now();
    let logger = league
        .policies
        .iter()
        .find(|p| p.name == logger)
        .with_context(|| format!("--ope-logger: {logger:?} is not in the league"))?;
    let targets: Vec<_> = league
        .policies
        .iter()
        .filter(|p| p.name != logger.name && passeur_journeys::ope_check::list_policy(p).is_some())
        .cloned()
        .collect();
    let seeds: Vec<u64> = (1..=args.seeds).collect();
    let settings = passeur_ope::logs::EvalSettings { positions: args.ope_positions, ..Default::default() };
    let bar = crate::progress::bar((seeds.len() * (targets.len() + 1)) as u64, "runs");
    let check = passeur_journeys::check_ope(study, logger, &targets, behaviour, &seeds, &settings, &mut |p, s| {
        bar.set_message(format!("{p} / seed {s}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    out!(
        "logger {} ({:.0} lists per seed, {:.4} clicks on the first {} positions per list); {} young people, {} weeks, behaviour {}, seeds 1..={} (simulated)\n",
        check.logger,
        check.lists,
        check.logger_value,
        check.positions,
        study.users(),
        args.weeks,
        behaviour.name,
        args.seeds
    );
    out!("{}", passeur_journeys::ope_table(&check));
    for (target, warnings) in &check.warnings {
        for w in warnings {
            out!("warning ({target}): {w}");
        }
    }
    out!("in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&check)?)
            .with_context(|| format!("writing {}", path.display()))?;
        out!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
