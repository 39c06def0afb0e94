//! The territory's view: what young people of a department (or on a partner's offers) book and consult,
//! by category, age and month, and how their diversification scores are spread.

use serde::Serialize;

/// What an activity count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Consultations.
    Consultation,
    /// Bookings (cancelled ones included; cancellations are counted apart).
    Booking,
    /// Cancellations.
    Cancellation,
}

/// A group of events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    /// What.
    pub kind: ActivityKind,
    /// The offers' category code.
    pub category: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The users' age then, when known.
    pub age: Option<i32>,
    /// Events.
    pub count: u64,
}

/// Counts of one group (a category, an age, a month).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Consultations.
    pub consultations: u64,
    /// Bookings.
    pub bookings: u64,
    /// Cancellations.
    pub cancellations: u64,
}

impl Counts {
    fn add(&mut self, kind: ActivityKind, n: u64) {
        match kind {
            ActivityKind::Consultation => self.consultations += n,
            ActivityKind::Booking => self.bookings += n,
            ActivityKind::Cancellation => self.cancellations += n,
        }
    }
}

/// Counts keyed by a label, in the key's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keyed<K> {
    /// The key (category code, age, month).
    pub key: K,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The activity, cut three ways.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActivityBreakdown {
    /// Everything.
    pub total: Counts,
    /// By category, most booked first.
    pub by_category: Vec<Keyed<String>>,
    /// By age (unknown ages left out).
    pub by_age: Vec<Keyed<i32>>,
    /// By month, in time order.
    pub by_month: Vec<Keyed<String>>,
}

impl ActivityBreakdown {
    /// Sums the groups.
    pub fn of(rows: &[Activity]) -> ActivityBreakdown {
        fn slot<'a, K: PartialEq + Clone>(v: &'a mut Vec<Keyed<K>>, key: &K) -> &'a mut Counts {
            let i = match v.iter().position(|k| k.key == *key) {
                Some(i) => i,
                None => {
                    v.push(Keyed { key: key.clone(), counts: Counts::default() });
                    v.len() - 1
                }
            };
            &mut v[i].counts
        }
        let mut out = ActivityBreakdown::default();
        for r in rows {
            out.total.add(r.kind, r.count);
            slot(&mut out.by_category, &r.category).add(r.kind, r.count);
            slot(&mut out.by_month, &r.month).add(r.kind, r.count);
            if let Some(age) = r.age {
                slot(&mut out.by_age, &age).add(r.kind, r.count);
            }
        }
        out.by_category.sort_by(|a, b| {
            b.counts
                .bookings
                .cmp(&a.counts.bookings)
                .then(b.counts.consultations.cmp(&a.counts.consultations))
                .then(a.key.cmp(&b.key))
        });
        out.by_age.sort_by_key(|k| k.key);
        out.by_month.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// Users in a range of scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreBin {
    /// Lowest score of the bin.
    pub from: u32,
    /// Highest score of the bin (none: no upper end).
    pub to: Option<u32>,
    /// Users.
    pub users: u64,
}

/// How diversification scores are spread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreDistribution {
    /// Users.
    pub users: u64,
    /// Mean score.
    pub mean: f64,
    /// Median score (the lower middle for an even count).
    pub median: u32,
    /// Users by score range: 0, 1–4, 5–9, 10–19, 20–29, 30 and more.
    pub histogram: Vec<ScoreBin>,
}

impl ScoreDistribution {
    /// The distribution of `scores`.
    pub fn of(scores: &[u32]) -> ScoreDistribution {
        const BINS: [(u32, Option<u32>); 6] =
            [(0, Some(0)), (1, Some(4)), (5, Some(9)), (10, Some(19)), (20, Some(29)), (30, None)];
        let mut sorted = scores.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        ScoreDistribution {
            users: n as u64,
            mean: if n > 0 { sorted.iter().map(|s| f64::from(*s)).sum::<f64>() / n as f64 } else { 0.0 },
            median: if n > 0 { sorted[(n - 1) / 2] } else { 0 },
            histogram: BINS
                .iter()
                .map(|&(from, to)| ScoreBin {
                    from,
                    to,
                    users: sorted.iter().filter(|s| **s >= from && to.is_none_or(|t| **s <= t)).count() as u64,
                })
                .collect(),
        }
    }
}

/// Age in whole years on the first day of `month` (`YYYY-MM`) of someone born on `birth_date` (`YYYY-MM-DD`).
pub fn age_in_month(birth_date: &str, month: &str) -> Option<i32> {
    let num = |s: &str| s.parse::<i32>().ok();
    let (by, bm, bd) = (num(birth_date.get(0..4)?)?, num(birth_date.get(5..7)?)?, num(birth_date.get(8..10)?)?);
    let (y, m) = (num(month.get(0..4)?)?, num(month.get(5..7)?)?);
    let before_birthday = (m, 1) < (bm, bd);
    Some(y - by - i32::from(before_birthday))
}
