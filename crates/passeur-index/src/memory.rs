//! In-memory backends: exact search (the reference every other backend is
//! measured against) and an IVF index with filters checked during the scan
//! (the fast piece beside LanceDB).

use crate::error::Result;
use crate::filter::Filters;
use crate::record::IndexedOffer;
use crate::{Hit, VectorIndex};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::cmp::Ordering;

/// Dot product, written so the compiler vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            acc[l] += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Offers by slot, with tombstones for removed ones.
#[derive(Debug, Clone, Default)]
struct Slots {
    dim: usize,
    offers: Vec<IndexedOffer>,
    vectors: Vec<f32>,
    alive: Vec<bool>,
    by_id: FxHashMap<String, u32>,
}

impl Slots {
    fn new(dim: usize) -> Slots {
        Slots { dim, ..Slots::default() }
    }

    /// Inserts or replaces; returns (slot, true when new).
    fn put(&mut self, offer: &IndexedOffer) -> Result<(u32, bool)> {
        offer.check(self.dim)?;
        if let Some(&slot) = self.by_id.get(&offer.offer_id) {
            let s = slot as usize;
            self.vectors[s * self.dim..(s + 1) * self.dim].copy_from_slice(&offer.vector);
            self.offers[s] = offer.clone();
            let revived = !self.alive[s];
            self.alive[s] = true;
            return Ok((slot, revived));
        }
        let slot = self.offers.len() as u32;
        self.vectors.extend_from_slice(&offer.vector);
        self.offers.push(offer.clone());
        self.alive.push(true);
        self.by_id.insert(offer.offer_id.clone(), slot);
        Ok((slot, true))
    }

    /// Checks every offer before any is applied, so a bad one leaves the index untouched.
    fn check_all(&self, offers: &[IndexedOffer]) -> Result<()> {
        offers.iter().try_for_each(|o| o.check(self.dim))
    }

    fn remove(&mut self, id: &str) -> Option<u32> {
        let slot = *self.by_id.get(id)?;
        let was = std::mem::replace(&mut self.alive[slot as usize], false);
        was.then_some(slot)
    }

    fn vector(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dim..(slot + 1) * self.dim]
    }

    fn len(&self) -> usize {
        self.alive.iter().filter(|a| **a).count()
    }

    fn hit(&self, slot: usize, score: f32) -> Hit {
        Hit::of(&self.offers[slot], score)
    }
}

/// A scored slot ordered for a min-heap of the best k (ties: lower offer id wins).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scored {
    score: f32,
    slot: u32,
}

fn better(a: &Scored, b: &Scored, slots: &Slots) -> Ordering {
    a.score
        .total_cmp(&b.score)
        .then_with(|| slots.offers[b.slot as usize].offer_id.cmp(&slots.offers[a.slot as usize].offer_id))
}

/// Keeps the best k candidates.
struct TopK<'a> {
    k: usize,
    slots: &'a Slots,
    items: Vec<Scored>,
}

impl<'a> TopK<'a> {
    fn new(k: usize, slots: &'a Slots) -> TopK<'a> {
        TopK { k, slots, items: Vec::with_capacity(k + 1) }
    }

    fn worst(&self) -> Option<f32> {
        (self.items.len() >= self.k).then(|| self.items.last().map_or(f32::NEG_INFINITY, |s| s.score))
    }

    fn push(&mut self, s: Scored) {
        if self.k == 0 {
            return;
        }
        if self.items.len() >= self.k && better(&s, self.items.last().expect("full"), self.slots) != Ordering::Greater {
            return;
        }
        let pos = self.items.partition_point(|x| better(x, &s, self.slots) == Ordering::Greater);
        self.items.insert(pos, s);
        self.items.truncate(self.k);
    }

    fn hits(self) -> Vec<Hit> {
        self.items.iter().map(|s| self.slots.hit(s.slot as usize, s.score)).collect()
    }
}

fn scan_hits(slots: &Slots, filters: &Filters, limit: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = (0..slots.offers.len())
        .filter(|&s| slots.alive[s] && filters.matches(&slots.offers[s]))
        .map(|s| slots.hit(s, slots.offers[s].popularity as f32))
        .collect();
    hits.sort_by(|a, b| b.popularity.cmp(&a.popularity).then(a.offer_id.cmp(&b.offer_id)));
    hits.truncate(limit);
    hits
}

/// Exact search: every offer that passes the filters is scored.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    slots: Slots,
}

impl ExactIndex {
    /// An empty index of vectors of `dim` components.
    pub fn new(dim: usize) -> ExactIndex {
        ExactIndex { slots: Slots::new(dim) }
    }
}

impl VectorIndex for ExactIndex {
    fn name(&self) -> String {
        "exact".into()
    }

    fn dim(&self) -> usize {
        self.slots.dim
    }

    fn len(&self) -> Result<usize> {
        Ok(self.slots.len())
    }

    fn upsert(&mut self, offers: &[IndexedOffer]) -> Result<()> {
        self.slots.check_all(offers)?;
        for o in offers {
            self.slots.put(o)?;
        }
        Ok(())
    }

    fn remove(&mut self, ids: &[String]) -> Result<()> {
        for id in ids {
            self.slots.remove(id);
        }
        Ok(())
    }

    fn search(&self, vector: &[f32], filters: &Filters, k: usize) -> Result<Vec<Hit>> {
        crate::check_query(vector, self.slots.dim)?;
        let slots = &self.slots;
        let mut top = TopK::new(k, slots);
        for s in 0..slots.offers.len() {
            if slots.alive[s] && filters.matches(&slots.offers[s]) {
                top.push(Scored { score: dot(vector, slots.vector(s)), slot: s as u32 });
            }
        }
        Ok(top.hits())
    }

    fn scan(&self, filters: &Filters, limit: usize) -> Result<Vec<Hit>> {
        Ok(scan_hits(&self.slots, filters, limit))
    }

    fn optimize(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Settings of the in-memory IVF index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvfParams {
    /// Partitions (k-means centroids); 0 picks about √n.
    pub partitions: usize,
    /// Partitions probed per query, at least.
    pub nprobe: usize,
    /// k-means iterations.
    pub iterations: usize,
    /// Seed of the k-means sample and initialisation.
    pub seed: u64,
}

impl Default for IvfParams {
    fn default() -> Self {
        IvfParams { partitions: 0, nprobe: 24, iterations: 12, seed: 42 }
    }
}

/// Inverted-file index in memory: offers are grouped by their nearest
/// centroid; a query scores the centroids, then scans the nearest partitions'
/// offers that pass the filters, probing further when too few pass.
#[derive(Debug, Clone)]
pub struct IvfIndex {
    slots: Slots,
    params: IvfParams,
    centroids: Vec<f32>,
    lists: Vec<Vec<u32>>,
    /// The partition of each slot.
    partition_of: Vec<u32>,
}

impl IvfIndex {
    /// Builds the index over `offers` (k-means on a seeded sample of at most 65 536 vectors).
    pub fn build(dim: usize, offers: &[IndexedOffer], params: IvfParams) -> Result<IvfIndex> {
        let mut slots = Slots::new(dim);
        for o in offers {
            slots.put(o)?;
        }
        let n = slots.offers.len();
        let partitions =
            if params.partitions == 0 { ((n as f64).sqrt() as usize).clamp(1, 4096) } else { params.partitions };
        let partitions = partitions.min(n.max(1));
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let sample_ids: Vec<usize> = if n > 65_536 { sample(&mut rng, n, 65_536).into_vec() } else { (0..n).collect() };
        let mut centroids: Vec<f32> = Vec::with_capacity(partitions * dim);
        for &i in sample(&mut rng, sample_ids.len(), partitions).iter().map(|j| &sample_ids[j]) {
            centroids.extend_from_slice(slots.vector(i));
        }
        for _ in 0..params.iterations {
            let assign: Vec<usize> =
                sample_ids.par_iter().map(|&i| nearest_centroid(&centroids, dim, slots.vector(i))).collect();
            let mut sums = vec![0f32; partitions * dim];
            let mut counts = vec![0usize; partitions];
            for (&i, &c) in sample_ids.iter().zip(&assign) {
                counts[c] += 1;
                for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(slots.vector(i)) {
                    *s += x;
                }
            }
            for c in 0..partitions {
                if counts[c] > 0 {
                    let row = &mut sums[c * dim..(c + 1) * dim];
                    row.iter_mut().for_each(|x| *x /= counts[c] as f32);
                    centroids[c * dim..(c + 1) * dim].copy_from_slice(row);
                }
            }
        }
        let mut index =
            IvfIndex { slots, params, centroids, lists: vec![Vec::new(); partitions], partition_of: vec![0; n] };
        let assign: Vec<usize> =
            (0..n).into_par_iter().map(|i| nearest_centroid(&index.centroids, dim, index.slots.vector(i))).collect();
        for (i, c) in assign.into_iter().enumerate() {
            index.lists[c].push(i as u32);
            index.partition_of[i] = c as u32;
        }
        Ok(index)
    }

    /// Partitions probed per query.
    pub fn set_nprobe(&mut self, nprobe: usize) {
        self.params.nprobe = nprobe.max(1);
    }

    /// Partitions.
    pub fn partitions(&self) -> usize {
        self.lists.len()
    }
}

/// The centroid with the largest dot product (vectors are unit length, so this is the nearest).
fn nearest_centroid(centroids: &[f32], dim: usize, v: &[f32]) -> usize {
    let mut best = (f32::NEG_INFINITY, 0);
    for (c, row) in centroids.chunks(dim).enumerate() {
        let s = dot(row, v);
        if s > best.0 {
            best = (s, c);
        }
    }
    best.1
}

impl VectorIndex for IvfIndex {
    fn name(&self) -> String {
        format!("ivf-memory (partitions {}, nprobe {})", self.lists.len(), self.params.nprobe)
    }

    fn dim(&self) -> usize {
        self.slots.dim
    }

    fn len(&self) -> Result<usize> {
        Ok(self.slots.len())
    }

    fn upsert(&mut self, offers: &[IndexedOffer]) -> Result<()> {
        self.slots.check_all(offers)?;
        for o in offers {
            let existed = self.slots.by_id.get(&o.offer_id).copied();
            let (slot, _) = self.slots.put(o)?;
            if let Some(slot) = existed {
                let list = &mut self.lists[self.partition_of[slot as usize] as usize];
                list.retain(|&s| s != slot);
            }
            if self.lists.is_empty() {
                self.lists.push(Vec::new());
                self.centroids.extend_from_slice(&o.vector);
            }
            let c = nearest_centroid(&self.centroids, self.slots.dim, &o.vector);
            self.lists[c].push(slot);
            if slot as usize == self.partition_of.len() {
                self.partition_of.push(c as u32);
            } else {
                self.partition_of[slot as usize] = c as u32;
            }
        }
        Ok(())
    }

    fn remove(&mut self, ids: &[String]) -> Result<()> {
        for id in ids {
            self.slots.remove(id);
        }
        Ok(())
    }

    fn search(&self, vector: &[f32], filters: &Filters, k: usize) -> Result<Vec<Hit>> {
        crate::check_query(vector, self.slots.dim)?;
        let dim = self.slots.dim;
        let mut order: Vec<(f32, usize)> =
            self.centroids.chunks(dim).enumerate().map(|(c, row)| (dot(row, vector), c)).collect();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let slots = &self.slots;
        let mut top = TopK::new(k, slots);
        let mut passed = 0usize;
        for (probed, &(_, c)) in order.iter().enumerate() {
            // Enough partitions and enough offers that pass: stop.
            if probed >= self.params.nprobe && passed >= k {
                break;
            }
            for &s in &self.lists[c] {
                let s = s as usize;
                if !slots.alive[s] || !filters.matches(&slots.offers[s]) {
                    continue;
                }
                passed += 1;
                let score = dot(vector, slots.vector(s));
                if top.worst().is_none_or(|w| score >= w) {
                    top.push(Scored { score, slot: s as u32 });
                }
            }
        }
        Ok(top.hits())
    }

    fn scan(&self, filters: &Filters, limit: usize) -> Result<Vec<Hit>> {
        Ok(scan_hits(&self.slots, filters, limit))
    }

    fn optimize(&mut self) -> Result<()> {
        // Drop tombstones from the lists; centroids stay (a rebuild re-trains them).
        let alive = &self.slots.alive;
        for list in &mut self.lists {
            list.retain(|&s| alive[s as usize]);
        }
        Ok(())
    }
}
