//! `passeur train ranking`, `passeur eval ranking` and `passeur bench ranking`.

use crate::diversity::load_rules;
use crate::progress;
use anyhow::{Context, Result, bail};
use passeur_index::{Filters, Near};
use passeur_ranking::evaluate::{EvalConfig, compare, format_comparison};
use passeur_ranking::metrics::HeadQuality;
use passeur_ranking::rank::{Candidate, Origin, Policy, Ranker, Scratch, Source, UserRequest};
use passeur_ranking::train::{Quality, build_examples, cut_of, fit, keep_share};
use passeur_ranking::{Mixing, RankConfig, RankingData, RankingModel, TrainConfig};
use passeur_store::SqliteStore;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `passeur train ranking`.
#[derive(Debug, clap::Args)]
pub struct TrainRankingArgs {
    /// The trained retrieval model whose scores are features (default: DATA_DIR/models/retrieval).
    #[arg(long)]
    retrieval_dir: Option<PathBuf>,
    /// Where the ranking model is written (default: DATA_DIR/models/ranking).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Diversification rules of the Δdiv features: deck, weighted, or a TOML file.
    #[arg(long, default_value = "deck")]
    rules: String,
    /// The last days of the impression logs are held out for evaluation.
    #[arg(long, default_value_t = 28)]
    valid_days: i64,
    /// Training impressions used, at most (a seeded sample).
    #[arg(long, default_value_t = 1_000_000)]
    max_examples: usize,
    /// L2 penalty.
    #[arg(long, default_value_t = 1.0)]
    l2: f64,
    /// L-BFGS iterations, at most.
    #[arg(long, default_value_t = 200)]
    max_iterations: u64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The heads: gbdt (LightGBM trees) or linear (linfa logistic regressions).
    #[arg(long, default_value = "gbdt")]
    model: String,
    /// What the trees learn: binary (two heads), three-class (seen / consulted / booked, pass Culture's
    /// 2024 model) or regression (click + booking × (1 + Δdiv), the deck's 2023 model).
    #[arg(long, default_value = "binary")]
    objective: String,
    /// Unshown candidates added per served list as negatives (0: impressions only).
    #[arg(long, default_value_t = TrainConfig::default().negatives)]
    negatives: usize,
    /// Boosting rounds at most (gbdt).
    #[arg(long, default_value_t = passeur_ranking::GbdtConfig::default().max_rounds)]
    max_rounds: usize,
    /// Leaves per tree (gbdt).
    #[arg(long, default_value_t = passeur_ranking::GbdtConfig::default().num_leaves)]
    num_leaves: usize,
    /// Shrinkage (gbdt).
    #[arg(long, default_value_t = passeur_ranking::GbdtConfig::default().learning_rate)]
    learning_rate: f64,
    /// Writes the held-out quality as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Arguments of `passeur eval ranking`.
#[derive(Debug, clap::Args)]
pub struct EvalRankingArgs {
    /// The retrieval model (default: DATA_DIR/models/retrieval).
    #[arg(long)]
    retrieval_dir: Option<PathBuf>,
    /// The ranking model (default: DATA_DIR/models/ranking); several, comma-separated, are compared
    /// on the same users and candidates (e.g. a gbdt and a linear model).
    #[arg(long, value_delimiter = ',')]
    model_dir: Vec<PathBuf>,
    /// Diversification rules: deck, weighted, or a TOML file.
    #[arg(long, default_value = "deck")]
    rules: String,
    /// Users evaluated at most (a seeded sample of those who booked in the held-out period).
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// λ values of the Δdiv objective.
    #[arg(long, value_delimiter = ',', default_value = "0.5,1,2,4")]
    lambdas: Vec<f64>,
    /// λ of the mixed row.
    #[arg(long, default_value_t = 1.0)]
    lambda: f64,
    /// Mixing of the last row: none, round-robin, or mmr:WEIGHT.
    #[arg(long, default_value = "round-robin")]
    mixing: String,
    /// Length of the final list.
    #[arg(long, default_value_t = 60)]
    list_len: usize,
    /// Offers kept after scoring.
    #[arg(long, default_value_t = 150)]
    keep: usize,
    /// Seed of the user sample.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Writes the table as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn open_store(data_dir: &Path) -> Result<SqliteStore> {
    if !data_dir.join(SqliteStore::FILE_NAME).exists() {
        bail!("no record store in {}; run `passeur import` or `passeur demo` first", data_dir.display());
    }
    Ok(SqliteStore::open(data_dir)?)
}

fn dirs(data_dir: &Path, retrieval: &Option<PathBuf>, ranking: &Option<PathBuf>) -> (PathBuf, PathBuf) {
    (
        retrieval.clone().unwrap_or_else(|| data_dir.join("models").join("retrieval")),
        ranking.clone().unwrap_or_else(|| data_dir.join("models").join("ranking")),
    )
}

/// Parses `none`, `round-robin`, `mmr:WEIGHT` or `dpp:THETA`.
pub fn parse_mixing(text: &str) -> Result<Mixing> {
    Ok(match text {
        "none" => Mixing::None,
        "round-robin" => Mixing::RoundRobin,
        other => {
            match (other.strip_prefix("mmr:").map(str::parse::<f64>), other.strip_prefix("dpp:").map(str::parse::<f64>))
            {
                (Some(Ok(diversity)), _) => Mixing::Mmr { diversity },
                (_, Some(Ok(theta))) => Mixing::Dpp { theta },
                _ => bail!(
                    "--mixing: {other:?} is not none, round-robin, mmr:WEIGHT or dpp:THETA (e.g. mmr:0.3, dpp:0.7)"
                ),
            }
        }
    })
}

fn load_data(data_dir: &Path, retrieval_dir: &Path) -> Result<RankingData> {
    let store = open_store(data_dir)?;
    let started = Instant::now();
    let data = RankingData::load(&store, retrieval_dir)
        .with_context(|| format!("loading the store and the retrieval model in {}", retrieval_dir.display()))?;
    let impressions: usize = data.dataset.impressions.iter().map(Vec::len).sum();
    out!(
        "{} offers, {} users, {} events, {} impressions in {} served lists ({:.1} s)",
        data.table.len(),
        data.dataset.users.len(),
        data.dataset.events(),
        impressions,
        data.dataset.calls.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(data)
}

fn quality_table(quality: &Quality) -> String {
    let mut s = String::from(
        "| model | held-out impressions | positives | AUC | log-loss | constant-rate log-loss | ECE | mean predicted | observed rate |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for q in [&quality.click, &quality.booking] {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            q.head,
            q.examples,
            q.positives,
            q.auc.map_or("-".into(), |a| format!("{a:.4}")),
            q.log_loss,
            q.baseline_log_loss,
            q.calibration.ece,
            q.calibration.mean_predicted,
            q.calibration.mean_observed
        ));
    }
    s
}

fn reliability(q: &HeadQuality) -> String {
    let mut s = format!("reliability of {} (10 equal-mass bins: predicted → observed)\n", q.head);
    for b in &q.calibration.bins {
        s.push_str(&format!("  {:.4} → {:.4}  ({} impressions)\n", b.predicted, b.observed, b.count));
    }
    s
}

pub fn train(data_dir: &Path, args: &TrainRankingArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (retrieval_dir, model_dir) = dirs(data_dir, &args.retrieval_dir, &args.model_dir);
    let rules = load_rules(&args.rules)?;
    let Some(model_kind) = passeur_ranking::ModelKind::parse(&args.model) else {
        bail!("--model: {:?} is not gbdt or linear", args.model);
    };
    let Some(objective) = passeur_ranking::GbdtObjective::parse(&args.objective) else {
        bail!("--objective: {:?} is not binary, three-class or regression", args.objective);
    };
    let config = TrainConfig {
        seed: args.seed,
        l2: args.l2,
        max_iterations: args.max_iterations,
        valid_days: args.valid_days,
        max_examples: args.max_examples,
        model: model_kind,
        objective,
        negatives: args.negatives,
        gbdt: passeur_ranking::GbdtConfig {
            max_rounds: args.max_rounds,
            num_leaves: args.num_leaves,
            learning_rate: args.learning_rate,
            ..passeur_ranking::GbdtConfig::default()
        },
        ..TrainConfig::default()
    };
    config.validate()?;
    let data = load_data(data_dir, &retrieval_dir)?;
    let cut = cut_of(&data, &config);
    let keep = keep_share(&data, &config, cut);
    let sources = RankConfig::default().sources;
    let bar = progress::bar(data.dataset.users.len() as u64, "users");
    let built = Instant::now();
    let examples = build_examples(&data, &rules, &sources, &config, cut, keep, &|n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let held_out = examples.held_out.iter().filter(|h| **h).count();
    let sampled = examples.sampled.iter().filter(|s| **s).count();
    out!(
        "{} examples ({} training, {} held out from {}; {} of them unshown candidates), {} features, built in {:.1} s",
        examples.len(),
        examples.len() - held_out,
        held_out,
        passeur_domain::Timestamp(cut),
        sampled,
        examples.dim,
        built.elapsed().as_secs_f64()
    );
    let heads = match (model_kind, objective) {
        (passeur_ranking::ModelKind::Gbdt, passeur_ranking::GbdtObjective::Binary) => 2,
        _ => 1,
    };
    let rounds = if model_kind == passeur_ranking::ModelKind::Linear {
        indicatif::ProgressBar::hidden()
    } else {
        progress::bar((config.gbdt.max_rounds * heads) as u64, "rounds")
    };
    let (model, quality, report) = fit(&examples, &config, cut, &data.retrieval_version, &|n| rounds.inc(n as u64))?;
    rounds.finish_and_clear();
    let how = match model_kind {
        passeur_ranking::ModelKind::Linear => "linfa logistic regressions".to_owned(),
        passeur_ranking::ModelKind::Gbdt => {
            let kept: Vec<String> =
                report.rounds.iter().map(|(n, best, ran)| format!("{n}: {best} trees kept of {ran} grown")).collect();
            format!("LightGBM, objective {} ({})", args.objective, kept.join(", "))
        }
    };
    out!("fitted {how} in {:.1} s", report.seconds);
    model.save(&model_dir)?;
    out!("{}", quality_table(&quality));
    out!("{}", reliability(&quality.click));
    out!("{}", reliability(&quality.booking));
    match (&model.click, &model.booking) {
        (passeur_ranking::Head::Linear(click), passeur_ranking::Head::Linear(booking)) => {
            let mut weights: Vec<(&str, f32, f32)> = model
                .features
                .iter()
                .zip(click.weights.iter().zip(&booking.weights))
                .map(|(n, (c, b))| (n.as_str(), *c, *b))
                .collect();
            weights.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
            out!("largest p(booking) weights (standardised features): feature, p_click weight, p_booking weight");
            for (name, c, b) in weights.iter().take(12) {
                out!("  {name:<28} {c:>8.3} {b:>8.3}");
            }
        }
        _ => {
            out!(
                "feature importances (share of split gain; all of them in {}):",
                model_dir.join("importances.tsv").display()
            );
            for line in model.importance_table().lines().take(16) {
                out!("  {}", line.replace('\t', "  "));
            }
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&quality)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    out!(
        "wrote {} (version {}); total {:.1} s, peak memory {:.0} MiB",
        model_dir.join("ranking.json").display(),
        model.version,
        started.elapsed().as_secs_f64(),
        crate::retrieval::peak_memory_mib().unwrap_or(f64::NAN)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn eval(data_dir: &Path, args: &EvalRankingArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (retrieval_dir, default_dir) = dirs(data_dir, &args.retrieval_dir, &None);
    let model_dirs = if args.model_dir.is_empty() { vec![default_dir] } else { args.model_dir.clone() };
    let rules = load_rules(&args.rules)?;
    let models: Vec<RankingModel> = model_dirs
        .iter()
        .map(|d| RankingModel::load(d).with_context(|| format!("{}: run `passeur train ranking` first", d.display())))
        .collect::<Result<_>>()?;
    let data = load_data(data_dir, &retrieval_dir)?;
    let config = RankConfig {
        lambda: args.lambda,
        keep: args.keep,
        list_len: args.list_len,
        mixing: parse_mixing(&args.mixing)?,
        ..RankConfig::default()
    };
    config.validate()?;
    let eval = EvalConfig { users: args.users, seed: args.seed, lambdas: args.lambdas.clone(), cut: None };
    let mut all = Vec::new();
    for (model, dir) in models.iter().zip(&model_dirs) {
        let comparison = compare(&data, model, &rules, &config, &eval)?;
        out!("{} heads ({}, version {}):", model.kind().name(), dir.display(), model.version);
        out!("{}", format_comparison(&comparison));
        all.push(serde_json::json!({ "model_dir": dir, "model": model.kind().name(), "comparison": comparison }));
    }
    if let Some(path) = &args.json {
        let value = if all.len() == 1 { all[0]["comparison"].clone() } else { serde_json::Value::Array(all) };
        std::fs::write(path, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    out!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// `passeur bench ranking`: features, both heads, Δdiv, the objective, the cut and the mixing for
/// `candidates` offers per user, for every model of `models` on the same requests in turn, with the
/// bare retrieval dot products as the baseline.
pub fn bench(data_dir: &Path, candidates: usize, users: usize, seed: u64, models: &[PathBuf]) -> Result<ExitCode> {
    let retrieval_dir = data_dir.join("models").join("retrieval");
    let dirs: Vec<PathBuf> =
        if models.is_empty() { vec![data_dir.join("models").join("ranking")] } else { models.to_vec() };
    let models: Vec<RankingModel> = dirs
        .iter()
        .map(|d| {
            RankingModel::load(d).with_context(|| {
                format!(
                    "bench ranking needs trained models in {}: run `passeur train retrieval` and `passeur train ranking`",
                    d.display()
                )
            })
        })
        .collect::<Result<_>>()?;
    let rules = load_rules("deck")?;
    let data = load_data(data_dir, &retrieval_dir)?;
    let now = data.dataset.now.0;
    let config = RankConfig::default();
    let rankers: Vec<Ranker<'_>> = models
        .iter()
        .map(|m| Ranker::new(m, &data.table, &data.popularity, &rules, config.clone(), &data.item_vectors, data.dim))
        .collect::<std::result::Result<_, _>>()?;
    let snapshot = data.popularity.snapshot(&data.table, now, &config.sources);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = data.table.len();
    let count = candidates.min(n);
    let mut scratch = Scratch::default();
    let mut rank_us: Vec<Vec<f64>> = vec![Vec::new(); rankers.len()];
    let mut dot_us = Vec::new();
    let mut sink = 0.0f64;
    for _ in 0..users {
        let u = rng.random_range(0..data.dataset.users.len());
        let mut user = data.fresh_user(u);
        for e in &data.dataset.timelines[u] {
            user.apply(&data.table, &rules, e);
        }
        let vector: Vec<f32> = {
            let v = rng.random_range(0..n as u32);
            data.item_vector(v).to_vec()
        };
        let filters = Filters {
            near: user.home.map(|point| Near { point, radius_km: 30.0, include_digital: true }),
            ..Filters::default()
        };
        let picked = sample(&mut rng, n, count).into_vec();
        let cands: Vec<Candidate> = picked
            .iter()
            .enumerate()
            .map(|(r, &o)| Candidate {
                offer: o as u32,
                origins: vec![Origin { source: Source::Retrieval, rank: r as u32 }],
            })
            .collect();
        let request = UserRequest { user: &user, vector: Some(&vector), filters: &filters, now };
        // Baseline: the retrieval scores alone (one dot product per candidate), in the same run.
        let t = Instant::now();
        for c in &cands {
            sink += f64::from(passeur_ranking::features::dot(&vector, data.item_vector(c.offer)));
        }
        dot_us.push(t.elapsed().as_secs_f64() * 1e6);
        for (ranker, times) in rankers.iter().zip(&mut rank_us) {
            let t = Instant::now();
            let list =
                ranker.rank(&request, &cands, &snapshot, Policy::Objective { lambda: config.lambda }, &mut scratch);
            times.push(t.elapsed().as_secs_f64() * 1e6);
            sink += list.first().map_or(0.0, |r| r.score);
        }
    }
    let pct = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    };
    let base = pct(&mut dot_us, 0.5);
    out!(
        "ranking {count} candidates ({} features, 2 heads, Δdiv, objective, top {}, {:?} mixing to {}), {users} users, \
         every model on the same requests:",
        rankers[0].space().dim(),
        config.keep,
        config.mixing,
        config.list_len
    );
    out!("| model | trees | p50 ms | p99 ms | p50 / baseline |");
    out!("| --- | --- | --- | --- | --- |");
    for ((model, dir), times) in models.iter().zip(&dirs).zip(&mut rank_us) {
        let (p50, p99) = (pct(times, 0.5), pct(times, 0.99));
        let trees: usize = [&model.click, &model.booking]
            .iter()
            .map(|h| if let passeur_ranking::Head::Trees(t) = h { t.trees.len() } else { 0 })
            .sum();
        out!(
            "| {} ({}) | {trees} | {:.3} | {:.3} | {:.1}× |",
            model.kind().name(),
            dir.display(),
            p50 / 1e3,
            p99 / 1e3,
            p50 / base
        );
    }
    out!("baseline (retrieval dot products only): p50 {:.3} ms; target: p99 < 2 ms", base / 1e3);
    out!("  ({sink:.1})");
    Ok(ExitCode::SUCCESS)
}
