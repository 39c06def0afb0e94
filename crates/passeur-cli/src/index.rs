//! `passeur index build|optimize|eval|query`: the vector index of offers.
//!
//! `build` and `optimize` manage the LanceDB table and need the `lancedb` feature; without it, `eval`
//! measures the in-memory backends and `query` answers from an in-memory IVF built on the spot (the
//! service's own index).

use anyhow::{Context, Result, bail};
use passeur_domain::{InteractionKind, Offer, User, Venue};
use passeur_index::playlist::{PlaylistConfig, PlaylistContext, build};
#[cfg(feature = "lancedb")]
use passeur_index::{AnnKind, LanceIndex, LanceParams};
use passeur_index::{
    ExactIndex, Filters, IndexedOffer, IvfIndex, IvfParams, Probe, VectorIndex, exact_answers, measure,
};
use passeur_retrieval::bundle::read_vectors;
use passeur_store::{RecordStore, SqliteStore};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `passeur index ...`
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Builds the LanceDB index from the trained model's item vectors and the store's offers.
    Build(BuildArgs),
    /// Compacts the table and folds new rows into the vector index.
    Optimize(CommonArgs),
    /// Recall@10 and @100 against exact search with the same filters, and latency percentiles.
    Eval(EvalArgs),
    /// Recommendations and playlists for a user, from the index.
    Query(QueryArgs),
}

/// Where the model and index are.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// The trained retrieval model (default: DATA_DIR/models/retrieval).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// The LanceDB directory (default: DATA_DIR/index).
    #[arg(long)]
    index_dir: Option<PathBuf>,
}

/// Arguments of `passeur index build`.
#[derive(Debug, clap::Args)]
#[cfg_attr(not(feature = "lancedb"), allow(dead_code))]
pub struct BuildArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// ivf-pq or ivf-hnsw-sq.
    #[arg(long, default_value = "ivf-pq")]
    ann: String,
    /// Below this many offers, no vector index: exact search.
    #[arg(long, default_value_t = 20_000)]
    exact_below: usize,
}

/// Arguments of `passeur index eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Users sampled as queries.
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Radius of the "near" filter, km.
    #[arg(long, default_value_t = 30.0)]
    radius_km: f64,
    /// Seed of the sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Partitions probed by LanceDB (at least).
    #[arg(long, default_value_t = 32)]
    nprobes: usize,
    /// PQ refinement factor.
    #[arg(long, default_value_t = 10)]
    refine_factor: u32,
}

/// Arguments of `passeur index query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The user.
    #[arg(long)]
    user: String,
    /// An offer, for the "similar" playlist.
    #[arg(long)]
    offer: Option<String>,
    /// A playlists file (default: the built-in playlists).
    #[arg(long)]
    playlists: Option<PathBuf>,
    /// Radius around the user's home, km.
    #[arg(long, default_value_t = 30.0)]
    radius_km: f64,
}

fn dirs(data_dir: &Path, common: &CommonArgs) -> (PathBuf, PathBuf) {
    (
        common.model_dir.clone().unwrap_or_else(|| data_dir.join("models").join("retrieval")),
        common.index_dir.clone().unwrap_or_else(|| data_dir.join("index")),
    )
}

fn open_store(data_dir: &Path) -> Result<SqliteStore> {
    if !data_dir.join(SqliteStore::FILE_NAME).exists() {
        bail!("no record store in {}; run `passeur import` or `passeur demo` first", data_dir.display());
    }
    Ok(SqliteStore::open(data_dir)?)
}

/// Everything needed to index and query: offers with their vectors, users, bookings.
pub struct Catalogue {
    /// Offers in the index form.
    pub offers: Vec<IndexedOffer>,
    /// Vector dimension.
    pub dim: usize,
    /// User vectors by user id.
    pub user_vectors: FxHashMap<String, Vec<f32>>,
    /// Users by id.
    pub users: FxHashMap<String, User>,
    /// Offers booked by each user.
    pub booked: FxHashMap<String, Vec<String>>,
    /// The latest event instant: "now" for the data set.
    pub now: i64,
}

/// Reads the model's vectors and the store.
pub fn load_catalogue(store: &SqliteStore, model_dir: &Path) -> Result<Catalogue> {
    let (ids, vectors, dim) = read_vectors(&model_dir.join("item_vectors.parquet")).with_context(|| {
        format!("reading the item vectors in {}; run `passeur train retrieval`", model_dir.display())
    })?;
    let vector_of: FxHashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let (uids, uvectors, _) = read_vectors(&model_dir.join("user_vectors.parquet"))?;
    let user_vectors =
        uids.into_iter().enumerate().map(|(i, id)| (id, uvectors[i * dim..(i + 1) * dim].to_vec())).collect();
    let mut venues: FxHashMap<String, Venue> = FxHashMap::default();
    store.scan_venues(&mut |v| {
        venues.insert(v.id.clone(), v);
        Ok(())
    })?;
    let mut popularity: FxHashMap<String, i64> = FxHashMap::default();
    let mut booked: FxHashMap<String, Vec<String>> = FxHashMap::default();
    let mut now = 0;
    store.scan_interactions(&mut |i| {
        now = now.max(i.at.0);
        if let InteractionKind::Booking { .. } = i.kind {
            *popularity.entry(i.offer_id.clone()).or_default() += 1;
            booked.entry(i.user_id).or_default().push(i.offer_id);
        }
        Ok(())
    })?;
    let mut offers = Vec::new();
    let mut missing = 0usize;
    store.scan_offers(&mut |o: Offer| {
        match vector_of.get(o.id.as_str()) {
            Some(&i) => {
                let venue = o.venue_id.as_ref().and_then(|v| venues.get(v));
                let pop = popularity.get(&o.id).copied().unwrap_or(0);
                offers.push(IndexedOffer::of(&o, venue, vectors[i * dim..(i + 1) * dim].to_vec(), pop));
            }
            None => missing += 1,
        }
        Ok(())
    })?;
    if missing > 0 {
        tracing::warn!(
            "{missing} offers have no vector (added after training): retrain, or let the service embed them"
        );
    }
    let mut users = FxHashMap::default();
    store.scan_users(&mut |u| {
        users.insert(u.id.clone(), u);
        Ok(())
    })?;
    Ok(Catalogue { offers, dim, user_vectors, users, booked, now })
}

/// A user's filters: credit, bookable now, not booked yet, near home or digital, age.
pub fn user_filters(user: &User, booked: &[String], now: i64, radius_km: f64) -> Filters {
    Filters::for_user(user, booked, now, radius_km)
}

#[cfg(feature = "lancedb")]
fn lance_params(ann: &str, exact_below: usize) -> Result<LanceParams> {
    let ann = match ann {
        "ivf-pq" => AnnKind::IvfPq,
        "ivf-hnsw-sq" => AnnKind::IvfHnswSq,
        other => bail!("--ann: unknown index {other:?} (ivf-pq or ivf-hnsw-sq)"),
    };
    Ok(LanceParams { ann, exact_below, ..LanceParams::default() })
}

pub fn run(data_dir: &Path, command: IndexCommand) -> Result<ExitCode> {
    match command {
        #[cfg(feature = "lancedb")]
        IndexCommand::Build(args) => {
            let (model_dir, index_dir) = dirs(data_dir, &args.common);
            let store = open_store(data_dir)?;
            let catalogue = load_catalogue(&store, &model_dir)?;
            let started = Instant::now();
            let index = LanceIndex::build(
                &index_dir,
                catalogue.dim,
                &catalogue.offers,
                lance_params(&args.ann, args.exact_below)?,
            )?;
            out!(
                "indexed {} offers ({} dimensions) in {} with {} in {:.1} s",
                index.len()?,
                catalogue.dim,
                index_dir.display(),
                index.name(),
                started.elapsed().as_secs_f64()
            );
        }
        #[cfg(feature = "lancedb")]
        IndexCommand::Optimize(common) => {
            let (model_dir, index_dir) = dirs(data_dir, &common);
            let (_, _, dim) = read_vectors(&model_dir.join("item_vectors.parquet"))?;
            let mut index = LanceIndex::open(&index_dir, dim, LanceParams::default())?;
            let started = Instant::now();
            index.optimize()?;
            out!(
                "optimised {} ({} offers) in {:.1} s",
                index_dir.display(),
                index.len()?,
                started.elapsed().as_secs_f64()
            );
        }
        #[cfg(not(feature = "lancedb"))]
        IndexCommand::Build(_) | IndexCommand::Optimize(_) => bail!(
            "this passeur was built without LanceDB: `passeur serve` answers from its in-memory IVF and needs no \
             index build; for the LanceDB index, build with `cargo build --release -p passeur-cli --features lancedb`"
        ),
        IndexCommand::Eval(args) => eval(data_dir, &args)?,
        IndexCommand::Query(args) => query(data_dir, &args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_measured(m: &passeur_index::Measured, label: &str) {
    out!(
        "{:<44} {:<22} k={:<4} recall {:.4}  {:>7.0} q/s  p50 {:>8.0} µs  p99 {:>8.0} µs",
        m.backend,
        label,
        m.k,
        m.recall,
        m.qps,
        m.p50_us,
        m.p99_us
    );
}

fn eval(data_dir: &Path, args: &EvalArgs) -> Result<()> {
    let (model_dir, index_dir) = dirs(data_dir, &args.common);
    let store = open_store(data_dir)?;
    let catalogue = load_catalogue(&store, &model_dir)?;
    #[cfg(feature = "lancedb")]
    let lance = {
        let mut lance = LanceIndex::open(&index_dir, catalogue.dim, LanceParams::default())?;
        if lance.len()? != catalogue.offers.len() {
            bail!(
                "the index holds {} offers, the catalogue {}: run `passeur index build`",
                lance.len()?,
                catalogue.offers.len()
            );
        }
        lance.set_query_params(args.nprobes, args.refine_factor, 128);
        lance
    };
    #[cfg(not(feature = "lancedb"))]
    let _ = (&index_dir, args.nprobes, args.refine_factor);
    let mut exact = ExactIndex::new(catalogue.dim);
    exact.upsert(&catalogue.offers)?;
    let ivf = IvfIndex::build(catalogue.dim, &catalogue.offers, IvfParams::default())?;
    let mut users: Vec<&String> = catalogue.user_vectors.keys().collect();
    users.sort();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    users.shuffle(&mut rng);
    users.truncate(args.queries);
    let no_booked = Vec::new();
    let mut plain = Vec::new();
    let mut filtered = Vec::new();
    for id in users {
        let vector = catalogue.user_vectors[id].clone();
        let user = &catalogue.users[id];
        let booked = catalogue.booked.get(id).unwrap_or(&no_booked);
        plain.push(Probe { vector: vector.clone(), filters: Filters::default() });
        filtered.push(Probe { vector, filters: user_filters(user, booked, catalogue.now, args.radius_km) });
    }
    out!(
        "{} offers, {} queries; filters: credit, bookable now, not booked, {} km or digital, age",
        catalogue.offers.len(),
        plain.len(),
        args.radius_km
    );
    for k in [10, 100] {
        for (label, probes) in [("no filter", &plain), ("user filters", &filtered)] {
            let truth = exact_answers(&exact, probes, k)?;
            #[cfg(feature = "lancedb")]
            let backends = [&exact as &dyn VectorIndex, &lance, &ivf];
            #[cfg(not(feature = "lancedb"))]
            let backends = [&exact as &dyn VectorIndex, &ivf];
            for index in backends {
                print_measured(&measure(index, probes, &truth, k, 10)?, label);
            }
        }
    }
    Ok(())
}

fn query(data_dir: &Path, args: &QueryArgs) -> Result<()> {
    let (model_dir, index_dir) = dirs(data_dir, &args.common);
    let store = open_store(data_dir)?;
    let catalogue = load_catalogue(&store, &model_dir)?;
    #[cfg(feature = "lancedb")]
    let index: Box<dyn VectorIndex> = Box::new(LanceIndex::open(&index_dir, catalogue.dim, LanceParams::default())?);
    #[cfg(not(feature = "lancedb"))]
    let index: Box<dyn VectorIndex> = {
        let _ = &index_dir;
        Box::new(IvfIndex::build(catalogue.dim, &catalogue.offers, IvfParams::default())?)
    };
    let Some(user) = catalogue.users.get(&args.user) else { bail!("--user: unknown user {:?}", args.user) };
    let Some(vector) = catalogue.user_vectors.get(&args.user) else {
        bail!("--user: {} has no vector; retrain", args.user)
    };
    let config = match &args.playlists {
        Some(path) => PlaylistConfig::load(path)?,
        None => PlaylistConfig::builtin(),
    };
    let seed = match &args.offer {
        Some(id) => Some(
            catalogue
                .offers
                .iter()
                .find(|o| o.offer_id == *id)
                .with_context(|| format!("--offer: unknown or unindexed offer {id:?}"))?,
        ),
        None => None,
    };
    let booked = catalogue.booked.get(&args.user).cloned().unwrap_or_default();
    let ctx = PlaylistContext {
        user_vector: Some(vector),
        seed_offer: seed.map(|o| (o.offer_id.as_str(), o.item_id.as_str(), o.vector.as_slice())),
        filters: user_filters(user, &booked, catalogue.now, args.radius_km),
        now: catalogue.now,
        department: Some(user.department.clone()),
        location: user.home,
    };
    let titles: FxHashMap<String, String> = {
        let mut t = FxHashMap::default();
        store.scan_offers(&mut |o| {
            t.insert(o.id.clone(), o.title);
            Ok(())
        })?;
        t
    };
    for spec in &config.playlist {
        let started = Instant::now();
        let Some(list) = build(index.as_ref(), spec, &ctx)? else { continue };
        out!(
            "{} — {} ({} offers, {:.1} ms)",
            list.name,
            list.title,
            list.hits.len(),
            started.elapsed().as_secs_f64() * 1e3
        );
        for h in list.hits {
            let distance = match (user.home, h.location) {
                (Some(a), Some(b)) => format!("{:.1} km", a.distance_km(b)),
                _ => "online".into(),
            };
            out!(
                "  {:.3}  {:<14} {:<28} {:>9}  {}",
                h.score,
                h.category,
                h.offer_id,
                distance,
                titles.get(&h.offer_id).map_or("", String::as_str)
            );
        }
    }
    Ok(())
}
