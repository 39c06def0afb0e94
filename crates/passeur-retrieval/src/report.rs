//! The evaluation of a split: the two-tower and the baselines, on held-out
//! bookings, clicks or every interaction, as tables and JSON.

use crate::data::{Catalogue, Dataset, EventKind, Split, SplitKind, in_history};
use crate::error::Result;
use crate::eval::{ItemKnnScorer, Metrics, RandomScorer, Scorer, StaticScorer, Task, VectorScorer, evaluate};
use crate::model::TwoTower;
use crate::train::context_rows;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Which held-out events are relevant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Held-out bookings (the deck's validation).
    Bookings,
    /// Held-out consultations.
    Clicks,
    /// Every held-out interaction (RecBole's protocol on rating data).
    All,
}

impl Target {
    fn accepts(self, kind: EventKind) -> bool {
        match self {
            Target::Bookings => kind == EventKind::Booking,
            Target::Clicks => kind == EventKind::Consultation,
            Target::All => in_history(kind),
        }
    }
}

/// One method's metrics at every cut-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// Its name.
    pub method: String,
    /// Metrics by cut-off.
    pub metrics: Vec<Metrics>,
}

/// Every method on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// The relevant events.
    pub target: Target,
    /// Users with at least one relevant unseen offer.
    pub users: usize,
    /// Methods, two-tower first when present.
    pub methods: Vec<MethodResult>,
}

/// An evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The split.
    pub split: SplitKind,
    /// Offers ranked.
    pub items: usize,
    /// One table per target.
    pub targets: Vec<TargetResult>,
}

/// Evaluates the two-tower (when given) and the baselines on the split's test
/// events. Features and baselines see the training events (and the
/// validation ones for a chronological split, since they came before);
/// training and validation offers are excluded from every ranking.
pub fn evaluate_split(
    dataset: &Dataset,
    split: &Split,
    model: Option<(&TwoTower, &Catalogue)>,
    targets: &[Target],
    ks: &[usize],
    seed: u64,
) -> Result<EvalReport> {
    let items = dataset.catalogue.len();
    let with_valid = matches!(split.kind, SplitKind::Chronological);
    let context: Vec<Vec<u32>> = (0..dataset.users.len())
        .map(|u| {
            split.train[u]
                .iter()
                .chain(if with_valid { split.valid[u].iter() } else { [].iter() })
                .filter(|e| in_history(e.kind))
                .map(|e| e.offer)
                .collect()
        })
        .collect();
    let mut popularity = vec![0u32; items];
    let mut users_of = vec![0u32; items];
    let mut last = i64::MIN;
    for (u, h) in context.iter().enumerate() {
        for &o in h {
            popularity[o as usize] += 1;
        }
        let mut distinct = h.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for o in distinct {
            users_of[o as usize] += 1;
        }
        let events = split.train[u].iter().chain(if with_valid { split.valid[u].iter() } else { [].iter() });
        last = last.max(events.map(|e| e.at).max().unwrap_or(i64::MIN));
    }
    let half_life = 7.0 * 86_400.0;
    let mut trends = vec![0f32; items];
    for u in 0..dataset.users.len() {
        let events = split.train[u].iter().chain(if with_valid { split.valid[u].iter() } else { [].iter() });
        for e in events.filter(|e| in_history(e.kind)) {
            trends[e.offer as usize] += (0.5f64).powf((last - e.at) as f64 / half_life) as f32;
        }
    }
    let context_users = context.iter().filter(|h| !h.is_empty()).count();
    let mut out = EvalReport { split: split.kind, items, targets: Vec::new() };
    for &target in targets {
        let all: Vec<u32> = (0..dataset.users.len() as u32).collect();
        let relevant: Vec<Vec<u32>> = all
            .iter()
            .map(|&u| split.test[u as usize].iter().filter(|e| target.accepts(e.kind)).map(|e| e.offer).collect())
            .collect();
        let exclude: Vec<Vec<u32>> = all
            .iter()
            .map(|&u| split.train[u as usize].iter().chain(split.valid[u as usize].iter()).map(|e| e.offer).collect())
            .collect();
        let task = Task::new(all, relevant, exclude);
        let pop = Some((users_of.as_slice(), context_users));
        let mut methods = Vec::new();
        let mut run = |name: &str, scorer: &dyn Scorer| -> Result<()> {
            methods.push(MethodResult { method: name.to_owned(), metrics: evaluate(&task, scorer, items, ks, pop)? });
            Ok(())
        };
        if let Some((model, catalogue)) = model {
            let rows = context_rows(dataset, split, catalogue, &task.users, with_valid, model.config.history_len);
            let users = model.user_vectors(rows, catalogue)?;
            let vectors = model.all_item_vectors(catalogue)?;
            let content = model.content_item_vectors(catalogue)?;
            run("two-tower", &VectorScorer::new(users.clone(), vectors, model.config.dim)?)?;
            run("two-tower, content only", &VectorScorer::new(users, content, model.config.dim)?)?;
        }
        let histories: Vec<Vec<u32>> = task.users.iter().map(|&u| context[u as usize].clone()).collect();
        run("item-kNN", &ItemKnnScorer::new(&context, histories, items, 100))?;
        run("most popular", &StaticScorer(popularity.iter().map(|&c| c as f32).collect()))?;
        run("recent trends", &StaticScorer(trends.clone()))?;
        run("random", &RandomScorer { seed })?;
        out.targets.push(TargetResult { target, users: task.users.len(), methods });
    }
    Ok(out)
}

/// The report as text tables, one per target and cut-off.
pub fn format_report(report: &EvalReport, published: &[(&str, &str, f64)]) -> String {
    let mut s = String::new();
    for t in &report.targets {
        let _ = writeln!(
            s,
            "held-out {:?}: {} users, {} offers ranked, seen offers excluded",
            t.target, t.users, report.items
        );
        let _ = writeln!(
            s,
            "{:<16} {:>5} {:>8} {:>9} {:>8} {:>8} {:>9} {:>8}",
            "method", "k", "recall", "precision", "ndcg", "hit", "coverage", "novelty"
        );
        let ks: Vec<usize> = t.methods.first().map(|m| m.metrics.iter().map(|x| x.k).collect()).unwrap_or_default();
        for (ki, k) in ks.iter().enumerate() {
            for m in &t.methods {
                let x = &m.metrics[ki];
                let _ = writeln!(
                    s,
                    "{:<16} {:>5} {:>8.4} {:>9.4} {:>8.4} {:>8.4} {:>9.4} {:>8.2}",
                    m.method, k, x.recall, x.precision, x.ndcg, x.hit_rate, x.coverage, x.novelty
                );
            }
            for (name, metric, value) in published.iter().filter(|_| *k == 10) {
                let _ = writeln!(s, "{:<16} {:>5} published {metric} = {value:.4}", name, k);
            }
        }
        s.push('\n');
    }
    s
}
