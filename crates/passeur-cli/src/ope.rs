//! `passeur ope`: off-policy evaluation of a list policy on the served lists in the store; and
//! `passeur simulate`: the simulator with ground truth (estimator errors, LinUCB).

use anyhow::{Context, Result, bail};
use passeur_ope::logs::{EvalSettings, ListPolicy, LoggedBody, LoggedList, LoggedPolicy, evaluate};
use passeur_ope::simulate::{Embeddings, Environment, SimConfig, run_bandit, run_study};
use passeur_ope::{Exploration, RewardModelConfig};
use passeur_store::{RecordStore, SqliteStore};
use passeur_synth::{Scale, World, WorldConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// The target policy and the evaluation's settings.
#[derive(Debug, clap::Args)]
pub struct OpeArgs {
    /// The target's λ (default: the logger's).
    #[arg(long)]
    lambda: Option<f64>,
    /// The target's Plackett-Luce temperature (0: the order by its objective).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// The target's ε at `--epsilon-positions`.
    #[arg(long, default_value_t = 0.0)]
    epsilon: f64,
    /// Positions (0 = top, comma-separated) of the target's ε-uniform draws.
    #[arg(long, value_delimiter = ',')]
    epsilon_positions: Vec<usize>,
    /// The target's share of shuffled lists.
    #[arg(long, default_value_t = 0.0)]
    shuffle_share: f64,
    /// Positions evaluated: the value is the clicks on the first N positions.
    #[arg(long, default_value_t = 3)]
    positions: usize,
    /// A consultation of a listed offer within this many seconds after the list counts as its click.
    #[arg(long, default_value_t = 3_600)]
    window_s: i64,
    /// Only lists served at or after this instant (seconds).
    #[arg(long, default_value_t = 0)]
    since: i64,
    /// Lists of every logging policy (`all`), or only those served by the latest one (`latest`: a change of
    /// the exploration settings starts a new log).
    #[arg(long, default_value = "latest", value_parser = ["latest", "all"])]
    loggers: String,
    /// Bootstrap resamples (clustered by user).
    #[arg(long, default_value_t = 200)]
    resamples: usize,
    /// Weight clip of IPS, Switch-DR and DR-OS.
    #[arg(long, default_value_t = 20.0)]
    clip: f64,
    /// Also write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The served lists in the store from `since` on, with their clicks (a consultation of the listed offer
/// within `window_s` seconds), each list's policy as logged (JSON), and the offers in candidate order.
pub struct ServedLists {
    /// The lists, as the estimators read them.
    pub lists: Vec<LoggedList>,
    /// Each list's logging policy (JSON), same order.
    pub policies: Vec<String>,
    /// Each list's user and candidate offer ids, same order.
    pub offers: Vec<(String, Vec<String>)>,
    /// The latest logging policy.
    pub logger: Option<ListPolicy>,
}

/// Reads the served lists.
pub fn read_served_lists(store: &SqliteStore, since: i64, window_s: i64) -> Result<ServedLists> {
    let mut out = ServedLists { lists: Vec::new(), policies: Vec::new(), offers: Vec::new(), logger: None };
    let mut clicks: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    let mut user_ids: HashMap<String, u64> = HashMap::new();
    store.served_lists(since, &mut |record| {
        let parse = |what: &str, e: serde_json::Error| passeur_store::StoreError::Corrupt {
            table: "served_lists",
            id: record.call_id.clone(),
            reason: format!("{what}: {e}"),
        };
        let policy: LoggedPolicy = serde_json::from_str(&record.policy).map_err(|e| parse("policy", e))?;
        let body: LoggedBody = serde_json::from_str(&record.body).map_err(|e| parse("body", e))?;
        if !clicks.contains_key(&record.user_id) {
            let consulted = store
                .user_interactions(&record.user_id)?
                .into_iter()
                .filter(|i| matches!(i.kind, passeur_domain::InteractionKind::Consultation))
                .map(|i| (i.offer_id, i.at.0))
                .collect();
            clicks.insert(record.user_id.clone(), consulted);
        }
        let consulted = &clicks[&record.user_id];
        let rewards = body
            .order
            .iter()
            .map(|&c| {
                let offer = body.candidates.get(c).map(|c| c.offer_id.as_str()).unwrap_or_default();
                let hit = consulted.iter().any(|(o, at)| o == offer && *at >= record.at && *at <= record.at + window_s);
                f64::from(u8::from(hit))
            })
            .collect();
        let n = user_ids.len() as u64;
        let cluster = *user_ids.entry(record.user_id.clone()).or_insert(n);
        out.policies.push(record.policy.clone());
        out.offers.push((record.user_id.clone(), body.candidates.iter().map(|c| c.offer_id.clone()).collect()));
        let list = LoggedList::from_record(cluster, &policy, body, rewards);
        out.logger = Some(list.logger.clone());
        out.lists.push(list);
        Ok(())
    })?;
    Ok(out)
}

/// Reads the served lists and their clicks, evaluates the target, prints the table.
pub fn run(data_dir: &Path, args: &OpeArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let store = SqliteStore::open(data_dir)?;
    let ServedLists { mut lists, policies, logger, .. } = read_served_lists(&store, args.since, args.window_s)?;
    let Some(logger) = logger else {
        bail!(
            "no served list in {} since {}: serve recommendations first (passeur serve)",
            data_dir.display(),
            args.since
        );
    };
    let read = lists.len();
    if args.loggers == "latest" {
        let latest = policies.last().cloned().unwrap_or_default();
        let mut keep = policies.iter().map(|p| *p == latest);
        lists.retain(|_| keep.next().unwrap_or(false));
    }
    let target = ListPolicy {
        lambda: args.lambda.unwrap_or(logger.lambda),
        exploration: Exploration {
            temperature: args.temperature,
            epsilon: args.epsilon,
            epsilon_positions: args.epsilon_positions.clone(),
            shuffle_share: args.shuffle_share,
        },
    };
    out!(
        "read {read} served lists in {:.1} s; latest logger: λ={} {:?}",
        started.elapsed().as_secs_f64(),
        logger.lambda,
        logger.exploration
    );
    if lists.len() < read {
        out!(
            "kept the {} lists of the latest logging policy; {} lists of earlier policies left out (--loggers all keeps them)",
            lists.len(),
            read - lists.len()
        );
    }
    out!(
        "target: λ={} {:?}; value = clicks on the first {} positions",
        target.lambda,
        target.exploration,
        args.positions
    );
    let settings = EvalSettings {
        positions: args.positions,
        resamples: args.resamples,
        clip: args.clip,
        ..EvalSettings::default()
    };
    let evaluation = evaluate(&lists, &target, &settings).context("off-policy evaluation")?;
    out!(
        "lists {} (users {}), logged value {:.4} clicks per list",
        evaluation.lists,
        evaluation.users,
        evaluation.logged_value
    );
    out!("| estimator | estimate | 95 % interval (bootstrap by user) |");
    out!("| --- | --- | --- |");
    for row in &evaluation.rows {
        out!(
            "| {} | {:.4} | [{:.4}, {:.4}] |",
            row.estimator,
            row.interval.estimate,
            row.interval.lower,
            row.interval.upper
        );
    }
    out!("empirical-Bernstein lower bound (IPS clipped at {}, 95 %): {:.4}", args.clip, evaluation.bernstein_lower);
    out!(
        "weights: effective sample size {:.0} of {} position rounds, max {:.2}, mean {:.3}; unsupported target mass {:.2} %",
        evaluation.effective_sample_size,
        evaluation.position_rounds,
        evaluation.max_weight,
        evaluation.mean_weight,
        evaluation.unsupported_mass * 100.0
    );
    for w in &evaluation.warnings {
        out!("warning: {w}");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&evaluation)?)?;
        out!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_scale(name: &str) -> Result<Scale, String> {
    Scale::parse(name).ok_or_else(|| format!("unknown scale {name:?}; use small, medium or large"))
}

/// The simulator's studies.
#[derive(Debug, clap::Subcommand)]
pub enum SimulateCommand {
    /// Closed-loop journeys: the service's own engine serves simulated young people week after week; a
    /// league of policies compared on bookings and the diversification of practices, with intervals.
    Journeys(Box<crate::journeys::JourneysArgs>),
    /// Every estimator's error against the exact truth, for targets over λ and τ, over seeds.
    Ope {
        /// World: small, medium or large.
        #[arg(long, default_value = "medium", value_parser = parse_scale)]
        scale: Scale,
        /// The world's seed.
        #[arg(long, default_value_t = 42)]
        world_seed: u64,
        /// Users whose year is simulated (their bookings give Δdiv).
        #[arg(long, default_value_t = 5_000)]
        users: usize,
        /// Logged lists per run.
        #[arg(long, default_value_t = 10_000)]
        rounds: usize,
        /// Runs (seeds 1..=N).
        #[arg(long, default_value_t = 10)]
        seeds: usize,
        /// Also write the study as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// LinUCB over two-tower embeddings in the exploration slot, against the ranker alone.
    Bandit {
        /// World: small, medium or large (the one the model was trained on).
        #[arg(long, default_value = "medium", value_parser = parse_scale)]
        scale: Scale,
        /// The world's seed.
        #[arg(long, default_value_t = 42)]
        world_seed: u64,
        /// A trained retrieval model (its item and user vectors); none: LinUCB reads the ranker's signals only.
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Users whose year is simulated.
        #[arg(long, default_value_t = 5_000)]
        users: usize,
        /// Rounds, in order.
        #[arg(long, default_value_t = 20_000)]
        rounds: usize,
        /// The slot (0 = top).
        #[arg(long, default_value_t = 2)]
        slot: usize,
        /// LinUCB's exploration α.
        #[arg(long, default_value_t = 0.3)]
        alpha: f64,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Runs a simulator study.
pub fn simulate(data_dir: &std::path::Path, command: SimulateCommand) -> Result<ExitCode> {
    match command {
        SimulateCommand::Journeys(args) => return crate::journeys::journeys(data_dir, &args),
        SimulateCommand::Ope { scale, world_seed, users, rounds, seeds, json } => {
            let started = Instant::now();
            let world = World::generate(WorldConfig::for_scale(scale, world_seed));
            let env = Environment::new(&world, users, world_seed, None);
            out!("world and {users} users' years simulated in {:.1} s", started.elapsed().as_secs_f64());
            let mut config = SimConfig::standard(rounds, seeds);
            config.reward_model = RewardModelConfig::default();
            let study = run_study(&env, &config)?;
            out!(
                "{} lists per run × {seeds} seeds in {:.1} s; value = expected clicks on 3 positions",
                rounds,
                started.elapsed().as_secs_f64()
            );
            out!("logger: {}", config.logger.name);
            out!(
                "| target | estimator | truth | mean estimate | relative bias | relative RMSE | 95 % coverage | lists for ±1 % |"
            );
            out!("| --- | --- | --- | --- | --- | --- | --- | --- |");
            for r in &study.rows {
                out!(
                    "| {} | {} | {:.4} | {:.4} | {:+.2} % | {:.2} % | {:.0} % | {:.0} |",
                    r.target,
                    r.estimator,
                    r.truth,
                    r.estimate,
                    r.relative_bias * 100.0,
                    r.relative_rmse * 100.0,
                    r.coverage * 100.0,
                    r.lists_for_1pct
                );
            }
            for d in &study.diagnostics {
                out!(
                    "{}: ESS {:.1} % of position rounds, max list weight {:.1}, unsupported mass {:.3} %",
                    d.target,
                    d.ess_share * 100.0,
                    d.max_list_weight,
                    d.unsupported_mass.max(0.0) * 100.0
                );
            }
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&study)?)?;
                out!("wrote {}", path.display());
            }
        }
        SimulateCommand::Bandit { scale, world_seed, model_dir, users, rounds, slot, alpha, seed } => {
            let started = Instant::now();
            let world = World::generate(WorldConfig::for_scale(scale, world_seed));
            let embeddings = match &model_dir {
                Some(dir) => Some(read_embeddings(dir)?),
                None => None,
            };
            if let Some(e) = &embeddings {
                let known = world.users.iter().filter(|u| e.users.contains_key(&u.id)).count();
                if known == 0 {
                    bail!(
                        "{}: none of the world's users has a vector: was the model trained on this world?",
                        model_dir.unwrap_or_default().display()
                    );
                }
                out!("two-tower vectors: {} users, {} offers, {} dimensions", e.users.len(), e.offers.len(), e.dim);
            }
            let env = Environment::new(&world, users, world_seed, embeddings);
            out!("world and {users} users' years simulated in {:.1} s", started.elapsed().as_secs_f64());
            let config = SimConfig::standard(rounds, 1);
            let rows = run_bandit(&env, &config, 1.0, slot, alpha, seed)?;
            out!(
                "| policy ({rounds} rounds, slot {slot}) | objective per list | clicks per list | clicks, second half | bookings per list | slot clicks | slot Δdiv |"
            );
            out!("| --- | --- | --- | --- | --- | --- | --- |");
            let (base, base_clicks) = (rows[0].objective_per_list, rows[0].clicks_per_list);
            for r in &rows {
                out!(
                    "| {} | {:.4} ({:.3}×) | {:.4} ({:.3}×) | {:.4} | {:.4} | {:.4} | {:.2} |",
                    r.policy,
                    r.objective_per_list,
                    r.objective_per_list / base,
                    r.clicks_per_list,
                    r.clicks_per_list / base_clicks,
                    r.clicks_per_list_second_half,
                    r.bookings_per_list,
                    r.slot_clicks,
                    r.slot_delta_div
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_embeddings(dir: &Path) -> Result<Embeddings> {
    use passeur_retrieval::bundle::read_vectors;
    let (ids, vectors, dim) = read_vectors(&dir.join("item_vectors.parquet"))
        .with_context(|| format!("{}: no item vectors (train retrieval first)", dir.display()))?;
    let offers = ids.into_iter().enumerate().map(|(i, id)| (id, vectors[i * dim..(i + 1) * dim].to_vec())).collect();
    let (ids, vectors, udim) = read_vectors(&dir.join("user_vectors.parquet"))?;
    if udim != dim {
        bail!("user vectors have {udim} dimensions, item vectors {dim}");
    }
    let users = ids.into_iter().enumerate().map(|(i, id)| (id, vectors[i * dim..(i + 1) * dim].to_vec())).collect();
    Ok(Embeddings { dim, users, offers })
}
