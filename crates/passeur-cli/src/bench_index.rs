//! `passeur bench index`: the vector index at scale (default 1 M offers × 64
//! dimensions): build time, then recall@10 against exact search, queries per
//! second and p50/p99 latency, with and without user filters, for each
//! backend and a grid of query parameters.

use anyhow::Result;
#[cfg(feature = "lancedb")]
use passeur_index::{AnnKind, LanceIndex, LanceParams};
use passeur_index::{
    ExactIndex, Filters, IndexedOffer, IvfIndex, IvfParams, Measured, Probe, VectorIndex, exact_answers, measure,
};
use passeur_synth::{Scale, World, WorldConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn gaussian(rng: &mut ChaCha8Rng, dim: usize, scale: f32) -> Vec<f32> {
    let normal = Normal::new(0.0f32, 1.0).expect("unit normal");
    (0..dim).map(|_| normal.sample(rng) * scale).collect()
}

pub fn run(data_dir: &Path, offers: usize, dim: usize, queries: usize, seed: u64, ann: &str) -> Result<ExitCode> {
    let started = Instant::now();
    let world = World::generate(WorldConfig::for_scale(Scale::Large, seed));
    let n = offers.min(world.offers.len());
    out!("world: {} offers used of {} ({:.1} s)", n, world.offers.len(), started.elapsed().as_secs_f64());
    // Item-tower-like vectors: clustered by category, then subcategory and genre.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let categories: Vec<Vec<f32>> = (0..16).map(|_| gaussian(&mut rng, dim, 1.0)).collect();
    let subcategories: Vec<Vec<f32>> = (0..80).map(|_| gaussian(&mut rng, dim, 0.7)).collect();
    let genres: Vec<Vec<f32>> = (0..64).map(|_| gaussian(&mut rng, dim, 0.5)).collect();
    let indexed: Vec<IndexedOffer> = world.offers[..n]
        .par_iter()
        .enumerate()
        .map(|(i, o)| {
            let mut r = ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let g = o
                .book_macro_section
                .map(|g| g.index())
                .or(o.music_genre.map(|g| g.index() + 35))
                .or(o.movie_genre.map(|g| g.index()))
                .unwrap_or(63)
                % 64;
            let noise = gaussian(&mut r, dim, 0.6);
            let v: Vec<f32> = (0..dim)
                .map(|d| {
                    categories[o.category().index()][d]
                        + subcategories[o.subcategory.index() % 80][d]
                        + genres[g][d]
                        + noise[d]
                })
                .collect();
            let venue = world.venue_of(o);
            IndexedOffer::of(o, venue, unit(v), r.random_range(0..200))
        })
        .collect();
    let now = world.config.end().0 - 120 * 86_400;
    let probes: Vec<(Probe, Probe)> = (0..queries)
        .map(|q| {
            let user = &world.users[rng.random_range(0..world.users.len())];
            let (a, b) = (rng.random_range(0..15), rng.random_range(0..15));
            let noise = gaussian(&mut rng, dim, 0.5);
            let v = unit((0..dim).map(|d| categories[a][d] + 0.6 * categories[b][d] + noise[d]).collect());
            let booked: Vec<String> = (0..5).map(|_| indexed[rng.random_range(0..n)].offer_id.clone()).collect();
            let filters = crate::index::user_filters(user, &booked, now, 30.0);
            let _ = q;
            (Probe { vector: v.clone(), filters: Filters::default() }, Probe { vector: v, filters })
        })
        .collect();
    let (plain, filtered): (Vec<Probe>, Vec<Probe>) = probes.into_iter().unzip();
    let mut exact = ExactIndex::new(dim);
    exact.upsert(&indexed)?;
    let truth_plain = exact_answers(&exact, &plain, 10)?;
    let truth_filtered = exact_answers(&exact, &filtered, 10)?;
    let passing: f64 =
        filtered.iter().take(20).map(|p| indexed.iter().filter(|o| p.filters.matches(o)).count() as f64).sum::<f64>()
            / 20.0f64.min(filtered.len() as f64).max(1.0);
    out!(
        "{n} offers × {dim} dimensions, {queries} queries; user filters leave {:.0} offers per query on average ({:.2} %)",
        passing,
        100.0 * passing / n as f64
    );
    let report = |m: &Measured, label: &str, baseline: Option<f64>| {
        out!(
            "{:<52} {:<12} recall@10 {:.4}  {:>7.0} q/s  p50 {:>7.2} ms  p99 {:>7.2} ms{}",
            m.backend,
            label,
            m.recall,
            m.qps,
            m.p50_us / 1e3,
            m.p99_us / 1e3,
            baseline.map(|b| format!("  ({:.1}× faster than exact)", b / m.p50_us)).unwrap_or_default()
        );
    };
    let e_plain = measure(&exact, &plain, &truth_plain, 10, 3)?;
    let e_filtered = measure(&exact, &filtered, &truth_filtered, 10, 3)?;
    report(&e_plain, "no filter", None);
    report(&e_filtered, "filtered", None);
    let run_all = |index: &dyn VectorIndex| -> Result<()> {
        let m = measure(index, &plain, &truth_plain, 10, 10)?;
        report(&m, "no filter", Some(e_plain.p50_us));
        let m = measure(index, &filtered, &truth_filtered, 10, 10)?;
        report(&m, "filtered", Some(e_filtered.p50_us));
        Ok(())
    };
    let t = Instant::now();
    let mut ivf = IvfIndex::build(dim, &indexed, IvfParams::default())?;
    out!("in-memory IVF built in {:.1} s ({} partitions)", t.elapsed().as_secs_f64(), ivf.partitions());
    // Probing alone, then with the planner that scans a selective filter's posting list exactly.
    for (nprobe, exact_below) in [(16, 0), (24, 0), (48, 0), (16, 30_000), (24, 30_000), (48, 30_000)] {
        ivf.set_nprobe(nprobe);
        ivf.set_exact_below(exact_below);
        run_all(&ivf)?;
    }
    // The tail: the slowest filtered queries at nprobe 48 with the planner, and how many offers pass them.
    ivf.set_nprobe(48);
    ivf.set_exact_below(30_000);
    let mut timed: Vec<(f64, usize)> = filtered
        .iter()
        .enumerate()
        .map(|(q, p)| {
            let t = Instant::now();
            let _ = ivf.search(&p.vector, &p.filters, 10);
            (t.elapsed().as_secs_f64() * 1e3, q)
        })
        .collect();
    timed.sort_by(|a, b| b.0.total_cmp(&a.0));
    for &(ms, q) in timed.iter().take(6) {
        let f = &filtered[q].filters;
        let passing = indexed.iter().filter(|o| f.matches(o)).count();
        out!(
            "slow filtered query {q}: {ms:.2} ms; {passing} offers pass ({:.3} %); credit {:?}, age {:?}, near {}",
            100.0 * passing as f64 / n as f64,
            f.max_price_cents,
            f.user_age,
            f.near.as_ref().map_or("none".to_owned(), |x| format!("{:.2},{:.2}", x.point.lat, x.point.lon))
        );
    }
    drop(ivf);
    #[cfg(feature = "lancedb")]
    {
        let kinds: Vec<AnnKind> = match ann {
            "ivf-pq" => vec![AnnKind::IvfPq],
            "ivf-hnsw-sq" => vec![AnnKind::IvfHnswSq],
            "none" => vec![],
            _ => vec![AnnKind::IvfPq, AnnKind::IvfHnswSq],
        };
        for kind in kinds {
            let dir = data_dir.join("bench").join(format!("index-{kind:?}-{n}"));
            let _ = std::fs::remove_dir_all(&dir);
            let t = Instant::now();
            let params = LanceParams { ann: kind, exact_below: 0, ..LanceParams::default() };
            let mut lance = LanceIndex::build(&dir, dim, &indexed, params)?;
            out!("LanceDB {kind:?} built in {:.1} s", t.elapsed().as_secs_f64());
            let grid: &[(usize, u32, usize)] = match kind {
                AnnKind::IvfPq => &[(16, 10, 0), (32, 10, 0), (64, 20, 0)],
                AnnKind::IvfHnswSq => &[(8, 0, 64), (16, 0, 128), (32, 0, 256)],
            };
            for &(nprobes, refine, ef) in grid {
                lance.set_query_params(nprobes, refine, ef.max(1));
                run_all(&lance)?;
            }
        }
    }
    #[cfg(not(feature = "lancedb"))]
    if ann != "none" {
        out!("LanceDB ({ann}) skipped: this passeur was built without the `lancedb` feature");
    }
    #[cfg(not(feature = "lancedb"))]
    let _ = data_dir;
    out!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
