//! Scoring every booking of every user at once.

use crate::profile::{BookedSets, OfferTraits, Points};
use crate::rules::DiversificationRules;
use rayon::prelude::*;

/// Bookings as columns: row `i` is one booking. Users and offers are dense
/// indices chosen by the caller; `tie` orders bookings of one user at the
/// same instant (the rank of the booking id, or the booking id's position in
/// a sorted list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingTable {
    /// User index of each booking.
    pub user: Vec<u32>,
    /// Offer index of each booking (into the traits given to [`score_bookings`]).
    pub offer: Vec<u32>,
    /// When (seconds).
    pub at: Vec<i64>,
    /// Tie-break between bookings of a user at the same instant (booking-id order).
    pub tie: Vec<u64>,
    /// Whether the booking was cancelled (it then earns nothing and changes nothing).
    pub cancelled: Vec<bool>,
}

impl BookingTable {
    /// Number of bookings.
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    fn key(&self, i: usize) -> (u32, i64, u64) {
        (self.user[i], self.at[i], self.tie[i])
    }
}

/// One chunk's points (in order) and its users' (index, score, bookings).
type ChunkScores = (Vec<Points>, Vec<(u32, u32, u32)>);

/// The result of [`score_bookings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchScores {
    /// Points of each booking, in the table's row order (0 for cancelled ones).
    pub points: Vec<u32>,
    /// Criteria that scored, as [`crate::Criteria`] bits, in row order.
    pub criteria: Vec<u16>,
    /// Score of each user index (0 for users without a booking).
    pub user_score: Vec<u32>,
    /// Non-cancelled bookings of each user index.
    pub user_bookings: Vec<u32>,
}

/// Scores every booking: each user's non-cancelled bookings in (time, tie)
/// order, in parallel across users. `users` is the number of user indices.
pub fn score_bookings(
    rules: &DiversificationRules,
    offers: &[OfferTraits],
    table: &BookingTable,
    users: usize,
) -> BatchScores {
    let n = table.len();
    // Row order by (user, at, tie); the common case, input already in that order, costs one pass.
    let sorted = (1..n).into_par_iter().all(|i| table.key(i - 1) <= table.key(i));
    let order: Option<Vec<u32>> = (!sorted).then(|| {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.par_sort_unstable_by_key(|i| table.key(*i as usize));
        order
    });
    let row = |k: usize| order.as_ref().map_or(k, |o| o[k] as usize);

    // Contiguous runs of one user, grouped in chunks of similar size.
    let chunk_target = (n / (rayon::current_num_threads() * 16)).max(4096);
    let mut chunks: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    while start < n {
        let mut end = (start + chunk_target).min(n);
        while end < n && table.user[row(end)] == table.user[row(end - 1)] {
            end += 1;
        }
        chunks.push((start, end));
        start = end;
    }

    let results: Vec<ChunkScores> = chunks
        .par_iter()
        .map(|&(start, end)| {
            let mut sets = BookedSets::default();
            let mut points = Vec::with_capacity(end - start);
            let mut users = Vec::new();
            let mut current = u32::MAX;
            let mut score = 0u32;
            for k in start..end {
                let i = row(k);
                let user = table.user[i];
                if user != current {
                    if current != u32::MAX {
                        users.push((current, score, sets.bookings()));
                    }
                    current = user;
                    score = 0;
                    sets.clear();
                }
                if table.cancelled[i] {
                    points.push(Points::default());
                    continue;
                }
                let traits = &offers[table.offer[i] as usize];
                let p = sets.points(rules, traits);
                sets.add(traits);
                score += p.points;
                points.push(p);
            }
            if current != u32::MAX {
                users.push((current, score, sets.bookings()));
            }
            (points, users)
        })
        .collect();

    let mut out = BatchScores {
        points: vec![0; n],
        criteria: vec![0; n],
        user_score: vec![0; users],
        user_bookings: vec![0; users],
    };
    let mut k = 0;
    for (points, users) in results {
        for p in points {
            let i = row(k);
            out.points[i] = p.points;
            out.criteria[i] = p.criteria.0;
            k += 1;
        }
        for (user, score, bookings) in users {
            out.user_score[user as usize] = score;
            out.user_bookings[user as usize] = bookings;
        }
    }
    out
}

impl BookingTable {
    /// Sets `tie` so that bookings of one user at the same instant follow
    /// booking-id order (`id_of(row)`); other bookings keep tie 0.
    pub fn rank_ties<'a>(&mut self, id_of: impl Fn(usize) -> &'a str + Sync) {
        let n = self.len();
        self.tie.clear();
        self.tie.resize(n, 0);
        let key = |i: usize| (self.user[i], self.at[i]);
        let sorted = (1..n).into_par_iter().all(|i| key(i - 1) <= key(i));
        let order: Vec<u32> = if sorted {
            (0..n as u32).collect()
        } else {
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.par_sort_unstable_by_key(|i| key(*i as usize));
            order
        };
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n && key(order[end] as usize) == key(order[start] as usize) {
                end += 1;
            }
            if end - start > 1 {
                let mut run: Vec<u32> = order[start..end].to_vec();
                run.sort_by(|a, b| id_of(*a as usize).cmp(id_of(*b as usize)));
                for (rank, i) in run.into_iter().enumerate() {
                    self.tie[i as usize] = rank as u64;
                }
            }
            start = end;
        }
    }
}
