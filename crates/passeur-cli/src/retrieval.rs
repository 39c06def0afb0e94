//! `passeur train retrieval`, `passeur eval retrieval`, `passeur map items`
//! and `passeur dataset movielens`.

use crate::progress;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use passeur_retrieval::bundle::{BundleMeta, check_same_ids, load_bundle, save_bundle};
use passeur_retrieval::report::{Target, evaluate_split, format_report};
use passeur_retrieval::train::{Progress, train, training_catalogue};
use passeur_retrieval::tsne::{TsneConfig, scatter_svg, tsne};
use passeur_retrieval::{Dataset, HistoryMode, ModelConfig, Positives, Split, SplitKind, TrainConfig};
use passeur_store::{RecordStore, SqliteStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `passeur train ...`
#[derive(Debug, clap::Subcommand)]
pub enum TrainCommand {
    /// Trains the two-tower retrieval model on the record store's interactions.
    Retrieval(Box<TrainRetrievalArgs>),
    /// Trains p(click) and p(booking) on the impression logs (needs a trained retrieval model).
    Ranking(Box<crate::ranking::TrainRankingArgs>),
}

/// `passeur eval ...`
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Evaluates a trained two-tower on the held-out test events against baselines.
    Retrieval(EvalRetrievalArgs),
    /// Compares orderings (retrieval only, p(click) + p(booking), the Δdiv objective at several λ) on the held-out period.
    Ranking(crate::ranking::EvalRankingArgs),
}

/// `passeur dataset ...`
#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// Converts MovieLens (RecBole's atomic files, fetched by scripts/fetch-assets.sh) into importable files.
    Movielens(MovieLensArgs),
}

/// `passeur map ...`
#[derive(Debug, clap::Subcommand)]
pub enum MapCommand {
    /// A t-SNE map of a trained model's item vectors, coloured by category, as SVG.
    Items(MapItemsArgs),
}

/// Arguments of `passeur train retrieval`.
#[derive(Debug, clap::Args)]
pub struct TrainRetrievalArgs {
    /// Where the model is written (default: DATA_DIR/models/retrieval).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// chronological (each user's last events held out) or random (RecBole's per-user 80/10/10 shuffle).
    #[arg(long, default_value = "chronological")]
    split: String,
    /// Seed of the random split.
    #[arg(long, default_value_t = 2020)]
    split_seed: u64,
    /// Training positives: a comma-separated list of consultation, favourite, booking.
    #[arg(long, default_value = "consultation")]
    positives: String,
    /// Text embeddings to use: auto (the model that embedded the most offers, if any), none, a model id, or
    /// a model's folder name (e.g. multilingual-e5-small).
    #[arg(long, default_value = "auto")]
    text_model: String,
    /// Output dimension.
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// Hidden width of each tower.
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    /// User id embedding dimension (0: off).
    #[arg(long, default_value_t = 32)]
    user_id_dim: usize,
    /// Item id embedding dimension (0: off).
    #[arg(long, default_value_t = 32)]
    item_id_dim: usize,
    /// Learned history embedding dimension (0: off).
    #[arg(long, default_value_t = 32)]
    history_id_dim: usize,
    /// Events in the user's history summary.
    #[arg(long, default_value_t = 30)]
    history_len: usize,
    /// How examples draw history: before (events before the example) or others (a draw of the user's other events).
    #[arg(long, default_value = "before")]
    history_mode: String,
    /// Softmax temperature.
    #[arg(long, default_value_t = 0.07)]
    temperature: f64,
    /// Turns the logQ popularity correction off.
    #[arg(long)]
    no_logq: bool,
    /// Most epochs.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Examples per step (and in-batch negatives).
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Learning rate of the dense layers.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Learning rate of the id tables.
    #[arg(long, default_value_t = 1e-2)]
    sparse_lr: f64,
    /// Probability of hiding an item's id during training (teaches the content path for new offers).
    #[arg(long, default_value_t = 0.2)]
    item_id_dropout: f64,
    /// Epochs without validation progress before stopping.
    #[arg(long, default_value_t = 2)]
    patience: usize,
    /// Seed of initialisation and shuffles.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// After training, evaluate on the test events (as `passeur eval retrieval` does).
    #[arg(long)]
    eval: bool,
}

/// Arguments of `passeur eval retrieval`.
#[derive(Debug, clap::Args)]
pub struct EvalRetrievalArgs {
    /// The trained model (default: DATA_DIR/models/retrieval).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Held-out events that count: bookings, clicks, all (comma-separated).
    #[arg(long, default_value = "bookings,clicks")]
    targets: String,
    /// Cut-offs.
    #[arg(long, value_delimiter = ',', default_value = "10,50,150,500")]
    k: Vec<usize>,
    /// Writes the report as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Prints RecBole's published MovieLens-100K figures for BPR beside the table.
    #[arg(long)]
    recbole_reference: bool,
}

/// Arguments of `passeur dataset movielens`.
#[derive(Debug, clap::Args)]
pub struct MovieLensArgs {
    /// The folder of RecBole's atomic files.
    #[arg(long, default_value = "data/datasets/ml-100k")]
    from: PathBuf,
    /// Dataset name (file prefix).
    #[arg(long, default_value = "ml-100k")]
    name: String,
    /// Output folder for offers, users and interactions files.
    #[arg(long, short)]
    out: PathBuf,
    /// csv, jsonl or parquet.
    #[arg(long, default_value = "parquet")]
    format: String,
}

/// Arguments of `passeur map items`.
#[derive(Debug, clap::Args)]
pub struct MapItemsArgs {
    /// The trained model (default: DATA_DIR/models/retrieval).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Items mapped (a seeded sample).
    #[arg(long, default_value_t = 2000)]
    sample: usize,
    /// Output SVG.
    #[arg(long, short, default_value = "item-map.svg")]
    out: PathBuf,
    /// t-SNE iterations.
    #[arg(long, default_value_t = 750)]
    iterations: usize,
    /// Seed of the sample and layout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn open_store(data_dir: &Path) -> Result<SqliteStore> {
    if !data_dir.join(SqliteStore::FILE_NAME).exists() {
        bail!("no record store in {}; run `passeur import` or `passeur demo` first", data_dir.display());
    }
    Ok(SqliteStore::open(data_dir)?)
}

fn model_dir(data_dir: &Path, given: &Option<PathBuf>) -> PathBuf {
    given.clone().unwrap_or_else(|| data_dir.join("models").join("retrieval"))
}

/// Peak resident memory of this process, in MiB (Linux), if known.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn text_model(store: &SqliteStore, wanted: &str) -> Result<Option<String>> {
    Ok(match wanted {
        "none" => None,
        "auto" => store.embedding_models()?.into_iter().max_by_key(|(_, n)| *n).map(|(m, _)| m),
        // A model id, or its folder name alone (`multilingual-e5-small` for `multilingual-e5-small@…`).
        wanted => {
            let models = store.embedding_models()?;
            let found = models
                .iter()
                .filter(|(m, _)| m == wanted || m.split('@').next() == Some(wanted))
                .max_by_key(|(_, n)| *n)
                .map(|(m, _)| m.clone());
            match found {
                Some(m) => Some(m),
                None => bail!(
                    "--text-model {wanted:?}: no such embeddings in the store (it has: {}); run `passeur embed --model-dir …`",
                    if models.is_empty() {
                        "none".to_owned()
                    } else {
                        models.iter().map(|(m, n)| format!("{m} ({n} offers)")).collect::<Vec<_>>().join(", ")
                    }
                ),
            }
        }
    })
}

pub fn train_command(data_dir: &Path, command: TrainCommand) -> Result<ExitCode> {
    match command {
        TrainCommand::Retrieval(args) => train_retrieval(data_dir, &args),
        TrainCommand::Ranking(args) => crate::ranking::train(data_dir, &args),
    }
}

pub fn eval_command(data_dir: &Path, command: EvalCommand) -> Result<ExitCode> {
    match command {
        EvalCommand::Retrieval(args) => eval_retrieval(data_dir, &args),
        EvalCommand::Ranking(args) => crate::ranking::eval(data_dir, &args),
    }
}

fn parse_split(name: &str, seed: u64) -> Result<SplitKind> {
    Ok(match name {
        "chronological" => SplitKind::Chronological,
        "random" => SplitKind::Random { seed },
        other => bail!("--split: unknown split {other:?} (chronological or random)"),
    })
}

fn train_retrieval(data_dir: &Path, args: &TrainRetrievalArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let store = open_store(data_dir)?;
    let history_mode = match args.history_mode.as_str() {
        "before" => HistoryMode::Before,
        "others" => HistoryMode::Others,
        other => bail!("--history-mode: unknown mode {other:?} (before or others)"),
    };
    let model_config = ModelConfig {
        dim: args.dim,
        hidden: args.hidden,
        user_id_dim: args.user_id_dim,
        item_id_dim: args.item_id_dim,
        history_id_dim: args.history_id_dim,
        history_len: args.history_len,
        history_mode,
        temperature: args.temperature,
        logq_correction: !args.no_logq,
        ..ModelConfig::default()
    };
    let train_config = TrainConfig {
        seed: args.seed,
        max_epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        sparse_learning_rate: args.sparse_lr,
        item_id_dropout: args.item_id_dropout,
        patience: args.patience,
        positives: Positives::parse(&args.positives)?,
        ..TrainConfig::default()
    };
    model_config.validate()?;
    train_config.validate()?;
    let text = text_model(&store, &args.text_model)?;
    let split_kind = parse_split(&args.split, args.split_seed)?;
    let dataset = Dataset::from_store(&store, text.as_deref(), model_config.artist_buckets, None)?;
    let split = Split::new(&dataset, split_kind);
    out!(
        "{} offers ({}), {} users, {} events; split {:?}",
        dataset.catalogue.len(),
        match &text {
            Some(m) => format!("text embeddings of {m}, {} dimensions", dataset.catalogue.text_dim),
            None => "no text embeddings".to_owned(),
        },
        dataset.users.len(),
        dataset.events(),
        split_kind
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>22} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let train_started = Instant::now();
    let (model, catalogue, report) = train(&dataset, &split, model_config, &train_config, &mut |p| match p {
        Progress::Step { epoch, step, steps, loss } => {
            if step == 1 {
                bar.set_length(steps as u64);
                bar.reset_eta();
            }
            bar.set_position(step as u64);
            if step % 10 == 0 || step == steps {
                bar.set_message(format!("epoch {epoch} loss {loss:.4}"));
            }
        }
        Progress::Epoch { epoch, loss, valid_ndcg } => {
            let line =
                format!("epoch {epoch}: loss {loss:.4}, validation NDCG@{} {valid_ndcg:.4}", train_config.valid_k);
            if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
        }
    })?;
    bar.finish_and_clear();
    let train_seconds = train_started.elapsed().as_secs_f64();
    let throughput =
        report.epochs.iter().map(|e| e.examples_per_second).sum::<f64>() / report.epochs.len().max(1) as f64;
    let dir = model_dir(data_dir, &args.model_dir);
    let meta = BundleMeta {
        offer_ids: catalogue.offer_ids.clone(),
        user_ids: dataset.users.iter().map(|u| u.id.clone()).collect(),
        departments: dataset.departments.clone(),
        split: split_kind,
        text_model: text.clone(),
        train: train_config.clone(),
        report: report.clone(),
        version: format!("two-tower-{}-seed{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), train_config.seed),
    };
    save_bundle(&dir, &model, &catalogue, &dataset, &meta)?;
    out!(
        "trained {} parameters on {} examples from {} users: best epoch {} of {}, {:.0} examples/s, {:.1} s training, peak memory {:.0} MiB",
        report.parameters,
        report.examples,
        report.users,
        report.best_epoch,
        report.epochs.len(),
        throughput,
        train_seconds,
        peak_memory_mib().unwrap_or(f64::NAN)
    );
    out!("wrote {} (model, bundle.json, item_vectors.parquet, user_vectors.parquet)", dir.display());
    if args.eval {
        let targets = match split_kind {
            SplitKind::Chronological => vec![Target::Bookings, Target::Clicks],
            SplitKind::Random { .. } => vec![Target::All],
        };
        let eval = evaluate_split(&dataset, &split, Some((&model, &catalogue)), &targets, &[10, 50, 150, 500], 7)?;
        out!("{}", format_report(&eval, &[]));
    }
    out!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// A trained retrieval model, the store's dataset aligned on its id tables, its split and the catalogue
/// it was trained on (what evaluating it needs).
pub struct TrainedRetrieval {
    pub model: passeur_retrieval::TwoTower,
    pub meta: passeur_retrieval::bundle::BundleMeta,
    pub dataset: Dataset,
    pub split: Split,
    pub catalogue: passeur_retrieval::Catalogue,
}

/// Loads the model in `dir` and the dataset of `store` it was trained on.
pub fn load_trained(store: &SqliteStore, dir: &Path) -> Result<TrainedRetrieval> {
    let (model, meta) = load_bundle(dir)
        .with_context(|| format!("loading the model in {} (run `passeur train retrieval` first)", dir.display()))?;
    let dataset = Dataset::from_store(
        store,
        meta.text_model.as_deref(),
        model.config.artist_buckets,
        Some(meta.departments.clone()),
    )?;
    check_same_ids(&meta, &dataset)?;
    let split = Split::new(&dataset, meta.split);
    let catalogue = training_catalogue(&dataset, &split);
    Ok(TrainedRetrieval { model, meta, dataset, split, catalogue })
}

fn eval_retrieval(data_dir: &Path, args: &EvalRetrievalArgs) -> Result<ExitCode> {
    let store = open_store(data_dir)?;
    let dir = model_dir(data_dir, &args.model_dir);
    let TrainedRetrieval { model, meta, dataset, split, catalogue } = load_trained(&store, &dir)?;
    let mut targets = Vec::new();
    for t in args.targets.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        targets.push(match t {
            "bookings" => Target::Bookings,
            "clicks" => Target::Clicks,
            "all" => Target::All,
            other => bail!("--targets: unknown target {other:?} (bookings, clicks or all)"),
        });
    }
    if args.k.is_empty() || args.k.contains(&0) {
        bail!("--k: cut-offs must be positive");
    }
    let started = Instant::now();
    let report = evaluate_split(&dataset, &split, Some((&model, &catalogue)), &targets, &args.k, 7)?;
    let published: &[(&str, &str, f64)] = if args.recbole_reference {
        &[("BPR (RecBole)", "recall@10", 0.2368), ("BPR (RecBole)", "ndcg@10", 0.2768)]
    } else {
        &[]
    };
    out!("model {} ({:?} split, trained {} epochs)", meta.version, meta.split, meta.report.best_epoch);
    out!("{}", format_report(&report, published));
    out!("evaluated in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn dataset_command(command: DatasetCommand) -> Result<ExitCode> {
    match command {
        DatasetCommand::Movielens(args) => {
            if !matches!(args.format.as_str(), "csv" | "jsonl" | "parquet") {
                bail!("--format: unknown format {:?} (csv, jsonl or parquet)", args.format);
            }
            if !args.from.join(format!("{}.inter", args.name)).exists() {
                bail!(
                    "{} has no {}.inter; run scripts/fetch-assets.sh (it unpacks MovieLens from the recbole wheel)",
                    args.from.display(),
                    args.name
                );
            }
            let report = passeur_io::convert_movielens(&args.from, &args.name, &args.out, &args.format)?;
            out!(
                "wrote {} offers, {} users, {} interactions to {}; import them with `passeur --data-dir DIR import {}/*.{}`",
                report.offers,
                report.users,
                report.interactions,
                args.out.display(),
                args.out.display(),
                args.format
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn map_command(data_dir: &Path, command: MapCommand) -> Result<ExitCode> {
    let MapCommand::Items(args) = command;
    let dir = model_dir(data_dir, &args.model_dir);
    let (_, meta) = load_bundle(&dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    let store = open_store(data_dir)?;
    let (ids, vectors, dim) = passeur_retrieval::bundle::read_vectors(&dir.join("item_vectors.parquet"))?;
    let mut category_of = std::collections::HashMap::new();
    store.scan_offers(&mut |o| {
        category_of.insert(o.id.clone(), o.category());
        Ok(())
    })?;
    let mut order: Vec<usize> = (0..ids.len()).collect();
    {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
        order.shuffle(&mut rng);
    }
    order.truncate(args.sample);
    order.sort_unstable();
    let names: Vec<String> =
        passeur_domain::CategoryId::all().map(|c| format!("{} ({})", c.label(), c.canonical())).collect();
    let mut points = Vec::with_capacity(order.len() * dim);
    let mut labels = Vec::with_capacity(order.len());
    for &i in &order {
        points.extend_from_slice(&vectors[i * dim..(i + 1) * dim]);
        labels.push(category_of.get(&ids[i]).map_or(0, |c| c.index()));
    }
    let bar = progress::spinner("t-SNE");
    let started = Instant::now();
    let layout =
        tsne(&points, dim, TsneConfig { iterations: args.iterations, seed: args.seed, ..TsneConfig::default() });
    bar.finish_and_clear();
    let title = format!("Item vectors of {} ({} offers, t-SNE)", meta.version, order.len());
    std::fs::write(&args.out, scatter_svg(&layout, &labels, &names, &title))
        .with_context(|| format!("writing {}", args.out.display()))?;
    let n = layout.len();
    let agree = (0..n)
        .filter(|&i| {
            let d = |j: usize| (layout[i][0] - layout[j][0]).powi(2) + (layout[i][1] - layout[j][1]).powi(2);
            (0..n).filter(|&j| j != i).min_by(|&a, &b| d(a).total_cmp(&d(b))).is_some_and(|j| labels[j] == labels[i])
        })
        .count();
    let mut shares = vec![0usize; names.len()];
    labels.iter().for_each(|&l| shares[l] += 1);
    let chance: f64 = shares.iter().map(|&c| (c as f64 / n.max(1) as f64).powi(2)).sum();
    out!(
        "wrote {} ({} points) in {:.1} s; {:.1} % of points have a nearest neighbour on the map of their own category (chance: {:.1} %)",
        args.out.display(),
        n,
        started.elapsed().as_secs_f64(),
        100.0 * agree as f64 / n.max(1) as f64,
        100.0 * chance
    );
    Ok(ExitCode::SUCCESS)
}
