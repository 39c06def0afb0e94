//! Offline evaluation: full ranking over the catalogue with seen offers
//! excluded, recall/precision/NDCG/hit-rate at k, catalogue coverage and
//! novelty, and the baselines measured on the same split.

use crate::error::Result;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Users to evaluate: their relevant held-out offers and the offers to leave out of their ranking.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// User indices (slot `i` of the scorer is `users[i]`).
    pub users: Vec<u32>,
    /// Relevant offers per user, sorted, deduplicated.
    pub relevant: Vec<Vec<u32>>,
    /// Offers left out of each user's ranking (already seen), sorted.
    pub exclude: Vec<Vec<u32>>,
}

impl Task {
    /// A task; users without a relevant offer are dropped.
    pub fn new(users: Vec<u32>, relevant: Vec<Vec<u32>>, exclude: Vec<Vec<u32>>) -> Task {
        let mut task = Task::default();
        for ((u, mut r), mut e) in users.into_iter().zip(relevant).zip(exclude) {
            r.sort_unstable();
            r.dedup();
            e.sort_unstable();
            e.dedup();
            r.retain(|o| e.binary_search(o).is_err());
            if !r.is_empty() {
                task.users.push(u);
                task.relevant.push(r);
                task.exclude.push(e);
            }
        }
        task
    }
}

/// Anything that scores every offer for a task's users.
pub trait Scorer: Sync {
    /// Writes the scores of slots `slots` (row-major: one row of `items` scores per slot).
    fn score(&self, slots: Range<usize>, items: usize, out: &mut [f32]) -> Result<()>;
}

/// Scores by dot product of user and item vectors.
pub struct VectorScorer {
    users: Tensor,
    items_t: Tensor,
}

impl VectorScorer {
    /// From row-major user vectors (one per slot) and item vectors.
    pub fn new(users: Vec<f32>, items: Vec<f32>, dim: usize) -> Result<VectorScorer> {
        let n_users = users.len() / dim;
        let n_items = items.len() / dim;
        let users = Tensor::from_vec(users, (n_users, dim), &Device::Cpu)?;
        let items_t = Tensor::from_vec(items, (n_items, dim), &Device::Cpu)?.t()?.contiguous()?;
        Ok(VectorScorer { users, items_t })
    }
}

impl Scorer for VectorScorer {
    fn score(&self, slots: Range<usize>, _items: usize, out: &mut [f32]) -> Result<()> {
        let block = self.users.narrow(0, slots.start, slots.len())?.matmul(&self.items_t)?;
        out.copy_from_slice(&block.flatten_all()?.to_vec1::<f32>()?);
        Ok(())
    }
}

/// The same scores for everyone (most popular, recent trends).
pub struct StaticScorer(pub Vec<f32>);

impl Scorer for StaticScorer {
    fn score(&self, slots: Range<usize>, items: usize, out: &mut [f32]) -> Result<()> {
        for row in out.chunks_mut(items).take(slots.len()) {
            row.copy_from_slice(&self.0);
        }
        Ok(())
    }
}

/// Uniformly random scores, seeded per user.
pub struct RandomScorer {
    /// Seed.
    pub seed: u64,
}

impl Scorer for RandomScorer {
    fn score(&self, slots: Range<usize>, items: usize, out: &mut [f32]) -> Result<()> {
        for (slot, row) in slots.zip(out.chunks_mut(items)) {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            row.iter_mut().for_each(|x| *x = rng.random());
        }
        Ok(())
    }
}

/// Item-based collaborative filtering: cosine similarity of co-occurrence, top neighbours per item.
pub struct ItemKnnScorer {
    neighbours: Vec<Vec<(u32, f32)>>,
    histories: Vec<Vec<u32>>,
}

impl ItemKnnScorer {
    /// Learns neighbours from every user's context offers (`histories_all`, indexed by user) and
    /// scores the task's users from theirs (`histories`, one per slot).
    pub fn new(histories_all: &[Vec<u32>], histories: Vec<Vec<u32>>, items: usize, k: usize) -> ItemKnnScorer {
        let sets: Vec<Vec<u32>> = histories_all
            .iter()
            .map(|h| {
                let mut s = h.clone();
                s.sort_unstable();
                s.dedup();
                s
            })
            .collect();
        let mut users_of: Vec<Vec<u32>> = vec![Vec::new(); items];
        for (u, s) in sets.iter().enumerate() {
            for &i in s {
                users_of[i as usize].push(u as u32);
            }
        }
        let counts: Vec<f32> = users_of.iter().map(|u| u.len() as f32).collect();
        let neighbours = (0..items)
            .into_par_iter()
            .map_init(
                || (vec![0f32; items], Vec::<u32>::new()),
                |(acc, touched), i| {
                    for &u in &users_of[i] {
                        for &j in &sets[u as usize] {
                            if j as usize != i {
                                if acc[j as usize] == 0.0 {
                                    touched.push(j);
                                }
                                acc[j as usize] += 1.0;
                            }
                        }
                    }
                    let mut list: Vec<(u32, f32)> = touched
                        .iter()
                        .map(|&j| (j, acc[j as usize] / (counts[i] * counts[j as usize]).sqrt()))
                        .collect();
                    for &j in touched.iter() {
                        acc[j as usize] = 0.0;
                    }
                    touched.clear();
                    list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    list.truncate(k);
                    list
                },
            )
            .collect();
        ItemKnnScorer { neighbours, histories }
    }
}

impl Scorer for ItemKnnScorer {
    fn score(&self, slots: Range<usize>, items: usize, out: &mut [f32]) -> Result<()> {
        out.par_chunks_mut(items).zip(slots.into_par_iter()).for_each(|(row, slot)| {
            row.iter_mut().for_each(|x| *x = 0.0);
            for &i in &self.histories[slot] {
                for &(j, s) in &self.neighbours[i as usize] {
                    row[j as usize] += s;
                }
            }
        });
        Ok(())
    }
}

/// Metrics at one cut-off, averaged over the task's users.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The cut-off.
    pub k: usize,
    /// Share of a user's relevant offers found in the top k.
    pub recall: f64,
    /// Share of the top k that is relevant.
    pub precision: f64,
    /// Normalised discounted cumulative gain (ideal: min(relevant, k) hits on top).
    pub ndcg: f64,
    /// Share of users with at least one hit.
    pub hit_rate: f64,
    /// Share of the catalogue that appears in someone's top k.
    pub coverage: f64,
    /// Mean self-information −log2(share of training users who interacted) of recommended offers.
    pub novelty: f64,
    /// Users evaluated.
    pub users: usize,
}

/// Evaluates a scorer on a task at cut-offs `ks`. `popularity` gives, per
/// offer, how many training users interacted with it, and the number of
/// training users (for novelty; 0 without it).
pub fn evaluate(
    task: &Task,
    scorer: &dyn Scorer,
    items: usize,
    ks: &[usize],
    popularity: Option<(&[u32], usize)>,
) -> Result<Vec<Metrics>> {
    let max_k = ks.iter().copied().max().unwrap_or(0).min(items);
    let n = task.users.len();
    let mut sums = vec![[0f64; 5]; ks.len()];
    let mut covered = vec![vec![false; items]; ks.len()];
    let block = (8_000_000 / items.max(1)).clamp(1, 512);
    let mut scores = vec![0f32; block * items];
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        let out = &mut scores[..(end - start) * items];
        scorer.score(start..end, items, out)?;
        let tops: Vec<Vec<u32>> = out
            .par_chunks_mut(items)
            .enumerate()
            .map_init(Vec::new, |index, (slot, row)| top_k(row, &task.exclude[start + slot], max_k, index))
            .collect();
        for (slot, top) in tops.iter().enumerate() {
            let relevant = &task.relevant[start + slot];
            for (ki, &k) in ks.iter().enumerate() {
                let k = k.min(top.len());
                let mut hits = 0usize;
                let mut dcg = 0.0;
                for (rank, &o) in top[..k].iter().enumerate() {
                    covered[ki][o as usize] = true;
                    if relevant.binary_search(&o).is_ok() {
                        hits += 1;
                        dcg += 1.0 / ((rank + 2) as f64).log2();
                    }
                }
                let idcg: f64 = (0..relevant.len().min(ks[ki])).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
                let novelty = match popularity {
                    Some((pop, users)) if k > 0 => {
                        top[..k]
                            .iter()
                            .map(|&o| -((pop[o as usize].max(1) as f64) / users.max(1) as f64).log2())
                            .sum::<f64>()
                            / k as f64
                    }
                    _ => 0.0,
                };
                let s = &mut sums[ki];
                s[0] += hits as f64 / relevant.len() as f64;
                s[1] += hits as f64 / ks[ki] as f64;
                s[2] += if idcg > 0.0 { dcg / idcg } else { 0.0 };
                s[3] += f64::from(hits > 0);
                s[4] += novelty;
            }
        }
    }
    let users = n.max(1) as f64;
    Ok(ks
        .iter()
        .zip(sums)
        .zip(covered)
        .map(|((&k, s), c)| Metrics {
            k,
            recall: s[0] / users,
            precision: s[1] / users,
            ndcg: s[2] / users,
            hit_rate: s[3] / users,
            coverage: c.iter().filter(|&&x| x).count() as f64 / items.max(1) as f64,
            novelty: s[4] / users,
            users: n,
        })
        .collect())
}

/// The `k` best offers of a score row (ties broken by lower index), leaving out `exclude` (sorted).
pub fn top_k(row: &mut [f32], exclude: &[u32], k: usize, index: &mut Vec<u32>) -> Vec<u32> {
    for &o in exclude {
        if let Some(x) = row.get_mut(o as usize) {
            *x = f32::NEG_INFINITY;
        }
    }
    index.clear();
    index.extend(0..row.len() as u32);
    let k = k.min(row.len().saturating_sub(exclude.len()));
    if k == 0 {
        return Vec::new();
    }
    let better = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    if k < index.len() {
        index.select_nth_unstable_by(k - 1, better);
        index.truncate(k);
    }
    index.sort_unstable_by(better);
    index.clone()
}
