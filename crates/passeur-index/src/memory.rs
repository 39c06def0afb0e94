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

    /// The best k of `candidates` that are alive and pass the filters, scored exactly.
    fn best_of(&self, vector: &[f32], filters: &Filters, k: usize, candidates: impl Iterator<Item = u32>) -> Vec<Hit> {
        let mut top = TopK::new(k, self);
        for slot in candidates {
            let s = slot as usize;
            if self.alive[s] && filters.matches(&self.offers[s]) {
                top.push(Scored { score: dot(vector, self.vector(s)), slot });
            }
        }
        top.hits()
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
        Ok(self.slots.best_of(vector, filters, k, 0..self.slots.offers.len() as u32))
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
    /// Query planning: when a selective filter (price, radius) leaves at most this many offers by its
    /// posting list, those offers are scored exactly instead of probing partitions (0: never).
    pub exact_below: usize,
}

impl Default for IvfParams {
    fn default() -> Self {
        IvfParams { partitions: 0, nprobe: 24, iterations: 12, seed: 42, exact_below: 30_000 }
    }
}

/// Size of a cell of the geographic posting lists, in degrees.
const CELL_DEGREES: f64 = 0.25;

fn cell_of(p: passeur_domain::GeoPoint) -> (i32, i32) {
    ((p.lat / CELL_DEGREES).floor() as i32, (p.lon / CELL_DEGREES).floor() as i32)
}

/// Posting lists on the selective filter columns: offers by price, by geographic cell, and the digital
/// ones. They let the planner count, then scan, the offers a filter can pass, in place of the partitions.
#[derive(Debug, Clone, Default)]
struct Postings {
    /// (price, slot), sorted.
    by_price: Vec<(i64, u32)>,
    /// Located offers by cell.
    cells: FxHashMap<(i32, i32), Vec<u32>>,
    /// Offers used online (and offers without a location), by minimum age: the underage rules keep many
    /// digital offers from younger users, so a radius query from them reaches only some of these lists.
    digital: Vec<Vec<u32>>,
}

impl Postings {
    fn add(&mut self, slot: u32, o: &IndexedOffer) {
        let at = self.by_price.partition_point(|&(p, s)| (p, s) < (o.price_cents, slot));
        self.by_price.insert(at, (o.price_cents, slot));
        match (o.digital, o.location) {
            (false, Some(l)) => self.cells.entry(cell_of(l)).or_default().push(slot),
            _ => {
                let age = usize::from(o.min_age);
                if self.digital.len() <= age {
                    self.digital.resize(age + 1, Vec::new());
                }
                self.digital[age].push(slot)
            }
        }
    }

    fn forget(&mut self, slot: u32, o: &IndexedOffer) {
        if let Ok(at) = self.by_price.binary_search(&(o.price_cents, slot)) {
            self.by_price.remove(at);
        }
        let list = match (o.digital, o.location) {
            (false, Some(l)) => self.cells.get_mut(&cell_of(l)),
            _ => self.digital.get_mut(usize::from(o.min_age)),
        };
        if let Some(list) = list {
            list.retain(|&s| s != slot);
        }
    }

    /// The cells a radius can reach (its bounding box).
    fn cells_near(&self, near: &crate::filter::Near) -> Vec<&Vec<u32>> {
        let dlat = near.radius_km / 111.0 * 1.01;
        let cos = near.point.lat.to_radians().cos().max(0.01);
        let dlon = near.radius_km / (111.32 * cos) * 1.01;
        let lo = cell_of(passeur_domain::GeoPoint { lat: near.point.lat - dlat, lon: near.point.lon - dlon });
        let hi = cell_of(passeur_domain::GeoPoint { lat: near.point.lat + dlat, lon: near.point.lon + dlon });
        let mut out = Vec::new();
        for a in lo.0..=hi.0 {
            for b in lo.1..=hi.1 {
                if let Some(list) = self.cells.get(&(a, b)) {
                    out.push(list);
                }
            }
        }
        out
    }
}

/// What the prefilter reads of an offer, 48 bytes, stored next to the offer's packed vector.
#[derive(Debug, Clone, Copy)]
struct Cols {
    price: i64,
    /// Bookable from this instant (`i64::MIN`: always).
    open_from: i64,
    /// Bookable until this instant: the end of its window or its event's start (`i64::MAX`: always).
    open_until: i64,
    lat: f64,
    lon: f64,
    min_age: u8,
    flags: u8,
}

const DIGITAL: u8 = 1;
const UNLOCATED: u8 = 2;
const SOLD_OUT: u8 = 4;

impl Cols {
    fn of(o: &IndexedOffer) -> Cols {
        let until = match (o.bookable_until, o.event_start) {
            (Some(u), Some(s)) => u.min(s),
            (Some(u), None) => u,
            (None, Some(s)) => s,
            (None, None) => i64::MAX,
        };
        let mut flags = 0;
        if o.digital {
            flags |= DIGITAL;
        }
        if o.location.is_none() {
            flags |= UNLOCATED;
        }
        if o.stock.is_some_and(|s| s <= 0) {
            flags |= SOLD_OUT;
        }
        Cols {
            price: o.price_cents,
            open_from: o.bookable_from.unwrap_or(i64::MIN),
            open_until: until,
            lat: o.location.map_or(0.0, |l| l.lat),
            lon: o.location.map_or(0.0, |l| l.lon),
            min_age: o.min_age,
            flags,
        }
    }
}

/// The query's filters compiled to conditions on [`Cols`]: an offer they reject cannot match. When every
/// condition of the filters is compiled (`exact`: price, bookable, sold out, age, the radius itself, and the
/// excluded offers as slots) an offer they pass matches; otherwise [`Filters::matches`] checks it after.
struct Prefilter {
    max_price: i64,
    at: Option<i64>,
    age: u8,
    /// (lat range, lon range, include digital) of the radius's bounding box, with a margin, and the radius.
    near: Option<(f64, f64, f64, f64, bool, passeur_domain::GeoPoint, f64)>,
    exact: bool,
    /// Slots of the excluded offers, sorted (exact mode).
    excluded: Vec<u32>,
}

impl Prefilter {
    fn of(filters: &Filters, by_id: &FxHashMap<String, u32>) -> Prefilter {
        let near = filters.near.as_ref().map(|n| {
            let dlat = n.radius_km / 111.0 * 1.05 + 0.01;
            let cos = n.point.lat.to_radians().cos().max(0.01);
            let dlon = n.radius_km / (111.32 * cos) * 1.05 + 0.01;
            (
                n.point.lat - dlat,
                n.point.lat + dlat,
                n.point.lon - dlon,
                n.point.lon + dlon,
                n.include_digital,
                n.point,
                n.radius_km,
            )
        });
        let exact = filters.exclude_items.is_empty()
            && filters.categories.is_empty()
            && filters.event_between.is_none()
            && filters.created_after.is_none()
            && filters.department.is_none();
        let mut excluded: Vec<u32> = filters.exclude_offers.iter().filter_map(|id| by_id.get(id).copied()).collect();
        excluded.sort_unstable();
        Prefilter {
            max_price: filters.max_price_cents.unwrap_or(i64::MAX),
            at: filters.bookable_at,
            age: filters.user_age.unwrap_or(u8::MAX),
            near,
            exact,
            excluded,
        }
    }

    /// Whether an offer that passed [`Prefilter::pass`] matches: exactly so in exact mode, by the full
    /// filter otherwise.
    #[inline]
    fn confirm(&self, slot: u32, filters: &Filters, offer: &IndexedOffer) -> bool {
        if self.exact { self.excluded.binary_search(&slot).is_err() } else { filters.matches(offer) }
    }

    #[inline]
    fn pass(&self, c: &Cols) -> bool {
        if c.price > self.max_price || c.min_age > self.age {
            return false;
        }
        if let Some(at) = self.at
            && (at < c.open_from || at > c.open_until || c.flags & SOLD_OUT != 0)
        {
            return false;
        }
        if let Some((lat0, lat1, lon0, lon1, digital, point, radius)) = self.near {
            if c.flags & DIGITAL != 0 {
                return digital;
            }
            if c.flags & UNLOCATED != 0 {
                return false;
            }
            if !(c.lat >= lat0 && c.lat <= lat1 && c.lon >= lon0 && c.lon <= lon1) {
                return false;
            }
            // The same computation as `near_ok`, on the same numbers.
            return passeur_domain::GeoPoint { lat: c.lat, lon: c.lon }.distance_km(point) <= radius;
        }
        true
    }
}

/// Partition-major copies of the alive offers' vectors and prefilter columns, made by `build` and
/// `optimize`: a probe reads each partition as two contiguous runs instead of chasing slots.
#[derive(Debug, Clone, Default)]
struct Packed {
    /// Partition `p` is `starts[p]..starts[p + 1]`.
    starts: Vec<usize>,
    slots: Vec<u32>,
    vectors: Vec<f32>,
    /// 8-bit codes of the vectors (scalar quantisation per dimension): the probe reads these, a quarter
    /// of the bytes, and the best candidates are rescored exactly from `vectors`.
    codes: Vec<u8>,
    /// Per dimension: the value of code 0 and the step between codes.
    offset: Vec<f32>,
    scale: Vec<f32>,
    cols: Vec<Cols>,
}

impl Packed {
    /// Per-dimension ranges of the packed vectors, then their codes.
    fn quantise(&mut self, dim: usize) {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in self.vectors.chunks(dim) {
            for d in 0..dim {
                lo[d] = lo[d].min(row[d]);
                hi[d] = hi[d].max(row[d]);
            }
        }
        self.offset = lo.iter().map(|l| if l.is_finite() { *l } else { 0.0 }).collect();
        self.scale = lo.iter().zip(&hi).map(|(l, h)| if h > l { (h - l) / 255.0 } else { 1.0 }).collect();
        self.codes = self
            .vectors
            .chunks(dim)
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(d, x)| ((x - self.offset[d]) / self.scale[d]).round().clamp(0.0, 255.0) as u8)
                    .collect::<Vec<u8>>()
            })
            .collect();
    }
}

/// A query against the codes: `score ≈ bias + Σ weights[d] × code[d]`.
struct CodedQuery {
    weights: Vec<f32>,
    bias: f32,
}

impl CodedQuery {
    fn of(vector: &[f32], packed: &Packed) -> CodedQuery {
        CodedQuery {
            weights: vector.iter().zip(&packed.scale).map(|(q, s)| q * s).collect(),
            bias: dot(vector, &packed.offset),
        }
    }

    #[inline]
    fn score(&self, codes: &[u8]) -> f32 {
        let mut acc = [0f32; 8];
        let chunks = codes.len() / 8;
        for c in 0..chunks {
            for l in 0..8 {
                acc[l] += self.weights[c * 8 + l] * f32::from(codes[c * 8 + l]);
            }
        }
        let tail: f32 =
            self.weights[chunks * 8..].iter().zip(&codes[chunks * 8..]).map(|(w, c)| w * f32::from(*c)).sum();
        acc.iter().sum::<f32>() + tail + self.bias
    }
}

/// Candidates kept on approximate scores before the exact rescoring.
fn rerank_pool(k: usize) -> usize {
    (4 * k).max(40)
}

/// The planner's choice for one query.
enum Plan<'a> {
    /// Probe the partitions nearest the query.
    Probe,
    /// Score exactly the offers priced at most the filter's price: the first `n` of the price posting.
    Cheapest(usize),
    /// Score exactly the offers of these posting lists (the radius's cells, the digital offers).
    Lists(Vec<&'a [u32]>),
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
    postings: Postings,
    packed: Packed,
    /// Each slot's position in the packed runs (`u32::MAX`: not packed).
    pos_of: Vec<u32>,
    /// Slots whose packed copy is out of date or missing (changed or added since packing).
    stale: Vec<bool>,
    /// Per partition: the slots added or changed since packing, probed through the slots.
    delta: Vec<Vec<u32>>,
    /// The lowest minimum age of any offer ever indexed (removals leave it as it is): a user younger than
    /// it can be allowed no offer, and the query is answered at once.
    lowest_min_age: u8,
}

impl IvfIndex {
    /// Builds the index over `offers` (k-means on a seeded sample of at most 65 536 vectors).
    pub fn build(dim: usize, offers: &[IndexedOffer], params: IvfParams) -> Result<IvfIndex> {
        IvfIndex::build_from(dim, offers, params, None)
    }

    /// Builds the index over `offers` with these centroids (`partitions × dim` values) instead of
    /// training them: given the centroids that [`IvfIndex::build`] trained over the same offers with the
    /// same parameters ([`IvfIndex::centroids`]), the index is the same, without the k-means.
    pub fn build_with_centroids(
        dim: usize,
        offers: &[IndexedOffer],
        params: IvfParams,
        centroids: Vec<f32>,
    ) -> Result<IvfIndex> {
        if dim == 0 || centroids.is_empty() || !centroids.len().is_multiple_of(dim) {
            return Err(crate::IndexError::BadQuery {
                field: "centroids",
                reason: format!("{} values are not whole vectors of dimension {dim}", centroids.len()),
            });
        }
        IvfIndex::build_from(dim, offers, params, Some(centroids))
    }

    /// The partitions' centroids, `partitions × dim` values.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    fn build_from(dim: usize, offers: &[IndexedOffer], params: IvfParams, given: Option<Vec<f32>>) -> Result<IvfIndex> {
        let mut slots = Slots::new(dim);
        for o in offers {
            slots.put(o)?;
        }
        let n = slots.offers.len();
        let centroids = match given {
            Some(c) => c,
            None => train_centroids(&slots, n, &params),
        };
        let partitions = centroids.len() / dim.max(1);
        IvfIndex::assemble(slots, params, centroids, partitions)
    }
}

/// k-means centroids over a seeded sample of at most 65 536 of the slots' vectors.
fn train_centroids(slots: &Slots, n: usize, params: &IvfParams) -> Vec<f32> {
    let dim = slots.dim;
    {
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
        centroids
    }
}

impl IvfIndex {
    fn assemble(slots: Slots, params: IvfParams, centroids: Vec<f32>, partitions: usize) -> Result<IvfIndex> {
        let dim = slots.dim;
        let n = slots.offers.len();
        let mut postings = Postings {
            by_price: (0..n).map(|i| (slots.offers[i].price_cents, i as u32)).collect(),
            ..Postings::default()
        };
        postings.by_price.sort_unstable();
        for (i, o) in slots.offers.iter().enumerate() {
            match (o.digital, o.location) {
                (false, Some(l)) => postings.cells.entry(cell_of(l)).or_default().push(i as u32),
                _ => {
                    let age = usize::from(o.min_age);
                    if postings.digital.len() <= age {
                        postings.digital.resize(age + 1, Vec::new());
                    }
                    postings.digital[age].push(i as u32)
                }
            }
        }
        let mut index = IvfIndex {
            slots,
            params,
            centroids,
            lists: vec![Vec::new(); partitions],
            partition_of: vec![0; n],
            postings,
            packed: Packed::default(),
            pos_of: Vec::new(),
            stale: Vec::new(),
            delta: Vec::new(),
            lowest_min_age: u8::MAX,
        };
        index.lowest_min_age = index.slots.offers.iter().map(|o| o.min_age).min().unwrap_or(u8::MAX);
        let assign: Vec<usize> =
            (0..n).into_par_iter().map(|i| nearest_centroid(&index.centroids, dim, index.slots.vector(i))).collect();
        for (i, c) in assign.into_iter().enumerate() {
            index.lists[c].push(i as u32);
            index.partition_of[i] = c as u32;
        }
        index.pack();
        Ok(index)
    }

    /// Copies the alive offers, partition by partition, into the packed runs; nothing is stale after.
    fn pack(&mut self) {
        let dim = self.slots.dim;
        let mut packed = Packed::default();
        for list in &self.lists {
            packed.starts.push(packed.slots.len());
            for &s in list {
                let s = s as usize;
                if !self.slots.alive[s] {
                    continue;
                }
                packed.slots.push(s as u32);
                packed.vectors.extend_from_slice(self.slots.vector(s));
                packed.cols.push(Cols::of(&self.slots.offers[s]));
            }
        }
        packed.starts.push(packed.slots.len());
        packed.quantise(dim);
        self.stale = vec![true; self.slots.offers.len()];
        self.pos_of = vec![u32::MAX; self.slots.offers.len()];
        for (i, &s) in packed.slots.iter().enumerate() {
            self.stale[s as usize] = false;
            self.pos_of[s as usize] = i as u32;
        }
        // Posting lists in packed order: a posting scan then reads the packed runs nearly in sequence.
        let pos_of = &self.pos_of;
        for list in self.postings.cells.values_mut().chain(self.postings.digital.iter_mut()) {
            list.sort_unstable_by_key(|&s| pos_of[s as usize]);
        }
        self.delta = vec![Vec::new(); self.lists.len()];
        self.packed = packed;
    }

    /// Partitions probed per query.
    pub fn set_nprobe(&mut self, nprobe: usize) {
        self.params.nprobe = nprobe.max(1);
    }

    /// Partitions.
    pub fn partitions(&self) -> usize {
        self.lists.len()
    }

    /// Sets the planner's threshold (see [`IvfParams::exact_below`]).
    pub fn set_exact_below(&mut self, exact_below: usize) {
        self.params.exact_below = exact_below;
    }

    /// The cheapest way to answer: the smallest posting list of a selective filter, when small enough.
    fn plan(&self, filters: &Filters) -> Plan<'_> {
        if self.params.exact_below == 0 {
            Plan::Probe
        } else {
            self.smallest_posting(filters, self.params.exact_below).1
        }
    }

    /// Scores a posting list exactly; `None` when the plan is to probe.
    fn scan_posting(&self, plan: Plan<'_>, vector: &[f32], filters: &Filters, k: usize) -> Option<Vec<Hit>> {
        match plan {
            Plan::Probe => None,
            Plan::Cheapest(n) => {
                Some(self.best_of_packed(vector, filters, k, self.postings.by_price[..n].iter().map(|&(_, s)| s)))
            }
            Plan::Lists(lists) => {
                Some(self.best_of_packed(vector, filters, k, lists.iter().flat_map(|l| l.iter().copied())))
            }
        }
    }

    /// The best k of `candidates`, exactly: packed offers through the prefilter and their packed vector,
    /// the others (changed since packing) through their slot.
    fn best_of_packed(
        &self,
        vector: &[f32],
        filters: &Filters,
        k: usize,
        candidates: impl Iterator<Item = u32>,
    ) -> Vec<Hit> {
        let dim = self.slots.dim;
        let pre = Prefilter::of(filters, &self.slots.by_id);
        let mut top = TopK::new(k, &self.slots);
        for slot in candidates {
            let s = slot as usize;
            let p = self.pos_of.get(s).copied().unwrap_or(u32::MAX);
            if p != u32::MAX && !self.stale[s] {
                let i = p as usize;
                if !pre.pass(&self.packed.cols[i])
                    || !self.slots.alive[s]
                    || !pre.confirm(slot, filters, &self.slots.offers[s])
                {
                    continue;
                }
                top.push(Scored { score: dot(vector, &self.packed.vectors[i * dim..(i + 1) * dim]), slot });
            } else if self.slots.alive[s] && filters.matches(&self.slots.offers[s]) {
                top.push(Scored { score: dot(vector, self.slots.vector(s)), slot });
            }
        }
        top.hits()
    }

    /// The smallest posting list of the query's filters holding at most `limit` offers, with its size.
    fn smallest_posting(&self, filters: &Filters, limit: usize) -> (usize, Plan<'_>) {
        let mut best = (usize::MAX, Plan::Probe);
        if let Some(max) = filters.max_price_cents {
            let upto = self.postings.by_price.partition_point(|&(p, _)| p <= max);
            if upto <= limit {
                best = (upto, Plan::Cheapest(upto));
            }
        }
        if let Some(near) = &filters.near {
            let mut lists: Vec<&[u32]> = self.postings.cells_near(near).into_iter().map(Vec::as_slice).collect();
            if near.include_digital {
                let ages = filters.user_age.map_or(usize::MAX, |a| usize::from(a) + 1);
                lists.extend(self.postings.digital.iter().take(ages).filter(|l| !l.is_empty()).map(Vec::as_slice));
            }
            let count = lists.iter().map(|l| l.len()).sum();
            if count <= limit && count < best.0 {
                best = (count, Plan::Lists(lists));
            }
        }
        best
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
        format!(
            "ivf-memory (partitions {}, nprobe {}, posting scan below {})",
            self.lists.len(),
            self.params.nprobe,
            self.params.exact_below
        )
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
            if let Some(slot) = existed {
                let old = self.slots.offers[slot as usize].clone();
                self.postings.forget(slot, &old);
            }
            let (slot, _) = self.slots.put(o)?;
            self.lowest_min_age = self.lowest_min_age.min(o.min_age);
            self.postings.add(slot, o);
            if let Some(slot) = existed {
                let old = self.partition_of[slot as usize] as usize;
                self.lists[old].retain(|&s| s != slot);
                if let Some(d) = self.delta.get_mut(old) {
                    d.retain(|&s| s != slot);
                }
            }
            if self.lists.is_empty() {
                self.lists.push(Vec::new());
                self.centroids.extend_from_slice(&o.vector);
            }
            let c = nearest_centroid(&self.centroids, self.slots.dim, &o.vector);
            self.lists[c].push(slot);
            // The packed copy (if any) is now out of date: the slot is probed from the delta until repacked.
            if self.stale.len() <= slot as usize {
                self.stale.resize(slot as usize + 1, true);
            }
            self.stale[slot as usize] = true;
            if self.delta.len() < self.lists.len() {
                self.delta.resize(self.lists.len(), Vec::new());
            }
            self.delta[c].push(slot);
            if self.packed.starts.len() < self.lists.len() + 1 {
                let end = self.packed.slots.len();
                self.packed.starts.resize(self.lists.len() + 1, end);
            }
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
        if filters.user_age.is_some_and(|age| age < self.lowest_min_age) {
            return Ok(Vec::new());
        }
        if let Some(hits) = self.scan_posting(self.plan(filters), vector, filters, k) {
            return Ok(hits);
        }
        let slots = &self.slots;
        // Candidates by approximate score (the codes), rescored exactly at the end.
        let mut top = TopK::new(rerank_pool(k), slots);
        let mut order: Vec<(f32, usize)> =
            self.centroids.chunks(dim).enumerate().map(|(c, row)| (dot(row, vector), c)).collect();
        order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut passed = 0usize;
        let mut scanned = 0usize;
        let pre = Prefilter::of(filters, &slots.by_id);
        let packed = &self.packed;
        let coded = CodedQuery::of(vector, packed);
        for (probed, &(_, c)) in order.iter().enumerate() {
            // Enough partitions and enough offers that pass: stop.
            if probed >= self.params.nprobe && passed >= k {
                break;
            }
            // Few offers pass near the query (a selective conjunction): when a posting list of the
            // filters is smaller than what is left to probe, score it exactly instead.
            if probed == 4 * self.params.nprobe && passed < k && self.params.exact_below > 0 {
                let left = slots.offers.len().saturating_sub(scanned);
                if let Some(hits) = self.scan_posting(self.smallest_posting(filters, left / 2).1, vector, filters, k) {
                    return Ok(hits);
                }
            }
            scanned += self.lists[c].len();
            // The packed run: prefilter on the compact columns, then the exact filter, then the dot product.
            let (from, to) = (packed.starts[c], packed.starts[c + 1]);
            for i in from..to {
                if !pre.pass(&packed.cols[i]) {
                    continue;
                }
                let s = packed.slots[i] as usize;
                if self.stale[s] || !slots.alive[s] || !pre.confirm(s as u32, filters, &slots.offers[s]) {
                    continue;
                }
                passed += 1;
                let score = coded.score(&packed.codes[i * dim..(i + 1) * dim]);
                if top.worst().is_none_or(|w| score >= w) {
                    top.push(Scored { score, slot: s as u32 });
                }
            }
            // Offers added or changed since packing.
            for &s in &self.delta[c] {
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
        // Exact scores for the pool, the best k of them.
        let mut exact = TopK::new(k, slots);
        for s in top.items {
            exact.push(Scored { score: dot(vector, slots.vector(s.slot as usize)), slot: s.slot });
        }
        Ok(exact.hits())
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
        self.postings.by_price.retain(|&(_, s)| alive[s as usize]);
        for list in &mut self.postings.digital {
            list.retain(|&s| alive[s as usize]);
        }
        for list in self.postings.cells.values_mut() {
            list.retain(|&s| alive[s as usize]);
        }
        self.pack();
        Ok(())
    }
}
